//! The tweakable hash of the garbling scheme: H(x, i) = π(π(x) ⊕ i) ⊕ π(x), with π fixed-key
//! AES-128 (AES-NI where the CPU has it), computed for whole batches of blocks at once.

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use privface_ot::Block;

/// The public fixed AES key π uses: the ASCII bytes of "privface/1 pi  ".
pub const FIXED_KEY: [u8; 16] = *b"privface/1 pi   ";

/// Batched H(x, i).
pub struct FixedKeyHash {
    aes: Aes128,
    buf: Vec<GenericArray<u8, aes::cipher::consts::U16>>,
}

impl Default for FixedKeyHash {
    fn default() -> Self {
        Self::new()
    }
}

impl FixedKeyHash {
    /// The hash with the fixed key.
    pub fn new() -> Self {
        Self {
            aes: Aes128::new(GenericArray::from_slice(&FIXED_KEY)),
            buf: Vec::new(),
        }
    }

    /// π on every block of `xs`, in place.
    fn permute(&mut self, xs: &mut [Block]) {
        self.buf.clear();
        self.buf
            .extend(xs.iter().map(|x| GenericArray::from(x.to_bytes())));
        self.aes.encrypt_blocks(&mut self.buf);
        for (x, b) in xs.iter_mut().zip(&self.buf) {
            *x = Block::from_bytes((*b).into());
        }
    }

    /// `out[j] = H(xs[j], tweaks[j])`.
    pub fn hash(&mut self, xs: &[Block], tweaks: &[u128], out: &mut Vec<Block>) {
        assert_eq!(xs.len(), tweaks.len(), "one tweak per block");
        out.clear();
        out.extend_from_slice(xs);
        self.permute(out);
        let first: Vec<Block> = out.clone();
        for (o, t) in out.iter_mut().zip(tweaks) {
            *o ^= Block(*t);
        }
        self.permute(out);
        for (o, f) in out.iter_mut().zip(&first) {
            *o ^= *f;
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
