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
//! // One score at the session width for d = 512 (k = 21): share 1000, mask 400, so the hidden
//! // score is 600; threshold 500. The plaintext backend knows the negated mask's bits.
//! let spec = ThresholdSpec { share_bits: 21, threshold: 500 };
//! let shares = circuit::bit_columns(&[1000], 21);
//! let neg = circuit::negated_mask_bits(&[400], 21);
//! let neg: Vec<&[bool]> = neg.iter().map(Vec::as_slice).collect();
//! let bit = circuit::threshold_batch(&mut Plain, &spec, &shares, &neg).unwrap();
//! assert_eq!(bit, vec![true]);
//! // The same circuit on the gate counter, which (like the evaluator) knows no mask bits:
//! // 19 ANDs + 1 half-gate for the subtraction, at most 20 more for the comparison.
//! let mut count = Counter::default();
//! circuit::threshold_batch(&mut count, &spec, &vec![vec![(); 1]; 21], &[(); 21]).unwrap();
//! assert_eq!(count.half_gates, 1);
//! assert!(count.ands <= 39);
//! ```

pub mod circuit;
pub mod error;
pub mod fancy;
pub mod garble;
pub mod hash;
pub mod twoparty;

#[cfg(test)]
mod tests;

pub use circuit::{ThresholdSpec, reconstruct_score};
pub use error::{GcError, Result};
pub use fancy::{Counter, Fancy, Plain};
pub use garble::{Evaluator, Garbler};
pub use twoparty::{
    Reveal, ThresholdOrEvaluator, ThresholdOrGarbler, evaluate_threshold_or, garble_threshold_or,
    plain_integer_rule,
};
