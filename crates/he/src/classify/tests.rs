use super::*;

fn labels(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("class {i}")).collect()
}

#[test]
fn inputs_are_scaled_not_normalised_and_out_of_range_refused() {
    let q = InputQuantiser::for_bound(4, 2.0).unwrap();
    assert_eq!(
        q.quantise(&[0.0, 1.0, -2.0, 0.01]).unwrap(),
        vec![0, 64, -127, 1]
    );
    // The zero input is a valid input (a blank image), unlike a zero face embedding.
    assert_eq!(q.quantise(&[0.0; 4]).unwrap(), vec![0; 4]);
    let err = q.quantise(&[0.0, 2.1, 0.0, 0.0]).unwrap_err();
    assert!(
        matches!(err, HeError::InputOutOfRange { index: 1, .. }),
        "{err}"
    );
    assert!(q.quantise(&[0.0, f32::NAN, 0.0, 0.0]).is_err());
    assert!(q.quantise(&[0.0; 3]).is_err());
    assert!(InputQuantiser::for_bound(4, 0.0).is_err());
}

#[test]
fn the_quantised_logits_stay_within_the_stated_error() {
    // A random model and inputs: every quantised logit is within logit_error of the
    // scaled float logit, and the bound is not loose by orders of magnitude.
    let (d, c) = (64, 10);
    let mut s = 7u64;
    let mut next = || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 / (1u64 << 53) as f64) as f32
    };
    let w: Vec<f32> = (0..c * d).map(|_| next() * 2.0 - 1.0).collect();
    let b: Vec<f32> = (0..c).map(|_| next() * 4.0 - 2.0).collect();
    let m = QuantisedModel::quantise(d, &w, &b, labels(c), 1.0).unwrap();
    let mut worst_ratio = 0f64;
    for _ in 0..200 {
        let x: Vec<f32> = (0..d).map(|_| next()).collect();
        let xq = m.input().quantise(&x).unwrap();
        let logits = m.logits(&xq);
        for k in 0..c {
            let float: f64 = (0..d)
                .map(|i| w[k * d + i] as f64 * x[i] as f64)
                .sum::<f64>()
                + b[k] as f64;
            let err = (logits[k] as f64 - m.score_scale() * float).abs();
            let bound = m.logit_error(k, &x);
            assert!(
                err <= bound,
                "class {k}: error {err} above the bound {bound}"
            );
            worst_ratio = worst_ratio.max(err / bound);
        }
        assert!(logits.iter().all(|l| l.unsigned_abs() < m.logit_bound()));
    }
    assert!(
        worst_ratio > 0.01,
        "bound loose: worst error/bound {worst_ratio}"
    );
    let k = m.share_bits();
    assert!(m.logit_bound() < 1 << (k - 1) && m.logit_bound() + 1 > 1 << (k - 2));
}

#[test]
fn ties_go_to_the_lowest_class_and_binary_models_threshold_at_zero() {
    let m = QuantisedModel::quantise(2, &[1.0; 6], &[0.0; 3], labels(3), 1.0).unwrap();
    assert_eq!(m.decide(&[5, 7, 7]), 1);
    assert_eq!(m.decide(&[7, 7, 7]), 0);
    let binary = QuantisedModel::quantise(2, &[1.0, -1.0], &[0.5], labels(2), 1.0).unwrap();
    assert_eq!(binary.decide(&[0]), 1);
    assert_eq!(binary.decide(&[-1]), 0);
    assert_eq!(binary.biases(), &[round_i64(0.5 * 127.0 * 127.0)]);
}

#[test]
fn bad_models_are_refused() {
    let ok = |w: &[f32], b: &[f32], l: usize| QuantisedModel::quantise(2, w, b, labels(l), 1.0);
    assert!(ok(&[1.0; 4], &[0.0; 2], 2).is_ok());
    assert!(ok(&[0.0; 4], &[0.0; 2], 2).is_err(), "all-zero weights");
    assert!(ok(&[1.0; 4], &[0.0; 2], 3).is_err(), "labels count");
    assert!(
        ok(&[1.0; 2], &[0.0], 1).is_err(),
        "a binary model has two labels"
    );
    assert!(ok(&[1.0; 3], &[0.0; 2], 2).is_err(), "weights count");
    assert!(ok(&[f32::NAN, 1.0, 1.0, 1.0], &[0.0; 2], 2).is_err());
    // A bias of 2^30 logit units against weights of 1 needs far more than 32 bits.
    assert!(ok(&[1.0; 4], &[1e30, 0.0], 2).is_err());
    let long = vec!["x".repeat(MAX_LABEL_BYTES + 1), "y".into()];
    assert!(QuantisedModel::quantise(2, &[1.0; 4], &[0.0; 2], long, 1.0).is_err());
}
