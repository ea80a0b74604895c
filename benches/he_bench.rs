//! `cargo run --release --example he-bench -- [--quick] [--params default|q128] [--n VECTORS]`
//!
//! Holder online cost of the HE step per gallery vector, on one core and on all cores, next to
//! the plaintext i8 dot-product floor measured in the same run; bytes up per query, bytes down
//! per vector, memory per gallery vector; for both parameter sets (or the one named), both
//! gallery modes at g = 1 and the pretransformed mode at other g. Gallery rows are quantised
//! random embeddings (the rows a holder serves). The last line is one JSON object: the first
//! set, d = 512, g = 1, pretransformed.

use std::hint::black_box;
use std::time::Instant;

use privface::he::{
    GalleryMode, HolderQuery, Layout, PackedGallery, ParameterSet, Quantiser, SessionShape,
    VerifierKey, plain,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

struct Row {
    set: String,
    mode: GalleryMode,
    d: usize,
    g: usize,
    n: usize,
    he_us_1core: f64,
    /// One core, the per-query transform excluded.
    response_us_1core: f64,
    he_us_all: f64,
    query_ms_1core: f64,
    plain_us: f64,
    bytes_up: usize,
    bytes_down_per_vector: f64,
    memory_per_vector: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `n` quantised embeddings of dimension d with independent uniform components.
fn quantised(rng: &mut ChaCha20Rng, n: usize, d: usize) -> Vec<i8> {
    let q = Quantiser::for_dimension(d).expect("benchmarked dimensions have a quantiser");
    (0..n)
        .flat_map(|_| {
            let e: Vec<f32> = (0..d).map(|_| rng.random::<f32>() - 0.5).collect();
            q.quantise(&e).expect("finite, non-zero")
        })
        .collect()
}

fn measure(
    params: &ParameterSet,
    mode: GalleryMode,
    (d, g): (usize, usize),
    n: usize,
    reps: usize,
) -> Row {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let rows = quantised(&mut rng, n, d);
    let probe = quantised(&mut rng, 1, d);
    let layout = Layout::new(params, d, g).expect("layout");
    let shape = SessionShape::new(params, layout, session_share_bits(d)).expect("shape");
    let gallery = PackedGallery::new(layout, rows.clone(), mode).expect("gallery");
    let key = VerifierKey::generate(params, &mut rng);
    let query = key.encrypt_query(&shape, &probe, &mut rng).expect("query");
    let bytes_up = query.encode(params).len();

    let online = |threads: usize, rng: &mut ChaCha20Rng| -> (f64, f64, usize) {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        pool.install(|| {
            let t0 = Instant::now();
            let holder = HolderQuery::new(params, &shape, &query, &gallery).expect("holder");
            let t1 = Instant::now();
            let blocks = holder
                .respond(&gallery, 0..holder.block_count(), rng)
                .expect("respond");
            let total = t0.elapsed().as_secs_f64();
            let down: usize = blocks.iter().map(|b| b.response.encode().len()).sum();
            black_box(&blocks);
            (total, (t1 - t0).as_secs_f64(), down)
        })
    };
    let all = rayon::current_num_threads();
    let mut one_core = Vec::new();
    let mut response_part = Vec::new();
    let mut query_part = Vec::new();
    let mut all_cores = Vec::new();
    let mut down = 0;
    for _ in 0..reps {
        let (t, q, dn) = online(1, &mut rng);
        one_core.push(t);
        response_part.push(t - q);
        query_part.push(q);
        down = dn;
        all_cores.push(online(all, &mut rng).0);
    }
    let plain_runs: Vec<f64> = (0..reps.max(3))
        .map(|_| {
            let t = Instant::now();
            black_box(plain::scores(black_box(&probe), black_box(&rows)));
            t.elapsed().as_secs_f64()
        })
        .collect();
    Row {
        set: params.name().to_owned(),
        mode,
        d,
        g,
        n,
        he_us_1core: median(one_core) * 1e6 / n as f64,
        response_us_1core: median(response_part) * 1e6 / n as f64,
        he_us_all: median(all_cores) * 1e6 / n as f64,
        query_ms_1core: median(query_part) * 1e3,
        plain_us: median(plain_runs) * 1e6 / n as f64,
        bytes_up,
        bytes_down_per_vector: down as f64 / n as f64,
        memory_per_vector: gallery.bytes_per_vector(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let sets: Vec<ParameterSet> = match args.iter().position(|a| a == "--params") {
        Some(i) => vec![
            ParameterSet::by_name(args.get(i + 1).map_or("", String::as_str))
                .expect("--params names a parameter set"),
        ],
        None => vec![ParameterSet::default_64(), ParameterSet::q128()],
    };
    // 2^18 vectors by default: 32 blocks at g = 1, so one pass over the query transform serves
    // as many blocks as the holder groups (a smaller gallery pays the query's reads over fewer
    // vectors: at 2^16, 8 blocks, the response is about 20 % dearer per vector).
    let (default_n, reps) = if quick { (16_384, 1) } else { (1 << 18, 3) };
    let n = match args.iter().position(|a| a == "--n") {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .expect("--n takes a number of gallery vectors"),
        None => default_n,
    };
    println!(
        "privface HE bench: N = {}, n = {n} gallery vectors, {} threads, medians of {reps}",
        sets[0].n(),
        rayon::current_num_threads()
    );
    println!(
        "{:>7} {:>6} {:>4} {:>4} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>12} {:>10} {:>10}",
        "set",
        "mode",
        "d",
        "g",
        "us/v 1core",
        "resp us/v",
        "us/v all",
        "query ms",
        "plain us/v",
        "ratio",
        "bytes up",
        "B down/v",
        "mem B/v"
    );
    let mut rows = Vec::new();
    for params in &sets {
        for d in [512usize, 128] {
            let shapes = [(GalleryMode::Pretransformed, 1), (GalleryMode::OnTheFly, 1)]
                .into_iter()
                .chain([2usize, 4, 8, d].map(|g| (GalleryMode::Pretransformed, g)));
            for (mode, g) in shapes {
                let r = measure(params, mode, (d, g), n, reps);
                println!(
                    "{:>7} {:>6} {:>4} {:>4} {:>10.3} {:>10.3} {:>10.3} {:>10.1} {:>10.4} {:>8.1} {:>12} {:>10.1} {:>10.0}",
                    r.set,
                    match r.mode {
                        GalleryMode::Pretransformed => "memory",
                        GalleryMode::OnTheFly => "stream",
                    },
                    r.d,
                    r.g,
                    r.he_us_1core,
                    r.response_us_1core,
                    r.he_us_all,
                    r.query_ms_1core,
                    r.plain_us,
                    r.he_us_1core / r.plain_us,
                    r.bytes_up,
                    r.bytes_down_per_vector,
                    r.memory_per_vector
                );
                rows.push(r);
            }
        }
    }
    let r = &rows[0];
    println!(
        "{{\"params\":\"{}\",\"he_us_per_vector_1core\":{:.4},\"response_us_per_vector_1core\":{:.4},\"ratio_response_to_plain\":{:.2},\"he_us_per_vector_all_cores\":{:.4},\"plain_us_per_vector\":{:.5},\"ratio_he_to_plain\":{:.2},\"bytes_up_per_query\":{},\"bytes_down_per_vector\":{:.2},\"memory_bytes_per_vector\":{:.0},\"query_transform_ms\":{:.1},\"d\":{},\"g\":{},\"n\":{}}}",
        r.set,
        r.he_us_1core,
        r.response_us_1core,
        r.response_us_1core / r.plain_us,
        r.he_us_all,
        r.plain_us,
        r.he_us_1core / r.plain_us,
        r.bytes_up,
        r.bytes_down_per_vector,
        r.memory_per_vector,
        r.query_ms_1core,
        r.d,
        r.g,
        r.n
    );
}

/// The share width of an exact session at dimension d with the demo's threshold, cosine 0.4
/// (spec §4).
fn session_share_bits(d: usize) -> u32 {
    let q = Quantiser::for_dimension(d).expect("benchmarked dimensions have a quantiser");
    q.session_share_bits(q.threshold(0.4), 0)
}
