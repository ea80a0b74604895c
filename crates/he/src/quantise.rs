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

    /// Width k of an additive share of a score, in bits: the smallest k with
    /// `d·127² < 2^(k−1)`, so every score fits as a signed k-bit integer.
    pub fn share_bits(&self) -> u32 {
        share_bits_for_dimension(self.dimension)
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

/// Share width k for dimension d (see [`Quantiser::share_bits`]).
pub fn share_bits_for_dimension(d: usize) -> u32 {
    let max = d as u64 * (QUANT_MAX as u64).pow(2);
    // Smallest k with max < 2^(k-1).
    (u64::BITS - max.leading_zeros()) + 1
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
        assert_eq!(share_bits_for_dimension(512), 24);
        assert_eq!(share_bits_for_dimension(128), 22);
        for d in [1, 3, 64, 128, 512, 1000, 4096] {
            let k = share_bits_for_dimension(d);
            let max = d as i64 * 127 * 127;
            assert!(max < 1 << (k - 1) && max >= 1 << (k - 2), "d = {d}");
        }
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
