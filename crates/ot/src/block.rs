//! 128-bit blocks: wire labels, OT messages, Δ.

use rand::{CryptoRng, Rng};

/// A 128-bit block, little-endian on the wire.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Block(pub u128);

impl core::fmt::Debug for Block {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Blocks are often secret (labels, Δ): print nothing of their value.
        f.write_str("Block(..)")
    }
}

impl Block {
    /// The all-zero block.
    pub const ZERO: Block = Block(0);

    /// A uniformly random block.
    pub fn random<R: Rng + CryptoRng>(rng: &mut R) -> Block {
        Block(rng.random())
    }

    /// The least significant bit (the point-and-permute colour).
    pub fn lsb(self) -> bool {
        self.0 & 1 == 1
    }

    /// Bytes on the wire.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_le_bytes()
    }

    /// From wire bytes.
    pub fn from_bytes(b: [u8; 16]) -> Block {
        Block(u128::from_le_bytes(b))
    }

    /// `self` if `bit`, else zero.
    pub fn select(self, bit: bool) -> Block {
        Block(self.0 & (bit as u128).wrapping_neg())
    }
}

impl core::ops::BitXor for Block {
    type Output = Block;
    fn bitxor(self, rhs: Block) -> Block {
        Block(self.0 ^ rhs.0)
    }
}

impl core::ops::BitXorAssign for Block {
    fn bitxor_assign(&mut self, rhs: Block) {
        self.0 ^= rhs.0;
    }
}

/// A garbling Δ: a random block with least significant bit 1.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Delta(Block);

impl core::fmt::Debug for Delta {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Delta(..)")
    }
}

impl Delta {
    /// A fresh random Δ.
    pub fn random<R: Rng + CryptoRng>(rng: &mut R) -> Delta {
        Delta(Block(rng.random::<u128>() | 1))
    }

    /// Δ from a block; its least significant bit is forced to 1.
    pub fn from_block(b: Block) -> Delta {
        Delta(Block(b.0 | 1))
    }

    /// The block.
    pub fn block(self) -> Block {
        self.0
    }
}

/// Packs bits LSB-first into bytes.
pub fn pack_bits(bits: &[bool]) -> Vec<u8> {
    let mut out = vec![0u8; bits.len().div_ceil(8)];
    for (i, &b) in bits.iter().enumerate() {
        out[i / 8] |= (b as u8) << (i % 8);
    }
    out
}

/// Unpacks `count` bits LSB-first; padding bits must be zero.
pub fn unpack_bits(bytes: &[u8], count: usize) -> Option<Vec<bool>> {
    if bytes.len() != count.div_ceil(8) {
        return None;
    }
    let bits: Vec<bool> = (0..count)
        .map(|i| bytes[i / 8] >> (i % 8) & 1 == 1)
        .collect();
    if !count.is_multiple_of(8) && bytes[count / 8] >> (count % 8) != 0 {
        return None;
    }
    Some(bits)
}
