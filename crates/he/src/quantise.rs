//! Quantisation of face embeddings to signed 8-bit coefficients.
//!
//! An embedding is L2-normalised and multiplied by a scale α fixed per dimension d, then
//! rounded to the nearest integer and clamped to `[-127, 127]`. The verifier and the holder use
//! the same α, so the plaintext score of two quantised embeddings is ⟨x̂, ŷ⟩ ≈ α²·cos(x, y).

use serde::{Deserialize, Serialize};

use crate::error::{HeError, Result};

/// Largest quantised magnitude.
pub const QUANT_MAX: i32 = 127;

/// The quantiser for one embedding dimension.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quantiser {
    dimension: usize,
    scale: f32,
}

impl Quantiser {
    /// The quantiser privface uses for dimension `d`: α = 127·√d / 4.
    ///
    /// A unit vector's components have a spread of about 1/√d, so α maps four such spreads to
    /// 127; larger components (rare in face embeddings) are clamped. This keeps about six
    /// significant bits per component instead of the three that α = 127 would leave.
    pub fn for_dimension(d: usize) -> Result<Self> {
        Self::with_scale(d, QUANT_MAX as f32 * (d as f32).sqrt() / 4.0)
    }

    /// A quantiser with an explicit scale α (> 0).
    pub fn with_scale(dimension: usize, scale: f32) -> Result<Self> {
        if dimension == 0 || dimension > 4096 {
            return Err(HeError::WrongDimension {
                expected: 4096,
                actual: dimension,
            });
        }
        if !(scale.is_finite() && scale > 0.0) {
            return Err(HeError::InvalidParameters(format!(
                "quantisation scale {scale}"
            )));
        }
        Ok(Self { dimension, scale })
    }

    /// Embedding dimension d.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// The scale α.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// Largest squared norm of a quantised embedding: B = ⌊min(d·127², (α + √d/2)²)⌋.
    ///
    /// Rounding moves each component by at most 1/2, so ‖x̂ − α·e/‖e‖‖ ≤ √d/2 and ‖x̂‖ ≤ α + √d/2;
    /// clamping only shrinks components. By Cauchy–Schwarz every score of two quantised
    /// embeddings then satisfies |⟨x̂, ŷ⟩| ≤ B.
    pub fn norm_bound(&self) -> u64 {
        let d = self.dimension as f64;
        let rounded = (self.scale as f64 + d.sqrt() / 2.0).powi(2);
        let clamped = d * (QUANT_MAX as f64).powi(2);
        rounded.min(clamped).floor() as u64
    }

    /// Width k of an additive share of a score, in bits, for a session with threshold τ whose
    /// comparison drops j = `dropped_bits` low score bits (spec §4, §4.1): the smallest k with
    /// `⌈B/2^j⌉ + 1 + ⌈τ/2^j⌉ ≤ 2^(k−1)` (τ clamped to [1, B]).
    ///
    /// Every score s of two quantised embeddings has |s| ≤ B ([`Quantiser::norm_bound`]); the
    /// reconstructed (coarse) score is off by at most one step (spec §6.6, §4.1), so the
    /// difference the comparison reads, score − τ, lies in [−⌈B/2^j⌉ − 1 − τ_j, ⌈B/2^j⌉ + 1 − τ_j]
    /// and is a signed k-bit integer. 21 at d = 512 for τ at cosine 0.4, 22 for any τ.
    pub fn session_share_bits(&self, threshold: i64, dropped_bits: u32) -> u32 {
        let bound = self.norm_bound();
        let tau = threshold.clamp(1, bound as i64) as u64;
        let step = 1u64 << dropped_bits;
        let need = bound.div_ceil(step) + 1 + tau.div_ceil(step);
        // Smallest e with 2^e ≥ need, then k = e + 1.
        (u64::BITS - (need - 1).leading_zeros()) + 1
    }

    /// The share width that serves every threshold of an exact comparison:
    /// [`Quantiser::session_share_bits`] at τ = B, the smallest k with 2B + 1 ≤ 2^(k−1) (22 at
    /// d = 512; the worst case of arbitrary i8 vectors, [`share_bits_for_dimension`], would need
    /// 25).
    pub fn share_bits(&self) -> u32 {
        self.session_share_bits(self.norm_bound() as i64, 0)
    }

    /// The most low bits a comparison may drop for a cosine tolerance `tolerance`: the largest
    /// j ≤ [`MAX_DROPPED_BITS`] with 2^j ≤ tolerance·α², so decisions are exact for scores
    /// further than 2^(j+1) from τ, i.e. about twice the tolerance in cosine (0 for a tolerance
    /// below 2/α²: exact).
    pub fn dropped_bits_for_tolerance(&self, tolerance: f64) -> u32 {
        let units = tolerance * (self.scale as f64).powi(2);
        if units.is_nan() || units < 2.0 {
            return 0;
        }
        (units.log2().floor() as u32).min(MAX_DROPPED_BITS)
    }

    /// Checks that `v` could be this quantiser's output: length d, components in
    /// `[−127, 127]`, squared norm at most [`Quantiser::norm_bound`]. Rows that fail would
    /// break the share width's guarantee.
    ///
    /// # Errors
    /// [`HeError::WrongDimension`], [`HeError::Malformed`].
    pub fn check(&self, v: &[i8]) -> Result<()> {
        check_quantised(v, self.dimension)?;
        let norm: u64 = v.iter().map(|&c| (c as i64 * c as i64) as u64).sum();
        if norm > self.norm_bound() {
            return Err(HeError::Malformed {
                object: "quantised embedding",
                reason: format!(
                    "squared norm {norm} above the bound {} of the quantiser",
                    self.norm_bound()
                ),
            });
        }
        Ok(())
    }

    /// Converts a cosine-similarity threshold into the integer score threshold: ⌈α²·cos⌉.
    pub fn threshold(&self, cosine: f32) -> i64 {
        (self.scale as f64 * self.scale as f64 * cosine as f64).ceil() as i64
    }

    /// Normalises and quantises one embedding.
    ///
    /// # Errors
    /// [`HeError::WrongDimension`], [`HeError::NonFiniteEmbedding`], [`HeError::ZeroEmbedding`].
    pub fn quantise(&self, embedding: &[f32]) -> Result<Vec<i8>> {
        if embedding.len() != self.dimension {
            return Err(HeError::WrongDimension {
                expected: self.dimension,
                actual: embedding.len(),
            });
        }
        if let Some(index) = embedding.iter().position(|v| !v.is_finite()) {
            return Err(HeError::NonFiniteEmbedding { index });
        }
        let norm = embedding
            .iter()
            .map(|&v| v as f64 * v as f64)
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 {
            return Err(HeError::ZeroEmbedding);
        }
        let factor = self.scale as f64 / norm;
        Ok(embedding
            .iter()
            .map(|&v| {
                (v as f64 * factor)
                    .round()
                    .clamp(-QUANT_MAX as f64, QUANT_MAX as f64) as i8
            })
            .collect())
    }
}

/// Most low score bits a coarse comparison may drop (spec §4.1).
pub const MAX_DROPPED_BITS: u32 = 16;

/// The threshold of a comparison that drops j low score bits: ⌈τ/2^j⌉ (τ for j = 0).
/// Decisions are then those of the exact rule for every score further than 2^(j+1) from τ
/// (spec §4.1).
pub fn coarse_threshold(threshold: i64, dropped_bits: u32) -> i64 {
    let step = 1i64 << dropped_bits;
    threshold.div_euclid(step) + i64::from(threshold.rem_euclid(step) != 0)
}

/// Share width k for arbitrary i8 vectors of dimension d: the rule of
/// [`Quantiser::share_bits`] with B = d·127² (25 at d = 512). Sessions use the tighter
/// [`Quantiser::share_bits`].
pub fn share_bits_for_dimension(d: usize) -> u32 {
    share_bits_for_bound(d as u64 * (QUANT_MAX as u64).pow(2))
}

/// The smallest k with `2·bound + 1 ≤ 2^(k−1)`.
pub(crate) fn share_bits_for_bound(bound: u64) -> u32 {
    let span = 2 * bound + 1;
    // Smallest e with 2^e ≥ span, then k = e + 1.
    let e = u64::BITS - (span - 1).leading_zeros();
    e + 1
}

/// Checks that a quantised vector has the right length and no −128 (which the bounds exclude).
pub(crate) fn check_quantised(v: &[i8], d: usize) -> Result<()> {
    if v.len() != d {
        return Err(HeError::WrongDimension {
            expected: d,
            actual: v.len(),
        });
    }
    if v.contains(&i8::MIN) {
        return Err(HeError::Malformed {
            object: "quantised embedding",
            reason: "component −128 is outside [−127, 127]".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_bits_follow_the_dimension() {
        assert_eq!(share_bits_for_dimension(512), 25);
        assert_eq!(share_bits_for_dimension(128), 23);
        for d in [1, 3, 64, 128, 512, 1000, 4096] {
            let k = share_bits_for_dimension(d);
            let span = 2 * d as i64 * 127 * 127 + 1;
            // The smallest width whose signed range holds [−2B − 1, B].
            assert!(span <= 1 << (k - 1) && span > 1 << (k - 2), "d = {d}");
        }
    }

    #[test]
    fn session_widths_hold_every_difference_and_no_more() {
        for d in [8usize, 128, 512] {
            let q = Quantiser::for_dimension(d).unwrap();
            let bound = q.norm_bound() as i64;
            for c in [0.01f32, 0.4, 0.8, 1.0] {
                let tau = q.threshold(c).clamp(1, bound);
                for j in [0u32, 1, 4, 6, 16] {
                    let k = q.session_share_bits(tau, j);
                    let step = 1i64 << j;
                    // The most negative difference of the coarse rule, and the largest.
                    let low = -(bound + step - 1) / step - 1 - (tau + step - 1) / step;
                    let high = bound / step + 2 - (tau + step - 1) / step;
                    let half = 1i64 << (k - 1);
                    assert!(low >= -half && high < half, "d = {d} c = {c} j = {j}");
                    assert!(
                        low < -(half / 2),
                        "d = {d} c = {c} j = {j}: k = {k} is not minimal"
                    );
                }
            }
            assert_eq!(q.share_bits(), q.session_share_bits(bound, 0));
        }
        let q = Quantiser::for_dimension(512).unwrap();
        assert_eq!(q.session_share_bits(q.threshold(0.4), 0), 21);
        assert_eq!(q.session_share_bits(q.threshold(0.4), 6), 15);
        assert_eq!(q.share_bits(), 22);
    }

    #[test]
    fn quantise_rejects_bad_input() {
        let q = Quantiser::for_dimension(4).unwrap();
        assert_eq!(
            q.quantise(&[1.0, 0.0, 0.0]),
            Err(HeError::WrongDimension {
                expected: 4,
                actual: 3
            })
        );
        assert_eq!(
            q.quantise(&[1.0, f32::NAN, 0.0, 0.0]),
            Err(HeError::NonFiniteEmbedding { index: 1 })
        );
        assert_eq!(
            q.quantise(&[1.0, 0.0, f32::INFINITY, 0.0]),
            Err(HeError::NonFiniteEmbedding { index: 2 })
        );
        assert_eq!(q.quantise(&[0.0; 4]), Err(HeError::ZeroEmbedding));
    }

    #[test]
    fn quantised_embeddings_respect_the_norm_bound_and_scores_fit_k_bits() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        for (d, k) in [(512usize, 22u32), (128, 20), (8, 16)] {
            let q = Quantiser::for_dimension(d).unwrap();
            assert_eq!(q.share_bits(), k, "d = {d}");
            assert!(q.share_bits() <= share_bits_for_dimension(d));
            let bound = q.norm_bound() as i64;
            assert!(2 * bound < 1 << (k - 1));
            for trial in 0..2000 {
                // Random directions, and spiky ones that clamp or round every component up.
                let e: Vec<f32> = (0..d)
                    .map(|i| match trial % 3 {
                        0 => rng.random::<f32>() - 0.5,
                        1 => {
                            if i % 5 == 0 {
                                1.0
                            } else {
                                0.0
                            }
                        }
                        _ => 1.0 + rng.random::<f32>() * 1e-3,
                    })
                    .collect();
                let x = q.quantise(&e).unwrap();
                q.check(&x).unwrap();
                let y = q
                    .quantise(&e.iter().rev().copied().collect::<Vec<_>>())
                    .unwrap();
                let s: i64 = x.iter().zip(&y).map(|(&a, &b)| a as i64 * b as i64).sum();
                let self_score: i64 = x.iter().map(|&a| a as i64 * a as i64).sum();
                assert!(self_score <= bound && s.abs() <= bound, "d = {d}");
            }
            // A vector no quantiser output can be.
            assert!(matches!(
                q.check(&vec![127; d]),
                Err(HeError::Malformed { .. })
            ));
        }
    }

    #[test]
    fn quantise_normalises_rounds_and_clamps() {
        let q = Quantiser::with_scale(4, 100.0).unwrap();
        // Not normalised on input: scaled by 1/2 first.
        assert_eq!(
            q.quantise(&[2.0, 0.0, 0.0, 0.0]).unwrap(),
            vec![100, 0, 0, 0]
        );
        assert_eq!(
            q.quantise(&[0.6, -0.8, 0.0, 0.0]).unwrap(),
            vec![60, -80, 0, 0]
        );
        let big = Quantiser::with_scale(4, 1000.0).unwrap();
        assert_eq!(
            big.quantise(&[0.6, -0.8, 0.0, 0.0]).unwrap(),
            vec![127, -127, 0, 0]
        );
        // Scores of quantised unit vectors approximate α²·cos.
        let d = Quantiser::for_dimension(512).unwrap();
        assert_eq!(
            d.threshold(0.5),
            (d.scale() as f64 * d.scale() as f64 * 0.5).ceil() as i64
        );
    }
}
