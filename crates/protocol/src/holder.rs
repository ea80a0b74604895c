//! The holder's session: ExpectHello → ExpectBaseOtOffer → ExpectQueryPart → rounds of (score
//! blocks out, ExpectOtExtension for each batch of those scores) → the OR tree, Finish →
//! ExpectOutputLabel when the holder learns the bit (then Decode when both do) → Done
//! (spec §9.3).

mod negotiate;
mod output;
mod rounds;

use std::sync::Arc;

use crate::model::{Answer, Class, Enrolled, ModelSet};
use privface_he::{ParameterSet, SeededCiphertext};
use privface_ot::{Block, BufferChannel, Delta, IknpSender};
use rand::{CryptoRng, Rng};

use crate::budget::{Charge, QueryLedger};
use crate::driver::Session;
use crate::error::{PeerMisbehaved, ProtocolError, Result};
use crate::gallery::HolderGallery;
use crate::messages::{Hello, Message, Mode, OutputTo, consumed};
use crate::phase::{Phase, PhaseTimings};
use crate::{DEFAULT_BATCH, DEFAULT_ROUND_BLOCKS, MAX_BATCH, MAX_ROUND_BLOCKS, unexpected};
use negotiate::Terms;
use output::label_table;
use rounds::{Comparing, next_round};
pub use rounds::{HeWorkers, he_workers};

/// The holder's policy and data.
#[derive(Clone)]
pub struct HolderConfig {
    /// Parameter set offered to verifiers.
    pub params: ParameterSet,
    /// Whether an insecure parameter set may be used on the network.
    pub allow_insecure: bool,
    /// Score threshold τ in quantised units, 1 ≤ τ ≤ B (padding never matches; spec §8.1).
    pub threshold: i64,
    /// The gallery.
    pub gallery: Arc<HolderGallery>,
    /// Where queries are charged: the per-client budget and the audit log.
    pub budget: Arc<dyn QueryLedger>,
    /// Scores per comparison batch.
    pub batch: usize,
    /// Score blocks per round (HE of round j+1 runs while round j is garbled).
    pub round_blocks: usize,
    /// Where this holder lets the result go; a Hello asking for another is refused
    /// (`Parameters`) before anything is charged. All three unless configured otherwise.
    pub allowed_outputs: Vec<OutputTo>,
    /// Low score bits the comparison drops (0, the default: exact). Set it from a cosine
    /// tolerance with [`privface_he::Quantiser::dropped_bits_for_tolerance`]; decisions are
    /// exact for scores further than 2^(j+1) from τ (spec §4.1).
    pub dropped_bits: u32,
    /// The classification models served (spec §13), by name; none unless configured.
    pub models: Arc<ModelSet>,
}

impl HolderConfig {
    /// A configuration with the default batch and round sizes.
    pub fn new(
        params: ParameterSet,
        gallery: Arc<HolderGallery>,
        threshold: i64,
        budget: Arc<dyn QueryLedger>,
    ) -> Self {
        Self {
            params,
            allow_insecure: false,
            threshold,
            gallery,
            budget,
            batch: DEFAULT_BATCH,
            round_blocks: DEFAULT_ROUND_BLOCKS,
            allowed_outputs: vec![OutputTo::Verifier, OutputTo::Holder, OutputTo::Both],
            dropped_bits: 0,
            models: Arc::new(ModelSet::new()),
        }
    }

    /// Checks the policy before serving.
    pub fn validate(&self) -> Result<()> {
        if self.params.is_insecure() && !self.allow_insecure {
            return Err(
                privface_he::HeError::InsecureParameters(self.params.name().to_owned()).into(),
            );
        }
        let bad = |why: String| Err(ProtocolError::Config(why));
        if self.threshold < 1 {
            return bad("the threshold must be at least 1 (padding scores 0)".into());
        }
        let bound = self.gallery.quantiser().norm_bound() as i64;
        if self.threshold > bound {
            // No score reaches it, and the comparison's range argument (spec §8.1) needs
            // τ ≤ B.
            return bad(format!(
                "the threshold {} exceeds the largest possible score {bound}",
                self.threshold
            ));
        }
        if self.gallery.params() != &self.params {
            return bad("gallery packed for another parameter set".into());
        }
        if self.dropped_bits > privface_he::MAX_DROPPED_BITS {
            return bad(format!(
                "{} dropped bits (at most {})",
                self.dropped_bits,
                privface_he::MAX_DROPPED_BITS
            ));
        }
        if let Some((name, _)) = self
            .models
            .iter()
            .find(|(_, m)| m.shape().params_name != self.params.name())
        {
            return bad(format!("model `{name}` packed for another parameter set"));
        }
        if self.allowed_outputs.is_empty() {
            return bad("no output destination is allowed".into());
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return bad(format!("batch of {} scores (1 to {MAX_BATCH})", self.batch));
        }
        if !(1..=MAX_ROUND_BLOCKS).contains(&self.round_blocks) {
            return bad(format!(
                "round of {} blocks (1 to {MAX_ROUND_BLOCKS})",
                self.round_blocks
            ));
        }
        Ok(())
    }
}

/// What a holder session ends with.
#[derive(Debug)]
pub struct HolderReport {
    /// The bit, when the verifier let the holder learn it (identification, verification).
    pub bit: Option<bool>,
    /// The class, when the verifier let the holder learn it (classification).
    pub class: Option<Class>,
    /// The identity, when the verifier let the holder learn it (who-identification).
    pub who: Option<Enrolled>,
    /// Scores compared (padded count).
    pub scores: usize,
    /// Per-phase wall time and bytes, as the driver measured them.
    pub timings: PhaseTimings,
}

/// The holder's states, named after the message each expects.
enum HolderState {
    ExpectHello,
    ExpectBaseOtOffer(Box<Terms>),
    ExpectQueryPart {
        terms: Box<Terms>,
        ot: Box<IknpSender>,
        parts: Vec<SeededCiphertext>,
    },
    ExpectOtExtension(Box<Comparing>),
    ExpectOutputLabel {
        comparing: Box<Comparing>,
        output_wires: Vec<Block>,
    },
    Done {
        answer: Answer,
        scores: usize,
    },
    Refused(ProtocolError),
    Failed,
}

impl HolderState {
    fn name(&self) -> &'static str {
        match self {
            HolderState::ExpectHello => "ExpectHello",
            HolderState::ExpectBaseOtOffer(_) => "ExpectBaseOtOffer",
            HolderState::ExpectQueryPart { .. } => "ExpectQueryPart",
            HolderState::ExpectOtExtension(_) => "ExpectOtExtension",
            HolderState::ExpectOutputLabel { .. } => "ExpectOutputLabel",
            HolderState::Done { .. } => "Done",
            HolderState::Refused(_) => "Refused",
            HolderState::Failed => "Failed",
        }
    }

    fn phase(&self) -> Phase {
        match self {
            HolderState::ExpectHello | HolderState::Refused(_) => Phase::Negotiate,
            HolderState::ExpectBaseOtOffer(_) | HolderState::ExpectQueryPart { .. } => Phase::Query,
            HolderState::ExpectOtExtension(_)
            | HolderState::ExpectOutputLabel { .. }
            | HolderState::Done { .. }
            | HolderState::Failed => Phase::Rounds,
        }
    }
}

type Step = Result<(HolderState, Vec<Message>)>;

/// One holder session as a state machine: it consumes the verifier's messages one at a time
/// and returns the messages to send. It opens no sockets or files and reads no clock; all
/// randomness comes from the generator it is given. The one piece of concurrency inside is the
/// HE of round j+1, computed on a worker thread while round j is garbled (its randomness is
/// drawn in round order, so the output does not depend on scheduling).
pub struct HolderSession<R: Rng + CryptoRng> {
    gallery: Arc<HolderGallery>,
    budget: Arc<dyn QueryLedger>,
    /// The charge of this session's query, once taken.
    charge: Option<Charge>,
    params: ParameterSet,
    threshold: i64,
    dropped_bits: u32,
    batch: usize,
    round_blocks: usize,
    allowed_outputs: Vec<OutputTo>,
    models: Arc<ModelSet>,
    client: String,
    rng: R,
    channel: BufferChannel,
    state: HolderState,
}

impl<R: Rng + CryptoRng> HolderSession<R> {
    /// A session for `client` (its certificate identity) under `config`.
    pub fn new(config: &HolderConfig, client: &str, rng: R) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            gallery: config.gallery.clone(),
            budget: config.budget.clone(),
            charge: None,
            params: config.params.clone(),
            threshold: config.threshold,
            dropped_bits: config.dropped_bits,
            batch: config.batch,
            round_blocks: config.round_blocks,
            allowed_outputs: config.allowed_outputs.clone(),
            models: config.models.clone(),
            client: client.to_owned(),
            rng,
            channel: BufferChannel::new(),
            state: HolderState::ExpectHello,
        })
    }

    /// The state's name (the message it expects).
    pub fn state(&self) -> &'static str {
        self.state.name()
    }

    /// Consumes one message from the verifier; returns the messages to send, in order.
    ///
    /// An error ends the session (every later call fails too); the driver tells the peer with
    /// [`ProtocolError::notice`]. A refusal during negotiation is not an error here: the
    /// [`Message::Reject`] is returned to be sent and [`HolderSession::outcome`] reports why.
    pub fn receive(&mut self, message: Message) -> Result<Vec<Message>> {
        let state = std::mem::replace(&mut self.state, HolderState::Failed);
        let (next, out) = self.step(state, message)?;
        if let (HolderState::Done { answer, .. }, Some(charge)) = (&next, self.charge) {
            // The audit log gets the outcome the holder received; failing to write it fails
            // the session (the charge itself is already durable).
            let value = match (&answer.class, answer.bit) {
                (Some(class), _) => Some(class.index),
                (None, Some(bit)) => Some(u32::from(bit)),
                (None, None) => None,
            };
            if let Some(value) = value {
                self.budget.record_outcome(charge, value)?;
            }
        }
        self.state = next;
        Ok(out)
    }

    /// True once the session has nothing more to receive.
    pub fn is_finished(&self) -> bool {
        matches!(
            self.state,
            HolderState::Done { .. } | HolderState::Refused(_) | HolderState::Failed
        )
    }

    /// The bit or the class (when the holder learns it) and the number of scores compared,
    /// once finished.
    pub fn outcome(self) -> Result<(Answer, usize)> {
        match self.state {
            HolderState::Done { answer, scores } => Ok((answer, scores)),
            HolderState::Refused(e) => Err(e),
            _ => Err(ProtocolError::Internal("session not finished".into())),
        }
    }

    /// Spec §9.3, holder side: each state takes exactly one kind of message.
    fn step(&mut self, state: HolderState, message: Message) -> Step {
        if let Message::Abort(code) = message {
            return Err(ProtocolError::Aborted(code));
        }
        match (state, message) {
            (HolderState::ExpectHello, Message::Hello(hello)) => Ok(self.on_hello(&hello)),
            (HolderState::ExpectBaseOtOffer(terms), Message::BaseOtOffer(bytes)) => {
                self.on_base_ot_offer(terms, bytes)
            }
            (
                HolderState::ExpectQueryPart { terms, ot, parts },
                Message::QueryPart { index, bytes },
            ) => self.on_query_part(terms, ot, parts, index, &bytes),
            (HolderState::ExpectOtExtension(c), Message::OtExtension { batch, bytes }) => {
                self.on_ot_extension(c, batch, bytes)
            }
            (
                HolderState::ExpectOutputLabel {
                    comparing,
                    output_wires,
                },
                Message::OutputLabel(bytes),
            ) => Self::on_output_label(comparing, &output_wires, bytes),
            (HolderState::Failed, _) => Err(ProtocolError::Internal(
                "message after the session failed".into(),
            )),
            (state, message) => Err(unexpected(state.name(), &message)),
        }
    }

    /// Hello: the terms (Accept) or a refusal (Reject).
    fn on_hello(&mut self, hello: &Hello) -> (HolderState, Vec<Message>) {
        match self.negotiate(hello) {
            Ok(terms) => {
                tracing::debug!(client = %self.client, mode = ?hello.mode, scores = terms.accept.padded_count, g = terms.accept.group_size, "session accepted");
                let mut out = vec![Message::Accept(terms.accept.clone())];
                if let Mode::Classify { .. } = hello.mode {
                    out.push(Message::Labels(terms.labels.clone()));
                }
                (HolderState::ExpectBaseOtOffer(Box::new(terms)), out)
            }
            Err((code, error)) => (HolderState::Refused(error), vec![Message::Reject(code)]),
        }
    }

    /// BaseOtOffer: the holder is the base-OT receiver, choosing by the bits of its Δ.
    fn on_base_ot_offer(&mut self, terms: Box<Terms>, bytes: Vec<u8>) -> Step {
        self.channel.put(bytes);
        let delta = Delta::random(&mut self.rng);
        let ot = IknpSender::setup(&mut self.channel, delta, &mut self.rng)?;
        consumed(&self.channel, "BaseOtOffer")?;
        let reply = Message::BaseOtReply(self.channel.take_outgoing());
        let parts = Vec::with_capacity(terms.shape.layout.chunk_count() + 1);
        Ok((
            HolderState::ExpectQueryPart {
                terms,
                ot: Box::new(ot),
                parts,
            },
            vec![reply],
        ))
    }

    /// QueryPart: the public key, then the m chunk ciphertexts, in order.
    fn on_query_part(
        &mut self,
        terms: Box<Terms>,
        ot: Box<IknpSender>,
        mut parts: Vec<SeededCiphertext>,
        index: u32,
        bytes: &[u8],
    ) -> Step {
        if index as usize != parts.len() {
            return Err(PeerMisbehaved::OutOfOrder {
                message: "query part",
                got: index,
                due: parts.len() as u32,
            }
            .into());
        }
        parts.push(SeededCiphertext::decode(&self.params, bytes)?);
        if parts.len() <= terms.shape.layout.chunk_count() {
            return Ok((HolderState::ExpectQueryPart { terms, ot, parts }, vec![]));
        }
        self.start_comparison(*terms, *ot, parts)
    }

    /// OtExtension: garble the batch it is for; after a round's last batch, the next round's
    /// score blocks; after the last round, the OR tree (Finish).
    fn on_ot_extension(&mut self, mut c: Box<Comparing>, batch: u32, bytes: Vec<u8>) -> Step {
        if batch != c.batch {
            return Err(PeerMisbehaved::OutOfOrder {
                message: "extension of batch",
                got: batch,
                due: c.batch,
            }
            .into());
        }
        let end = (c.garbled + c.garbler.batch()).min(c.masks.len());
        c.garbler.channel().put(bytes);
        c.garbler.garble_batch(&c.masks[c.garbled..end])?;
        consumed(c.garbler.channel(), "OtExtension")?;
        let mut out = vec![Message::Tables {
            batch,
            bytes: c.garbler.channel().take_outgoing(),
        }];
        c.garbled = end;
        c.batch += 1;
        if c.garbled < c.masks.len() {
            return Ok((HolderState::ExpectOtExtension(c), out));
        }
        if c.round + 1 < c.rounds.len() {
            c.round += 1;
            out.extend(next_round(&mut c)?);
            return Ok((HolderState::ExpectOtExtension(c), out));
        }
        // With output to both the decode bits wait for the verifier's labels (spec §8.2).
        let reveal = c.terms.reveal;
        let output_wires = c.garbler.close(reveal.evaluator && !reveal.garbler)?;
        out.push(Message::Finish(c.garbler.channel().take_outgoing()));
        if reveal.evaluator && !reveal.garbler {
            out.extend(label_table(&c, &output_wires)?);
        }
        let next = if c.terms.reveal.garbler {
            HolderState::ExpectOutputLabel {
                comparing: c,
                output_wires,
            }
        } else {
            HolderState::Done {
                answer: Answer::default(),
                scores: c.scores,
            }
        };
        Ok((next, out))
    }
}

impl<R: Rng + CryptoRng> Session for HolderSession<R> {
    type Outcome = (Answer, usize);

    fn start(&mut self) -> Result<Vec<Message>> {
        Ok(Vec::new())
    }

    fn receive(&mut self, message: Message) -> Result<Vec<Message>> {
        HolderSession::receive(self, message)
    }

    fn is_finished(&self) -> bool {
        HolderSession::is_finished(self)
    }

    fn phase(&self) -> Phase {
        self.state.phase()
    }

    fn outcome(self) -> Result<Self::Outcome> {
        HolderSession::outcome(self)
    }
}
