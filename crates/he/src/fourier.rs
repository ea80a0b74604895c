//! Exact negacyclic products mod 2^q through tfhe's f64 FFT.
//!
//! A polynomial of `Z[X]/(X^N + 1)` with integer coefficients a_j is folded into N/2 complex
//! values `z_j = (a_j + i·a_(j+N/2))·ω^j`, ω = e^(iπ/N), and transformed by tfhe-fft's
//! unordered plan of size N/2; this evaluates the polynomial at the N/2 roots ζ^(4k+1) of
//! X^N + 1 (the other half are their conjugates), so pointwise products are negacyclic
//! products. Every stored transform uses the "tile" layout: blocks of [`TILE`] complex values
//! stored as `TILE` real parts then `TILE` imaginary parts, so the accumulation kernel works on
//! whole SIMD registers.
//!
//! Exactness: big operands (ciphertext coefficients mod 2^q) are split into signed
//! [`LIMB_BITS`](crate::params::LIMB_BITS)-bit limbs; the other operand is small (|y| ≤ 127 or
//! binary). The exact integer of every output coefficient is bounded by
//! [`ParameterSet::product_bound_log2`](crate::params::ParameterSet::product_bound_log2) < 2^51,
//! so it is representable, and every inverse transform checks that each output lies within
//! [`RESIDUE_GUARD`] of an integer, or fails with [`HeError::PrecisionGuard`] rather than
//! return a wrong coefficient.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use dyn_stack::{PodBuffer, PodStack};
use tfhe_fft::c64;
use tfhe_fft::unordered::{Method, Plan};

use crate::error::{HeError, Result};
use crate::params::{LIMB_BITS, modulus_mask};

/// Complex values per tile.
pub const TILE: usize = 8;
/// f64 values per tile (real parts, then imaginary parts).
pub const TILE_F64: usize = 2 * TILE;
/// Largest accepted distance between an inverse-transform output and the nearest integer.
pub const RESIDUE_GUARD: f64 = 0.25;

/// A negacyclic transform of one ring degree, with its twist factors.
pub struct NegacyclicFft {
    n: usize,
    plan: Plan,
    twist_re: Vec<f64>,
    twist_im: Vec<f64>,
}

/// Reusable buffers for one thread's transforms.
pub struct FftScratch {
    buf: Vec<c64>,
    stack: PodBuffer,
    digits: Vec<i64>,
}

/// Adding and subtracting 1.5·2^52 rounds an f64 of magnitude below 2^51 to the nearest
/// integer (ties to even) without a libm call.
const ROUNDING_MAGIC: f64 = 6_755_399_441_055_744.0;

impl NegacyclicFft {
    /// The shared transform for ring degree `n` (built once per process).
    pub fn get(n: usize) -> Arc<NegacyclicFft> {
        static PLANS: OnceLock<Mutex<HashMap<usize, Arc<NegacyclicFft>>>> = OnceLock::new();
        let map = PLANS.get_or_init(Default::default);
        let mut map = map.lock().expect("FFT plan cache poisoned");
        map.entry(n)
            .or_insert_with(|| Arc::new(Self::new(n)))
            .clone()
    }

    fn new(n: usize) -> Self {
        assert!(n.is_power_of_two() && n >= 2 * TILE, "ring degree {n}");
        let half = n / 2;
        let plan = Plan::new(half, Method::Measure(std::time::Duration::from_millis(5)));
        let (twist_re, twist_im) = (0..half)
            .map(|j| {
                let angle = std::f64::consts::PI * j as f64 / n as f64;
                (angle.cos(), angle.sin())
            })
            .unzip();
        Self {
            n,
            plan,
            twist_re,
            twist_im,
        }
    }

    /// Ring degree N.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Fresh scratch buffers for this transform.
    pub fn scratch(&self) -> FftScratch {
        FftScratch {
            buf: vec![c64::new(0.0, 0.0); self.n / 2],
            stack: PodBuffer::new(self.plan.fft_scratch()),
            digits: Vec::new(),
        }
    }

    /// Forward transform of integer coefficients (each |a| < 2^52) into tile layout.
    pub fn forward(
        &self,
        coeffs: impl Fn(usize) -> i64,
        out: &mut [f64],
        scratch: &mut FftScratch,
    ) {
        let half = self.n / 2;
        assert_eq!(out.len(), self.n, "tile layout length");
        for j in 0..half {
            let (re, im) = (coeffs(j) as f64, coeffs(j + half) as f64);
            let (wr, wi) = (self.twist_re[j], self.twist_im[j]);
            scratch.buf[j] = c64::new(re * wr - im * wi, re * wi + im * wr);
        }
        self.plan
            .fwd(&mut scratch.buf, PodStack::new(&mut scratch.stack));
        for (tile, values) in out
            .chunks_exact_mut(TILE_F64)
            .zip(scratch.buf.chunks_exact(TILE))
        {
            for (k, z) in values.iter().enumerate() {
                tile[k] = z.re;
                tile[TILE + k] = z.im;
            }
        }
    }

    /// Inverse transform from tile layout to rounded integer coefficients; returns the largest
    /// distance of an output from its rounded value.
    pub fn inverse(&self, input: &[f64], out: &mut [i64], scratch: &mut FftScratch) -> f64 {
        let half = self.n / 2;
        assert_eq!(input.len(), self.n, "tile layout length");
        assert_eq!(out.len(), self.n, "coefficient count");
        for (tile, values) in input
            .chunks_exact(TILE_F64)
            .zip(scratch.buf.chunks_exact_mut(TILE))
        {
            for (k, z) in values.iter_mut().enumerate() {
                *z = c64::new(tile[k], tile[TILE + k]);
            }
        }
        self.plan
            .inv(&mut scratch.buf, PodStack::new(&mut scratch.stack));
        let scale = 1.0 / half as f64;
        let mut residue = 0f64;
        for j in 0..half {
            let z = scratch.buf[j];
            let (wr, wi) = (self.twist_re[j], -self.twist_im[j]);
            let re = (z.re * wr - z.im * wi) * scale;
            let im = (z.re * wi + z.im * wr) * scale;
            let (rr, ri) = (
                (re + ROUNDING_MAGIC) - ROUNDING_MAGIC,
                (im + ROUNDING_MAGIC) - ROUNDING_MAGIC,
            );
            residue = residue.max((re - rr).abs()).max((im - ri).abs());
            out[j] = rr as i64;
            out[j + half] = ri as i64;
        }
        residue
    }
}

/// Signed limb `l` of x mod 2^q, with `limbs` limbs of [`LIMB_BITS`] bits (balanced digits).
///
/// x ≡ Σ_l limb_l · 2^(LIMB_BITS·l) (mod 2^q) with limb_l ∈ [−2^(LIMB_BITS−1), 2^(LIMB_BITS−1)).
pub fn signed_limbs(x: u128, limbs: usize, out: &mut [i64]) {
    let base = 1i64 << LIMB_BITS;
    let half = base / 2;
    let mut rest = x;
    for slot in out.iter_mut().take(limbs) {
        let mut v = (rest & (base as u128 - 1)) as i64;
        rest >>= LIMB_BITS;
        if v >= half {
            v -= base;
            rest = rest.wrapping_add(1);
        }
        *slot = v;
    }
}

/// Recombines limb results: Σ_l r_l·2^(LIMB_BITS·l) mod 2^q.
pub fn recombine(limb_values: impl Iterator<Item = i64>, log_q: u32) -> u128 {
    let mut acc = 0u128;
    for (l, r) in limb_values.enumerate() {
        acc = acc.wrapping_add((r as i128 as u128).wrapping_shl(LIMB_BITS * l as u32));
    }
    acc & modulus_mask(log_q)
}

/// Transforms each limb of a polynomial mod 2^q into `out` (limb-major, N f64 per limb).
pub fn forward_limbs(
    fft: &NegacyclicFft,
    poly: &[u128],
    limbs: usize,
    out: &mut [f64],
    scratch: &mut FftScratch,
) {
    let n = fft.n();
    assert_eq!(out.len(), limbs * n, "limb transform length");
    let mut digits = std::mem::take(&mut scratch.digits);
    digits.resize(limbs * n, 0);
    let mut tmp = [0i64; 8];
    for (j, &x) in poly.iter().enumerate() {
        signed_limbs(x, limbs, &mut tmp);
        for l in 0..limbs {
            digits[l * n + j] = tmp[l];
        }
    }
    for l in 0..limbs {
        let d = &digits[l * n..(l + 1) * n];
        fft.forward(|j| d[j], &mut out[l * n..(l + 1) * n], scratch);
    }
    scratch.digits = digits;
}

/// Inverts `limbs` accumulated limb transforms (limb-major) and recombines them mod 2^q.
pub fn inverse_limbs(
    fft: &NegacyclicFft,
    acc: &[f64],
    limbs: usize,
    log_q: u32,
    out: &mut [u128],
    scratch: &mut FftScratch,
) -> Result<()> {
    let n = fft.n();
    let mut values = std::mem::take(&mut scratch.digits);
    values.resize(limbs * n, 0);
    let mut residue = 0f64;
    for l in 0..limbs {
        residue = residue.max(fft.inverse(
            &acc[l * n..(l + 1) * n],
            &mut values[l * n..(l + 1) * n],
            scratch,
        ));
    }
    if residue > RESIDUE_GUARD {
        scratch.digits = values;
        return Err(HeError::PrecisionGuard(residue));
    }
    for (j, o) in out.iter_mut().enumerate() {
        *o = recombine((0..limbs).map(|l| values[l * n + j]), log_q);
    }
    scratch.digits = values;
    Ok(())
}

/// Exact negacyclic product of a polynomial mod 2^q by a small polynomial given as its
/// transform (tile layout): used for a·s (encryption) and mask·s (decryption).
pub fn mul_by_small(
    fft: &NegacyclicFft,
    big: &[u128],
    log_q: u32,
    small_fourier: &[f64],
    scratch: &mut FftScratch,
) -> Result<Vec<u128>> {
    let n = fft.n();
    let limbs = log_q.div_ceil(LIMB_BITS) as usize;
    let mut f = vec![0f64; limbs * n];
    forward_limbs(fft, big, limbs, &mut f, scratch);
    for l in 0..limbs {
        let limb = &mut f[l * n..(l + 1) * n];
        for (a, b) in limb
            .chunks_exact_mut(TILE_F64)
            .zip(small_fourier.chunks_exact(TILE_F64))
        {
            for k in 0..TILE {
                let (ar, ai, br, bi) = (a[k], a[TILE + k], b[k], b[TILE + k]);
                a[k] = ar * br - ai * bi;
                a[TILE + k] = ar * bi + ai * br;
            }
        }
    }
    let mut out = vec![0u128; n];
    inverse_limbs(fft, &f, limbs, log_q, &mut out, scratch)?;
    Ok(out)
}

/// The accumulation kernel: for each block, `out = Σ_c query_c ⊙ gallery_c + pk ⊙ u`, for
/// `S` streams (limbs of mask and body) at once.
///
/// Layouts (f64, tile-major so one tile of every operand is contiguous):
/// `query` `[tile][chunk][S][TILE_F64]`, `pk` `[tile][S][TILE_F64]`, each block's `gallery`
/// `[tile][chunk][TILE_F64]` and `u` `[tile][TILE_F64]`, output `[S][tile][TILE_F64]`.
/// Tiles are the outer loop so that the query tile (chunks·S·128 bytes) stays in cache while
/// every block of the group uses it.
pub struct Accumulate<'a, const S: usize> {
    /// Query transforms.
    pub query: &'a [f64],
    /// Public-key transforms (the re-randomisation chunk).
    pub pk: &'a [f64],
    /// Chunks per query (m).
    pub chunks: usize,
    /// Per block: (gallery transform, u transform, output).
    pub blocks: Vec<(&'a [f64], &'a [f64], &'a mut [f64])>,
}

#[inline(always)]
fn complex_mac(acc: &mut [f64; TILE_F64], q: &[f64], y: &[f64; TILE_F64]) {
    let q: &[f64; TILE_F64] = q.try_into().expect("tile");
    for k in 0..TILE {
        let (qr, qi, yr, yi) = (q[k], q[TILE + k], y[k], y[TILE + k]);
        acc[k] = qr.mul_add(yr, acc[k]);
        acc[k] = (-qi).mul_add(yi, acc[k]);
        acc[TILE + k] = qr.mul_add(yi, acc[TILE + k]);
        acc[TILE + k] = qi.mul_add(yr, acc[TILE + k]);
    }
}

/// Chunks processed per pass over a block: the query sub-tile (`CHUNK_STEP·S` tiles) and the
/// block's gallery sub-tile stay in L1 while every block of the group uses them.
const CHUNK_STEP: usize = 8;

impl<const S: usize> Accumulate<'_, S> {
    #[inline(always)]
    fn run(mut self) {
        let tiles = self.pk.len() / (S * TILE_F64);
        let chunks = self.chunks;
        let qstride = chunks * S * TILE_F64;
        let stream_len = tiles * TILE_F64;
        let mut acc = vec![[[0f64; TILE_F64]; S]; self.blocks.len()];
        for tile in 0..tiles {
            let qt = &self.query[tile * qstride..(tile + 1) * qstride];
            let pkt = &self.pk[tile * S * TILE_F64..(tile + 1) * S * TILE_F64];
            acc.iter_mut().for_each(|a| *a = [[0f64; TILE_F64]; S]);
            for c0 in (0..chunks).step_by(CHUNK_STEP) {
                let c1 = (c0 + CHUNK_STEP).min(chunks);
                let q = &qt[c0 * S * TILE_F64..c1 * S * TILE_F64];
                for ((gallery, _, _), slot) in self.blocks.iter().zip(acc.iter_mut()) {
                    let y =
                        &gallery[(tile * chunks + c0) * TILE_F64..(tile * chunks + c1) * TILE_F64];
                    let mut a = *slot;
                    for (yc, qc) in y.chunks_exact(TILE_F64).zip(q.chunks_exact(S * TILE_F64)) {
                        let yc: &[f64; TILE_F64] = yc.try_into().expect("tile");
                        for s in 0..S {
                            complex_mac(&mut a[s], &qc[s * TILE_F64..(s + 1) * TILE_F64], yc);
                        }
                    }
                    *slot = a;
                }
            }
            for ((_, u, out), a) in self.blocks.iter_mut().zip(acc.iter_mut()) {
                let ut: &[f64; TILE_F64] = u[tile * TILE_F64..(tile + 1) * TILE_F64]
                    .try_into()
                    .expect("tile");
                for s in 0..S {
                    complex_mac(&mut a[s], &pkt[s * TILE_F64..(s + 1) * TILE_F64], ut);
                    out[s * stream_len + tile * TILE_F64..s * stream_len + (tile + 1) * TILE_F64]
                        .copy_from_slice(&a[s]);
                }
            }
        }
    }
}

impl<const S: usize> pulp::WithSimd for Accumulate<'_, S> {
    type Output = ();
    #[inline(always)]
    fn with_simd<Sm: pulp::Simd>(self, _simd: Sm) -> Self::Output {
        // The body is plain Rust on fixed-size arrays; compiled inside pulp's dispatch it gets
        // the CPU's vector width and FMA.
        self.run()
    }
}

/// Runs the kernel with the best instruction set this CPU has: an explicit AVX-512 kernel
/// (accumulators pinned in registers), otherwise the portable one under pulp's dispatch.
pub fn accumulate<const S: usize>(job: Accumulate<'_, S>) {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V4::try_new() {
        return pulp::Simd::vectorize(simd, avx512::Kernel { simd, job });
    }
    pulp::Arch::new().dispatch(job)
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use pulp::bytemuck::cast;
    use pulp::f64x8;
    use pulp::x86::V4;

    use super::{Accumulate, CHUNK_STEP, TILE, TILE_F64};

    pub(super) struct Kernel<'a, const S: usize> {
        pub simd: V4,
        pub job: Accumulate<'a, S>,
    }

    #[inline(always)]
    fn load(tile: &[f64], at: usize) -> (f64x8, f64x8) {
        let re: [f64; TILE] = tile[at..at + TILE].try_into().expect("tile");
        let im: [f64; TILE] = tile[at + TILE..at + TILE_F64].try_into().expect("tile");
        (cast(re), cast(im))
    }

    #[inline(always)]
    fn mac(simd: V4, re: &mut f64x8, im: &mut f64x8, q: (f64x8, f64x8), y: (f64x8, f64x8)) {
        *re = simd.mul_add_f64x8(q.0, y.0, *re);
        *re = simd.negate_mul_add_f64x8(q.1, y.1, *re);
        *im = simd.mul_add_f64x8(q.0, y.1, *im);
        *im = simd.mul_add_f64x8(q.1, y.0, *im);
    }

    impl<const S: usize> pulp::WithSimd for Kernel<'_, S> {
        type Output = ();
        #[inline(always)]
        fn with_simd<Sm: pulp::Simd>(self, _: Sm) {
            let Kernel { simd, mut job } = self;
            let tiles = job.pk.len() / (S * TILE_F64);
            let chunks = job.chunks;
            let qstride = chunks * S * TILE_F64;
            let stream_len = tiles * TILE_F64;
            let zero = simd.splat_f64x8(0.0);
            let mut slots = vec![([zero; S], [zero; S]); job.blocks.len()];
            for tile in 0..tiles {
                let qt = &job.query[tile * qstride..(tile + 1) * qstride];
                let pkt = &job.pk[tile * S * TILE_F64..(tile + 1) * S * TILE_F64];
                slots
                    .iter_mut()
                    .for_each(|slot| *slot = ([zero; S], [zero; S]));
                for c0 in (0..chunks).step_by(CHUNK_STEP) {
                    let c1 = (c0 + CHUNK_STEP).min(chunks);
                    let q = &qt[c0 * S * TILE_F64..c1 * S * TILE_F64];
                    for ((gallery, _, _), slot) in job.blocks.iter().zip(slots.iter_mut()) {
                        let y = &gallery
                            [(tile * chunks + c0) * TILE_F64..(tile * chunks + c1) * TILE_F64];
                        // All 2·S accumulators live in registers for the whole chunk range.
                        let (mut re, mut im) = *slot;
                        for (yc, qc) in y.chunks_exact(TILE_F64).zip(q.chunks_exact(S * TILE_F64)) {
                            let yv = load(yc, 0);
                            for s in 0..S {
                                mac(simd, &mut re[s], &mut im[s], load(qc, s * TILE_F64), yv);
                            }
                        }
                        *slot = (re, im);
                    }
                }
                for ((_, u, out), (re, im)) in job.blocks.iter_mut().zip(slots.iter_mut()) {
                    let uv = load(u, tile * TILE_F64);
                    for s in 0..S {
                        mac(simd, &mut re[s], &mut im[s], load(pkt, s * TILE_F64), uv);
                        let at = s * stream_len + tile * TILE_F64;
                        let (r, i): ([f64; TILE], [f64; TILE]) = (cast(re[s]), cast(im[s]));
                        out[at..at + TILE].copy_from_slice(&r);
                        out[at + TILE..at + TILE_F64].copy_from_slice(&i);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[i128], b: &[i128], modulus_bits: u32) -> Vec<u128> {
        let n = a.len();
        let mut out = vec![0i128; n];
        for i in 0..n {
            for j in 0..n {
                let p = a[i].wrapping_mul(b[j]);
                if i + j >= n {
                    out[i + j - n] = out[i + j - n].wrapping_sub(p);
                } else {
                    out[i + j] = out[i + j].wrapping_add(p);
                }
            }
        }
        out.into_iter()
            .map(|v| v as u128 & modulus_mask(modulus_bits))
            .collect()
    }

    #[test]
    fn limbs_round_trip() {
        let mut l = [0i64; 8];
        for x in [
            0u128,
            1,
            u128::MAX,
            1 << 127,
            0x1234_5678_9abc_def0_1122_3344_5566_7788,
        ] {
            for q in [64u32, 128] {
                let limbs = q.div_ceil(LIMB_BITS) as usize;
                let x = x & modulus_mask(q);
                signed_limbs(x, limbs, &mut l);
                assert!(
                    l[..limbs]
                        .iter()
                        .all(|&v| (-(1 << 21)..(1 << 21)).contains(&v))
                );
                assert_eq!(recombine(l[..limbs].iter().copied(), q), x);
            }
        }
    }

    #[test]
    fn product_with_small_polynomial_is_exact() {
        let n = 256;
        let fft = NegacyclicFft::get(n);
        let mut scratch = fft.scratch();
        let mut state = 0x1234_5678_u128;
        let mut next = || {
            state = state
                .wrapping_mul(0x2360_ED05_1FC6_5DA4_4385_DF64_9FCC_F645)
                .wrapping_add(1);
            state
        };
        for log_q in [64u32, 128] {
            let big: Vec<u128> = (0..n).map(|_| next() & modulus_mask(log_q)).collect();
            let small: Vec<i64> = (0..n).map(|_| (next() >> 100) as i64 % 128).collect();
            let mut sf = vec![0f64; n];
            fft.forward(|j| small[j], &mut sf, &mut scratch);
            let got = mul_by_small(&fft, &big, log_q, &sf, &mut scratch).unwrap();
            let want = naive(
                &big.iter().map(|&v| v as i128).collect::<Vec<_>>(),
                &small.iter().map(|&v| v as i128).collect::<Vec<_>>(),
                log_q,
            );
            assert_eq!(got, want, "log_q = {log_q}");
        }
    }
}
