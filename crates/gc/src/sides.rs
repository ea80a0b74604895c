//! What the two sides of every two-party circuit (threshold-OR, argmax, who) share: the
//! channel, the OT input step of each batch (spec §7.2, §8.2), the evaluator's requested
//! batches in flight, and the exchange of output labels and decode bits at the end.

use std::borrow::BorrowMut;
use std::collections::VecDeque;

use privface_ot::{Block, Channel, IknpReceiver, IknpSender, apply_corrections, send_corrections};
use rand::{CryptoRng, Rng};

use crate::error::{GcError, Result};
use crate::fancy::Fancy;
use crate::garble::{Evaluator, Garbler};

/// Wire labels for a batch laid out as `[bit][lane]` from OT outputs laid out lane-major.
fn columns(labels: &[Block], k: usize) -> Vec<Vec<Block>> {
    let lanes = labels.len() / k;
    (0..k)
        .map(|i| (0..lanes).map(|t| labels[t * k + i]).collect())
        .collect()
}

/// The garbler's side: its garbling over the channel and its extension sender.
pub(crate) struct GarblerSide<C: Channel, O: BorrowMut<IknpSender>> {
    pub(crate) garbler: Garbler<C>,
    ot: O,
}

impl<C: Channel, O: BorrowMut<IknpSender>> GarblerSide<C, O> {
    pub(crate) fn new(channel: C, ot: O) -> Self {
        let garbler = Garbler::new(channel, ot.borrow().delta());
        Self { garbler, ot }
    }

    pub(crate) fn channel(&mut self) -> &mut C {
        self.garbler.channel()
    }

    /// The zero labels of a batch's evaluator inputs, `[bit][lane]`: reads the evaluator's
    /// extension columns and correction bits for `k·lanes` OTs.
    pub(crate) fn inputs(&mut self, k: usize, lanes: usize) -> Result<Vec<Vec<Block>>> {
        let ot = self.ot.borrow_mut();
        let channel = self.garbler.channel();
        let delta = ot.delta();
        let mut zero = ot.extend(channel, k * lanes)?;
        apply_corrections(channel, delta, &mut zero)?;
        Ok(columns(&zero, k))
    }

    /// Reads the evaluator's output labels (16 bytes each) and decodes each against its wire's
    /// zero label in `out`: an error unless each is one of its wire's two labels.
    pub(crate) fn returned_bits(&mut self, out: &[Block]) -> Result<Vec<bool>> {
        out.iter()
            .map(|&zero| {
                let mut bytes = [0u8; 16];
                self.garbler.channel().read_bytes(&mut bytes)?;
                self.garbler
                    .decode_returned_label(zero, Block::from_bytes(bytes))
            })
            .collect()
    }
}

/// The evaluator's side: its evaluation over the channel, its extension receiver and the
/// labels of the batches requested whose tables have not been evaluated yet (with each
/// batch's number of scores), oldest first.
pub(crate) struct EvaluatorSide<C: Channel, O: BorrowMut<IknpReceiver>> {
    pub(crate) evaluator: Evaluator<C>,
    ot: O,
    pending: VecDeque<(usize, Vec<Vec<Block>>)>,
}

impl<C: Channel, O: BorrowMut<IknpReceiver>> EvaluatorSide<C, O> {
    pub(crate) fn new(channel: C, ot: O) -> Self {
        Self {
            evaluator: Evaluator::new(channel),
            ot,
            pending: VecDeque::new(),
        }
    }

    pub(crate) fn channel(&mut self) -> &mut C {
        self.evaluator.channel()
    }

    /// Batches requested and not yet evaluated.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Scores in the batches requested and not yet evaluated.
    pub(crate) fn pending_scores(&self) -> usize {
        self.pending.iter().map(|(n, _)| n).sum()
    }

    /// Requests a batch whose k-bit inputs are `values`: writes the extension columns and the
    /// correction bits that turn the receiver's random choices into the values' bits, and
    /// keeps the labels until the batch's tables arrive.
    pub(crate) fn request<R: Rng + CryptoRng>(
        &mut self,
        k: usize,
        values: &[u32],
        rng: &mut R,
    ) -> Result<()> {
        let channel = self.evaluator.channel();
        let (choices, labels) = self
            .ot
            .borrow_mut()
            .extend(channel, k * values.len(), rng)?;
        let wanted: Vec<bool> = values
            .iter()
            .flat_map(|&v| (0..k).map(move |i| v >> i & 1 == 1))
            .collect();
        send_corrections(channel, &wanted, &choices)?;
        self.pending.push_back((values.len(), columns(&labels, k)));
        Ok(())
    }

    /// The oldest requested batch: its number of scores and its labels, `[bit][lane]`.
    pub(crate) fn next_batch(&mut self) -> Result<(usize, Vec<Vec<Block>>)> {
        self.pending
            .pop_front()
            .ok_or_else(|| GcError::InvalidParameter("no batch was requested".to_owned()))
    }

    /// Writes the output labels `out` to the channel (flushed), for the garbler to decode.
    pub(crate) fn send_labels(&mut self, out: &[Block]) -> Result<()> {
        for label in out {
            self.evaluator.channel().write_bytes(&label.to_bytes())?;
        }
        self.evaluator.channel().flush()?;
        Ok(())
    }

    /// Reads the decode bits of the output wires whose labels are `out`.
    pub(crate) fn decode(&mut self, out: &[Block]) -> Result<Vec<bool>> {
        Ok(self
            .evaluator
            .output(out)?
            .into_iter()
            .map(|b| b.expect("the evaluator learns its output"))
            .collect())
    }
}
