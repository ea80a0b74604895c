//! The holder's models and projections (spec §13, §14): `privface-holder model …` and
//! `privface-holder projection …`, and the projection enrolment applies.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use privface_gallery::{
    Gallery, projection_fingerprint, read_f32_npy, read_model, read_projected_model,
    read_projection, write_projection,
};
use privface_he::Projection;
use rand::SeedableRng;

#[derive(Subcommand)]
pub(crate) enum ProjectionAction {
    /// Fit a PCA projection (the leading principal directions of the L2-normalised rows,
    /// uncentred) on a float32 .npy matrix (n × d). Fit it on public data, not on the
    /// gallery: the file is handed to every verifier (spec §14).
    Fit {
        #[arg(long)]
        npy: PathBuf,
        /// Output dimension d′.
        #[arg(long)]
        dim: usize,
        /// The projection file to write.
        #[arg(long)]
        out: PathBuf,
        /// Seed of the random rotation (spec §14), for a reproducible fit; fresh otherwise.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Dimensions, kept energy and fingerprint of a projection file.
    Show {
        #[arg(long)]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
pub(crate) enum ModelAction {
    /// Quantise a linear model and store it (one transaction): logit_c = ⟨w_c, x⟩ + b_c, the
    /// label of the largest logit (a single row: label 1 when its logit is ≥ 0, else label 0).
    Import {
        #[arg(long)]
        db: PathBuf,
        /// The name verifiers ask for.
        #[arg(long)]
        name: String,
        /// float32 .npy of shape (C, d): one weight row per class.
        #[arg(long)]
        weights: PathBuf,
        /// float32 .npy of shape (C,): the biases.
        #[arg(long)]
        bias: PathBuf,
        /// One label per line: C lines, or 2 for a single row.
        #[arg(long)]
        labels: PathBuf,
        /// The bound X of every input component (|x_i| ≤ X); inputs outside it are refused by
        /// the verifier. Inputs are quantised at 127/X. With --projection, the bound of the
        /// projected inputs.
        #[arg(long)]
        input_bound: f32,
        /// A projection file (spec §14): the weights are projected (w′ = P·w), and verifiers
        /// project their inputs with the same file.
        #[arg(long)]
        projection: Option<PathBuf>,
    },
    /// The stored models.
    List {
        #[arg(long)]
        db: PathBuf,
    },
    /// Remove a model (a running holder keeps serving it until restarted).
    Remove {
        #[arg(long)]
        db: PathBuf,
        #[arg(long)]
        name: String,
    },
}

/// What enrolment applies to an embedding: the gallery's projection, which `file` must be
/// (or none, when the gallery has none).
pub(crate) fn projector(
    g: &Gallery,
    file: Option<&std::path::Path>,
) -> Result<impl Fn(Vec<f32>) -> Result<Vec<f32>> + use<>> {
    let p = file.map(read_projection).transpose()?;
    g.check_projection(p.as_ref())?;
    Ok(move |e: Vec<f32>| match &p {
        Some(p) => Ok(p.apply(&e)?),
        None => Ok(e),
    })
}

/// `privface-holder projection …`.
pub(crate) fn projection(action: ProjectionAction) -> Result<()> {
    match action {
        ProjectionAction::Fit {
            npy,
            dim,
            out,
            seed,
        } => {
            let (shape, values) = read_f32_npy(&npy)?;
            let [n, d] = shape[..] else {
                anyhow::bail!("{}: shape {shape:?}, not (n, d)", npy.display());
            };
            let mut rng = match seed {
                Some(seed) => rand_chacha::ChaCha20Rng::seed_from_u64(seed),
                None => rand_chacha::ChaCha20Rng::from_os_rng(),
            };
            let p = Projection::fit_pca(&values, d, dim, &mut rng)?;
            write_projection(&out, &p)?;
            println!(
                "fitted {d} → {dim} on {n} rows, keeping {:.2} % of their energy; wrote {} ({})",
                100.0 * p.energy().unwrap_or(0.0),
                out.display(),
                projection_fingerprint(&p)
            );
        }
        ProjectionAction::Show { file } => {
            let p = read_projection(&file)?;
            println!(
                "{} → {} dimensions, energy kept {}, sha256 {}",
                p.input_dim(),
                p.output_dim(),
                p.energy()
                    .map_or("unknown".into(), |e| format!("{:.2} %", 100.0 * e)),
                projection_fingerprint(&p)
            );
        }
    }
    Ok(())
}

/// `privface-holder model …`.
pub(crate) fn model(action: ModelAction) -> Result<()> {
    match action {
        ModelAction::Import {
            db,
            name,
            weights,
            bias,
            labels,
            input_bound,
            projection,
        } => {
            let model = match projection {
                None => read_model(&name, &weights, &bias, &labels, input_bound)?,
                Some(path) => {
                    let p = read_projection(&path)?;
                    read_projected_model(&name, &weights, &bias, &labels, input_bound, &p)?
                }
            };
            let mut g = Gallery::open(&db)?;
            g.import_model(&name, &model)?;
            println!(
                "imported model `{name}`: {} classes, d = {}, {}-bit logits",
                model.classes(),
                model.dimension(),
                model.share_bits()
            );
        }
        ModelAction::List { db } => {
            println!("name	dimension	classes	labels	created");
            for m in Gallery::open(&db)?.models()? {
                println!(
                    "{}	{}	{}	{}	{}",
                    m.name,
                    m.dimension,
                    m.classes,
                    m.labels.join(","),
                    m.created
                );
            }
        }
        ModelAction::Remove { db, name } => {
            if !Gallery::open(&db)?.remove_model(&name)? {
                anyhow::bail!("no model `{name}`");
            }
            println!("removed model {name}");
        }
    }
    Ok(())
}
