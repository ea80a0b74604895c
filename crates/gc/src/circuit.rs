//! The threshold-OR circuit, written once over [`Fancy`].
//!
//! Inputs per score t: the evaluator's k-bit share s_t (wires), the garbler's mask r_t (known to
//! the garbler only) and the public signed threshold τ. Output: OR_t [ z_t ≥ τ ] with
//! z_t = (s_t − r_t) mod 2^k read as a signed k-bit integer.
//!
//! Gate by gate, per score (lanes are scores):
//! 1. z = s + n with n = (−r) mod 2^k known to the garbler: a ripple-carry adder whose sum bits
//!    are free (s_i ⊕ c_i ⊕ n_i) and whose carries are c_1 = s_0 ∧ n_0 (a garbler half-gate) and
//!    c_(i+1) = ((s_i ⊕ c_i) ∧ (n_i ⊕ c_i)) ⊕ c_i (one AND) for i = 1 … k−2.
//! 2. m = [z ≥ τ]: flip the sign bit of z (z_u = z ⊕ 2^(k−1)) and of τ (c = τ + 2^(k−1)), then
//!    m is the carry out of z_u + ¬c + 1. The carry starts as the public constant 1; while it is
//!    constant and ¬c_i agrees with it, it stays constant; when they differ it becomes z_u,i
//!    (free); once a wire, each stage is z_u,i ∧ carry (¬c_i = 0) or z_u,i ∨ carry (¬c_i = 1),
//!    one AND each. At most k−1 ANDs.
//! 3. acc = acc ∨ m (one AND, as ¬(¬acc ∧ ¬m)), lane by lane across batches, and at the end a
//!    tree of ORs over the lanes.
//!
//! Per score: at most 2k−2 ANDs and one half-gate, 32·(2k−2) + 16 table bytes (1296 at
//! k = 21, the session width at d = 512; 1488 at k = 24).

use crate::fancy::Fancy;

/// The public description of a threshold-OR comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThresholdSpec {
    /// Share width k (2 ≤ k ≤ 32).
    pub share_bits: u32,
    /// Signed threshold τ.
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
        Ok(())
    }

    /// The plaintext decision for one score: [(s − r) mod 2^k, read signed, ≥ τ].
    pub fn decide(&self, share: u32, mask: u32) -> bool {
        reconstruct_score(share, mask, self.share_bits) >= self.threshold
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

enum Carry<W> {
    Const(bool),
    Wire(Vec<W>),
}

/// The garbler-known bits of n = (−r) mod 2^k for a batch of masks r: entry i holds bit i of
/// every lane, the form [`threshold_batch`] takes on the backends that know the masks.
pub fn negated_mask_bits(masks: &[u32], share_bits: u32) -> Vec<Vec<bool>> {
    let modulus = 1u64 << share_bits;
    (0..share_bits)
        .map(|i| {
            masks
                .iter()
                .map(|&r| ((modulus - r as u64) % modulus) >> i & 1 == 1)
                .collect()
        })
        .collect()
}

/// m_t = [((s_t − r_t) mod 2^k as signed) ≥ τ] for one batch of scores.
///
/// `shares[i]` holds bit i of every lane's share; `neg[i]` is this backend's view of bit i of
/// n_t = (−r_t) mod 2^k: on the garbler and the plaintext backend the bits (from
/// [`negated_mask_bits`]), on the evaluator and the counter `()`.
pub fn threshold_batch<F: Fancy>(
    f: &mut F,
    spec: &ThresholdSpec,
    shares: &[Vec<F::Wire>],
    neg: &[F::Known<'_>],
) -> Result<Vec<F::Wire>, F::Error> {
    let k = spec.share_bits as usize;
    assert_eq!(shares.len(), k, "one wire vector per share bit");
    assert_eq!(neg.len(), k, "one known-bit vector per share bit");
    let lanes = shares[0].len();
    let n = |i: usize| neg[i];

    // 1. z = s + n.
    let mut z = Vec::with_capacity(k);
    let mut carry: Option<Vec<F::Wire>> = None;
    for (i, s) in shares.iter().enumerate() {
        let sum = match &carry {
            None => f.xor_known(s, n(i)),
            Some(c) => {
                let t = f.xor(s, c);
                f.xor_known(&t, n(i))
            }
        };
        z.push(sum);
        if i + 1 < k {
            carry = Some(match &carry {
                None => f.and_known(s, n(i))?,
                Some(c) => {
                    let a = f.xor(s, c);
                    let b = f.xor_known(c, n(i));
                    let ab = f.and(&a, &b)?;
                    f.xor(&ab, c)
                }
            });
        }
    }

    // 2. [z ≥ τ] as the carry out of z_u + ¬c + 1.
    let half = 1i64 << (k - 1);
    if spec.threshold >= half {
        return Ok(f.constant(false, lanes));
    }
    if spec.threshold < -half {
        return Ok(f.constant(true, lanes));
    }
    let c = (spec.threshold + half) as u64;
    z[k - 1] = f.not(&z[k - 1]);
    let mut carry = Carry::Const(true);
    for (i, zi) in z.iter().enumerate() {
        let b = c >> i & 1 == 0; // bit i of ¬c
        carry = match carry {
            Carry::Const(cv) if cv == b => Carry::Const(b),
            Carry::Const(_) => Carry::Wire(zi.clone()),
            Carry::Wire(w) if !b => Carry::Wire(f.and(zi, &w)?),
            Carry::Wire(w) => Carry::Wire(or(f, zi, &w)?),
        };
    }
    Ok(match carry {
        Carry::Const(v) => f.constant(v, lanes),
        Carry::Wire(w) => w,
    })
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
            let neg = negated_mask_bits(r, spec.share_bits);
            let neg: Vec<&[bool]> = neg.iter().map(Vec::as_slice).collect();
            let m = threshold_batch(&mut f, spec, &bit_columns(s, spec.share_bits), &neg).unwrap();
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

    #[test]
    fn plaintext_circuit_matches_the_integer_definition() {
        let mut state = 12345u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        for k in [2u32, 3, 8, 22, 24, 32] {
            let mask = if k == 32 { u32::MAX } else { (1u32 << k) - 1 };
            for _ in 0..50 {
                let n = 1 + (next() % 9) as usize;
                let shares: Vec<u32> = (0..n).map(|_| next() & mask).collect();
                let masks: Vec<u32> = (0..n).map(|_| next() & mask).collect();
                let half = 1i64 << (k - 1);
                let tau = match next() % 5 {
                    0 => -half,
                    1 => half - 1,
                    2 => half, // never matches
                    _ => (next() as i64 % (2 * half)) - half,
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

    #[test]
    fn counter_proves_the_gate_count() {
        for (k, tau) in [(24u32, 1000i64), (24, -5), (24, 0), (22, 77), (8, 3)] {
            let spec = ThresholdSpec {
                share_bits: k,
                threshold: tau,
            };
            let mut c = Counter::default();
            let lanes = 16;
            let shares = vec![vec![(); lanes]; k as usize];
            let m = threshold_batch(&mut c, &spec, &shares, &vec![(); k as usize]).unwrap();
            let per_score_and = c.ands as f64 / lanes as f64;
            assert_eq!(c.half_gates, lanes as u64, "one half-gate per score");
            assert!(
                per_score_and <= (2 * k - 3) as f64,
                "k = {k}: {per_score_and} ANDs before the OR"
            );
            // Plus one OR per score across the whole run.
            or_lanes(&mut c, m).unwrap();
            assert!(c.ands as f64 / lanes as f64 <= (2 * k - 2) as f64);
        }
        // At k = 24 a generic τ costs exactly 22 + 23 + 1 = 46 ANDs and one half-gate per score:
        // 46·32 + 16 = 1488 table bytes.
        let spec = ThresholdSpec {
            share_bits: 24,
            threshold: 0x2A_AAAB - (1 << 23),
        };
        let mut c = Counter::default();
        let m = threshold_batch(&mut c, &spec, &vec![vec![(); 1]; 24], &[(); 24]).unwrap();
        let acc = c.constant(false, 1);
        or(&mut c, &acc, &m).unwrap();
        assert_eq!((c.ands, c.half_gates), (46, 1));
        assert_eq!(c.table_bytes(), 1488);
    }
}
