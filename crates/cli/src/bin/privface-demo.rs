//! privface-demo: the whole system on one machine, nothing to prepare.
//!
//! Mints a PKI in a temporary directory, enrols a synthetic gallery (default 10,000 identities,
//! d = 512) into an SQLite file, starts the holder on 127.0.0.1:0, and runs the verifier over
//! mutual TLS with one genuine and one impostor probe in both modes. Each bit is printed next to
//! the plaintext decision, with a table of per-phase time and bytes; the exit code is non-zero
//! on any mismatch. `privface-demo bench` measures one large identification instead.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use privface_cli::{
    SyntheticFaces, init_logging, load_gallery, peak_rss_mb, phases_json, read_embedding,
};
use privface_gallery::{Gallery, QuantisedRows, Record};
use privface_he::{GalleryMode, ParameterSet, Quantiser, plain};
use privface_net::{
    ServeOptions, Timeouts, VerifyRequest, client_tls, pki, serve, server_tls, verify,
};
use privface_protocol::{
    HolderConfig, HolderGallery, Mode, OutputTo, QueryBudget, VerifierConfig, VerifyOutcome,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

#[derive(Parser)]
#[command(
    name = "privface-demo",
    version,
    about = "privface end to end on this machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Enrolled identities.
    #[arg(long, default_value_t = 10_000)]
    gallery_size: usize,
    /// Embedding dimension.
    #[arg(long, default_value_t = 512)]
    dim: usize,
}

#[derive(Subcommand)]
enum Command {
    /// One identification against a large gallery: time and bytes per phase, peak memory of
    /// each party, 1:1 latency; ends with one JSON line.
    Bench {
        #[arg(long, default_value_t = 100_000)]
        gallery_size: usize,
        #[arg(long, default_value_t = 512)]
        dim: usize,
        /// Cosine tolerance of the comparison (0: exact), as `privface-holder serve
        /// --precision`.
        #[arg(long, default_value_t = 0.0)]
        precision: f64,
    },
    /// (internal) The verifier in its own process, so its memory is measured apart.
    #[command(hide = true)]
    VerifierChild {
        #[arg(long)]
        connect: String,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        probe: PathBuf,
    },
}

/// Cosine threshold of the demo's operating point.
const THRESHOLD: f32 = 0.4;

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn mint() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        pki::mint(&["localhost"], "demo-verifier")?.write_to(dir.path())?;
        Ok(Self { dir })
    }
}

fn read(dir: &Path, f: &str) -> Result<Vec<u8>> {
    std::fs::read(dir.join(f)).with_context(|| format!("reading {f}"))
}

async fn start_holder(
    dir: &Path,
    gallery: Arc<HolderGallery>,
    params: ParameterSet,
    dropped_bits: u32,
) -> Result<std::net::SocketAddr> {
    let tls = server_tls(
        &read(dir, "holder/ca.pem")?,
        &read(dir, "holder/holder.pem")?,
        &read(dir, "holder/holder.key")?,
    )?;
    let threshold = gallery.quantiser().threshold(THRESHOLD);
    let mut config =
        HolderConfig::new(params, gallery, threshold, Arc::new(QueryBudget::new(None)));
    config.dropped_bits = dropped_bits;
    let config = Arc::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = serve(
            listener,
            tls,
            config,
            ServeOptions::default(),
            std::future::pending(),
        )
        .await
        {
            eprintln!("holder stopped: {e}");
        }
    });
    Ok(addr)
}

async fn ask(
    dir: &Path,
    addr: std::net::SocketAddr,
    probe: Vec<f32>,
    mode: Mode,
) -> Result<VerifyOutcome> {
    let tls = client_tls(
        &read(dir, "verifier/ca.pem")?,
        &read(dir, "verifier/verifier.pem")?,
        &read(dir, "verifier/verifier.key")?,
    )?;
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let request = VerifyRequest {
        server_name: "localhost".into(),
        config: VerifierConfig::default(),
        probe,
        mode,
        output: OutputTo::Verifier,
        timeouts: Timeouts::default(),
    };
    Ok(verify(tcp, tls, request).await?)
}

fn plain_decision(
    q: &Quantiser,
    rows: &QuantisedRows,
    probe: &[f32],
    claim: Option<&str>,
) -> Result<bool> {
    let x = q.quantise(probe)?;
    let tau = q.threshold(THRESHOLD);
    Ok(rows
        .iter()
        .filter(|(id, _)| claim.is_none_or(|c| c == *id))
        .any(|(_, y)| plain::dot_i8(&x, y) as i64 >= tau))
}

fn print_phases(title: &str, o: &VerifyOutcome) {
    println!("\n{title} (verifier's view)");
    println!(
        "  {:<11} {:>10} {:>14} {:>14}",
        "phase", "ms", "bytes sent", "bytes recv"
    );
    for p in &o.timings.phases {
        println!(
            "  {:<11} {:>10.1} {:>14} {:>14}",
            p.phase.name(),
            p.time.as_secs_f64() * 1e3,
            p.sent,
            p.received
        );
    }
    let (s, r) = o.timings.bytes();
    println!(
        "  {:<11} {:>10.1} {:>14} {:>14}",
        "total",
        o.timings.total().as_secs_f64() * 1e3,
        s,
        r
    );
}

fn demo(n: usize, d: usize) -> Result<bool> {
    let t0 = Instant::now();
    let params = ParameterSet::default_128();
    let pki = Pki::mint()?;
    let faces = SyntheticFaces {
        dimension: d,
        noise: 0.8,
    };
    let mut rng = ChaCha20Rng::from_os_rng();
    let identities: Vec<Vec<f32>> = (0..n).map(|_| faces.identity(&mut rng)).collect();
    let db = pki.dir.path().join("gallery.sqlite");
    let mut store = Gallery::create(&db, d)?;
    store.import(identities.iter().enumerate().map(|(i, id)| {
        Ok(Record {
            id: format!("person-{i:06}"),
            label: format!("Synthetic person {i}"),
            embedding: faces.capture(id, &mut rng),
        })
    }))?;
    let rows = store.load_quantised()?;
    let quantiser = *store.quantiser();
    drop(store);
    println!(
        "enrolled {n} synthetic identities (d = {d}) in {} [{:.1} s]",
        db.display(),
        t0.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let gallery = load_gallery(&db, &params)?;
    println!(
        "holder: parameter set `{}` ({}-bit), gallery packed in {:.1} s, threshold cos ≥ {THRESHOLD}",
        params.name(),
        params.security_bits(),
        t.elapsed().as_secs_f64()
    );

    let who = n / 3;
    let claim = format!("person-{who:06}");
    let genuine = faces.capture(&identities[who], &mut rng);
    let impostor = faces.capture(&faces.identity(&mut rng), &mut rng);
    let rt = tokio::runtime::Runtime::new()?;
    let mut all_agree = true;
    rt.block_on(async {
        let addr = start_holder(pki.dir.path(), gallery, params, 0).await?;
        println!("holder listening on {addr} (mutual TLS 1.3, ALPN privface/1)\n");
        println!(
            "  {:<9} {:<26} {:>8} {:>10} {:>9}",
            "probe", "mode", "bit", "plaintext", "ms"
        );
        let mut shown = None;
        for (name, probe) in [("genuine", &genuine), ("impostor", &impostor)] {
            for mode in [
                Mode::Identify,
                Mode::Verify {
                    identity: claim.clone(),
                },
            ] {
                let label = match &mode {
                    Mode::Identify => "identify (1:N)".to_owned(),
                    Mode::Verify { identity } => format!("verify {identity}"),
                };
                let claim_ref = match &mode {
                    Mode::Verify { identity } => Some(identity.as_str()),
                    Mode::Identify => None,
                };
                let want = plain_decision(&quantiser, &rows, probe, claim_ref)?;
                let outcome = ask(pki.dir.path(), addr, probe.clone(), mode.clone()).await?;
                let bit = outcome.bit.context("the verifier should learn the bit")?;
                all_agree &= bit == want;
                let show = |b: bool| if b { "match" } else { "no match" };
                println!(
                    "  {name:<9} {label:<26} {:>8} {:>10} {:>9.1}{}",
                    show(bit),
                    show(want),
                    outcome.timings.total().as_secs_f64() * 1e3,
                    if bit == want { "" } else { "  MISMATCH" }
                );
                if shown.is_none() && matches!(mode, Mode::Identify) {
                    shown = Some(outcome);
                }
            }
        }
        if let Some(o) = shown {
            print_phases(&format!("identification against {n} identities"), &o);
        }
        anyhow::Ok(())
    })?;
    println!(
        "\nthe holder learned nothing about the probes; the verifier learned one bit per query"
    );
    Ok(all_agree)
}

fn bench(n: usize, d: usize, precision: f64) -> Result<()> {
    let params = ParameterSet::default_128();
    let pki = Pki::mint()?;
    let faces = SyntheticFaces {
        dimension: d,
        noise: 0.8,
    };
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let quantiser = Quantiser::for_dimension(d)?;
    eprintln!("generating {n} identities (d = {d}) ...");
    let mut ids = Vec::with_capacity(n);
    let mut rows: Vec<i8> = Vec::with_capacity(n * d);
    let mut probe_identity = Vec::new();
    for i in 0..n {
        let id = faces.identity(&mut rng);
        ids.push(format!("p{i}"));
        rows.extend(quantiser.quantise(&faces.capture(&id, &mut rng))?);
        if i == n / 2 {
            probe_identity = id;
        }
    }
    let probe = faces.capture(&probe_identity, &mut rng);

    // Plaintext decision in the same run, before the rows move into the packed gallery.
    let t = Instant::now();
    let x = quantiser.quantise(&probe)?;
    let tau = quantiser.threshold(THRESHOLD);
    let scores = plain::scores(&x, &rows);
    let plain_bit = scores.iter().any(|&s| s as i64 >= tau);
    let plain_s = t.elapsed().as_secs_f64();
    // A coarse comparison may decide a score within its band either way (spec §4.1).
    let dropped_bits = quantiser.dropped_bits_for_tolerance(precision);
    let band = 1i64 << (dropped_bits + 1);
    let in_band = scores
        .iter()
        .any(|&s| dropped_bits > 0 && (s as i64 - tau).abs() < band);

    eprintln!("packing ...");
    let t = Instant::now();
    let gallery = Arc::new(HolderGallery::from_rows(
        &params,
        d,
        ids,
        rows,
        GalleryMode::Pretransformed,
    )?);
    let pack_s = t.elapsed().as_secs_f64();
    let probe_file = pki.dir.path().join("probe.json");
    std::fs::write(&probe_file, serde_json::to_string(&probe)?)?;

    let rt = tokio::runtime::Runtime::new()?;
    let (child, one_to_one) = rt.block_on(async {
        let addr = start_holder(pki.dir.path(), gallery, params, dropped_bits).await?;
        let t = Instant::now();
        let out = tokio::process::Command::new(std::env::current_exe()?)
            .args(["verifier-child", "--connect", &addr.to_string(), "--dir"])
            .arg(pki.dir.path())
            .arg("--probe")
            .arg(&probe_file)
            .output()
            .await?;
        let total_s = t.elapsed().as_secs_f64();
        anyhow::ensure!(
            out.status.success(),
            "verifier failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut child: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        child["total_s"] = total_s.into();
        let t = Instant::now();
        ask(
            pki.dir.path(),
            addr,
            probe.clone(),
            Mode::Verify {
                identity: format!("p{}", n / 2),
            },
        )
        .await?;
        anyhow::Ok((child, t.elapsed().as_secs_f64()))
    })?;
    let phases = child["phases"].as_array().cloned().unwrap_or_default();
    println!("identification, n = {n}, d = {d} (gallery packed in {pack_s:.1} s)");
    println!(
        "  {:<11} {:>10} {:>14} {:>14}",
        "phase", "ms", "bytes sent", "bytes recv"
    );
    let mut online_ms = 0.0;
    let mut bytes = 0.0;
    for p in &phases {
        let ms = p["ms"].as_f64().unwrap_or(0.0);
        if p["phase"] != "negotiate" {
            online_ms += ms;
        }
        bytes += p["sent"].as_f64().unwrap_or(0.0) + p["received"].as_f64().unwrap_or(0.0);
        println!(
            "  {:<11} {:>10.1} {:>14} {:>14}",
            p["phase"].as_str().unwrap_or("?"),
            ms,
            p["sent"],
            p["received"]
        );
    }
    let bit = child["match"].as_bool();
    println!(
        "{}",
        serde_json::json!({
            "n": n,
            "d": d,
            "online_s": online_ms / 1e3,
            "total_s": child["total_s"],
            "bytes_per_gallery_vector": bytes / n as f64,
            "verify_1to1_ms": one_to_one * 1e3,
            "holder_peak_rss_mb": peak_rss_mb(),
            "verifier_peak_rss_mb": child["peak_rss_mb"],
            "plain_decision_s": plain_s,
            "ratio_online_to_plain": online_ms / 1e3 / plain_s,
            "bit": bit,
            "plain_bit": plain_bit,
            "dropped_bits": dropped_bits,
            "score_in_band": in_band,
        })
    );
    anyhow::ensure!(
        bit == Some(plain_bit) || in_band,
        "garbled bit differs from the plaintext decision"
    );
    Ok(())
}

fn verifier_child(connect: &str, dir: &Path, probe: &Path) -> Result<()> {
    let probe = read_embedding(probe)?;
    let rt = tokio::runtime::Runtime::new()?;
    let addr: std::net::SocketAddr = connect.parse()?;
    let o = rt.block_on(ask(dir, addr, probe, Mode::Identify))?;
    println!(
        "{}",
        serde_json::json!({"match": o.bit, "phases": phases_json(&o.timings), "peak_rss_mb": peak_rss_mb()})
    );
    Ok(())
}

fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        None => demo(cli.gallery_size, cli.dim).inspect(|&ok| {
            if !ok {
                eprintln!("a garbled bit differs from the plaintext decision");
            }
        }),
        Some(Command::Bench {
            gallery_size,
            dim,
            precision,
        }) => bench(gallery_size, dim, precision).map(|_| true),
        Some(Command::VerifierChild {
            connect,
            dir,
            probe,
        }) => verifier_child(&connect, &dir, &probe).map(|_| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
