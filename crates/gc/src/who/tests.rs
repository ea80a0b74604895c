use super::*;
use crate::fancy::Counter;
use privface_ot::MemoryChannel;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// Shares of chosen scores: s = (score + r) mod 2^k.
fn share(k: u32, scores: &[i64], rng: &mut ChaCha20Rng) -> (Vec<u32>, Vec<u32>) {
    let modulus = 1i64 << k;
    let masks: Vec<u32> = scores
        .iter()
        .map(|_| rng.random_range(0..modulus) as u32)
        .collect();
    let shares = scores
        .iter()
        .zip(&masks)
        .map(|(&s, &r)| (s + r as i64).rem_euclid(modulus) as u32)
        .collect();
    (shares, masks)
}

fn spec(k: u32, tau: i64, n: usize) -> WhoSpec {
    WhoSpec {
        threshold: ThresholdSpec {
            share_bits: k,
            threshold: tau,
        },
        scores: n,
    }
}

/// The first index of the highest score ≥ τ.
fn expected(scores: &[i64], tau: i64) -> Option<u32> {
    let max = scores.iter().copied().filter(|&s| s >= tau).max()?;
    scores.iter().position(|&s| s == max).map(|i| i as u32)
}

#[test]
fn the_plaintext_circuit_names_the_first_best_score_at_or_above_tau() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (k, tau) = (16u32, 100i64);
    let bound = 16_000i64;
    let cases: Vec<(&str, Vec<i64>)> = vec![
        ("nobody reaches τ", vec![99, -5, 0, 0, 50]),
        ("one at τ exactly", vec![99, 100, 0, 0]),
        ("several above: the best", vec![150, 300, 120, 299, 0]),
        ("a tie goes to the lowest index", vec![0, 250, 7, 250, 250]),
        ("padding (score 0) never wins", vec![0; 9]),
        (
            "the largest and the most negative scores",
            vec![-bound, bound, -bound, bound],
        ),
    ];
    for (what, scores) in cases {
        for batch in [1, 2, 3, 64] {
            let (shares, masks) = share(k, &scores, &mut rng);
            let s = spec(k, tau, scores.len());
            let want = expected(&scores, tau);
            assert_eq!(s.decide(&shares, &masks), want, "{what}");
            let (valid, index) = plain_who(&s, &shares, &masks, batch);
            assert_eq!(valid.then_some(index), want, "{what}, batch {batch}");
        }
    }
    // Random scores with many ties, across lanes and batches.
    for _ in 0..200 {
        let n = rng.random_range(1..40);
        let scores: Vec<i64> = (0..n).map(|_| rng.random_range(95..105)).collect();
        let (shares, masks) = share(k, &scores, &mut rng);
        let s = spec(k, tau, n);
        let batch = rng.random_range(1..8);
        let (valid, index) = plain_who(&s, &shares, &masks, batch);
        assert_eq!(
            valid.then_some(index),
            expected(&scores, tau),
            "{scores:?} batch {batch}"
        );
    }
}

#[test]
fn gates_per_score() {
    let (k, n, lanes) = (21u32, 1 << 20, 1024usize);
    let s = spec(k, 500, n);
    let bits = s.index_bits() as u64;
    assert_eq!(bits, 20);
    let mut c = Counter::default();
    let shares = vec![vec![(); lanes]; k as usize];
    let running = who_batch(&mut c, &s, None, 0, &shares, &vec![(); k as usize]).unwrap();
    let k = k as u64;
    assert_eq!(c.half_gates, lanes as u64);
    assert_eq!(
        c.ands,
        lanes as u64 * (k - 2 + 2 * k + bits),
        "3k − 2 + bits ANDs per score"
    );
    let before = c.ands;
    let out = who_finish(&mut c, running).unwrap();
    assert_eq!(out.len(), 1 + bits as usize);
    // The tournament: lanes − 1 meetings of (k + bits) + (k + bits) ANDs.
    assert_eq!(c.ands - before, (lanes as u64 - 1) * 2 * (k + bits));
}

fn two_party(
    s: WhoSpec,
    shares: Vec<u32>,
    masks: Vec<u32>,
    batch: usize,
    entries: Vec<[u8; ENTRY_BYTES]>,
    reveal_holder: bool,
) -> (bool, Option<(String, String)>, Option<Option<u32>>) {
    let (mut a, mut b) = MemoryChannel::pair(64);
    let garbler = std::thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let delta = privface_ot::Delta::random(&mut rng);
        let ot = IknpSender::setup(&mut a, delta, &mut rng).unwrap();
        let mut g = WhoGarbler::new(a, ot, s, batch).unwrap();
        for r in masks.chunks(batch) {
            g.garble_batch(r).unwrap();
            g.channel().flush().unwrap();
        }
        let out = g.close(!reveal_holder).unwrap();
        g.channel().flush().unwrap();
        let held = reveal_holder.then(|| g.decode_returned(&out).unwrap());
        if reveal_holder {
            g.send_decode(&out).unwrap();
        }
        let empty = entry_plaintext("", "").unwrap();
        let table = g.seal(&out, &|t| entries.get(t).copied().unwrap_or(empty));
        g.channel().write_bytes(&table).unwrap();
        g.channel().flush().unwrap();
        held
    });
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let ot = IknpReceiver::setup(&mut b, &mut rng).unwrap();
    let mut e = WhoEvaluator::new(b, ot, s, batch).unwrap();
    for chunk in shares.chunks(batch) {
        e.request(chunk, &mut rng).unwrap();
        e.channel().flush().unwrap();
        e.absorb().unwrap();
    }
    let out = e.close(reveal_holder).unwrap();
    let valid = e.decode(&out).unwrap();
    let mut table = vec![0u8; (1usize << s.index_bits()) * ENTRY_BYTES];
    e.channel().read_bytes(&mut table).unwrap();
    let (position, key) = table_position(&out[1..]);
    let opened = open_entry(
        key,
        &table[position * ENTRY_BYTES..(position + 1) * ENTRY_BYTES],
    );
    // No other entry opens with this key.
    let others = (0..1usize << s.index_bits())
        .filter(|&p| p != position)
        .filter(|&p| open_entry(key, &table[p * ENTRY_BYTES..(p + 1) * ENTRY_BYTES]).is_some())
        .count();
    assert_eq!(others, 0);
    (
        valid,
        valid.then_some(opened).flatten(),
        garbler.join().unwrap(),
    )
}

#[test]
fn the_evaluator_reads_the_winners_entry_and_only_it() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (k, tau) = (18u32, 1000i64);
    let names: Vec<String> = (0..37).map(|i| format!("person-{i:03}")).collect();
    let entries: Vec<_> = names
        .iter()
        .map(|n| entry_plaintext(n, &format!("Label of {n}")).unwrap())
        .collect();
    for (scores, want) in [
        (
            (0..37)
                .map(|i| {
                    if i == 20 {
                        1500
                    } else if i == 30 {
                        1200
                    } else {
                        10
                    }
                })
                .collect::<Vec<i64>>(),
            Some(20),
        ),
        (
            (0..37)
                .map(|i| if i % 9 == 4 { 1400 } else { 999 })
                .collect(),
            Some(4),
        ),
        (vec![999; 37], None),
    ] {
        for reveal_holder in [false, true] {
            let (shares, masks) = share(k, &scores, &mut rng);
            let s = spec(k, tau, 37);
            let (valid, who, held) = two_party(s, shares, masks, 5, entries.clone(), reveal_holder);
            assert_eq!(valid, want.is_some());
            assert_eq!(
                who,
                want.map(|t: usize| (names[t].clone(), format!("Label of {}", names[t])))
            );
            assert_eq!(held, reveal_holder.then_some(want.map(|t| t as u32)));
        }
    }
}

#[test]
fn entries_have_one_size_whatever_the_label() {
    let short = entry_plaintext("a", "").unwrap();
    let long = entry_plaintext(&"b".repeat(20), &"c".repeat(ENTRY_CONTENT - 20)).unwrap();
    assert_eq!(short.len(), long.len());
    assert_eq!(read_entry(&long).unwrap().1.len(), ENTRY_CONTENT - 20);
    assert!(entry_plaintext(&"b".repeat(21), &"c".repeat(ENTRY_CONTENT - 20)).is_none());
    let mut damaged = short;
    damaged[ENTRY_BYTES - 1] = 1;
    assert!(read_entry(&damaged).is_none());
}

#[test]
fn the_position_of_the_winners_entry_says_nothing_about_its_index() {
    // The same winner (index 5 of 8) under fresh wire labels: the evaluator's position is a
    // uniformly permuted one, not the index (a table placed by index would show it every time).
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let delta = privface_ot::Delta::random(&mut rng).block();
    let winner = 5usize;
    let mut positions = std::collections::BTreeSet::new();
    for _ in 0..64 {
        let wires: Vec<Block> = (0..3).map(|_| Block::random(&mut rng)).collect();
        let held: Vec<Block> = wires
            .iter()
            .enumerate()
            .map(|(j, &w)| if winner >> j & 1 == 1 { w ^ delta } else { w })
            .collect();
        let table = seal_table(delta, &wires, &|t| {
            entry_plaintext(&format!("row{t}"), "").unwrap()
        });
        let (position, key) = table_position(&held);
        let opened = open_entry(
            key,
            &table[position * ENTRY_BYTES..(position + 1) * ENTRY_BYTES],
        );
        assert_eq!(opened.map(|e| e.0), Some("row5".to_owned()));
        positions.insert(position);
    }
    assert_eq!(positions.len(), 8, "every position is used: {positions:?}");
}
