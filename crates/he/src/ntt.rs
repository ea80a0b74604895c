//! Exact negacyclic products mod 2^q in a residue number system, on tfhe's NTT.
//!
//! A polynomial mod 2^q is split into signed digits ([`Rns`]): two 64-bit digits reduced
//! modulo both primes of [`PRIMES`] for q = 128, or three 22-bit digits reduced modulo the
//! first prime alone for q ≤ 64. Each digit polynomial and each small operand (gallery chunk,
//! key, re-randomiser) is transformed with tfhe-ntt's negacyclic NTT. Products are accumulated
//! in the NTT domain with exact modular arithmetic, inverted once per digit and prime, and the
//! residues of each coefficient are joined (by the Chinese remainder theorem for two primes)
//! into the exact integer, which the layout bound of [`ParameterSet`](crate::params::ParameterSet)
//! keeps inside [`Rns::exact_range`]. Exactness is by construction: no floating point.
//!
//! Layouts: a transformed polynomial mod 2^q is `[digit][prime][N]` (u64 residues); a
//! transformed small polynomial is `[prime][N]`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tfhe_ntt::fastdiv::Div64;
use tfhe_ntt::prime64::Plan;

use crate::bits::modulus_mask;

mod kernel;
mod rns;

pub use kernel::{Accumulate, MAX_TERMS};
pub use rns::{MAX_DIGITS, Rns};

/// The two NTT primes: the largest primes below 1 501 199 875 790 166 (the bound under which
/// tfhe-ntt uses its 52-bit IFMA reduction) that are ≡ 1 mod 2^16, so every ring degree up to
/// 2^15 has the 2N-th roots of unity a negacyclic NTT needs.
pub const PRIMES: [u64; 2] = [1_501_199_875_637_249, 1_501_199_874_981_889];

/// log2(p0·p1).
pub const CRT_MODULUS_LOG2: f64 = 100.83;

/// p0^(−1) mod p1.
const P0_INV_MOD_P1: u64 = 1_050_837_621_838_099;

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
                    divs: PRIMES.map(Div64::new),
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

    /// Transforms a polynomial with signed coefficients into `[prime][N]` layout, for as many
    /// primes as `out` has room for (N or 2N residues).
    pub fn forward_signed(&self, coeffs: impl Fn(usize) -> i64, out: &mut [u64]) {
        let n = self.n;
        assert!(
            out.len() == n || out.len() == 2 * n,
            "one or two residue polynomials"
        );
        for (i, residues) in out.chunks_exact_mut(n).enumerate() {
            let div = self.divs[i];
            for (j, r) in residues.iter_mut().enumerate() {
                *r = reduce_signed(coeffs(j), div);
            }
            self.plans[i].fwd(residues);
        }
    }

    /// [`RnsNtt::forward_signed`] for i8 coefficients (gallery chunks): every |c| < p, so a
    /// residue is c or p + c, in a loop the compiler vectorises.
    pub fn forward_i8(&self, coeffs: &[i8], out: &mut [u64]) {
        let n = self.n;
        assert_eq!(coeffs.len(), n, "polynomial size");
        assert!(
            out.len() == n || out.len() == 2 * n,
            "one or two residue polynomials"
        );
        for (i, residues) in out.chunks_exact_mut(n).enumerate() {
            let p = PRIMES[i] as i64;
            with_wide_simd(
                #[inline(always)]
                || {
                    for (r, &c) in residues.iter_mut().zip(coeffs) {
                        let c = c as i64;
                        *r = (c + ((c >> 63) & p)) as u64;
                    }
                },
            );
            self.plans[i].fwd(residues);
        }
    }

    /// Transforms a polynomial mod 2^q into `[digit][prime][N]` layout.
    pub fn forward_digits(&self, rns: Rns, poly: &[u128], out: &mut [u64]) {
        let n = self.n;
        let primes = rns.primes();
        assert_eq!(poly.len(), n, "polynomial size");
        assert_eq!(out.len(), rns.rows() * n, "digit residue layout");
        // Digits below every prime need no division: a negative one is p − |d|. One row at a
        // time (the split is recomputed per row: cheaper than striding over the rows).
        let small = rns.digit_log2() < 50;
        for (r, row) in out.chunks_exact_mut(n).enumerate() {
            let (l, div) = (r / primes, self.divs[r % primes]);
            let p = div.divisor();
            if small {
                for (o, &x) in row.iter_mut().zip(poly) {
                    let d = rns.split(x)[l];
                    *o = if d < 0 {
                        p - d.unsigned_abs()
                    } else {
                        d as u64
                    };
                }
            } else {
                for (o, &x) in row.iter_mut().zip(poly) {
                    *o = reduce_signed(rns.split(x)[l], div);
                }
            }
        }
        for (r, residues) in out.chunks_exact_mut(n).enumerate() {
            self.plans[r % primes].fwd(residues);
        }
    }

    /// Inverts accumulated `[digit][prime][N]` residues, joins the primes' residues of each
    /// coefficient into the integer it stands for and recombines the digits mod 2^q.
    pub fn inverse_digits(&self, rns: Rns, acc: &mut [u64], out: &mut [u128]) {
        let n = self.n;
        let primes = rns.primes();
        assert_eq!(acc.len(), rns.rows() * n, "digit residue layout");
        assert_eq!(out.len(), n, "polynomial size");
        for (i, residues) in acc.chunks_exact_mut(n).enumerate() {
            let plan = &self.plans[i % primes];
            plan.inv(residues);
            plan.normalize(residues);
        }
        out.fill(0);
        let w = rns.digit_bits;
        for (l, digit) in acc.chunks_exact(primes * n).enumerate() {
            let shift = w * l as u32;
            let (r0, r1) = digit.split_at(n);
            for (j, o) in out.iter_mut().enumerate() {
                let x = if primes == 2 {
                    crt(r0[j], r1[j])
                } else {
                    centred(r0[j], PRIMES[0])
                };
                *o = o.wrapping_add((x as u128).wrapping_shl(shift));
            }
        }
        let mask = modulus_mask(rns.log_q());
        out.iter_mut().for_each(|o| *o &= mask);
    }

    /// Exact negacyclic product mod 2^q of `big` and a small polynomial given by its
    /// transform (`[prime][N]` with at least `rns.primes()` primes): used for a·s
    /// (encryption) and mask·s (decryption).
    pub fn mul_by_small(&self, rns: Rns, big: &[u128], small: &[u64]) -> Vec<u128> {
        let n = self.n;
        let primes = rns.primes();
        let mut f = vec![0u64; rns.rows() * n];
        self.forward_digits(rns, big, &mut f);
        let mut acc = vec![0u64; rns.rows() * n];
        for (s, (a, b)) in acc.chunks_exact_mut(n).zip(f.chunks_exact(n)).enumerate() {
            let prime = s % primes;
            self.plans[prime].mul_accumulate(a, b, &small[prime * n..(prime + 1) * n]);
        }
        let mut out = vec![0u128; n];
        self.inverse_digits(rns, &mut acc, &mut out);
        out
    }
}

/// Runs `f` compiled for x86-64-v4 (AVX-512) when this CPU has it, so that the loops inside
/// vectorise with 512-bit registers; as it is otherwise.
#[inline(always)]
pub(crate) fn with_wide_simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V4::try_new() {
        return simd.vectorize(f);
    }
    f()
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

/// The integer in (−p/2, p/2) with residue r mod p.
fn centred(r: u64, p: u64) -> i128 {
    if r > p / 2 {
        r as i128 - p as i128
    } else {
        r as i128
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

/// Where [`scatter_chunks`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScatterOn {
    /// Tile by tile on rayon's pool (the query's transform, done once per query).
    Pool,
    /// On the calling thread (a block transformed inside a response, which is already one of
    /// many parallel tasks).
    Caller,
}

/// Writes the residues of consecutive chunks (`batch` is `[chunk][row][N]`; its chunk i is
/// chunk `first + i`) into the tile-major layout `[tile][chunk][row][LANES]`: each tile's part
/// of the batch is one contiguous run, so the writes stream instead of striding.
pub fn scatter_chunks(
    batch: &[u64],
    (n, rows): (usize, usize),
    first: usize,
    chunks: usize,
    dest: &mut [u64],
    on: ScatterOn,
) {
    use rayon::prelude::*;
    check_scatter(batch, (n, rows), first, chunks, dest);
    let parts = chunks * rows * LANES;
    let tile =
        |(tile, part): (usize, &mut [u64])| scatter_tile(batch, (n, rows), first, tile, part);
    match on {
        ScatterOn::Pool => dest.par_chunks_mut(parts).enumerate().for_each(tile),
        ScatterOn::Caller => with_wide_simd(
            #[inline(always)]
            || dest.chunks_mut(parts).enumerate().for_each(tile),
        ),
    }
}

/// Checks the sizes of a batch to scatter.
fn check_scatter(
    batch: &[u64],
    (n, rows): (usize, usize),
    first: usize,
    chunks: usize,
    dest: &[u64],
) {
    assert!(batch.len().is_multiple_of(rows * n), "whole chunks");
    assert_eq!(dest.len(), chunks * rows * n, "tile layout length");
    assert!(
        first + batch.len() / (rows * n) <= chunks,
        "chunks past the layout"
    );
}

/// One tile's run of a batch: `part` is the tile's `[chunk][row][LANES]`.
#[inline(always)]
fn scatter_tile(
    batch: &[u64],
    (n, rows): (usize, usize),
    first: usize,
    tile: usize,
    part: &mut [u64],
) {
    let count = batch.len() / (rows * n);
    let run = &mut part[first * rows * LANES..(first + count) * rows * LANES];
    for (src, out) in batch
        .chunks_exact(rows * n)
        .zip(run.chunks_exact_mut(rows * LANES))
    {
        for (row, lanes) in src.chunks_exact(n).zip(out.chunks_exact_mut(LANES)) {
            lanes.copy_from_slice(&row[tile * LANES..(tile + 1) * LANES]);
        }
    }
}

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

#[cfg(test)]
mod tests;
