//! The holder's side: the packed gallery and the per-query response computation.

use std::ops::Range;
use std::sync::Arc;

use rand::{CryptoRng, Rng};
use rayon::prelude::*;
use tfhe::core_crypto::commons::math::random::{RandomGenerator, Seed};
use tfhe::core_crypto::prelude::{DefaultRandomGenerator, TUniform};

use crate::error::{HeError, Result};
use crate::fourier::{
    Accumulate, FftScratch, NegacyclicFft, TILE_F64, accumulate, forward_limbs, inverse_limbs,
};
use crate::layout::Layout;
use crate::params::{ParameterSet, modulus_mask};
use crate::quantise::check_quantised;
use crate::{Query, ResponseBlock, SessionShape};

/// Most blocks processed together: one pass over the query transform (hundreds of MB at g = 1)
/// serves all of them, so the query is read from memory once per group instead of per block.
const MAX_GROUP_BLOCKS: usize = 16;

/// The holder's gallery, packed for one layout.
///
/// `Pretransformed` keeps every block's chunk polynomials in the Fourier domain (8·d bytes per
/// vector) and reuses them across queries; `OnTheFly` keeps the quantised rows (d bytes per
/// vector) and transforms each block when it is needed, for galleries that do not fit.
pub struct PackedGallery {
    layout: Layout,
    len: usize,
    storage: Storage,
}

enum Storage {
    Fourier(Vec<Vec<f64>>),
    Rows(Vec<i8>),
}

/// How a [`PackedGallery`] is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GalleryMode {
    /// Fourier transforms kept in memory.
    Pretransformed,
    /// Quantised rows kept; transforms computed per query.
    OnTheFly,
}

impl PackedGallery {
    /// Packs `rows` (n quantised vectors of dimension d, row-major).
    ///
    /// # Errors
    /// [`HeError::WrongDimension`] when `rows` is not a whole number of d-vectors, and
    /// [`HeError::Malformed`] for a −128 component.
    pub fn new(layout: Layout, rows: Vec<i8>, mode: GalleryMode) -> Result<Self> {
        let d = layout.dimension();
        if rows.len() % d != 0 {
            return Err(HeError::WrongDimension {
                expected: d,
                actual: rows.len() % d,
            });
        }
        for row in rows.chunks_exact(d) {
            check_quantised(row, d)?;
        }
        let len = rows.len() / d;
        let storage = match mode {
            GalleryMode::OnTheFly => Storage::Rows(rows),
            GalleryMode::Pretransformed => {
                let fft = NegacyclicFft::get(layout.polynomial_size());
                let blocks = (0..layout.block_count(len))
                    .into_par_iter()
                    .map_init(
                        || fft.scratch(),
                        |scratch, b| {
                            transform_block(
                                &layout,
                                &fft,
                                block_rows(&layout, &rows, len, b),
                                scratch,
                            )
                        },
                    )
                    .collect();
                Storage::Fourier(blocks)
            }
        };
        Ok(Self {
            layout,
            len,
            storage,
        })
    }

    /// Number of gallery vectors.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the gallery holds no vector.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The layout this gallery is packed for.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Bytes of memory the packed gallery occupies per vector.
    pub fn bytes_per_vector(&self) -> f64 {
        let bytes = match &self.storage {
            Storage::Fourier(blocks) => blocks.iter().map(|b| b.len() * 8).sum::<usize>(),
            Storage::Rows(rows) => rows.len(),
        };
        bytes as f64 / self.len.max(1) as f64
    }

    /// Vectors in block `b` (the last block may be partial).
    pub fn block_len(&self, b: usize) -> usize {
        let cap = self.layout.block_capacity();
        self.len.saturating_sub(b * cap).min(cap)
    }

    /// The transform of block `b`: borrowed when pretransformed, computed into `buf` otherwise.
    fn block_fourier<'a>(
        &'a self,
        b: usize,
        buf: &'a mut Vec<f64>,
        fft: &NegacyclicFft,
        scratch: &mut FftScratch,
    ) -> &'a [f64] {
        match &self.storage {
            Storage::Fourier(blocks) => &blocks[b],
            Storage::Rows(rows) => {
                *buf = transform_block(
                    &self.layout,
                    fft,
                    block_rows(&self.layout, rows, self.len, b),
                    scratch,
                );
                buf
            }
        }
    }
}

fn block_rows<'a>(layout: &Layout, rows: &'a [i8], len: usize, b: usize) -> &'a [i8] {
    let cap = layout.block_capacity();
    let d = layout.dimension();
    &rows[b * cap * d..((b + 1) * cap).min(len) * d]
}

/// Transforms the m chunk polynomials of one block into `[tile][chunk][TILE_F64]` layout.
fn transform_block(
    layout: &Layout,
    fft: &NegacyclicFft,
    rows: &[i8],
    scratch: &mut FftScratch,
) -> Vec<f64> {
    let (n, m) = (layout.polynomial_size(), layout.chunk_count());
    let mut out = vec![0f64; m * n];
    let mut poly = vec![0i64; n];
    let mut tmp = vec![0f64; n];
    for c in 0..m {
        layout.gallery_chunk_polynomial(rows, c, &mut poly);
        fft.forward(|j| poly[j], &mut tmp, scratch);
        for (tile, values) in tmp.chunks_exact(TILE_F64).enumerate() {
            let at = (tile * m + c) * TILE_F64;
            out[at..at + TILE_F64].copy_from_slice(values);
        }
    }
    out
}

/// What the holder keeps from one response block: the masks r_t it added.
///
/// The holder's additive share of score t is −r_t mod 2^k; the verifier's is the decrypted
/// value, so `score_t = verifier_share_t − r_t (mod 2^k)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HolderBlock {
    /// Block index within the session.
    pub index: usize,
    /// The block to send to the verifier.
    pub response: ResponseBlock,
    /// The masks r_t, one per gallery vector of the block (padding excluded).
    pub masks: Vec<u32>,
}

/// Switches that exist only so tests can show what flooding and modulus switching do.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResponseOptions {
    pub flooding: bool,
    pub modulus_switch: bool,
}

/// A verifier's query, transformed once and ready to answer any number of blocks.
pub struct HolderQuery {
    params: ParameterSet,
    shape: SessionShape,
    gallery_len: usize,
    /// `[tile][chunk][stream][TILE_F64]`, streams = mask limbs then body limbs.
    query_fourier: Vec<f64>,
    /// `[tile][stream][TILE_F64]`.
    pk_fourier: Vec<f64>,
    fft: Arc<NegacyclicFft>,
}

impl HolderQuery {
    /// Checks a query against the session and transforms it.
    ///
    /// # Errors
    /// [`HeError::ParameterMismatch`] when shape and params disagree,
    /// [`HeError::Malformed`] when the query has the wrong number or size of ciphertexts or a
    /// coefficient out of range, and [`HeError::FloodingTooWeak`] when a response over
    /// `gallery.len()` vectors could not be hidden at the set's statistical level.
    pub fn new(
        params: &ParameterSet,
        shape: &SessionShape,
        query: &Query,
        gallery: &PackedGallery,
    ) -> Result<Self> {
        shape.check_params(params)?;
        if gallery.layout() != &shape.layout {
            return Err(HeError::ParameterMismatch(
                "gallery is packed for another layout".to_owned(),
            ));
        }
        query.check_shape(params, shape)?;
        let layout = &shape.layout;
        let total = (layout.block_count(gallery.len()) * layout.block_capacity()) as u64;
        params.check_flooding(layout.chunk_count(), total)?;

        let (n, m, limbs) = (params.n(), layout.chunk_count(), params.limb_count());
        let streams = 2 * limbs;
        let fft = NegacyclicFft::get(n);
        let transform = |ct: &crate::wire::SeededCiphertext, scratch: &mut FftScratch| {
            let mut f = vec![0f64; streams * n];
            forward_limbs(&fft, &ct.mask(params), limbs, &mut f[..limbs * n], scratch);
            forward_limbs(&fft, &ct.body, limbs, &mut f[limbs * n..], scratch);
            f
        };
        let tiles = n / TILE_F64;
        let mut query_fourier = vec![0f64; m * streams * n];
        // Transform a batch of chunks in parallel, then scatter it into tile-major order; the
        // batch bounds the temporary memory.
        const BATCH: usize = 32;
        for (b, batch) in query.chunks.chunks(BATCH).enumerate() {
            let transformed: Vec<Vec<f64>> = batch
                .par_iter()
                .map_init(|| fft.scratch(), |scratch, ct| transform(ct, scratch))
                .collect();
            for (i, f) in transformed.iter().enumerate() {
                let c = b * BATCH + i;
                for tile in 0..tiles {
                    for s in 0..streams {
                        let at = ((tile * m + c) * streams + s) * TILE_F64;
                        let from = s * n + tile * TILE_F64;
                        query_fourier[at..at + TILE_F64].copy_from_slice(&f[from..from + TILE_F64]);
                    }
                }
            }
        }
        let pk = transform(&query.public_key, &mut fft.scratch());
        let mut pk_fourier = vec![0f64; streams * n];
        for s in 0..streams {
            for tile in 0..tiles {
                let at = (tile * streams + s) * TILE_F64;
                pk_fourier[at..at + TILE_F64]
                    .copy_from_slice(&pk[s * n + tile * TILE_F64..][..TILE_F64]);
            }
        }
        Ok(Self {
            params: params.clone(),
            shape: shape.clone(),
            gallery_len: gallery.len(),
            query_fourier,
            pk_fourier,
            fft,
        })
    }

    /// Number of response blocks for the gallery this query was checked against.
    pub fn block_count(&self) -> usize {
        self.shape.layout.block_count(self.gallery_len)
    }

    /// Computes the response blocks `blocks` (in parallel across groups of blocks).
    ///
    /// Call it with consecutive ranges to stream a large gallery in bounded memory. All
    /// randomness (re-randomiser, noise, flooding, masks) is drawn from `rng` up front, one seed
    /// per block, so the output does not depend on thread scheduling.
    pub fn respond<R: Rng + CryptoRng>(
        &self,
        gallery: &PackedGallery,
        blocks: Range<usize>,
        rng: &mut R,
    ) -> Result<Vec<HolderBlock>> {
        self.respond_with(
            gallery,
            blocks,
            rng,
            ResponseOptions {
                flooding: true,
                modulus_switch: true,
            },
        )
    }

    pub(crate) fn respond_with<R: Rng + CryptoRng>(
        &self,
        gallery: &PackedGallery,
        blocks: Range<usize>,
        rng: &mut R,
        options: ResponseOptions,
    ) -> Result<Vec<HolderBlock>> {
        if gallery.len() != self.gallery_len || gallery.layout() != &self.shape.layout {
            return Err(HeError::ParameterMismatch(
                "query was checked against another gallery".to_owned(),
            ));
        }
        assert!(
            blocks.end <= self.block_count(),
            "block range past the gallery"
        );
        let seeds: Vec<(usize, u128)> = blocks.map(|b| (b, rng.random::<u128>())).collect();
        // As few groups as keep every thread busy, each at most MAX_GROUP_BLOCKS.
        let group = seeds
            .len()
            .div_ceil(rayon::current_num_threads())
            .clamp(1, MAX_GROUP_BLOCKS);
        let groups: Vec<Vec<HolderBlock>> = seeds
            .par_chunks(group)
            .map(|group| self.respond_group(gallery, group, options))
            .collect::<Result<_>>()?;
        Ok(groups.into_iter().flatten().collect())
    }

    fn respond_group(
        &self,
        gallery: &PackedGallery,
        group: &[(usize, u128)],
        options: ResponseOptions,
    ) -> Result<Vec<HolderBlock>> {
        let p = &self.params;
        let n = p.n();
        let limbs = p.limb_count();
        let streams = 2 * limbs;
        let mut scratch = self.fft.scratch();
        let mut generators: Vec<_> = group
            .iter()
            .map(|&(_, seed)| RandomGenerator::<DefaultRandomGenerator>::new(Seed(seed)))
            .collect();
        // Re-randomiser u (binary) per block, transformed.
        let mut u_fourier = vec![vec![0f64; n]; group.len()];
        for (generator, uf) in generators.iter_mut().zip(u_fourier.iter_mut()) {
            let mut u = vec![0u64; n];
            generator.fill_slice_with_random_uniform_binary(&mut u);
            self.fft.forward(|j| u[j] as i64, uf, &mut scratch);
        }
        let mut bufs = vec![Vec::new(); group.len()];
        let fouriers: Vec<&[f64]> = group
            .iter()
            .zip(bufs.iter_mut())
            .map(|(&(b, _), buf)| gallery.block_fourier(b, buf, &self.fft, &mut scratch))
            .collect();
        let mut outs = vec![vec![0f64; streams * n]; group.len()];
        let job_blocks = fouriers
            .iter()
            .zip(u_fourier.iter())
            .zip(outs.iter_mut())
            .map(|((f, u), o)| (*f, u.as_slice(), o.as_mut_slice()))
            .collect();
        match streams {
            6 => accumulate::<6>(Accumulate {
                query: &self.query_fourier,
                pk: &self.pk_fourier,
                chunks: self.shape.layout.chunk_count(),
                blocks: job_blocks,
            }),
            12 => accumulate::<12>(Accumulate {
                query: &self.query_fourier,
                pk: &self.pk_fourier,
                chunks: self.shape.layout.chunk_count(),
                blocks: job_blocks,
            }),
            other => unreachable!("{other} streams: validated parameter sets have 3 or 6 limbs"),
        }
        group
            .iter()
            .zip(generators.iter_mut())
            .zip(outs.iter())
            .map(|((&(index, _), generator), acc)| {
                self.finish_block(gallery, index, generator, acc, &mut scratch, options)
            })
            .collect()
    }

    /// Inverse transform, re-randomisation noise, masking, flooding and modulus switching of
    /// one accumulated block.
    fn finish_block(
        &self,
        gallery: &PackedGallery,
        index: usize,
        generator: &mut RandomGenerator<DefaultRandomGenerator>,
        acc: &[f64],
        scratch: &mut FftScratch,
        options: ResponseOptions,
    ) -> Result<HolderBlock> {
        let p = &self.params;
        let (n, limbs, log_q) = (p.n(), p.limb_count(), p.log_q());
        let layout = &self.shape.layout;
        let mut mask = vec![0u128; n];
        let mut body = vec![0u128; n];
        inverse_limbs(
            &self.fft,
            &acc[..limbs * n],
            limbs,
            log_q,
            &mut mask,
            scratch,
        )?;
        inverse_limbs(
            &self.fft,
            &acc[limbs * n..],
            limbs,
            log_q,
            &mut body,
            scratch,
        )?;

        let eta = TUniform::<u128>::new(p.noise_bound_log2);
        let flood = TUniform::<u128>::new(p.flooding_bound_log2);
        let k = self.shape.share_bits;
        let b = if options.modulus_switch {
            self.shape.switched_modulus_log
        } else {
            log_q
        };
        assert!(b <= 64, "unswitched responses exist only for 64-bit moduli");
        let switch = |x: u128| -> u64 {
            if b == log_q {
                return x as u64;
            }
            let shift = log_q - b;
            (p.reduce(x.wrapping_add(1u128 << (shift - 1))) >> shift) as u64
        };
        let count = gallery.block_len(index);
        // Fixed sampling order (e1 for the mask, then per score e2, r, flooding) so responses
        // are reproducible from the block seed.
        let mask_out = mask
            .iter()
            .map(|&a| {
                let e1: u128 = generator.random_from_distribution(eta);
                switch(p.reduce(a.wrapping_add(e1)))
            })
            .collect();
        let mut masks = Vec::with_capacity(count);
        let mut body_out = Vec::with_capacity(count);
        let delta_log = log_q - k;
        for t in 0..count {
            let e2: u128 = generator.random_from_distribution(eta);
            let r = (generator.random_uniform::<u64>() & modulus_mask(k) as u64) as u32;
            let f: u128 = generator.random_from_distribution(flood);
            let mut v = body[layout.score_coefficient(t)]
                .wrapping_add(e2)
                .wrapping_add((r as u128) << delta_log);
            if options.flooding {
                v = v.wrapping_add(f);
            }
            masks.push(r);
            body_out.push(switch(p.reduce(v)));
        }
        Ok(HolderBlock {
            index,
            response: ResponseBlock {
                switched_modulus_log: b,
                mask: mask_out,
                body: body_out,
            },
            masks,
        })
    }
}
