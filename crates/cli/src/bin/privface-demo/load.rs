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
use privface_net::{Timeouts, client_tls, pki};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{Pki, THRESHOLD, read};

mod clients;
use clients::{client, honest_once};

/// What the load run is asked to do.
#[derive(clap::Args)]
pub(super) struct LoadPlan {
    /// Clients at once, each with its own certificate.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// How long the load lasts.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    #[arg(long, default_value_t = 4000)]
    pub gallery_size: usize,
    #[arg(long, default_value_t = 128)]
    pub dim: usize,
    /// The holder binary (default: privface-holder beside this one).
    #[arg(long)]
    pub holder: Option<PathBuf>,
    /// The holder's --session-deadline, seconds (what ends a trickler).
    #[arg(long, default_value_t = 10)]
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
