//! An optional linear projection d → d′ that both parties apply before quantising (spec §14):
//! the verifier to its probe, the holder to its gallery rows or model weights. Fewer
//! dimensions mean fewer chunks to encrypt and multiply, so a smaller query and a cheaper HE
//! step; what it costs is the part of the data's energy outside the kept subspace.
//!
//! [`Projection::fit_pca`] fits the d′ leading principal directions of a data set without
//! centring (the eigenvectors of the second-moment matrix of the L2-normalised rows): those
//! keep inner products — what cosine scores and linear models read — best on average
//! (Eckart–Young). It then rotates them by a random orthogonal d′ × d′ matrix: inner products
//! do not change, but the energy, which PCA piles into the leading coordinates, is spread
//! evenly over all d′, as the quantiser's scale α = 127·√d′/4 assumes (without the rotation a
//! projected embedding's leading components clamp at 127). The rows of the matrix are
//! orthonormal either way.

use rand::{CryptoRng, Rng};

use crate::error::{HeError, Result};

/// A d′ × d projection matrix, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    input_dim: usize,
    output_dim: usize,
    matrix: Vec<f32>,
    energy: Option<f64>,
}

fn invalid(why: String) -> HeError {
    HeError::InvalidParameters(format!("projection: {why}"))
}

impl Projection {
    /// A projection from its matrix (`output_dim` rows of `input_dim` values) and, when it was
    /// fitted, the fraction of the fitting data's energy it keeps.
    pub fn new(
        input_dim: usize,
        output_dim: usize,
        matrix: Vec<f32>,
        energy: Option<f64>,
    ) -> Result<Self> {
        if input_dim == 0 || output_dim == 0 || output_dim > input_dim {
            return Err(invalid(format!("{input_dim} → {output_dim} dimensions")));
        }
        if matrix.len() != input_dim * output_dim {
            return Err(invalid(format!(
                "{} values for a {output_dim} × {input_dim} matrix",
                matrix.len()
            )));
        }
        if matrix.iter().any(|v| !v.is_finite()) {
            return Err(invalid("a matrix entry is not finite".into()));
        }
        Ok(Self {
            input_dim,
            output_dim,
            matrix,
            energy,
        })
    }

    /// Input dimension d.
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// Output dimension d′.
    pub fn output_dim(&self) -> usize {
        self.output_dim
    }

    /// The matrix, d′ rows of d values.
    pub fn matrix(&self) -> &[f32] {
        &self.matrix
    }

    /// The fraction of the fitting data's energy the projection keeps, when it was fitted.
    pub fn energy(&self) -> Option<f64> {
        self.energy
    }

    /// P·x.
    ///
    /// # Errors
    /// [`HeError::WrongDimension`], [`HeError::NonFiniteEmbedding`].
    pub fn apply(&self, x: &[f32]) -> Result<Vec<f32>> {
        if x.len() != self.input_dim {
            return Err(HeError::WrongDimension {
                expected: self.input_dim,
                actual: x.len(),
            });
        }
        if let Some(index) = x.iter().position(|v| !v.is_finite()) {
            return Err(HeError::NonFiniteEmbedding { index });
        }
        Ok(self
            .matrix
            .chunks_exact(self.input_dim)
            .map(|row| {
                row.iter()
                    .zip(x)
                    .map(|(&p, &v)| p as f64 * v as f64)
                    .sum::<f64>() as f32
            })
            .collect())
    }

    /// Fits the `output_dim` leading principal directions of `rows` (row-major, `input_dim`
    /// values each) without centring, each row L2-normalised first (zero rows are skipped),
    /// and rotates them by a random orthogonal matrix drawn from `rng` (module documentation;
    /// a seeded generator makes the fit reproducible).
    ///
    /// # Errors
    /// [`HeError::InvalidParameters`] for bad sizes or fewer non-zero rows than `output_dim`.
    pub fn fit_pca<R: Rng + CryptoRng>(
        rows: &[f32],
        input_dim: usize,
        output_dim: usize,
        rng: &mut R,
    ) -> Result<Self> {
        if input_dim == 0 || output_dim == 0 || output_dim > input_dim {
            return Err(invalid(format!("{input_dim} → {output_dim} dimensions")));
        }
        if !rows.len().is_multiple_of(input_dim) || rows.iter().any(|v| !v.is_finite()) {
            return Err(invalid(
                "fitting data of the wrong size or not finite".into(),
            ));
        }
        let d = input_dim;
        let mut moment = vec![0f64; d * d];
        let mut used = 0usize;
        let mut unit = vec![0f64; d];
        for row in rows.chunks_exact(d) {
            let norm = row.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
            if norm == 0.0 {
                continue;
            }
            for (u, &v) in unit.iter_mut().zip(row) {
                *u = v as f64 / norm;
            }
            for i in 0..d {
                let ui = unit[i];
                for j in i..d {
                    moment[i * d + j] += ui * unit[j];
                }
            }
            used += 1;
        }
        if used < output_dim {
            return Err(invalid(format!(
                "{used} non-zero rows cannot fit {output_dim} directions"
            )));
        }
        for i in 0..d {
            for j in 0..i {
                moment[i * d + j] = moment[j * d + i];
            }
        }
        let (values, vectors) = symmetric_eigen(moment, d);
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let total: f64 = values.iter().sum();
        let kept: f64 = order[..output_dim].iter().map(|&k| values[k]).sum();
        // The leading eigenvectors as rows, each with a fixed sign (largest entry positive).
        let mut leading = Vec::with_capacity(output_dim * d);
        for &k in &order[..output_dim] {
            let column: Vec<f64> = (0..d).map(|i| vectors[i * d + k]).collect();
            let largest = column
                .iter()
                .copied()
                .fold(0f64, |m, v| if v.abs() > m.abs() { v } else { m });
            let sign = if largest < 0.0 { -1.0 } else { 1.0 };
            leading.extend(column.iter().map(|&v| sign * v));
        }
        let rotation = random_orthogonal(output_dim, rng);
        let mut matrix = Vec::with_capacity(output_dim * d);
        for a in 0..output_dim {
            for i in 0..d {
                let v: f64 = (0..output_dim)
                    .map(|b| rotation[a * output_dim + b] * leading[b * d + i])
                    .sum();
                matrix.push(v as f32);
            }
        }
        Self::new(d, output_dim, matrix, Some(kept / total))
    }
}

/// A random orthogonal n × n matrix (row-major): Gaussian rows orthonormalised by modified
/// Gram–Schmidt.
fn random_orthogonal<R: Rng>(n: usize, rng: &mut R) -> Vec<f64> {
    let mut gaussian = || {
        let (u, v): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    };
    let mut m: Vec<f64> = (0..n * n).map(|_| gaussian()).collect();
    for a in 0..n {
        for b in 0..a {
            let dot: f64 = (0..n).map(|i| m[a * n + i] * m[b * n + i]).sum();
            for i in 0..n {
                m[a * n + i] -= dot * m[b * n + i];
            }
        }
        let norm = (0..n).map(|i| m[a * n + i].powi(2)).sum::<f64>().sqrt();
        for i in 0..n {
            m[a * n + i] /= norm;
        }
    }
    m
}

/// Eigenvalues and eigenvectors (columns of the returned row-major n × n matrix) of a
/// symmetric matrix, by cyclic Jacobi rotations until the off-diagonal mass is negligible.
fn symmetric_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let scale: f64 = a
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-14 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let (app, aqq) = (a[p * n + p], a[q * n + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let sign = if theta >= 0.0 { 1.0 } else { -1.0 };
                let t = sign / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← Jᵀ A J on rows and columns p, q.
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    struct Lcg(u64);
    impl Lcg {
        fn uniform(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform().max(1e-300), self.uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    #[test]
    fn jacobi_diagonalises_a_symmetric_matrix() {
        let n = 12;
        let mut rng = Lcg(1);
        let mut a = vec![0f64; n * n];
        for i in 0..n {
            for j in i..n {
                let x = rng.normal();
                a[i * n + j] = x;
                a[j * n + i] = x;
            }
        }
        let (values, v) = symmetric_eigen(a.clone(), n);
        // A·v_k = λ_k·v_k and VᵀV = I.
        for k in 0..n {
            for i in 0..n {
                let av: f64 = (0..n).map(|j| a[i * n + j] * v[j * n + k]).sum();
                assert!((av - values[k] * v[i * n + k]).abs() < 1e-9, "A v ≠ λ v");
            }
            for l in 0..n {
                let dot: f64 = (0..n).map(|i| v[i * n + k] * v[i * n + l]).sum();
                assert!((dot - f64::from(u8::from(k == l))).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn pca_finds_a_planted_subspace_and_keeps_inner_products() {
        // 400 rows in a random 6-dimensional subspace of R^40, plus a little noise.
        let (d, r) = (40, 6);
        let mut rng = Lcg(2);
        let basis: Vec<f64> = (0..r * d).map(|_| rng.normal()).collect();
        let mut row = || -> Vec<f32> {
            let z: Vec<f64> = (0..r).map(|_| rng.normal()).collect();
            (0..d)
                .map(|i| {
                    ((0..r).map(|k| z[k] * basis[k * d + i]).sum::<f64>() + 0.01 * rng.normal())
                        as f32
                })
                .collect()
        };
        let data: Vec<f32> = (0..400).flat_map(|_| row()).collect();
        let seeded = || ChaCha20Rng::seed_from_u64(9);
        let p = Projection::fit_pca(&data, d, r, &mut seeded()).unwrap();
        assert!(p.energy().unwrap() > 0.999, "{:?}", p.energy());
        // Orthonormal rows.
        for a in 0..r {
            for b in 0..r {
                let dot: f64 = (0..d)
                    .map(|i| p.matrix()[a * d + i] as f64 * p.matrix()[b * d + i] as f64)
                    .sum();
                assert!((dot - f64::from(u8::from(a == b))).abs() < 1e-5);
            }
        }
        // Inner products of new rows from the same subspace survive the projection.
        let (x, y) = (row(), row());
        let dot = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(&u, &v)| u as f64 * v as f64)
                .sum::<f64>()
        };
        let (px, py) = (p.apply(&x).unwrap(), p.apply(&y).unwrap());
        let scale = dot(&x, &x).sqrt() * dot(&y, &y).sqrt();
        assert!((dot(&px, &py) - dot(&x, &y)).abs() < 1e-3 * scale);
        // One direction fewer loses real energy.
        let fewer = Projection::fit_pca(&data, d, r - 1, &mut seeded()).unwrap();
        assert!(fewer.energy().unwrap() < 0.95);
        // A fit is reproducible from its seed.
        assert_eq!(Projection::fit_pca(&data, d, r, &mut seeded()).unwrap(), p);
    }

    #[test]
    fn the_rotation_spreads_the_energy_over_every_coordinate() {
        // Rows with all their energy in 4 of 64 coordinates: PCA alone would put it all into
        // the first 4 outputs of 32; rotated, every output carries some of it.
        let mut rng = Lcg(4);
        let data: Vec<f32> = (0..300)
            .flat_map(|_| {
                let mut v = vec![0f32; 64];
                for slot in v.iter_mut().take(4) {
                    *slot = rng.normal() as f32;
                }
                v
            })
            .collect();
        let p = Projection::fit_pca(&data, 64, 32, &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
        let mut energy = vec![0f64; 32];
        for row in data.chunks_exact(64) {
            for (e, v) in energy.iter_mut().zip(p.apply(row).unwrap()) {
                *e += (v as f64).powi(2);
            }
        }
        let total: f64 = energy.iter().sum();
        let largest = energy.iter().copied().fold(0f64, f64::max);
        assert!(
            largest < 0.2 * total,
            "one output carries {:.0} %",
            100.0 * largest / total
        );
    }

    #[test]
    fn bad_projections_and_inputs_are_refused() {
        assert!(Projection::new(4, 5, vec![0.0; 20], None).is_err());
        assert!(Projection::new(4, 2, vec![0.0; 7], None).is_err());
        assert!(Projection::new(4, 2, vec![f32::NAN; 8], None).is_err());
        let p = Projection::new(4, 2, vec![1.0; 8], None).unwrap();
        assert_eq!(p.apply(&[1.0, 2.0, 3.0, 4.0]).unwrap(), vec![10.0, 10.0]);
        assert!(p.apply(&[1.0; 3]).is_err());
        assert!(p.apply(&[1.0, f32::INFINITY, 0.0, 0.0]).is_err());
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        assert!(
            Projection::fit_pca(&[0.0; 8], 4, 1, &mut rng).is_err(),
            "no non-zero rows"
        );
    }
}
