//! The threshold-OR circuit, written once over [`Fancy`].
//!
//! Inputs per score t: the evaluator's k-bit share s_t (wires) and the garbler's offset
//! w_t = (r_t + τ) mod 2^k (known to the garbler only; r_t is its share, τ the public
//! threshold). Output: OR_t m_t with m_t = 1 exactly when (s_t − w_t) mod 2^k, read as a
//! signed k-bit integer, is ≥ 0.
//!
//! Why that is the threshold rule: the score is z_t = s_t − r_t (mod 2^k), so
//! s_t − w_t ≡ z_t − τ. When every score satisfies |z| ≤ B + 1 and 1 ≤ τ ≤ B with
//! B + 1 + τ ≤ 2^(k−1) (the session's k is chosen so, spec §4 and §8.1; 2B + 1 ≤ 2^(k−1) serves
//! every τ), z − τ lies in [−B − 1 − τ, B] ⊂ [−2^(k−1), 2^(k−1)) and is represented exactly,
//! so its sign bit is `[z < τ]`.
//!
//! Gate by gate, per score (lanes are scores): the sign bit of s + ¬w + 1, a borrow chain.
//! With carry c_0 = 1, c_1 = s_0 ∨ ¬w_0 = ¬(¬s_0 ∧ w_0) (a garbler half-gate) and
//! c_(i+1) = ((s_i ⊕ c_i) ∧ (¬w_i ⊕ c_i)) ⊕ c_i for 1 ≤ i ≤ k−2 (one AND each; ¬w_i is
//! garbler-known, so ¬w_i ⊕ c_i is free). The sign bit is s_(k−1) ⊕ ¬w_(k−1) ⊕ c_(k−1) and
//! m = ¬sign. Then acc = acc ∨ m (one AND, as ¬(¬acc ∧ ¬m)) lane by lane across batches, and
//! at the end a tree of ORs over the lanes.
//!
//! Per score: k−2 ANDs and one half-gate, plus the OR: 32·(k−1) + 16 table bytes (656 at
//! k = 21, the session width at d = 512 for τ at cosine 0.4), whatever τ.

use crate::fancy::Fancy;

/// The public description of a threshold-OR comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThresholdSpec {
    /// Share width k (2 ≤ k ≤ 32).
    pub share_bits: u32,
    /// Signed threshold τ, in [−2^(k−1), 2^(k−1)).
    pub threshold: i64,
}

impl ThresholdSpec {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), crate::GcError> {
        if !(2..=32).contains(&self.share_bits) {
            return Err(crate::GcError::InvalidParameter(format!(
                "share width {}",
                self.share_bits
            )));
        }
        let half = 1i64 << (self.share_bits - 1);
        if !(-half..half).contains(&self.threshold) {
            return Err(crate::GcError::InvalidParameter(format!(
                "threshold {} outside the signed {}-bit range",
                self.threshold, self.share_bits
            )));
        }
        Ok(())
    }

    /// The garbler's offset w = (r + τ) mod 2^k for its share r.
    pub fn offset(&self, mask: u32) -> u32 {
        let modulus = 1i64 << self.share_bits;
        (mask as i64 + self.threshold).rem_euclid(modulus) as u32
    }

    /// The plaintext decision for one score, exactly what the circuit computes:
    /// [(s − r − τ) mod 2^k, read signed, ≥ 0]. It equals [(s − r) ≥ τ] whenever the score and
    /// τ satisfy the range condition of the module documentation.
    pub fn decide(&self, share: u32, mask: u32) -> bool {
        reconstruct_score(share, self.offset(mask), self.share_bits) >= 0
    }
}

/// Reconstructs a score from the verifier's share s and the holder's mask r (spec §6.6):
/// `(s − r) mod 2^k`, read as a signed k-bit integer (2 ≤ k ≤ 32). The one definition of the
/// score both the HE step's tests and the comparison's plaintext reference use.
///
/// ```
/// assert_eq!(privface_gc::reconstruct_score(5, 7, 8), -2);
/// assert_eq!(privface_gc::reconstruct_score(7, 5, 8), 2);
/// ```
pub fn reconstruct_score(share: u32, mask: u32, share_bits: u32) -> i64 {
    let k = share_bits;
    let z = (share as u64).wrapping_sub(mask as u64) & ((1u64 << k) - 1);
    if z >> (k - 1) == 1 {
        z as i64 - (1i64 << k)
    } else {
        z as i64
    }
}

/// a ∨ b = ¬(¬a ∧ ¬b).
pub fn or<F: Fancy>(f: &mut F, a: &[F::Wire], b: &[F::Wire]) -> Result<Vec<F::Wire>, F::Error> {
    let (na, nb) = (f.not(a), f.not(b));
    let both = f.and(&na, &nb)?;
    Ok(f.not(&both))
}

/// ORs all lanes of `wires` into one wire (a balanced tree, lanes − 1 ANDs).
pub fn or_lanes<F: Fancy>(f: &mut F, mut wires: Vec<F::Wire>) -> Result<F::Wire, F::Error> {
    assert!(!wires.is_empty(), "OR of no lanes");
    while wires.len() > 1 {
        let half = wires.len() / 2;
        let mut next = or(f, &wires[..half], &wires[half..2 * half])?;
        if wires.len() % 2 == 1 {
            next.push(wires[wires.len() - 1].clone());
        }
        wires = next;
    }
    Ok(wires.pop().expect("one lane left"))
}

/// The garbler-known bits of the offsets w_t = (r_t + τ) mod 2^k for a batch of masks r_t:
/// entry i holds bit i of every lane, the form [`threshold_batch`] takes on the backends that
/// know the masks.
pub fn offset_bits(masks: &[u32], spec: &ThresholdSpec) -> Vec<Vec<bool>> {
    let offsets: Vec<u32> = masks.iter().map(|&r| spec.offset(r)).collect();
    bit_columns(&offsets, spec.share_bits)
}

/// m_t = [((s_t − w_t) mod 2^k as signed) ≥ 0] for one batch of scores.
///
/// `shares[i]` holds bit i of every lane's share; `offset[i]` is this backend's view of bit i
/// of w_t = (r_t + τ) mod 2^k: on the garbler and the plaintext backend the bits (from
/// [`offset_bits`]), on the evaluator and the counter `()`.
pub fn threshold_batch<F: Fancy>(
    f: &mut F,
    spec: &ThresholdSpec,
    shares: &[Vec<F::Wire>],
    offset: &[F::Known<'_>],
) -> Result<Vec<F::Wire>, F::Error> {
    let k = spec.share_bits as usize;
    assert_eq!(shares.len(), k, "one wire vector per share bit");
    let carry = borrow_carries(f, shares, offset)?;
    // m = ¬(s_(k−1) ⊕ ¬w_(k−1) ⊕ c_(k−1)) = s_(k−1) ⊕ w_(k−1) ⊕ c_(k−1).
    let t = f.xor(&shares[k - 1], &carry[k - 1]);
    Ok(f.xor_known(&t, offset[k - 1]))
}

/// The carries of s + ¬w + 1 (mod 2^k), the borrow chain of s − w for garbler-known w:
/// entry i is c_i for 1 ≤ i ≤ k − 1 (entry 0 is the constant carry-in 1). One half-gate and
/// k − 2 ANDs per lane:
/// c_1 = ¬(¬s_0 ∧ w_0) and c_(i+1) = ((s_i ⊕ c_i) ∧ (¬w_i ⊕ c_i)) ⊕ c_i.
pub(crate) fn borrow_carries<F: Fancy>(
    f: &mut F,
    shares: &[Vec<F::Wire>],
    offset: &[F::Known<'_>],
) -> Result<Vec<Vec<F::Wire>>, F::Error> {
    let k = shares.len();
    assert!(k >= 2, "a share of at least two bits");
    assert_eq!(offset.len(), k, "one known-bit vector per share bit");
    let mut carries = vec![f.constant(true, shares[0].len())];
    let not_s0 = f.not(&shares[0]);
    let both = f.and_known(&not_s0, offset[0])?;
    carries.push(f.not(&both));
    for i in 1..k - 1 {
        let carry = &carries[i];
        let a = f.xor(&shares[i], carry);
        let not_w = f.xor_known(carry, offset[i]);
        let b = f.not(&not_w);
        let ab = f.and(&a, &b)?;
        let next = f.xor(&ab, carry);
        carries.push(next);
    }
    Ok(carries)
}

/// Splits lane values into `k` bit vectors (bit i of every lane).
pub fn bit_columns(values: &[u32], k: u32) -> Vec<Vec<bool>> {
    (0..k)
        .map(|i| values.iter().map(|&v| v >> i & 1 == 1).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fancy::{Counter, Plain};

    fn plain_threshold_or(
        spec: &ThresholdSpec,
        shares: &[u32],
        masks: &[u32],
        batch: usize,
    ) -> bool {
        let mut f = Plain;
        let mut acc: Option<Vec<bool>> = None;
        for (s, r) in shares.chunks(batch).zip(masks.chunks(batch)) {
            let w = offset_bits(r, spec);
            let w: Vec<&[bool]> = w.iter().map(Vec::as_slice).collect();
            let m = threshold_batch(&mut f, spec, &bit_columns(s, spec.share_bits), &w).unwrap();
            acc = Some(match acc {
                None => m,
                Some(mut a) => {
                    let merged = or(&mut f, &a[..m.len()], &m).unwrap();
                    a[..m.len()].copy_from_slice(&merged);
                    a
                }
            });
        }
        or_lanes(&mut f, acc.unwrap()).unwrap()
    }

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }
    }

    #[test]
    fn plaintext_circuit_matches_the_modular_definition() {
        let mut rng = Lcg(12345);
        for k in [2u32, 3, 8, 22, 24, 32] {
            let mask = if k == 32 { u32::MAX } else { (1u32 << k) - 1 };
            for _ in 0..50 {
                let n = 1 + (rng.next() % 9) as usize;
                let shares: Vec<u32> = (0..n).map(|_| rng.next() & mask).collect();
                let masks: Vec<u32> = (0..n).map(|_| rng.next() & mask).collect();
                let half = 1i64 << (k - 1);
                let tau = match rng.next() % 4 {
                    0 => -half,
                    1 => half - 1,
                    _ => (rng.next() as i64 % (2 * half)) - half,
                };
                let spec = ThresholdSpec {
                    share_bits: k,
                    threshold: tau,
                };
                let want = shares.iter().zip(&masks).any(|(&s, &r)| spec.decide(s, r));
                assert_eq!(
                    plain_threshold_or(&spec, &shares, &masks, 4),
                    want,
                    "k = {k} τ = {tau}"
                );
            }
        }
    }

    /// Inside the range condition (|score| ≤ B, 1 ≤ τ ≤ B, 2B + 1 ≤ 2^(k−1)) the circuit is the
    /// integer rule `[score ≥ τ]`; one step outside it, it is not.
    #[test]
    fn in_range_the_circuit_is_the_integer_rule() {
        let mut rng = Lcg(99);
        for k in [4u32, 8, 22] {
            let bound = ((1i64 << (k - 1)) - 1) / 2;
            let modulus = 1i64 << k;
            let mut cases: Vec<(i64, i64)> = vec![
                (-bound, bound),
                (bound, bound),
                (bound, 1),
                (-bound, 1),
                (bound - 1, bound),
                (0, 1),
                (1, 1),
            ];
            for _ in 0..2000 {
                let score = rng.next() as i64 % (2 * bound + 1) - bound;
                let tau = 1 + rng.next() as i64 % bound;
                cases.push((score, tau));
            }
            for (score, tau) in cases {
                let r = rng.next() as i64 & (modulus - 1);
                let s = (score + r).rem_euclid(modulus) as u32;
                let spec = ThresholdSpec {
                    share_bits: k,
                    threshold: tau,
                };
                assert_eq!(
                    plain_threshold_or(&spec, &[s], &[r as u32], 1),
                    score >= tau,
                    "k = {k} score = {score} τ = {tau}"
                );
            }
            // Three below the score range, at τ = B, the difference −2B − 3 wraps to a
            // non-negative value: the circuit would say "match" for a far negative score.
            let (score, tau) = (-bound - 3, bound);
            let r = 5i64;
            let s = (score + r).rem_euclid(modulus) as u32;
            let spec = ThresholdSpec {
                share_bits: k,
                threshold: tau,
            };
            assert!(plain_threshold_or(&spec, &[s], &[r as u32], 1) && score < tau);
        }
    }

    #[test]
    fn counter_proves_the_gate_count() {
        for (k, tau) in [
            (24u32, 1000i64),
            (24, -5),
            (24, 0),
            (22, 77),
            (8, 3),
            (2, 1),
        ] {
            let spec = ThresholdSpec {
                share_bits: k,
                threshold: tau,
            };
            let mut c = Counter::default();
            let lanes = 16;
            let shares = vec![vec![(); lanes]; k as usize];
            let m = threshold_batch(&mut c, &spec, &shares, &vec![(); k as usize]).unwrap();
            assert_eq!(c.half_gates, lanes as u64, "one half-gate per score");
            assert_eq!(c.ands, (k as u64 - 2) * lanes as u64, "k = {k}");
            // Plus one OR per score across the whole run: at most k gates per score in all.
            or_lanes(&mut c, m).unwrap();
            assert!(c.ands + c.half_gates <= k as u64 * lanes as u64);
        }
        // At k = 22 (d = 512): 20 ANDs + 1 half-gate, and the accumulator OR, per score:
        // 21·32 + 16 = 688 table bytes.
        let spec = ThresholdSpec {
            share_bits: 22,
            threshold: 0x2A_AAAB - (1 << 21),
        };
        let mut c = Counter::default();
        let m = threshold_batch(&mut c, &spec, &vec![vec![(); 1]; 22], &[(); 22]).unwrap();
        let acc = c.constant(false, 1);
        or(&mut c, &acc, &m).unwrap();
        assert_eq!((c.ands, c.half_gates), (21, 1));
        assert_eq!(c.table_bytes(), 688);
    }
}
