//! `garbling.json`.

use privface_gc::{Fancy, Garbler, Plain, ThresholdSpec, circuit};
use privface_ot::{Block, BufferChannel, Delta};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};

use crate::{file, hex};

/// The tiny circuit of the garbling vectors, per lane: c = a ∧ b, e = ¬(c ⊕ a),
/// f = b ∧ k (k known to the garbler), out = e ∧ f.
pub fn tiny_circuit<F: Fancy>(
    f: &mut F,
    a: &[F::Wire],
    b: &[F::Wire],
    known: F::Known<'_>,
) -> Result<Vec<Option<bool>>, F::Error> {
    let c = f.and(a, b)?;
    let d = f.xor(&c, a);
    let e = f.not(&d);
    let k = f.and_known(b, known)?;
    let out = f.and(&e, &k)?;
    f.output(&out)
}

/// The threshold-OR of the garbling vectors: one batch, then the OR over its lanes. `neg` is
/// the backend's view of the offsets' bits (w = r + τ mod 2^k) (see [`circuit::threshold_batch`]).
pub fn tiny_threshold<F: Fancy>(
    f: &mut F,
    spec: &ThresholdSpec,
    shares: &[Vec<F::Wire>],
    neg: &[F::Known<'_>],
) -> Result<Vec<Option<bool>>, F::Error> {
    let lanes = circuit::threshold_batch(f, spec, shares, neg)?;
    let out = circuit::or_lanes(f, lanes)?;
    f.output(std::slice::from_ref(&out))
}

fn blocks_hex(blocks: &[Block]) -> Vec<String> {
    blocks.iter().map(|b| hex(&b.to_bytes())).collect()
}

pub(crate) fn garbling() -> Value {
    let delta = Delta::from_block(Block::from_bytes(*b"privface-delta!!"));
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let lanes = 4;
    let zero_a: Vec<Block> = (0..lanes).map(|_| Block::random(&mut rng)).collect();
    let zero_b: Vec<Block> = (0..lanes).map(|_| Block::random(&mut rng)).collect();
    let (xa, xb) = ([false, false, true, true], [false, true, false, true]);
    let known = [true, false, true, true];
    let mut g = Garbler::new(BufferChannel::new(), delta);
    tiny_circuit(&mut g, &zero_a, &zero_b, &known).expect("garble");
    let stream = g.channel().take_outgoing();
    let plain = tiny_circuit(&mut Plain, &xa, &xb, &known).expect("plain");
    let tiny = json!({
        "id": 1,
        "comment": "c = a ∧ b, e = ¬(c ⊕ a), f = b ∧ k (half-gate, k known to the garbler), out = e ∧ f; four lanes, one per (a, b); zero labels from ChaCha20 seed 21 (a's, then b's)",
        "flags": [], "valid": true, "circuit": "tiny",
        "delta": hex(&delta.block().to_bytes()),
        "zero_labels_a": blocks_hex(&zero_a),
        "zero_labels_b": blocks_hex(&zero_b),
        "known": known, "inputs_a": xa, "inputs_b": xb,
        "stream": hex(&stream),
        "outputs": plain.iter().map(|b| b.expect("plain output")).collect::<Vec<_>>(),
    });

    let spec = ThresholdSpec {
        share_bits: 6,
        threshold: 5,
    };
    let m = 63u32;
    let scores = [4i64, -15, 5, 15];
    let masks = [9u32, 63, 40, 0];
    let shares: Vec<u32> = scores
        .iter()
        .zip(&masks)
        .map(|(&s, &r)| (r.wrapping_add(s as u32)) & m)
        .collect();
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let zero: Vec<Vec<Block>> = (0..6)
        .map(|_| (0..scores.len()).map(|_| Block::random(&mut rng)).collect())
        .collect();
    let neg = circuit::offset_bits(&masks, &spec);
    let neg: Vec<&[bool]> = neg.iter().map(Vec::as_slice).collect();
    let mut g = Garbler::new(BufferChannel::new(), delta);
    tiny_threshold(&mut g, &spec, &zero, &neg).expect("garble");
    let stream = g.channel().take_outgoing();
    let bit = tiny_threshold(&mut Plain, &spec, &circuit::bit_columns(&shares, 6), &neg)
        .expect("plain")[0]
        .expect("plain output");
    let threshold = json!({
        "id": 2,
        "comment": "threshold-OR (§8.1), k = 6, τ = 5, one batch of four scores (4, −15, 5, 15; |score| ≤ 15 so 2B + 1 ≤ 2^(k−1)) then the OR tree; the garbler-known bits are those of w = (r + τ) mod 2^k; zero labels from ChaCha20 seed 22, bit-major ([bit][lane])",
        "flags": [], "valid": true, "circuit": "threshold-or",
        "delta": hex(&delta.block().to_bytes()),
        "share_bits": spec.share_bits, "threshold": spec.threshold,
        "masks": masks, "shares": shares,
        "zero_labels": zero.iter().map(|c| blocks_hex(c)).collect::<Vec<_>>(),
        "stream": hex(&stream),
        "outputs": [bit],
    });
    file(
        "privface/garbling/1",
        "Half-gates garbling with a fixed Δ and fixed input labels (spec §8): the garbler's whole stream",
        "`stream` is every table in gate order (AND: T_G ‖ T_E, half-gate: T; 16 bytes each, lanes in order within a gate) then the packed decode bits; the evaluator holds zero label ⊕ input·Δ",
        vec![tiny, threshold],
    )
}
