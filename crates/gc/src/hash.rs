//! The tweakable hash of the garbling scheme: H(x, i) = π(π(x) ⊕ i) ⊕ π(x), with π fixed-key
//! AES-128 (AES-NI where the CPU has it), computed for whole batches of blocks at once.

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use privface_ot::Block;

/// The public fixed AES key π uses: the ASCII bytes of "privface/1 pi  ".
pub const FIXED_KEY: [u8; 16] = *b"privface/1 pi   ";

type AesBlock = GenericArray<u8, aes::cipher::consts::U16>;

/// Batched H(x, i).
pub struct FixedKeyHash {
    aes: Aes128,
    first: Vec<AesBlock>,
    second: Vec<AesBlock>,
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
            first: Vec::new(),
            second: Vec::new(),
        }
    }

    /// `out[j] = H(xs[j], tweaks[j])`: two bulk AES passes over the whole batch.
    pub fn hash(&mut self, xs: &[Block], tweaks: &[u128], out: &mut Vec<Block>) {
        assert_eq!(xs.len(), tweaks.len(), "one tweak per block");
        self.first.clear();
        self.first.extend(xs.iter().map(|x| to_aes(x.0)));
        self.aes.encrypt_blocks(&mut self.first);
        self.second.clear();
        self.second.extend(
            self.first
                .iter()
                .zip(tweaks)
                .map(|(p, t)| to_aes(from_aes(p) ^ t)),
        );
        self.aes.encrypt_blocks(&mut self.second);
        out.clear();
        out.extend(
            self.first
                .iter()
                .zip(&self.second)
                .map(|(p, q)| Block(from_aes(p) ^ from_aes(q))),
        );
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
        let xs: Vec<Block> = (0..100u128)
            .map(|i| Block(i * 0x1234_5678_9abc_def1))
            .collect();
        let tweaks: Vec<u128> = (0..100u128).map(|i| 2 * i + 7).collect();
        let mut out = Vec::new();
        FixedKeyHash::new().hash(&xs, &tweaks, &mut out);
        for ((x, t), o) in xs.iter().zip(&tweaks).zip(&out) {
            assert_eq!(o.0, pi(pi(x.0) ^ t) ^ pi(x.0));
        }
    }
}
