//! privface-verifier: ask a holder whether a probe matches, or which class an input is. Exit
//! code 0 = match (or a label printed), 1 = no match (also for a claimed identity that is not
//! enrolled: the holder does not say), 2 = error, 3 = no result here (the output went to the
//! holder).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use privface_cli::{init_logging, parameter_set, peak_rss_mb, phases_json, read_embedding};
use privface_net::{Timeouts, VerifyRequest, client_tls, verify};
use privface_protocol::{Mode, OutputTo, VerifierConfig};

#[derive(Parser)]
#[command(
    name = "privface-verifier",
    version,
    about = "The verifier of privface"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Output {
    Verifier,
    Holder,
    Both,
}

/// How to reach the holder and what to accept of it (every command).
#[derive(clap::Args)]
struct Connection {
    /// Holder address.
    #[arg(long)]
    connect: String,
    /// DNS name in the holder's certificate.
    #[arg(long, default_value = "localhost")]
    server_name: String,
    #[arg(long)]
    ca: PathBuf,
    #[arg(long)]
    cert: PathBuf,
    #[arg(long)]
    key: PathBuf,
    /// Who learns the result.
    #[arg(long, value_enum, default_value = "verifier")]
    output: Output,
    /// Parameter sets to accept, comma-separated (the holder chooses among them).
    #[arg(long, value_delimiter = ',', default_value = "default,q128")]
    params: Vec<String>,
    /// Allow the insecure `toy` parameter set (tests only).
    #[arg(long)]
    insecure_toy_params: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// A projection file (spec §14) the holder's rows or model were stored under: applied to
    /// the probe before anything else.
    #[arg(long)]
    projection: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run one session: identification, or verification with --identity.
    Verify {
        /// JSON array with the probe embedding.
        #[arg(long)]
        probe: PathBuf,
        #[command(flatten)]
        connection: Connection,
        /// Claimed identity (1:1 verification); without it, 1:N identification.
        #[arg(long, conflicts_with = "who")]
        identity: Option<String>,
        /// Identification that says who: the id and label of the enrolled identity with the
        /// best score at or above the threshold, or no match (spec §15).
        #[arg(long)]
        who: bool,
        /// Refuse a holder whose comparison drops low score bits (spec §4.1).
        #[arg(long)]
        exact: bool,
    },
    /// Classify an input with one of the holder's models: only the label leaves the protocol
    /// (spec §13). Prints the label.
    Classify {
        /// JSON array with the input (every component within the model's input bound).
        #[arg(long)]
        probe: PathBuf,
        /// The model's name.
        #[arg(long)]
        model: String,
        #[command(flatten)]
        connection: Connection,
    },
}

/// What a session ended with here.
enum Outcome {
    Bit(Option<bool>),
    Class(Option<privface_protocol::Class>),
}

fn run(cli: Cli) -> Result<Outcome> {
    let (probe, connection, mode, exact) = match cli.command {
        Command::Verify {
            probe,
            connection,
            identity,
            who,
            exact,
        } => {
            let mode = match (identity, who) {
                (Some(identity), _) => Mode::Verify { identity },
                (None, true) => Mode::IdentifyWho,
                (None, false) => Mode::Identify,
            };
            (probe, connection, mode, exact)
        }
        Command::Classify {
            probe,
            model,
            connection,
        } => (probe, connection, Mode::Classify { model }, true),
    };
    let Connection {
        connect,
        server_name,
        ca,
        cert,
        key,
        output,
        params,
        insecure_toy_params,
        json,
        projection,
    } = connection;
    let params = params
        .iter()
        .map(|name| parameter_set(name, insecure_toy_params))
        .collect::<Result<Vec<_>>>()?;
    let mut probe = read_embedding(&probe)?;
    if let Some(path) = &projection {
        let p = privface_gallery::read_projection(path)?;
        probe = p
            .apply(&probe)
            .with_context(|| format!("projecting the probe with {}", path.display()))?;
    }
    let tls = client_tls(
        &std::fs::read(&ca)?,
        &std::fs::read(&cert)?,
        &std::fs::read(&key)?,
    )?;
    let output = match output {
        Output::Verifier => OutputTo::Verifier,
        Output::Holder => OutputTo::Holder,
        Output::Both => OutputTo::Both,
    };
    let config = VerifierConfig {
        param_sets: params.iter().map(|p| p.name().to_owned()).collect(),
        allow_insecure: insecure_toy_params,
        max_dropped_bits: if exact {
            0
        } else {
            privface_he::MAX_DROPPED_BITS
        },
        ..Default::default()
    };
    let classify = matches!(mode, Mode::Classify { .. });
    let rt = tokio::runtime::Runtime::new()?;
    let outcome = rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(&connect).await?;
        let request = VerifyRequest {
            server_name,
            config,
            probe,
            mode,
            output,
            timeouts: Timeouts::default(),
        };
        let dimension = request.probe.len();
        verify(tcp, tls, request)
            .await
            .with_context(|| format!("querying with a probe of dimension {dimension} at {connect}"))
    })?;
    if json {
        let mut report = serde_json::json!({
            "scores": outcome.accept.padded_count,
            "params": outcome.accept.params,
            "total_ms": outcome.timings.total().as_secs_f64() * 1e3,
            "bytes": outcome.timings.bytes().0 + outcome.timings.bytes().1,
            "phases": phases_json(&outcome.timings),
            "peak_rss_mb": peak_rss_mb(),
        });
        if classify {
            report["class"] = serde_json::json!(outcome.class.as_ref().map(|c| c.index));
            report["label"] = serde_json::json!(outcome.class.as_ref().map(|c| &c.label));
        } else {
            report["match"] = serde_json::json!(outcome.bit);
            if let Some(who) = &outcome.who {
                report["id"] = serde_json::json!(who.id);
                report["label"] = serde_json::json!(who.label);
            }
        }
        println!("{report}");
    } else if classify {
        match &outcome.class {
            Some(class) => println!("{}", class.label),
            None => println!("done (the holder learns the result)"),
        }
    } else {
        match outcome.bit {
            Some(true) => match &outcome.who {
                Some(who) => println!("match: {} ({})", who.id, who.label),
                None => println!("match"),
            },
            Some(false) => println!("no match"),
            None => println!("done (the holder learns the result)"),
        }
    }
    Ok(if classify {
        Outcome::Class(outcome.class)
    } else {
        Outcome::Bit(outcome.bit)
    })
}

fn main() -> ExitCode {
    init_logging();
    match run(Cli::parse()) {
        Ok(Outcome::Bit(Some(true)) | Outcome::Class(Some(_))) => ExitCode::from(0),
        Ok(Outcome::Bit(Some(false))) => ExitCode::from(1),
        // The output went to the holder: no result here, which is neither match nor no match.
        Ok(Outcome::Bit(None) | Outcome::Class(None)) => ExitCode::from(3),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
