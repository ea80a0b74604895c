//! The coarse comparison (spec §4.1): shares that drop j low score bits decide like the exact
//! rule for every score further than 2^(j+1) from τ, and like the float rule wherever its
//! distance to the threshold exceeds that band plus the pair's quantisation error.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::*;
use privface_gc::ThresholdSpec;

/// A unit vector.
fn unit(v: Vec<f64>) -> Vec<f64> {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// `count` embeddings whose cosines with `x` are spread evenly over c ± spread.
fn pairs_around(x: &[f64], c: f64, spread: f64, count: usize, rng: &mut ChaCha20Rng) -> Vec<f64> {
    let d = x.len();
    let mut cosines = Vec::with_capacity(count);
    let mut rows = Vec::with_capacity(count * d);
    for i in 0..count {
        let cos = c - spread + 2.0 * spread * (i as f64 + 0.5) / count as f64;
        // z: a random unit vector orthogonal to x.
        let r: Vec<f64> = (0..d).map(|_| rng.random::<f64>() - 0.5).collect();
        let along: f64 = r.iter().zip(x).map(|(a, b)| a * b).sum();
        let z = unit(r.iter().zip(x).map(|(a, b)| a - along * b).collect());
        let sin = (1.0 - cos * cos).sqrt();
        rows.extend(x.iter().zip(&z).map(|(a, b)| cos * a + sin * b));
        cosines.push(cos);
    }
    let mut out = cosines;
    out.extend(rows);
    out
}

#[test]
fn coarse_decisions_match_the_exact_rule_outside_the_band() {
    let params = ParameterSet::default_64();
    let (d, n, c) = (128usize, 10_240usize, 0.8f64);
    let q = Quantiser::for_dimension(d).unwrap();
    let alpha2 = (q.scale() as f64).powi(2);
    let tau = q.threshold(c as f32);
    let mut rng = ChaCha20Rng::seed_from_u64(17);
    let x = unit((0..d).map(|_| rng.random::<f64>() - 0.5).collect());
    // ±40 score units of 2^8-bit bands: every j below reaches into and beyond its band.
    let spread = 1200.0 / alpha2;
    let mixed = pairs_around(&x, c, spread, n, &mut rng);
    let (cosines, rows) = mixed.split_at(n);
    let to_f32 = |v: &[f64]| v.iter().map(|&a| a as f32).collect::<Vec<f32>>();
    let probe = q.quantise(&to_f32(&x)).unwrap();
    let gallery_rows: Vec<i8> = rows
        .chunks(d)
        .flat_map(|r| q.quantise(&to_f32(r)).unwrap())
        .collect();
    let scores: Vec<i64> = plain::scores(&probe, &gallery_rows)
        .into_iter()
        .map(i64::from)
        .collect();
    let layout = Layout::new(&params, d, 1).unwrap();
    let gallery =
        PackedGallery::new(layout, gallery_rows.clone(), GalleryMode::Pretransformed).unwrap();
    let key = VerifierKey::generate(&params, &mut rng);

    // 2^-12 in cosine is j = 4 at d = 128; j = 0 is the exact comparison.
    assert_eq!(q.dropped_bits_for_tolerance(2f64.powi(-12)), 4);
    for j in [0u32, 4, 8] {
        let k = q.session_share_bits(tau, j);
        let shape = SessionShape::new(&params, layout, k)
            .unwrap()
            .with_dropped_bits(j)
            .unwrap();
        let query = key.encrypt_query(&shape, &probe, &mut rng).unwrap();
        let holder = HolderQuery::new(&params, &shape, &query, &gallery).unwrap();
        let spec = ThresholdSpec {
            share_bits: k,
            threshold: coarse_threshold(tau, j),
        };
        let mut decisions = Vec::with_capacity(n);
        for block in holder
            .respond(&gallery, 0..holder.block_count(), &mut rng)
            .unwrap()
        {
            let shares = key
                .decrypt_block(&shape, &block.response, block.masks.len())
                .unwrap();
            decisions.extend(
                shares
                    .iter()
                    .zip(&block.masks)
                    .map(|(&s, &r)| spec.decide(s, r)),
            );
        }
        let band = 1i64 << (j + 1);
        let (mut outside, mut inside_differ, mut float_checked) = (0, 0, 0);
        for i in 0..n {
            let exact = scores[i] >= tau;
            if (scores[i] - tau).abs() >= band {
                outside += 1;
                assert_eq!(decisions[i], exact, "j = {j}: score {} τ {tau}", scores[i]);
            } else if decisions[i] != exact {
                inside_differ += 1;
            }
            // The float rule, beyond the band plus this pair's quantisation error.
            let ideal = alpha2 * cosines[i];
            let quant_error = (scores[i] as f64 - ideal).abs();
            if (ideal - tau as f64).abs() > band as f64 + quant_error + 1.0 {
                float_checked += 1;
                assert_eq!(decisions[i], cosines[i] >= c, "j = {j}: cos {}", cosines[i]);
            }
        }
        assert!(
            outside >= n / 4 && float_checked >= n / 4,
            "j = {j}: {outside} {float_checked}"
        );
        // The band is real: a coarse comparison does decide some in-band scores differently.
        if j >= 4 {
            assert!(inside_differ > 0, "j = {j}");
        }
    }
}
