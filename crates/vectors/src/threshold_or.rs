//! `threshold_or.json`.

use privface_gc::{Plain, ThresholdSpec, circuit};
use serde_json::{Value, json};

use crate::file;

pub(crate) fn threshold_or() -> Value {
    let mut cases = Vec::new();
    let k = 24u32;
    let m = (1u32 << k) - 1;
    let half = 1i64 << (k - 1);
    let enc = |score: i64, r: u32| (r.wrapping_add(score as u64 as u32)) & m;
    // (comment, τ, [(score, mask)])
    type Row<'a> = (&'a str, i64, Vec<(i64, u32)>);
    let rows: Vec<Row> = vec![
        ("score equals τ", 100, vec![(100, 7)]),
        ("score τ − 1", 100, vec![(99, 7)]),
        ("score τ + 1", 100, vec![(101, 7)]),
        ("mask wraps: r = 2^k − 1", 5, vec![(5, m)]),
        (
            "most negative score, most negative τ",
            -half,
            vec![(-half, 12345)],
        ),
        ("largest score, largest τ", half - 1, vec![(half - 1, 0)]),
        (
            "one match among many",
            1000,
            vec![(-5, 1), (999, 2), (1000, 3), (0, 4)],
        ),
        (
            "no match among many",
            1000,
            vec![(-5, 1), (999, 2), (998, 3), (0, 4)],
        ),
    ];
    for (i, (comment, tau, scores)) in rows.into_iter().enumerate() {
        let spec = ThresholdSpec {
            share_bits: k,
            threshold: tau,
        };
        let masks: Vec<u32> = scores.iter().map(|&(_, r)| r).collect();
        let shares: Vec<u32> = scores.iter().map(|&(s, r)| enc(s, r)).collect();
        let neg = circuit::negated_mask_bits(&masks, k);
        let neg: Vec<&[bool]> = neg.iter().map(Vec::as_slice).collect();
        let lanes =
            circuit::threshold_batch(&mut Plain, &spec, &circuit::bit_columns(&shares, k), &neg)
                .expect("plaintext");
        let bit = lanes.iter().any(|&b| b);
        cases.push(json!({
            "id": i + 1, "comment": comment, "flags": [], "valid": true,
            "share_bits": k, "threshold": tau, "shares": shares, "masks": masks, "bit": bit,
        }));
    }
    file(
        "privface/threshold-or/1",
        "The threshold-OR circuit: OR_t [((s_t − r_t) mod 2^k, signed) ≥ τ] (spec §8.1)",
        "shares are the verifier's s_t, masks the holder's r_t",
        cases,
    )
}
