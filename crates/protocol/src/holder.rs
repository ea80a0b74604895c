//! The holder's session: ExpectHello → OT setup → ExpectQuery → rounds of (score blocks out,
//! comparison of those scores) → the OR tree and the output.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use privface_gc::{Reveal, ThresholdOrGarbler, ThresholdSpec};
use privface_he::{
    GalleryMode, HolderQuery, Layout, PackedGallery, ParameterSet, Quantiser, Query,
    SeededCiphertext, SessionShape, best_group_size,
};
use privface_ot::{Block, BufferChannel, Delta, IknpSender};
use rand::{CryptoRng, Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::error::{ProtocolError, Result};
use crate::messages::{AbortCode, Accept, Hello, Message, Mode};
use crate::{MAX_BATCH, PhaseTimings, unexpected};

/// Gallery size rounded up to its padding bucket: a multiple of 2^(⌊log2 n⌋ − 3), so the
/// verifier learns n only to within an eighth (exactly below 16).
pub fn padded_count(n: usize) -> usize {
    if n < 16 {
        return n.max(1);
    }
    let step = 1usize << ((usize::BITS - 1 - n.leading_zeros()) - 3);
    n.div_ceil(step) * step
}

/// The holder's enrolled gallery, packed for identification.
pub struct HolderGallery {
    params: ParameterSet,
    quantiser: Quantiser,
    index: HashMap<String, usize>,
    rows: Vec<i8>,
    len: usize,
    packed: PackedGallery,
}

impl HolderGallery {
    /// Packs `entries` (identity, quantised embedding) of dimension `dimension`, padded with
    /// zero vectors (score 0, which never reaches a threshold ≥ 1) to [`padded_count`].
    pub fn new(
        params: &ParameterSet,
        dimension: usize,
        entries: impl IntoIterator<Item = (String, Vec<i8>)>,
        mode: GalleryMode,
    ) -> Result<Self> {
        let quantiser = Quantiser::for_dimension(dimension)?;
        let mut index = HashMap::new();
        let mut rows = Vec::new();
        for (id, row) in entries {
            quantiser.check(&row)?;
            if index.insert(id.clone(), index.len()).is_some() {
                return Err(ProtocolError::Refused(format!(
                    "identity `{id}` enrolled twice"
                )));
            }
            rows.extend(row);
        }
        let len = index.len();
        let padded = padded_count(len);
        let mut padded_rows = rows.clone();
        padded_rows.resize(padded * dimension, 0);
        let k = quantiser.share_bits();
        let g = best_group_size(params, dimension, padded, k)?;
        let layout = Layout::new(params, dimension, g)?;
        let packed = PackedGallery::new(layout, padded_rows, mode)?;
        Ok(Self {
            params: params.clone(),
            quantiser,
            index,
            rows,
            len,
            packed,
        })
    }

    /// Enrolled identities (padding excluded).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nobody is enrolled.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Embedding dimension.
    pub fn dimension(&self) -> usize {
        self.quantiser.dimension()
    }

    /// The quantiser (shared with verifiers through its scale).
    pub fn quantiser(&self) -> &Quantiser {
        &self.quantiser
    }

    fn row(&self, id: &str) -> Option<&[i8]> {
        let d = self.dimension();
        self.index.get(id).map(|&i| &self.rows[i * d..(i + 1) * d])
    }
}

/// Per-client query budget (client = certificate identity), shared by all sessions.
pub struct QueryBudget {
    limit: Option<u32>,
    used: Mutex<HashMap<String, u32>>,
}

impl QueryBudget {
    /// At most `limit` queries per client (`None`: unlimited).
    pub fn new(limit: Option<u32>) -> Self {
        Self {
            limit,
            used: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one query from `client`'s budget.
    pub fn consume(&self, client: &str) -> Result<()> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let mut used = self
            .used
            .lock()
            .map_err(|_| ProtocolError::Internal("budget lock poisoned".into()))?;
        let n = used.entry(client.to_owned()).or_insert(0);
        if *n >= limit {
            return Err(ProtocolError::BudgetExhausted(client.to_owned()));
        }
        *n += 1;
        Ok(())
    }
}

/// The holder's policy and data.
pub struct HolderConfig {
    /// Parameter set offered to verifiers.
    pub params: ParameterSet,
    /// Whether an insecure parameter set may be used on the network.
    pub allow_insecure: bool,
    /// Score threshold τ in quantised units (≥ 1, so padding never matches).
    pub threshold: i64,
    /// The gallery.
    pub gallery: Arc<HolderGallery>,
    /// Query budget per client.
    pub budget: Arc<QueryBudget>,
    /// Scores per comparison batch.
    pub batch: usize,
    /// Score blocks per round (HE of round j+1 runs while round j is garbled).
    pub round_blocks: usize,
}

impl HolderConfig {
    /// Checks the policy before serving.
    pub fn validate(&self) -> Result<()> {
        if self.params.insecure && !self.allow_insecure {
            return Err(privface_he::HeError::InsecureParameters(self.params.name.clone()).into());
        }
        if self.threshold < 1 {
            return Err(ProtocolError::Refused(
                "the threshold must be at least 1 (padding scores 0)".into(),
            ));
        }
        if self.gallery.params != self.params {
            return Err(ProtocolError::Refused(
                "gallery packed for another parameter set".into(),
            ));
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return Err(ProtocolError::Refused(format!("batch size {}", self.batch)));
        }
        if !(1..=4096).contains(&self.round_blocks) {
            return Err(ProtocolError::Refused(format!(
                "round of {} blocks",
                self.round_blocks
            )));
        }
        Ok(())
    }
}

/// What a holder session ends with.
#[derive(Debug)]
pub struct HolderReport {
    /// The bit, when the verifier let the holder learn it.
    pub bit: Option<bool>,
    /// Scores compared (padded count).
    pub scores: usize,
    /// Per-phase wall time and bytes, as the driver measured them.
    pub timings: PhaseTimings,
}

/// The gallery a session answers from: the shared packed gallery (1:N) or the claimed
/// identity's row packed for this session alone (1:1).
#[derive(Clone)]
enum Answering {
    Shared(Arc<HolderGallery>),
    Single(Arc<PackedGallery>),
}

impl Answering {
    fn packed(&self) -> &PackedGallery {
        match self {
            Answering::Shared(g) => &g.packed,
            Answering::Single(p) => p,
        }
    }
}

/// What negotiation settled.
struct Terms {
    accept: Accept,
    shape: SessionShape,
    answering: Answering,
    reveal: Reveal,
}

type RoundResult = Result<Vec<privface_he::HolderBlock>>;

/// The comparison in progress.
struct Comparing {
    terms: Terms,
    query: Arc<HolderQuery>,
    garbler: ThresholdOrGarbler<BufferChannel, IknpSender>,
    /// Block ranges of the rounds and the seed of each round's generator.
    rounds: Vec<(Range<usize>, [u8; 32])>,
    /// Index of the round being compared.
    round: usize,
    /// The current round's masks and how many of them are garbled.
    masks: Vec<u32>,
    garbled: usize,
    /// Next batch index due.
    batch: u32,
    /// The HE of the next round, running while this one is garbled.
    next: Option<JoinHandle<RoundResult>>,
    scores: usize,
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
        output_wire: Block,
    },
    Done {
        bit: Option<bool>,
        scores: usize,
    },
    Refused(ProtocolError),
    Failed,
}

/// One holder session as a state machine: it consumes the verifier's messages one at a time
/// and returns the messages to send. It opens no sockets or files and reads no clock; all
/// randomness comes from the generator it is given. The one piece of concurrency inside is the
/// HE of round j+1, computed on a worker thread while round j is garbled (its randomness is
/// drawn in round order, so the output does not depend on scheduling).
pub struct HolderSession<R: Rng + CryptoRng> {
    gallery: Arc<HolderGallery>,
    budget: Arc<QueryBudget>,
    params: ParameterSet,
    threshold: i64,
    batch: usize,
    round_blocks: usize,
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
            params: config.params.clone(),
            threshold: config.threshold,
            batch: config.batch,
            round_blocks: config.round_blocks,
            client: client.to_owned(),
            rng,
            channel: BufferChannel::new(),
            state: HolderState::ExpectHello,
        })
    }

    /// The state's name (the message it expects).
    pub fn state(&self) -> &'static str {
        match &self.state {
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

    /// Consumes one message from the verifier; returns the messages to send, in order.
    ///
    /// An error ends the session (every later call fails too); the driver tells the peer with
    /// [`ProtocolError::notice`]. A refusal during negotiation is not an error here: the
    /// [`Message::Reject`] is returned to be sent and [`HolderSession::outcome`] reports why.
    pub fn receive(&mut self, message: Message) -> Result<Vec<Message>> {
        let state = std::mem::replace(&mut self.state, HolderState::Failed);
        let (next, out) = self.step(state, message)?;
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

    /// The bit (when the holder learns it) and the number of scores compared, once finished.
    pub fn outcome(self) -> Result<(Option<bool>, usize)> {
        match self.state {
            HolderState::Done { bit, scores } => Ok((bit, scores)),
            HolderState::Refused(e) => Err(e),
            _ => Err(ProtocolError::Internal("session not finished".into())),
        }
    }

    fn step(
        &mut self,
        state: HolderState,
        message: Message,
    ) -> Result<(HolderState, Vec<Message>)> {
        if let Message::Abort(code) = message {
            return Err(ProtocolError::Aborted(code));
        }
        match state {
            HolderState::ExpectHello => {
                let Message::Hello(hello) = message else {
                    return Err(unexpected("ExpectHello", &message));
                };
                match self.negotiate(&hello) {
                    Ok(terms) => {
                        tracing::debug!(client = %self.client, mode = ?hello.mode, scores = terms.accept.padded_count, g = terms.accept.group_size, "session accepted");
                        let accept = Message::Accept(terms.accept.clone());
                        Ok((
                            HolderState::ExpectBaseOtOffer(Box::new(terms)),
                            vec![accept],
                        ))
                    }
                    Err((code, error)) => {
                        Ok((HolderState::Refused(error), vec![Message::Reject(code)]))
                    }
                }
            }
            HolderState::ExpectBaseOtOffer(terms) => {
                let Message::BaseOtOffer(bytes) = message else {
                    return Err(unexpected("ExpectBaseOtOffer", &message));
                };
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
            HolderState::ExpectQueryPart {
                terms,
                ot,
                mut parts,
            } => {
                let Message::QueryPart { index, bytes } = message else {
                    return Err(unexpected("ExpectQueryPart", &message));
                };
                if index as usize != parts.len() {
                    return Err(ProtocolError::Malformed(format!(
                        "query part {index} where {} was due",
                        parts.len()
                    )));
                }
                parts.push(SeededCiphertext::decode(&self.params, &bytes)?);
                if parts.len() <= terms.shape.layout.chunk_count() {
                    return Ok((HolderState::ExpectQueryPart { terms, ot, parts }, vec![]));
                }
                self.start_comparison(*terms, *ot, parts)
            }
            HolderState::ExpectOtExtension(mut c) => {
                let Message::OtExtension { batch, bytes } = message else {
                    return Err(unexpected("ExpectOtExtension", &message));
                };
                if batch != c.batch {
                    return Err(ProtocolError::Malformed(format!(
                        "extension for batch {batch} where {} was due",
                        c.batch
                    )));
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
                    out.extend(self.next_round(&mut c)?);
                    return Ok((HolderState::ExpectOtExtension(c), out));
                }
                let output_wire = c.garbler.close(c.terms.reveal.evaluator)?;
                out.push(Message::Finish(c.garbler.channel().take_outgoing()));
                if c.terms.reveal.garbler {
                    Ok((
                        HolderState::ExpectOutputLabel {
                            comparing: c,
                            output_wire,
                        },
                        out,
                    ))
                } else {
                    Ok((
                        HolderState::Done {
                            bit: None,
                            scores: c.scores,
                        },
                        out,
                    ))
                }
            }
            HolderState::ExpectOutputLabel {
                mut comparing,
                output_wire,
            } => {
                let Message::OutputLabel(bytes) = message else {
                    return Err(unexpected("ExpectOutputLabel", &message));
                };
                let garbler = &mut comparing.garbler;
                garbler.channel().put(bytes);
                let bit = garbler.decode_returned(output_wire)?;
                consumed(garbler.channel(), "OutputLabel")?;
                Ok((
                    HolderState::Done {
                        bit: Some(bit),
                        scores: comparing.scores,
                    },
                    vec![],
                ))
            }
            HolderState::Done { .. } | HolderState::Refused(_) => {
                Err(unexpected("Finished", &message))
            }
            HolderState::Failed => Err(ProtocolError::Internal(
                "message after the session failed".into(),
            )),
        }
    }

    fn negotiate(
        &mut self,
        hello: &Hello,
    ) -> core::result::Result<Terms, (AbortCode, ProtocolError)> {
        let refuse = |code, why: String| Err((code, ProtocolError::Refused(why)));
        let p = &self.params;
        let gallery = &self.gallery;
        if !hello.param_sets.iter().any(|n| n == &p.name) {
            return refuse(
                AbortCode::Parameters,
                format!(
                    "verifier accepts {:?}, holder offers `{}`",
                    hello.param_sets, p.name
                ),
            );
        }
        let d = gallery.dimension();
        if hello.dimension as usize != d {
            return refuse(
                AbortCode::Dimension,
                format!(
                    "probe dimension {} but gallery dimension {d}",
                    hello.dimension
                ),
            );
        }
        let internal = |e: ProtocolError| (AbortCode::Internal, e);
        let k = gallery.quantiser().share_bits();
        let (count, layout, answering) = match &hello.mode {
            Mode::Identify => {
                if gallery.is_empty() {
                    return refuse(AbortCode::UnknownIdentity, "empty gallery".into());
                }
                (
                    padded_count(gallery.len()),
                    *gallery.packed.layout(),
                    Answering::Shared(gallery.clone()),
                )
            }
            Mode::Verify { identity } => {
                let Some(row) = gallery.row(identity) else {
                    return refuse(
                        AbortCode::UnknownIdentity,
                        "claimed identity is not enrolled".into(),
                    );
                };
                let single = best_group_size(p, d, 1, k)
                    .and_then(|g| Layout::new(p, d, g))
                    .and_then(|layout| {
                        Ok((
                            layout,
                            PackedGallery::new(layout, row.to_vec(), GalleryMode::OnTheFly)?,
                        ))
                    })
                    .map_err(|e| internal(e.into()))?;
                (1, single.0, Answering::Single(Arc::new(single.1)))
            }
        };
        if let Err(e) = self.budget.consume(&self.client) {
            return Err((AbortCode::Budget, e));
        }
        let shape = SessionShape::new(p, layout, k).map_err(|e| internal(e.into()))?;
        let accept = Accept {
            params: p.name.clone(),
            dimension: d as u32,
            quant_scale: gallery.quantiser().scale(),
            threshold: self.threshold,
            padded_count: count as u32,
            group_size: layout.group_size() as u32,
            share_bits: k,
            switched_modulus_log: shape.switched_modulus_log,
            batch: self.batch as u32,
            round_blocks: self.round_blocks as u32,
        };
        Ok(Terms {
            accept,
            shape,
            answering,
            reveal: Reveal {
                evaluator: hello.output.verifier(),
                garbler: hello.output.holder(),
            },
        })
    }

    /// The whole query is in: transform it, answer the first round, start the comparison.
    fn start_comparison(
        &mut self,
        terms: Terms,
        ot: IknpSender,
        parts: Vec<SeededCiphertext>,
    ) -> Result<(HolderState, Vec<Message>)> {
        let mut parts = parts.into_iter();
        let public_key = parts.next().expect("m + 1 parts");
        let query = Query {
            public_key,
            chunks: parts.collect(),
        };
        let holder_query =
            HolderQuery::new(&self.params, &terms.shape, &query, terms.answering.packed())?;
        drop(query);
        let blocks = holder_query.block_count();
        let rounds = (0..blocks)
            .step_by(self.round_blocks)
            .map(|s| (s..(s + self.round_blocks).min(blocks), self.rng.random()))
            .collect();
        let spec = ThresholdSpec {
            share_bits: terms.shape.share_bits,
            threshold: self.threshold,
        };
        let garbler = ThresholdOrGarbler::new(BufferChannel::new(), ot, spec, self.batch)?;
        let mut c = Box::new(Comparing {
            terms,
            query: Arc::new(holder_query),
            garbler,
            rounds,
            round: 0,
            masks: Vec::new(),
            garbled: 0,
            batch: 0,
            next: None,
            scores: 0,
        });
        c.next = Some(spawn_round(&c, 0));
        let out = self.next_round(&mut c)?;
        Ok((HolderState::ExpectOtExtension(c), out))
    }

    /// Collects round `c.round` from its worker, starts the one after, and returns the round's
    /// score blocks.
    fn next_round(&mut self, c: &mut Comparing) -> Result<Vec<Message>> {
        let worker = c
            .next
            .take()
            .ok_or_else(|| ProtocolError::Internal("no round in flight".into()))?;
        let blocks = worker
            .join()
            .map_err(|_| ProtocolError::Internal("HE worker panicked".into()))??;
        if c.round + 1 < c.rounds.len() {
            c.next = Some(spawn_round(c, c.round + 1));
        }
        c.masks.clear();
        c.garbled = 0;
        let mut out = Vec::with_capacity(blocks.len());
        for block in blocks {
            out.push(Message::Scores {
                index: block.index as u32,
                count: block.masks.len() as u32,
                bytes: block.response.encode(),
            });
            c.masks.extend(block.masks);
        }
        c.scores += c.masks.len();
        Ok(out)
    }
}

/// Checks that a message was consumed exactly.
pub(crate) fn consumed(channel: &BufferChannel, what: &str) -> Result<()> {
    match channel.remaining() {
        0 => Ok(()),
        n => Err(ProtocolError::Malformed(format!(
            "{n} trailing bytes in {what}"
        ))),
    }
}

fn spawn_round(c: &Comparing, round: usize) -> JoinHandle<RoundResult> {
    let (query, answering) = (c.query.clone(), c.terms.answering.clone());
    let (range, seed) = c.rounds[round].clone();
    std::thread::spawn(move || {
        Ok(query.respond(answering.packed(), range, &mut ChaCha20Rng::from_seed(seed))?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_buckets() {
        assert_eq!(padded_count(0), 1);
        assert_eq!(padded_count(1), 1);
        assert_eq!(padded_count(15), 15);
        assert_eq!(padded_count(16), 16);
        assert_eq!(padded_count(17), 18);
        assert_eq!(padded_count(1000), 1024);
        assert_eq!(padded_count(1_000_000), 1_048_576);
        for n in 16..5000 {
            let p = padded_count(n);
            assert!(p >= n && (p - n) * 8 <= n, "{n} -> {p}");
        }
    }

    #[test]
    fn budget_refuses_past_the_limit() {
        let b = QueryBudget::new(Some(2));
        b.consume("a").unwrap();
        b.consume("a").unwrap();
        assert!(matches!(
            b.consume("a"),
            Err(ProtocolError::BudgetExhausted(_))
        ));
        b.consume("b").unwrap();
        QueryBudget::new(None).consume("a").unwrap();
    }
}
