//! `privface-demo projection`: what a projection d → d′ (spec §14) costs and saves, measured in
//! one run against the unprojected protocol.
//!
//! Faces: synthetic embeddings of d = 512 with a low intrinsic dimension (identities and
//! capture noise in a random `latent`-dimensional subspace, plus a little noise outside it, as
//! real face embeddings concentrate in far fewer dimensions than they have). A PCA is fitted on
//! separate public identities; for d′ = 64, 128, 256 and the unprojected 512, one holder
//! serves the same gallery projected and the verifier runs real identifications over mutual
//! TLS (time and bytes, medians of three), and the projected integer rule is compared with the
//! unprojected float rule [cos ≥ 0.4] on genuine and impostor pairs (1:1) and probes (1:N).
//!
//! Digits: the fixture's model projected 64 → 8, 16, 32 (PCA fitted on the first half of the
//! test images), the other half classified over the real protocol and compared with the
//! unprojected float model.

use std::sync::Arc;

use anyhow::{Context, Result};
use privface_cli::SyntheticFaces;
use privface_he::{GalleryMode, ParameterSet, Projection, QuantisedModel, Quantiser, plain};
use privface_protocol::{HolderGallery, HolderModel, Mode, ModelSet};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::{Pki, THRESHOLD, ask, start_holder};

/// The bench's faces operating point: with identities in 96 dimensions an impostor's cosine has
/// a spread of about 1/√96 ≈ 0.1, so its best among 10^4 rows nears 0.4; two captures of one
/// identity (capture noise 0.5) have a cosine near 1/1.26 ≈ 0.79; 0.6 keeps the two apart, as
/// a deployment's threshold would.
const FACES_THRESHOLD: f32 = 0.6;
use crate::digits::DigitsFixture;

/// Faces whose identities and capture noise live in a `latent`-dimensional subspace of R^d.
struct LowRankFaces {
    d: usize,
    basis: Vec<f32>,
    latent: usize,
    noise: f32,
    ambient: f32,
}

impl LowRankFaces {
    fn new(d: usize, latent: usize, rng: &mut ChaCha20Rng) -> Self {
        let g = SyntheticFaces {
            dimension: d,
            noise: 0.0,
        };
        let basis = (0..latent).flat_map(|_| g.identity(rng)).collect();
        Self {
            d,
            basis,
            latent,
            noise: 0.5,
            ambient: 0.1,
        }
    }

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    /// A unit vector of the subspace.
    fn in_subspace(&self, rng: &mut ChaCha20Rng) -> Vec<f32> {
        let mut v = vec![0f32; self.d];
        for k in 0..self.latent {
            let z: f32 = (0..4).map(|_| rng.random::<f32>() - 0.5).sum();
            for (x, &b) in v.iter_mut().zip(&self.basis[k * self.d..(k + 1) * self.d]) {
                *x += z * b;
            }
        }
        Self::unit(v)
    }

    fn identity(&self, rng: &mut ChaCha20Rng) -> Vec<f32> {
        self.in_subspace(rng)
    }

    fn capture(&self, identity: &[f32], rng: &mut ChaCha20Rng) -> Vec<f32> {
        let inside = self.in_subspace(rng);
        let outside = SyntheticFaces {
            dimension: self.d,
            noise: 0.0,
        }
        .identity(rng);
        Self::unit(
            identity
                .iter()
                .zip(inside.iter().zip(&outside))
                .map(|(&a, (&b, &c))| a + self.noise * b + self.ambient * c)
                .collect(),
        )
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot = |x: &[f32], y: &[f32]| {
        x.iter()
            .zip(y)
            .map(|(&u, &v)| u as f64 * v as f64)
            .sum::<f64>()
    };
    dot(a, b) / (dot(a, a) * dot(b, b)).sqrt()
}

/// One row of the faces table.
struct FacesRow {
    dim: usize,
    energy: f64,
    online_ms: f64,
    bytes: u64,
    bit_ok: bool,
    one_to_one: f64,
    mean_shift: f64,
    max_shift: f64,
    one_to_n: f64,
    float_false_accepts: f64,
}

pub(super) fn projection_bench(n: usize, latent: usize, fit: usize) -> Result<()> {
    let d = 512;
    let params = ParameterSet::default_64();
    let pki = Pki::mint()?;
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let faces = LowRankFaces::new(d, latent, &mut rng);
    let public: Vec<f32> = (0..fit)
        .flat_map(|_| {
            let id = faces.identity(&mut rng);
            faces.capture(&id, &mut rng)
        })
        .collect();
    let identities: Vec<Vec<f32>> = (0..n).map(|_| faces.identity(&mut rng)).collect();
    let enrolled: Vec<Vec<f32>> = identities
        .iter()
        .map(|id| faces.capture(id, &mut rng))
        .collect();
    // 1:1 pairs against enrolled rows: genuine captures and impostors of new identities.
    let pairs = 1000.min(n);
    let genuine: Vec<Vec<f32>> = (0..pairs)
        .map(|i| faces.capture(&identities[i], &mut rng))
        .collect();
    let impostors: Vec<Vec<f32>> = (0..pairs)
        .map(|_| {
            let id = faces.identity(&mut rng);
            faces.capture(&id, &mut rng)
        })
        .collect();
    println!(
        "faces: n = {n}, d = {d}, identities and noise in a {latent}-dimensional subspace (+ 10 % \
         outside it); PCA fitted on {fit} other identities; threshold cos ≥ {FACES_THRESHOLD}\n"
    );
    println!(
        "  {:>4} {:>8} {:>10} {:>12} {:>11} {:>11} {:>11} {:>11}",
        "d′", "energy", "online ms", "bytes", "1:1 agree", "1:N agree", "mean |Δcos|", "max |Δcos|"
    );
    let rt = tokio::runtime::Runtime::new()?;
    let mut rows = Vec::new();
    for dim in [64usize, 128, 256, 512] {
        let projection = (dim < d)
            .then(|| Projection::fit_pca(&public, d, dim, &mut rng))
            .transpose()?;
        let project = |v: &[f32]| -> Result<Vec<f32>> {
            Ok(match &projection {
                Some(p) => p.apply(v)?,
                None => v.to_vec(),
            })
        };
        let q = Quantiser::for_dimension(dim)?;
        let tau = q.threshold(FACES_THRESHOLD);
        let quantised: Vec<Vec<i8>> = enrolled
            .iter()
            .map(|e| Ok(q.quantise(&project(e)?)?))
            .collect::<Result<_>>()?;
        let float = |probe: &[f32], row: &[f32]| cosine(probe, row) >= FACES_THRESHOLD as f64;
        // 1:1 pairs: the decision, and how far the projected integer score (read as a cosine,
        // score/α²) lies from the unprojected float cosine.
        let alpha2 = (q.scale() as f64).powi(2);
        let (mut agree, mut shift_sum, mut shift_max) = (0usize, 0f64, 0f64);
        for i in 0..pairs {
            for probe in [&genuine[i], &impostors[i]] {
                let want = float(probe, &enrolled[i]);
                let s = plain::dot_i8(&q.quantise(&project(probe)?)?, &quantised[i]) as i64;
                agree += usize::from(want == (s >= tau));
                let shift = (s as f64 / alpha2 - cosine(probe, &enrolled[i])).abs();
                shift_sum += shift;
                shift_max = shift_max.max(shift);
            }
        }
        // 1:N on 400 probes (half genuine): any row at or above the threshold.
        let probes: Vec<&Vec<f32>> = genuine
            .iter()
            .take(200)
            .chain(impostors.iter().take(200))
            .collect();
        let (mut one_to_n, mut false_accepts) = (0usize, 0usize);
        for (k, probe) in probes.iter().enumerate() {
            let want = enrolled.iter().any(|row| float(probe, row));
            let x = q.quantise(&project(probe)?)?;
            let got = quantised
                .iter()
                .any(|row| plain::dot_i8(&x, row) as i64 >= tau);
            one_to_n += usize::from(want == got);
            false_accepts += usize::from(k >= 200 && want);
        }
        // Real identifications: time and bytes, and the bit against the projected rule.
        let entries = quantised
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("id{i}"), r.clone()));
        let gallery = Arc::new(HolderGallery::new(
            &params,
            dim,
            entries,
            GalleryMode::Pretransformed,
        )?);
        let (mut ms, mut bytes, mut bit_ok) = (Vec::new(), Vec::new(), true);
        rt.block_on(async {
            let addr = start_holder(
                pki.dir.path(),
                gallery,
                params.clone(),
                0,
                Default::default(),
                FACES_THRESHOLD,
            )
            .await?;
            for probe in probes.iter().take(3) {
                let projected = project(probe)?;
                let x = q.quantise(&projected)?;
                let want = quantised
                    .iter()
                    .any(|row| plain::dot_i8(&x, row) as i64 >= tau);
                let o = ask(pki.dir.path(), addr, projected, Mode::Identify).await?;
                bit_ok &= o.bit == Some(want);
                let (s, r) = o.timings.bytes();
                ms.push(o.timings.total().as_secs_f64() * 1e3);
                bytes.push(s + r);
            }
            anyhow::Ok(())
        })?;
        ms.sort_by(f64::total_cmp);
        bytes.sort_unstable();
        let row = FacesRow {
            dim,
            energy: projection
                .as_ref()
                .and_then(Projection::energy)
                .unwrap_or(1.0),
            online_ms: ms[1],
            bytes: bytes[1],
            bit_ok,
            one_to_one: agree as f64 / (2 * pairs) as f64,
            mean_shift: shift_sum / (2 * pairs) as f64,
            max_shift: shift_max,
            one_to_n: one_to_n as f64 / probes.len() as f64,
            float_false_accepts: false_accepts as f64 / 200.0,
        };
        println!(
            "  {:>4} {:>7.1}% {:>10.1} {:>12} {:>10.1}% {:>10.1}% {:>11.4} {:>11.4}{}",
            row.dim,
            100.0 * row.energy,
            row.online_ms,
            row.bytes,
            100.0 * row.one_to_one,
            100.0 * row.one_to_n,
            row.mean_shift,
            row.max_shift,
            if row.bit_ok { "" } else { "  BIT MISMATCH" }
        );
        rows.push(row);
    }
    println!(
        "  (agreement with the unprojected float rule on {pairs} genuine and {pairs} impostor \
         pairs (1:1) and 200 + 200 probes (1:N; the float rule accepts {:.1} % of those \
         impostors); Δcos: the projected integer score over α² against the float cosine)",
        100.0 * rows[0].float_false_accepts
    );
    let digits = digits_projection(&pki, &params, &rt)?;
    let base = rows.last().context("the unprojected row")?;
    println!(
        "{}",
        serde_json::json!({
            "faces": rows.iter().map(|r| serde_json::json!({
                "dim": r.dim, "energy": r.energy, "online_ms": r.online_ms, "bytes": r.bytes,
                "time_ratio_to_512": r.online_ms / base.online_ms,
                "bytes_ratio_to_512": r.bytes as f64 / base.bytes as f64,
                "bit_equals_projected_rule": r.bit_ok,
                "agreement_1to1": r.one_to_one, "agreement_1toN": r.one_to_n,
                "mean_abs_cosine_shift": r.mean_shift, "max_abs_cosine_shift": r.max_shift,
                "float_false_accepts_1toN": r.float_false_accepts,
            })).collect::<Vec<_>>(),
            "digits": digits,
        })
    );
    anyhow::ensure!(
        rows.iter().all(|r| r.bit_ok),
        "a garbled bit differs from the projected rule"
    );
    Ok(())
}

/// The digits model projected 64 → d′, fitted on the first half of the test images and
/// evaluated over the protocol on the second half.
fn digits_projection(
    pki: &Pki,
    params: &ParameterSet,
    rt: &tokio::runtime::Runtime,
) -> Result<serde_json::Value> {
    let db = pki.dir.path().join("digits.sqlite");
    privface_gallery::Gallery::create(&db, 8)?;
    let fixture = DigitsFixture::import(pki.dir.path(), &db)?;
    let (w, b, labels) = fixture.float_model()?;
    let half = fixture.inputs.len() / 2;
    let fit: Vec<f32> = fixture.inputs[..half].concat();
    let mut rng = ChaCha20Rng::seed_from_u64(64);
    let eval = half..fixture.inputs.len();
    println!(
        "\ndigits: PCA fitted on {half} test images, {} others classified over the protocol \
         against the unprojected float model\n",
        eval.len()
    );
    println!(
        "  {:>4} {:>8} {:>8} {:>10} {:>9} {:>9}",
        "d′", "energy", "ms", "bytes", "agree", "accuracy"
    );
    let mut out = Vec::new();
    for dim in [8usize, 16, 32, 64] {
        let projection = (dim < 64)
            .then(|| Projection::fit_pca(&fit, 64, dim, &mut rng))
            .transpose()?;
        let project = |v: &[f32]| -> Result<Vec<f32>> {
            Ok(match &projection {
                Some(p) => p.apply(v)?,
                None => v.to_vec(),
            })
        };
        let projected_w: Vec<f32> = w
            .chunks_exact(64)
            .map(&project)
            .collect::<Result<Vec<_>>>()?
            .concat();
        // Inputs in [0, 1]^64 have ‖x‖₂ ≤ 8, and the projection's rows are orthonormal, so
        // every projected component lies in [−8, 8]: the bound any input respects.
        let bound = if projection.is_some() { 8.0 } else { 1.0 };
        let model = QuantisedModel::quantise(dim, &projected_w, &b, labels.clone(), bound)?;
        let held = HolderModel::new(params, model)?;
        let models: ModelSet = [("digits".to_string(), Arc::new(held))]
            .into_iter()
            .collect();
        let q = Quantiser::for_dimension(8)?;
        let gallery = Arc::new(HolderGallery::new(
            params,
            8,
            [("x".to_string(), q.quantise(&[1.0; 8])?)],
            GalleryMode::OnTheFly,
        )?);
        let (mut agree, mut right, mut ms, mut bytes) = (0usize, 0usize, Vec::new(), Vec::new());
        rt.block_on(async {
            let addr = start_holder(
                pki.dir.path(),
                gallery,
                params.clone(),
                0,
                Arc::new(models),
                THRESHOLD,
            )
            .await?;
            for i in eval.clone() {
                let o = ask(
                    pki.dir.path(),
                    addr,
                    project(&fixture.inputs[i])?,
                    Mode::Classify {
                        model: "digits".into(),
                    },
                )
                .await?;
                let class = o.class.context("the verifier learns the class")?.index;
                agree += usize::from(class == fixture.predictions[i]);
                right += usize::from(class == fixture.truth[i]);
                let (s, r) = o.timings.bytes();
                ms.push(o.timings.total().as_secs_f64() * 1e3);
                bytes.push(s + r);
            }
            anyhow::Ok(())
        })?;
        ms.sort_by(f64::total_cmp);
        let energy = projection
            .as_ref()
            .and_then(Projection::energy)
            .unwrap_or(1.0);
        let (agree, accuracy) = (
            agree as f64 / eval.len() as f64,
            right as f64 / eval.len() as f64,
        );
        println!(
            "  {:>4} {:>7.1}% {:>8.1} {:>10} {:>8.1}% {:>8.1}%",
            dim,
            100.0 * energy,
            ms[ms.len() / 2],
            bytes[0],
            100.0 * agree,
            100.0 * accuracy
        );
        out.push(serde_json::json!({
            "dim": dim, "energy": energy, "median_ms": ms[ms.len() / 2], "bytes": bytes[0],
            "agreement_with_float": agree, "accuracy": accuracy,
        }));
    }
    Ok(serde_json::Value::Array(out))
}
