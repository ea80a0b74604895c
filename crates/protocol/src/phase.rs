//! Where a session's time and bytes go, phase by phase.

use std::fmt;
use std::time::Duration;

/// A phase of a session. Each session state belongs to one, by an exhaustive match on the
/// state (renaming or adding a state cannot silently move its time elsewhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Hello and Accept (or Reject).
    Negotiate,
    /// Base OT and the query upload.
    Query,
    /// Score blocks and their comparison, round after round, and the output.
    Rounds,
}

impl Phase {
    /// The phase's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Negotiate => "negotiate",
            Phase::Query => "query",
            Phase::Rounds => "rounds",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// One phase of a session as this side saw it.
#[derive(Clone, Debug)]
pub struct PhaseTiming {
    /// The phase.
    pub phase: Phase,
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
    pub phases: Vec<PhaseTiming>,
}

impl PhaseTimings {
    /// Total wall time.
    pub fn total(&self) -> Duration {
        self.phases.iter().map(|p| p.time).sum()
    }

    /// Total bytes sent and received.
    pub fn bytes(&self) -> (u64, u64) {
        self.phases
            .iter()
            .fold((0, 0), |(s, r), p| (s + p.sent, r + p.received))
    }
}
