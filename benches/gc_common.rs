//! Shared pieces of the garbling benches: the measured quantities.

use std::time::Instant;

use privface::gc::{
    Evaluator, Fancy, Garbler, Reveal, ThresholdSpec, evaluate_threshold_or, garble_threshold_or,
};
use privface::ot::{Block, BufferChannel, Channel, Delta, IknpReceiver, IknpSender, MemoryChannel};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// The share width of an exact session at d = 512 with the demo's threshold, cosine 0.4
/// (spec §4), which the benches measure by default.
pub fn session_share_bits() -> u32 {
    let q = privface::he::Quantiser::for_dimension(512).expect("d = 512 has a quantiser");
    q.session_share_bits(q.threshold(0.4), 0)
}

/// Wire bytes per score at width k: tables 32·(k−2) + 16 (half-gate) + 32 (accumulator OR)
/// and the extension 16·k + k/8 bytes (spec §10), before the amortised OR tree and the
/// extension's rounding to 128 OTs.
pub fn byte_bound_per_score(k: u32) -> f64 {
    (32 * (k - 2) + 16 + 32 + 16 * k) as f64 + k as f64 / 8.0
}

/// AND gates per second, garbling and evaluating, one core: `rounds` calls of `lanes` ANDs.
pub fn and_rates(lanes: usize, rounds: usize) -> (f64, f64) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let delta = Delta::random(&mut rng);
    let a: Vec<Block> = (0..lanes).map(|_| Block::random(&mut rng)).collect();
    let b: Vec<Block> = (0..lanes).map(|_| Block::random(&mut rng)).collect();
    // The garbler's output is replayed to the evaluator through one buffer channel.
    let t = Instant::now();
    let mut g = Garbler::new(BufferChannel::new(), delta);
    for _ in 0..rounds {
        std::hint::black_box(g.and(&a, &b).expect("garble"));
    }
    let tables = g.channel().take_outgoing();
    let garble = t.elapsed().as_secs_f64();
    let t = Instant::now();
    {
        let mut e = Evaluator::new(BufferChannel::new());
        e.channel().put(tables);
        for _ in 0..rounds {
            std::hint::black_box(e.and(&a, &b).expect("evaluate"));
        }
    }
    let eval = t.elapsed().as_secs_f64();
    let n = (lanes * rounds) as f64;
    (n / garble, n / eval)
}

/// IKNP OTs per second (both parties, two threads, in-memory channel).
pub fn iknp_rate(count: usize) -> f64 {
    let (mut a, mut b) = MemoryChannel::pair(64);
    let sender = std::thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut s = IknpSender::setup(&mut a, Delta::random(&mut rng), &mut rng).expect("setup");
        let t = Instant::now();
        std::hint::black_box(s.extend(&mut a, count).expect("extend"));
        t.elapsed().as_secs_f64()
    });
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut r = IknpReceiver::setup(&mut b, &mut rng).expect("setup");
    let t = Instant::now();
    std::hint::black_box(r.extend(&mut b, count, &mut rng).expect("extend"));
    let recv = t.elapsed().as_secs_f64();
    let send = sender.join().expect("sender");
    count as f64 / recv.max(send)
}

/// The full two-party threshold-OR over `n` random scores: (seconds, bytes per score,
/// plaintext seconds for the same bit, bit, plaintext bit).
pub fn threshold_or_run(n: usize, k: u32) -> (f64, f64, f64, bool, bool) {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mask = (1u32 << k) - 1;
    let masks: Vec<u32> = (0..n).map(|_| rng.random::<u32>() & mask).collect();
    let shares: Vec<u32> = (0..n).map(|_| rng.random::<u32>() & mask).collect();
    let spec = ThresholdSpec {
        share_bits: k,
        threshold: (1 << (k - 1)) - 2,
    };
    let (mut a, mut b) = MemoryChannel::pair(64);
    let g_masks = masks.clone();
    let t = Instant::now();
    let garbler = std::thread::spawn(move || {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let mut ot = IknpSender::setup(&mut a, Delta::random(&mut rng), &mut rng).expect("setup");
        garble_threshold_or(&mut a, &mut ot, &spec, &g_masks, 4096, Reveal::EVALUATOR)
            .expect("garble");
        a.bytes_sent()
    });
    let mut ot = IknpReceiver::setup(&mut b, &mut rng).expect("setup");
    let bit = evaluate_threshold_or(
        &mut b,
        &mut ot,
        &spec,
        &shares,
        4096,
        Reveal::EVALUATOR,
        &mut rng,
    )
    .expect("evaluate")
    .expect("the evaluator learns the bit");
    let g_sent = garbler.join().expect("garbler");
    let secs = t.elapsed().as_secs_f64();
    let bytes = (g_sent + b.bytes_sent()) as f64 / n as f64;
    let t = Instant::now();
    let plain_bit = std::hint::black_box(
        shares
            .iter()
            .zip(&masks)
            .any(|(&s, &r)| spec.decide(std::hint::black_box(s), r)),
    );
    // Force a full scan: the any() above may stop early, so also scan everything.
    let count = shares
        .iter()
        .zip(&masks)
        .filter(|&(&s, &r)| spec.decide(s, r))
        .count();
    std::hint::black_box(count);
    let plain = t.elapsed().as_secs_f64();
    (secs, bytes, plain, bit, plain_bit)
}

/// The counter's (AND gates, garbler half-gates) per score at this k and τ, OR included.
pub fn gates_per_score(k: u32) -> (f64, f64) {
    let mut c = privface::gc::Counter::default();
    let spec = ThresholdSpec {
        share_bits: k,
        threshold: (1 << (k - 1)) - 2,
    };
    let lanes = 64;
    let m = privface::gc::circuit::threshold_batch(
        &mut c,
        &spec,
        &vec![vec![(); lanes]; k as usize],
        &vec![(); k as usize],
    )
    .expect("count");
    let zero = c.constant(false, lanes);
    privface::gc::circuit::or(&mut c, &zero, &m).expect("count");
    (
        c.ands as f64 / lanes as f64,
        c.half_gates as f64 / lanes as f64,
    )
}
