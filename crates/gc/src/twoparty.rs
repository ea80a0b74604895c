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

fn accumulate<F: Fancy>(
    f: &mut F,
    acc: Option<Vec<F::Wire>>,
    m: Vec<F::Wire>,
) -> core::result::Result<Vec<F::Wire>, F::Error> {
    Ok(match acc {
        None => m,
        Some(mut a) => {
            let merged = or(f, &a[..m.len()], &m)?;
            a[..m.len()].clone_from_slice(&merged);
            a
        }
    })
}

/// Garbler side. `masks` are the r_t, in score order; `reveal` says who learns the bit.
///
/// One garbler serves the whole run, so gate numbers (and hash tweaks) never repeat.
pub fn garble_threshold_or<C: Channel>(
    channel: &mut C,
    ot: &mut IknpSender,
    spec: &ThresholdSpec,
    masks: &[u32],
    batch: usize,
    reveal: Reveal,
) -> Result<GarblerOutcome> {
    check(spec, masks.len(), batch)?;
    let k = spec.share_bits as usize;
    let delta = ot.delta();
    let mut g = Garbler::new(channel, delta);
    let mut acc: Option<Vec<Block>> = None;
    for r in masks.chunks(batch) {
        let mut zero = ot.extend(g.channel(), k * r.len())?;
        apply_corrections(g.channel(), delta, &mut zero)?;
        let m = threshold_batch(&mut g, spec, &columns(&zero, k), Some(r))?;
        acc = Some(accumulate(&mut g, acc, m)?);
        g.channel().flush()?;
    }
    let out = or_lanes(&mut g, acc.expect("at least one batch"))?;
    if reveal.evaluator {
        g.output(std::slice::from_ref(&out))?;
    }
    g.channel().flush()?;
    let result = if reveal.garbler {
        let mut bytes = [0u8; 16];
        g.channel().read_bytes(&mut bytes)?;
        Some(g.decode_returned_label(out, Block::from_bytes(bytes))?)
    } else {
        None
    };
    Ok(GarblerOutcome { result })
}

/// Evaluator side. `shares` are the s_t, in score order; returns the decision when `reveal`
/// lets the evaluator learn it.
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
    let k = spec.share_bits as usize;
    let mut e = Evaluator::new(channel);
    let mut acc: Option<Vec<Block>> = None;
    for s in shares.chunks(batch) {
        let (choices, labels) = ot.extend(e.channel(), k * s.len(), rng)?;
        let wanted: Vec<bool> = s
            .iter()
            .flat_map(|&v| (0..k).map(move |i| v >> i & 1 == 1))
            .collect();
        send_corrections(e.channel(), &wanted, &choices)?;
        e.channel().flush()?;
        let m = threshold_batch(&mut e, spec, &columns(&labels, k), None)?;
        acc = Some(accumulate(&mut e, acc, m)?);
    }
    let out = or_lanes(&mut e, acc.expect("at least one batch"))?;
    let bit = if reveal.evaluator {
        Some(e.output(std::slice::from_ref(&out))?[0].expect("the evaluator learns its output"))
    } else {
        None
    };
    if reveal.garbler {
        e.channel().write_bytes(&out.to_bytes())?;
        e.channel().flush()?;
    }
    Ok(bit)
}

/// The plaintext reference of the two-party computation.
pub fn plain_threshold_or(spec: &ThresholdSpec, shares: &[u32], masks: &[u32]) -> bool {
    shares.iter().zip(masks).any(|(&s, &r)| spec.decide(s, r))
}
