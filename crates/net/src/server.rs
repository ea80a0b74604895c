//! The holder's accept loop (after mini-redis's server), bounded at every stage:
//!
//! 1. A connection permit is taken before `accept`, so at most `max_connections` connections
//!    (in handshake, waiting or in session) exist at once; the rest wait in the kernel's
//!    backlog. Accept errors (running out of file descriptors, say) back off exponentially.
//! 2. The TLS handshake runs under its own timeout, before any session slot is taken: an
//!    unauthenticated or silent client holds only a connection permit, and only that long.
//! 3. The client's `Hello` must then arrive whole within the same timeout: a client that
//!    trickles or stays silent before saying what it wants never waits for a slot.
//! 4. It then needs a place among its own sessions (`max_sessions_per_client`, counted by
//!    [`client_identity`]) and a session slot (`max_sessions`), waited for at most
//!    `slot_wait`; otherwise it is answered `Reject(Busy)` and the connection ends.
//! 5. The session has a deadline, whatever its I/O timeout (which restarts on every byte and so
//!    alone cannot stop a client that trickles).
//!
//! A connection cut off (deadline, or the end of the shutdown grace period) has its socket
//! shut down, so the blocking thread running its state machine fails its next read or write
//! and ends; dropping the session then cancels the HE worker of a round in flight.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use privface_protocol::{ALPN, AbortCode, HolderConfig, HolderReport, Message, run_holder};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::client_id::client_identity;
use crate::{NetError, Result, Timeouts, bridged, handshake_timed_out, timed};

/// How [`serve`] bounds its resources.
#[derive(Clone, Copy, Debug)]
pub struct ServeOptions {
    /// Handshake and I/O timeouts of each connection.
    pub timeouts: Timeouts,
    /// Connections open at once (in handshake, waiting for a slot or in session); further
    /// clients wait in the listen backlog until one ends.
    pub max_connections: usize,
    /// Sessions running at once. Each holds its query (about 300 MB at the 128-bit set) and
    /// competes for the same cores, so this is small.
    pub max_sessions: usize,
    /// Sessions one client (by certificate issuer and key) may have running or waiting at once.
    pub max_sessions_per_client: usize,
    /// How long an authenticated client waits for a session slot before `Reject(Busy)`.
    pub slot_wait: Duration,
    /// On shutdown, how long running sessions may take before they are cut off.
    pub shutdown_grace: Duration,
    /// Longest a session may last once it has its slot. Generous by default: a 10^6 × 512
    /// session takes about 7 s here.
    pub session_deadline: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            timeouts: Timeouts::default(),
            max_connections: 256,
            max_sessions: 8,
            max_sessions_per_client: 2,
            slot_wait: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
            session_deadline: Duration::from_secs(600),
        }
    }
}

/// The session slots and each client's count of sessions running or waiting.
struct Slots {
    sessions: Arc<Semaphore>,
    per_client: Mutex<HashMap<String, usize>>,
    per_client_limit: usize,
}

/// One client's place among its sessions, given back when dropped.
struct ClientPlace<'a> {
    slots: &'a Slots,
    client: String,
}

impl Slots {
    fn new(options: &ServeOptions) -> Self {
        Self {
            sessions: Arc::new(Semaphore::new(options.max_sessions.max(1))),
            per_client: Mutex::new(HashMap::new()),
            per_client_limit: options.max_sessions_per_client.max(1),
        }
    }

    fn place(&self, client: &str) -> Option<ClientPlace<'_>> {
        let mut counts = self.per_client.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(client.to_owned()).or_insert(0);
        if *count >= self.per_client_limit {
            return None;
        }
        *count += 1;
        Some(ClientPlace {
            slots: self,
            client: client.to_owned(),
        })
    }
}

impl Drop for ClientPlace<'_> {
    fn drop(&mut self) {
        let mut counts = self
            .slots
            .per_client
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.client);
            }
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
    let slots = Arc::new(Slots::new(&options));
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
        let (acceptor, config, slots) = (acceptor.clone(), config.clone(), slots.clone());
        let (permits, all) = (permits.clone(), options.max_connections.max(1));
        sessions.spawn(async move {
            match holder_connection(tcp, acceptor, config, options, &slots).await {
                Ok(report) => {
                    tracing::info!(%peer, bit = ?report.bit, class = ?report.class.as_ref().map(|c| c.index), scores = report.scores, "session done")
                }
                Err(e) => tracing::warn!(%peer, error = %e, "session failed"),
            }
            drop(permit);
            // No other connection open (the accept loop holds one permit while it waits): hand
            // the memory the sessions freed back to the system, so an idle holder's footprint
            // returns to its baseline.
            if permits.available_permits() + 1 >= all {
                let _ = tokio::task::spawn_blocking(release_free_memory).await;
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

/// Returns the allocator's free memory to the operating system (glibc keeps what many
/// threads freed in per-thread arenas otherwise). The one `unsafe` of the workspace: a call
/// into the C library that takes no arguments that could be wrong.
#[allow(unsafe_code)]
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own heaps; it takes no
    // pointers and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
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
    slots: &Slots,
) -> Result<HolderReport> {
    use std::os::fd::AsFd;
    let _cut_off = CutOff(std::net::TcpStream::from(tcp.as_fd().try_clone_to_owned()?));
    let timeouts = options.timeouts;
    let (mut tls, client) = tokio::time::timeout(timeouts.handshake, handshake(tcp, acceptor))
        .await
        .map_err(|_| handshake_timed_out())??;
    let hello = match tokio::time::timeout(timeouts.handshake, first_frame(&mut tls)).await {
        Ok(Ok(hello)) => hello,
        Ok(Err(e)) => {
            // Told as the session itself would tell it: an oversized frame is Malformed.
            if let NetError::Protocol(code) = &e
                && let Some(code) = code.notice()
            {
                refuse(tls, Message::Abort(code), timeouts).await;
            }
            return Err(e);
        }
        Err(_) => {
            return Err(NetError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no Hello within the handshake timeout",
            )));
        }
    };
    let Some(_place) = slots.place(&client) else {
        refuse(tls, Message::Reject(AbortCode::Busy), timeouts).await;
        return Err(NetError::Refused(format!(
            "client {client} already has {} sessions open",
            slots.per_client_limit
        )));
    };
    let Ok(Ok(_slot)) =
        tokio::time::timeout(options.slot_wait, slots.sessions.clone().acquire_owned()).await
    else {
        refuse(tls, Message::Reject(AbortCode::Busy), timeouts).await;
        return Err(NetError::Refused(format!(
            "no session slot free within {} s",
            options.slot_wait.as_secs_f64()
        )));
    };
    tokio::time::timeout(
        options.session_deadline,
        holder_session(tls, hello, client, config, timeouts.io),
    )
    .await
    .map_err(|_| {
        NetError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "session deadline passed",
        ))
    })?
}

/// The TLS handshake and the checks on what it negotiated; returns the client's identity.
async fn handshake(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
) -> Result<(TlsStream<TcpStream>, String)> {
    tcp.set_nodelay(true)?;
    let tls = acceptor.accept(tcp).await?;
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
    Ok((tls, client))
}

/// Largest first frame (`Hello`) read before a session slot is taken; a `Hello` is a few
/// dozen bytes.
const MAX_HELLO: usize = 64 << 10;

/// Reads the client's first frame whole (its `Hello`), length prefix included: a client must
/// say what it wants promptly before it may wait for a slot, so one that trickles or stays
/// silent holds nothing but its connection permit, and a refusal can answer it (a close with
/// its bytes unread would reset the connection and lose the answer).
async fn first_frame(tls: &mut TlsStream<TcpStream>) -> Result<Vec<u8>> {
    let len = tls.read_u32_le().await? as usize;
    if len > MAX_HELLO {
        return Err(NetError::Protocol(
            privface_protocol::ProtocolError::FrameTooLarge(len, MAX_HELLO),
        ));
    }
    let mut frame = vec![0; 4 + len];
    frame[..4].copy_from_slice(&(len as u32).to_le_bytes());
    tls.read_exact(&mut frame[4..]).await?;
    Ok(frame)
}

/// Ends a connection with one message (`Reject(Busy)`, or an `Abort` for a bad first frame),
/// within the handshake timeout; a client that does not read it just loses the answer.
async fn refuse(mut tls: TlsStream<TcpStream>, answer: Message, timeouts: Timeouts) {
    let answer = async {
        let frame = privface_protocol::encode_frame(&answer);
        tls.write_all(&frame).await?;
        tls.shutdown().await
    };
    let _ = tokio::time::timeout(timeouts.handshake, answer).await;
}

/// The session proper, its `Hello` (`first`) already read.
async fn holder_session(
    tls: TlsStream<TcpStream>,
    first: Vec<u8>,
    client: String,
    config: Arc<HolderConfig>,
    io: Duration,
) -> Result<HolderReport> {
    let (reader, mut writer) = bridged(timed(tls, io));
    let mut reader = std::io::Read::chain(std::io::Cursor::new(first), reader);
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
