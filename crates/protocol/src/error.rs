//! The one error type of this crate.

use thiserror::Error;

use crate::messages::{AbortCode, Message};

/// What can end a session.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The transport failed (peer gone, timeout, TLS error).
    #[error("transport: {0}")]
    Io(#[from] std::io::Error),
    /// A frame longer than the negotiated maximum.
    #[error("frame of {0} bytes exceeds the maximum of {1}")]
    FrameTooLarge(usize, usize),
    /// A frame of another protocol version.
    #[error("peer speaks protocol version {0}")]
    Version(u8),
    /// A message that does not decode or has the wrong size.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A message the session did not expect in its current state.
    #[error("unexpected {got} while {state}")]
    Unexpected {
        /// The state (named after the message it expects).
        state: &'static str,
        /// The kind of message that arrived.
        got: &'static str,
    },
    /// The peer refused the session.
    #[error("holder refused the session: {0:?}")]
    Rejected(AbortCode),
    /// The peer aborted the session.
    #[error("peer aborted the session: {0:?}")]
    Aborted(AbortCode),
    /// This side refuses the peer's terms.
    #[error("refused: {0}")]
    Refused(String),
    /// The HE step failed on peer data.
    #[error("HE: {0}")]
    He(#[from] privface_he::HeError),
    /// The comparison failed.
    #[error("comparison: {0}")]
    Gc(#[from] privface_gc::GcError),
    /// OT failed.
    #[error("OT: {0}")]
    Ot(#[from] privface_ot::OtError),
    /// The query budget of this client is used up.
    #[error("query budget of `{0}` is used up")]
    BudgetExhausted(String),
    /// Our own invariant was violated (a bug, never the peer's fault).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProtocolError {
    /// What the peer is told when this error ends a session: a coarse [`Message::Abort`], or
    /// nothing when the peer already knows (it aborted or refused, or the transport is gone).
    pub fn notice(&self) -> Option<Message> {
        match self {
            ProtocolError::Io(_) | ProtocolError::Aborted(_) | ProtocolError::Rejected(_) => None,
            other => Some(Message::Abort(other.abort_code())),
        }
    }

    /// The coarse code the peer is told.
    pub fn abort_code(&self) -> AbortCode {
        match self {
            ProtocolError::Version(_) => AbortCode::Version,
            ProtocolError::FrameTooLarge(..) | ProtocolError::Malformed(_) => AbortCode::Malformed,
            ProtocolError::Unexpected { .. } => AbortCode::Unexpected,
            ProtocolError::BudgetExhausted(_) => AbortCode::Budget,
            ProtocolError::He(privface_he::HeError::WrongDimension { .. }) => AbortCode::Dimension,
            ProtocolError::He(_) | ProtocolError::Gc(_) | ProtocolError::Ot(_) => {
                AbortCode::Malformed
            }
            ProtocolError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => AbortCode::Timeout,
            _ => AbortCode::Internal,
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, ProtocolError>;
