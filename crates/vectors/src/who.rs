//! `who.json`.

use privface_gc::ThresholdSpec;
use privface_gc::who::{
    ENTRY_BYTES, WhoSpec, entry_plaintext, open_entry, plain_who, seal_table, table_position,
};
use privface_ot::Block;
use serde_json::{Value, json};

use crate::{file, hex};

pub(crate) fn who() -> Value {
    let (k, tau) = (16u32, 100i64);
    let m = (1i64 << k) - 1;
    let share = |score: i64, r: u32| ((score + r as i64) & m) as u32;
    // (comment, batch, [(score, mask)])
    type Row<'a> = (&'a str, usize, Vec<(i64, u32)>);
    let rows: Vec<Row> = vec![
        ("no score reaches τ", 2, vec![(99, 1), (-5, 2), (0, 3)]),
        ("one score exactly at τ", 2, vec![(99, 1), (100, 2), (0, 3)]),
        (
            "several above τ: the best",
            3,
            vec![(150, 11), (300, 12), (120, 13), (299, 14), (0, 15)],
        ),
        (
            "a tie within a lane and across lanes: the lowest index",
            2,
            vec![(0, 1), (250, 2), (7, 3), (250, 4), (250, 5)],
        ),
        ("padding rows (score 0) never win", 4, vec![(0, 7); 6]),
        (
            "masks wrapping mod 2^k",
            1,
            vec![(101, m as u32), (102, m as u32 - 1)],
        ),
    ];
    let mut cases = Vec::new();
    for (i, (comment, batch, scores)) in rows.into_iter().enumerate() {
        let spec = WhoSpec {
            threshold: ThresholdSpec {
                share_bits: k,
                threshold: tau,
            },
            scores: scores.len(),
        };
        let masks: Vec<u32> = scores.iter().map(|&(_, r)| r).collect();
        let shares: Vec<u32> = scores.iter().map(|&(s, r)| share(s, r)).collect();
        let (valid, index) = plain_who(&spec, &shares, &masks, batch);
        assert_eq!(valid.then_some(index), spec.decide(&shares, &masks));
        cases.push(json!({
            "id": i + 1, "comment": comment, "flags": [], "valid": true,
            "share_bits": k, "threshold": tau, "batch": batch, "shares": shares, "masks": masks,
            "match": valid, "index": valid.then_some(index),
        }));
    }
    // The label table for two index wires: fixed Δ and zero labels, three rows and an empty
    // entry for index 3; the evaluator's labels for index 2 open row 2 and nothing else.
    let delta = Block(0x0123_4567_89ab_cdef_fedc_ba98_7654_3211);
    let wires = [
        Block(0x1111_2222_3333_4444_5555_6666_7777_8888),
        Block(0x9999_aaaa_bbbb_cccc_dddd_eeee_ffff_0001),
    ];
    let people = [
        ("alice", "Alice A."),
        ("bob", ""),
        ("carol", "Carol, the third"),
    ];
    let entry = |t: usize| match people.get(t) {
        Some((id, label)) => entry_plaintext(id, label).expect("fits"),
        None => entry_plaintext("", "").expect("fits"),
    };
    let table = seal_table(delta, &wires, &entry);
    let winner = 2usize;
    let held: Vec<Block> = wires
        .iter()
        .enumerate()
        .map(|(j, &w)| if winner >> j & 1 == 1 { w ^ delta } else { w })
        .collect();
    let (position, key) = table_position(&held);
    let opened = open_entry(
        key,
        &table[position * ENTRY_BYTES..(position + 1) * ENTRY_BYTES],
    )
    .expect("the winner's entry opens");
    assert_eq!(opened, ("carol".to_owned(), "Carol, the third".to_owned()));
    cases.push(json!({
        "id": cases.len() + 1,
        "comment": "label table: two index wires, rows alice, bob, carol and an empty entry; the evaluator holds the labels of index 2",
        "flags": ["label-table"], "valid": true,
        "delta": hex(&delta.to_bytes()),
        "index_zero_labels": wires.iter().map(|w| hex(&w.to_bytes())).collect::<Vec<_>>(),
        "entries": people.iter().map(|(id, label)| json!({"id": id, "label": label})).collect::<Vec<_>>(),
        "table": hex(&table),
        "held_labels": held.iter().map(|w| hex(&w.to_bytes())).collect::<Vec<_>>(),
        "position": position,
        "key": hex(&key.to_le_bytes()),
        "opened": {"id": opened.0, "label": opened.1},
    }));
    file(
        "privface/who/1",
        "Identification that says who (spec §15): the running-maximum circuit's output (match, and the first index of the best score ≥ τ) for shares and masks fed in batches, and the sealed label table",
        "shares s_t and masks r_t as integers (score_t = (s_t − r_t) mod 2^k, signed); index is None when nothing matches; table entries are 64 bytes in position order, keys and labels little-endian hex",
        cases,
    )
}
