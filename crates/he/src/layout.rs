//! The grouped coefficient layout (rotation-free packing).
//!
//! With group size g (a power of two dividing d, at most N), an embedding is cut into
//! m = d/g chunks of g components. The verifier encrypts chunk c of the probe as the
//! polynomial `Q_c(X) = Σ_i x̂[c·g+i]·X^(g−1−i)` (reversed); the holder packs chunk c of the
//! N/g gallery vectors of a block as `Y_c(X) = Σ_t Σ_i ŷ_t[c·g+i]·X^(t·g+i)`. In the product
//! `Q_c·Y_c` the coefficient of `X^(t·g+g−1)` is `Σ_i x̂[c·g+i]·ŷ_t[c·g+i]`: the exponents
//! `g−1−i + t'·g + i'` meet `t·g+g−1` only for t' = t and i' = i, because |i' − i| < g, and
//! the negacyclic wrap (exponents ≥ N) lands on coefficients below g−1, which carry no score.
//! Summing the m products therefore puts the full inner product ⟨x̂, ŷ_t⟩ in coefficient
//! `t·g+g−1` — no rotation and no key switching.

use serde::{Deserialize, Serialize};

use crate::error::{HeError, Result};
use crate::params::ParameterSet;
use crate::quantise::Quantiser;
use crate::units::{Dimension, ShareBits, VectorCount};

/// The grouping of one session: dimension d, group size g and ring degree N.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    dimension: usize,
    group_size: usize,
    polynomial_size: usize,
    /// log2 Q of the parameter set (the representation of the products follows from it).
    log_q: u32,
    /// The largest ℓ1 norm of a gallery row whose products stay exact (spec §6.2).
    max_row_l1: u64,
}

impl Layout {
    /// Checks and builds a layout for `params`.
    ///
    /// # Errors
    /// [`HeError::InvalidLayout`] when g is not a power of two dividing d and N, or when the
    /// NTT-domain products could not be kept exact for every row the quantiser of dimension d
    /// can produce (N/g rows of ℓ1 norm up to √(d·B) per block, spec §6.2).
    pub fn new(params: &ParameterSet, dimension: usize, group_size: usize) -> Result<Self> {
        let n = params.n();
        if dimension == 0 {
            return Err(HeError::InvalidLayout("dimension 0".to_owned()));
        }
        if !group_size.is_power_of_two() || !dimension.is_multiple_of(group_size) || group_size > n
        {
            return Err(HeError::InvalidLayout(format!(
                "group size {group_size} must be a power of two dividing d = {dimension} and at most N = {n}"
            )));
        }
        let chunks = dimension / group_size;
        let max_row_l1 = params.exact_row_l1(dimension, group_size);
        let needed = quantised_l1_bound(dimension);
        if max_row_l1 < needed || chunks >= crate::ntt::MAX_TERMS {
            return Err(HeError::InvalidLayout(format!(
                "g = {group_size} at d = {dimension}, N = {n}: products exact only for rows of \
                 ℓ1 norm ≤ {max_row_l1}, quantised rows reach {needed} ({chunks} chunks)"
            )));
        }
        Ok(Self {
            dimension,
            group_size,
            polynomial_size: n,
            log_q: params.log_q(),
            max_row_l1,
        })
    }

    /// How the products of this layout represent values mod Q.
    pub fn rns(&self) -> crate::ntt::Rns {
        crate::ntt::Rns::for_modulus(self.log_q)
    }

    /// The largest ℓ1 norm a gallery row may have in this layout (rows of quantised
    /// embeddings always fit; [`PackedGallery`](crate::PackedGallery) refuses others).
    pub fn max_row_l1(&self) -> u64 {
        self.max_row_l1
    }

    /// Embedding dimension d.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Group size g.
    pub fn group_size(&self) -> usize {
        self.group_size
    }

    /// Ring degree N.
    pub fn polynomial_size(&self) -> usize {
        self.polynomial_size
    }

    /// Number of chunks m = d/g (ciphertexts in a query).
    pub fn chunk_count(&self) -> usize {
        self.dimension / self.group_size
    }

    /// Gallery vectors per response block, N/g.
    pub fn block_capacity(&self) -> usize {
        self.polynomial_size / self.group_size
    }

    /// Number of response blocks for a gallery of `n` vectors.
    pub fn block_count(&self, n: usize) -> usize {
        n.div_ceil(self.block_capacity())
    }

    /// Body coefficient that carries the score of vector `t` of a block.
    pub fn score_coefficient(&self, t: usize) -> usize {
        t * self.group_size + self.group_size - 1
    }

    /// Writes chunk `chunk` of the probe `x` as the reversed plaintext polynomial `Q_c`
    /// (unscaled) into `out` (length N, zeroed elsewhere).
    pub fn probe_chunk_polynomial(&self, x: &[i8], chunk: usize, out: &mut [i64]) {
        assert_eq!(x.len(), self.dimension, "probe dimension");
        assert_eq!(out.len(), self.polynomial_size, "polynomial size");
        let g = self.group_size;
        out.fill(0);
        for i in 0..g {
            out[g - 1 - i] = x[chunk * g + i] as i64;
        }
    }

    /// Writes chunk `chunk` of a block of gallery vectors (row-major, `rows.len() / d` vectors,
    /// at most N/g) as the packed polynomial `Y_c` into `out` (length N, zeros past the rows).
    pub fn gallery_chunk_polynomial(&self, rows: &[i8], chunk: usize, out: &mut [i64]) {
        let (d, g) = (self.dimension, self.group_size);
        assert_eq!(rows.len() % d, 0, "gallery rows");
        assert!(rows.len() / d <= self.block_capacity(), "block overflow");
        assert_eq!(out.len(), self.polynomial_size, "polynomial size");
        out.fill(0);
        for (t, row) in rows.chunks_exact(d).enumerate() {
            for i in 0..g {
                out[t * g + i] = row[chunk * g + i] as i64;
            }
        }
    }
}

impl Layout {
    /// Writes the m chunk polynomials `Y_c` of one block (row-major `rows`, at most N/g of
    /// them) into `out` (`[chunk][N]` i8 coefficients, zeros past the rows) in one pass over
    /// the rows: the values of [`Layout::gallery_chunk_polynomial`] for every chunk, without
    /// reading the block once per chunk.
    pub fn gallery_block_polynomials(&self, rows: &[i8], out: &mut [i8]) {
        let (d, g, n) = (self.dimension, self.group_size, self.polynomial_size);
        assert_eq!(rows.len() % d, 0, "gallery rows");
        assert!(rows.len() / d <= self.block_capacity(), "block overflow");
        assert_eq!(out.len(), self.chunk_count() * n, "block polynomials");
        // Only the coefficients past the rows need zeroing: the transpose writes the others.
        let used = rows.len() / d * g;
        for poly in out.chunks_exact_mut(n) {
            poly[used..].fill(0);
        }
        // A transpose of (rows × chunks) units of g bytes, in tiles of 64 rows: each chunk's
        // run of the tile is written contiguously while the tile's rows stay in L1.
        const TILE: usize = 64;
        let m = self.chunk_count();
        for (tile, block) in rows.chunks(TILE * d).enumerate() {
            let t0 = tile * TILE;
            let count = block.len() / d;
            if g == 1 {
                transpose_rows(block, d, &mut out[t0..], n);
                continue;
            }
            for c in 0..m {
                let dst = &mut out[c * n + t0 * g..c * n + (t0 + count) * g];
                {
                    for (o, row) in dst.chunks_exact_mut(g).zip(block.chunks_exact(d)) {
                        o.copy_from_slice(&row[c * g..(c + 1) * g]);
                    }
                }
            }
        }
    }
}

/// Writes column c of `rows` (row-major, d bytes per row) to `out[c·stride ..]`, one byte per
/// row: eight rows by eight columns at a time as an 8×8 byte transpose in 64-bit words (three
/// rounds of swapping 1-, 2- and 4-byte halves), the rows past a multiple of eight one by one.
fn transpose_rows(rows: &[i8], d: usize, out: &mut [i8], stride: usize) {
    let count = rows.len() / d;
    let whole = count - count % 8;
    let cols = d - d % 8;
    for r in (0..whole).step_by(8) {
        for c in (0..cols).step_by(8) {
            let mut w: [u64; 8] = std::array::from_fn(|i| {
                let at = (r + i) * d + c;
                let bytes: [i8; 8] = rows[at..at + 8].try_into().expect("eight columns");
                u64::from_le_bytes(bytes.map(|b| b as u8))
            });
            for (shift, mask) in [
                (8, 0x00FF_00FF_00FF_00FF_u64),
                (16, 0x0000_FFFF_0000_FFFF),
                (32, 0x0000_0000_FFFF_FFFF),
            ] {
                let step = shift / 8;
                for i in (0..8).filter(|i| i & step == 0) {
                    let t = ((w[i] >> shift) ^ w[i + step]) & mask;
                    w[i + step] ^= t;
                    w[i] ^= t << shift;
                }
            }
            for (j, word) in w.iter().enumerate() {
                let dst = &mut out[(c + j) * stride + r..][..8];
                for (o, b) in dst.iter_mut().zip(word.to_le_bytes()) {
                    *o = b as i8;
                }
            }
        }
    }
    for c in cols..d {
        for r in 0..whole {
            out[c * stride + r] = rows[r * d + c];
        }
    }
    for r in whole..count {
        for c in 0..d {
            out[c * stride + r] = rows[r * d + c];
        }
    }
}

/// The largest ℓ1 norm of a quantised row of dimension d: ‖ŷ‖₁ ≤ √d·‖ŷ‖₂ ≤ √(d·B) with B the
/// quantiser's norm bound (127·d for dimensions no quantiser serves).
pub fn quantised_l1_bound(dimension: usize) -> u64 {
    let d = dimension as u64;
    match Quantiser::for_dimension(dimension) {
        Ok(q) => (d * q.norm_bound()).isqrt().min(127 * d),
        Err(_) => 127 * d,
    }
}

/// Group sizes allowed for dimension d under `params`: powers of two dividing d, from 1 to d,
/// that keep the products exact.
pub fn group_sizes(params: &ParameterSet, dimension: usize) -> Vec<usize> {
    (0..usize::BITS)
        .map(|i| 1usize << i)
        .take_while(|&g| g <= dimension)
        .filter(|&g| Layout::new(params, dimension, g).is_ok())
        .collect()
}

/// Bytes a session moves for a gallery of n vectors under `layout`: (up, down).
///
/// Up: the public key and m seeded ciphertexts, each a 16-byte seed plus N coefficients of
/// log Q bits. Down: per block, the mask (N coefficients) and N/g used body coefficients, each
/// of b bits after modulus switching, bit-packed.
pub fn session_bytes(
    params: &ParameterSet,
    layout: &Layout,
    VectorCount(n): VectorCount,
    ShareBits(share_bits): ShareBits,
) -> Result<(u64, u64)> {
    let chunks = layout.chunk_count();
    let coeff_bytes = params.log_q() as u64 / 8;
    let up =
        (chunks as u64 + 1) * (crate::wire::SEED_BYTES as u64 + params.n() as u64 * coeff_bytes);
    let b = params.switched_modulus_log(chunks, share_bits)? as u64;
    let per_block =
        crate::wire::response_block_bytes(params.n(), layout.block_capacity(), b as u32) as u64;
    Ok((up, per_block * layout.block_count(n) as u64))
}

/// The group size that minimises the bytes of a session for n gallery vectors of dimension d.
///
/// Large galleries favour small g (cheap download, large upload); 1:1 verification favours
/// g = d (one ciphertext up, one block down).
pub fn best_group_size(
    params: &ParameterSet,
    Dimension(dimension): Dimension,
    n: VectorCount,
    share_bits: ShareBits,
) -> Result<usize> {
    let mut best: Option<(u64, usize)> = None;
    for g in group_sizes(params, dimension) {
        let layout = Layout::new(params, dimension, g)?;
        let (up, down) = match session_bytes(params, &layout, n, share_bits) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if best.is_none_or(|(b, _)| up + down < b) {
            best = Some((up + down, g));
        }
    }
    best.map(|(_, g)| g)
        .ok_or_else(|| HeError::InvalidLayout(format!("no group size fits d = {dimension}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_rejects_bad_groups() {
        let p = ParameterSet::default_64();
        assert!(Layout::new(&p, 512, 3).is_err());
        assert!(Layout::new(&p, 512, 1024).is_err());
        assert!(Layout::new(&p, 96, 64).is_err());
        assert!(Layout::new(&p, 0, 1).is_err());
        let l = Layout::new(&p, 512, 8).unwrap();
        assert_eq!((l.chunk_count(), l.block_capacity()), (64, 1024));
        assert_eq!(l.score_coefficient(3), 31);
    }

    #[test]
    fn group_sizes_are_the_powers_of_two_up_to_d() {
        let p = ParameterSet::default_64();
        assert_eq!(
            group_sizes(&p, 512),
            vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        );
        assert_eq!(group_sizes(&p, 96), vec![1, 2, 4, 8, 16, 32]);
    }

    #[test]
    fn best_group_size_trades_upload_for_download() {
        let p = ParameterSet::default_64();
        // 1:1 verification: one vector, so one ciphertext up is best.
        assert_eq!(
            best_group_size(&p, Dimension(512), VectorCount(1), ShareBits(21)).unwrap(),
            512
        );
        // Huge galleries: the download dominates, small groups win.
        let g_big =
            best_group_size(&p, Dimension(512), VectorCount(10_000_000), ShareBits(21)).unwrap();
        assert!(g_big <= 2, "{g_big}");
        // And it really is the minimum over all candidates.
        for n in [1usize, 100, 10_000, 1_000_000] {
            let g = best_group_size(&p, Dimension(512), VectorCount(n), ShareBits(21)).unwrap();
            let cost = |g| {
                let l = Layout::new(&p, 512, g).unwrap();
                let (u, d) = session_bytes(&p, &l, VectorCount(n), ShareBits(21)).unwrap();
                u + d
            };
            for h in group_sizes(&p, 512) {
                assert!(cost(g) <= cost(h), "n = {n}: g = {g} vs {h}");
            }
        }
    }

    #[test]
    fn block_polynomials_equal_the_chunk_polynomials() {
        let p = ParameterSet::toy();
        for (d, g) in [(8, 1), (12, 1), (24, 1), (8, 4), (16, 16), (32, 2)] {
            let l = Layout::new(&p, d, g).unwrap();
            let n = p.n();
            // A partial block: fewer rows than N/g.
            let count = l.block_capacity() - 3;
            let rows: Vec<i8> = (0..count * d)
                .map(|i| ((i * 37 % 255) as i32 - 127) as i8)
                .collect();
            let mut block = vec![0i8; l.chunk_count() * n];
            l.gallery_block_polynomials(&rows, &mut block);
            let mut one = vec![0i64; n];
            for c in 0..l.chunk_count() {
                l.gallery_chunk_polynomial(&rows, c, &mut one);
                let got: Vec<i64> = block[c * n..(c + 1) * n]
                    .iter()
                    .map(|&v| v as i64)
                    .collect();
                assert_eq!(got, one, "d = {d}, g = {g}, chunk {c}");
            }
        }
    }

    #[test]
    fn packing_puts_each_score_in_its_coefficient() {
        // Plain negacyclic product check of the layout claim on small integers.
        let p = ParameterSet::toy();
        let (d, g) = (8, 4);
        let l = Layout::new(&p, d, g).unwrap();
        let n = p.n();
        let x: Vec<i8> = (1..=8).collect();
        let rows: Vec<i8> = (0..3 * d).map(|i| (i as i8 % 7) - 3).collect();
        let mut acc = vec![0i64; n];
        let (mut q, mut y) = (vec![0; n], vec![0; n]);
        for c in 0..l.chunk_count() {
            l.probe_chunk_polynomial(&x, c, &mut q);
            l.gallery_chunk_polynomial(&rows, c, &mut y);
            for i in 0..n {
                for j in 0..n {
                    let (k, sign) = if i + j >= n {
                        (i + j - n, -1)
                    } else {
                        (i + j, 1)
                    };
                    acc[k] += sign * q[i] * y[j];
                }
            }
        }
        for (t, row) in rows.chunks(d).enumerate() {
            let want: i64 = row.iter().zip(&x).map(|(&a, &b)| a as i64 * b as i64).sum();
            assert_eq!(acc[l.score_coefficient(t)], want);
        }
    }
}
