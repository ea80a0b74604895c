//! The verifier's session: sends Hello → ExpectAccept → (sends the base-OT offer and the query)
//! → ExpectBaseOtReply → rounds of ExpectScores then ExpectTables → ExpectFinish (→ sends
//! OutputLabel, ExpectDecode when both learn it) → the bit.

mod output;
mod query;
mod terms;

use std::collections::VecDeque;

use privface_gc::{ArgmaxSpec, Reveal};
use privface_he::{
    InputQuantiser, ParameterSet, Quantiser, ResponseBlock, SessionShape, VerifierKey,
};
use privface_ot::{Block, BufferChannel, IknpSetup};
use rand::{CryptoRng, Rng};

use crate::comparison::{Circuit, Evaluating};
use crate::driver::Session;
use crate::error::{PeerMisbehaved, ProtocolError, Result};
use crate::messages::{Accept, Hello, Message, Mode, OutputTo, consumed};
use crate::model::{Answer, Class, Enrolled};
use crate::phase::{Phase, PhaseTimings};
use crate::unexpected;
pub use terms::VerifierConfig;
use terms::check_labels;

/// What a verifier session ends with.
#[derive(Debug)]
pub struct VerifyOutcome {
    /// The bit (identification, verification; None when only the holder learns it).
    pub bit: Option<bool>,
    /// The class (classification; None when only the holder learns it).
    pub class: Option<Class>,
    /// The identity with the best score at or above τ (who-identification with a match).
    pub who: Option<Enrolled>,
    /// The holder's terms.
    pub accept: Accept,
    /// Per-phase wall time and bytes, as the driver measured them.
    pub timings: PhaseTimings,
}

/// What the verifier knows once the holder's terms are accepted.
struct Terms {
    accept: Accept,
    shape: SessionShape,
    key: VerifierKey,
    reveal: Reveal,
    circuit: Circuit,
    /// The model's labels in classification (empty otherwise).
    labels: Vec<String>,
}

/// A classification's terms, accepted, while the model's labels are due.
struct AwaitingLabels {
    accept: Accept,
    params: ParameterSet,
    shape: SessionShape,
    input: Vec<i8>,
}

/// The rounds in progress.
struct Comparing {
    terms: Terms,
    evaluator: Evaluating,
    /// Next score block due, and the number of blocks.
    block: usize,
    blocks: usize,
    /// Blocks left in the current round.
    round_left: usize,
    /// Shares of the current round not yet requested, in batches.
    unrequested: VecDeque<Vec<u32>>,
    /// Next batch index to request, and the next whose tables are due.
    requested: u32,
    absorbed: u32,
}

/// The verifier's states, named after the message each expects.
enum VerifierState {
    Start,
    ExpectAccept,
    ExpectLabels(Box<AwaitingLabels>),
    /// Who-identification: the label table's parts are due.
    ExpectLabelTable(Box<output::ReadingTable>),
    ExpectBaseOtReply {
        terms: Box<Terms>,
        setup: Box<IknpSetup>,
    },
    ExpectScores(Box<Comparing>),
    ExpectTables(Box<Comparing>),
    ExpectFinish(Box<Comparing>),
    /// Output to both: the label went to the holder, the decode bit is due.
    ExpectDecode {
        comparing: Box<Comparing>,
        output: Vec<Block>,
    },
    Done {
        answer: Answer,
        accept: Box<Accept>,
    },
    Failed,
}

impl VerifierState {
    fn name(&self) -> &'static str {
        match self {
            VerifierState::Start => "Start",
            VerifierState::ExpectAccept => "ExpectAccept",
            VerifierState::ExpectLabels(_) => "ExpectLabels",
            VerifierState::ExpectBaseOtReply { .. } => "ExpectBaseOtReply",
            VerifierState::ExpectScores(_) => "ExpectScores",
            VerifierState::ExpectTables(_) => "ExpectTables",
            VerifierState::ExpectFinish(_) => "ExpectFinish",
            VerifierState::ExpectDecode { .. } => "ExpectDecode",
            VerifierState::ExpectLabelTable(_) => "ExpectLabelTable",
            VerifierState::Done { .. } => "Done",
            VerifierState::Failed => "Failed",
        }
    }

    fn phase(&self) -> Phase {
        match self {
            VerifierState::Start | VerifierState::ExpectAccept | VerifierState::ExpectLabels(_) => {
                Phase::Negotiate
            }
            VerifierState::ExpectBaseOtReply { .. } => Phase::Query,
            VerifierState::ExpectScores(_)
            | VerifierState::ExpectTables(_)
            | VerifierState::ExpectFinish(_)
            | VerifierState::ExpectDecode { .. }
            | VerifierState::ExpectLabelTable(_)
            | VerifierState::Done { .. }
            | VerifierState::Failed => Phase::Rounds,
        }
    }
}

/// One verifier session as a state machine (see [`crate::HolderSession`]): it produces the
/// Hello, then consumes the holder's messages one at a time and returns the messages to send.
pub struct VerifierSession<R: Rng + CryptoRng> {
    config: VerifierConfig,
    probe: Vec<f32>,
    mode: Mode,
    output: OutputTo,
    rng: R,
    channel: BufferChannel,
    state: VerifierState,
}

impl<R: Rng + CryptoRng> VerifierSession<R> {
    /// A session for `probe`; a probe that cannot be quantised (wrong length, NaN, infinite,
    /// zero) is refused here, before anything leaves the machine. In classification the probe
    /// is the input to classify: it must be finite (it may be zero), and whether it lies in
    /// the model's input range is checked against the holder's announced scale.
    pub fn new(
        config: VerifierConfig,
        probe: &[f32],
        mode: Mode,
        output: OutputTo,
        rng: R,
    ) -> Result<Self> {
        match mode {
            Mode::Classify { .. } => InputQuantiser::check_input(probe, probe.len().max(1))?,
            _ => {
                Quantiser::for_dimension(probe.len())?.quantise(probe)?;
            }
        }
        if config.window == 0 {
            return Err(ProtocolError::Config("a window of 0 batches".into()));
        }
        Ok(Self {
            config,
            probe: probe.to_vec(),
            mode,
            output,
            rng,
            channel: BufferChannel::new(),
            state: VerifierState::Start,
        })
    }

    /// The state's name (the message it expects).
    pub fn state(&self) -> &'static str {
        self.state.name()
    }

    /// The opening message.
    pub fn start(&mut self) -> Result<Vec<Message>> {
        if !matches!(self.state, VerifierState::Start) {
            return Err(ProtocolError::Internal("session already started".into()));
        }
        self.state = VerifierState::ExpectAccept;
        Ok(vec![Message::Hello(Hello {
            param_sets: self.config.param_sets.clone(),
            dimension: self.probe.len() as u32,
            mode: self.mode.clone(),
            output: self.output,
        })])
    }

    /// Consumes one message from the holder; returns the messages to send, in order. An error
    /// ends the session.
    pub fn receive(&mut self, message: Message) -> Result<Vec<Message>> {
        let state = std::mem::replace(&mut self.state, VerifierState::Failed);
        let (next, out) = self.step(state, message)?;
        self.state = next;
        Ok(out)
    }

    /// True once the session has nothing more to receive.
    pub fn is_finished(&self) -> bool {
        matches!(
            self.state,
            VerifierState::Done { .. } | VerifierState::Failed
        )
    }

    /// The bit or the class (when the verifier learns it) and the holder's terms, once
    /// finished.
    pub fn outcome(self) -> Result<(Answer, Accept)> {
        match self.state {
            VerifierState::Done { answer, accept } => Ok((answer, *accept)),
            _ => Err(ProtocolError::Internal("session not finished".into())),
        }
    }

    fn step(
        &mut self,
        state: VerifierState,
        message: Message,
    ) -> Result<(VerifierState, Vec<Message>)> {
        match message {
            Message::Abort(code) => return Err(ProtocolError::Aborted(code)),
            Message::Reject(code) if matches!(state, VerifierState::ExpectAccept) => {
                return Err(ProtocolError::Rejected(code));
            }
            _ => {}
        }
        match state {
            VerifierState::Start => Err(ProtocolError::Internal("receive before start".into())),
            VerifierState::ExpectAccept => {
                let Message::Accept(accept) = message else {
                    return Err(unexpected("ExpectAccept", &message));
                };
                self.accepted(accept)
            }
            VerifierState::ExpectLabels(awaiting) => {
                let Message::Labels(labels) = message else {
                    return Err(unexpected("ExpectLabels", &message));
                };
                check_labels(&labels, awaiting.accept.padded_count as usize)?;
                let AwaitingLabels {
                    accept,
                    params,
                    shape,
                    input,
                } = *awaiting;
                let circuit = Circuit::Argmax(ArgmaxSpec {
                    share_bits: shape.share_bits,
                    classes: accept.padded_count as usize,
                });
                self.send_query(accept, &params, shape, &input, circuit, labels)
            }
            VerifierState::ExpectBaseOtReply { terms, setup } => {
                let Message::BaseOtReply(bytes) = message else {
                    return Err(unexpected("ExpectBaseOtReply", &message));
                };
                self.channel.put(bytes);
                let ot = (*setup).finish(&mut self.channel)?;
                consumed(&self.channel, "BaseOtReply")?;
                let evaluator = Evaluating::new(&terms.circuit, ot, terms.accept.batch as usize)?;
                let n = terms.accept.padded_count as usize;
                let blocks = terms.shape.layout.block_count(n);
                let round_left = (terms.accept.round_blocks as usize).min(blocks);
                Ok((
                    VerifierState::ExpectScores(Box::new(Comparing {
                        terms: *terms,
                        evaluator,
                        block: 0,
                        blocks,
                        round_left,
                        unrequested: VecDeque::new(),
                        requested: 0,
                        absorbed: 0,
                    })),
                    vec![],
                ))
            }
            VerifierState::ExpectScores(mut c) => {
                let Message::Scores {
                    index,
                    count,
                    bytes,
                } = message
                else {
                    return Err(unexpected("ExpectScores", &message));
                };
                let (shape, accept) = (&c.terms.shape, &c.terms.accept);
                let cap = shape.layout.block_capacity();
                let expected = cap.min(accept.padded_count as usize - c.block * cap);
                if index as usize != c.block {
                    return Err(PeerMisbehaved::OutOfOrder {
                        message: "score block",
                        got: index,
                        due: c.block as u32,
                    }
                    .into());
                }
                if count as usize != expected {
                    return Err(PeerMisbehaved::WrongCount {
                        index,
                        got: count,
                        expected: expected as u32,
                    }
                    .into());
                }
                let block = ResponseBlock::decode(shape, expected, &bytes)?;
                let shares = c.terms.key.decrypt_block(shape, &block, expected)?;
                // Cut the round into batches as the shares arrive (a batch never spans rounds).
                let batch = c.evaluator.batch();
                for s in shares {
                    match c.unrequested.back_mut() {
                        Some(b) if b.len() < batch && !b.is_empty() => b.push(s),
                        _ => c.unrequested.push_back(vec![s]),
                    }
                }
                c.block += 1;
                c.round_left -= 1;
                if c.round_left > 0 {
                    return Ok((VerifierState::ExpectScores(c), vec![]));
                }
                c.round_left = (c.terms.accept.round_blocks as usize).min(c.blocks - c.block);
                let mut out = Vec::new();
                while c.evaluator.pending() < self.config.window && !c.unrequested.is_empty() {
                    out.push(self.request(&mut c)?);
                }
                Ok((VerifierState::ExpectTables(c), out))
            }
            VerifierState::ExpectTables(mut c) => {
                let Message::Tables { batch, bytes } = message else {
                    return Err(unexpected("ExpectTables", &message));
                };
                if batch != c.absorbed {
                    return Err(PeerMisbehaved::OutOfOrder {
                        message: "tables of batch",
                        got: batch,
                        due: c.absorbed,
                    }
                    .into());
                }
                c.evaluator.channel().put(bytes);
                c.evaluator.absorb()?;
                consumed(c.evaluator.channel(), "Tables")?;
                c.absorbed += 1;
                let mut out = Vec::new();
                if !c.unrequested.is_empty() {
                    out.push(self.request(&mut c)?);
                }
                if c.evaluator.pending() > 0 {
                    Ok((VerifierState::ExpectTables(c), out))
                } else if c.block < c.blocks {
                    Ok((VerifierState::ExpectScores(c), out))
                } else {
                    Ok((VerifierState::ExpectFinish(c), out))
                }
            }
            VerifierState::ExpectFinish(c) => {
                let Message::Finish(bytes) = message else {
                    return Err(unexpected("ExpectFinish", &message));
                };
                output::on_finish(c, bytes)
            }
            VerifierState::ExpectDecode {
                mut comparing,
                output,
            } => {
                let Message::Decode(bytes) = message else {
                    return Err(unexpected("ExpectDecode", &message));
                };
                comparing.evaluator.channel().put(bytes);
                output::decoded(comparing, output, "Decode")
            }
            VerifierState::ExpectLabelTable(table) => {
                let Message::LabelTable { part, bytes } = message else {
                    return Err(unexpected("ExpectLabelTable", &message));
                };
                output::on_label_table(table, part, bytes)
            }
            VerifierState::Done { .. } => Err(unexpected("Done", &message)),
            VerifierState::Failed => Err(ProtocolError::Internal(
                "message after the session failed".into(),
            )),
        }
    }

    /// Requests the next batch of the current round.
    fn request(&mut self, c: &mut Comparing) -> Result<Message> {
        let shares = c
            .unrequested
            .pop_front()
            .ok_or_else(|| ProtocolError::Internal("nothing to request".into()))?;
        c.evaluator.request(&shares, &mut self.rng)?;
        let batch = c.requested;
        c.requested += 1;
        Ok(Message::OtExtension {
            batch,
            bytes: c.evaluator.channel().take_outgoing(),
        })
    }
}

impl<R: Rng + CryptoRng> Session for VerifierSession<R> {
    type Outcome = (Answer, Accept);

    fn start(&mut self) -> Result<Vec<Message>> {
        VerifierSession::start(self)
    }

    fn receive(&mut self, message: Message) -> Result<Vec<Message>> {
        VerifierSession::receive(self, message)
    }

    fn is_finished(&self) -> bool {
        VerifierSession::is_finished(self)
    }

    fn phase(&self) -> Phase {
        self.state.phase()
    }

    fn outcome(self) -> Result<Self::Outcome> {
        VerifierSession::outcome(self)
    }
}
