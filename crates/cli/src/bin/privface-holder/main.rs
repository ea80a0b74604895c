//! privface-holder: manage the enrolled gallery, mint a demo PKI, and serve verifiers.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
mod admin;
mod models;

use admin::{BudgetAction, CertsAction};
use models::{ModelAction, ProjectionAction, projector};
use privface_cli::{
    BudgetLimit, DEFAULT_BUDGET, GalleryChoice, ServeLimits, SqliteLedger, init_logging,
    load_gallery, load_models, parameter_set, read_embedding,
};
use privface_gallery::{
    Gallery, Ledger, Record, projection_fingerprint, read_csv, read_jsonl, read_npy,
    read_projection,
};
use privface_net::{serve, server_tls_with_crls};
use privface_protocol::{HolderConfig, OutputTo};

#[derive(Parser)]
#[command(
    name = "privface-holder",
    version,
    about = "The database holder of privface"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an empty gallery.
    Init {
        /// Gallery file (SQLite).
        #[arg(long)]
        db: PathBuf,
        /// Embedding dimension: 512 unless given (with --projection: its output dimension).
        #[arg(long)]
        dim: Option<usize>,
        /// Store every embedding projected by this file (spec §14); enrolments must then pass
        /// the same file.
        #[arg(long)]
        projection: Option<PathBuf>,
    },
    /// Enrol one identity from a JSON array of numbers.
    Enrol {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        id: String,
        #[arg(long, default_value = "")]
        label: String,
        /// JSON file with the embedding.
        #[arg(long)]
        embedding: PathBuf,
        /// The gallery's projection file, applied to the embedding first.
        #[arg(long)]
        projection: Option<PathBuf>,
    },
    /// Import many identities atomically (all or none).
    Import {
        #[arg(long)]
        db: PathBuf,
        /// A float32 .npy matrix (n × d); needs --ids.
        #[arg(long, requires = "ids", conflicts_with_all = ["csv", "jsonl"])]
        npy: Option<PathBuf>,
        /// One id per line, in matrix row order.
        #[arg(long)]
        ids: Option<PathBuf>,
        /// CSV: id,label,v0,…
        #[arg(long, conflicts_with = "jsonl")]
        csv: Option<PathBuf>,
        /// JSON lines: {"id":…,"label":…,"embedding":[…]}
        #[arg(long)]
        jsonl: Option<PathBuf>,
        /// The gallery's projection file, applied to every embedding first.
        #[arg(long)]
        projection: Option<PathBuf>,
    },
    /// List enrolled identities.
    List {
        #[arg(long)]
        db: PathBuf,
    },
    /// Remove an identity.
    Remove {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        id: String,
    },
    /// Projections d → d′ both parties apply before quantising (spec §14).
    Projection {
        #[command(subcommand)]
        action: ProjectionAction,
    },
    /// The classification models served beside the gallery (spec §13).
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// The per-client query budgets kept in the gallery file.
    Budget {
        #[command(subcommand)]
        action: BudgetAction,
    },
    /// The audit log of queries: time, client, mode, claimed identity, scores, who learns the
    /// bit, whether it was charged, and the bit when the holder learnt it.
    Audit {
        #[arg(long)]
        db: PathBuf,
        /// Rows to show (the most recent).
        #[arg(long, default_value_t = 50)]
        last: usize,
    },
    /// The client identity (spec §9.1) of a certificate, as `budget` and `audit` show it.
    ClientId {
        /// PEM certificate.
        #[arg(long)]
        cert: PathBuf,
    },
    /// Mint a demo PKI (CA, holder and verifier certificates) into a directory, or manage it.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Certs {
        #[arg(long, required = true)]
        out: Option<PathBuf>,
        /// DNS name of the holder's certificate.
        #[arg(long, default_value = "localhost")]
        name: String,
        #[command(subcommand)]
        action: Option<CertsAction>,
    },
    /// Serve verifiers over mutual TLS.
    Serve {
        #[arg(long)]
        db: PathBuf,
        #[arg(long, default_value = "127.0.0.1:7443")]
        listen: String,
        #[arg(long)]
        ca: PathBuf,
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        key: PathBuf,
        /// Cosine-similarity threshold.
        #[arg(long, default_value_t = 0.4)]
        threshold: f32,
        /// Parameter set: `default` (Q = 2^64, share error 2^-20) or `q128` (2^-30).
        #[arg(long, default_value = "default")]
        params: String,
        /// Allow the insecure `toy` parameter set (tests only).
        #[arg(long)]
        insecure_toy_params: bool,
        /// Queries allowed per client (issuer and key of its certificate), kept in the
        /// gallery file across restarts; `unlimited` turns the limit off.
        #[arg(long, default_value_t = BudgetLimit(Some(DEFAULT_BUDGET)))]
        budget: BudgetLimit,
        #[command(flatten)]
        limits: ServeLimits,
        /// Score blocks per round (1 to 4096): the HE of the next round runs while this one
        /// is garbled.
        #[arg(long, default_value_t = privface_protocol::DEFAULT_ROUND_BLOCKS)]
        round_blocks: usize,
        /// Where the result may go (comma-separated); a verifier asking for another is refused.
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "verifier,holder,both"
        )]
        allow_output: Vec<AllowOutput>,
        /// Certificate revocation lists of the CA (PEM): listed client certificates are
        /// refused at the handshake.
        #[arg(long)]
        crl: Option<PathBuf>,
        /// Cosine tolerance of the comparison (0: exact). A coarser comparison drops low score
        /// bits (fewer bytes and gates); decisions stay exact for cosines further than about
        /// twice this from the threshold (spec §4.1). For example 0.000244 (2^-12).
        #[arg(long, default_value_t = 0.0)]
        precision: f64,
        /// How to keep the gallery: `memory` (pretransformed, 8·d bytes per identity),
        /// `stream` (the rows file beside the database, read and transformed per query) or
        /// `auto` (stream when the pretransformed gallery would need more than half the
        /// memory available).
        #[arg(long, value_enum, default_value = "auto")]
        gallery_mode: GalleryChoice,
    },
}

/// A result destination the holder allows.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum AllowOutput {
    /// The verifier alone learns the bit.
    Verifier,
    /// The holder alone learns the bit.
    Holder,
    /// Both learn it.
    Both,
}

fn main() -> Result<()> {
    init_logging();
    match Cli::parse().command {
        Command::Init {
            db,
            dim,
            projection: Some(path),
        } => {
            let p = read_projection(&path)?;
            if dim.is_some_and(|d| d != p.output_dim()) {
                anyhow::bail!(
                    "--dim {} but the projection maps to {} dimensions",
                    dim.unwrap_or_default(),
                    p.output_dim()
                );
            }
            let mut g = Gallery::create(&db, p.output_dim())?;
            g.set_projection(&p)?;
            println!(
                "created {} (d = {}, rows projected from d = {} by {})",
                db.display(),
                p.output_dim(),
                p.input_dim(),
                projection_fingerprint(&p)
            );
        }
        Command::Init { db, dim, .. } => {
            let dim = dim.unwrap_or(512);
            Gallery::create(&db, dim)?;
            println!("created {} (d = {dim})", db.display());
        }
        Command::Enrol {
            db,
            id,
            label,
            embedding,
            projection,
        } => {
            let mut g = Gallery::open(&db)?;
            let project = projector(&g, projection.as_deref())?;
            g.enrol(&Record {
                id: id.clone(),
                label,
                embedding: project(read_embedding(&embedding)?)?,
            })?;
            println!("enrolled {id}");
        }
        Command::Import {
            db,
            npy,
            ids,
            csv,
            jsonl,
            projection,
        } => {
            let mut records = match (npy, ids, csv, jsonl) {
                (Some(npy), Some(ids), None, None) => read_npy(&npy, &ids)?,
                (None, None, Some(csv), None) => read_csv(&csv)?,
                (None, None, None, Some(jsonl)) => read_jsonl(&jsonl)?,
                _ => anyhow::bail!("give exactly one of --npy/--ids, --csv, --jsonl"),
            };
            let mut g = Gallery::open(&db)?;
            let project = projector(&g, projection.as_deref())?;
            for r in &mut records {
                r.embedding = project(std::mem::take(&mut r.embedding))
                    .with_context(|| format!("identity `{}`", r.id))?;
            }
            let n = g
                .import(records.into_iter().map(Ok))
                .context("import rolled back, nothing stored")?;
            println!("imported {n} identities");
        }
        Command::List { db } => {
            let g = Gallery::open(&db)?;
            for i in g.list()? {
                println!("{}\t{}\t{}", i.id, i.label, i.created);
            }
        }
        Command::Remove { db, id } => {
            let mut g = Gallery::open(&db)?;
            if g.remove(&id)? {
                println!("removed {id}");
            } else {
                anyhow::bail!("no identity `{id}`");
            }
        }
        Command::Projection { action } => models::projection(action)?,
        Command::Model { action } => models::model(action)?,
        Command::Budget { action } => admin::budget(action)?,
        Command::Audit { db, last } => admin::audit(&db, last)?,
        Command::ClientId { cert } => admin::client_id(&cert)?,
        Command::Certs {
            action: Some(CertsAction::Revoke { pki, cert }),
            ..
        } => admin::revoke(&pki, &cert)?,
        Command::Certs { out, name, .. } => admin::mint(out, &name)?,
        Command::Serve {
            db,
            listen,
            ca,
            cert,
            key,
            threshold,
            params,
            insecure_toy_params,
            budget,
            limits,
            round_blocks,
            allow_output,
            crl,
            precision,
            gallery_mode,
        } => {
            let params = parameter_set(&params, insecure_toy_params)?;
            let gallery = load_gallery(&db, &params, gallery_mode)?;
            let crl = match &crl {
                Some(path) => std::fs::read(path)
                    .with_context(|| format!("reading the CRL {}", path.display()))?,
                None => Vec::new(),
            };
            let tls = server_tls_with_crls(
                &std::fs::read(&ca)?,
                &std::fs::read(&cert)?,
                &std::fs::read(&key)?,
                &crl,
            )?;
            let mut config = HolderConfig::new(
                params,
                gallery.clone(),
                gallery.quantiser().threshold(threshold),
                Arc::new(SqliteLedger(Ledger::open(&db, budget.0)?)),
            );
            config.allow_insecure = insecure_toy_params;
            config.round_blocks = round_blocks;
            config.models = load_models(&db, &config.params)?;
            if !(0.0..1.0).contains(&precision) {
                anyhow::bail!("--precision must be a cosine tolerance in [0, 1)");
            }
            config.dropped_bits = gallery.quantiser().dropped_bits_for_tolerance(precision);
            if config.dropped_bits > 0 {
                eprintln!(
                    "comparison drops {} low score bits (exact beyond ±{:.6} in cosine)",
                    config.dropped_bits,
                    2f64.powi(config.dropped_bits as i32 + 1)
                        / (gallery.quantiser().scale() as f64).powi(2)
                );
            }
            config.allowed_outputs = allow_output
                .into_iter()
                .map(|o| match o {
                    AllowOutput::Verifier => OutputTo::Verifier,
                    AllowOutput::Holder => OutputTo::Holder,
                    AllowOutput::Both => OutputTo::Both,
                })
                .collect();
            let config = Arc::new(config);
            // Idle blocking threads (one per finished session) exit after 2 s, so the thread
            // count follows the load down.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_keep_alive(std::time::Duration::from_secs(2))
                .build()?;
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind(&listen).await?;
                eprintln!(
                    "serving {} identities and {} models on {}",
                    gallery.len(),
                    config.models.len(),
                    listener.local_addr()?
                );
                let shutdown = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                serve(listener, tls, config, limits.options(), shutdown).await?;
                anyhow::Ok(())
            })?;
        }
    }
    Ok(())
}
