//! `argmax.json`.

use privface_gc::{ArgmaxSpec, Plain, argmax, circuit};
use serde_json::{Value, json};

use crate::file;

pub(crate) fn argmax() -> Value {
    // The digits model's width (k = 19); logits within ±(2^18 − 1).
    let k = 19u32;
    let top = (1i64 << (k - 1)) - 1;
    // (comment, [(logit, bias, mask)])
    type Row<'a> = (&'a str, Vec<(i64, i64, u32)>);
    let rows: Vec<Row> = vec![
        ("binary model, logit 0: label 1", vec![(0, -40, 9)]),
        ("binary model, logit −1: label 0", vec![(-1, 700, 3)]),
        (
            "ten classes, class 7 largest",
            (0..10)
                .map(|c| {
                    (
                        if c == 7 { 5000 } else { 100 * c },
                        c * 13 - 50,
                        (c as u32) * 40_507,
                    )
                })
                .collect(),
        ),
        (
            "a tie between classes 2 and 5 goes to 2",
            vec![
                (1, 0, 0),
                (3, 5, 1),
                (9, -9, 2),
                (4, 0, 3),
                (-7, 1, 4),
                (9, 2, 5),
            ],
        ),
        (
            "extremes: −(2^(k−1) − 1) and 2^(k−1) − 1, masks wrapping",
            vec![(-top, 0, (1 << k) - 1), (top, -3, (1 << k) - 2), (0, 1, 1)],
        ),
        (
            "two classes, the second larger by one",
            vec![(-20, 4, 77), (-19, -4, 78)],
        ),
        (
            "three classes (an odd lane goes up unopposed), the last one wins",
            vec![(10, 0, 5), (11, 0, 6), (12, 0, 7)],
        ),
    ];
    let mut cases = Vec::new();
    for (i, (comment, classes)) in rows.into_iter().enumerate() {
        let spec = ArgmaxSpec {
            share_bits: k,
            classes: classes.len(),
        };
        let modulus = 1i64 << k;
        let biases: Vec<i64> = classes.iter().map(|&(_, b, _)| b).collect();
        let masks: Vec<u32> = classes.iter().map(|&(_, _, r)| r).collect();
        // s = (z − β + r) mod 2^k: the share whose logit (s − (r − β)) is z.
        let shares: Vec<u32> = classes
            .iter()
            .map(|&(z, b, r)| (z - b + r as i64).rem_euclid(modulus) as u32)
            .collect();
        let offsets = spec.offset_bits(&masks, &biases);
        let offsets: Vec<&[bool]> = offsets.iter().map(Vec::as_slice).collect();
        let bits = argmax::argmax(
            &mut Plain,
            &spec,
            &circuit::bit_columns(&shares, k),
            &offsets,
        )
        .expect("plaintext");
        let index: u32 = bits
            .iter()
            .enumerate()
            .map(|(j, &b)| u32::from(b) << j)
            .sum();
        assert_eq!(index, spec.decide(&shares, &masks, &biases));
        cases.push(json!({
            "id": i + 1, "comment": comment, "flags": [], "valid": true,
            "share_bits": k, "classes": spec.classes, "shares": shares, "masks": masks,
            "biases": biases, "logits": classes.iter().map(|&(z, _, _)| z).collect::<Vec<_>>(),
            "output_bits": spec.output_bits(), "class": index,
        }));
    }
    file(
        "privface/argmax/1",
        "The argmax circuit of classification (spec §13.3): logits z_c = (s_c − ((r_c − β_c) mod 2^k)) mod 2^k read signed; the first largest, or [z_0 ≥ 0] for one class",
        "shares s_c, masks r_c (the holder's shares) and biases β_c as integers; class is the circuit's output index (its output_bits bits, least significant first); logits are what the shares encode",
        cases,
    )
}
