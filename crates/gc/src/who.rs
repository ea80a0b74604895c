//! Identification that says who (spec §15): the index of the first highest score among those
//! ≥ τ, or "no match", and a table that lets the evaluator read that row's id and label — and
//! no other — without the garbler learning which row won.
//!
//! Circuit, per batch of scores (lanes): the borrow chain of the threshold circuit gives all k
//! bits of d_t = (s_t − w_t) mod 2^k = score_t − τ (w_t = r_t + τ, garbler-known), read signed.
//! Lane t of an accumulator keeps the best (d, index) of the scores that fell into it: it starts
//! at d = −1 (all ones) and index 0, and a score replaces it only when strictly larger
//! (`[best < d]`: k ANDs), so a score below τ never enters (d < 0 is never > −1) and ties keep
//! the earlier score; the replacement is two multiplexers (k ANDs for d, ⌈log2 n′⌉ for the index,
//! a public constant per score). After the last batch a tournament over the lanes compares
//! (d, −index) lexicographically — the lower index wins a tie across lanes too — and the
//! outputs are `valid = [d ≥ 0]` (free: the negated sign bit) and the index bits.
//!
//! Per score: k − 2 ANDs and one half-gate for d, 2k + ⌈log2 n′⌉ ANDs for the running maximum.
//!
//! The label table: output wire j's labels are W_j^0 and W_j^1 = W_j^0 ⊕ Δ. For every index t
//! in [0, 2^bits) the garbler derives K_t = ⊕_j H(W_j^(t_j), 2^127 + j) and places the entry of
//! row t, encrypted under K_t, at position p(t) = Σ_j lsb(W_j^(t_j))·2^j (point and permute:
//! the colour bits are uniform, so positions say nothing about indices). The evaluator, holding
//! one label per index wire, computes one key and one position: it decrypts the winner's entry
//! and nothing else; it never sees the index bits themselves.

use std::borrow::BorrowMut;

use privface_ot::{Block, Channel, IknpReceiver, IknpSender};
use rand::{CryptoRng, Rng};

use crate::argmax::{less_than, select};
use crate::circuit::{ThresholdSpec, bit_columns, borrow_carries, offset_bits, reconstruct_score};
use crate::error::{GcError, Result};
use crate::fancy::Fancy;
use crate::sides::{EvaluatorSide, GarblerSide};
pub use table::{
    ENTRY_BYTES, ENTRY_CONTENT, entry_plaintext, open_entry, read_entry, seal_table, table_position,
};

/// The public description of a who-identification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WhoSpec {
    /// Share width k and threshold τ, as for the threshold circuit (2 ≤ k ≤ 32).
    pub threshold: ThresholdSpec,
    /// Scores in the session, n′ (≥ 1).
    pub scores: usize,
}

impl WhoSpec {
    /// Checks the spec and a batch size for either side.
    fn check(&self, batch: usize) -> Result<()> {
        self.threshold.validate()?;
        if self.scores == 0 || batch == 0 {
            return Err(GcError::InvalidParameter(
                "no scores or batch size 0".into(),
            ));
        }
        Ok(())
    }

    /// Bits of a score index: ⌈log2 n′⌉, at least 1.
    pub fn index_bits(&self) -> usize {
        (usize::BITS - (self.scores.max(2) - 1).leading_zeros()) as usize
    }

    /// The plaintext rule: the first index of the highest score ≥ τ, or None.
    pub fn decide(&self, shares: &[u32], masks: &[u32]) -> Option<u32> {
        let mut best: Option<(i64, u32)> = None;
        for (t, (&s, &r)) in shares.iter().zip(masks).enumerate() {
            let d = reconstruct_score(s, self.threshold.offset(r), self.threshold.share_bits);
            if d >= 0 && best.is_none_or(|(b, _)| d > b) {
                best = Some((d, t as u32));
            }
        }
        best.map(|(_, t)| t)
    }
}

/// The running maximum, lane by lane: d (k columns) and the index (bits columns).
pub struct Running<W> {
    value: Vec<Vec<W>>,
    index: Vec<Vec<W>>,
}

fn constant_columns<F: Fancy>(f: &mut F, values: &[u64], bits: usize) -> Vec<Vec<F::Wire>> {
    let zero = f.constant(false, 1).pop().expect("one lane");
    let one = f.constant(true, 1).pop().expect("one lane");
    (0..bits)
        .map(|j| {
            values
                .iter()
                .map(|&v| {
                    if v >> j & 1 == 1 {
                        one.clone()
                    } else {
                        zero.clone()
                    }
                })
                .collect()
        })
        .collect()
}

/// One batch: scores `first, first + 1, …` (lane t is score first + t) folded into `running`.
pub fn who_batch<F: Fancy>(
    f: &mut F,
    spec: &WhoSpec,
    running: Option<Running<F::Wire>>,
    first: usize,
    shares: &[Vec<F::Wire>],
    offset: &[F::Known<'_>],
) -> core::result::Result<Running<F::Wire>, F::Error> {
    let k = spec.threshold.share_bits as usize;
    let lanes = shares[0].len();
    let bits = spec.index_bits();
    let carry = borrow_carries(f, shares, offset)?;
    let d: Vec<Vec<F::Wire>> = (0..k)
        .map(|i| {
            let t = f.xor(&shares[i], &carry[i]);
            let t = f.xor_known(&t, offset[i]);
            f.not(&t)
        })
        .collect();
    let indices: Vec<u64> = (first..first + lanes).map(|t| t as u64).collect();
    let index = constant_columns(f, &indices, bits);
    // Lanes the accumulator does not have yet start at d = −1 (k ones), index 0.
    let mut running = running.unwrap_or(Running {
        value: vec![Vec::new(); k],
        index: vec![Vec::new(); bits],
    });
    let have = running.value[0].len();
    if lanes > have {
        let fill = constant_columns(f, &vec![u64::MAX; lanes - have], k);
        let zero = constant_columns(f, &vec![0; lanes - have], bits);
        for (c, extra) in running.value.iter_mut().zip(fill) {
            c.extend(extra);
        }
        for (c, extra) in running.index.iter_mut().zip(zero) {
            c.extend(extra);
        }
    }
    let head = |cols: &[Vec<F::Wire>]| -> Vec<Vec<F::Wire>> {
        cols.iter().map(|c| c[..lanes].to_vec()).collect()
    };
    let (best, best_index) = (head(&running.value), head(&running.index));
    let better = less_than(f, &best, &d)?;
    let value = select(f, &better, &best, &d)?;
    let idx = select(f, &better, &best_index, &index)?;
    for (c, new) in running.value.iter_mut().zip(value) {
        c[..lanes].clone_from_slice(&new);
    }
    for (c, new) in running.index.iter_mut().zip(idx) {
        c[..lanes].clone_from_slice(&new);
    }
    Ok(running)
}

/// The tournament over the lanes: the outputs `[valid, index_0, …, index_(bits−1)]`.
pub fn who_finish<F: Fancy>(
    f: &mut F,
    running: Running<F::Wire>,
) -> core::result::Result<Vec<F::Wire>, F::Error> {
    let k = running.value.len();
    // Key columns, low to high: ¬index, then d (its sign bit is the key's).
    let mut key: Vec<Vec<F::Wire>> = running.index.iter().map(|c| f.not(c)).collect();
    key.extend(running.value);
    let bits = running.index.len();
    let mut lanes = key[0].len();
    while lanes > 1 {
        let pairs = lanes / 2;
        let left: Vec<Vec<F::Wire>> = key
            .iter()
            .map(|c| c.iter().step_by(2).take(pairs).cloned().collect())
            .collect();
        let right: Vec<Vec<F::Wire>> = key
            .iter()
            .map(|c| c.iter().skip(1).step_by(2).take(pairs).cloned().collect())
            .collect();
        let right_wins = less_than(f, &left, &right)?;
        let mut next = select(f, &right_wins, &left, &right)?;
        if lanes % 2 == 1 {
            for (n, c) in next.iter_mut().zip(&key) {
                n.push(c[lanes - 1].clone());
            }
        }
        key = next;
        lanes = lanes.div_ceil(2);
    }
    let mut out = Vec::with_capacity(1 + bits);
    out.push(f.not(&key[bits + k - 1]).pop().expect("one lane"));
    for c in &key[..bits] {
        out.push(f.not(c).pop().expect("one lane"));
    }
    Ok(out)
}

/// The garbler's side, batch by batch (as [`crate::ThresholdOrGarbler`]).
pub struct WhoGarbler<C: Channel, O: BorrowMut<IknpSender>> {
    side: GarblerSide<C, O>,
    spec: WhoSpec,
    batch: usize,
    first: usize,
    running: Option<Running<Block>>,
}

impl<C: Channel, O: BorrowMut<IknpSender>> WhoGarbler<C, O> {
    /// Starts over `channel` with an extension sender already set up.
    pub fn new(channel: C, ot: O, spec: WhoSpec, batch: usize) -> Result<Self> {
        spec.check(batch)?;
        Ok(Self {
            side: GarblerSide::new(channel, ot),
            spec,
            batch,
            first: 0,
            running: None,
        })
    }

    /// The channel.
    pub fn channel(&mut self) -> &mut C {
        self.side.channel()
    }

    /// The batch size.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// One batch of scores, in score order, given by the masks r_t.
    pub fn garble_batch(&mut self, masks: &[u32]) -> Result<()> {
        if masks.is_empty()
            || masks.len() > self.batch
            || self.first + masks.len() > self.spec.scores
        {
            return Err(GcError::InvalidParameter(format!(
                "batch of {} scores after {} of {}",
                masks.len(),
                self.first,
                self.spec.scores
            )));
        }
        let k = self.spec.threshold.share_bits as usize;
        let inputs = self.side.inputs(k, masks.len())?;
        let w = offset_bits(masks, &self.spec.threshold);
        let w: Vec<&[bool]> = w.iter().map(Vec::as_slice).collect();
        let running = who_batch(
            &mut self.side.garbler,
            &self.spec,
            self.running.take(),
            self.first,
            &inputs,
            &w,
        )?;
        self.running = Some(running);
        self.first += masks.len();
        Ok(())
    }

    /// The tournament; the decode bit of `valid` when the evaluator alone learns the result.
    /// Returns the output wires' zero labels `[valid, index…]`.
    pub fn close(&mut self, reveal_to_evaluator: bool) -> Result<Vec<Block>> {
        let running = self
            .running
            .take()
            .ok_or_else(|| GcError::InvalidParameter("no scores".to_owned()))?;
        let out = who_finish(&mut self.side.garbler, running)?;
        if reveal_to_evaluator {
            self.side.garbler.output(&out[..1])?;
        }
        Ok(out)
    }

    /// Reads the evaluator's returned labels (valid and index, 16 bytes each) and decodes them:
    /// the winning index, or None for no match.
    pub fn decode_returned(&mut self, out: &[Block]) -> Result<Option<u32>> {
        let bits = self.side.returned_bits(out)?;
        let index = bits[1..]
            .iter()
            .enumerate()
            .map(|(j, &b)| u32::from(b) << j)
            .sum();
        Ok(bits[0].then_some(index))
    }

    /// Sends the decode bit of `valid` (output to both, after the labels came back).
    pub fn send_decode(&mut self, out: &[Block]) -> Result<()> {
        self.side.garbler.output(&out[..1])?;
        Ok(())
    }

    /// The label table for the output wires `out` (see [`seal_table`]).
    pub fn seal(
        &self,
        out: &[Block],
        entry: &(dyn Fn(usize) -> [u8; ENTRY_BYTES] + Sync),
    ) -> Vec<u8> {
        seal_table(self.side.garbler.delta().block(), &out[1..], entry)
    }
}

/// The evaluator's side (see [`WhoGarbler`]).
pub struct WhoEvaluator<C: Channel, O: BorrowMut<IknpReceiver>> {
    side: EvaluatorSide<C, O>,
    spec: WhoSpec,
    batch: usize,
    first: usize,
    running: Option<Running<Block>>,
}

impl<C: Channel, O: BorrowMut<IknpReceiver>> WhoEvaluator<C, O> {
    /// Starts over `channel` with an extension receiver already set up.
    pub fn new(channel: C, ot: O, spec: WhoSpec, batch: usize) -> Result<Self> {
        spec.check(batch)?;
        Ok(Self {
            side: EvaluatorSide::new(channel, ot),
            spec,
            batch,
            first: 0,
            running: None,
        })
    }

    /// The channel.
    pub fn channel(&mut self) -> &mut C {
        self.side.channel()
    }

    /// The batch size.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Batches requested and not yet absorbed.
    pub fn pending(&self) -> usize {
        self.side.pending()
    }

    /// Requests a batch: the extension for its shares' OTs.
    pub fn request<R: Rng + CryptoRng>(&mut self, shares: &[u32], rng: &mut R) -> Result<()> {
        let requested = self.first + self.side.pending_scores();
        if shares.is_empty()
            || shares.len() > self.batch
            || requested + shares.len() > self.spec.scores
        {
            return Err(GcError::InvalidParameter(format!(
                "batch of {} scores after {requested} of {}",
                shares.len(),
                self.spec.scores
            )));
        }
        self.side
            .request(self.spec.threshold.share_bits as usize, shares, rng)
    }

    /// Evaluates the oldest requested batch.
    pub fn absorb(&mut self) -> Result<()> {
        let (n, labels) = self.side.next_batch()?;
        let hidden = vec![(); self.spec.threshold.share_bits as usize];
        let running = who_batch(
            &mut self.side.evaluator,
            &self.spec,
            self.running.take(),
            self.first,
            &labels,
            &hidden,
        )?;
        self.running = Some(running);
        self.first += n;
        Ok(())
    }

    /// The tournament; the output labels `[valid, index…]`, written to the channel when the
    /// garbler is to learn the result.
    pub fn close(&mut self, reveal_to_garbler: bool) -> Result<Vec<Block>> {
        if self.side.pending() != 0 || self.first != self.spec.scores {
            return Err(GcError::InvalidParameter("scores left unevaluated".into()));
        }
        let running = self
            .running
            .take()
            .ok_or_else(|| GcError::InvalidParameter("no scores".to_owned()))?;
        let out = who_finish(&mut self.side.evaluator, running)?;
        if reveal_to_garbler {
            self.side.send_labels(&out)?;
        }
        Ok(out)
    }

    /// Reads the decode bit of `valid`: whether some score reached τ.
    pub fn decode(&mut self, out: &[Block]) -> Result<bool> {
        Ok(self.side.decode(&out[..1])?[0])
    }
}

/// The plaintext run of the circuit (tests and vectors): (valid, index) from shares and masks
/// in batches of `batch`.
pub fn plain_who(spec: &WhoSpec, shares: &[u32], masks: &[u32], batch: usize) -> (bool, u32) {
    let mut f = crate::Plain;
    let k = spec.threshold.share_bits;
    let mut running = None;
    for (i, (s, r)) in shares.chunks(batch).zip(masks.chunks(batch)).enumerate() {
        let w = offset_bits(r, &spec.threshold);
        let w: Vec<&[bool]> = w.iter().map(Vec::as_slice).collect();
        running = Some(
            who_batch(&mut f, spec, running, i * batch, &bit_columns(s, k), &w).expect("plaintext"),
        );
    }
    let out = who_finish(&mut f, running.expect("scores")).expect("plaintext");
    let index = out[1..]
        .iter()
        .enumerate()
        .map(|(j, &b)| u32::from(b) << j)
        .sum();
    (out[0], index)
}

mod table;
#[cfg(test)]
mod tests;
