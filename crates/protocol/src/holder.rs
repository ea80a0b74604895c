//! The holder's session: ExpectHello → OT setup → ExpectQuery → rounds of (score blocks out,
//! comparison of those scores) → the OR tree and the output.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use privface_gc::{Reveal, ThresholdOrGarbler, ThresholdSpec};
use privface_he::{
    GalleryMode, HolderQuery, Layout, PackedGallery, ParameterSet, Quantiser, Query,
    SeededCiphertext, SessionShape, best_group_size,
};
use privface_ot::{Delta, IknpSender};
use rand::{CryptoRng, Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::error::{ProtocolError, Result};
use crate::frame::FrameIo;
use crate::messages::{AbortCode, Accept, Hello, Message, Mode};
use crate::{PhaseTimings, unexpected};

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
            if row.len() != dimension {
                return Err(privface_he::HeError::WrongDimension {
                    expected: dimension,
                    actual: row.len(),
                }
                .into());
            }
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
        if !(1..=65_536).contains(&self.batch) {
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
    /// Per-phase wall time.
    pub timings: PhaseTimings,
}

/// Runs one holder session for `client` (its certificate identity).
///
/// Any error after the peer is known to speak the protocol is also sent to it as a coarse
/// [`Message::Abort`] (or [`Message::Reject`] during negotiation).
pub fn run_holder<T: Read + Write, R: Rng + CryptoRng>(
    io: &mut FrameIo<T>,
    config: &HolderConfig,
    client: &str,
    rng: &mut R,
) -> Result<HolderReport> {
    let result = holder_session(io, config, client, rng);
    if let Err(e) = &result {
        let code = e.abort_code();
        if !matches!(
            e,
            ProtocolError::Io(_) | ProtocolError::Aborted(_) | ProtocolError::Rejected(_)
        ) {
            // Best effort: the peer may already be gone.
            let _ = io.send(&Message::Abort(code));
        }
    }
    result
}

enum Negotiated {
    Refuse(AbortCode, ProtocolError),
    Go(Box<(Accept, SessionShape, Option<PackedGallery>)>),
}

fn negotiate(hello: &Hello, config: &HolderConfig, client: &str) -> Result<Negotiated> {
    let p = &config.params;
    let gallery = &config.gallery;
    if !hello.param_sets.iter().any(|n| n == &p.name) {
        return Ok(Negotiated::Refuse(
            AbortCode::Parameters,
            ProtocolError::Refused(format!(
                "verifier accepts {:?}, holder offers `{}`",
                hello.param_sets, p.name
            )),
        ));
    }
    let d = gallery.dimension();
    if hello.dimension as usize != d {
        return Ok(Negotiated::Refuse(
            AbortCode::Dimension,
            ProtocolError::Refused(format!(
                "probe dimension {} but gallery dimension {d}",
                hello.dimension
            )),
        ));
    }
    let k = gallery.quantiser().share_bits();
    let (count, layout, single) = match &hello.mode {
        Mode::Identify => {
            if gallery.is_empty() {
                return Ok(Negotiated::Refuse(
                    AbortCode::UnknownIdentity,
                    ProtocolError::Refused("empty gallery".into()),
                ));
            }
            (padded_count(gallery.len()), *gallery.packed.layout(), None)
        }
        Mode::Verify { identity } => {
            let Some(row) = gallery.row(identity) else {
                return Ok(Negotiated::Refuse(
                    AbortCode::UnknownIdentity,
                    ProtocolError::Refused("claimed identity is not enrolled".into()),
                ));
            };
            let layout = Layout::new(p, d, best_group_size(p, d, 1, k)?)?;
            (
                1,
                layout,
                Some(PackedGallery::new(
                    layout,
                    row.to_vec(),
                    GalleryMode::OnTheFly,
                )?),
            )
        }
    };
    if let Err(e) = config.budget.consume(client) {
        return Ok(Negotiated::Refuse(AbortCode::Budget, e));
    }
    let shape = SessionShape::new(p, layout, k)?;
    let accept = Accept {
        params: p.name.clone(),
        dimension: d as u32,
        quant_scale: gallery.quantiser().scale(),
        threshold: config.threshold,
        padded_count: count as u32,
        group_size: layout.group_size() as u32,
        share_bits: k,
        switched_modulus_log: shape.switched_modulus_log,
        batch: config.batch as u32,
        round_blocks: config.round_blocks as u32,
    };
    Ok(Negotiated::Go(Box::new((accept, shape, single))))
}

fn holder_session<T: Read + Write, R: Rng + CryptoRng>(
    io: &mut FrameIo<T>,
    config: &HolderConfig,
    client: &str,
    rng: &mut R,
) -> Result<HolderReport> {
    let mut timings = PhaseTimings::default();
    let p = &config.params;
    let t = Instant::now();
    // ExpectHello
    let hello = match io.recv()? {
        Message::Hello(h) => h,
        other => return Err(unexpected("ExpectHello", &other)),
    };
    let (accept, shape, single) = match negotiate(&hello, config, client)? {
        Negotiated::Refuse(code, err) => {
            io.send(&Message::Reject(code))?;
            return Err(err);
        }
        Negotiated::Go(go) => *go,
    };
    io.send(&Message::Accept(accept.clone()))?;
    tracing::debug!(client, mode = ?hello.mode, scores = accept.padded_count, g = accept.group_size, "session accepted");
    timings.push("negotiate", t, io);

    // The OT base phase is query-independent: run it first.
    let t = Instant::now();
    let mut ot = IknpSender::setup(io, Delta::random(rng), rng)?;
    timings.push("ot-setup", t, io);

    // ExpectQuery: the public key then the m chunk ciphertexts, in order.
    let t = Instant::now();
    let m = shape.layout.chunk_count();
    let mut parts = Vec::with_capacity(m + 1);
    for i in 0..=m {
        match io.recv()? {
            Message::QueryPart { index, bytes } if index as usize == i => {
                parts.push(SeededCiphertext::decode(p, &bytes)?);
            }
            Message::QueryPart { index, .. } => {
                return Err(ProtocolError::Malformed(format!(
                    "query part {index} where {i} was due"
                )));
            }
            other => return Err(unexpected("ExpectQuery", &other)),
        }
    }
    let mut parts = parts.into_iter();
    let public_key = parts.next().expect("m + 1 parts");
    let query = Query {
        public_key,
        chunks: parts.collect(),
    };
    let gallery = single.as_ref().unwrap_or(&config.gallery.packed);
    let holder = HolderQuery::new(p, &shape, &query, gallery)?;
    drop(query);
    timings.push("query", t, io);

    // Rounds: the score blocks of round j go out, then the comparison of those scores, while a
    // second thread already computes round j+1. Each round's randomness comes from its own
    // ChaCha20 generator seeded from `rng` in round order, so the output does not depend on
    // scheduling.
    let t = Instant::now();
    let blocks = holder.block_count();
    let rounds: Vec<std::ops::Range<usize>> = (0..blocks)
        .step_by(config.round_blocks)
        .map(|s| s..(s + config.round_blocks).min(blocks))
        .collect();
    let seeds: Vec<[u8; 32]> = rounds.iter().map(|_| rng.random()).collect();
    let spec = ThresholdSpec {
        share_bits: shape.share_bits,
        threshold: config.threshold,
    };
    let reveal = Reveal {
        evaluator: hello.output.verifier(),
        garbler: hello.output.holder(),
    };
    let respond = |r: usize| {
        holder.respond(
            gallery,
            rounds[r].clone(),
            &mut ChaCha20Rng::from_seed(seeds[r]),
        )
    };
    let mut scores = 0;
    let outcome = std::thread::scope(|scope| -> Result<_> {
        let mut g = ThresholdOrGarbler::new(io, &mut ot, spec, config.batch)?;
        let mut pending = Some(scope.spawn(|| respond(0)));
        for r in 0..rounds.len() {
            let done = pending.take().expect("one round in flight").join();
            let blocks =
                done.map_err(|_| ProtocolError::Internal("HE worker panicked".into()))??;
            if r + 1 < rounds.len() {
                pending = Some(scope.spawn(move || respond(r + 1)));
            }
            let mut masks = Vec::new();
            for block in blocks {
                g.channel().send(&Message::Scores {
                    index: block.index as u32,
                    count: block.masks.len() as u32,
                    bytes: block.response.encode(),
                })?;
                masks.extend(block.masks);
            }
            scores += masks.len();
            g.feed(&masks)?;
        }
        Ok(g.finish(reveal)?)
    })?;
    timings.push("rounds", t, io);
    Ok(HolderReport {
        bit: outcome.result,
        scores,
        timings,
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
