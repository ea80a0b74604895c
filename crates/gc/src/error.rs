//! The one error type of this crate.

use thiserror::Error;

/// What can go wrong while garbling or evaluating over a channel.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GcError {
    /// The channel failed (peer gone, I/O error).
    #[error("channel: {0}")]
    Io(std::io::Error),
    /// OT failed.
    #[error("oblivious transfer: {0}")]
    Ot(privface_ot::OtError),
    /// The peer sent something that is not a valid message of the garbling protocol.
    #[error("malformed garbling message: {0}")]
    Malformed(&'static str),
    /// A parameter is out of range (share width, threshold, batch size).
    #[error("invalid circuit parameter: {0}")]
    InvalidParameter(String),
}

// Not `#[from]`: each message includes the wrapped error, so it is not repeated as a source.
impl From<std::io::Error> for GcError {
    fn from(e: std::io::Error) -> Self {
        GcError::Io(e)
    }
}

impl From<privface_ot::OtError> for GcError {
    fn from(e: privface_ot::OtError) -> Self {
        GcError::Ot(e)
    }
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, GcError>;
