//! `privface-demo load`: one `privface-holder serve` process against many clients at once,
//! honest and hostile, for a fixed time; then checks that every honest answer was right and
//! that the holder's threads and memory came back down. Prints one JSON report.
//!
//! Client `i` plays role `i mod 8`: 0–3 honest identification, 4 honest 1:1 verification,
//! 5 a trickler (an authenticated client that sends one byte every 500 ms, before its Hello
//! or after it, so only the holder's Hello timeout or session deadline ends it), 6 an aborter (a real verifier with an I/O timeout of a
//! few milliseconds, so it gives up at a random point of its session), 7 unauthenticated
//! (TCP without TLS that stays silent, TLS without a client certificate, or garbage).
//! Each client has its own certificate, so the per-client limit binds only tricklers that
//! retry. An honest client told `Busy` backs off and asks again, as a real one would.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use privface_cli::{ProcStatus, SyntheticFaces};
use privface_gallery::{Gallery, QuantisedRows, Record};
use privface_he::Quantiser;
use privface_net::{NetError, Timeouts, VerifyRequest, client_tls, pki, verify};
use privface_protocol::{
    AbortCode, Mode, OutputTo, ProtocolError, VerifierConfig, VerifierSession, encode_frame,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::{Pki, THRESHOLD, plain_decision, read};

/// What the load run is asked to do.
pub(super) struct LoadPlan {
    pub clients: usize,
    pub seconds: u64,
    pub gallery_size: usize,
    pub dim: usize,
    /// The holder binary (default: `privface-holder` beside this one).
    pub holder: Option<PathBuf>,
    /// The holder's session deadline, seconds: what ends a trickler.
    pub session_deadline: u64,
}

/// Counts kept by the clients.
#[derive(Default)]
struct Tally {
    honest_ok: AtomicUsize,
    honest_wrong: AtomicUsize,
    honest_errors: AtomicUsize,
    busy: AtomicUsize,
    trickled: AtomicUsize,
    /// Longest a trickler lasted: before its Hello, in session.
    trickle_longest_ms: [AtomicU64; 2],
    aborted: AtomicUsize,
    aborter_completed: AtomicUsize,
    unauthenticated: AtomicUsize,
}

struct Shared {
    addr: std::net::SocketAddr,
    ca: Vec<u8>,
    faces: SyntheticFaces,
    identities: Vec<Vec<f32>>,
    rows: QuantisedRows,
    quantiser: Quantiser,
    until: Instant,
    tally: Tally,
    /// The first wrong answer or unexpected error, for the report.
    first_problem: std::sync::Mutex<Option<String>>,
}

impl Shared {
    fn problem(&self, what: String) {
        let mut first = self.first_problem.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert(what);
    }
}

pub(super) fn load(plan: LoadPlan) -> Result<bool> {
    let holder_bin = match &plan.holder {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("privface-holder"),
    };
    ensure!(
        holder_bin.exists(),
        "{} not found: build it first (cargo build --release -p privface-cli) or pass --holder",
        holder_bin.display()
    );
    let pki_dir = Pki::mint()?;
    let dir = pki_dir.dir.path();
    let faces = SyntheticFaces {
        dimension: plan.dim,
        noise: 0.8,
    };
    let mut rng = ChaCha20Rng::from_os_rng();
    let identities: Vec<Vec<f32>> = (0..plan.gallery_size)
        .map(|_| faces.identity(&mut rng))
        .collect();
    let db = dir.join("gallery.sqlite");
    let mut store = Gallery::create(&db, plan.dim)?;
    store.import(identities.iter().enumerate().map(|(i, id)| {
        Ok(Record {
            id: format!("person-{i:06}"),
            label: String::new(),
            embedding: faces.capture(id, &mut rng),
        })
    }))?;
    let rows = store.load_quantised()?;
    let quantiser = *store.quantiser();
    drop(store);
    let ca_key = String::from_utf8(read(dir, "ca/ca.key")?)?;
    let clients = (0..plan.clients)
        .map(|i| pki::issue_verifier(&ca_key, &format!("load-client-{i}")))
        .collect::<std::result::Result<Vec<_>, _>>()?;

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let mut holder = tokio::process::Command::new(&holder_bin)
            .arg("serve")
            .arg("--db")
            .arg(&db)
            .args(["--listen", "127.0.0.1:0", "--budget", "unlimited"])
            .args(["--threshold", &THRESHOLD.to_string()])
            .args(["--session-deadline", &plan.session_deadline.to_string()])
            // One block per round: sessions of many rounds, so aborts land while the next
            // round's HE worker runs.
            .args(["--round-blocks", "1"])
            .arg("--ca")
            .arg(dir.join("holder/ca.pem"))
            .arg("--cert")
            .arg(dir.join("holder/holder.pem"))
            .arg("--key")
            .arg(dir.join("holder/holder.key"))
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", holder_bin.display()))?;
        let pid = holder.id().context("holder pid")?;
        let addr = listening_address(&mut holder).await?;
        let shared = Arc::new(Shared {
            addr,
            ca: read(dir, "ca/ca.pem")?,
            faces,
            identities,
            rows,
            quantiser,
            until: Instant::now(),
            tally: Tally::default(),
            first_problem: Default::default(),
        });
        // Warm-up (the runtime, the HE thread pool), then the idle baseline.
        let tls0 = client_tls(&shared.ca, clients[0].0.as_bytes(), clients[0].1.as_bytes())?;
        honest_once(&shared, &tls0, None, &mut ChaCha20Rng::from_os_rng()).await?;
        let baseline = settled(pid, usize::MAX).await?;

        let shared = Arc::new(Shared {
            until: Instant::now() + Duration::from_secs(plan.seconds),
            ..Arc::into_inner(shared).context("shared state still in use")?
        });
        let sampler = tokio::spawn(sample(pid, shared.until));
        let mut tasks = tokio::task::JoinSet::new();
        for (i, (cert, key)) in clients.iter().enumerate() {
            let tls = client_tls(&shared.ca, cert.as_bytes(), key.as_bytes())?;
            let shared = shared.clone();
            tasks.spawn(async move { client(i % 8, shared, tls).await });
        }
        while let Some(r) = tasks.join_next().await {
            r??;
        }
        let (peak_threads, peak_rss_sampled) = sampler.await?;
        let after = settled(pid, baseline.threads).await?;
        holder.start_kill()?;
        let t = &shared.tally;
        let (ok, wrong, errors) = (
            t.honest_ok.load(Ordering::SeqCst),
            t.honest_wrong.load(Ordering::SeqCst),
            t.honest_errors.load(Ordering::SeqCst),
        );
        let deadline_ms = plan.session_deadline * 1000;
        let hello_ms = Timeouts::default().handshake.as_millis() as u64;
        let [before_hello, in_session] = [0, 1].map(|i| t.trickle_longest_ms[i].load(Ordering::SeqCst));
        // Memory "back to baseline": what the load added is given back but for a slack
        // (allocator caches): a tenth of the growth, at least 32 MiB.
        let slack = ((after.peak_rss_mb - baseline.rss_mb) * 0.1).max(32.0);
        let checks = [
            ("honest sessions answered", ok > 0),
            ("no honest answer wrong", wrong == 0),
            ("no honest session failed", errors == 0),
            (
                "tricklers cut off by the Hello timeout or the deadline",
                before_hello <= hello_ms + 5_000 && in_session <= deadline_ms + 5_000,
            ),
            ("threads back to baseline", after.threads <= baseline.threads),
            (
                "resident memory back to baseline",
                after.rss_mb <= baseline.rss_mb + slack,
            ),
        ];
        let passed = checks.iter().all(|(_, ok)| *ok);
        let report = serde_json::json!({
            "clients": plan.clients,
            "seconds": plan.seconds,
            "gallery_size": plan.gallery_size,
            "dim": plan.dim,
            "honest_ok": ok,
            "honest_wrong": wrong,
            "honest_errors": errors,
            "busy_retries": t.busy.load(Ordering::SeqCst),
            "trickler_connections": t.trickled.load(Ordering::SeqCst),
            "trickler_before_hello_longest_ms": before_hello,
            "hello_timeout_ms": hello_ms,
            "trickler_in_session_longest_ms": in_session,
            "session_deadline_ms": deadline_ms,
            "aborted_sessions": t.aborted.load(Ordering::SeqCst),
            "aborters_that_finished": t.aborter_completed.load(Ordering::SeqCst),
            "unauthenticated_connections": t.unauthenticated.load(Ordering::SeqCst),
            "holder_rss_baseline_mb": baseline.rss_mb,
            "holder_peak_rss_mb": after.peak_rss_mb.max(peak_rss_sampled),
            "holder_rss_after_mb": after.rss_mb,
            "holder_threads_baseline": baseline.threads,
            "holder_threads_peak": peak_threads,
            "holder_threads_after": after.threads,
            "failed_checks": checks.iter().filter(|(_, ok)| !ok).map(|(n, _)| *n).collect::<Vec<_>>(),
            "first_problem": *shared.first_problem.lock().unwrap_or_else(|e| e.into_inner()),
            "pass": passed,
        });
        println!("{report}");
        Ok(passed)
    })
}

/// Reads the holder's stderr until it says where it listens, then drains the rest.
async fn listening_address(holder: &mut tokio::process::Child) -> Result<std::net::SocketAddr> {
    let stderr = holder.stderr.take().context("holder stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(at) = line
                .strip_prefix("serving ")
                .and_then(|l| l.split(" on ").nth(1))
            {
                return Ok(at.trim().parse()?);
            }
        }
        bail!("the holder exited before listening")
    })
    .await
    .context("the holder did not start within 120 s")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(addr)
}

/// The holder's figures once its thread count has stayed put (at or below `target`) for a
/// few seconds: idle blocking threads exit after the runtime's keep-alive.
async fn settled(pid: u32, target: usize) -> Result<ProcStatus> {
    let since = Instant::now();
    let mut last = ProcStatus::of(pid).context("holder gone")?;
    let mut stable = 0;
    while since.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = ProcStatus::of(pid).context("holder gone")?;
        stable = if now.threads == last.threads {
            stable + 1
        } else {
            0
        };
        last = now;
        if stable >= 16 && now.threads <= target {
            break;
        }
    }
    Ok(last)
}

/// Peak threads and resident memory of the holder, sampled every 100 ms until `until`.
async fn sample(pid: u32, until: Instant) -> (usize, f64) {
    let (mut threads, mut rss) = (0, 0.0f64);
    while Instant::now() < until {
        if let Some(s) = ProcStatus::of(pid) {
            threads = threads.max(s.threads);
            rss = rss.max(s.rss_mb);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (threads, rss)
}

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

async fn client(role: usize, shared: Arc<Shared>, tls: Arc<rustls::ClientConfig>) -> Result<()> {
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

async fn honest_once(
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
