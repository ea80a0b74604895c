//! The tweakable hash of the garbling scheme: H(x, i) = π(π(x) ⊕ i) ⊕ π(x), with π fixed-key
//! AES-128 (AES-NI where the CPU has it), computed for chunks of blocks at once.

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};

/// The public fixed AES key π uses: the ASCII bytes of "privface/1 pi  ".
pub const FIXED_KEY: [u8; 16] = *b"privface/1 pi   ";

type AesBlock = GenericArray<u8, aes::cipher::consts::U16>;

/// Blocks hashed per call of [`FixedKeyHash::hash_chunk`]: enough for AES-NI's pipelining,
/// small enough that everything stays in registers and L1.
pub const CHUNK: usize = 32;

/// H(x, i) in chunks.
pub struct FixedKeyHash {
    aes: Aes128,
}

impl Default for FixedKeyHash {
    fn default() -> Self {
        Self::new()
    }
}

fn to_aes(x: u128) -> AesBlock {
    GenericArray::from(x.to_le_bytes())
}

fn from_aes(b: &AesBlock) -> u128 {
    u128::from_le_bytes((*b).into())
}

impl FixedKeyHash {
    /// The hash with the fixed key.
    pub fn new() -> Self {
        Self {
            aes: Aes128::new(GenericArray::from_slice(&FIXED_KEY)),
        }
    }

    /// `out[j] = H(xs[j], tweaks[j])` for at most [`CHUNK`] blocks, without heap buffers.
    pub fn hash_chunk(&self, xs: &[u128], tweaks: &[u128], out: &mut [u128]) {
        let n = xs.len();
        assert!(
            n <= CHUNK && tweaks.len() == n && out.len() >= n,
            "chunk sizes"
        );
        let mut first = [AesBlock::default(); CHUNK];
        for (f, &x) in first.iter_mut().zip(xs) {
            *f = to_aes(x);
        }
        self.aes.encrypt_blocks(&mut first[..n]);
        let mut second = [AesBlock::default(); CHUNK];
        for ((s, f), &t) in second.iter_mut().zip(&first[..n]).zip(tweaks) {
            *s = to_aes(from_aes(f) ^ t);
        }
        self.aes.encrypt_blocks(&mut second[..n]);
        for ((o, f), s) in out.iter_mut().zip(&first[..n]).zip(&second[..n]) {
            *o = from_aes(f) ^ from_aes(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_hash_matches_the_definition() {
        let aes = Aes128::new(GenericArray::from_slice(&FIXED_KEY));
        let pi = |x: u128| {
            let mut b = GenericArray::from(x.to_le_bytes());
            aes.encrypt_block(&mut b);
            u128::from_le_bytes(b.into())
        };
        let xs: Vec<privface_ot::Block> = (0..100u128)
            .map(|i| privface_ot::Block(i * 0x1234_5678_9abc_def1))
            .collect();
        let tweaks: Vec<u128> = (0..100u128).map(|i| 2 * i + 7).collect();
        let hash = FixedKeyHash::new();
        for n in [1, 7, CHUNK] {
            let raw: Vec<u128> = xs[..n].iter().map(|b| b.0).collect();
            let mut out = [0u128; CHUNK];
            hash.hash_chunk(&raw, &tweaks[..n], &mut out);
            for ((x, t), o) in raw.iter().zip(&tweaks).zip(&out[..n]) {
                assert_eq!(*o, pi(pi(*x) ^ t) ^ pi(*x));
            }
        }
    }
}
