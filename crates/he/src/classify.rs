//! Quantisation for encrypted classification with a linear model (spec §13.1).
//!
//! A linear classifier scores an input x against C class rows: logit_c = ⟨w_c, x⟩ + b_c. Unlike
//! a face embedding, x is not normalised (the bias makes the argmax depend on its length), so
//! the input is quantised at a fixed scale `α_x = 127 / X` for the model's input bound X
//! (every component of an input must satisfy |x_i| ≤ X), the weights at `α_w = 127 / max|w|`,
//! and the biases directly on the score scale `α_x·α_w`:
//!
//! x̂_i = round(α_x·x_i),  ŵ_c,i = round(α_w·w_c,i),  β̂_c = round(α_x·α_w·b_c),
//!
//! all rounded to nearest, ties away from zero. The quantised logit `⟨x̂, ŵ_c⟩ + β̂_c` then
//! approximates `α_x·α_w·logit_c` within [`QuantisedModel::logit_error`], and the encrypted
//! argmax equals the float one whenever the float top-two gap exceeds
//! [`QuantisedModel::decision_band`].

use crate::error::{HeError, Result};
use crate::quantise::QUANT_MAX;

/// Largest number of classes a model may have: its scores must fit one comparison batch.
pub const MAX_CLASSES: usize = 1024;

/// Largest share width a classification may use (the garbled circuits take k ≤ 32).
pub const MAX_CLASSIFY_SHARE_BITS: u32 = 32;

/// Rounds to the nearest integer, ties away from zero (f64::round).
fn round_i64(v: f64) -> i64 {
    v.round() as i64
}

/// The verifier's quantiser for a classification input: a fixed scale, no normalisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputQuantiser {
    dimension: usize,
    scale: f32,
}

impl InputQuantiser {
    /// The quantiser of inputs of dimension `dimension` at scale α_x = `scale` (> 0, finite).
    pub fn new(dimension: usize, scale: f32) -> Result<Self> {
        if dimension == 0 || dimension > 4096 {
            return Err(HeError::WrongDimension {
                expected: 4096,
                actual: dimension,
            });
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(HeError::InvalidParameters(format!("input scale {scale}")));
        }
        Ok(Self { dimension, scale })
    }

    /// The quantiser for inputs bounded by |x_i| ≤ `bound`: α_x = 127 / bound.
    pub fn for_bound(dimension: usize, bound: f32) -> Result<Self> {
        if !(bound.is_finite() && bound > 0.0) {
            return Err(HeError::InvalidParameters(format!("input bound {bound}")));
        }
        Self::new(dimension, QUANT_MAX as f32 / bound)
    }

    /// Input dimension d.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// The scale α_x.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Checks an input's length and that every component is finite (before any scale is
    /// known).
    ///
    /// # Errors
    /// [`HeError::WrongDimension`], [`HeError::NonFiniteEmbedding`].
    pub fn check_input(input: &[f32], dimension: usize) -> Result<()> {
        if input.len() != dimension {
            return Err(HeError::WrongDimension {
                expected: dimension,
                actual: input.len(),
            });
        }
        if let Some(index) = input.iter().position(|v| !v.is_finite()) {
            return Err(HeError::NonFiniteEmbedding { index });
        }
        Ok(())
    }

    /// Quantises one input: x̂_i = round(α_x·x_i). A component that would leave [−127, 127]
    /// (the input is outside the model's bound) is refused, not clamped: clamping would change
    /// the decision without saying so.
    ///
    /// # Errors
    /// [`HeError::WrongDimension`], [`HeError::NonFiniteEmbedding`],
    /// [`HeError::InputOutOfRange`].
    pub fn quantise(&self, input: &[f32]) -> Result<Vec<i8>> {
        Self::check_input(input, self.dimension)?;
        input
            .iter()
            .enumerate()
            .map(|(index, &v)| {
                let q = round_i64(v as f64 * self.scale as f64);
                if q.abs() > QUANT_MAX as i64 {
                    return Err(HeError::InputOutOfRange {
                        index,
                        bound: QUANT_MAX as f64 / self.scale as f64,
                    });
                }
                Ok(q as i8)
            })
            .collect()
    }
}

/// A linear model quantised for encrypted classification: C rows of d signed bytes, C biases
/// on the score scale, the labels, and the two scales. Labels number C, or 2 for a binary
/// model (C = 1: label 1 when the logit is ≥ 0, label 0 otherwise).
#[derive(Clone, PartialEq)]
pub struct QuantisedModel {
    dimension: usize,
    input: InputQuantiser,
    weight_scale: f32,
    rows: Vec<i8>,
    biases: Vec<i64>,
    labels: Vec<String>,
}

impl std::fmt::Debug for QuantisedModel {
    // The weights are the holder's secret: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantisedModel")
            .field("dimension", &self.dimension)
            .field("classes", &self.classes())
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// Longest label, in bytes of UTF-8.
pub const MAX_LABEL_BYTES: usize = 256;

/// Checks a label list for `classes` class rows (C labels, or 2 when C = 1).
pub fn check_labels(labels: &[String], classes: usize) -> Result<()> {
    let bad = |reason: String| {
        Err(HeError::Malformed {
            object: "model labels",
            reason,
        })
    };
    let want = classes.max(2);
    if labels.len() != want {
        return bad(format!(
            "{} labels for {classes} class rows (need {want})",
            labels.len()
        ));
    }
    if let Some(l) = labels.iter().find(|l| l.len() > MAX_LABEL_BYTES) {
        return bad(format!(
            "a label of {} bytes (at most {MAX_LABEL_BYTES})",
            l.len()
        ));
    }
    Ok(())
}

impl QuantisedModel {
    /// Quantises a float model: `weights` row-major C × d, `biases` C values, `labels` (C, or 2
    /// when C = 1), and the bound X of every input component.
    ///
    /// # Errors
    /// [`HeError::InvalidParameters`] for an empty or all-zero model, non-finite values, a bad
    /// bound, too many classes, or a logit range no share width of at most 32 bits holds;
    /// [`HeError::Malformed`] for labels that do not fit.
    pub fn quantise(
        dimension: usize,
        weights: &[f32],
        biases: &[f32],
        labels: Vec<String>,
        input_bound: f32,
    ) -> Result<Self> {
        let input = InputQuantiser::for_bound(dimension, input_bound)?;
        let bad = |why: String| Err(HeError::InvalidParameters(why));
        let classes = biases.len();
        if classes == 0 || classes > MAX_CLASSES {
            return bad(format!("{classes} classes (1 to {MAX_CLASSES})"));
        }
        if weights.len() != classes * dimension {
            return bad(format!(
                "{} weights for {classes} classes of dimension {dimension}",
                weights.len()
            ));
        }
        if weights.iter().chain(biases).any(|v| !v.is_finite()) {
            return bad("a weight or bias is not finite".into());
        }
        let max = weights.iter().fold(0f32, |m, &w| m.max(w.abs()));
        if max == 0.0 {
            return bad("every weight is zero".into());
        }
        let weight_scale = QUANT_MAX as f32 / max;
        let rows: Vec<i8> = weights
            .iter()
            .map(|&w| round_i64(w as f64 * weight_scale as f64).clamp(-127, 127) as i8)
            .collect();
        let score_scale = input.scale() as f64 * weight_scale as f64;
        let biases: Vec<i64> = biases
            .iter()
            .map(|&b| round_i64(b as f64 * score_scale))
            .collect();
        Self::from_parts(dimension, input.scale(), weight_scale, rows, biases, labels)
    }

    /// A model from its stored, already quantised parts (checked as [`QuantisedModel::quantise`]
    /// checks its output).
    ///
    /// # Errors
    /// As [`QuantisedModel::quantise`].
    pub fn from_parts(
        dimension: usize,
        input_scale: f32,
        weight_scale: f32,
        rows: Vec<i8>,
        biases: Vec<i64>,
        labels: Vec<String>,
    ) -> Result<Self> {
        let input = InputQuantiser::new(dimension, input_scale)?;
        let bad = |why: String| Err(HeError::InvalidParameters(why));
        if !(weight_scale.is_finite() && weight_scale > 0.0) {
            return bad(format!("weight scale {weight_scale}"));
        }
        let classes = biases.len();
        if classes == 0 || classes > MAX_CLASSES || rows.len() != classes * dimension {
            return bad(format!(
                "{} row bytes and {classes} biases at dimension {dimension}",
                rows.len()
            ));
        }
        if rows.contains(&i8::MIN) {
            return bad("a quantised weight of −128".into());
        }
        check_labels(&labels, classes)?;
        let model = Self {
            dimension,
            input,
            weight_scale,
            rows,
            biases,
            labels,
        };
        if model.share_bits() > MAX_CLASSIFY_SHARE_BITS {
            return bad(format!(
                "logits up to {} need {}-bit shares (at most {MAX_CLASSIFY_SHARE_BITS}): the biases \
                 are too large for the weights",
                model.logit_bound(),
                model.share_bits()
            ));
        }
        Ok(model)
    }

    /// Input dimension d.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Number of class rows C.
    pub fn classes(&self) -> usize {
        self.biases.len()
    }

    /// The labels (C, or 2 for a binary model).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The verifier's input quantiser (its scale is announced to the verifier).
    pub fn input(&self) -> &InputQuantiser {
        &self.input
    }

    /// The scale of the weights, α_w.
    pub fn weight_scale(&self) -> f32 {
        self.weight_scale
    }

    /// The scale of a quantised logit, α_x·α_w.
    pub fn score_scale(&self) -> f64 {
        self.input.scale() as f64 * self.weight_scale as f64
    }

    /// The quantised class rows, row-major C × d.
    pub fn rows(&self) -> &[i8] {
        &self.rows
    }

    /// Row `c`.
    pub fn row(&self, c: usize) -> &[i8] {
        &self.rows[c * self.dimension..(c + 1) * self.dimension]
    }

    /// The biases on the score scale, β̂_c.
    pub fn biases(&self) -> &[i64] {
        &self.biases
    }

    /// Largest ℓ1 norm of a class row (what the HE layout must keep exact).
    pub fn max_row_l1(&self) -> u64 {
        self.rows
            .chunks_exact(self.dimension)
            .map(|r| r.iter().map(|&v| v.unsigned_abs() as u64).sum())
            .max()
            .unwrap_or(0)
    }

    /// Λ: a bound on every reconstructed logit, `max_c (127·‖ŵ_c‖₁ + |β̂_c|) + 1` (the HE step
    /// may add ±1, spec §6.6).
    pub fn logit_bound(&self) -> u64 {
        self.rows
            .chunks_exact(self.dimension)
            .zip(&self.biases)
            .map(|(r, b)| {
                let l1: u64 = r.iter().map(|&v| v.unsigned_abs() as u64).sum();
                127 * l1 + b.unsigned_abs()
            })
            .max()
            .unwrap_or(0)
            + 1
    }

    /// The share width k: the smallest with Λ + 1 ≤ 2^(k−1), so every reconstructed logit is
    /// a signed k-bit integer and the circuit's (k+1)-bit comparisons are exact.
    pub fn share_bits(&self) -> u32 {
        let need = self.logit_bound() + 1;
        (u64::BITS - (need - 1).leading_zeros()) + 1
    }

    /// The quantised logits of a quantised input, exactly as the protocol computes them
    /// (before the HE step's ±1).
    pub fn logits(&self, x: &[i8]) -> Vec<i64> {
        assert_eq!(x.len(), self.dimension, "input of the model's dimension");
        self.rows
            .chunks_exact(self.dimension)
            .zip(&self.biases)
            .map(|(r, b)| {
                r.iter()
                    .zip(x)
                    .map(|(&w, &v)| w as i64 * v as i64)
                    .sum::<i64>()
                    + b
            })
            .collect()
    }

    /// The label index the exact integer rule gives for quantised logits: the first largest
    /// logit (ties to the lowest index), or for a binary model [logit ≥ 0].
    pub fn decide(&self, logits: &[i64]) -> usize {
        if self.classes() == 1 {
            return usize::from(logits[0] >= 0);
        }
        let mut best = 0;
        for (c, &l) in logits.iter().enumerate() {
            if l > logits[best] {
                best = c;
            }
        }
        best
    }

    /// A bound on |quantised logit − α_x·α_w·float logit| of class `c` for the float input
    /// `x`: ½·α_x·‖x‖₁ + ½·α_w·‖w_c‖₁ + d/4 + ½, from the rounding of x, w_c and b_c by at
    /// most ½ each (with ‖w_c‖₁ read back from the quantised row: ‖ŵ_c‖₁/α_w + d/(2α_w)).
    pub fn logit_error(&self, c: usize, x: &[f32]) -> f64 {
        let d = self.dimension as f64;
        let x_l1: f64 = x.iter().map(|&v| (v as f64).abs()).sum();
        let w_l1_scaled = self
            .row(c)
            .iter()
            .map(|&v| v.unsigned_abs() as f64)
            .sum::<f64>()
            + d / 2.0;
        0.5 * self.input.scale() as f64 * x_l1 + 0.5 * w_l1_scaled + d / 4.0 + 0.5
    }

    /// The decision band of input `x`, in float-logit units: when the float model's largest
    /// logit exceeds every other by more than this (for a binary model: when |logit| exceeds
    /// it), the encrypted label equals the float prediction. It is (2·max_c E_c + 2)/(α_x·α_w)
    /// with E_c = [`QuantisedModel::logit_error`], the 2 being the HE step's ±1 on each of
    /// the two logits compared (spec §13.1).
    pub fn decision_band(&self, x: &[f32]) -> f64 {
        let worst = (0..self.classes())
            .map(|c| self.logit_error(c, x))
            .fold(0f64, f64::max);
        let pairs = if self.classes() == 1 { 1.0 } else { 2.0 };
        (pairs * worst + pairs) / self.score_scale()
    }
}

#[cfg(test)]
mod tests;
