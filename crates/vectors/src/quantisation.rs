//! `quantisation.json`.

use privface_he::Quantiser;
use serde_json::{Value, json};

use crate::{file, hex};

pub(crate) fn quantisation() -> Value {
    let mut cases = Vec::new();
    let d = 8;
    let q = Quantiser::for_dimension(d).expect("d = 8");
    let inputs: Vec<(&str, Vec<f32>)> = vec![
        (
            "unit vector along the first axis",
            vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
        (
            "not normalised: scaled by 1/‖e‖ first",
            vec![3.0, -4.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
        (
            "spread values, some clamped at ±127",
            vec![0.5, -0.5, 0.25, -0.25, 0.1, -0.1, 0.6, 0.05],
        ),
        (
            "ties round away from zero",
            vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
        ),
    ];
    for (i, (comment, e)) in inputs.into_iter().enumerate() {
        let x = q.quantise(&e).expect("valid");
        cases.push(json!({
            "id": i + 1, "comment": comment, "flags": [], "valid": true,
            "dimension": d, "scale": q.scale(), "embedding": e,
            "quantised": hex(&x.iter().map(|&v| v as u8).collect::<Vec<_>>()),
        }));
    }
    for (i, (comment, e, flag)) in [
        ("NaN component", vec![f32::NAN; 8], "NonFinite"),
        ("all zero", vec![0.0; 8], "Zero"),
        ("wrong length", vec![1.0; 7], "WrongDimension"),
    ]
    .into_iter()
    .enumerate()
    {
        let e: Vec<Value> = e
            .iter()
            .map(|v| if v.is_nan() { json!("NaN") } else { json!(v) })
            .collect();
        cases.push(json!({"id": 10 + i, "comment": comment, "flags": [flag], "valid": false, "dimension": d, "embedding": e}));
    }
    file(
        "privface/quantisation/1",
        "Quantisation of embeddings to signed 8-bit coefficients (spec §4)",
        "scale = 127·√d/4; `quantised` is the i8 vector as two's-complement bytes; \"NaN\" stands for a NaN input",
        cases,
    )
}
