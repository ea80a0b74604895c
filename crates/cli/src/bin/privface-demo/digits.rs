//! The demo's classification run: the committed digits fixture (a logistic regression on
//! scikit-learn's bundled 8×8 digits) imported as a model with `privface-holder model import`'s
//! code path, then test images classified over the same mutual-TLS holder.

use std::path::Path;

use anyhow::{Context, Result};
use privface_gallery::{Gallery, parse_f32_npy, read_model};
use privface_he::QuantisedModel;
use privface_protocol::Mode;

use crate::ask;

/// The fixture's files, compiled in so the demo needs nothing beside its binary.
const WEIGHTS: &[u8] = include_bytes!("../../../../../fixtures/digits/weights.npy");
const BIAS: &[u8] = include_bytes!("../../../../../fixtures/digits/bias.npy");
const LABELS: &str = include_str!("../../../../../fixtures/digits/labels.txt");
const TEST: &str = include_str!("../../../../../fixtures/digits/test.json");

/// Images the demo classifies.
const IMAGES: usize = 12;

/// The model as stored, and the test images with the float model's predictions and logits.
pub struct DigitsFixture {
    model: QuantisedModel,
    /// The test images, 64 values in [0, 1] each.
    pub inputs: Vec<Vec<f32>>,
    logits: Vec<Vec<f32>>,
    /// The float model's predictions.
    pub predictions: Vec<u32>,
    /// The images' true digits.
    pub truth: Vec<u32>,
}

impl DigitsFixture {
    /// Writes the fixture's files to `dir` and imports the model into the gallery `db` as
    /// `digits` (inputs in [0, 1]).
    pub fn import(dir: &Path, db: &Path) -> Result<Self> {
        let file = |name: &str, bytes: &[u8]| -> Result<std::path::PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, bytes)?;
            Ok(path)
        };
        let model = read_model(
            "digits",
            &file("weights.npy", WEIGHTS)?,
            &file("bias.npy", BIAS)?,
            &file("labels.txt", LABELS.as_bytes())?,
            1.0,
        )?;
        Gallery::open(db)?.import_model("digits", &model)?;
        let test: serde_json::Value = serde_json::from_str(TEST)?;
        let rows = |key: &str| -> Result<Vec<Vec<f32>>> {
            test[key]
                .as_array()
                .context("fixture array")?
                .iter()
                .map(|row| {
                    row.as_array()
                        .context("fixture row")?
                        .iter()
                        .map(|v| v.as_f64().map(|v| v as f32).context("a number"))
                        .collect()
                })
                .collect()
        };
        let classes = |key: &str| -> Result<Vec<u32>> {
            test[key]
                .as_array()
                .context("fixture classes")?
                .iter()
                .map(|v| v.as_u64().map(|v| v as u32).context("a class"))
                .collect()
        };
        Ok(Self {
            model,
            inputs: rows("inputs")?,
            logits: rows("logits")?,
            predictions: classes("predictions")?,
            truth: classes("labels")?,
        })
    }

    /// The float model: weights (10 × 64, row-major), biases, labels.
    pub fn float_model(&self) -> Result<(Vec<f32>, Vec<f32>, Vec<String>)> {
        let (_, w) = parse_f32_npy("weights.npy", WEIGHTS)?;
        let (_, b) = parse_f32_npy("bias.npy", BIAS)?;
        Ok((w, b, self.model.labels().to_vec()))
    }

    /// Classifies the first test images at `addr`, printing each label beside the float
    /// model's; false when one differs outside the decision band (spec §13.1).
    pub async fn classify(&self, dir: &Path, addr: std::net::SocketAddr) -> Result<bool> {
        println!(
            "\nclassification: model `digits` ({} classes, d = {}, {}-bit logits), one label per image\n",
            self.model.classes(),
            self.model.dimension(),
            self.model.share_bits()
        );
        println!(
            "  {:<8} {:>6} {:>6} {:>9} {:>11}",
            "image", "label", "float", "ms", "bytes"
        );
        let mode = Mode::Classify {
            model: "digits".into(),
        };
        let (mut agree, mut ms, mut bytes) = (true, Vec::new(), Vec::new());
        for i in 0..IMAGES.min(self.inputs.len()) {
            let outcome = ask(dir, addr, self.inputs[i].clone(), mode.clone()).await?;
            let class = outcome
                .class
                .context("the verifier should learn the class")?;
            let want = self.predictions[i];
            let mut sorted = self.logits[i].clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let in_band =
                ((sorted[0] - sorted[1]) as f64) <= self.model.decision_band(&self.inputs[i]);
            let ok = class.index == want || in_band;
            agree &= ok;
            let (sent, received) = outcome.timings.bytes();
            ms.push(outcome.timings.total().as_secs_f64() * 1e3);
            bytes.push(sent + received);
            println!(
                "  {:<8} {:>6} {:>6} {:>9.1} {:>11}{}",
                format!("#{i}"),
                class.label,
                want,
                ms[i],
                sent + received,
                if ok { "" } else { "  MISMATCH" }
            );
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "  median {:.1} ms and {} bytes per classification (both parties on this machine)",
            ms[ms.len() / 2],
            bytes[bytes.len() / 2]
        );
        Ok(agree)
    }
}
