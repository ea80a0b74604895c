//! The argmax circuit of encrypted classification (spec §13.3), written once over [`Fancy`],
//! and its two-party run.
//!
//! Inputs per class c (lanes are classes): the evaluator's k-bit share s_c and the garbler's
//! offset v_c = (r_c − β_c) mod 2^k, where r_c is the garbler's share of the score and β_c the
//! class bias on the score scale. So the logit z_c = s_c − v_c (mod 2^k) = score_c + β_c needs
//! no extra input: the bias is folded into the garbler's offset. The session's k makes every
//! logit a signed k-bit integer (|z| ≤ Λ < 2^(k−1)).
//!
//! Gates, per run of C classes:
//! 1. z_c = s_c + ¬v_c + 1 bit by bit: the borrow chain of the threshold circuit (one
//!    half-gate and k − 2 ANDs per class) and free XORs for the sum bits.
//! 2. For C = 1 (a binary model) the output is the one bit ¬sign(z_0) = [z_0 ≥ 0], exactly the
//!    threshold circuit: k − 1 gates.
//! 3. For C ≥ 2, a tournament over the lanes: at each level lane 2i (lower classes) meets
//!    lane 2i + 1; the right one wins only when it is strictly larger, so ties go to the lowest
//!    class. A meeting is a signed comparison (the sign of a − b in k + 1 bits: k ANDs) and two
//!    multiplexers (k ANDs for the value, ⌈log2 C⌉ for the class index, which starts as public
//!    constants). C − 1 meetings.
//!
//! Output: the ⌈log2 C⌉ bits of the winning class's index, least significant first (one bit
//! for C ≤ 2).

use std::borrow::BorrowMut;

use privface_ot::{Block, Channel, IknpReceiver, IknpSender};
use rand::{CryptoRng, Rng};

use crate::circuit::{bit_columns, borrow_carries, reconstruct_score};
use crate::error::{GcError, Result};
use crate::fancy::Fancy;
use crate::sides::{EvaluatorSide, GarblerSide};

/// The public description of an argmax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgmaxSpec {
    /// Share width k (2 ≤ k ≤ 32).
    pub share_bits: u32,
    /// Number of classes C (≥ 1; 1 is a binary model deciding [logit ≥ 0]).
    pub classes: usize,
}

impl ArgmaxSpec {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<()> {
        if !(2..=32).contains(&self.share_bits) {
            return Err(GcError::InvalidParameter(format!(
                "share width {}",
                self.share_bits
            )));
        }
        if self.classes == 0 {
            return Err(GcError::InvalidParameter("no classes".into()));
        }
        Ok(())
    }

    /// Bits of the output: ⌈log2 C⌉, and one for C ≤ 2.
    pub fn output_bits(&self) -> usize {
        (usize::BITS - (self.classes.max(2) - 1).leading_zeros()) as usize
    }

    /// The garbler's offset v = (r − β) mod 2^k for its share r and the class bias β.
    pub fn offset(&self, mask: u32, bias: i64) -> u32 {
        let modulus = 1i64 << self.share_bits;
        (mask as i64 - bias.rem_euclid(modulus)).rem_euclid(modulus) as u32
    }

    /// The plaintext rule the circuit computes: the logits z_c = (s_c − v_c) mod 2^k read
    /// signed, then the first largest (or [z_0 ≥ 0] for C = 1).
    pub fn decide(&self, shares: &[u32], masks: &[u32], biases: &[i64]) -> u32 {
        assert_eq!(shares.len(), self.classes, "one share per class");
        let logits: Vec<i64> = shares
            .iter()
            .zip(masks)
            .zip(biases)
            .map(|((&s, &r), &b)| reconstruct_score(s, self.offset(r, b), self.share_bits))
            .collect();
        if self.classes == 1 {
            return u32::from(logits[0] >= 0);
        }
        let mut best = 0;
        for (c, &z) in logits.iter().enumerate() {
            if z > logits[best] {
                best = c;
            }
        }
        best as u32
    }

    /// The garbler-known offset bits for masks r_c and biases β_c, as [`argmax`] takes them on
    /// the backends that know them.
    pub fn offset_bits(&self, masks: &[u32], biases: &[i64]) -> Vec<Vec<bool>> {
        let offsets: Vec<u32> = masks
            .iter()
            .zip(biases)
            .map(|(&r, &b)| self.offset(r, b))
            .collect();
        bit_columns(&offsets, self.share_bits)
    }
}

/// [a < b] for signed k-bit lanes: the sign of a − b = a + ¬b + 1 in k + 1 bits (sign
/// extension), a carry chain of k ANDs.
pub(crate) fn less_than<F: Fancy>(
    f: &mut F,
    a: &[Vec<F::Wire>],
    b: &[Vec<F::Wire>],
) -> core::result::Result<Vec<F::Wire>, F::Error> {
    let k = a.len();
    // c_1 = a_0 ∨ ¬b_0 = ¬(¬a_0 ∧ b_0).
    let not_a0 = f.not(&a[0]);
    let both = f.and(&not_a0, &b[0])?;
    let mut carry = f.not(&both);
    for i in 1..k {
        // c_(i+1) = ((a_i ⊕ c_i) ∧ (¬b_i ⊕ c_i)) ⊕ c_i.
        let x = f.xor(&a[i], &carry);
        let y = f.xor(&b[i], &carry);
        let not_y = f.not(&y);
        let xy = f.and(&x, &not_y)?;
        carry = f.xor(&xy, &carry);
    }
    // Bit k of the sum: a_(k−1) ⊕ ¬b_(k−1) ⊕ c_k, 1 exactly when a − b < 0.
    let t = f.xor(&a[k - 1], &b[k - 1]);
    let t = f.xor(&t, &carry);
    Ok(f.not(&t))
}

/// Per column, `sel ? right : left` = left ⊕ (sel ∧ (left ⊕ right)).
pub(crate) fn select<F: Fancy>(
    f: &mut F,
    sel: &[F::Wire],
    left: &[Vec<F::Wire>],
    right: &[Vec<F::Wire>],
) -> core::result::Result<Vec<Vec<F::Wire>>, F::Error> {
    left.iter()
        .zip(right)
        .map(|(l, r)| {
            let diff = f.xor(l, r);
            let pick = f.and(sel, &diff)?;
            Ok(f.xor(l, &pick))
        })
        .collect()
}

/// Lanes `from, from + 2, …` (at most `count`) of every column.
fn every_other<W: Clone>(cols: &[Vec<W>], from: usize, count: usize) -> Vec<Vec<W>> {
    cols.iter()
        .map(|c| {
            c.iter()
                .skip(from)
                .step_by(2)
                .take(count)
                .cloned()
                .collect()
        })
        .collect()
}

/// The argmax circuit: `shares[i]` holds bit i of every class's share (C lanes), `offset[i]`
/// this backend's view of bit i of the offsets v_c (the bits on the garbler and the plaintext
/// backend, `()` elsewhere). Returns the [`ArgmaxSpec::output_bits`] bits of the winning
/// class's index (one lane each), least significant first.
pub fn argmax<F: Fancy>(
    f: &mut F,
    spec: &ArgmaxSpec,
    shares: &[Vec<F::Wire>],
    offset: &[F::Known<'_>],
) -> core::result::Result<Vec<F::Wire>, F::Error> {
    let k = spec.share_bits as usize;
    let classes = spec.classes;
    assert_eq!(shares.len(), k, "one wire vector per share bit");
    assert!(
        shares.iter().all(|s| s.len() == classes),
        "one lane per class"
    );
    let carry = borrow_carries(f, shares, offset)?;
    if classes == 1 {
        // [z_0 ≥ 0] = ¬sign = s_(k−1) ⊕ v_(k−1) ⊕ c_(k−1): the threshold circuit's last step.
        let t = f.xor(&shares[k - 1], &carry[k - 1]);
        return Ok(f.xor_known(&t, offset[k - 1]));
    }
    // z_i = s_i ⊕ ¬v_i ⊕ c_i (c_0 = 1, so z_0 = s_0 ⊕ v_0).
    let mut value: Vec<Vec<F::Wire>> = (0..k)
        .map(|i| {
            let t = f.xor(&shares[i], &carry[i]);
            let t = f.xor_known(&t, offset[i]);
            f.not(&t)
        })
        .collect();
    let bits = spec.output_bits();
    let zero = f.constant(false, 1).pop().expect("one lane");
    let one = f.constant(true, 1).pop().expect("one lane");
    let mut index: Vec<Vec<F::Wire>> = (0..bits)
        .map(|j| {
            (0..classes)
                .map(|c| {
                    if c >> j & 1 == 1 {
                        one.clone()
                    } else {
                        zero.clone()
                    }
                })
                .collect()
        })
        .collect();
    let mut lanes = classes;
    while lanes > 1 {
        let pairs = lanes / 2;
        let (left_v, right_v) = (every_other(&value, 0, pairs), every_other(&value, 1, pairs));
        let (left_i, right_i) = (every_other(&index, 0, pairs), every_other(&index, 1, pairs));
        let right_wins = less_than(f, &left_v, &right_v)?;
        let mut next_v = select(f, &right_wins, &left_v, &right_v)?;
        let mut next_i = select(f, &right_wins, &left_i, &right_i)?;
        if lanes % 2 == 1 {
            // The odd lane out (the highest class of this level) goes up unopposed.
            for (n, c) in next_v.iter_mut().zip(&value) {
                n.push(c[lanes - 1].clone());
            }
            for (n, c) in next_i.iter_mut().zip(&index) {
                n.push(c[lanes - 1].clone());
            }
        }
        value = next_v;
        index = next_i;
        lanes = lanes.div_ceil(2);
    }
    Ok(index
        .into_iter()
        .map(|mut c| c.pop().expect("one lane"))
        .collect())
}

/// The class index carried by output bits, least significant first.
fn index_of(bits: &[bool]) -> u32 {
    bits.iter()
        .enumerate()
        .map(|(j, &b)| u32::from(b) << j)
        .sum()
}

/// The garbler's side of a two-party argmax: one batch of all C classes (the evaluator's
/// extension for k·C OTs in, the tables out), then the output (spec §13.3). The class biases
/// are the garbler's and enter only its offsets.
pub struct ArgmaxGarbler<C: Channel, O: BorrowMut<IknpSender>> {
    side: GarblerSide<C, O>,
    spec: ArgmaxSpec,
    biases: Vec<i64>,
    outputs: Option<Vec<Block>>,
}

impl<C: Channel, O: BorrowMut<IknpSender>> ArgmaxGarbler<C, O> {
    /// Starts an argmax over `channel` with an extension sender already set up.
    pub fn new(channel: C, ot: O, spec: ArgmaxSpec, biases: Vec<i64>) -> Result<Self> {
        spec.validate()?;
        if biases.len() != spec.classes {
            return Err(GcError::InvalidParameter(format!(
                "{} biases for {} classes",
                biases.len(),
                spec.classes
            )));
        }
        Ok(Self {
            side: GarblerSide::new(channel, ot),
            spec,
            biases,
            outputs: None,
        })
    }

    /// The channel, for the caller's own messages between pieces.
    pub fn channel(&mut self) -> &mut C {
        self.side.channel()
    }

    /// Scores in the one batch: C.
    pub fn batch(&self) -> usize {
        self.spec.classes
    }

    /// The batch of all C scores, given by the garbler's masks r_c: reads the evaluator's
    /// extension columns and correction bits, writes the circuit's tables.
    pub fn garble_batch(&mut self, masks: &[u32]) -> Result<()> {
        if masks.len() != self.spec.classes || self.outputs.is_some() {
            return Err(GcError::InvalidParameter(format!(
                "an argmax takes one batch of {} scores",
                self.spec.classes
            )));
        }
        let k = self.spec.share_bits as usize;
        let inputs = self.side.inputs(k, masks.len())?;
        let offsets = self.spec.offset_bits(masks, &self.biases);
        let offsets: Vec<&[bool]> = offsets.iter().map(Vec::as_slice).collect();
        let out = argmax(&mut self.side.garbler, &self.spec, &inputs, &offsets)?;
        self.outputs = Some(out);
        Ok(())
    }

    /// The output wires' zero labels; the decode bits go out when the evaluator alone is to
    /// learn the class.
    pub fn close(&mut self, reveal_to_evaluator: bool) -> Result<Vec<Block>> {
        let out = self
            .outputs
            .take()
            .ok_or_else(|| GcError::InvalidParameter("no scores".to_owned()))?;
        if reveal_to_evaluator {
            self.side.garbler.output(&out)?;
        }
        Ok(out)
    }

    /// Reads the evaluator's output labels (16 bytes each) and decodes the class index: an
    /// error unless each is one of its wire's two labels.
    pub fn decode_returned(&mut self, out: &[Block]) -> Result<u32> {
        Ok(index_of(&self.side.returned_bits(out)?))
    }

    /// Sends the decode bits (with output to both, after the evaluator's labels came back).
    pub fn send_decode(&mut self, out: &[Block]) -> Result<()> {
        self.side.garbler.output(out)?;
        Ok(())
    }
}

/// The evaluator's side of a two-party argmax (see [`ArgmaxGarbler`]).
pub struct ArgmaxEvaluator<C: Channel, O: BorrowMut<IknpReceiver>> {
    side: EvaluatorSide<C, O>,
    spec: ArgmaxSpec,
    outputs: Option<Vec<Block>>,
}

impl<C: Channel, O: BorrowMut<IknpReceiver>> ArgmaxEvaluator<C, O> {
    /// Starts an argmax over `channel` with an extension receiver already set up.
    pub fn new(channel: C, ot: O, spec: ArgmaxSpec) -> Result<Self> {
        spec.validate()?;
        Ok(Self {
            side: EvaluatorSide::new(channel, ot),
            spec,
            outputs: None,
        })
    }

    /// The channel, for the caller's own messages between pieces.
    pub fn channel(&mut self) -> &mut C {
        self.side.channel()
    }

    /// Scores in the one batch: C.
    pub fn batch(&self) -> usize {
        self.spec.classes
    }

    /// Batches requested whose tables have not been absorbed (0 or 1).
    pub fn pending(&self) -> usize {
        self.side.pending()
    }

    /// The batch of all C shares: writes the extension columns and correction bits for k·C
    /// OTs and keeps the labels until the tables arrive.
    pub fn request<R: Rng + CryptoRng>(&mut self, shares: &[u32], rng: &mut R) -> Result<()> {
        if shares.len() != self.spec.classes || self.side.pending() != 0 || self.outputs.is_some() {
            return Err(GcError::InvalidParameter(format!(
                "an argmax takes one batch of {} scores",
                self.spec.classes
            )));
        }
        self.side
            .request(self.spec.share_bits as usize, shares, rng)
    }

    /// Evaluates the circuit, reading its tables.
    pub fn absorb(&mut self) -> Result<()> {
        let (_, labels) = self.side.next_batch()?;
        let hidden = vec![(); self.spec.share_bits as usize];
        self.outputs = Some(argmax(
            &mut self.side.evaluator,
            &self.spec,
            &labels,
            &hidden,
        )?);
        Ok(())
    }

    /// The output labels; written to the channel when the garbler is to learn the class.
    pub fn close(&mut self, reveal_to_garbler: bool) -> Result<Vec<Block>> {
        let out = self
            .outputs
            .take()
            .ok_or_else(|| GcError::InvalidParameter("the circuit was not evaluated".into()))?;
        if reveal_to_garbler {
            self.side.send_labels(&out)?;
        }
        Ok(out)
    }

    /// Reads the decode bits of the output wires and returns the class index.
    pub fn decode(&mut self, out: &[Block]) -> Result<u32> {
        Ok(index_of(&self.side.decode(out)?))
    }
}

#[cfg(test)]
mod tests;
