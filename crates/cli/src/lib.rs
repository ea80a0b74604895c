//! Shared pieces of the privface binaries: loading a gallery for serving, the durable query
//! ledger, reading embeddings, synthetic faces for the demo, and process statistics.

mod ledger;
mod limits;
mod procstat;

pub use ledger::{BudgetLimit, DEFAULT_BUDGET, SqliteLedger, output_name};
pub use limits::ServeLimits;
pub use procstat::{ProcStatus, peak_rss_mb};

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use privface_gallery::Gallery;
use privface_he::{GalleryMode, ParameterSet};
use privface_protocol::HolderGallery;
use rand::Rng;

/// Parameter set by name, refusing insecure ones unless explicitly allowed.
pub fn parameter_set(name: &str, insecure_ok: bool) -> Result<ParameterSet> {
    let p = ParameterSet::by_name(name)?;
    if p.is_insecure() && !insecure_ok {
        bail!(
            "parameter set `{name}` is insecure; pass --insecure-toy-params to use it anyway (tests only)"
        );
    }
    Ok(p)
}

/// How the holder keeps its gallery (`serve --gallery-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GalleryChoice {
    /// `stream` when the pretransformed gallery would take more than half the memory
    /// available now, `memory` otherwise.
    Auto,
    /// Pretransformed in memory (8·d bytes per vector under `default`): the fastest queries.
    Memory,
    /// Rows read from the rows file beside the database and transformed per query: for
    /// galleries larger than memory.
    Stream,
}

/// The memory available now (`MemAvailable` of /proc/meminfo), if known.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The mode `choice` means for `n` vectors of dimension `d` under `params`, given the memory
/// available (unknown: memory).
pub fn resolve_gallery_mode(
    choice: GalleryChoice,
    params: &ParameterSet,
    n: usize,
    d: usize,
    available: Option<u64>,
) -> GalleryChoice {
    match choice {
        GalleryChoice::Auto => {
            let pretransformed = n as u64 * d as u64 * 8 * params.rns().primes() as u64;
            match available {
                Some(avail) if pretransformed > avail / 2 => GalleryChoice::Stream,
                _ => GalleryChoice::Memory,
            }
        }
        other => other,
    }
}

/// Loads every classification model stored in the gallery file and packs it for serving under
/// `params` (spec §13).
pub fn load_models(db: &Path, params: &ParameterSet) -> Result<Arc<privface_protocol::ModelSet>> {
    let g = Gallery::open(db).with_context(|| format!("opening gallery {}", db.display()))?;
    let mut models = privface_protocol::ModelSet::new();
    for info in g.models()? {
        let model = g
            .load_model(&info.name)?
            .with_context(|| format!("model `{}` vanished while loading", info.name))?;
        let held = privface_protocol::HolderModel::new(params, model)
            .with_context(|| format!("packing model `{}`", info.name))?;
        models.insert(info.name, Arc::new(held));
    }
    Ok(Arc::new(models))
}

/// Loads the SQLite gallery and packs it for serving in the mode `choice` resolves to, with a
/// progress bar (blocks, rate, ETA) on a terminal.
pub fn load_gallery(
    db: &Path,
    params: &ParameterSet,
    choice: GalleryChoice,
) -> Result<Arc<HolderGallery>> {
    let g = Gallery::open(db).with_context(|| format!("opening gallery {}", db.display()))?;
    let n = g.count()?;
    let mode = resolve_gallery_mode(choice, params, n, g.dimension(), available_memory());
    tracing::info!(identities = n, mode = ?mode, "loading the gallery");
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {pos}/{len} blocks, {per_sec}, ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b.set_message(match mode {
            GalleryChoice::Stream => format!("checking {n} streamed identities"),
            _ => format!("packing {n} identities"),
        });
        b
    });
    // The packing threads only count; one thread of ours draws (indicatif is not called from
    // the thread pool).
    let (done, total) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let finished = AtomicBool::new(false);
    let progress = |d: usize, t: usize| {
        done.fetch_max(d, Ordering::Relaxed);
        total.store(t, Ordering::Relaxed);
    };
    let packed = std::thread::scope(|scope| {
        if let Some(b) = &bar {
            scope.spawn(|| {
                while !finished.load(Ordering::Relaxed) {
                    b.set_length(total.load(Ordering::Relaxed) as u64);
                    b.set_position(done.load(Ordering::Relaxed) as u64);
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            });
        }
        let packed = (|| -> Result<HolderGallery> {
            Ok(match mode {
                GalleryChoice::Stream => {
                    let (ids, file) = g.open_rows()?;
                    HolderGallery::streamed(params, g.dimension(), ids, Arc::new(file), &progress)?
                }
                _ => {
                    let rows = g.load_quantised()?;
                    HolderGallery::from_rows_with_progress(
                        params,
                        rows.dimension,
                        rows.ids,
                        rows.rows,
                        GalleryMode::Pretransformed,
                        &progress,
                    )?
                }
            })
        })();
        finished.store(true, Ordering::Relaxed);
        packed
    })?;
    if let Some(b) = bar {
        b.finish_with_message(format!("packed {n} identities"));
    }
    // The labels a who-identification names (spec §15), in row order.
    let packed = packed.with_labels(g.load_labels()?)?;
    Ok(Arc::new(packed))
}

/// Reads a probe: a JSON array of numbers.
pub fn read_embedding(path: &Path) -> Result<Vec<f32>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: Vec<f32> = serde_json::from_str(&text)
        .with_context(|| format!("{}: expected a JSON array of numbers", path.display()))?;
    Ok(v)
}

/// Synthetic faces: each identity is a random direction; an enrolment or probe of it adds
/// independent noise, so genuine pairs score cos ≈ 1/(1 + σ²) and impostors ≈ 0 ± 1/√d, like
/// real face embeddings at a fixed operating point.
pub struct SyntheticFaces {
    /// Embedding dimension.
    pub dimension: usize,
    /// Noise ratio σ.
    pub noise: f32,
}

impl SyntheticFaces {
    fn gaussian<R: Rng>(rng: &mut R, d: usize) -> Vec<f32> {
        // Sum of four uniforms: close enough to Gaussian for synthetic faces, and cheap enough
        // to generate a million of them.
        (0..d)
            .map(|_| (0..4).map(|_| rng.random::<f32>() - 0.5).sum::<f32>())
            .collect()
    }

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    /// A new identity.
    pub fn identity<R: Rng>(&self, rng: &mut R) -> Vec<f32> {
        Self::unit(Self::gaussian(rng, self.dimension))
    }

    /// One capture of an identity.
    pub fn capture<R: Rng>(&self, identity: &[f32], rng: &mut R) -> Vec<f32> {
        let noise = Self::unit(Self::gaussian(rng, self.dimension));
        Self::unit(
            identity
                .iter()
                .zip(noise)
                .map(|(a, b)| a + self.noise * b)
                .collect(),
        )
    }
}

/// Per-phase time and bytes as JSON: `[{"phase", "ms", "sent", "received"}, …]`.
pub fn phases_json(timings: &privface_protocol::PhaseTimings) -> serde_json::Value {
    timings
        .phases
        .iter()
        .map(|p| serde_json::json!({"phase": p.phase.name(), "ms": p.time.as_secs_f64() * 1e3, "sent": p.sent, "received": p.received}))
        .collect()
}

/// Logging to stderr, quiet unless RUST_LOG says otherwise; never logs secrets (the crates log
/// sizes, timings and message kinds only).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colour codes only on a terminal: logs piped to a file or a journal stay plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_streams_only_when_the_pretransformed_gallery_would_crowd_memory() {
        let p = ParameterSet::default_64();
        let gb = 1u64 << 30;
        // 10^6 × 512 pretransformed is 4 GB (8·d per vector, one prime): memory with 24 GB
        // available, stream with 6 GB (4 GB > 3 GB), memory when nothing is known.
        let auto = |n, avail| resolve_gallery_mode(GalleryChoice::Auto, &p, n, 512, avail);
        assert_eq!(auto(1_000_000, Some(24 * gb)), GalleryChoice::Memory);
        assert_eq!(auto(1_000_000, Some(6 * gb)), GalleryChoice::Stream);
        assert_eq!(auto(10_000_000, Some(24 * gb)), GalleryChoice::Stream);
        assert_eq!(auto(10_000_000, None), GalleryChoice::Memory);
        // q128 keeps two residues: twice the memory.
        let q = ParameterSet::q128();
        let q128 = resolve_gallery_mode(GalleryChoice::Auto, &q, 1_000_000, 512, Some(12 * gb));
        assert_eq!(q128, GalleryChoice::Stream);
        // An explicit choice is kept whatever the memory.
        for choice in [GalleryChoice::Memory, GalleryChoice::Stream] {
            assert_eq!(resolve_gallery_mode(choice, &p, 10, 8, Some(1)), choice);
        }
        assert!(available_memory().is_some_and(|m| m > 0));
    }
}
