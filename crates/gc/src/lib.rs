//! # privface-gc — the garbled comparison
//!
//! A binary circuit is written once as a generic function over [`Fancy`]; four backends run
//! it: [`Plain`] (bits), [`Counter`] (gate counts), [`Garbler`] and [`Evaluator`]
//! (free-XOR + half-gates with point-and-permute, κ = 128, fixed-key-AES hashing with two
//! tweaks per AND). [`circuit::threshold_batch`] is the threshold-OR circuit of the protocol
//! and [`twoparty`] runs it between two parties over a byte channel, with the evaluator's
//! inputs delivered by IKNP OT. Design after swanky's fancy-garbling; no code from it.

pub mod circuit;
pub mod error;
pub mod fancy;
pub mod garble;
pub mod hash;
pub mod twoparty;

#[cfg(test)]
mod tests;

pub use circuit::ThresholdSpec;
pub use error::{GcError, Result};
pub use fancy::{Counter, Fancy, Known, Plain};
pub use garble::{Evaluator, Garbler};
pub use twoparty::{
    Reveal, ThresholdOrEvaluator, ThresholdOrGarbler, evaluate_threshold_or, garble_threshold_or,
    plain_threshold_or,
};
