//! The coarse codes a side tells its peer when it refuses or aborts a session.

use serde::{Deserialize, Serialize};

/// Coarse reasons for refusing or aborting a session; detail stays in the local error and log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AbortCode {
    /// Protocol version not supported.
    Version,
    /// No acceptable parameter set in common.
    Parameters,
    /// Wrong embedding dimension.
    Dimension,
    /// Unknown identity in 1:1 mode.
    UnknownIdentity,
    /// The client's query budget is used up.
    Budget,
    /// A message did not decode or had the wrong size.
    Malformed,
    /// A message arrived that the session did not expect now.
    Unexpected,
    /// A phase took too long.
    Timeout,
    /// The other side failed internally.
    Internal,
    /// The holder has no session slot free for this client now; try again later.
    Busy,
    /// Classification against a model the holder does not serve.
    UnknownModel,
}

impl AbortCode {
    /// What the code tells the peer, in words.
    pub fn meaning(self) -> &'static str {
        match self {
            AbortCode::Version => "protocol version not supported",
            AbortCode::Parameters => "no acceptable parameter set or terms in common",
            AbortCode::Dimension => "the gallery's embedding dimension is not the probe's",
            AbortCode::UnknownIdentity => "the claimed identity is not enrolled",
            AbortCode::Budget => "the client's query budget is used up",
            AbortCode::Malformed => "a message did not decode or had the wrong size",
            AbortCode::Unexpected => "a message arrived out of turn",
            AbortCode::Timeout => "a phase took too long",
            AbortCode::Internal => "the peer failed internally",
            AbortCode::Busy => "the holder is busy (too many sessions); try again later",
            AbortCode::UnknownModel => "the holder serves no model of that name",
        }
    }
}

impl std::fmt::Display for AbortCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?} ({})", self.meaning())
    }
}
