//! The digits fixture (`fixtures/digits/`, written by `tools/digits_fixture.py`) is what the
//! encrypted-classification tests will compare against: check, without Python, that the
//! stored model reproduces the stored float predictions and accuracy, so a damaged or
//! regenerated-but-inconsistent fixture fails here and not deep inside a protocol test.

use std::path::Path;

/// A little-endian f32 .npy (format 1.0, C order): (shape, values).
fn read_f32_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(
        &bytes[..8],
        b"\x93NUMPY\x01\x00",
        "{}: npy 1.0",
        path.display()
    );
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    assert!(header.contains("'descr': '<f4'"), "{header}");
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_text = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let values: Vec<f32> = bytes[10 + len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(
        values.len(),
        shape.iter().product::<usize>(),
        "{}",
        path.display()
    );
    (shape, values)
}

#[test]
fn the_stored_model_reproduces_the_stored_float_predictions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/digits");
    let (w_shape, w) = read_f32_npy(&dir.join("weights.npy"));
    let (b_shape, b) = read_f32_npy(&dir.join("bias.npy"));
    assert_eq!((w_shape, b_shape), (vec![10, 64], vec![10]));
    let labels = std::fs::read_to_string(dir.join("labels.txt")).unwrap();
    assert_eq!(
        labels.lines().collect::<Vec<_>>(),
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
    );
    let fixture: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("test.json")).unwrap()).unwrap();
    let inputs = fixture["inputs"].as_array().unwrap();
    assert!(
        inputs.len() >= 200,
        "the issue asks for at least 200 test images"
    );
    let mut correct = 0;
    for (i, x) in inputs.iter().enumerate() {
        let x: Vec<f64> = x
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(x.len(), 64);
        // Inputs are pixel values / 16: exact multiples of 1/16 in [0, 1].
        assert!(
            x.iter()
                .all(|&v| (0.0..=1.0).contains(&v) && (v * 16.0).fract() == 0.0)
        );
        let logits: Vec<f64> = (0..10)
            .map(|c| {
                let row = &w[c * 64..(c + 1) * 64];
                row.iter().zip(&x).map(|(&a, &b)| a as f64 * b).sum::<f64>() + b[c] as f64
            })
            .collect();
        let stored = fixture["logits"][i].as_array().unwrap();
        for (got, want) in logits.iter().zip(stored) {
            assert!((got - want.as_f64().unwrap()).abs() < 1e-5, "image {i}");
        }
        let predicted = (0..10)
            .max_by(|&a, &c| logits[a].total_cmp(&logits[c]))
            .unwrap();
        assert_eq!(
            predicted as u64,
            fixture["predictions"][i].as_u64().unwrap(),
            "image {i}"
        );
        correct += usize::from(fixture["labels"][i].as_u64().unwrap() == predicted as u64);
    }
    let accuracy = correct as f64 / inputs.len() as f64;
    let stored = fixture["accuracy_float32_model"].as_f64().unwrap();
    assert!((accuracy - stored).abs() < 1e-12, "{accuracy} vs {stored}");
    assert!(accuracy > 0.95, "a usable model: {accuracy}");
}
