//! Exact negacyclic products mod 2^q in a residue number system, on tfhe's NTT.
//!
//! A polynomial mod 2^q is split into `L = q/64` signed 64-bit limbs. Each limb polynomial and
//! each small operand (gallery chunk, key, re-randomiser) is reduced modulo the two primes
//! [`PRIMES`] and transformed with tfhe-ntt's negacyclic NTT. Products are accumulated in the
//! NTT domain with exact modular arithmetic, inverted once per limb and prime, and the two
//! residues of each coefficient are joined by the Chinese remainder theorem into the exact
//! integer, which [`ParameterSet::product_bound_log2`](crate::params::ParameterSet) bounds well
//! inside (−P/2, P/2), P = p0·p1 ≈ 2^100.8. Exactness is by construction: no floating point.
//!
//! Layouts: a transformed polynomial mod 2^q is `[limb][prime][N]` (u64 residues); a
//! transformed small polynomial is `[prime][N]`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tfhe_ntt::fastdiv::Div64;
use tfhe_ntt::prime64::Plan;

use crate::bits::modulus_mask;

/// The two NTT primes: the largest primes below 1 501 199 875 790 166 (the bound under which
/// tfhe-ntt uses its 52-bit IFMA reduction) that are ≡ 1 mod 2^16, so every ring degree up to
/// 2^15 has the 2N-th roots of unity a negacyclic NTT needs.
pub const PRIMES: [u64; 2] = [1_501_199_875_637_249, 1_501_199_874_981_889];

/// log2(p0·p1).
pub const CRT_MODULUS_LOG2: f64 = 100.83;

/// p0^(−1) mod p1.
const P0_INV_MOD_P1: u64 = 1_050_837_621_838_099;

/// Number of signed 64-bit limbs of a value mod 2^q.
pub fn limb_count(log_q: u32) -> usize {
    log_q.div_ceil(64) as usize
}

/// The negacyclic NTT plans of one ring degree, for both primes.
pub struct RnsNtt {
    n: usize,
    plans: [Plan; 2],
    divs: [Div64; 2],
}

impl RnsNtt {
    /// The shared plans for ring degree `n` (built once per process).
    pub fn get(n: usize) -> Arc<RnsNtt> {
        static PLANS: OnceLock<Mutex<HashMap<usize, Arc<RnsNtt>>>> = OnceLock::new();
        let map = PLANS.get_or_init(Default::default);
        let mut map = map.lock().expect("NTT plan cache poisoned");
        map.entry(n)
            .or_insert_with(|| {
                let plan = |p| Plan::try_new(n, p).expect("PRIMES are NTT-friendly for N ≤ 2^15");
                Arc::new(RnsNtt {
                    n,
                    plans: [plan(PRIMES[0]), plan(PRIMES[1])],
                    divs: [Div64::new(PRIMES[0]), Div64::new(PRIMES[1])],
                })
            })
            .clone()
    }

    /// Ring degree N.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The plan for prime `i`.
    pub fn plan(&self, i: usize) -> &Plan {
        &self.plans[i]
    }

    /// Transforms a polynomial with signed coefficients into `[prime][N]` layout.
    pub fn forward_signed(&self, coeffs: impl Fn(usize) -> i64, out: &mut [u64]) {
        let n = self.n;
        assert_eq!(out.len(), 2 * n, "two residue polynomials");
        for (i, residues) in out.chunks_exact_mut(n).enumerate() {
            let div = self.divs[i];
            for (j, r) in residues.iter_mut().enumerate() {
                *r = reduce_signed(coeffs(j), div);
            }
            self.plans[i].fwd(residues);
        }
    }

    /// Transforms a polynomial mod 2^q into `[limb][prime][N]` layout.
    pub fn forward_limbs(&self, poly: &[u128], log_q: u32, out: &mut [u64]) {
        let n = self.n;
        let limbs = limb_count(log_q);
        assert_eq!(poly.len(), n, "polynomial size");
        assert_eq!(out.len(), limbs * 2 * n, "limb residue layout");
        for (l, limb_out) in out.chunks_exact_mut(2 * n).enumerate() {
            self.forward_signed(|j| signed_limb(poly[j], l), limb_out);
        }
    }

    /// Inverts accumulated `[limb][prime][N]` residues, joins them by CRT and recombines the
    /// limbs mod 2^q.
    pub fn inverse_limbs(&self, acc: &mut [u64], log_q: u32, out: &mut [u128]) {
        let n = self.n;
        let limbs = limb_count(log_q);
        assert_eq!(acc.len(), limbs * 2 * n, "limb residue layout");
        assert_eq!(out.len(), n, "polynomial size");
        for (i, residues) in acc.chunks_exact_mut(n).enumerate() {
            let plan = &self.plans[i % 2];
            plan.inv(residues);
            plan.normalize(residues);
        }
        out.fill(0);
        for (l, limb) in acc.chunks_exact(2 * n).enumerate() {
            let (r0, r1) = limb.split_at(n);
            for (o, (&a, &b)) in out.iter_mut().zip(r0.iter().zip(r1)) {
                let x = crt(a, b);
                *o = o.wrapping_add((x as u128).wrapping_shl(64 * l as u32));
            }
        }
        let mask = modulus_mask(log_q);
        out.iter_mut().for_each(|o| *o &= mask);
    }

    /// Exact negacyclic product mod 2^q of `big` and a small polynomial given by its
    /// transform (`[prime][N]`): used for a·s (encryption) and mask·s (decryption).
    pub fn mul_by_small(&self, big: &[u128], log_q: u32, small: &[u64]) -> Vec<u128> {
        let n = self.n;
        let limbs = limb_count(log_q);
        let mut f = vec![0u64; limbs * 2 * n];
        self.forward_limbs(big, log_q, &mut f);
        let mut acc = vec![0u64; limbs * 2 * n];
        for (s, (a, b)) in acc.chunks_exact_mut(n).zip(f.chunks_exact(n)).enumerate() {
            let prime = s % 2;
            self.plans[prime].mul_accumulate(a, b, &small[prime * n..(prime + 1) * n]);
        }
        let mut out = vec![0u128; n];
        self.inverse_limbs(&mut acc, log_q, &mut out);
        out
    }
}

/// x mod p for a signed x (multiply-based remainder; small values take a shortcut).
#[inline(always)]
fn reduce_signed(x: i64, div: Div64) -> u64 {
    let p = div.divisor();
    let magnitude = x.unsigned_abs();
    let r = if magnitude < p {
        magnitude
    } else {
        Div64::rem(magnitude, div)
    };
    if x < 0 && r != 0 { p - r } else { r }
}

/// Limb `l` of x: `x = Σ_l limb_l·2^(64·l) (mod 2^128)` with limb_l the signed reading of
/// 64-bit digits after borrowing, so every limb lies in [−2^63, 2^63).
pub fn signed_limb(x: u128, l: usize) -> i64 {
    match l {
        0 => x as u64 as i64,
        1 => {
            let low = x as u64 as i64;
            // (x − low) / 2^64, the borrow of a negative low limb carried into the high one.
            (x.wrapping_sub(low as i128 as u128) >> 64) as u64 as i64
        }
        _ => unreachable!("at most two limbs (q ≤ 128)"),
    }
}

/// The integer in (−P/2, P/2) with residues (a mod p0, b mod p1), P = p0·p1.
pub fn crt(a: u64, b: u64) -> i128 {
    const DIV1: Div64 = Div64::new(PRIMES[1]);
    let (p0, p1) = (PRIMES[0], PRIMES[1]);
    // t = (b − a)·p0^(−1) mod p1, then x = a + p0·t ∈ [0, P).
    let diff = (b + p1 - Div64::rem(a, DIV1)) as u128;
    let t = Div64::rem_u128(diff * P0_INV_MOD_P1 as u128, DIV1);
    let x = a as u128 + p0 as u128 * t as u128;
    let big_p = p0 as u128 * p1 as u128;
    if x > big_p / 2 {
        x as i128 - big_p as i128
    } else {
        x as i128
    }
}

/// Coefficients per tile of the accumulation layouts (one 512-bit register of u64).
pub const LANES: usize = 8;

/// Writes `rows` polynomials of `[row][N]` residues (row r of chunk c) into the tile-major
/// layout `[tile][chunk][row][LANES]` used by [`Accumulate`].
pub fn scatter_tiles(src: &[u64], n: usize, chunk: usize, chunks: usize, dest: &mut [u64]) {
    let rows = src.len() / n;
    assert_eq!(dest.len(), chunks * rows * n, "tile layout length");
    for tile in 0..n / LANES {
        for r in 0..rows {
            let at = ((tile * chunks + chunk) * rows + r) * LANES;
            dest[at..at + LANES].copy_from_slice(&src[r * n + tile * LANES..][..LANES]);
        }
    }
}

/// The accumulation kernel: for each block of a group,
/// `out[s] = Σ_c query[c][s] ⊙ gallery[c][prime(s)] + pk[s] ⊙ u[prime(s)]  (mod p_prime(s))`
/// for `S` streams (part × limb × prime, prime(s) = s mod 2).
///
/// Products are accumulated lazily, without a reduction per product: with AVX-512 IFMA the
/// low and high 52-bit halves of each product go into two 64-bit accumulators (one
/// `vpmadd52luq` and one `vpmadd52huq` per eight products; at most 4095 terms keep both below
/// 2^64), elsewhere into u128 accumulators; each output is reduced once.
///
/// Layouts: `query` `[tile][chunk][S][LANES]`, `pk` `[tile][S][LANES]`, each block's
/// `gallery` `[tile][chunk][2][LANES]` and `u` `[tile][2][LANES]`, output `[S][N]`.
/// Tiles are the outer loop, so one query tile (chunks·S·64 bytes) stays in cache for every
/// block of the group.
pub struct Accumulate<'a, const S: usize> {
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

impl<const S: usize> Accumulate<'_, S> {
    /// Runs the accumulation with the best instruction set this CPU has.
    pub fn run(self) {
        assert!(
            self.chunks < MAX_TERMS,
            "{} chunks exceed the lazy accumulation",
            self.chunks
        );
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = ifma::V4Ifma::try_new() {
            return ifma::run(simd, self);
        }
        self.run_portable();
    }

    fn run_portable(mut self) {
        let (m, tiles) = (self.chunks, self.pk.len() / (S * LANES));
        let n = tiles * LANES;
        let divs = [Div64::new(PRIMES[0]), Div64::new(PRIMES[1])];
        for tile in 0..tiles {
            let qt = &self.query[tile * m * S * LANES..(tile + 1) * m * S * LANES];
            let pkt = &self.pk[tile * S * LANES..(tile + 1) * S * LANES];
            for (gallery, u, out) in self.blocks.iter_mut() {
                let yt = &gallery[tile * m * 2 * LANES..(tile + 1) * m * 2 * LANES];
                let ut = &u[tile * 2 * LANES..(tile + 1) * 2 * LANES];
                let mut acc = [[0u128; LANES]; S];
                let terms = yt.chunks_exact(2 * LANES).zip(qt.chunks_exact(S * LANES));
                for (y, q) in terms.chain(std::iter::once((ut, pkt))) {
                    for s in 0..S {
                        let y = &y[(s % 2) * LANES..][..LANES];
                        for l in 0..LANES {
                            acc[s][l] += q[s * LANES + l] as u128 * y[l] as u128;
                        }
                    }
                }
                for s in 0..S {
                    for l in 0..LANES {
                        out[s * n + tile * LANES + l] = Div64::rem_u128(acc[s][l], divs[s % 2]);
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

    pub(super) fn run<const S: usize>(simd: V4Ifma, job: Accumulate<'_, S>) {
        simd.vectorize(Kernel { simd, job })
    }

    /// The kernel as a named type: its `call` is `#[inline(always)]`, so it is compiled inside
    /// pulp's `#[target_feature]` wrapper and the IFMA intrinsics inline.
    struct Kernel<'a, const S: usize> {
        simd: V4Ifma,
        job: Accumulate<'a, S>,
    }

    impl<const S: usize> pulp::NullaryFnOnce for Kernel<'_, S> {
        type Output = ();

        #[inline(always)]
        fn call(self) {
            let Kernel { simd, mut job } = self;
            {
                let (m, tiles) = (job.chunks, job.pk.len() / (S * LANES));
                let n = tiles * LANES;
                let divs = [Div64::new(PRIMES[0]), Div64::new(PRIMES[1])];
                let ifma = simd.avx512ifma;
                let zero: u64x8 = cast([0u64; LANES]);
                for tile in 0..tiles {
                    let qt = &job.query[tile * m * S * LANES..(tile + 1) * m * S * LANES];
                    let pkt = &job.pk[tile * S * LANES..(tile + 1) * S * LANES];
                    for (gallery, u, out) in job.blocks.iter_mut() {
                        let yt = &gallery[tile * m * 2 * LANES..(tile + 1) * m * 2 * LANES];
                        let ut = &u[tile * 2 * LANES..(tile + 1) * 2 * LANES];
                        let mut lo = [zero; S];
                        let mut hi = [zero; S];
                        let terms = yt.chunks_exact(2 * LANES).zip(qt.chunks_exact(S * LANES));
                        for (y, q) in terms.chain(std::iter::once((ut, pkt))) {
                            let ys = [load(y, 0), load(y, LANES)];
                            for s in 0..S {
                                let qv = load(q, s * LANES);
                                let yv = ys[s % 2];
                                lo[s] = cast(ifma._mm512_madd52lo_epu64(
                                    cast(lo[s]),
                                    cast(qv),
                                    cast(yv),
                                ));
                                hi[s] = cast(ifma._mm512_madd52hi_epu64(
                                    cast(hi[s]),
                                    cast(qv),
                                    cast(yv),
                                ));
                            }
                        }
                        for s in 0..S {
                            let (l, h): ([u64; LANES], [u64; LANES]) = (cast(lo[s]), cast(hi[s]));
                            let dst = &mut out[s * n + tile * LANES..][..LANES];
                            for k in 0..LANES {
                                let x = ((h[k] as u128) << 52) + l[k] as u128;
                                dst[k] = Div64::rem_u128(x, divs[s % 2]);
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
