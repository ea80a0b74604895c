//! The comparison rounds (spec §9.3, QueryPart … Finish): the HE of round j+1 runs on a
//! worker thread while round j is garbled, batch by batch. The worker answers its round a few
//! blocks at a time and stops between them once the session is dropped (it failed, or its
//! connection was cut off), so a dead session does not keep the cores busy.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use privface_he::{HolderBlock, HolderQuery, Query, SeededCiphertext};
use privface_ot::IknpSender;
use rand::{CryptoRng, Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::negotiate::Terms;
use super::{HolderSession, HolderState, Step};
use crate::comparison::Garbling;
use crate::error::{ProtocolError, Result};
use crate::messages::Message;

type RoundResult = Result<Vec<HolderBlock>>;

/// Blocks a worker answers between two looks at its session's cancel flag: enough to keep
/// every core busy, few enough that a cancelled round stops within milliseconds.
const CANCEL_CHECK_BLOCKS: usize = 16;

static WORKERS_RUNNING: AtomicUsize = AtomicUsize::new(0);
static BLOCKS_ANSWERED: AtomicU64 = AtomicU64::new(0);

/// What the HE workers of all holder sessions in this process are doing, for an operator's
/// metrics and for tests that check a failed session leaves nothing running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeWorkers {
    /// Worker threads alive now.
    pub running: usize,
    /// Score blocks answered by workers since the process started.
    pub blocks_answered: u64,
}

/// The current [`HeWorkers`] figures.
pub fn he_workers() -> HeWorkers {
    HeWorkers {
        running: WORKERS_RUNNING.load(Ordering::SeqCst),
        blocks_answered: BLOCKS_ANSWERED.load(Ordering::SeqCst),
    }
}

/// Counts a worker thread as running for as long as it lives.
struct Running;

impl Running {
    fn start() -> Self {
        WORKERS_RUNNING.fetch_add(1, Ordering::SeqCst);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        WORKERS_RUNNING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The comparison in progress.
pub(super) struct Comparing {
    pub(super) terms: Terms,
    pub(super) query: Arc<HolderQuery>,
    pub(super) garbler: Garbling,
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
    /// Set when the comparison is dropped; the worker stops at its next look.
    pub(super) cancel: Arc<AtomicBool>,
    pub(super) scores: usize,
}

impl Drop for Comparing {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
    }
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
        let garbler = Garbling::new(
            &terms.circuit,
            ot,
            terms.accept.batch as usize,
            &terms.biases,
        )?;
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
            cancel: Arc::new(AtomicBool::new(false)),
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
    let cancel = c.cancel.clone();
    let running = Running::start();
    std::thread::spawn(move || {
        let _running = running;
        // One generator across the slices: the output is that of a single call over `range`.
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut blocks = Vec::with_capacity(range.len());
        for start in range.clone().step_by(CANCEL_CHECK_BLOCKS) {
            if cancel.load(Ordering::SeqCst) {
                return Err(ProtocolError::Internal("round cancelled".into()));
            }
            let slice = start..(start + CANCEL_CHECK_BLOCKS).min(range.end);
            let answered = query.respond(answering.packed(), slice, &mut rng)?;
            BLOCKS_ANSWERED.fetch_add(answered.len() as u64, Ordering::SeqCst);
            blocks.extend(answered);
        }
        Ok(blocks)
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use privface_he::{GalleryMode, ParameterSet, Quantiser};
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::{HolderConfig, HolderGallery, Mode, OutputTo, QueryBudget};
    use crate::{VerifierConfig, VerifierSession};

    /// A toy holder session driven until it compares: round 0 answered, round 1 in flight.
    fn comparing(round_blocks: usize) -> Box<Comparing> {
        let (params, d) = (ParameterSet::toy(), 16);
        let q = Quantiser::for_dimension(d).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut row = || -> Vec<f32> { (0..d).map(|_| rng.random_range(-1.0..1.0)).collect() };
        let probe = row();
        let rows: Vec<_> = (0..60_000)
            .map(|i| (format!("id{i}"), q.quantise(&row()).unwrap()))
            .collect();
        let gallery = HolderGallery::new(&params, d, rows, GalleryMode::Pretransformed).unwrap();
        let budget = Arc::new(QueryBudget::new(None));
        let mut config = HolderConfig::new(params, Arc::new(gallery), q.threshold(0.9), budget);
        config.allow_insecure = true;
        config.round_blocks = round_blocks;
        let mut holder =
            HolderSession::new(&config, "client", ChaCha20Rng::seed_from_u64(1)).unwrap();
        let vconfig = VerifierConfig {
            param_sets: vec!["toy".into()],
            allow_insecure: true,
            ..VerifierConfig::default()
        };
        let (mode, output) = (Mode::Identify, OutputTo::Verifier);
        let mut verifier =
            VerifierSession::new(vconfig, &probe, mode, output, ChaCha20Rng::seed_from_u64(2))
                .unwrap();
        let mut to_holder = verifier.start().unwrap();
        loop {
            let mut to_verifier = Vec::new();
            for m in to_holder.drain(..) {
                to_verifier.extend(holder.receive(m).unwrap());
            }
            if let HolderState::ExpectOtExtension(_) = holder.state {
                match std::mem::replace(&mut holder.state, HolderState::Failed) {
                    HolderState::ExpectOtExtension(c) => return c,
                    _ => unreachable!(),
                }
            }
            for m in to_verifier {
                to_holder.extend(verifier.receive(m).unwrap());
            }
        }
    }

    #[test]
    fn dropping_the_comparison_raises_its_cancel_flag() {
        let c = comparing(1);
        assert!(c.rounds.len() >= 3, "{} rounds", c.rounds.len());
        let cancel = c.cancel.clone();
        assert!(!cancel.load(Ordering::SeqCst));
        drop(c);
        assert!(cancel.load(Ordering::SeqCst));
    }

    #[test]
    fn a_cancelled_worker_answers_no_block_and_a_live_one_its_whole_round() {
        let mut c = comparing(2 * CANCEL_CHECK_BLOCKS);
        assert!(c.rounds.len() >= 3, "{} rounds", c.rounds.len());
        let answered = |h: JoinHandle<RoundResult>| h.join().unwrap().map(|b| b.len());
        let round_1 = c.next.take().unwrap();
        assert_eq!(answered(round_1).unwrap(), c.rounds[1].0.len());
        c.cancel.store(true, Ordering::SeqCst);
        let err = answered(spawn_round(&c, 2)).unwrap_err();
        assert!(err.to_string().contains("cancelled"), "{err}");
    }

    #[test]
    fn a_round_answered_in_slices_equals_one_answered_at_once() {
        let c = comparing(2 * CANCEL_CHECK_BLOCKS + 3);
        let (range, seed) = c.rounds[1].clone();
        assert!(range.len() > CANCEL_CHECK_BLOCKS, "{range:?}");
        let mut c = c;
        let sliced = c.next.take().unwrap().join().unwrap().unwrap();
        let whole = c
            .query
            .respond(
                c.terms.answering.packed(),
                range,
                &mut ChaCha20Rng::from_seed(seed),
            )
            .unwrap();
        assert_eq!(sliced.len(), whole.len());
        for (a, b) in sliced.iter().zip(&whole) {
            assert_eq!((a.index, &a.masks), (b.index, &b.masks));
            assert_eq!(a.response.encode(), b.response.encode());
        }
    }
}
