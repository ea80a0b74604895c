//! What a verifier that deviates learns from the responses (spec §6.3, §12), and how often an
//! honest share is off by one (spec §6.6).
//!
//! The deviating verifier is built from the public API only: it encrypts plaintexts of its
//! choosing ([`VerifierKey::encrypt_plaintexts`]), rewrites bodies, and reads the raw phases
//! ([`VerifierKey::decrypt_phases`]). For each attack, over more than 10^5 returned scores, a
//! chi-square test at α = 0.001 must accept uniformity of the raw values, of the digits the
//! attacker decodes, and of their difference to the truth it wants (⟨x̂, ŷ⟩ mod 2^j), and its
//! guesses must be right no more often than chance. The same attacks against the construction
//! of revision 4 (Δ·r plus bounded flooding) must be rejected: the tests can fail.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::masking::{Masking, ResponseOptions};
use crate::*;
use privface_gc::reconstruct_score;

/// Dimension of the attacked sessions: small, so that 10^5 scores are quick; the leak of
/// revision 4 does not depend on d.
const D: usize = 8;
/// 13 blocks of N = 8192 scores: 106,496 returned values per attack.
const ROWS: usize = 13 * 8192;

/// Chi-square critical values at α = 0.001 for 2^j − 1 degrees of freedom, j = 1 … 8.
const CRITICAL: [f64; 8] = [
    10.828, 16.266, 24.322, 37.697, 61.098, 103.442, 181.993, 330.520,
];

struct Session {
    params: ParameterSet,
    shape: SessionShape,
    gallery: PackedGallery,
    rows: Vec<i8>,
    probe: Vec<i8>,
    key: VerifierKey,
}

impl Session {
    fn new(rows: usize, seed: u64) -> Self {
        Self::with_params(ParameterSet::default_64(), rows, seed)
    }

    fn with_params(params: ParameterSet, rows: usize, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let layout = Layout::new(&params, D, 1).unwrap();
        // Rows are arbitrary i8 vectors, not quantiser outputs: the worst-case width.
        let k = share_bits_for_dimension(D);
        let shape = SessionShape::new(&params, layout, k).unwrap();
        let rows: Vec<i8> = (0..rows * D)
            .map(|_| rng.random_range(-127..=127))
            .collect();
        let gallery =
            PackedGallery::new(layout, rows.clone(), GalleryMode::Pretransformed).unwrap();
        let probe = (0..D).map(|_| rng.random_range(-127..=127)).collect();
        let key = VerifierKey::generate(&params, &mut rng);
        Self {
            params,
            shape,
            gallery,
            rows,
            probe,
            key,
        }
    }

    fn log_q(&self) -> u32 {
        self.params.log_q()
    }

    /// The probe's chunk polynomials times 2^shift, behind a zero public-key plaintext.
    fn scaled_probe(&self, shift: u32) -> Vec<Vec<u128>> {
        let n = self.params.n();
        let layout = &self.shape.layout;
        let mut out = vec![vec![0u128; n]];
        let mut poly = vec![0i64; n];
        for c in 0..layout.chunk_count() {
            layout.probe_chunk_polynomial(&self.probe, c, &mut poly);
            out.push(
                poly.iter()
                    .map(|&v| self.params.reduce((v as i128 as u128).wrapping_shl(shift)))
                    .collect(),
            );
        }
        out
    }

    fn plain_scores(&self) -> Vec<i64> {
        plain::scores(&self.probe, &self.rows)
            .into_iter()
            .map(i64::from)
            .collect()
    }
}

#[derive(Clone, Copy, Debug)]
enum Attack {
    /// The probe encoded at Δ/2^j: the score's low j bits land below Δ.
    Scaled(u32),
    /// The probe encoded at 2^(q−1): the score's parity lands on the top bit.
    TopBit,
    /// Honest ciphertexts whose bodies are replaced by uniform values.
    RandomBodies,
    /// Honest ciphertexts with noise of magnitude 2^100 added to every body coefficient.
    HugeNoise,
    /// A public key that encrypts a uniform polynomial instead of zero.
    BadPublicKey,
}

/// What the attacker sees and what it wants to learn.
struct Observed {
    /// Raw returned body values, mod 2^b.
    raw: Vec<u64>,
    b: u32,
    /// The j-bit digits the attacker decodes from each phase.
    decoded: Vec<u32>,
    /// ⟨x̂, ŷ⟩ mod 2^j, which it wants.
    truth: Vec<u32>,
    j: u32,
}

fn run(session: &Session, attack: Attack, options: ResponseOptions, seed: u64) -> Observed {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (q, k) = (session.log_q(), session.shape.share_bits);
    let honest = || session.scaled_probe(q - k);
    // (plaintexts, bit position at scale Q of the attacker's lowest digit, digits)
    let (plaintexts, position, j) = match attack {
        Attack::Scaled(j) => (session.scaled_probe(q - k - j), q - k - j, j),
        Attack::TopBit => (session.scaled_probe(q - 1), q - 1, 1),
        Attack::RandomBodies | Attack::HugeNoise => (honest(), q - k, 8),
        Attack::BadPublicKey => {
            let mut p = honest();
            p[0] = (0..session.params.n())
                .map(|_| session.params.reduce(rng.random()))
                .collect();
            (p, q - k, 8)
        }
    };
    let mut query = session
        .key
        .encrypt_plaintexts(&session.shape, &plaintexts, &mut rng)
        .unwrap();
    for ct in std::iter::once(&mut query.public_key).chain(query.chunks.iter_mut()) {
        for c in ct.body.iter_mut() {
            match attack {
                Attack::RandomBodies => *c = session.params.reduce(rng.random()),
                Attack::HugeNoise => {
                    let e = rng.random_range(-(1i128 << 100)..=1i128 << 100);
                    *c = session.params.reduce(c.wrapping_add(e as u128));
                }
                _ => {}
            }
        }
    }
    let holder = HolderQuery::new(&session.params, &session.shape, &query, &session.gallery)
        .expect("the holder cannot tell a deviating query from an honest one");
    let blocks = holder
        .respond_with(&session.gallery, 0..holder.block_count(), &mut rng, options)
        .unwrap();
    let b = blocks[0].response.switched_modulus_log;
    let mut shape = session.shape.clone();
    shape.switched_modulus_log = b;
    let shift = position - (q - b);
    let digits = (1u64 << j) - 1;
    let (mut raw, mut decoded) = (Vec::new(), Vec::new());
    for block in &blocks {
        raw.extend_from_slice(&block.response.body);
        let phases = session
            .key
            .decrypt_phases(&shape, &block.response, block.masks.len())
            .unwrap();
        decoded.extend(phases.iter().map(|&w| {
            let rounded = if shift == 0 {
                w
            } else {
                w.wrapping_add(1 << (shift - 1)) >> shift
            };
            (rounded & digits) as u32
        }));
    }
    let truth = session
        .plain_scores()
        .iter()
        .map(|&s| (s as u64 & digits) as u32)
        .collect();
    Observed {
        raw,
        b,
        decoded,
        truth,
        j,
    }
}

/// Pearson's chi-square statistic of `values` against the uniform law on `bins` bins.
fn chi_square(values: impl Iterator<Item = u64>, bins: usize) -> f64 {
    let mut counts = vec![0u64; bins];
    let mut total = 0u64;
    for v in values {
        counts[v as usize] += 1;
        total += 1;
    }
    let expected = total as f64 / bins as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

/// The statistics of one attack: (name, statistic, critical value), and the guesser's
/// accuracy next to chance plus five standard deviations.
struct Verdict {
    tests: Vec<(&'static str, f64, f64)>,
    accuracy: f64,
    chance_limit: f64,
}

impl Verdict {
    fn of(o: &Observed) -> Self {
        let bins = 1usize << o.j;
        let mask = (1u64 << o.j) - 1;
        let tests = vec![
            (
                "raw top 8 bits",
                chi_square(o.raw.iter().map(|&v| v >> (o.b - 8)), 256),
                CRITICAL[7],
            ),
            (
                "raw low 8 bits",
                chi_square(o.raw.iter().map(|&v| v & 255), 256),
                CRITICAL[7],
            ),
            (
                "decoded digits",
                chi_square(o.decoded.iter().map(|&v| v as u64), bins),
                CRITICAL[o.j as usize - 1],
            ),
            (
                "decoded − truth",
                chi_square(
                    o.decoded
                        .iter()
                        .zip(&o.truth)
                        .map(|(&g, &t)| (g as u64).wrapping_sub(t as u64) & mask),
                    bins,
                ),
                CRITICAL[o.j as usize - 1],
            ),
        ];
        let n = o.decoded.len() as f64;
        let hits = o
            .decoded
            .iter()
            .zip(&o.truth)
            .filter(|(g, t)| g == t)
            .count();
        let p = 1.0 / bins as f64;
        Self {
            tests,
            accuracy: hits as f64 / n,
            chance_limit: p + 5.0 * (p * (1.0 - p) / n).sqrt(),
        }
    }

    fn uniform(&self) -> bool {
        self.tests.iter().all(|(_, stat, critical)| stat < critical)
            && self.accuracy < self.chance_limit
    }
}

const ATTACKS: [Attack; 12] = [
    Attack::Scaled(1),
    Attack::Scaled(2),
    Attack::Scaled(3),
    Attack::Scaled(4),
    Attack::Scaled(5),
    Attack::Scaled(6),
    Attack::Scaled(7),
    Attack::Scaled(8),
    Attack::TopBit,
    Attack::RandomBodies,
    Attack::HugeNoise,
    Attack::BadPublicKey,
];

#[test]
fn a_deviating_verifier_sees_only_uniform_values() {
    let session = Session::new(ROWS, 1);
    for (i, attack) in ATTACKS.into_iter().enumerate() {
        let observed = run(&session, attack, ResponseOptions::PROTOCOL, 100 + i as u64);
        assert!(observed.raw.len() >= 100_000);
        let verdict = Verdict::of(&observed);
        assert!(
            verdict.uniform(),
            "{attack:?}: {:?}, accuracy {} (chance limit {})",
            verdict.tests,
            verdict.accuracy,
            verdict.chance_limit
        );
    }
}

/// The same tests against revision 4 (Δ·r + TUniform(102) before switching, at the switch
/// target that revision chose for this shape, k + 14): a verifier that scales its probe down
/// reads the score's low bits, and the tests say so.
#[test]
fn the_flooding_construction_fails_the_same_tests() {
    // Revision 4 flooded with 102-bit noise, which only a 128-bit modulus holds.
    let session = Session::with_params(ParameterSet::q128(), ROWS, 1);
    let old = ResponseOptions {
        masking: Masking::Flooding { flooding_log2: 102 },
        switch_to: Some(session.shape.share_bits + 14),
    };
    for j in 1..=8 {
        let observed = run(&session, Attack::Scaled(j), old, 200 + j as u64);
        let verdict = Verdict::of(&observed);
        let (_, stat, critical) = verdict.tests[3];
        assert!(
            stat > critical && verdict.accuracy > verdict.chance_limit + 0.2,
            "j = {j}: the old construction passed ({stat} vs {critical}, accuracy {})",
            verdict.accuracy
        );
        if j == 4 {
            // The figure of the issue: the score mod 16 of nearly every row.
            assert!(verdict.accuracy > 0.99, "{}", verdict.accuracy);
        }
    }
}

/// An honest verifier's reconstructed scores over more than 10^6 rows: every one within one of
/// the plaintext score, and at the session's switch target (b = 44 for `default` at d = 8,
/// k = 19, where the bound is 2^−20.3 per score: 0.8 expected) at most 5 off (a Poisson count
/// of mean 0.8 exceeds 5 with probability 2·10^−4; the run is seeded). At a switch target eight
/// bits above k the rate is measurable and must lie below the bound of
/// [`ParameterSet::share_error_bound`], and above a quarter of it (the bound is not vacuous).
#[test]
fn honest_shares_are_off_by_one_as_rarely_as_the_spec_says() {
    let rows = 123 * 8192;
    let session = Session::new(rows, 3);
    let plain = session.plain_scores();
    let k = session.shape.share_bits;
    let measure = |options: ResponseOptions, blocks: usize, seed: u64| -> (usize, usize) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let query = session
            .key
            .encrypt_query(&session.shape, &session.probe, &mut rng)
            .unwrap();
        let holder =
            HolderQuery::new(&session.params, &session.shape, &query, &session.gallery).unwrap();
        let (mut off, mut total) = (0, 0);
        for block in holder
            .respond_with(&session.gallery, 0..blocks, &mut rng, options)
            .unwrap()
        {
            let mut shape = session.shape.clone();
            shape.switched_modulus_log = block.response.switched_modulus_log;
            let shares = session
                .key
                .decrypt_block(&shape, &block.response, block.masks.len())
                .unwrap();
            let start = block.index * session.shape.layout.block_capacity();
            for (t, (&s, &r)) in shares.iter().zip(&block.masks).enumerate() {
                let diff = reconstruct_score(s, r, k) - plain[start + t];
                assert!(diff.abs() <= 1, "share off by {diff}");
                off += usize::from(diff != 0);
                total += 1;
            }
        }
        (off, total)
    };
    let (off, total) = measure(ResponseOptions::PROTOCOL, 123, 5);
    let b = session.shape.switched_modulus_log;
    eprintln!("b = {b}: {off} of {total} shares off by one");
    assert!(total >= 1_000_000);
    assert_eq!(b, 44, "the switch target the doc comment assumes");
    assert!(off <= 5, "{off} of {total} shares off by one at b = {b}");

    let low = k + 8;
    let options = ResponseOptions {
        masking: Masking::Uniform,
        switch_to: Some(low),
    };
    let (off, total) = measure(options, 13, 6);
    let rate = off as f64 / total as f64;
    let bound = session.params.share_error_bound(D, k, low);
    eprintln!("b = {low}: {off} of {total} shares off by one ({rate:.4}); bound {bound:.4}");
    assert!(
        rate <= bound && rate >= bound / 4.0,
        "rate {rate} against the bound {bound} at b = {low}"
    );
}
