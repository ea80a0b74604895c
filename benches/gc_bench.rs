//! `cargo run --release --example gc-bench -- [--quick] [--k K]`
//!
//! Garbling and evaluation AND gates per second on one core, IKNP OTs per second, and the full
//! two-party threshold-OR at share width k (default: the k sessions use at d = 512, 21) over an
//! in-memory channel (wall time, bytes per score, and
//! the ratio to a plain integer loop computing the same bit in the same run). The last line is
//! one JSON object.

#[path = "gc_common.rs"]
mod gc_common;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let k = match args.iter().position(|a| a == "--k") {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|k| (2..=32).contains(k))
            .expect("--k takes a share width from 2 to 32"),
        None => gc_common::session_share_bits(),
    };
    let (garble, eval) = gc_common::and_rates(1024, if quick { 2_000 } else { 10_000 });
    println!(
        "AND gates/s, one core: garble {:.1} M, evaluate {:.1} M",
        garble / 1e6,
        eval / 1e6
    );
    let ots = gc_common::iknp_rate(if quick { 1 << 20 } else { 1 << 23 });
    println!(
        "IKNP Δ-OT extension: {:.1} M OT/s (sender and receiver threads)",
        ots / 1e6
    );
    let sizes: &[usize] = if quick {
        &[100_000]
    } else {
        &[100_000, 1_000_000]
    };
    let mut last = (0.0, 0.0, 0.0, false, false);
    for &n in sizes {
        let r = gc_common::threshold_or_run(n, k);
        println!(
            "threshold-OR n = {n:>8}: {:.3} s, {:.0} B/score, plain loop {:.5} s (ratio {:.0}), bit {} (plain {})",
            r.0,
            r.1,
            r.2,
            r.0 / r.2,
            r.3,
            r.4
        );
        assert_eq!(r.3, r.4, "garbled bit differs from the plaintext bit");
        last = r;
    }
    let n = *sizes.last().expect("one size");
    let (ands, halves) = gc_common::gates_per_score(k);
    println!(
        "gates per score at k = {k}: {ands} AND + {halves} garbler half-gate (byte bound {:.0} B)",
        gc_common::byte_bound_per_score(k)
    );
    println!(
        "{{\"garble_and_per_s\":{garble:.0},\"eval_and_per_s\":{eval:.0},\"iknp_ot_per_s\":{ots:.0},\"threshold_or_bytes_per_score\":{:.1},\"threshold_or_ands_per_score\":{ands:.1},\"threshold_or_half_gates_per_score\":{halves:.1},\"threshold_or_s\":{:.3},\"plain_s\":{:.6},\"ratio_to_plain\":{:.0},\"k\":{k},\"n\":{n}}}",
        last.1,
        last.0,
        last.2,
        last.0 / last.2
    );
}
