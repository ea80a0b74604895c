//! Newtypes for the counts that functions would otherwise take as several bare integers
//! (after tfhe-rs's `PolynomialSize`, `GlweDimension`, …): a call cannot swap them.

/// Embedding dimension d.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dimension(pub usize);

/// A number of gallery vectors (scores) n.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VectorCount(pub usize);

/// Share width k in bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShareBits(pub u32);
