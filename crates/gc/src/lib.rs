//! # privface-gc — the garbled comparison
//!
//! A binary circuit is written once as a generic function over [`Fancy`]; four backends run
//! it: [`Plain`] (bits), [`Counter`] (gate counts), [`Garbler`] and [`Evaluator`]
//! (free-XOR + half-gates with point-and-permute, κ = 128, fixed-key-AES hashing with two
//! tweaks per AND). [`circuit::threshold_batch`] is the threshold-OR circuit of the protocol
//! and [`twoparty`] runs it between two parties over a byte channel, with the evaluator's
//! inputs delivered by IKNP OT. Design after swanky's fancy-garbling; no code from it.
//!
//! ```
//! use privface_gc::{Counter, Plain, ThresholdSpec, circuit};
//! // One score at the session width for d = 512 (k = 22): share 1000, mask 400, so the hidden
//! // score is 600; threshold 500. The plaintext backend knows the bits of the offset
//! // w = mask + τ mod 2^k, which the holder feeds the circuit.
//! let spec = ThresholdSpec { share_bits: 22, threshold: 500 };
//! let shares = circuit::bit_columns(&[1000], 22);
//! let w = circuit::offset_bits(&[400], &spec);
//! let w: Vec<&[bool]> = w.iter().map(Vec::as_slice).collect();
//! let bit = circuit::threshold_batch(&mut Plain, &spec, &shares, &w).unwrap();
//! assert_eq!(bit, vec![true]);
//! // The same circuit on the gate counter, which (like the evaluator) knows no offset bits:
//! // a borrow chain of k − 2 ANDs and one half-gate.
//! let mut count = Counter::default();
//! circuit::threshold_batch(&mut count, &spec, &vec![vec![(); 1]; 22], &[(); 22]).unwrap();
//! assert_eq!((count.ands, count.half_gates), (20, 1));
//! ```

pub mod argmax;
pub mod circuit;
pub mod error;
pub mod fancy;
pub mod garble;
pub mod hash;
mod sides;
pub mod twoparty;
pub mod who;

#[cfg(test)]
mod tests;

pub use argmax::{ArgmaxEvaluator, ArgmaxGarbler, ArgmaxSpec};
pub use circuit::{ThresholdSpec, reconstruct_score};
pub use error::{GcError, Result};
pub use fancy::{Counter, Fancy, Plain};
pub use garble::{Evaluator, Garbler};
pub use twoparty::{
    Reveal, ThresholdOrEvaluator, ThresholdOrGarbler, evaluate_threshold_or, garble_threshold_or,
    plain_threshold_rule,
};
pub use who::{WhoEvaluator, WhoGarbler, WhoSpec};
