//! Criterion benches of OT and garbling. `cargo bench --bench gc`
//!
//! Groups: AND gates garbled / evaluated (one core), IKNP OTs, and the two-party threshold-OR
//! over 10^5 scores at the session's k (21 at d = 512); then one run at 10^6 scores. Each
//! threshold-OR line printed gives the wall time, the bytes per score and the ratio to a plain integer loop computing the
//! same bit in the same run.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

#[path = "gc_common.rs"]
mod gc_common;

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("gc");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let (lanes, rounds) = (1024usize, 200usize);
    g.throughput(Throughput::Elements((lanes * rounds) as u64));
    g.bench_function("and_garble_then_evaluate", |b| {
        b.iter(|| gc_common::and_rates(lanes, rounds))
    });
    let ots = 1usize << 20;
    g.throughput(Throughput::Elements(ots as u64));
    g.bench_function("iknp_extend", |b| b.iter(|| gc_common::iknp_rate(ots)));
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("threshold_or_1e5", |b| {
        b.iter(|| gc_common::threshold_or_run(100_000, gc_common::session_share_bits()))
    });
    g.finish();

    let (garble, eval) = gc_common::and_rates(1024, 5_000);
    println!(
        "AND gates/s, one core: garble {:.1} M, evaluate {:.1} M (targets 20 M, 60 M)",
        garble / 1e6,
        eval / 1e6
    );
    println!(
        "IKNP: {:.1} M OT/s (target 8 M)",
        gc_common::iknp_rate(1 << 22) / 1e6
    );
    let k = gc_common::session_share_bits();
    let (ands, halves) = gc_common::gates_per_score(k);
    println!("threshold-OR gates per score at k = {k}: {ands} AND + {halves} half-gate");
    for n in [100_000usize, 1_000_000] {
        let (secs, bytes, plain, bit, plain_bit) = gc_common::threshold_or_run(n, k);
        assert_eq!(bit, plain_bit);
        println!(
            "threshold-OR n = {n}: {secs:.3} s, {bytes:.0} B/score (bound {:.0}), plain {plain:.6} s, ratio {:.0}",
            gc_common::byte_bound_per_score(k),
            secs / plain
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
