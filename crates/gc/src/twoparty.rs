//! The two-party threshold-OR: the garbler (holder) holds the masks r_t and τ, the evaluator
//! (verifier) holds the shares s_t; the evaluator learns OR_t [s_t − r_t ≥ τ] and, if asked, the
//! garbler learns it too. Both run over one [`Channel`], batch by batch in lock step, so memory
//! is O(batch) for any number of scores:
//!
//! per batch of B scores: evaluator → garbler: IKNP extension columns for k·B OTs and the k·B
//! derandomisation bits; garbler → evaluator: the garbled tables of the batch. After the last
//! batch: the lane OR tree, then the decode bit (garbler → evaluator) and, when the garbler is
//! to learn the result, the evaluator's output label (evaluator → garbler).

use privface_ot::{Block, Channel, IknpReceiver, IknpSender, apply_corrections, send_corrections};
use rand::{CryptoRng, Rng};

use crate::circuit::{ThresholdSpec, or, or_lanes, threshold_batch};
use crate::error::{GcError, Result};
use crate::fancy::Fancy;
use crate::garble::{Evaluator, Garbler};

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

/// Wire labels for a batch laid out as `[bit][lane]` from OT outputs laid out lane-major.
fn columns(labels: &[Block], k: usize) -> Vec<Vec<Block>> {
    let lanes = labels.len() / k;
    (0..k)
        .map(|i| (0..lanes).map(|t| labels[t * k + i]).collect())
        .collect()
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

/// The garbler's side of a threshold-OR fed in pieces, so the caller can interleave its own
/// messages (the holder sends score blocks between pieces) and keep memory O(piece).
pub struct ThresholdOrGarbler<'c, 'o, C: Channel> {
    garbler: Garbler<'c, C>,
    ot: &'o mut IknpSender,
    spec: ThresholdSpec,
    batch: usize,
    acc: Option<Vec<Block>>,
}

impl<'c, 'o, C: Channel> ThresholdOrGarbler<'c, 'o, C> {
    /// Starts a comparison over `channel` with an extension sender already set up.
    pub fn new(
        channel: &'c mut C,
        ot: &'o mut IknpSender,
        spec: ThresholdSpec,
        batch: usize,
    ) -> Result<Self> {
        check(&spec, 1, batch)?;
        let garbler = Garbler::new(channel, ot.delta());
        Ok(Self {
            garbler,
            ot,
            spec,
            batch,
            acc: None,
        })
    }

    /// The channel, for the caller's own messages between pieces.
    pub fn channel(&mut self) -> &mut C {
        self.garbler.channel()
    }

    /// Compares the next scores, given by the holder's masks r_t.
    pub fn feed(&mut self, masks: &[u32]) -> Result<()> {
        let k = self.spec.share_bits as usize;
        let delta = self.ot.delta();
        for r in masks.chunks(self.batch) {
            let mut zero = self.ot.extend(self.garbler.channel(), k * r.len())?;
            apply_corrections(self.garbler.channel(), delta, &mut zero)?;
            let m = threshold_batch(&mut self.garbler, &self.spec, &columns(&zero, k), Some(r))?;
            self.acc = Some(accumulate(&mut self.garbler, self.acc.take(), m)?);
            self.garbler.channel().flush()?;
        }
        Ok(())
    }

    /// The OR tree and the output; `reveal` says who learns the bit.
    pub fn finish(mut self, reveal: Reveal) -> Result<GarblerOutcome> {
        let acc = self
            .acc
            .take()
            .ok_or_else(|| GcError::InvalidParameter("no scores".to_owned()))?;
        let out = or_lanes(&mut self.garbler, acc)?;
        if reveal.evaluator {
            self.garbler.output(std::slice::from_ref(&out))?;
        }
        self.garbler.channel().flush()?;
        let result = if reveal.garbler {
            let mut bytes = [0u8; 16];
            self.garbler.channel().read_bytes(&mut bytes)?;
            Some(
                self.garbler
                    .decode_returned_label(out, Block::from_bytes(bytes))?,
            )
        } else {
            None
        };
        Ok(GarblerOutcome { result })
    }
}

/// The evaluator's side of a threshold-OR fed in pieces (see [`ThresholdOrGarbler`]).
pub struct ThresholdOrEvaluator<'c, 'o, C: Channel> {
    evaluator: Evaluator<'c, C>,
    ot: &'o mut IknpReceiver,
    spec: ThresholdSpec,
    batch: usize,
    acc: Option<Vec<Block>>,
}

impl<'c, 'o, C: Channel> ThresholdOrEvaluator<'c, 'o, C> {
    /// Starts a comparison over `channel` with an extension receiver already set up.
    pub fn new(
        channel: &'c mut C,
        ot: &'o mut IknpReceiver,
        spec: ThresholdSpec,
        batch: usize,
    ) -> Result<Self> {
        check(&spec, 1, batch)?;
        Ok(Self {
            evaluator: Evaluator::new(channel),
            ot,
            spec,
            batch,
            acc: None,
        })
    }

    /// The channel, for the caller's own messages between pieces.
    pub fn channel(&mut self) -> &mut C {
        self.evaluator.channel()
    }

    /// Compares the next scores, given by the verifier's shares s_t.
    pub fn feed<R: Rng + CryptoRng>(&mut self, shares: &[u32], rng: &mut R) -> Result<()> {
        let k = self.spec.share_bits as usize;
        for s in shares.chunks(self.batch) {
            let (choices, labels) = self.ot.extend(self.evaluator.channel(), k * s.len(), rng)?;
            let wanted: Vec<bool> = s
                .iter()
                .flat_map(|&v| (0..k).map(move |i| v >> i & 1 == 1))
                .collect();
            send_corrections(self.evaluator.channel(), &wanted, &choices)?;
            self.evaluator.channel().flush()?;
            let m = threshold_batch(&mut self.evaluator, &self.spec, &columns(&labels, k), None)?;
            self.acc = Some(accumulate(&mut self.evaluator, self.acc.take(), m)?);
        }
        Ok(())
    }

    /// The OR tree and the output: the bit when `reveal` lets the evaluator learn it.
    pub fn finish(mut self, reveal: Reveal) -> Result<Option<bool>> {
        let acc = self
            .acc
            .take()
            .ok_or_else(|| GcError::InvalidParameter("no scores".to_owned()))?;
        let out = or_lanes(&mut self.evaluator, acc)?;
        let bit = if reveal.evaluator {
            Some(
                self.evaluator.output(std::slice::from_ref(&out))?[0]
                    .expect("the evaluator learns its output"),
            )
        } else {
            None
        };
        if reveal.garbler {
            self.evaluator.channel().write_bytes(&out.to_bytes())?;
            self.evaluator.channel().flush()?;
        }
        Ok(bit)
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

/// The plaintext reference of the two-party computation.
pub fn plain_threshold_or(spec: &ThresholdSpec, shares: &[u32], masks: &[u32]) -> bool {
    shares.iter().zip(masks).any(|(&s, &r)| spec.decide(s, r))
}
