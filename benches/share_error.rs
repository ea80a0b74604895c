//! `cargo run --release --example share-error -- [--scores N] [--params default|q128]`
//!
//! Measures how often an honest share is off by one (spec §6.6) over at least N honest scores
//! (10^7 by default): quantised random embeddings at d = 512, g = 1 (the layout with the most
//! HE noise), a pretransformed gallery answered to many probes, every reconstructed score
//! compared with the plaintext integer. Prints the count, the observed rate with its 95 %
//! upper confidence bound, the bound 2^−λ_r the parameter set promises and the analytic
//! estimate E|e|/D for these rows; the last line is one JSON object.

use std::time::Instant;

use privface::gc::reconstruct_score;
use privface::he::{
    GalleryMode, HolderQuery, Layout, PackedGallery, ParameterSet, Quantiser, SessionShape,
    VerifierKey, plain,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

const D: usize = 512;
/// Gallery rows per query: 20 blocks of N = 8192.
const ROWS: usize = 20 * 8192;

fn quantised(q: &Quantiser, rng: &mut ChaCha20Rng, n: usize) -> Vec<i8> {
    (0..n)
        .flat_map(|_| {
            let e: Vec<f32> = (0..D).map(|_| rng.random::<f32>() - 0.5).collect();
            q.quantise(&e).expect("finite, non-zero")
        })
        .collect()
}

fn arg(args: &[String], name: &str) -> Option<String> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let target: usize =
        arg(&args, "--scores").map_or(10_000_000, |s| s.parse().expect("--scores N"));
    let params = ParameterSet::by_name(&arg(&args, "--params").unwrap_or("default".into()))
        .expect("--params names a parameter set");
    let q = Quantiser::for_dimension(D).expect("d = 512");
    // k of the demo's threshold (cosine 0.4): 21 at d = 512.
    let k = q.session_share_bits(q.threshold(0.4), 0);
    let layout = Layout::new(&params, D, 1).expect("layout");
    let shape = SessionShape::new(&params, layout, k).expect("shape");
    let b = shape.switched_modulus_log;
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let rows = quantised(&q, &mut rng, ROWS);
    let gallery =
        PackedGallery::new(layout, rows.clone(), GalleryMode::Pretransformed).expect("pack");
    // The honest noise these rows give (spec §6.5 with Σ‖ŷ‖² in place of the 127² bound).
    let eta_var = (2f64.powi(2 * params.noise_bound_log2() as i32 + 1) + 1.0) / 6.0;
    let n = params.n() as f64;
    let max_sq = rows
        .chunks_exact(D)
        .map(|r| r.iter().map(|&c| (c as i64).pow(2)).sum::<i64>())
        .max()
        .unwrap_or(0) as f64;
    let he_sd =
        (eta_var * (n * max_sq + 2.0 * n)).sqrt() * 2f64.powi(b as i32 - params.log_q() as i32);
    let round_var = if b < params.log_q() {
        (n + 1.0) / 12.0
    } else {
        0.0
    };
    let sd = (he_sd * he_sd + round_var).sqrt();
    let estimate = sd * (2.0 / std::f64::consts::PI).sqrt() / 2f64.powi((b - k) as i32);

    let started = Instant::now();
    let (mut scores, mut off, mut wide, mut queries) = (0usize, 0usize, 0usize, 0usize);
    while scores < target {
        let probe = quantised(&q, &mut rng, 1);
        let key = VerifierKey::generate(&params, &mut rng);
        let query = key.encrypt_query(&shape, &probe, &mut rng).expect("query");
        let holder = HolderQuery::new(&params, &shape, &query, &gallery).expect("holder");
        let want = plain::scores(&probe, &rows);
        let mut at = 0;
        for block in holder
            .respond(&gallery, 0..holder.block_count(), &mut rng)
            .expect("respond")
        {
            let count = block.masks.len();
            let shares = key
                .decrypt_block(&shape, &block.response, count)
                .expect("decrypt");
            for (s, r) in shares.iter().zip(&block.masks) {
                let delta = reconstruct_score(*s, *r, k) - i64::from(want[at]);
                off += usize::from(delta != 0);
                wide += usize::from(delta.abs() > 1);
                at += 1;
            }
        }
        scores += at;
        queries += 1;
    }
    let rate = off as f64 / scores as f64;
    // Poisson 95 % upper bound on the rate: (off + 1.96·√off + 1.92) / n, a simple form of the
    // score interval that stays meaningful at off = 0 (3/n).
    let upper = if off == 0 {
        3.0 / scores as f64
    } else {
        (off as f64 + 1.96 * (off as f64).sqrt() + 1.92) / scores as f64
    };
    let bound = 2f64.powi(-(params.share_error_log2() as i32));
    println!(
        "{}: d = {D}, g = 1, k = {k}, b = {b}: {off} of {scores} honest scores off by one ({wide} by more), \
         rate {rate:.2e} (95 % upper {upper:.2e}); bound 2^-{} = {bound:.2e}; estimate E|e|/D = {estimate:.2e}; \
         {queries} queries in {:.0} s",
        params.name(),
        params.share_error_log2(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "{{\"params\":\"{}\",\"d\":{D},\"g\":1,\"k\":{k},\"b\":{b},\"scores\":{scores},\"off_by_one\":{off},\"off_by_more\":{wide},\"rate\":{rate:.3e},\"rate_upper_95\":{upper:.3e},\"bound\":{bound:.3e},\"estimate\":{estimate:.3e}}}",
        params.name()
    );
    assert_eq!(wide, 0, "a share off by more than one breaks spec §6.6");
    assert!(rate <= bound, "observed rate above the bound");
}
