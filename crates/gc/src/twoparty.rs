//! The two-party threshold-OR: the garbler (holder) holds the masks r_t and τ, the evaluator
//! (verifier) holds the shares s_t; the evaluator learns OR_t [s_t − r_t ≥ τ] (within the range
//! condition of [`crate::circuit`]) and, if asked, the
//! garbler learns it too. Both run over one [`Channel`], batch by batch, so memory is
//! O(batch · requests in flight) for any number of scores:
//!
//! per batch of B scores: evaluator → garbler: IKNP extension columns for k·B OTs and the k·B
//! derandomisation bits; garbler → evaluator: the garbled tables of the batch. After the last
//! batch: the lane OR tree; when the garbler is to learn the result, the evaluator's output
//! label (evaluator → garbler); then, when the evaluator is to learn it, the decode bit
//! (garbler → evaluator) — after the label, so with output to both the garbler learns first and
//! the evaluator cannot withhold the result from it.

use std::borrow::BorrowMut;

use privface_ot::{Block, Channel, IknpReceiver, IknpSender};
use rand::{CryptoRng, Rng};

use crate::circuit::{ThresholdSpec, offset_bits, or, or_lanes, threshold_batch};
use crate::error::{GcError, Result};
use crate::fancy::Fancy;
use crate::sides::{EvaluatorSide, GarblerSide};

/// Scores per batch unless the caller picks another size.
pub const DEFAULT_BATCH: usize = 1024;

/// Who learns the output of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reveal {
    /// The evaluator decodes the output (the garbler sends the decode bit).
    pub evaluator: bool,
    /// The evaluator returns its output label, which the garbler decodes.
    pub garbler: bool,
}

impl Reveal {
    /// Only the evaluator learns the bit.
    pub const EVALUATOR: Reveal = Reveal {
        evaluator: true,
        garbler: false,
    };
    /// Both learn the bit.
    pub const BOTH: Reveal = Reveal {
        evaluator: true,
        garbler: true,
    };
}

/// What the garbler ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarblerOutcome {
    /// The decision, when the evaluator sent its output label back.
    pub result: Option<bool>,
}

fn check(spec: &ThresholdSpec, count: usize, batch: usize) -> Result<()> {
    spec.validate()?;
    if count == 0 {
        return Err(GcError::InvalidParameter("no scores".to_owned()));
    }
    if batch == 0 {
        return Err(GcError::InvalidParameter("batch size 0".to_owned()));
    }
    Ok(())
}

/// ORs a batch's results into the lane accumulator (lane t of the accumulator collects every
/// score whose index within its batch is t).
fn accumulate<F: Fancy>(
    f: &mut F,
    acc: Option<Vec<F::Wire>>,
    mut m: Vec<F::Wire>,
) -> core::result::Result<Vec<F::Wire>, F::Error> {
    Ok(match acc {
        None => m,
        Some(mut a) => {
            let common = a.len().min(m.len());
            let merged = or(f, &a[..common], &m[..common])?;
            a[..common].clone_from_slice(&merged);
            a.extend(m.drain(common..));
            a
        }
    })
}

/// The garbler's side of a threshold-OR fed batch by batch, so the caller can interleave its
/// own messages (the holder sends score blocks between rounds) and keep memory O(batch).
///
/// Over a blocking channel use [`ThresholdOrGarbler::feed`] and [`ThresholdOrGarbler::finish`];
/// a sans-I/O driver with a [`privface_ot::BufferChannel`] calls
/// [`ThresholdOrGarbler::garble_batch`] once per extension request,
/// [`ThresholdOrGarbler::close`], and [`ThresholdOrGarbler::decode_returned`].
pub struct ThresholdOrGarbler<C: Channel, O: BorrowMut<IknpSender>> {
    side: GarblerSide<C, O>,
    spec: ThresholdSpec,
    batch: usize,
    acc: Option<Vec<Block>>,
}

impl<C: Channel, O: BorrowMut<IknpSender>> ThresholdOrGarbler<C, O> {
    /// Starts a comparison over `channel` with an extension sender already set up.
    pub fn new(channel: C, ot: O, spec: ThresholdSpec, batch: usize) -> Result<Self> {
        check(&spec, 1, batch)?;
        Ok(Self {
            side: GarblerSide::new(channel, ot),
            spec,
            batch,
            acc: None,
        })
    }

    /// The channel, for the caller's own messages between pieces.
    pub fn channel(&mut self) -> &mut C {
        self.side.channel()
    }

    /// The batch size.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Compares the next scores, given by the holder's masks r_t, in batches (blocking channel).
    pub fn feed(&mut self, masks: &[u32]) -> Result<()> {
        for r in masks.chunks(self.batch) {
            self.garble_batch(r)?;
            self.side.channel().flush()?;
        }
        Ok(())
    }

    /// One batch (at most the batch size): reads the evaluator's extension columns and
    /// correction bits for k·|masks| OTs, writes the batch's garbled tables.
    pub fn garble_batch(&mut self, masks: &[u32]) -> Result<()> {
        if masks.is_empty() || masks.len() > self.batch {
            return Err(GcError::InvalidParameter(format!(
                "batch of {} scores (batch size {})",
                masks.len(),
                self.batch
            )));
        }
        let k = self.spec.share_bits as usize;
        let inputs = self.side.inputs(k, masks.len())?;
        let neg = offset_bits(masks, &self.spec);
        let neg: Vec<&[bool]> = neg.iter().map(Vec::as_slice).collect();
        let garbler = &mut self.side.garbler;
        let m = threshold_batch(garbler, &self.spec, &inputs, &neg)?;
        self.acc = Some(accumulate(garbler, self.acc.take(), m)?);
        Ok(())
    }

    /// The OR tree over everything fed, and the decode bit when the evaluator is to learn the
    /// bit. Returns the output wire's zero label, for [`ThresholdOrGarbler::decode_returned`].
    pub fn close(&mut self, reveal_to_evaluator: bool) -> Result<Block> {
        let acc = self
            .acc
            .take()
            .ok_or_else(|| GcError::InvalidParameter("no scores".to_owned()))?;
        let out = or_lanes(&mut self.side.garbler, acc)?;
        if reveal_to_evaluator {
            self.side.garbler.output(std::slice::from_ref(&out))?;
        }
        Ok(out)
    }

    /// Reads the evaluator's output label (16 bytes) and decodes it against the output wire's
    /// zero label `out`: an error unless it is one of the wire's two labels.
    pub fn decode_returned(&mut self, out: Block) -> Result<bool> {
        Ok(self.side.returned_bits(&[out])?[0])
    }

    /// Sends the decode bit of the output wire `out` (when both learn the bit, only after the
    /// evaluator's label has come back, so the garbler learns first).
    pub fn send_decode(&mut self, out: Block) -> Result<()> {
        self.side.garbler.output(std::slice::from_ref(&out))?;
        Ok(())
    }

    /// The OR tree and the output over a blocking channel; `reveal` says who learns the bit.
    /// When both do, the evaluator's label is read first and the decode bit sent after it.
    pub fn finish(mut self, reveal: Reveal) -> Result<GarblerOutcome> {
        let out = self.close(reveal.evaluator && !reveal.garbler)?;
        self.side.channel().flush()?;
        let result = if reveal.garbler {
            Some(self.decode_returned(out)?)
        } else {
            None
        };
        if reveal.evaluator && reveal.garbler {
            self.send_decode(out)?;
            self.side.channel().flush()?;
        }
        Ok(GarblerOutcome { result })
    }
}

/// The evaluator's side of a threshold-OR fed batch by batch (see [`ThresholdOrGarbler`]).
///
/// Over a blocking channel use [`ThresholdOrEvaluator::feed`] and
/// [`ThresholdOrEvaluator::finish`]; a sans-I/O driver calls [`ThresholdOrEvaluator::request`]
/// for a batch (possibly several ahead), [`ThresholdOrEvaluator::absorb`] when that batch's
/// tables arrive (oldest request first), then [`ThresholdOrEvaluator::finish`].
pub struct ThresholdOrEvaluator<C: Channel, O: BorrowMut<IknpReceiver>> {
    side: EvaluatorSide<C, O>,
    spec: ThresholdSpec,
    batch: usize,
    acc: Option<Vec<Block>>,
}

impl<C: Channel, O: BorrowMut<IknpReceiver>> ThresholdOrEvaluator<C, O> {
    /// Starts a comparison over `channel` with an extension receiver already set up.
    pub fn new(channel: C, ot: O, spec: ThresholdSpec, batch: usize) -> Result<Self> {
        check(&spec, 1, batch)?;
        Ok(Self {
            side: EvaluatorSide::new(channel, ot),
            spec,
            batch,
            acc: None,
        })
    }

    /// The channel, for the caller's own messages between pieces.
    pub fn channel(&mut self) -> &mut C {
        self.side.channel()
    }

    /// The batch size.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Batches requested whose tables have not been absorbed yet.
    pub fn pending(&self) -> usize {
        self.side.pending()
    }

    /// Compares the next scores, given by the verifier's shares s_t (blocking channel, one
    /// batch in flight).
    pub fn feed<R: Rng + CryptoRng>(&mut self, shares: &[u32], rng: &mut R) -> Result<()> {
        for s in shares.chunks(self.batch) {
            self.request(s, rng)?;
            self.side.channel().flush()?;
            self.absorb()?;
        }
        Ok(())
    }

    /// One batch (at most the batch size): writes the extension columns and correction bits
    /// for k·|shares| OTs and keeps the labels until the batch's tables arrive.
    pub fn request<R: Rng + CryptoRng>(&mut self, shares: &[u32], rng: &mut R) -> Result<()> {
        if shares.is_empty() || shares.len() > self.batch {
            return Err(GcError::InvalidParameter(format!(
                "batch of {} scores (batch size {})",
                shares.len(),
                self.batch
            )));
        }
        self.side
            .request(self.spec.share_bits as usize, shares, rng)
    }

    /// Evaluates the oldest requested batch, reading its garbled tables.
    pub fn absorb(&mut self) -> Result<()> {
        let (_, labels) = self.side.next_batch()?;
        let hidden = vec![(); self.spec.share_bits as usize];
        let evaluator = &mut self.side.evaluator;
        let m = threshold_batch(evaluator, &self.spec, &labels, &hidden)?;
        self.acc = Some(accumulate(evaluator, self.acc.take(), m)?);
        Ok(())
    }

    /// The OR tree; when the garbler is to learn the bit, the output label is written (and
    /// flushed) to the channel. Returns the output wire's label, for
    /// [`ThresholdOrEvaluator::decode`].
    pub fn close(&mut self, reveal_to_garbler: bool) -> Result<Block> {
        if self.side.pending() != 0 {
            return Err(GcError::InvalidParameter(format!(
                "{} requested batches not evaluated",
                self.side.pending()
            )));
        }
        let acc = self
            .acc
            .take()
            .ok_or_else(|| GcError::InvalidParameter("no scores".to_owned()))?;
        let out = or_lanes(&mut self.side.evaluator, acc)?;
        if reveal_to_garbler {
            self.side.send_labels(&[out])?;
        }
        Ok(out)
    }

    /// Reads the decode bit of the output wire and returns the bit.
    pub fn decode(&mut self, out: Block) -> Result<bool> {
        Ok(self.side.decode(&[out])?[0])
    }

    /// The OR tree and the output: the bit when `reveal` lets the evaluator learn it. When the
    /// garbler is to learn it too, the label goes first and the decode bit is read after.
    pub fn finish(&mut self, reveal: Reveal) -> Result<Option<bool>> {
        let out = self.close(reveal.garbler)?;
        if reveal.evaluator {
            Ok(Some(self.decode(out)?))
        } else {
            Ok(None)
        }
    }
}

/// Garbler side in one call. `masks` are the r_t, in score order; `reveal` says who learns the
/// bit.
pub fn garble_threshold_or<C: Channel>(
    channel: &mut C,
    ot: &mut IknpSender,
    spec: &ThresholdSpec,
    masks: &[u32],
    batch: usize,
    reveal: Reveal,
) -> Result<GarblerOutcome> {
    check(spec, masks.len(), batch)?;
    let mut g = ThresholdOrGarbler::new(channel, ot, *spec, batch)?;
    g.feed(masks)?;
    g.finish(reveal)
}

/// Evaluator side in one call. `shares` are the s_t, in score order; returns the decision when
/// `reveal` lets the evaluator learn it.
pub fn evaluate_threshold_or<C: Channel, R: Rng + CryptoRng>(
    channel: &mut C,
    ot: &mut IknpReceiver,
    spec: &ThresholdSpec,
    shares: &[u32],
    batch: usize,
    reveal: Reveal,
    rng: &mut R,
) -> Result<Option<bool>> {
    check(spec, shares.len(), batch)?;
    let mut e = ThresholdOrEvaluator::new(channel, ot, *spec, batch)?;
    e.feed(shares, rng)?;
    e.finish(reveal)
}

/// The rule the two-party computation must reproduce: is `(share − mask − τ) mod 2^k`, read
/// signed, ≥ 0 for any score? Within the range condition of [`crate::circuit`] that is the
/// integer rule score ≥ τ. (The plaintext reference of every garbled run.)
pub fn plain_threshold_rule(spec: &ThresholdSpec, shares: &[u32], masks: &[u32]) -> bool {
    shares.iter().zip(masks).any(|(&s, &r)| spec.decide(s, r))
}
