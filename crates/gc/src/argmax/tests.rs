use super::*;
use crate::circuit::{ThresholdSpec, threshold_batch};
use crate::fancy::{Counter, Plain};
use privface_ot::MemoryChannel;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn plain(spec: &ArgmaxSpec, shares: &[u32], masks: &[u32], biases: &[i64]) -> u32 {
    let v = spec.offset_bits(masks, biases);
    let v: Vec<&[bool]> = v.iter().map(Vec::as_slice).collect();
    let out = argmax(&mut Plain, spec, &bit_columns(shares, spec.share_bits), &v).unwrap();
    index_of(&out)
}

/// Shares of chosen logits: s_c = (z_c − β_c + r_c) mod 2^k.
fn share(
    spec: &ArgmaxSpec,
    logits: &[i64],
    biases: &[i64],
    rng: &mut ChaCha20Rng,
) -> (Vec<u32>, Vec<u32>) {
    let modulus = 1i64 << spec.share_bits;
    let masks: Vec<u32> = logits
        .iter()
        .map(|_| rng.random_range(0..modulus) as u32)
        .collect();
    let shares = logits
        .iter()
        .zip(biases)
        .zip(&masks)
        .map(|((&z, &b), &r)| (z - b + r as i64).rem_euclid(modulus) as u32)
        .collect();
    (shares, masks)
}

#[test]
fn the_plaintext_circuit_is_the_first_largest_logit() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    for k in [3u32, 8, 22, 32] {
        let bound = (1i64 << (k - 1)) - 1;
        for classes in [1usize, 2, 3, 5, 10, 17] {
            let spec = ArgmaxSpec {
                share_bits: k,
                classes,
            };
            for trial in 0..40 {
                // Few distinct values, so ties are common; the extremes included.
                let logits: Vec<i64> = (0..classes)
                    .map(|_| match trial % 3 {
                        0 => rng.random_range(-bound..=bound),
                        1 => [-bound, bound, 0, -1][rng.random_range(0..4)],
                        _ => rng.random_range(-2..=2),
                    })
                    .collect();
                let biases: Vec<i64> = (0..classes)
                    .map(|_| rng.random_range(-1000..1000))
                    .collect();
                let (shares, masks) = share(&spec, &logits, &biases, &mut rng);
                let want = if classes == 1 {
                    u32::from(logits[0] >= 0)
                } else {
                    let max = *logits.iter().max().unwrap();
                    logits.iter().position(|&z| z == max).unwrap() as u32
                };
                assert_eq!(spec.decide(&shares, &masks, &biases), want);
                assert_eq!(
                    plain(&spec, &shares, &masks, &biases),
                    want,
                    "k {k} {logits:?}"
                );
            }
        }
    }
}

#[test]
fn gate_counts_and_a_binary_model_costs_what_a_threshold_does() {
    let k = 22;
    let count = |classes: usize| {
        let mut c = Counter::default();
        let spec = ArgmaxSpec {
            share_bits: k,
            classes,
        };
        let shares = vec![vec![(); classes]; k as usize];
        let out = argmax(&mut c, &spec, &shares, &vec![(); k as usize]).unwrap();
        assert_eq!(out.len(), spec.output_bits());
        c
    };
    let mut threshold = Counter::default();
    let spec = ThresholdSpec {
        share_bits: k,
        threshold: 0,
    };
    threshold_batch(
        &mut threshold,
        &spec,
        &vec![vec![(); 1]; k as usize],
        &vec![(); k as usize],
    )
    .unwrap();
    assert_eq!(count(1), threshold, "C = 1 is the threshold circuit");
    let k = k as u64;
    for classes in [2u64, 10, 100] {
        let bits = ArgmaxSpec {
            share_bits: 22,
            classes: classes as usize,
        }
        .output_bits() as u64;
        let c = count(classes as usize);
        assert_eq!(c.half_gates, classes);
        assert_eq!(
            c.ands,
            classes * (k - 2) + (classes - 1) * (2 * k + bits),
            "C = {classes}"
        );
    }
}

#[test]
fn garbled_equals_plaintext_between_two_parties_for_every_output() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    for (classes, reveal_e, reveal_g) in [
        (10usize, true, false),
        (10, false, true),
        (7, true, true),
        (1, true, false),
        (2, true, true),
    ] {
        let spec = ArgmaxSpec {
            share_bits: 20,
            classes,
        };
        let logits: Vec<i64> = (0..classes)
            .map(|_| rng.random_range(-500_000..500_000))
            .collect();
        let biases: Vec<i64> = (0..classes)
            .map(|_| rng.random_range(-9000..9000))
            .collect();
        let (shares, masks) = share(&spec, &logits, &biases, &mut rng);
        let want = spec.decide(&shares, &masks, &biases);
        let (mut a, mut b) = MemoryChannel::pair(16);
        let seed: u64 = rng.random();
        let biases2 = biases.clone();
        let garbler = std::thread::spawn(move || {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            let delta = privface_ot::Delta::random(&mut rng);
            let ot = IknpSender::setup(&mut a, delta, &mut rng).unwrap();
            let mut g = ArgmaxGarbler::new(a, ot, spec, biases2).unwrap();
            g.garble_batch(&masks).unwrap();
            g.channel().flush().unwrap();
            let out = g.close(reveal_e && !reveal_g).unwrap();
            g.channel().flush().unwrap();
            let got = if reveal_g {
                Some(g.decode_returned(&out).unwrap())
            } else {
                None
            };
            if reveal_e && reveal_g {
                g.send_decode(&out).unwrap();
                g.channel().flush().unwrap();
            }
            got
        });
        let mut erng = ChaCha20Rng::seed_from_u64(seed ^ 1);
        let ot = IknpReceiver::setup(&mut b, &mut erng).unwrap();
        let mut e = ArgmaxEvaluator::new(b, ot, spec).unwrap();
        e.request(&shares, &mut erng).unwrap();
        e.channel().flush().unwrap();
        e.absorb().unwrap();
        let out = e.close(reveal_g).unwrap();
        let seen = reveal_e.then(|| e.decode(&out).unwrap());
        let held = garbler.join().unwrap();
        assert_eq!(seen, reveal_e.then_some(want), "C = {classes}");
        assert_eq!(held, reveal_g.then_some(want), "C = {classes}");
    }
}

#[test]
fn a_returned_label_that_is_no_output_label_is_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let spec = ArgmaxSpec {
        share_bits: 8,
        classes: 3,
    };
    let (mut a, mut b) = MemoryChannel::pair(16);
    let garbler = std::thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let delta = privface_ot::Delta::random(&mut rng);
        let ot = IknpSender::setup(&mut a, delta, &mut rng).unwrap();
        let mut g = ArgmaxGarbler::new(a, ot, spec, vec![0; 3]).unwrap();
        g.garble_batch(&[1, 2, 3]).unwrap();
        g.channel().flush().unwrap();
        let out = g.close(false).unwrap();
        g.decode_returned(&out)
    });
    let ot = IknpReceiver::setup(&mut b, &mut rng).unwrap();
    let mut e = ArgmaxEvaluator::new(b, ot, spec).unwrap();
    e.request(&[4, 5, 6], &mut rng).unwrap();
    e.channel().flush().unwrap();
    e.absorb().unwrap();
    let out = e.close(false).unwrap();
    for label in &out {
        // Flip one bit of each label: neither of the wire's two labels.
        let mut bytes = label.to_bytes();
        bytes[3] ^= 0x10;
        e.channel().write_bytes(&bytes).unwrap();
    }
    e.channel().flush().unwrap();
    assert!(matches!(
        garbler.join().unwrap(),
        Err(GcError::Malformed(_))
    ));
}
