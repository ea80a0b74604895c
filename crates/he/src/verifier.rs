//! The verifier's side: per-session key, query encryption, share decryption.

use rand::{CryptoRng, Rng};
use rayon::prelude::*;
use tfhe::core_crypto::commons::math::random::{RandomGenerator, Seed};
use tfhe::core_crypto::prelude::{
    DefaultRandomGenerator, GlweSecretKeyOwned, SecretRandomGenerator, TUniform,
    allocate_and_generate_new_binary_glwe_secret_key,
};

use crate::bits::modulus_mask;
use crate::error::{HeError, Result};
use crate::layout::Layout;
use crate::ntt::RnsNtt;
use crate::params::ParameterSet;
use crate::quantise::check_quantised;
use crate::wire::{SEED_BYTES, SeededCiphertext};
use crate::{Query, ResponseBlock, SessionShape};

/// The verifier's secret key for one session: a uniform binary GLWE key of dimension 1.
///
/// Not `Debug` and never serialised: it must not reach a log.
pub struct VerifierKey {
    params: ParameterSet,
    secret: GlweSecretKeyOwned<u128>,
    /// `[prime][N]` residues of the transformed key, for both primes (a representation uses
    /// one or both).
    secret_ntt: Vec<u64>,
    ntt: std::sync::Arc<RnsNtt>,
}

impl VerifierKey {
    /// Generates a fresh key (tfhe's binary GLWE key generation, seeded from `rng`). Every
    /// [`ParameterSet`] is valid by construction, so this cannot fail.
    pub fn generate<R: Rng + CryptoRng>(params: &ParameterSet, rng: &mut R) -> Self {
        let mut generator =
            SecretRandomGenerator::<DefaultRandomGenerator>::new(Seed(rng.random::<u128>()));
        let secret = allocate_and_generate_new_binary_glwe_secret_key(
            params.glwe_dimension,
            params.polynomial_size,
            &mut generator,
        );
        let ntt = RnsNtt::get(params.n());
        let mut secret_ntt = vec![0u64; 2 * params.n()];
        let s = secret.as_ref();
        ntt.forward_signed(|j| s[j] as i64, &mut secret_ntt);
        Self {
            params: params.clone(),
            secret,
            secret_ntt,
            ntt,
        }
    }

    /// A key from its coefficients (each 0 or 1), as published in test vectors.
    ///
    /// # Errors
    /// [`HeError::Malformed`] for the wrong length or a coefficient other than 0 or 1.
    pub fn from_binary_key(params: &ParameterSet, bits: &[u8]) -> Result<Self> {
        if bits.len() != params.n() || bits.iter().any(|&b| b > 1) {
            return Err(HeError::Malformed {
                object: "secret key",
                reason: "expected N coefficients, each 0 or 1".to_owned(),
            });
        }
        let data: Vec<u128> = bits.iter().map(|&b| b as u128).collect();
        let secret = GlweSecretKeyOwned::from_container(data, params.polynomial_size);
        let ntt = RnsNtt::get(params.n());
        let mut secret_ntt = vec![0u64; 2 * params.n()];
        ntt.forward_signed(|j| bits[j] as i64, &mut secret_ntt);
        Ok(Self {
            params: params.clone(),
            secret,
            secret_ntt,
            ntt,
        })
    }

    /// The parameter set of this key.
    pub fn params(&self) -> &ParameterSet {
        &self.params
    }

    /// The underlying tfhe key (for cross-checks with tfhe's own algorithms).
    pub fn tfhe_key(&self) -> &GlweSecretKeyOwned<u128> {
        &self.secret
    }

    /// Encrypts `plaintext` (already scaled, mod Q) as a seeded GLWE ciphertext:
    /// body = a·s + e + plaintext with a expanded from a fresh seed and e ← TUniform(η).
    fn encrypt_seeded(
        &self,
        plaintext: &[u128],
        noise: &mut RandomGenerator<DefaultRandomGenerator>,
        seed: [u8; SEED_BYTES],
    ) -> SeededCiphertext {
        let p = &self.params;
        let ct = SeededCiphertext {
            seed,
            body: Vec::new(),
        };
        let mask = ct.mask(p);
        let mut body = self.ntt.mul_by_small(p.rns(), &mask, &self.secret_ntt);
        let eta = TUniform::<u128>::new(p.noise_bound_log2);
        for (b, m) in body.iter_mut().zip(plaintext) {
            let e: u128 = noise.random_from_distribution(eta);
            *b = p.reduce(b.wrapping_add(e).wrapping_add(*m));
        }
        SeededCiphertext { seed, body }
    }

    /// Encrypts a quantised probe under `shape`: the public key (an encryption of zero) and
    /// one ciphertext per chunk, carrying `Δ·Q_c(X)` with Δ = Q/2^(k+j) (j = the shape's
    /// dropped bits, usually 0).
    ///
    /// # Errors
    /// [`HeError::WrongDimension`] / [`HeError::Malformed`] for a bad probe,
    /// [`HeError::ParameterMismatch`] when `shape` belongs to another parameter set.
    pub fn encrypt_query<R: Rng + CryptoRng>(
        &self,
        shape: &SessionShape,
        probe: &[i8],
        rng: &mut R,
    ) -> Result<Query> {
        shape.check_params(&self.params)?;
        let layout = &shape.layout;
        check_quantised(probe, layout.dimension())?;
        let p = &self.params;
        let n = p.n();
        // Δ = 2^(q−k), or 2^(q−k−j) when the shares drop j low score bits.
        let delta_log = p.log_q() - shape.share_bits - shape.dropped_bits;
        // Seeds are drawn in order from `rng`, so the query is reproducible; the chunks are
        // then encrypted in parallel, each with its own noise generator.
        let seeds: Vec<([u8; SEED_BYTES], u128)> = (0..=layout.chunk_count())
            .map(|_| (rng.random(), rng.random()))
            .collect();
        let encrypt = |c: usize| {
            let (mask_seed, noise_seed) = seeds[c];
            let mut noise = RandomGenerator::<DefaultRandomGenerator>::new(Seed(noise_seed));
            let mut plaintext = vec![0u128; n];
            if c > 0 {
                let mut chunk_poly = vec![0i64; n];
                layout.probe_chunk_polynomial(probe, c - 1, &mut chunk_poly);
                for (m, &v) in plaintext.iter_mut().zip(&chunk_poly) {
                    *m = p.reduce((v as i128 as u128).wrapping_shl(delta_log));
                }
            }
            self.encrypt_seeded(&plaintext, &mut noise, mask_seed)
        };
        let mut cts: Vec<SeededCiphertext> = (0..=layout.chunk_count())
            .into_par_iter()
            .map(encrypt)
            .collect();
        let chunks = cts.split_off(1);
        let public_key = cts.pop().expect("public key");
        Ok(Query { public_key, chunks })
    }

    /// Encrypts arbitrary plaintext polynomials (already scaled, mod Q) as a query for
    /// `shape`: `plaintexts[0]` under the public-key slot, then one per chunk. An honest
    /// verifier uses [`VerifierKey::encrypt_query`]; this exists for custom encodings and for
    /// tests that play a verifier who deviates (the holder cannot tell the difference, which
    /// is why spec §6.3 hides responses whatever the query holds).
    ///
    /// # Errors
    /// [`HeError::Malformed`] for the wrong number or length of plaintexts,
    /// [`HeError::ParameterMismatch`] when `shape` belongs to another parameter set.
    pub fn encrypt_plaintexts<R: Rng + CryptoRng>(
        &self,
        shape: &SessionShape,
        plaintexts: &[Vec<u128>],
        rng: &mut R,
    ) -> Result<Query> {
        shape.check_params(&self.params)?;
        let n = self.params.n();
        if plaintexts.len() != shape.layout.chunk_count() + 1
            || plaintexts.iter().any(|p| p.len() != n)
        {
            return Err(HeError::Malformed {
                object: "plaintexts",
                reason: format!(
                    "expected {} polynomials of {n} coefficients",
                    shape.layout.chunk_count() + 1
                ),
            });
        }
        let mut cts: Vec<SeededCiphertext> = plaintexts
            .iter()
            .map(|plaintext| {
                let seed = rng.random();
                let mut noise =
                    RandomGenerator::<DefaultRandomGenerator>::new(Seed(rng.random::<u128>()));
                let reduced: Vec<u128> = plaintext.iter().map(|&m| self.params.reduce(m)).collect();
                self.encrypt_seeded(&reduced, &mut noise, seed)
            })
            .collect();
        let chunks = cts.split_off(1);
        let public_key = cts.pop().expect("public key");
        Ok(Query { public_key, chunks })
    }

    /// Decrypts the verifier's shares from one response block holding `count` scores:
    /// share_t = round((body_t − (mask·s)[t·g+g−1]) / 2^(b−k)) mod 2^k.
    ///
    /// # Errors
    /// [`HeError::Malformed`] when the block does not have the shape of the session.
    pub fn decrypt_block(
        &self,
        shape: &SessionShape,
        block: &ResponseBlock,
        count: usize,
    ) -> Result<Vec<u32>> {
        let noisy = self.decrypt_phases(shape, block, count)?;
        let b = block.switched_modulus_log;
        let k = shape.share_bits;
        let shift = b - k;
        Ok(noisy
            .into_iter()
            .map(|w| {
                ((w.wrapping_add(1u64 << (shift - 1)) >> shift) & (modulus_mask(k) as u64)) as u32
            })
            .collect())
    }

    /// The undecoded phases `body_t − (mask·s)[coefficient]` mod 2^b, before rounding to
    /// shares.
    ///
    /// # Errors
    /// As [`VerifierKey::decrypt_block`].
    pub fn decrypt_phases(
        &self,
        shape: &SessionShape,
        block: &ResponseBlock,
        count: usize,
    ) -> Result<Vec<u64>> {
        shape.check_params(&self.params)?;
        block.check_shape(shape)?;
        let layout: &Layout = &shape.layout;
        if count != block.body.len() {
            return Err(HeError::Malformed {
                object: "response block",
                reason: format!("{} scores in the block, {count} expected", block.body.len()),
            });
        }
        let b = block.switched_modulus_log;
        let mask: Vec<u128> = block.mask.iter().map(|&v| v as u128).collect();
        let mask_s =
            self.ntt
                .mul_by_small(self.params.rns().with_modulus(b), &mask, &self.secret_ntt);
        let modulus = modulus_mask(b) as u64;
        Ok((0..count)
            .map(|t| {
                block.body[t].wrapping_sub(mask_s[layout.score_coefficient(t)] as u64) & modulus
            })
            .collect())
    }
}
