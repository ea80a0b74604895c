//! Garbled evaluation against the plaintext backend, for random circuits and for the
//! threshold-OR run between two parties; and the two-tweak property of the AND gates.

use privface_ot::{Block, Channel, Delta, IknpReceiver, IknpSender, MemoryChannel};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::circuit::ThresholdSpec;
use crate::fancy::{Fancy, Plain};
use crate::garble::{Evaluator, Garbler};
use crate::twoparty::{Reveal, evaluate_threshold_or, garble_threshold_or, plain_threshold_rule};

/// One gate of a random circuit over wire vectors (all of the same lane count).
#[derive(Clone, Debug)]
enum Op {
    Xor(usize, usize),
    And(usize, usize),
    Not(usize),
    XorKnown(usize, usize),
    AndKnown(usize, usize),
    Const(bool),
}

fn op_strategy(wires: usize, known: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..wires, 0..wires).prop_map(|(a, b)| Op::Xor(a, b)),
        (0..wires, 0..wires).prop_map(|(a, b)| Op::And(a, b)),
        (0..wires).prop_map(Op::Not),
        (0..wires, 0..known).prop_map(|(a, k)| Op::XorKnown(a, k)),
        (0..wires, 0..known).prop_map(|(a, k)| Op::AndKnown(a, k)),
        any::<bool>().prop_map(Op::Const),
    ]
}

/// Runs a program: every op appends a wire vector; op i may use wires < inputs + i, which the
/// indices are reduced into. Outputs every wire.
fn run<'k, F: Fancy>(
    f: &mut F,
    ops: &[Op],
    inputs: Vec<Vec<F::Wire>>,
    kb: impl Fn(usize) -> F::Known<'k>,
) -> Vec<Option<bool>>
where
    F::Error: core::fmt::Debug,
{
    let lanes = inputs[0].len();
    let mut w = inputs;
    for op in ops {
        let n = w.len();
        let next = match *op {
            Op::Xor(a, b) => f.xor(&w[a % n], &w[b % n]),
            Op::And(a, b) => f.and(&w[a % n], &w[b % n]).unwrap(),
            Op::Not(a) => f.not(&w[a % n]),
            Op::XorKnown(a, k) => f.xor_known(&w[a % n], kb(k)),
            Op::AndKnown(a, k) => f.and_known(&w[a % n], kb(k)).unwrap(),
            Op::Const(b) => f.constant(b, lanes),
        };
        w.push(next);
    }
    w.iter().flat_map(|x| f.output(x).unwrap()).collect()
}

fn garbled_run(
    ops: &[Op],
    inputs: &[Vec<bool>],
    known: &[Vec<bool>],
    seed: u64,
) -> Vec<Option<bool>> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let delta = Delta::random(&mut rng);
    let zero: Vec<Vec<Block>> = inputs
        .iter()
        .map(|v| v.iter().map(|_| Block::random(&mut rng)).collect())
        .collect();
    let held: Vec<Vec<Block>> = zero
        .iter()
        .zip(inputs)
        .map(|(z, x)| {
            z.iter()
                .zip(x)
                .map(|(z, &x)| *z ^ delta.block().select(x))
                .collect()
        })
        .collect();
    let (mut a, mut b) = MemoryChannel::pair(4);
    let (ops_g, known_g) = (ops.to_vec(), known.to_vec());
    let garbler = std::thread::spawn(move || {
        let mut g = Garbler::new(&mut a, delta);
        let out = run(&mut g, &ops_g, zero, |k| {
            known_g[k % known_g.len()].as_slice()
        });
        g.channel().flush().unwrap();
        out
    });
    let mut e = Evaluator::new(&mut b);
    let out = run(&mut e, ops, held, |_| ());
    assert!(
        garbler.join().unwrap().iter().all(Option::is_none),
        "the garbler learns no output"
    );
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_circuits_garble_to_the_plaintext_result(
        lanes in 1usize..9,
        inputs_n in 1usize..5,
        ops in prop::collection::vec(op_strategy(64, 3), 1..60),
        seed in any::<u64>(),
    ) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let inputs: Vec<Vec<bool>> = (0..inputs_n).map(|_| (0..lanes).map(|_| rng.random()).collect()).collect();
        let known: Vec<Vec<bool>> = (0..3).map(|_| (0..lanes).map(|_| rng.random()).collect()).collect();
        let want = run(&mut Plain, &ops, inputs.clone(), |k| known[k % known.len()].as_slice());
        prop_assert_eq!(garbled_run(&ops, &inputs, &known, seed), want);
    }
}

/// Runs the threshold-OR between two threads over OT and garbling; returns (evaluator's bit,
/// garbler's bit, bytes the garbler sent, bytes the evaluator sent).
pub(crate) fn two_party(
    spec: ThresholdSpec,
    shares: Vec<u32>,
    masks: Vec<u32>,
    batch: usize,
    seed: u64,
) -> (bool, bool, u64, u64) {
    let (mut a, mut b) = MemoryChannel::pair(16);
    let garbler = std::thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut ot = IknpSender::setup(&mut a, Delta::random(&mut rng), &mut rng).unwrap();
        let out = garble_threshold_or(&mut a, &mut ot, &spec, &masks, batch, Reveal::BOTH).unwrap();
        (out.result.unwrap(), a.bytes_sent())
    });
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 1);
    let mut ot = IknpReceiver::setup(&mut b, &mut rng).unwrap();
    let bit = evaluate_threshold_or(
        &mut b,
        &mut ot,
        &spec,
        &shares,
        batch,
        Reveal::BOTH,
        &mut rng,
    )
    .unwrap()
    .unwrap();
    let (g_bit, g_sent) = garbler.join().unwrap();
    (bit, g_bit, g_sent, b.bytes_sent())
}

fn spec_strategy() -> impl Strategy<Value = (u32, i64)> {
    (2u32..=32).prop_flat_map(|k| {
        let half = 1i64 << (k - 1);
        (
            Just(k),
            prop_oneof![
                -half..half,
                Just(-half),
                Just(half - 1),
                Just(0i64),
                Just(1i64),
                Just(-1i64)
            ],
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn threshold_or_two_party_matches_plaintext(
        (k, tau) in spec_strategy(),
        n in 1usize..40,
        batch in 1usize..17,
        seed in any::<u64>(),
        near in any::<bool>(),
    ) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mask = if k == 32 { u32::MAX } else { (1u32 << k) - 1 };
        let masks: Vec<u32> = (0..n).map(|_| rng.random::<u32>() & mask).collect();
        let mut shares: Vec<u32> = (0..n).map(|_| rng.random::<u32>() & mask).collect();
        if near {
            // Put one score at τ, τ − 1 or τ + 1 (wrapping through the share arithmetic).
            let t = rng.random_range(0..n);
            let delta = rng.random_range(-1i64..=1);
            let score = (tau + delta) as u64 as u32;
            shares[t] = masks[t].wrapping_add(score) & mask;
        }
        let spec = ThresholdSpec { share_bits: k, threshold: tau };
        let want = plain_threshold_rule(&spec, &shares, &masks);
        let (bit, g_bit, _, _) = two_party(spec, shares, masks, batch, seed);
        prop_assert_eq!(bit, want);
        prop_assert_eq!(g_bit, want);
    }
}

#[test]
fn edge_cases_at_the_threshold_and_the_extremes() {
    let k = 24u32;
    let m = (1u32 << k) - 1;
    let half = 1i64 << (k - 1);
    let enc = |score: i64, r: u32| (r.wrapping_add(score as u64 as u32)) & m;
    let cases: Vec<(i64, i64, bool)> = vec![
        (100, 100, true),
        (99, 100, false),
        (101, 100, true),
        (-half, -half, true),
        (half - 1, half - 1, true),
        (half - 2, half - 1, false),
        (-half, -half + 1, false),
        (0, 0, true),
        (-1, 0, false),
    ];
    for (i, (score, tau, want)) in cases.into_iter().enumerate() {
        let spec = ThresholdSpec {
            share_bits: k,
            threshold: tau,
        };
        // Masks near 0 and near 2^k exercise the wrap-around of s − r.
        for r in [0u32, 1, m, m - 1, 0x5A_5A5A] {
            let (bit, g_bit, _, _) = two_party(spec, vec![enc(score, r)], vec![r], 4, i as u64);
            assert_eq!((bit, g_bit), (want, want), "score {score} τ {tau} r {r}");
        }
    }
}

#[test]
fn bytes_per_score_meet_the_budget() {
    let spec = ThresholdSpec {
        share_bits: 24,
        threshold: 12345,
    };
    let n = 4096;
    let (_, _, g_sent, e_sent) = two_party(spec, vec![7; n], vec![3; n], 1024, 5);
    let per_score = (g_sent + e_sent) as f64 / n as f64;
    // 46 ANDs + 1 half-gate (1488 B), 24 OTs at 16 B + 1 bit, plus the setup and the OR tree.
    assert!(
        per_score <= (47 * 32 + 24 * 17) as f64,
        "{per_score} bytes per score"
    );
}

/// What a single-tweak garbler hands the evaluator on AND(x, x) and AND(x, ¬x): with one tweak
/// for both halves, T_G ⊕ T_E ⊕ (held label of x) equals Δ for half of the gates.
fn delta_recoveries(single_tweak: bool) -> usize {
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let delta = Delta::random(&mut rng);
    let lanes = 500;
    let zero: Vec<Block> = (0..lanes).map(|_| Block::random(&mut rng)).collect();
    let x: Vec<bool> = (0..lanes).map(|_| rng.random()).collect();
    let held: Vec<Block> = zero
        .iter()
        .zip(&x)
        .map(|(z, &x)| *z ^ delta.block().select(x))
        .collect();
    let (mut a, mut b) = MemoryChannel::pair(64);
    {
        let mut g = Garbler::new(&mut a, delta);
        g.single_tweak = single_tweak;
        g.and(&zero, &zero).unwrap();
        let not_zero = g.not(&zero);
        g.and(&zero, &not_zero).unwrap();
        g.channel().flush().unwrap();
    }
    let mut tables = vec![0u8; 2 * lanes * 32];
    b.read_bytes(&mut tables).unwrap();
    let blocks: Vec<Block> = tables
        .chunks_exact(16)
        .map(|c| Block::from_bytes(c.try_into().unwrap()))
        .collect();
    let mut hits = 0;
    for gate in 0..2 {
        for lane in 0..lanes {
            let t_g = blocks[(gate * lanes + lane) * 2];
            let t_e = blocks[(gate * lanes + lane) * 2 + 1];
            if t_g ^ t_e ^ held[lane] == delta.block() {
                hits += 1;
            }
        }
    }
    hits
}

#[test]
fn and_gates_on_one_wire_do_not_leak_delta() {
    // The attack works against a single-tweak garbler (so this test can fail) ...
    assert!(
        delta_recoveries(true) > 400,
        "attack should recover Δ from a single-tweak garbler"
    );
    // ... and recovers nothing from ours.
    assert_eq!(delta_recoveries(false), 0);
}

#[test]
fn comparison_fed_in_uneven_pieces_matches_plaintext() {
    use crate::twoparty::{ThresholdOrEvaluator, ThresholdOrGarbler};
    let spec = ThresholdSpec {
        share_bits: 20,
        threshold: 300,
    };
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let m = (1u32 << 20) - 1;
    for target in [None, Some(0usize), Some(20), Some(40)] {
        let n = 41;
        let masks: Vec<u32> = (0..n).map(|_| rng.random::<u32>() & m).collect();
        let shares: Vec<u32> = (0..n)
            .map(|t| masks[t].wrapping_add(if Some(t) == target { 300 } else { 299 }) & m)
            .collect();
        let want = plain_threshold_rule(&spec, &shares, &masks);
        assert_eq!(want, target.is_some());
        // Pieces of 3, 17, 1 and 20 scores with batches of 8: the first piece is narrower than
        // the batches after it, so the lane accumulator has to grow.
        let pieces = [0usize, 3, 20, 21, 41];
        let (mut a, mut b) = MemoryChannel::pair(16);
        let g_masks = masks.clone();
        let garbler = std::thread::spawn(move || {
            let mut rng = ChaCha20Rng::seed_from_u64(1);
            let mut ot = IknpSender::setup(&mut a, Delta::random(&mut rng), &mut rng).unwrap();
            let mut g = ThresholdOrGarbler::new(&mut a, &mut ot, spec, 8).unwrap();
            for w in pieces.windows(2) {
                g.feed(&g_masks[w[0]..w[1]]).unwrap();
            }
            g.finish(Reveal::BOTH).unwrap().result
        });
        let mut ot = IknpReceiver::setup(&mut b, &mut rng).unwrap();
        let mut e = ThresholdOrEvaluator::new(&mut b, &mut ot, spec, 8).unwrap();
        for w in pieces.windows(2) {
            e.feed(&shares[w[0]..w[1]], &mut rng).unwrap();
        }
        assert_eq!(e.finish(Reveal::BOTH).unwrap(), Some(want));
        assert_eq!(garbler.join().unwrap(), Some(want));
    }
}
