//! The holder's side: the per-query response computation over a [`PackedGallery`].

use std::ops::Range;
use std::sync::Arc;

use rand::{CryptoRng, Rng};
use rayon::prelude::*;
use tfhe::core_crypto::commons::math::random::{RandomGenerator, Seed};
use tfhe::core_crypto::prelude::{DefaultRandomGenerator, TUniform};

use crate::HolderBlock;
use crate::error::{HeError, Result};
use crate::masking::{Masker, ResponseOptions};
use crate::ntt::{Accumulate, Rns, RnsNtt, ScatterOn, scatter_chunks, scatter_tiles};
use crate::packed::PackedGallery;
use crate::params::ParameterSet;
use crate::{Query, ResponseBlock, SessionShape};

/// Most blocks processed together: one pass over the query transform (hundreds of MB at g = 1)
/// serves all of them, so the query is read from memory once per group instead of per block.
/// At d = 512, g = 1 on one core (32 blocks) 16 measured 0.69 µs per vector, 32 0.64 and 64
/// no better; a group's outputs take 8·6·N bytes per block (12.6 MB at 32).
const MAX_GROUP_BLOCKS: usize = 32;

/// Most blocks transformed together for a gallery kept as rows: each block's transform is
/// 8·d·N/g bytes (32 MB at d = 512, g = 1) of the thread's memory, against the query's
/// 8·(m + 1)·6·N bytes (201 MB) read once per group. At 4 the query's reads were 6 KB per
/// vector, more than the block's own transform moves; 8 (256 MB per thread) measured 7 % faster
/// at n = 10^7.
const STREAM_GROUP_BLOCKS: usize = 8;

/// A verifier's query, transformed once and ready to answer any number of blocks.
pub struct HolderQuery {
    params: ParameterSet,
    shape: SessionShape,
    gallery_len: usize,
    /// `[tile][chunk][stream][LANES]` residues; stream = part (mask, body) × digit × prime.
    query: Vec<u64>,
    /// `[tile][stream][LANES]` residues of the public key.
    public_key: Vec<u64>,
    ntt: Arc<RnsNtt>,
    rns: Rns,
}

impl HolderQuery {
    /// Checks a query against the session and transforms it.
    ///
    /// # Errors
    /// [`HeError::ParameterMismatch`] when shape, params or gallery disagree,
    /// [`HeError::Malformed`] when the query has the wrong number or size of ciphertexts. No
    /// content check is needed for hiding: whatever the bodies hold, every returned body value
    /// is uniform (spec §6.3).
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

        let n = params.n();
        let rns = params.rns();
        let half = rns.rows() * n;
        let ntt = RnsNtt::get(n);
        // Mask digits then body digits: `[part][digit][prime][N]`, one contiguous stream set.
        let transform = |ct: &crate::wire::SeededCiphertext, out: &mut [u64]| {
            let (mask, body) = out.split_at_mut(half);
            ntt.forward_digits(rns, &ct.mask(params), mask);
            ntt.forward_digits(rns, &ct.body, body);
        };
        let m = layout.chunk_count();
        let mut transformed = vec![0u64; m * 2 * half];
        // Transform a batch of chunks in parallel, then scatter it into the tile-major layout;
        // the batch bounds the temporary memory.
        const BATCH: usize = 64;
        let mut residues = vec![0u64; BATCH.min(m) * 2 * half];
        for (b, batch) in query.chunks.chunks(BATCH).enumerate() {
            let residues = &mut residues[..batch.len() * 2 * half];
            residues
                .par_chunks_exact_mut(2 * half)
                .zip(batch)
                .for_each(|(out, ct)| transform(ct, out));
            let rows = (n, 2 * rns.rows());
            scatter_chunks(
                residues,
                rows,
                b * BATCH,
                m,
                &mut transformed,
                ScatterOn::Pool,
            );
        }
        let mut pk = vec![0u64; 2 * half];
        transform(&query.public_key, &mut pk);
        let mut public_key = vec![0u64; 2 * half];
        scatter_tiles(&pk, n, 0, 1, &mut public_key);
        Ok(Self {
            params: params.clone(),
            shape: shape.clone(),
            gallery_len: gallery.len(),
            query: transformed,
            public_key,
            ntt,
            rns,
        })
    }

    /// Number of response blocks for the gallery this query was checked against.
    pub fn block_count(&self) -> usize {
        self.shape.layout.block_count(self.gallery_len)
    }

    /// Computes the response blocks `blocks` (in parallel across groups of blocks).
    ///
    /// Call it with consecutive ranges to stream a large gallery in bounded memory. All
    /// randomness (re-randomiser, noise, masks) is drawn from `rng` up front, one seed
    /// per block, so the output does not depend on thread scheduling.
    ///
    /// # Errors
    /// [`HeError::ParameterMismatch`] for a gallery other than the one the query was checked
    /// against.
    pub fn respond<R: Rng + CryptoRng>(
        &self,
        gallery: &PackedGallery,
        blocks: Range<usize>,
        rng: &mut R,
    ) -> Result<Vec<HolderBlock>> {
        self.respond_with(gallery, blocks, rng, ResponseOptions::PROTOCOL)
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
        // As few groups as keep every thread busy, each at most MAX_GROUP_BLOCKS (or
        // STREAM_GROUP_BLOCKS for a gallery transformed per query). The output does not
        // depend on the grouping: every block has its own seed.
        let most = if gallery.transforms_per_query() {
            STREAM_GROUP_BLOCKS
        } else {
            MAX_GROUP_BLOCKS
        };
        let group = seeds
            .len()
            .div_ceil(rayon::current_num_threads())
            .clamp(1, most);
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
        let n = self.params.n();
        let primes = self.rns.primes();
        let streams = 2 * self.rns.rows();
        let mut generators: Vec<_> = group
            .iter()
            .map(|&(_, seed)| RandomGenerator::<DefaultRandomGenerator>::new(Seed(seed)))
            .collect();
        // Re-randomiser u (binary) per block, transformed.
        let mut u_residues = vec![vec![0u64; primes * n]; group.len()];
        let mut residues = vec![0u64; primes * n];
        for (generator, ur) in generators.iter_mut().zip(u_residues.iter_mut()) {
            let mut u = vec![0u64; n];
            generator.fill_slice_with_random_uniform_binary(&mut u);
            self.ntt.forward_signed(|j| u[j] as i64, &mut residues);
            scatter_tiles(&residues, n, 0, 1, ur);
        }
        let mut bufs = PackedGallery::take_buffers(group.len());
        let transforms: Vec<&[u64]> = group
            .iter()
            .zip(bufs.iter_mut())
            .map(|(&(b, _), buf)| gallery.block_transform(b, buf, &self.ntt))
            .collect::<Result<_>>()?;
        let mut outs = vec![vec![0u64; streams * n]; group.len()];
        let chunks = self.shape.layout.chunk_count();
        let blocks = transforms
            .iter()
            .zip(u_residues.iter())
            .zip(outs.iter_mut())
            .map(|((f, u), o)| (*f, u.as_slice(), o.as_mut_slice()))
            .collect();
        let (query, pk) = (&self.query[..], &self.public_key[..]);
        match (streams, primes) {
            (6, 1) => Accumulate::<6, 1> {
                query,
                pk,
                chunks,
                blocks,
            }
            .run(),
            (8, 2) => Accumulate::<8, 2> {
                query,
                pk,
                chunks,
                blocks,
            }
            .run(),
            other => unreachable!("{other:?} (streams, primes): moduli are 2^64 or 2^128"),
        }
        PackedGallery::return_buffers(bufs);
        Ok(group
            .iter()
            .zip(generators.iter_mut())
            .zip(outs.iter_mut())
            .map(|((&(index, _), generator), acc)| {
                self.finish_block(gallery, index, generator, acc, options)
            })
            .collect())
    }

    /// Inverse transform, re-randomisation noise, modulus switching and masking of one
    /// accumulated block (spec §6.3).
    fn finish_block(
        &self,
        gallery: &PackedGallery,
        index: usize,
        generator: &mut RandomGenerator<DefaultRandomGenerator>,
        acc: &mut [u64],
        options: ResponseOptions,
    ) -> HolderBlock {
        let p = &self.params;
        let n = p.n();
        let layout = &self.shape.layout;
        let mut mask = vec![0u128; n];
        let mut body = vec![0u128; n];
        let (mask_acc, body_acc) = acc.split_at_mut(self.rns.rows() * n);
        self.ntt.inverse_digits(self.rns, mask_acc, &mut mask);
        self.ntt.inverse_digits(self.rns, body_acc, &mut body);

        let eta = TUniform::<u128>::new(p.noise_bound_log2);
        let b = options.switch_to.unwrap_or(self.shape.switched_modulus_log);
        let masker = Masker::new(p, b, self.shape.share_bits);
        let count = gallery.block_len(index);
        // Fixed sampling order (e1 for each mask coefficient, then the mask of each score) so
        // responses are reproducible from the block seed.
        let mask_out = mask
            .iter()
            .map(|&a| {
                let e1: u128 = generator.random_from_distribution(eta);
                masker.switch(a.wrapping_add(e1))
            })
            .collect();
        let (body_out, masks) = (0..count)
            .map(|t| {
                masker.mask(
                    options.masking,
                    body[layout.score_coefficient(t)],
                    generator,
                )
            })
            .unzip();
        HolderBlock {
            index,
            response: ResponseBlock {
                switched_modulus_log: b,
                mask: mask_out,
                body: body_out,
            },
            masks,
        }
    }
}
