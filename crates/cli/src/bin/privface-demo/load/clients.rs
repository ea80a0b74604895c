//! The load test's clients, one function per kind; each loops until the run's end.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;
use privface_net::{NetError, Timeouts, VerifyRequest, verify};
use privface_protocol::{
    AbortCode, Mode, OutputTo, ProtocolError, VerifierConfig, VerifierSession, encode_frame,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Shared;
use crate::plain_decision;

fn request(probe: Vec<f32>, mode: Mode, timeouts: Timeouts) -> VerifyRequest {
    VerifyRequest {
        server_name: "localhost".into(),
        config: VerifierConfig::default(),
        probe,
        mode,
        output: OutputTo::Verifier,
        timeouts,
    }
}

fn is_busy(e: &NetError) -> bool {
    matches!(
        e,
        NetError::Protocol(ProtocolError::Rejected(AbortCode::Busy))
    )
}

pub(super) async fn client(
    role: usize,
    shared: Arc<Shared>,
    tls: Arc<rustls::ClientConfig>,
) -> Result<()> {
    let mut rng = ChaCha20Rng::from_os_rng();
    let mut in_session = false;
    while Instant::now() < shared.until {
        match role {
            0..=3 => honest(&shared, &tls, false, &mut rng).await,
            4 => honest(&shared, &tls, true, &mut rng).await,
            5 => {
                in_session = !in_session;
                trickle(&shared, &tls, in_session, &mut rng).await
            }
            6 => abort(&shared, &tls, &mut rng).await,
            _ => unauthenticated(&shared, &mut rng).await,
        }
    }
    Ok(())
}

/// One honest query (a genuine or an impostor probe), retried after `Busy`; its bit is
/// checked against the plaintext decision.
async fn honest(
    shared: &Shared,
    tls: &Arc<rustls::ClientConfig>,
    one_to_one: bool,
    rng: &mut ChaCha20Rng,
) {
    let who = rng.random_range(0..shared.identities.len());
    let claim = one_to_one.then(|| format!("person-{who:06}"));
    if let Err(e) = honest_once(shared, tls, claim, rng).await {
        shared.tally.honest_errors.fetch_add(1, Ordering::SeqCst);
        shared.problem(format!("honest session failed: {e:#}"));
    }
}

pub(super) async fn honest_once(
    shared: &Shared,
    tls: &Arc<rustls::ClientConfig>,
    claim: Option<String>,
    rng: &mut ChaCha20Rng,
) -> Result<()> {
    let who = match &claim {
        Some(c) => c["person-".len()..].parse()?,
        None => rng.random_range(0..shared.identities.len()),
    };
    let probe = if rng.random_bool(0.5) {
        shared.faces.capture(&shared.identities[who], rng)
    } else {
        shared.faces.capture(&shared.faces.identity(rng), rng)
    };
    let want = plain_decision(&shared.quantiser, &shared.rows, &probe, claim.as_deref())?;
    let mode = match claim {
        Some(identity) => Mode::Verify { identity },
        None => Mode::Identify,
    };
    loop {
        let tcp = TcpStream::connect(shared.addr).await?;
        match verify(
            tcp,
            tls.clone(),
            request(probe.clone(), mode.clone(), Timeouts::default()),
        )
        .await
        {
            Ok(outcome) => {
                if outcome.bit == Some(want) {
                    shared.tally.honest_ok.fetch_add(1, Ordering::SeqCst);
                } else {
                    shared.tally.honest_wrong.fetch_add(1, Ordering::SeqCst);
                    shared.problem(format!("bit {:?}, plaintext {want}", outcome.bit));
                }
                return Ok(());
            }
            Err(e) if is_busy(&e) => {
                shared.tally.busy.fetch_add(1, Ordering::SeqCst);
                let pause = rng.random_range(50..250);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// An authenticated client that trickles: before its `Hello` (the holder's Hello timeout ends
/// it, and it never holds a session slot) or, every other time, after a valid `Hello` (it
/// holds a slot until the session deadline). It announces a 1000-byte frame and sends one
/// byte every 500 ms until the holder cuts it off.
async fn trickle(
    shared: &Shared,
    tls: &Arc<rustls::ClientConfig>,
    in_session: bool,
    rng: &mut ChaCha20Rng,
) {
    let started = Instant::now();
    let Ok(tcp) = TcpStream::connect(shared.addr).await else {
        return;
    };
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("valid name");
    let Ok(mut s) = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
    else {
        return;
    };
    shared.tally.trickled.fetch_add(1, Ordering::SeqCst);
    if in_session {
        let probe = shared.faces.identity(rng);
        let (mode, output) = (Mode::Identify, OutputTo::Verifier);
        let session =
            VerifierSession::new(VerifierConfig::default(), &probe, mode, output, rng.clone());
        let Ok(hello) = session.and_then(|mut v| v.start()) else {
            return;
        };
        for m in &hello {
            if s.write_all(&encode_frame(m)).await.is_err() {
                return;
            }
        }
    }
    if s.write_all(&1000u32.to_le_bytes()).await.is_ok() {
        for _ in 0..1000 {
            if s.write_all(&[0]).await.is_err() || s.flush().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let held = started.elapsed().as_millis() as u64;
    shared.tally.trickle_longest_ms[in_session as usize].fetch_max(held, Ordering::SeqCst);
}

/// A real verifier whose connection is cut after a random number of bytes from the holder
/// (through a proxy of this process), so it vanishes at a random point of its session,
/// mostly mid-round.
async fn abort(shared: &Shared, tls: &Arc<rustls::ClientConfig>, rng: &mut ChaCha20Rng) {
    let cut = rng.random_range(2_000..800_000);
    let Ok(proxy) = tokio::net::TcpListener::bind("127.0.0.1:0").await else {
        return;
    };
    let Ok(proxy_addr) = proxy.local_addr() else {
        return;
    };
    let holder_addr = shared.addr;
    let relay = tokio::spawn(async move {
        let (client, _) = proxy.accept().await?;
        let holder = TcpStream::connect(holder_addr).await?;
        let (mut from_client, mut to_client) = client.into_split();
        let (mut from_holder, mut to_holder) = holder.into_split();
        let up =
            tokio::spawn(async move { tokio::io::copy(&mut from_client, &mut to_holder).await });
        let mut left = cut;
        let mut buf = vec![0u8; 16 << 10];
        while left > 0 {
            let n = from_holder.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            let n = n.min(left);
            to_client.write_all(&buf[..n]).await?;
            left -= n;
        }
        up.abort();
        std::io::Result::Ok(left == 0)
    });
    let probe = shared.faces.identity(rng);
    let timeouts = Timeouts {
        handshake: Duration::from_secs(10),
        io: Duration::from_secs(5),
    };
    let Ok(tcp) = TcpStream::connect(proxy_addr).await else {
        return;
    };
    let finished = verify(tcp, tls.clone(), request(probe, Mode::Identify, timeouts)).await;
    let _ = relay.await;
    match finished {
        Ok(_) => shared
            .tally
            .aborter_completed
            .fetch_add(1, Ordering::SeqCst),
        Err(_) => shared.tally.aborted.fetch_add(1, Ordering::SeqCst),
    };
}

/// A connection that never authenticates: silent TCP for up to 12 s, TLS without a client
/// certificate, or garbage.
async fn unauthenticated(shared: &Shared, rng: &mut ChaCha20Rng) {
    shared.tally.unauthenticated.fetch_add(1, Ordering::SeqCst);
    let Ok(mut tcp) = TcpStream::connect(shared.addr).await else {
        return;
    };
    match rng.random_range(0..3) {
        0 => {
            let hold = rng.random_range(0..12_000);
            tokio::time::sleep(Duration::from_millis(hold)).await;
        }
        1 => {
            let Ok(tls) = no_client_auth(&shared.ca) else {
                return;
            };
            let name = rustls::pki_types::ServerName::try_from("localhost").expect("valid name");
            let _ = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await;
        }
        _ => {
            let garbage: Vec<u8> = (0..rng.random_range(1..4096))
                .map(|_| rng.random())
                .collect();
            let _ = tcp.write_all(&garbage).await;
        }
    }
}

/// TLS 1.3 with the holder's CA and ALPN but no client certificate.
fn no_client_auth(ca: &[u8]) -> Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![privface_protocol::ALPN.to_vec()];
    Ok(Arc::new(config))
}
