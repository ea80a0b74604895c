//! The one error type of this crate, and the peer misbehaviours it names.

use thiserror::Error;

use crate::abort::AbortCode;

/// What can end a session.
///
/// Each variant's message includes the message of the error it wraps, so none of them reports
/// that error again as its `source()` (a chain printed with `{:#}` says everything once).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The transport failed (peer gone, timeout, TLS error).
    #[error("transport: {0}")]
    Io(std::io::Error),
    /// A frame longer than the negotiated maximum.
    #[error("frame of {0} bytes exceeds the maximum of {1}")]
    FrameTooLarge(usize, usize),
    /// A frame of another protocol version.
    #[error("peer speaks protocol version {0}")]
    Version(u8),
    /// The peer sent a message that does not decode, has the wrong size or comes out of order.
    #[error("malformed message: {0}")]
    Misbehaved(PeerMisbehaved),
    /// A message the session did not expect in its current state.
    #[error("unexpected {got} while {state}")]
    Unexpected {
        /// The state (named after the message it expects).
        state: &'static str,
        /// The kind of message that arrived.
        got: &'static str,
    },
    /// The peer refused the session.
    #[error("holder refused the session: {0}")]
    Rejected(AbortCode),
    /// The peer aborted the session.
    #[error("peer aborted the session: {0}")]
    Aborted(AbortCode),
    /// This side refuses the peer's terms.
    #[error("refused: {0}")]
    Refused(String),
    /// This side's own configuration is unusable (never the peer's doing).
    #[error("configuration: {0}")]
    Config(String),
    /// The HE step failed on peer data.
    #[error("HE: {0}")]
    He(privface_he::HeError),
    /// The comparison failed.
    #[error("comparison: {0}")]
    Gc(privface_gc::GcError),
    /// OT failed.
    #[error("OT: {0}")]
    Ot(privface_ot::OtError),
    /// The query budget of this client is used up.
    #[error("query budget of `{0}` is used up")]
    BudgetExhausted(String),
    /// Our own invariant was violated (a bug, never the peer's fault).
    #[error("internal error: {0}")]
    Internal(String),
}

/// The ways a peer's message can break the protocol, each checked before the message is used.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PeerMisbehaved {
    /// A frame with no body.
    #[error("empty frame")]
    EmptyFrame,
    /// The body is not the encoding of any message.
    #[error("undecodable message: {0}")]
    Undecodable(String),
    /// Bytes left over after the message or a payload was read.
    #[error("{count} trailing bytes in {message}")]
    TrailingBytes {
        /// The message (or "frame" for the whole body).
        message: &'static str,
        /// Bytes left over.
        count: usize,
    },
    /// A payload of another length than the negotiated session fixes.
    #[error("{message} of {got} bytes where the session fixes {expected}")]
    WrongLength {
        /// The message.
        message: &'static str,
        /// Its payload's length.
        got: usize,
        /// The length the session fixes.
        expected: usize,
    },
    /// A numbered message that is not the one due.
    #[error("{message} {got} where {due} was due")]
    OutOfOrder {
        /// The message.
        message: &'static str,
        /// Its number.
        got: u32,
        /// The number due.
        due: u32,
    },
    /// A score block that claims another number of scores than the session fixes.
    #[error("score block {index} with {got} scores where the session fixes {expected}")]
    WrongCount {
        /// The block.
        index: u32,
        /// Scores it claims.
        got: u32,
        /// Scores the session fixes for it.
        expected: u32,
    },
    /// The label-table entry a who-identification's output opens does not decrypt to an
    /// entry (the holder sealed it under another key, or damaged it).
    #[error("the label table's entry for the output does not open")]
    SealedEntry,
    /// A classification's output decoded to a class index past the model's labels.
    #[error("class index {index} but the model has {labels} labels")]
    ClassOutOfRange {
        /// The decoded index.
        index: u32,
        /// Labels the holder announced.
        labels: usize,
    },
}

macro_rules! wraps {
    ($($variant:ident($inner:ty)),* $(,)?) => {
        $(impl From<$inner> for ProtocolError {
            fn from(e: $inner) -> Self {
                ProtocolError::$variant(e)
            }
        })*
    };
}

wraps!(
    Io(std::io::Error),
    Misbehaved(PeerMisbehaved),
    He(privface_he::HeError),
    Gc(privface_gc::GcError),
    Ot(privface_ot::OtError),
);

impl ProtocolError {
    /// What the peer is told when this error ends a session: a coarse code for
    /// [`crate::Message::Abort`], or nothing when the peer already knows (it aborted or
    /// refused, or the transport is gone).
    pub fn notice(&self) -> Option<AbortCode> {
        match self {
            ProtocolError::Io(_) | ProtocolError::Aborted(_) | ProtocolError::Rejected(_) => None,
            other => Some(other.abort_code()),
        }
    }

    /// The coarse code the peer is told.
    pub fn abort_code(&self) -> AbortCode {
        use privface_he::HeError;
        match self {
            ProtocolError::Version(_) => AbortCode::Version,
            ProtocolError::FrameTooLarge(..) | ProtocolError::Misbehaved(_) => AbortCode::Malformed,
            ProtocolError::Unexpected { .. } => AbortCode::Unexpected,
            ProtocolError::BudgetExhausted(_) => AbortCode::Budget,
            ProtocolError::Refused(_)
            | ProtocolError::He(
                HeError::InsecureParameters(_)
                | HeError::InvalidParameters(_)
                | HeError::InputOutOfRange { .. },
            ) => AbortCode::Parameters,
            ProtocolError::He(HeError::WrongDimension { .. }) => AbortCode::Dimension,
            ProtocolError::He(_) | ProtocolError::Gc(_) | ProtocolError::Ot(_) => {
                AbortCode::Malformed
            }
            ProtocolError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => AbortCode::Timeout,
            ProtocolError::Io(_)
            | ProtocolError::Rejected(_)
            | ProtocolError::Aborted(_)
            | ProtocolError::Config(_)
            | ProtocolError::Internal(_) => AbortCode::Internal,
        }
    }
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, ProtocolError>;
