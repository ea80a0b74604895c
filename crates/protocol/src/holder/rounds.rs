//! The comparison rounds (spec §9.3, QueryPart … Finish): the HE of round j+1 runs on a
//! worker thread while round j is garbled, batch by batch.

use std::ops::Range;
use std::sync::Arc;
use std::thread::JoinHandle;

use privface_gc::{ThresholdOrGarbler, ThresholdSpec};
use privface_he::{HolderBlock, HolderQuery, Query, SeededCiphertext};
use privface_ot::{BufferChannel, IknpSender};
use rand::{CryptoRng, Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::negotiate::Terms;
use super::{HolderSession, HolderState, Step};
use crate::error::{ProtocolError, Result};
use crate::messages::Message;

type RoundResult = Result<Vec<HolderBlock>>;

/// The comparison in progress.
pub(super) struct Comparing {
    pub(super) terms: Terms,
    pub(super) query: Arc<HolderQuery>,
    pub(super) garbler: ThresholdOrGarbler<BufferChannel, IknpSender>,
    /// Block ranges of the rounds and the seed of each round's generator.
    pub(super) rounds: Vec<(Range<usize>, [u8; 32])>,
    /// Index of the round being compared.
    pub(super) round: usize,
    /// The current round's masks and how many of them are garbled.
    pub(super) masks: Vec<u32>,
    pub(super) garbled: usize,
    /// Next batch index due.
    pub(super) batch: u32,
    /// The HE of the next round, running while this one is garbled.
    pub(super) next: Option<JoinHandle<RoundResult>>,
    pub(super) scores: usize,
}

impl<R: Rng + CryptoRng> HolderSession<R> {
    /// The whole query is in: transform it, answer the first round, start the comparison.
    pub(super) fn start_comparison(
        &mut self,
        terms: Terms,
        ot: IknpSender,
        parts: Vec<SeededCiphertext>,
    ) -> Step {
        let mut parts = parts.into_iter();
        let public_key = parts
            .next()
            .ok_or_else(|| ProtocolError::Internal("query without its public key".into()))?;
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
            threshold: privface_he::coarse_threshold(self.threshold, terms.shape.dropped_bits),
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
        let out = next_round(&mut c)?;
        Ok((HolderState::ExpectOtExtension(c), out))
    }
}

/// Collects round `c.round` from its worker, starts the one after, and returns the round's
/// score blocks.
pub(super) fn next_round(c: &mut Comparing) -> Result<Vec<Message>> {
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

fn spawn_round(c: &Comparing, round: usize) -> JoinHandle<RoundResult> {
    let (query, answering) = (c.query.clone(), c.terms.answering.clone());
    let (range, seed) = c.rounds[round].clone();
    std::thread::spawn(move || {
        Ok(query.respond(answering.packed(), range, &mut ChaCha20Rng::from_seed(seed))?)
    })
}
