//! The garbled step of a session, whichever circuit the mode needs: the threshold-OR of
//! identification and verification (one output bit, spec §8) or the argmax of classification
//! (the class index, spec §13.3). Both take the scores' shares batch by batch over a
//! [`BufferChannel`]; their outputs are a few wires whose value is a small integer (the bit is
//! 0 or 1).

use privface_gc::who::ENTRY_BYTES;
use privface_gc::{
    ArgmaxEvaluator, ArgmaxGarbler, ArgmaxSpec, ThresholdOrEvaluator, ThresholdOrGarbler,
    ThresholdSpec, WhoEvaluator, WhoGarbler, WhoSpec,
};
use privface_ot::{Block, BufferChannel, IknpReceiver, IknpSender};
use rand::{CryptoRng, Rng};

use crate::error::{ProtocolError, Result};
use crate::model::{Answer, Class};

/// The public description of the garbled step, which both sides derive from the terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Circuit {
    /// Some score ≥ τ (one bit).
    Threshold(ThresholdSpec),
    /// The first largest logit among C classes (⌈log2 C⌉ bits).
    Argmax(ArgmaxSpec),
    /// The first best score ≥ τ: a valid bit and ⌈log2 n′⌉ index bits that key the label
    /// table (spec §15).
    Who(WhoSpec),
}

impl Circuit {
    /// What a decoded output `value` means: the bit, or the class among `labels`. A
    /// who-identification's identity comes from its label table, so only its bit is set here.
    pub(crate) fn answer(&self, value: u32, labels: &[String]) -> Result<Answer> {
        Ok(match self {
            Circuit::Threshold(_) => Answer {
                bit: Some(value == 1),
                ..Answer::default()
            },
            Circuit::Argmax(_) => Answer {
                class: Some(Class::of(value, labels)?),
                ..Answer::default()
            },
            Circuit::Who(_) => Answer {
                bit: Some(value > 0),
                ..Answer::default()
            },
        })
    }
}

/// The holder's side.
pub(crate) enum Garbling {
    Threshold(ThresholdOrGarbler<BufferChannel, IknpSender>),
    Argmax(ArgmaxGarbler<BufferChannel, IknpSender>),
    Who(WhoGarbler<BufferChannel, IknpSender>),
}

impl Garbling {
    /// Starts the garbler of `circuit`; `biases` are the class biases of an argmax (the
    /// holder's, folded into its offsets), ignored by a threshold.
    pub(crate) fn new(
        circuit: &Circuit,
        ot: IknpSender,
        batch: usize,
        biases: &[i64],
    ) -> Result<Self> {
        let channel = BufferChannel::new();
        Ok(match circuit {
            Circuit::Threshold(spec) => {
                Garbling::Threshold(ThresholdOrGarbler::new(channel, ot, *spec, batch)?)
            }
            Circuit::Argmax(spec) => {
                Garbling::Argmax(ArgmaxGarbler::new(channel, ot, *spec, biases.to_vec())?)
            }
            Circuit::Who(spec) => Garbling::Who(WhoGarbler::new(channel, ot, *spec, batch)?),
        })
    }

    pub(crate) fn channel(&mut self) -> &mut BufferChannel {
        match self {
            Garbling::Threshold(g) => g.channel(),
            Garbling::Argmax(g) => g.channel(),
            Garbling::Who(g) => g.channel(),
        }
    }

    pub(crate) fn batch(&self) -> usize {
        match self {
            Garbling::Threshold(g) => g.batch(),
            Garbling::Argmax(g) => g.batch(),
            Garbling::Who(g) => g.batch(),
        }
    }

    /// One batch of scores, given by the holder's masks.
    pub(crate) fn garble_batch(&mut self, masks: &[u32]) -> Result<()> {
        match self {
            Garbling::Threshold(g) => g.garble_batch(masks)?,
            Garbling::Argmax(g) => g.garble_batch(masks)?,
            Garbling::Who(g) => g.garble_batch(masks)?,
        }
        Ok(())
    }

    /// The output wires' zero labels (after the threshold's OR tree); decode bits written
    /// when the verifier alone learns the result.
    pub(crate) fn close(&mut self, reveal_to_evaluator: bool) -> Result<Vec<Block>> {
        Ok(match self {
            Garbling::Threshold(g) => vec![g.close(reveal_to_evaluator)?],
            Garbling::Argmax(g) => g.close(reveal_to_evaluator)?,
            Garbling::Who(g) => g.close(reveal_to_evaluator)?,
        })
    }

    /// Decodes the verifier's returned output labels (each checked to be one of its wire's):
    /// the bit, the class, or for who-identification 0 (no match) or 1 + the winning index.
    pub(crate) fn decode_returned(&mut self, out: &[Block]) -> Result<u32> {
        Ok(match self {
            Garbling::Threshold(g) => u32::from(g.decode_returned(single(out)?)?),
            Garbling::Argmax(g) => g.decode_returned(out)?,
            Garbling::Who(g) => g.decode_returned(out)?.map_or(0, |t| t + 1),
        })
    }

    /// The sealed label table of a who-identification (spec §15.3), `entry(t)` being row t's.
    pub(crate) fn seal(
        &self,
        out: &[Block],
        entry: &(dyn Fn(usize) -> [u8; ENTRY_BYTES] + Sync),
    ) -> Result<Vec<u8>> {
        match self {
            Garbling::Who(g) => Ok(g.seal(out, entry)),
            _ => Err(ProtocolError::Internal(
                "a label table outside who-identification".into(),
            )),
        }
    }

    /// Sends the decode bits (output to both, after the labels came back).
    pub(crate) fn send_decode(&mut self, out: &[Block]) -> Result<()> {
        match self {
            Garbling::Threshold(g) => g.send_decode(single(out)?)?,
            Garbling::Argmax(g) => g.send_decode(out)?,
            Garbling::Who(g) => g.send_decode(out)?,
        }
        Ok(())
    }
}

fn single(out: &[Block]) -> Result<Block> {
    match out {
        [one] => Ok(*one),
        _ => Err(ProtocolError::Internal(format!(
            "{} output wires for a one-bit result",
            out.len()
        ))),
    }
}

/// The verifier's side.
pub(crate) enum Evaluating {
    Threshold(ThresholdOrEvaluator<BufferChannel, IknpReceiver>),
    Argmax(ArgmaxEvaluator<BufferChannel, IknpReceiver>),
    Who(WhoEvaluator<BufferChannel, IknpReceiver>),
}

impl Evaluating {
    pub(crate) fn new(circuit: &Circuit, ot: IknpReceiver, batch: usize) -> Result<Self> {
        let channel = BufferChannel::new();
        Ok(match circuit {
            Circuit::Threshold(spec) => {
                Evaluating::Threshold(ThresholdOrEvaluator::new(channel, ot, *spec, batch)?)
            }
            Circuit::Argmax(spec) => Evaluating::Argmax(ArgmaxEvaluator::new(channel, ot, *spec)?),
            Circuit::Who(spec) => Evaluating::Who(WhoEvaluator::new(channel, ot, *spec, batch)?),
        })
    }

    pub(crate) fn channel(&mut self) -> &mut BufferChannel {
        match self {
            Evaluating::Threshold(e) => e.channel(),
            Evaluating::Argmax(e) => e.channel(),
            Evaluating::Who(e) => e.channel(),
        }
    }

    pub(crate) fn batch(&self) -> usize {
        match self {
            Evaluating::Threshold(e) => e.batch(),
            Evaluating::Argmax(e) => e.batch(),
            Evaluating::Who(e) => e.batch(),
        }
    }

    pub(crate) fn pending(&self) -> usize {
        match self {
            Evaluating::Threshold(e) => e.pending(),
            Evaluating::Argmax(e) => e.pending(),
            Evaluating::Who(e) => e.pending(),
        }
    }

    pub(crate) fn request<R: Rng + CryptoRng>(
        &mut self,
        shares: &[u32],
        rng: &mut R,
    ) -> Result<()> {
        match self {
            Evaluating::Threshold(e) => e.request(shares, rng)?,
            Evaluating::Argmax(e) => e.request(shares, rng)?,
            Evaluating::Who(e) => e.request(shares, rng)?,
        }
        Ok(())
    }

    pub(crate) fn absorb(&mut self) -> Result<()> {
        match self {
            Evaluating::Threshold(e) => e.absorb()?,
            Evaluating::Argmax(e) => e.absorb()?,
            Evaluating::Who(e) => e.absorb()?,
        }
        Ok(())
    }

    /// The output labels; sent to the holder when it is to learn the result.
    pub(crate) fn close(&mut self, reveal_to_garbler: bool) -> Result<Vec<Block>> {
        Ok(match self {
            Evaluating::Threshold(e) => vec![e.close(reveal_to_garbler)?],
            Evaluating::Argmax(e) => e.close(reveal_to_garbler)?,
            Evaluating::Who(e) => e.close(reveal_to_garbler)?,
        })
    }

    /// Reads the decode bits and returns the result's value (for who-identification the
    /// valid bit; the index stays in the labels).
    pub(crate) fn decode(&mut self, out: &[Block]) -> Result<u32> {
        Ok(match self {
            Evaluating::Threshold(e) => u32::from(e.decode(single(out)?)?),
            Evaluating::Argmax(e) => e.decode(out)?,
            Evaluating::Who(e) => u32::from(e.decode(out)?),
        })
    }
}
