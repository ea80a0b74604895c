//! `threshold_or.json`.

use privface_gc::{Plain, ThresholdSpec, circuit};
use serde_json::{Value, json};

use crate::file;

pub(crate) fn threshold_or() -> Value {
    let mut cases = Vec::new();
    // The session width at d = 512; B is the largest score bound the width admits
    // (2B + 1 ≤ 2^(k−1)).
    let k = 22u32;
    let m = (1u32 << k) - 1;
    let bound = ((1i64 << (k - 1)) - 1) / 2;
    let enc = |score: i64, r: u32| (r.wrapping_add(score as u64 as u32)) & m;
    // (comment, flags, τ, [(score, mask)])
    type Row<'a> = (&'a str, &'a [&'a str], i64, Vec<(i64, u32)>);
    let rows: Vec<Row> = vec![
        ("score equals τ", &[], 100, vec![(100, 7)]),
        ("score τ − 1", &[], 100, vec![(99, 7)]),
        ("score τ + 1", &[], 100, vec![(101, 7)]),
        ("mask wraps: r = 2^k − 1", &[], 5, vec![(5, m)]),
        ("padding row: score 0, τ = 1", &[], 1, vec![(0, 99)]),
        (
            "most negative score −B, τ = B",
            &[],
            bound,
            vec![(-bound, 12345)],
        ),
        ("largest score B, τ = B", &[], bound, vec![(bound, 0)]),
        (
            "one match among many",
            &[],
            1000,
            vec![(-5, 1), (999, 2), (1000, 3), (0, 4)],
        ),
        (
            "no match among many",
            &[],
            1000,
            vec![(-5, 1), (999, 2), (998, 3), (0, 4)],
        ),
        (
            "outside the range condition: score −B − 3 at τ = B wraps to a match",
            &["outside-range"],
            bound,
            vec![(-bound - 3, 77)],
        ),
    ];
    for (i, (comment, flags, tau, scores)) in rows.into_iter().enumerate() {
        let spec = ThresholdSpec {
            share_bits: k,
            threshold: tau,
        };
        let masks: Vec<u32> = scores.iter().map(|&(_, r)| r).collect();
        let shares: Vec<u32> = scores.iter().map(|&(s, r)| enc(s, r)).collect();
        let neg = circuit::offset_bits(&masks, &spec);
        let neg: Vec<&[bool]> = neg.iter().map(Vec::as_slice).collect();
        let lanes =
            circuit::threshold_batch(&mut Plain, &spec, &circuit::bit_columns(&shares, k), &neg)
                .expect("plaintext");
        let bit = lanes.iter().any(|&b| b);
        cases.push(json!({
            "id": i + 1, "comment": comment, "flags": flags, "valid": true,
            "share_bits": k, "threshold": tau, "shares": shares, "masks": masks, "bit": bit,
        }));
    }
    file(
        "privface/threshold-or/1",
        "The threshold-OR circuit: OR_t [((s_t − r_t − τ) mod 2^k, signed) ≥ 0] (spec §8.1), which is OR_t [score_t ≥ τ] whenever |score| ≤ B, 1 ≤ τ ≤ B and 2B + 1 ≤ 2^(k−1)",
        "shares are the verifier's s_t, masks the holder's r_t; cases flagged outside-range break the range condition and give the circuit's (modular) answer",
        cases,
    )
}
