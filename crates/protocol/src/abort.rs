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
}
