//! The accumulation kernel of the holder's response: Σ_c query_c ⊙ gallery_c + pk ⊙ u, per
//! residue stream, in the NTT domain.

use tfhe_ntt::fastdiv::Div64;

use super::{LANES, PRIMES};

/// The accumulation kernel: for each block of a group,
/// `out[s] = Σ_c query[c][s] ⊙ gallery[c][prime(s)] + pk[s] ⊙ u[prime(s)]  (mod p_prime(s))`
/// for `S` streams (part × digit × prime, prime(s) = s mod `P`) over `P` primes.
///
/// Products are accumulated lazily, without a reduction per product: with AVX-512 IFMA the
/// low and high 52-bit halves of each product go into two 64-bit accumulators (one
/// `vpmadd52luq` and one `vpmadd52huq` per eight products; at most 4095 terms keep both below
/// 2^64), elsewhere into u128 accumulators; each output is reduced once.
///
/// Layouts: `query` `[tile][chunk][S][LANES]`, `pk` `[tile][S][LANES]`, each block's
/// `gallery` `[tile][chunk][P][LANES]` and `u` `[tile][P][LANES]`, output `[S][N]`.
/// Tiles are the outer loop, so one query tile (chunks·S·64 bytes) stays in cache for every
/// block of the group.
pub struct Accumulate<'a, const S: usize, const P: usize> {
    /// Query residues.
    pub query: &'a [u64],
    /// Public-key residues (the re-randomisation chunk).
    pub pk: &'a [u64],
    /// Chunks per query (m).
    pub chunks: usize,
    /// Per block: (gallery residues, u residues, output).
    pub blocks: Vec<(&'a [u64], &'a [u64], &'a mut [u64])>,
}

/// Most terms one lazy accumulation may sum (the chunks plus the re-randomiser).
pub const MAX_TERMS: usize = 4095;

impl<const S: usize, const P: usize> Accumulate<'_, S, P> {
    /// Runs the accumulation with the best instruction set this CPU has.
    pub fn run(self) {
        assert!(
            self.chunks < MAX_TERMS,
            "{} chunks exceed the lazy accumulation",
            self.chunks
        );
        assert!(
            (1..=PRIMES.len()).contains(&P) && S.is_multiple_of(P),
            "{S} streams over {P} primes"
        );
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = ifma::V4Ifma::try_new() {
            return ifma::run(simd, self);
        }
        self.run_portable();
    }

    /// The same sums without SIMD (the reference the vector kernel is tested against).
    pub fn run_portable(mut self) {
        let (m, tiles) = (self.chunks, self.pk.len() / (S * LANES));
        let n = tiles * LANES;
        let divs = PRIMES.map(Div64::new);
        for tile in 0..tiles {
            let qt = &self.query[tile * m * S * LANES..(tile + 1) * m * S * LANES];
            let pkt = &self.pk[tile * S * LANES..(tile + 1) * S * LANES];
            for (gallery, u, out) in self.blocks.iter_mut() {
                let yt = &gallery[tile * m * P * LANES..(tile + 1) * m * P * LANES];
                let ut = &u[tile * P * LANES..(tile + 1) * P * LANES];
                let mut acc = [[0u128; LANES]; S];
                let terms = yt.chunks_exact(P * LANES).zip(qt.chunks_exact(S * LANES));
                for (y, q) in terms.chain(std::iter::once((ut, pkt))) {
                    for (s, acc) in acc.iter_mut().enumerate() {
                        let y = &y[(s % P) * LANES..][..LANES];
                        for l in 0..LANES {
                            acc[l] += q[s * LANES + l] as u128 * y[l] as u128;
                        }
                    }
                }
                for (s, acc) in acc.iter().enumerate() {
                    for l in 0..LANES {
                        out[s * n + tile * LANES + l] = Div64::rem_u128(acc[l], divs[s % P]);
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod ifma {
    use pulp::bytemuck::cast;
    use pulp::u64x8;
    use tfhe_ntt::fastdiv::Div64;

    use super::{Accumulate, LANES, PRIMES};

    /// The gallery is prefetched twice per line: into L2 (`_MM_HINT_T1`) `FAR` chunks ahead, so
    /// that DRAM's latency is covered, then into L1 (`_MM_HINT_T0`) `NEAR` chunks ahead. Measured
    /// at d = 512, 32 blocks, one core, three rounds of each in one run: T0 alone at 24 chunks
    /// 0.64–0.69 µs per vector; T0 16 + T1 128 0.59–0.65; T0 24 + T1 256 0.54–0.59;
    /// T0 32 + T1 256 0.535–0.552.
    const NEAR: usize = 32;
    /// See `NEAR`.
    const FAR: usize = 256;

    pulp::simd_type! {
        /// x86-64-v4 with AVX-512 IFMA (52-bit integer fused multiply-add).
        pub struct V4Ifma {
            pub sse: "sse",
            pub sse2: "sse2",
            pub fxsr: "fxsr",
            pub sse3: "sse3",
            pub ssse3: "ssse3",
            pub sse4_1: "sse4.1",
            pub sse4_2: "sse4.2",
            pub popcnt: "popcnt",
            pub avx: "avx",
            pub avx2: "avx2",
            pub bmi1: "bmi1",
            pub bmi2: "bmi2",
            pub fma: "fma",
            pub lzcnt: "lzcnt",
            pub avx512f: "avx512f",
            pub avx512bw: "avx512bw",
            pub avx512cd: "avx512cd",
            pub avx512dq: "avx512dq",
            pub avx512vl: "avx512vl",
            pub avx512ifma: "avx512ifma",
        }
    }

    #[inline(always)]
    fn load(values: &[u64], at: usize) -> u64x8 {
        let a: [u64; LANES] = values[at..at + LANES].try_into().expect("lane tile");
        cast(a)
    }

    /// One term of every stream: (lo, hi) += q ⊙ y in 52-bit halves.
    #[inline(always)]
    fn term<const S: usize, const P: usize>(
        ifma: pulp::core_arch::x86::Avx512ifma,
        (mut lo, mut hi): ([u64x8; S], [u64x8; S]),
        y: &[u64],
        q: &[u64],
    ) -> ([u64x8; S], [u64x8; S]) {
        let ys: [u64x8; P] = std::array::from_fn(|i| load(y, i * LANES));
        for s in 0..S {
            let (qv, yv) = (cast(load(q, s * LANES)), cast(ys[s % P]));
            lo[s] = cast(ifma._mm512_madd52lo_epu64(cast(lo[s]), qv, yv));
            hi[s] = cast(ifma._mm512_madd52hi_epu64(cast(hi[s]), qv, yv));
        }
        (lo, hi)
    }

    /// Joins the 52-bit halves of one tile's sums and reduces each stream by its prime.
    #[inline(always)]
    fn reduce<const S: usize, const P: usize>(
        lo: &[u64x8; S],
        hi: &[u64x8; S],
        out: &mut [u64],
        n: usize,
        tile: usize,
        divs: &[Div64; 2],
    ) {
        for s in 0..S {
            let (l, h): ([u64; LANES], [u64; LANES]) = (cast(lo[s]), cast(hi[s]));
            let dst = &mut out[s * n + tile * LANES..][..LANES];
            for k in 0..LANES {
                let x = ((h[k] as u128) << 52) + l[k] as u128;
                dst[k] = Div64::rem_u128(x, divs[s % P]);
            }
        }
    }

    pub(super) fn run<const S: usize, const P: usize>(simd: V4Ifma, job: Accumulate<'_, S, P>) {
        simd.vectorize(Kernel { simd, job })
    }

    /// The kernel as a named type: its `call` is `#[inline(always)]`, so it is compiled inside
    /// pulp's `#[target_feature]` wrapper and the IFMA intrinsics inline.
    struct Kernel<'a, const S: usize, const P: usize> {
        simd: V4Ifma,
        job: Accumulate<'a, S, P>,
    }

    impl<const S: usize, const P: usize> pulp::NullaryFnOnce for Kernel<'_, S, P> {
        type Output = ();

        #[inline(always)]
        fn call(self) {
            let Kernel { simd, mut job } = self;
            let (m, tiles) = (job.chunks, job.pk.len() / (S * LANES));
            let n = tiles * LANES;
            let divs = PRIMES.map(Div64::new);
            let ifma = simd.avx512ifma;
            let zero: u64x8 = cast([0u64; LANES]);
            // Where each block's gallery starts, to find the run after the current one.
            let starts: Vec<*const u64> = job.blocks.iter().map(|b| b.0.as_ptr()).collect();
            let run = m * P * LANES;
            for tile in 0..tiles {
                let qt = &job.query[tile * m * S * LANES..(tile + 1) * m * S * LANES];
                let pkt = &job.pk[tile * S * LANES..(tile + 1) * S * LANES];
                for (j, (gallery, u, out)) in job.blocks.iter_mut().enumerate() {
                    let yt = &gallery[tile * run..(tile + 1) * run];
                    let ut = &u[tile * P * LANES..(tile + 1) * P * LANES];
                    // The run read after this one: the next block's at this tile, or the first
                    // block's at the next tile (past the last, an address never read).
                    let next = match starts.get(j + 1) {
                        Some(start) => start.wrapping_add(tile * run),
                        None => starts[0].wrapping_add((tile + 1) * run),
                    };
                    let mut lo = [zero; S];
                    let mut hi = [zero; S];
                    let terms = yt.chunks_exact(P * LANES).zip(qt.chunks_exact(S * LANES));
                    // The line `dist` chunks ahead of chunk c: in this run, or near its end
                    // the next run's (a prefetch never faults, whatever the address).
                    let ahead = |c: usize, dist: usize| {
                        if c + dist < m {
                            yt.as_ptr().wrapping_add((c + dist) * P * LANES)
                        } else {
                            next.wrapping_add((c + dist - m) * P * LANES)
                        }
                    };
                    for (c, (y, q)) in terms.enumerate() {
                        // The gallery streams from memory once per query: its lines are asked
                        // for ahead while these products are computed.
                        let (near, far) = (ahead(c, NEAR), ahead(c, FAR));
                        for line in 0..P {
                            let at = |p: *const u64| p.wrapping_add(line * LANES) as *const i8;
                            simd.sse
                                ._mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(at(far));
                            simd.sse
                                ._mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at(near));
                        }
                        (lo, hi) = term::<S, P>(ifma, (lo, hi), y, q);
                    }
                    (lo, hi) = term::<S, P>(ifma, (lo, hi), ut, pkt);
                    reduce::<S, P>(&lo, &hi, out, n, tile, &divs);
                }
            }
        }
    }
}
