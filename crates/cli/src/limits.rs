//! The holder's resource limits as command-line flags (`privface-holder serve`).

use std::time::Duration;

use privface_net::{ServeOptions, Timeouts};

/// How many connections and sessions the holder serves at once, and for how long.
#[derive(Clone, Debug, clap::Args)]
pub struct ServeLimits {
    /// Connections open at once (in handshake, waiting or in session); more wait in the
    /// listen backlog.
    #[arg(long, default_value_t = ServeOptions::default().max_connections)]
    pub max_connections: usize,
    /// Sessions running at once (each holds its query in memory and uses the cores).
    #[arg(long, default_value_t = ServeOptions::default().max_sessions)]
    pub max_sessions: usize,
    /// Sessions one client (issuer and key of its certificate) may run or wait for at once;
    /// further ones are refused as busy.
    #[arg(long, default_value_t = ServeOptions::default().max_sessions_per_client)]
    pub max_sessions_per_client: usize,
    /// Seconds an authenticated client waits for a free session slot before it is refused as
    /// busy.
    #[arg(long, default_value_t = ServeOptions::default().slot_wait.as_secs())]
    pub slot_wait: u64,
    /// Seconds the TLS handshake may take (before any session slot is taken).
    #[arg(long, default_value_t = Timeouts::default().handshake.as_secs())]
    pub handshake_timeout: u64,
    /// Seconds any single read or write of a session may wait.
    #[arg(long, default_value_t = Timeouts::default().io.as_secs())]
    pub io_timeout: u64,
    /// Seconds a session may last once it has its slot, however its client trickles.
    #[arg(long, default_value_t = ServeOptions::default().session_deadline.as_secs())]
    pub session_deadline: u64,
    /// Seconds running sessions may take to finish after Ctrl-C.
    #[arg(long, default_value_t = ServeOptions::default().shutdown_grace.as_secs())]
    pub shutdown_grace: u64,
}

impl ServeLimits {
    /// The options [`privface_net::serve`] takes.
    pub fn options(&self) -> ServeOptions {
        let secs = Duration::from_secs;
        ServeOptions {
            timeouts: Timeouts {
                handshake: secs(self.handshake_timeout),
                io: secs(self.io_timeout),
            },
            max_connections: self.max_connections,
            max_sessions: self.max_sessions,
            max_sessions_per_client: self.max_sessions_per_client,
            slot_wait: secs(self.slot_wait),
            shutdown_grace: secs(self.shutdown_grace),
            session_deadline: secs(self.session_deadline),
        }
    }
}
