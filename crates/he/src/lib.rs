//! # privface-he — the homomorphic half of privface
//!
//! The verifier encrypts its quantised probe under a fresh RLWE key (tfhe core_crypto's binary
//! GLWE key, GLWE dimension 1); the holder multiplies the ciphertexts by its packed gallery in
//! the NTT domain (exactly, modulo two primes), re-randomises with the verifier's public key,
//! switches the modulus down and adds to every score a mask R uniform over the switched
//! modulus, so every returned score value is uniform whatever the verifier sent. It returns
//! one block per N/g gallery vectors. Decrypting gives the verifier `score + r (mod 2^k)`,
//! where the holder keeps r, R rounded to k bits (off by one with probability at most
//! 2^−30 for an honest verifier). Neither learns a score. The normative description is `protocols/` in the repository.
//!
//! ```
//! // Toy parameters: NOT SECURE, for the example only.
//! use privface_he::{ParameterSet, Layout, SessionShape, VerifierKey, PackedGallery, GalleryMode, HolderQuery};
//! use rand::SeedableRng;
//! let params = ParameterSet::toy();
//! let layout = Layout::new(&params, 8, 2).unwrap();
//! let shape = SessionShape::new(&params, layout, 12).unwrap();
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let probe: Vec<i8> = vec![1, -2, 3, 4, 5, 6, 7, -8];
//! let gallery_rows: Vec<i8> = vec![2; 8 * 3];
//! let gallery = PackedGallery::new(layout, gallery_rows, GalleryMode::Pretransformed).unwrap();
//!
//! let key = VerifierKey::generate(&params, &mut rng);
//! let query = key.encrypt_query(&shape, &probe, &mut rng).unwrap();
//! let holder = HolderQuery::new(&params, &shape, &query, &gallery).unwrap();
//! let block = holder.respond(&gallery, 0..1, &mut rng).unwrap().remove(0);
//! let shares = key.decrypt_block(&shape, &block.response, 3).unwrap();
//! let score = privface_gc::reconstruct_score(shares[0], block.masks[0], 12);
//! assert_eq!(score, 2 * (1 - 2 + 3 + 4 + 5 + 6 + 7 - 8));
//! ```

mod bits;
pub mod classify;
pub mod error;
pub mod holder;
pub mod layout;
mod masking;
pub mod ntt;
pub mod packed;
pub mod params;
pub mod plain;
pub mod projection;
pub mod quantise;
pub mod units;
pub mod verifier;
pub mod wire;

#[cfg(test)]
mod hiding_tests;
#[cfg(test)]
mod precision_tests;
#[cfg(test)]
mod tests;

pub use classify::{InputQuantiser, MAX_CLASSES, QuantisedModel};
pub use error::{HeError, Result};
pub use holder::HolderQuery;
pub use layout::{Layout, best_group_size, group_sizes, quantised_l1_bound, session_bytes};
pub use packed::{GalleryMode, PackedGallery, RowSource};
pub use params::{ParameterSet, ParameterSpec};
pub use projection::Projection;
pub use quantise::{MAX_DROPPED_BITS, Quantiser, coarse_threshold, share_bits_for_dimension};
pub use units::{Dimension, ShareBits, VectorCount};
pub use verifier::VerifierKey;
pub use wire::SeededCiphertext;

use bits::modulus_mask;

/// Everything both parties must agree on before a query: parameter set, layout, share width k
/// and the modulus-switch target b that follows from them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionShape {
    /// Name of the parameter set.
    pub params_name: String,
    /// The grouped layout.
    pub layout: Layout,
    /// Share width k in bits.
    pub share_bits: u32,
    /// Modulus-switch target b in bits.
    pub switched_modulus_log: u32,
    /// Low score bits the shares drop (0: exact). The probe is encoded at 2^(q−k−j), so the
    /// k-bit shares carry ⌊score/2^j⌋ up to a random carry (spec §4.1).
    #[serde(default)]
    pub dropped_bits: u32,
}

impl SessionShape {
    /// Derives the shape for `params`, `layout` and k.
    ///
    /// # Errors
    /// [`HeError::InvalidParameters`] when the noise does not allow k-bit shares.
    pub fn new(params: &ParameterSet, layout: Layout, share_bits: u32) -> Result<Self> {
        if !(2..=32).contains(&share_bits) {
            return Err(HeError::InvalidParameters(format!(
                "share width {share_bits} not in [2, 32]"
            )));
        }
        if layout.polynomial_size() != params.n() || layout.rns() != params.rns() {
            return Err(HeError::ParameterMismatch(
                "layout ring degree or modulus differs from the parameter set".to_owned(),
            ));
        }
        let switched_modulus_log = params.switched_modulus_log(layout.chunk_count(), share_bits)?;
        if switched_modulus_log > 64 {
            return Err(HeError::InvalidParameters(format!(
                "switch target {switched_modulus_log} > 64 bits"
            )));
        }
        Ok(Self {
            params_name: params.name.clone(),
            layout,
            share_bits,
            switched_modulus_log,
            dropped_bits: 0,
        })
    }

    /// The same shape with shares that drop `dropped_bits` low score bits (spec §4.1); the
    /// share width must already be the coarse one ([`Quantiser::session_share_bits`]).
    ///
    /// # Errors
    /// [`HeError::InvalidParameters`] above [`MAX_DROPPED_BITS`].
    pub fn with_dropped_bits(mut self, dropped_bits: u32) -> Result<Self> {
        if dropped_bits > MAX_DROPPED_BITS {
            return Err(HeError::InvalidParameters(format!(
                "{dropped_bits} dropped bits (at most {MAX_DROPPED_BITS})"
            )));
        }
        self.dropped_bits = dropped_bits;
        Ok(self)
    }

    /// Checks that this shape belongs to `params`.
    pub fn check_params(&self, params: &ParameterSet) -> Result<()> {
        if self.params_name != params.name
            || self.layout.polynomial_size() != params.n()
            || self.layout.rns() != params.rns()
        {
            return Err(HeError::ParameterMismatch(format!(
                "session uses `{}` (N = {}), got `{}` (N = {})",
                self.params_name,
                self.layout.polynomial_size(),
                params.name,
                params.n()
            )));
        }
        Ok(())
    }
}

/// The verifier's query: a public key (seeded encryption of zero) and m chunk ciphertexts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Encryption of zero, used by the holder to re-randomise.
    pub public_key: SeededCiphertext,
    /// One ciphertext per chunk of the probe.
    pub chunks: Vec<SeededCiphertext>,
}

impl Query {
    /// Encoded length under `params` and `shape`.
    pub fn encoded_len(params: &ParameterSet, shape: &SessionShape) -> usize {
        (shape.layout.chunk_count() + 1) * SeededCiphertext::encoded_len(params)
    }

    /// Encodes: the public key, then the chunk ciphertexts in order.
    pub fn encode(&self, params: &ParameterSet) -> Vec<u8> {
        let mut out =
            Vec::with_capacity((self.chunks.len() + 1) * SeededCiphertext::encoded_len(params));
        self.public_key.encode_into(params, &mut out);
        for c in &self.chunks {
            c.encode_into(params, &mut out);
        }
        out
    }

    /// Decodes exactly one query for `shape`.
    pub fn decode(params: &ParameterSet, shape: &SessionShape, bytes: &[u8]) -> Result<Self> {
        shape.check_params(params)?;
        if bytes.len() != Self::encoded_len(params, shape) {
            return Err(HeError::Malformed {
                object: "query",
                reason: format!(
                    "{} bytes, expected {}",
                    bytes.len(),
                    Self::encoded_len(params, shape)
                ),
            });
        }
        let mut cts = bytes
            .chunks_exact(SeededCiphertext::encoded_len(params))
            .map(|c| SeededCiphertext::decode(params, c));
        let public_key = cts.next().expect("length checked")?;
        let chunks = cts.collect::<Result<_>>()?;
        Ok(Self { public_key, chunks })
    }

    /// Checks counts, lengths and coefficient ranges against the session.
    pub fn check_shape(&self, params: &ParameterSet, shape: &SessionShape) -> Result<()> {
        let malformed = |reason: String| {
            Err(HeError::Malformed {
                object: "query",
                reason,
            })
        };
        if self.chunks.len() != shape.layout.chunk_count() {
            return malformed(format!(
                "{} chunk ciphertexts, expected {}",
                self.chunks.len(),
                shape.layout.chunk_count()
            ));
        }
        let q = modulus_mask(params.log_q());
        for ct in std::iter::once(&self.public_key).chain(&self.chunks) {
            if ct.body.len() != params.n() {
                return malformed(format!(
                    "body of {} coefficients, expected {}",
                    ct.body.len(),
                    params.n()
                ));
            }
            if ct.body.iter().any(|&c| c & !q != 0) {
                return malformed("body coefficient not reduced mod Q".to_owned());
            }
        }
        Ok(())
    }
}

/// One response block: the modulus-switched mask and the used body coefficients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseBlock {
    /// Bits b of every value after modulus switching.
    pub switched_modulus_log: u32,
    /// N mask coefficients mod 2^b.
    pub mask: Vec<u64>,
    /// One body coefficient per gallery vector of the block, mod 2^b.
    pub body: Vec<u64>,
}

impl ResponseBlock {
    /// Bit-packs the block (mask, then body).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(wire::response_block_bytes(
            self.mask.len(),
            self.body.len(),
            self.switched_modulus_log,
        ));
        wire::pack_bits(
            self.mask.iter().chain(&self.body).copied(),
            self.switched_modulus_log,
            &mut out,
        );
        out
    }

    /// Decodes a block of `count` scores for `shape`, consuming exactly all of `bytes`.
    pub fn decode(shape: &SessionShape, count: usize, bytes: &[u8]) -> Result<Self> {
        let n = shape.layout.polynomial_size();
        if count == 0 || count > shape.layout.block_capacity() {
            return Err(HeError::Malformed {
                object: "response block",
                reason: format!("{count} scores in a block"),
            });
        }
        let b = shape.switched_modulus_log;
        let mut values = wire::unpack_bits(bytes, b, n + count, "response block")?;
        let body = values.split_off(n);
        Ok(Self {
            switched_modulus_log: b,
            mask: values,
            body,
        })
    }

    fn check_shape(&self, shape: &SessionShape) -> Result<()> {
        let malformed = |reason: String| {
            Err(HeError::Malformed {
                object: "response block",
                reason,
            })
        };
        let b = self.switched_modulus_log;
        // The session fixes b (a 64-bit block that was not switched is the one exception, used
        // by the noise measurements); one below k + 2 leaves no room for the rounding of §6.6
        // and is refused whatever else holds, so the share shift can never underflow.
        if b < shape.share_bits + 2 || (b != shape.switched_modulus_log && b != 64) {
            return malformed(format!("switched modulus 2^{b}"));
        }
        if !(1..=64).contains(&b) {
            return malformed(format!("switched modulus 2^{b}"));
        }
        if self.mask.len() != shape.layout.polynomial_size() {
            return malformed(format!("mask of {} coefficients", self.mask.len()));
        }
        if self.body.is_empty() || self.body.len() > shape.layout.block_capacity() {
            return malformed(format!("{} body coefficients", self.body.len()));
        }
        let limit = modulus_mask(b) as u64;
        if self.mask.iter().chain(&self.body).any(|&v| v & !limit != 0) {
            return malformed("value wider than the switched modulus".to_owned());
        }
        Ok(())
    }
}

/// What the holder keeps from one response block: its shares r_t.
///
/// r_t is the holder's mask R_t rounded to k bits; the verifier's share is its decrypted
/// value, so `score_t = verifier_share_t − r_t (mod 2^k)`, off by one with the small
/// probability of [`ParameterSet::share_error_bound`].
#[derive(Clone, PartialEq, Eq)]
pub struct HolderBlock {
    /// Block index within the session.
    pub index: usize,
    /// The block to send to the verifier.
    pub response: ResponseBlock,
    /// The shares r_t, one per gallery vector of the block (padding excluded).
    pub masks: Vec<u32>,
}

impl std::fmt::Debug for HolderBlock {
    // The masks are the holder's shares: with the verifier's they give the scores. Never logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HolderBlock")
            .field("index", &self.index)
            .field("response", &self.response)
            .field("masks", &format_args!("[{} hidden]", self.masks.len()))
            .finish()
    }
}
