//! `cargo run --release --example he-demo -- [--gallery-size N] [--dim D]`
//!
//! The HE half of privface on synthetic embeddings: a holder with a gallery of unit vectors,
//! a verifier with one genuine probe (a noisy copy of an enrolled face) and one impostor probe.
//! Prints the per-phase time and bytes, and checks every decrypted score against the
//! plaintext score; exits non-zero on any mismatch.

use std::process::ExitCode;
use std::time::Instant;

use privface::gc::reconstruct_score;
use privface::he::{
    Dimension, GalleryMode, HolderQuery, Layout, PackedGallery, ParameterSet, Quantiser,
    SessionShape, ShareBits, VectorCount, VerifierKey, best_group_size, plain,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn unit_vector(rng: &mut ChaCha20Rng, d: usize) -> Vec<f32> {
    // Sum of uniforms: close enough to Gaussian for a synthetic embedding.
    (0..d)
        .map(|_| (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>())
        .collect()
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} takes a number"))
        })
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let n = arg("--gallery-size", 10_000);
    let d = arg("--dim", 512);
    let params = ParameterSet::default_64();
    let mut rng = ChaCha20Rng::from_os_rng();
    let quantiser = Quantiser::for_dimension(d).expect("dimension");
    let k = quantiser.share_bits();

    let t = Instant::now();
    let embeddings: Vec<Vec<f32>> = (0..n).map(|_| unit_vector(&mut rng, d)).collect();
    let rows: Vec<i8> = embeddings
        .iter()
        .flat_map(|e| quantiser.quantise(e).expect("embedding"))
        .collect();
    let g =
        best_group_size(&params, Dimension(d), VectorCount(n), ShareBits(k)).expect("group size");
    let layout = Layout::new(&params, d, g).expect("layout");
    let shape = SessionShape::new(&params, layout, k).expect("shape");
    let gallery =
        PackedGallery::new(layout, rows.clone(), GalleryMode::Pretransformed).expect("gallery");
    println!(
        "holder: {n} identities, d = {d}, parameter set `{}` (N = {}, {}-bit security), g = {g}, k = {k}, packed in {:.2} s",
        params.name(),
        params.n(),
        params.security_bits(),
        t.elapsed().as_secs_f64()
    );

    let genuine: Vec<f32> = embeddings[n / 2]
        .iter()
        .map(|v| v + 0.3 * (rng.random::<f32>() - 0.5) / (d as f32).sqrt())
        .collect();
    let impostor = unit_vector(&mut rng, d);
    let threshold = quantiser.threshold(0.5);
    let mut ok = true;
    for (name, probe) in [("genuine", genuine), ("impostor", impostor)] {
        let x = quantiser.quantise(&probe).expect("probe");
        let t0 = Instant::now();
        let key = VerifierKey::generate(&params, &mut rng);
        let query = key.encrypt_query(&shape, &x, &mut rng).expect("query");
        let up = query.encode(&params).len();
        let t1 = Instant::now();
        let holder = HolderQuery::new(&params, &shape, &query, &gallery).expect("query check");
        let blocks = holder
            .respond(&gallery, 0..holder.block_count(), &mut rng)
            .expect("respond");
        let t2 = Instant::now();
        let mut down = 0;
        let mut scores = Vec::with_capacity(n);
        for block in &blocks {
            down += block.response.encode().len();
            let shares = key
                .decrypt_block(&shape, &block.response, block.masks.len())
                .expect("decrypt");
            scores.extend(
                shares
                    .iter()
                    .zip(&block.masks)
                    .map(|(&s, &r)| reconstruct_score(s, r, k)),
            );
        }
        let t3 = Instant::now();
        let expected: Vec<i64> = plain::scores(&x, &rows)
            .into_iter()
            .map(i64::from)
            .collect();
        let exact = scores == expected;
        ok &= exact;
        let best = expected.iter().max().copied().unwrap_or(0);
        println!(
            "{name:>8}: encrypt {:>7.1} ms | holder {:>7.1} ms | decrypt {:>6.1} ms | up {:>6.1} MB | down {:>6.1} KB | best score {best} vs τ {threshold} -> {} | scores exact: {exact}",
            (t1 - t0).as_secs_f64() * 1e3,
            (t2 - t1).as_secs_f64() * 1e3,
            (t3 - t2).as_secs_f64() * 1e3,
            up as f64 / 1e6,
            down as f64 / 1e3,
            if best >= threshold {
                "match"
            } else {
                "no match"
            },
        );
    }
    println!(
        "(the reconstruction above is for the demo only: in the protocol no party ever holds both shares)"
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
