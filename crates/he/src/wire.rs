//! Byte encodings of the HE objects that cross the wire.
//!
//! All integers are little-endian. A seeded ciphertext is its 16-byte seed followed by the N
//! body coefficients, each `log Q / 8` bytes. A response block is the mask (N values) then the
//! used body coefficients (N/g values), each b bits, bit-packed least-significant bit first.
//! Decoders consume exactly the expected length or fail.

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};

use crate::bits::modulus_mask;
use crate::error::{HeError, Result};
use crate::params::ParameterSet;

/// Bytes in a mask seed.
pub const SEED_BYTES: usize = 16;

/// A GLWE (RLWE) ciphertext whose mask is expanded from a seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeededCiphertext {
    /// AES-128 key from which the mask is expanded (see [`expand_mask`]).
    pub seed: [u8; SEED_BYTES],
    /// Body coefficients mod Q.
    pub body: Vec<u128>,
}

/// Expands a mask seed into N uniform coefficients mod 2^log_q:
/// coefficient i is the little-endian integer `AES-128_seed(LE128(i))` reduced mod 2^log_q.
///
/// Bulk AES (AES-NI, eight blocks at a time) is used because tfhe's seeded decompression draws
/// the mask byte by byte, which costs ~240 ms per query at d = 512, g = 1.
pub fn expand_mask(seed: &[u8; SEED_BYTES], log_q: u32, out: &mut [u128]) {
    let cipher = Aes128::new(GenericArray::from_slice(seed));
    let mask = modulus_mask(log_q);
    const BATCH: usize = 64;
    let mut blocks = [GenericArray::from([0u8; 16]); BATCH];
    for (start, chunk) in out.chunks_mut(BATCH).enumerate() {
        for (j, block) in blocks[..chunk.len()].iter_mut().enumerate() {
            *block = GenericArray::from(((start * BATCH + j) as u128).to_le_bytes());
        }
        cipher.encrypt_blocks(&mut blocks[..chunk.len()]);
        for (c, block) in chunk.iter_mut().zip(&blocks) {
            *c = u128::from_le_bytes((*block).into()) & mask;
        }
    }
}

impl SeededCiphertext {
    /// Encoded length for `params`.
    pub fn encoded_len(params: &ParameterSet) -> usize {
        SEED_BYTES + params.n() * params.log_q() as usize / 8
    }

    /// Appends the encoding to `out`.
    pub fn encode_into(&self, params: &ParameterSet, out: &mut Vec<u8>) {
        let width = params.log_q() as usize / 8;
        assert_eq!(self.body.len(), params.n(), "body length");
        out.extend_from_slice(&self.seed);
        for c in &self.body {
            out.extend_from_slice(&c.to_le_bytes()[..width]);
        }
    }

    /// Decodes exactly one ciphertext from `bytes`.
    pub fn decode(params: &ParameterSet, bytes: &[u8]) -> Result<Self> {
        let malformed = |reason: String| HeError::Malformed {
            object: "seeded ciphertext",
            reason,
        };
        if bytes.len() != Self::encoded_len(params) {
            return Err(malformed(format!(
                "{} bytes, expected {}",
                bytes.len(),
                Self::encoded_len(params)
            )));
        }
        let width = params.log_q() as usize / 8;
        let (seed, body) = bytes.split_at(SEED_BYTES);
        let body = body
            .chunks_exact(width)
            .map(|c| {
                let mut b = [0u8; 16];
                b[..width].copy_from_slice(c);
                u128::from_le_bytes(b)
            })
            .collect();
        Ok(Self {
            seed: seed.try_into().expect("split at SEED_BYTES"),
            body,
        })
    }

    /// The expanded mask polynomial.
    pub fn mask(&self, params: &ParameterSet) -> Vec<u128> {
        let mut out = vec![0u128; params.n()];
        expand_mask(&self.seed, params.log_q(), &mut out);
        out
    }
}

/// Packed length of a response block: N mask and `scores` body values of `bits` bits.
pub fn response_block_bytes(n: usize, scores: usize, bits: u32) -> usize {
    ((n + scores) * bits as usize).div_ceil(8)
}

/// Packs values of `bits` bits (≤ 64) LSB-first into bytes.
pub(crate) fn pack_bits(values: impl IntoIterator<Item = u64>, bits: u32, out: &mut Vec<u8>) {
    assert!((1..=64).contains(&bits), "pack width");
    let mut acc: u128 = 0;
    let mut held = 0u32;
    for v in values {
        debug_assert!(
            bits == 64 || v >> bits == 0,
            "value wider than the pack width"
        );
        acc |= (v as u128) << held;
        held += bits;
        while held >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            held -= 8;
        }
    }
    if held > 0 {
        out.push(acc as u8);
    }
}

/// Unpacks `count` values of `bits` bits; the input must be exactly the packed length and any
/// padding bits in the last byte must be zero.
pub(crate) fn unpack_bits(
    bytes: &[u8],
    bits: u32,
    count: usize,
    object: &'static str,
) -> Result<Vec<u64>> {
    assert!((1..=64).contains(&bits), "pack width");
    let expected = (count * bits as usize).div_ceil(8);
    if bytes.len() != expected {
        return Err(HeError::Malformed {
            object,
            reason: format!("{} bytes, expected {expected}", bytes.len()),
        });
    }
    let mask = modulus_mask(bits) as u64;
    let mut out = Vec::with_capacity(count);
    let mut acc: u128 = 0;
    let mut held = 0u32;
    let mut it = bytes.iter();
    for _ in 0..count {
        while held < bits {
            acc |= (*it.next().expect("length checked") as u128) << held;
            held += 8;
        }
        out.push(acc as u64 & mask);
        acc >>= bits;
        held -= bits;
    }
    if acc != 0 {
        return Err(HeError::Malformed {
            object,
            reason: "non-zero padding bits".to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_packing_round_trips_and_is_strict() {
        for bits in [1u32, 7, 8, 13, 39, 63, 64] {
            let vals: Vec<u64> = (0..37u64)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & modulus_mask(bits) as u64)
                .collect();
            let mut out = Vec::new();
            pack_bits(vals.iter().copied(), bits, &mut out);
            assert_eq!(out.len(), (37 * bits as usize).div_ceil(8));
            assert_eq!(unpack_bits(&out, bits, 37, "t").unwrap(), vals);
            assert!(unpack_bits(&out[1..], bits, 37, "t").is_err());
            if (37 * bits) % 8 != 0 {
                let mut bad = out.clone();
                *bad.last_mut().unwrap() |= 0x80;
                assert!(unpack_bits(&bad, bits, 37, "t").is_err());
            }
        }
    }

    #[test]
    fn mask_expansion_is_aes_ctr() {
        let seed = [7u8; 16];
        let mut m = vec![0u128; 70];
        expand_mask(&seed, 128, &mut m);
        let cipher = Aes128::new(GenericArray::from_slice(&seed));
        for i in [0usize, 1, 63, 64, 69] {
            let mut b = GenericArray::from((i as u128).to_le_bytes());
            cipher.encrypt_block(&mut b);
            assert_eq!(m[i], u128::from_le_bytes(b.into()));
        }
        let mut m64 = vec![0u128; 70];
        expand_mask(&seed, 64, &mut m64);
        assert!(m64.iter().zip(&m).all(|(a, b)| *a == b & u64::MAX as u128));
    }

    #[test]
    fn ciphertext_decoding_is_exact() {
        let p = ParameterSet::toy();
        let ct = SeededCiphertext {
            seed: [1; 16],
            body: (0..p.n() as u128).map(|i| i * 3).collect(),
        };
        let mut bytes = Vec::new();
        ct.encode_into(&p, &mut bytes);
        assert_eq!(SeededCiphertext::decode(&p, &bytes).unwrap(), ct);
        bytes.push(0);
        assert!(SeededCiphertext::decode(&p, &bytes).is_err());
        assert!(SeededCiphertext::decode(&p, &bytes[..bytes.len() - 2]).is_err());
    }
}
