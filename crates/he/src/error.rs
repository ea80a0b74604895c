//! The one error type of this crate.

use thiserror::Error;

/// Everything that can go wrong in the HE step.
///
/// Data that crossed a trust boundary (a query from a verifier, a response from a holder, an
/// embedding from a file) is checked and reported here; violated preconditions of our own code
/// are `assert!`s.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum HeError {
    /// An embedding had the wrong number of components.
    #[error("embedding has {actual} components, expected {expected}")]
    WrongDimension {
        /// Dimension the session or gallery uses.
        expected: usize,
        /// Dimension that was supplied.
        actual: usize,
    },
    /// An embedding contained NaN or an infinity.
    #[error("embedding component {index} is not finite")]
    NonFiniteEmbedding {
        /// Index of the first offending component.
        index: usize,
    },
    /// An embedding was all zeros (it has no direction to compare).
    #[error("embedding is the zero vector")]
    ZeroEmbedding,
    /// A layout was requested that the parameter set cannot carry.
    #[error("invalid layout: {0}")]
    InvalidLayout(String),
    /// A parameter set is inconsistent or unknown.
    #[error("invalid parameter set: {0}")]
    InvalidParameters(String),
    /// The other party used a different parameter set, layout or share width.
    #[error("parameter mismatch: {0}")]
    ParameterMismatch(String),
    /// A serialized HE object had the wrong length or an out-of-range field.
    #[error("malformed {object}: {reason}")]
    Malformed {
        /// What was being decoded.
        object: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// Insecure parameters were used without the caller explicitly allowing them.
    #[error("parameter set `{0}` is insecure and was not explicitly allowed")]
    InsecureParameters(String),
    /// A classification input component is outside the model's input bound (it would be
    /// clamped, which changes the decision silently).
    #[error("input component {index} is outside the model's input range [−{bound}, {bound}]")]
    InputOutOfRange {
        /// Index of the first offending component.
        index: usize,
        /// The model's bound X on every component.
        bound: f64,
    },
    /// Gallery rows kept outside memory could not be read.
    #[error("gallery storage: {0}")]
    Storage(String),
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, HeError>;
