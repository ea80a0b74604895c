//! privface-demo: the whole system on one machine, nothing to prepare.
//!
//! Mints a PKI in a temporary directory, enrols a synthetic gallery (default 10,000 identities,
//! d = 512) into an SQLite file, starts the holder on 127.0.0.1:0, and runs the verifier over
//! mutual TLS with one genuine and one impostor probe in both modes. Each bit is printed next to
//! the plaintext decision, with a table of per-phase time and bytes; names who (the best
//! identity at or above the threshold) for both probes; then classifies digit
//! images with a model imported from the committed digits fixture, each label next to the float
//! model's. The exit code is non-zero on any mismatch. `privface-demo bench` measures one large identification instead.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use privface_cli::{GalleryChoice, SyntheticFaces, init_logging, load_gallery, load_models};
use privface_gallery::{Gallery, QuantisedRows, Record};
use privface_he::{ParameterSet, Quantiser, plain};
use privface_net::{
    ServeOptions, Timeouts, VerifyRequest, client_tls, pki, serve, server_tls, verify,
};
use privface_protocol::{
    HolderConfig, HolderGallery, Mode, OutputTo, QueryBudget, VerifierConfig, VerifyOutcome,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

mod bench;
mod digits;
mod load;
mod projection;
use bench::{bench, verifier_child};
use digits::DigitsFixture;

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
        /// Where a gallery too large for memory keeps its generated rows between runs.
        #[arg(long, default_value_os_t = std::env::temp_dir().join("privface-bench"))]
        cache_dir: std::path::PathBuf,
        /// Also run a who-identification (spec §15) of the same probe, and report it beside
        /// the one-bit identification with the ratios of time and bytes.
        #[arg(long)]
        who: bool,
    },
    /// What a projection d → d′ (spec §14) saves and costs: real sessions at d′ = 64, 128, 256
    /// and 512 on synthetic faces of low intrinsic dimension, agreement with the unprojected
    /// float rule, and the digits model projected to 8, 16, 32; ends with one JSON line.
    Projection {
        #[arg(long, default_value_t = 10_000)]
        gallery_size: usize,
        /// Intrinsic dimension of the synthetic faces.
        #[arg(long, default_value_t = 96)]
        latent: usize,
        /// Public identities the PCA is fitted on.
        #[arg(long, default_value_t = 4000)]
        fit_size: usize,
    },
    /// A load test: one `privface-holder serve` process against many honest and hostile
    /// clients at once; checks every honest bit and that the holder's threads and memory come
    /// back down; ends with one JSON line.
    Load(load::LoadPlan),
    /// (internal) The verifier in its own process, so its memory is measured apart.
    #[command(hide = true)]
    VerifierChild {
        #[arg(long)]
        connect: String,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        probe: PathBuf,
        #[arg(long)]
        who: bool,
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
    models: Arc<privface_protocol::ModelSet>,
    cosine_threshold: f32,
) -> Result<std::net::SocketAddr> {
    let tls = server_tls(
        &read(dir, "holder/ca.pem")?,
        &read(dir, "holder/holder.pem")?,
        &read(dir, "holder/holder.key")?,
    )?;
    let threshold = gallery.quantiser().threshold(cosine_threshold);
    let mut config =
        HolderConfig::new(params, gallery, threshold, Arc::new(QueryBudget::new(None)));
    config.dropped_bits = dropped_bits;
    config.models = models;
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

pub(crate) async fn ask(
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

/// The plaintext who-identification: the first id (in row order) with the best score ≥ τ.
fn plain_who(q: &Quantiser, rows: &QuantisedRows, probe: &[f32]) -> Result<Option<String>> {
    let x = q.quantise(probe)?;
    let tau = q.threshold(THRESHOLD);
    let mut best: Option<(i64, &str)> = None;
    for (id, y) in rows.iter() {
        let s = plain::dot_i8(&x, y) as i64;
        if s >= tau && best.is_none_or(|(b, _)| s > b) {
            best = Some((s, id));
        }
    }
    Ok(best.map(|(_, id)| id.to_owned()))
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
    let params = ParameterSet::default_64();
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

    let digits = DigitsFixture::import(pki.dir.path(), &db)?;
    let models = load_models(&db, &params)?;
    let t = Instant::now();
    let gallery = load_gallery(&db, &params, GalleryChoice::Auto)?;
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
        let addr = start_holder(pki.dir.path(), gallery, params, 0, models, THRESHOLD).await?;
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
                let (label, claim_ref) = match &mode {
                    Mode::Verify { identity } => {
                        (format!("verify {identity}"), Some(identity.as_str()))
                    }
                    _ => ("identify (1:N)".to_owned(), None),
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
        // Identification that says who: the id of the best row at or above τ.
        println!();
        for (name, probe) in [("genuine", &genuine), ("impostor", &impostor)] {
            let want = plain_who(&quantiser, &rows, probe)?;
            let outcome = ask(pki.dir.path(), addr, probe.clone(), Mode::IdentifyWho).await?;
            let got = outcome.who.as_ref().map(|w| w.id.clone());
            all_agree &= got == want;
            let show = |w: &Option<String>| w.clone().unwrap_or_else(|| "no match".into());
            println!(
                "  {name:<9} {:<26} {:>15} {:>15} {:>9.1}{}",
                "identify who",
                show(&got),
                show(&want),
                outcome.timings.total().as_secs_f64() * 1e3,
                if got == want { "" } else { "  MISMATCH" }
            );
        }
        all_agree &= digits.classify(pki.dir.path(), addr).await?;
        anyhow::Ok(())
    })?;
    println!(
        "\nthe holder learned nothing about the probes or the images; the verifier learned one \
         bit per match query, one identity or \"no match\" per who-query and one label per \
         classification"
    );
    Ok(all_agree)
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
            cache_dir,
            who,
        }) => bench(gallery_size, dim, precision, &cache_dir, who).map(|_| true),
        Some(Command::Load(plan)) => load::load(plan),
        Some(Command::Projection {
            gallery_size,
            latent,
            fit_size,
        }) => projection::projection_bench(gallery_size, latent, fit_size).map(|_| true),
        Some(Command::VerifierChild {
            connect,
            dir,
            probe,
            who,
        }) => verifier_child(&connect, &dir, &probe, who).map(|_| true),
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
