//! Criterion benches of the HE step: one response block against the plaintext dot products of
//! the same vectors, measured in the same run; the last line printed is their ratio.
//!
//! `cargo bench --bench he`

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use privface::he::{
    GalleryMode, HolderQuery, Layout, PackedGallery, ParameterSet, Quantiser, SessionShape,
    VerifierKey, plain,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

struct Setup {
    gallery: PackedGallery,
    holder: HolderQuery,
    rows: Vec<i8>,
    probe: Vec<i8>,
}

fn setup(d: usize, g: usize) -> Setup {
    let params = ParameterSet::default_64();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let layout = Layout::new(&params, d, g).expect("layout");
    // Eight blocks, so the grouped kernel reads the query once for all of them.
    let n = 8 * layout.block_capacity();
    let rows: Vec<i8> = (0..n * d).map(|_| rng.random_range(-127..=127)).collect();
    let probe: Vec<i8> = (0..d).map(|_| rng.random_range(-127..=127)).collect();
    let shape = SessionShape::new(&params, layout, session_share_bits(d)).expect("shape");
    let gallery =
        PackedGallery::new(layout, rows.clone(), GalleryMode::Pretransformed).expect("gallery");
    let key = VerifierKey::generate(&params, &mut rng);
    let query = key.encrypt_query(&shape, &probe, &mut rng).expect("query");
    let holder = HolderQuery::new(&params, &shape, &query, &gallery).expect("holder");
    Setup {
        gallery,
        holder,
        rows,
        probe,
    }
}

fn one_core<T>(f: impl FnOnce() -> T + Send) -> T
where
    T: Send,
{
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool")
        .install(f)
}

fn bench_block(c: &mut Criterion) {
    for (d, g) in [(512usize, 1usize), (512, 2)] {
        let s = setup(d, g);
        let n = s.gallery.len() as u64;
        let mut group = c.benchmark_group(format!("he_block_d{d}_g{g}"));
        group.throughput(Throughput::Elements(n));
        group
            .sample_size(10)
            .measurement_time(Duration::from_secs(10));
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        group.bench_function("holder_respond_1core", |b| {
            b.iter(|| {
                one_core(|| {
                    black_box(
                        s.holder
                            .respond(&s.gallery, 0..8, &mut rng)
                            .expect("respond"),
                    )
                })
            })
        });
        group.bench_function("plain_dot", |b| {
            b.iter(|| black_box(plain::scores(black_box(&s.probe), &s.rows)))
        });
        group.finish();

        // The ratio, from medians measured here in the same run.
        let median = |f: &mut dyn FnMut()| {
            let mut t: Vec<f64> = (0..7)
                .map(|_| {
                    let start = Instant::now();
                    f();
                    start.elapsed().as_secs_f64()
                })
                .collect();
            t.sort_by(f64::total_cmp);
            t[3]
        };
        let he = median(&mut || {
            one_core(|| {
                black_box(
                    s.holder
                        .respond(&s.gallery, 0..8, &mut rng)
                        .expect("respond"),
                )
            });
        });
        let pl = median(&mut || {
            black_box(plain::scores(&s.probe, &s.rows));
        });
        println!(
            "he_block_d{d}_g{g}: HE {:.3} us/vector, plaintext {:.4} us/vector, ratio {:.1}",
            he * 1e6 / n as f64,
            pl * 1e6 / n as f64,
            he / pl
        );
    }
}

criterion_group!(benches, bench_block);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}

/// The share width of an exact session at dimension d with the demo's threshold, cosine 0.4
/// (spec §4).
fn session_share_bits(d: usize) -> u32 {
    let q = Quantiser::for_dimension(d).expect("benchmarked dimensions have a quantiser");
    q.session_share_bits(q.threshold(0.4), 0)
}
