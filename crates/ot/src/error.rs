//! The one error type of this crate.

use thiserror::Error;

/// What can go wrong in OT.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OtError {
    /// The channel failed (peer gone, I/O error).
    #[error("channel: {0}")]
    Io(std::io::Error),
    /// The peer sent bytes that are not a valid, non-identity Ristretto point.
    #[error("peer sent a malformed group element")]
    MalformedPoint,
    /// The peer sent a message of the wrong size or with non-zero padding.
    #[error("malformed OT message: {0}")]
    Malformed(&'static str),
}

// Not `#[from]`: the message includes the I/O error, so it is not repeated as a source.
impl From<std::io::Error> for OtError {
    fn from(e: std::io::Error) -> Self {
        OtError::Io(e)
    }
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, OtError>;
