//! # privface-protocol — the two-party session
//!
//! Messages ([`messages`]) travel as length-delimited frames ([`frame`]) over any blocking
//! byte stream; [`holder::run_holder`] and [`verifier::run_verifier`] drive one session each,
//! phase by phase (states named after the message they expect: ExpectHello, ExpectAccept,
//! ExpectQuery, ExpectScores, ExpectComparison). A message that does not fit the state is an
//! error value, never a panic; every length is checked against the negotiated session. No
//! sockets, files or clocks are opened here: the caller supplies the stream and the CSPRNG
//! (phase timings are measured with `Instant`, for reporting only).

pub mod error;
pub mod frame;
pub mod holder;
pub mod messages;
pub mod verifier;

use std::time::{Duration, Instant};

pub use error::{ProtocolError, Result};
pub use frame::{FrameIo, MAX_FRAME};
pub use holder::{
    HolderConfig, HolderGallery, HolderReport, QueryBudget, padded_count, run_holder,
};
pub use messages::{ALPN, AbortCode, Accept, Hello, Message, Mode, OutputTo, VERSION};
pub use verifier::{VerifierConfig, VerifyOutcome, run_verifier};

/// Wall time per phase of a session.
#[derive(Clone, Debug, Default)]
pub struct PhaseTimings(pub Vec<(&'static str, Duration)>);

impl PhaseTimings {
    fn push(&mut self, phase: &'static str, since: Instant) {
        self.0.push((phase, since.elapsed()));
    }

    /// Total of all phases.
    pub fn total(&self) -> Duration {
        self.0.iter().map(|(_, d)| *d).sum()
    }
}

fn unexpected(state: &'static str, got: &Message) -> ProtocolError {
    match got {
        Message::Abort(code) => ProtocolError::Aborted(*code),
        other => ProtocolError::Unexpected {
            state,
            got: other.kind(),
        },
    }
}
