//! # privface-testkit — the fixture every integration test builds its gallery with
//!
//! A seeded synthetic gallery of random embeddings, packed for a parameter set, with the
//! holder's configuration around it and the plaintext rule its sessions must reproduce. The
//! batch and round sizes default to the ones the holder binary and the demo use
//! ([`DEFAULT_BATCH`], [`DEFAULT_ROUND_BLOCKS`]); tests that need many rounds set smaller ones.

use std::sync::Arc;

use privface_he::{GalleryMode, ParameterSet, Quantiser};
use privface_protocol::{
    DEFAULT_BATCH, DEFAULT_ROUND_BLOCKS, HolderConfig, HolderGallery, QueryBudget, VerifierConfig,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// The cosine threshold of every fixture.
pub const THRESHOLD_COSINE: f32 = 0.8;

/// A random embedding with components uniform in [−1/2, 1/2).
pub fn embedding(rng: &mut impl Rng, d: usize) -> Vec<f32> {
    (0..d).map(|_| rng.random::<f32>() - 0.5).collect()
}

/// An embedding no fixture enrolled (drawn from its own seed).
pub fn impostor(seed: u64, d: usize) -> Vec<f32> {
    embedding(&mut ChaCha20Rng::seed_from_u64(seed ^ 0x1a9_05e5), d)
}

/// A gallery of `n` identities `id0 … id{n−1}` and the holder configuration serving it.
pub struct Fixture {
    /// The holder's configuration (threshold cos ≥ [`THRESHOLD_COSINE`]).
    pub config: Arc<HolderConfig>,
    /// The enrolled embeddings, in enrolment order.
    pub embeddings: Vec<Vec<f32>>,
    /// The gallery's quantiser.
    pub quantiser: Quantiser,
}

/// How to build a [`Fixture`].
#[derive(Clone, Debug)]
pub struct FixtureBuilder {
    params: ParameterSet,
    dimension: usize,
    count: usize,
    seed: u64,
    batch: usize,
    round_blocks: usize,
    budget: Option<u32>,
    dropped_bits: u32,
}

impl FixtureBuilder {
    /// The generator seed of the embeddings (default: the gallery size).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Scores per comparison batch.
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch;
        self
    }

    /// Score blocks per round.
    pub fn round_blocks(mut self, round_blocks: usize) -> Self {
        self.round_blocks = round_blocks;
        self
    }

    /// Low score bits the holder's comparison drops (0 by default: exact).
    pub fn dropped_bits(mut self, dropped_bits: u32) -> Self {
        self.dropped_bits = dropped_bits;
        self
    }

    /// Queries allowed per client (unlimited by default).
    pub fn budget(mut self, budget: Option<u32>) -> Self {
        self.budget = budget;
        self
    }

    /// Generates, quantises and packs the gallery.
    ///
    /// # Panics
    /// On a configuration the holder refuses (a fixture is test code).
    pub fn build(self) -> Fixture {
        let mut rng = ChaCha20Rng::seed_from_u64(self.seed);
        let quantiser = Quantiser::for_dimension(self.dimension).expect("fixture dimension");
        let embeddings: Vec<Vec<f32>> = (0..self.count)
            .map(|_| embedding(&mut rng, self.dimension))
            .collect();
        let entries = embeddings.iter().enumerate().map(|(i, e)| {
            let row = quantiser.quantise(e).expect("random embeddings quantise");
            (format!("id{i}"), row)
        });
        let gallery = HolderGallery::new(
            &self.params,
            self.dimension,
            entries,
            GalleryMode::Pretransformed,
        )
        .expect("fixture gallery packs");
        let mut config = HolderConfig::new(
            self.params.clone(),
            Arc::new(gallery),
            quantiser.threshold(THRESHOLD_COSINE),
            Arc::new(QueryBudget::new(self.budget)),
        );
        config.allow_insecure = self.params.is_insecure();
        config.batch = self.batch;
        config.round_blocks = self.round_blocks;
        config.dropped_bits = self.dropped_bits;
        config.validate().expect("fixture configuration is valid");
        Fixture {
            config: Arc::new(config),
            embeddings,
            quantiser,
        }
    }
}

impl Fixture {
    /// A builder for `count` identities of dimension `dimension` under `params`.
    pub fn builder(params: ParameterSet, dimension: usize, count: usize) -> FixtureBuilder {
        FixtureBuilder {
            params,
            dimension,
            count,
            seed: count as u64,
            batch: DEFAULT_BATCH,
            round_blocks: DEFAULT_ROUND_BLOCKS,
            budget: None,
            dropped_bits: 0,
        }
    }

    /// A fresh capture of identity `i`: its embedding with a small perturbation, far above
    /// the threshold against its own row.
    pub fn genuine(&self, i: usize) -> Vec<f32> {
        self.embeddings[i]
            .iter()
            .enumerate()
            .map(|(j, v)| v + if j % 7 == 0 { 0.01 } else { 0.0 })
            .collect()
    }

    /// The verifier policy that accepts this fixture's parameter set.
    pub fn verifier_config(&self) -> VerifierConfig {
        VerifierConfig {
            param_sets: vec![self.config.params.name().to_owned()],
            allow_insecure: self.config.params.is_insecure(),
            ..VerifierConfig::default()
        }
    }

    /// The integer rule on the quantised vectors: does any of `rows` score at least τ?
    pub fn plain_decision(&self, probe: &[f32], rows: &[usize]) -> bool {
        let x = self.quantiser.quantise(probe).expect("probe quantises");
        rows.iter().any(|&i| {
            let y = self.quantiser.quantise(&self.embeddings[i]).expect("row");
            let score: i64 = x.iter().zip(&y).map(|(&a, &b)| a as i64 * b as i64).sum();
            score >= self.config.threshold
        })
    }
}
