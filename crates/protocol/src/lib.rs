//! # privface-protocol — the two-party session
//!
//! Messages ([`messages`]) travel as length-delimited frames ([`frame`]) over any blocking
//! byte stream; [`holder::run_holder`] and [`verifier::run_verifier`] drive one session each,
//! phase by phase (states named after the message they expect: ExpectHello, ExpectAccept,
//! then the OT setup, ExpectQuery, and rounds of ExpectScores plus the comparison). A message that does not fit the state is an
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

/// One phase of a session as this side saw it.
#[derive(Clone, Debug)]
pub struct Phase {
    /// Phase name: negotiate, query, he, comparison.
    pub name: &'static str,
    /// Wall time.
    pub time: Duration,
    /// Bytes this side sent during the phase (frame headers included).
    pub sent: u64,
    /// Bytes this side received during the phase.
    pub received: u64,
}

/// Wall time and bytes per phase of a session.
#[derive(Clone, Debug, Default)]
pub struct PhaseTimings {
    /// The phases in order.
    pub phases: Vec<Phase>,
    counted: (u64, u64),
}

impl PhaseTimings {
    fn push<T: std::io::Read + std::io::Write>(
        &mut self,
        name: &'static str,
        since: Instant,
        io: &FrameIo<T>,
    ) {
        let (sent, received) = (io.sent(), io.received());
        self.phases.push(Phase {
            name,
            time: since.elapsed(),
            sent: sent - self.counted.0,
            received: received - self.counted.1,
        });
        self.counted = (sent, received);
    }

    /// Total wall time.
    pub fn total(&self) -> Duration {
        self.phases.iter().map(|p| p.time).sum()
    }

    /// Total bytes sent and received.
    pub fn bytes(&self) -> (u64, u64) {
        self.counted
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
