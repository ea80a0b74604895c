//! The holder's accept loop (after mini-redis's server): a connection permit is taken before
//! `accept`, so at most `max_connections` connections exist at once and the rest wait in the
//! kernel's backlog; accept errors (running out of file descriptors, say) back off
//! exponentially instead of spinning; on shutdown the loop stops accepting and running sessions
//! get `shutdown_grace` to finish. Every connection also has a deadline. A connection cut off
//! (deadline, or the end of the grace period) has its socket shut down, so the blocking thread
//! running its state machine fails its next read or write and ends; the HE worker of a round
//! in flight finishes that round and is dropped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use privface_protocol::{ALPN, HolderConfig, HolderReport, run_holder};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::client_id::client_identity;
use crate::{NetError, Result, Timeouts, bridged, handshake_timed_out, timed};

/// How [`serve`] bounds its resources.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Handshake and I/O timeouts of each connection.
    pub timeouts: Timeouts,
    /// Connections (in handshake or in session) open at once; further clients wait in the
    /// listen backlog until one ends.
    pub max_connections: usize,
    /// On shutdown, how long running sessions may take before they are cut off.
    pub shutdown_grace: Duration,
    /// Longest a connection may last from accept to the end of its session, whatever its
    /// I/O timeout (which restarts on every byte, so it alone cannot stop a client that
    /// trickles). Generous by default: a 10^6 × 512 session takes about 7 s here.
    pub session_deadline: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            timeouts: Timeouts::default(),
            max_connections: 16,
            shutdown_grace: Duration::from_secs(30),
            session_deadline: Duration::from_secs(600),
        }
    }
}

/// First and largest pause after a failed `accept`.
const BACKOFF_START: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Serves holder sessions on `listener` until `shutdown` completes, then lets running sessions
/// finish within `options.shutdown_grace`. Each connection is handled on its own task; a
/// failing session is logged and never affects another.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    config: Arc<HolderConfig>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    config.validate()?;
    let acceptor = TlsAcceptor::from(tls);
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let mut sessions = JoinSet::new();
    let mut backoff = BACKOFF_START;
    tokio::pin!(shutdown);
    loop {
        while sessions.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => p.map_err(|e| NetError::Internal(e.to_string()))?,
        };
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    backoff = BACKOFF_START;
                    a
                }
                Err(e) => {
                    tracing::warn!(error = %e, pause_ms = backoff.as_millis() as u64, "accept failed; pausing");
                    drop(permit);
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            },
        };
        let (acceptor, config) = (acceptor.clone(), config.clone());
        sessions.spawn(async move {
            let _permit = permit;
            match holder_connection(tcp, acceptor, config, options).await {
                Ok(report) => {
                    tracing::info!(%peer, bit = ?report.bit, scores = report.scores, "session done")
                }
                Err(e) => tracing::warn!(%peer, error = %e, "session failed"),
            }
        });
    }
    drop(listener);
    let running = sessions.len();
    if running > 0 {
        tracing::info!(
            running,
            grace_s = options.shutdown_grace.as_secs_f64(),
            "shutting down"
        );
    }
    let drained = tokio::time::timeout(options.shutdown_grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            cancelled = sessions.len(),
            "sessions still running at the end of the grace period are cut off"
        );
        sessions.shutdown().await;
    }
    Ok(())
}

/// Shuts the socket down when dropped: whether the connection's task ends, hits its deadline
/// or is cancelled at shutdown, the blocking session thread's next read or write fails at once
/// and the thread ends, instead of lingering until an I/O timeout.
struct CutOff(std::net::TcpStream);

impl Drop for CutOff {
    fn drop(&mut self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

async fn holder_connection(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    config: Arc<HolderConfig>,
    options: ServeOptions,
) -> Result<HolderReport> {
    use std::os::fd::AsFd;
    let _cut_off = CutOff(std::net::TcpStream::from(tcp.as_fd().try_clone_to_owned()?));
    tokio::time::timeout(
        options.session_deadline,
        holder_session(tcp, acceptor, config, options.timeouts),
    )
    .await
    .map_err(|_| {
        NetError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "session deadline passed",
        ))
    })?
}

async fn holder_session(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    config: Arc<HolderConfig>,
    timeouts: Timeouts,
) -> Result<HolderReport> {
    tcp.set_nodelay(true)?;
    let tls = tokio::time::timeout(timeouts.handshake, acceptor.accept(tcp))
        .await
        .map_err(|_| handshake_timed_out())??;
    let (_, conn) = tls.get_ref();
    if conn.alpn_protocol() != Some(ALPN) {
        return Err(NetError::Alpn);
    }
    let client = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| NetError::Tls("no client certificate".into()))
        .and_then(|cert| {
            client_identity(cert)
                .ok_or_else(|| NetError::Tls("client certificate does not parse".into()))
        })?;
    let (mut reader, mut writer) = bridged(timed(tls, timeouts.io));
    tokio::task::spawn_blocking(move || {
        let report = run_holder(
            &mut reader,
            &mut writer,
            &config,
            &client,
            StdRng::from_os_rng(),
        );
        let _ = writer.shutdown();
        Ok(report?)
    })
    .await
    .map_err(|e| NetError::Internal(e.to_string()))?
}
