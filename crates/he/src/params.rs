//! Named parameter sets and the noise arithmetic that follows from them.
//!
//! Every bound used by the protocol is computed here from the parameter set and the layout, so
//! the numbers in `protocols/` and in the code come from one place.

use serde::{Deserialize, Serialize};
use tfhe::core_crypto::prelude::{CiphertextModulusLog, GlweDimension, PolynomialSize};

use crate::bits::modulus_mask;
use crate::error::{HeError, Result};
use crate::ntt::Rns;

/// A named, immutable, validated set of HE parameters.
///
/// Use [`ParameterSet::default_64`] for real sessions ([`ParameterSet::q128`] when a share
/// error of 2^−30 instead of 2^−20 is worth twice the bytes up and more HE work) and
/// [`ParameterSet::toy`] only in tests and test vectors. Every other set comes through [`ParameterSet::new`] or
/// [`ParameterSet::from_json`], which validate it, so no invalid set can exist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ParameterSpec", into = "ParameterSpec")]
pub struct ParameterSet {
    /// Name on the wire and in `protocols/parameters/`.
    pub(crate) name: String,
    /// Claimed computational security in bits (0 for insecure sets).
    pub(crate) security_bits: u32,
    /// Ring degree N of `Z_Q[X]/(X^N + 1)`.
    pub(crate) polynomial_size: PolynomialSize,
    /// GLWE dimension (always 1: RLWE).
    pub(crate) glwe_dimension: GlweDimension,
    /// log2 of the ciphertext modulus Q (64 or 128).
    pub(crate) ciphertext_modulus_log: CiphertextModulusLog,
    /// Encryption noise is TUniform(`noise_bound_log2`): values in `[-2^b, 2^b]`.
    pub(crate) noise_bound_log2: u32,
    /// An honest score share is off by one with probability at most 2^−`share_error_log2`
    /// (the price of masking with a value uniform over the whole switched modulus, §6.3).
    pub(crate) share_error_log2: u32,
    /// True for sets that must never protect real data.
    pub(crate) insecure: bool,
}

/// The fields of a parameter set before validation (the JSON form of
/// `protocols/parameters/`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterSpec {
    /// Name on the wire and in `protocols/parameters/`.
    pub name: String,
    /// Claimed computational security in bits (0 for insecure sets).
    pub security_bits: u32,
    /// Ring degree N of `Z_Q[X]/(X^N + 1)`.
    pub polynomial_size: PolynomialSize,
    /// GLWE dimension (always 1: RLWE).
    pub glwe_dimension: GlweDimension,
    /// log2 of the ciphertext modulus Q (64 or 128).
    pub ciphertext_modulus_log: CiphertextModulusLog,
    /// Encryption noise is TUniform(`noise_bound_log2`): values in `[-2^b, 2^b]`.
    pub noise_bound_log2: u32,
    /// An honest score share is off by one with probability at most 2^−`share_error_log2`.
    pub share_error_log2: u32,
    /// True for sets that must never protect real data.
    pub insecure: bool,
}

impl TryFrom<ParameterSpec> for ParameterSet {
    type Error = HeError;

    fn try_from(spec: ParameterSpec) -> Result<Self> {
        ParameterSet::new(spec)
    }
}

impl From<ParameterSet> for ParameterSpec {
    fn from(p: ParameterSet) -> Self {
        ParameterSpec {
            name: p.name,
            security_bits: p.security_bits,
            polynomial_size: p.polynomial_size,
            glwe_dimension: p.glwe_dimension,
            ciphertext_modulus_log: p.ciphertext_modulus_log,
            noise_bound_log2: p.noise_bound_log2,
            share_error_log2: p.share_error_log2,
            insecure: p.insecure,
        }
    }
}

impl ParameterSet {
    /// `default`: Q = 2^64, N = 8192, GLWE dimension 1, uniform binary key, TUniform(4)
    /// encryption noise; 128-bit security.
    ///
    /// Security: an RLWE instance of dimension 8192 with log Q = 64 and noise of standard
    /// deviation ≈ 9.2 is far inside the HE-standard tables (N = 8192 admits log Q ≤ 218 for a
    /// ternary secret at 128 bits; halving log Q only raises the security level), and its
    /// dimension-to-log Q ratio is four times that of tfhe-rs's own lattice-estimator-checked
    /// 128-bit sets (N = 2048, log Q = 64). Hiding needs no wide modulus (§6.4: a uniform mask,
    /// not flooding). The price is correctness: the encoding Δ = 2^(64−k) leaves the honest HE
    /// noise (standard deviation ≤ 2^21.2 at d = 512, g = 1) only 2^(42−21) below the share's
    /// unit, so an honest share is off by one with probability at most 2^−20
    /// ([`ParameterSet::share_error_log2`]), which can change a decision only for a score
    /// within 1 of the threshold.
    pub fn default_64() -> Self {
        Self {
            name: "default".to_owned(),
            security_bits: 128,
            polynomial_size: PolynomialSize(8192),
            glwe_dimension: GlweDimension(1),
            ciphertext_modulus_log: CiphertextModulusLog(64),
            noise_bound_log2: 4,
            share_error_log2: 20,
            insecure: false,
        }
    }

    /// `q128`: Q = 2^128, otherwise as `default`; an honest share is off by one with
    /// probability at most 2^−30 (the HE noise is scaled away by the modulus switch and only
    /// the switch's rounding remains), at twice the query bytes and a two-prime transform.
    ///
    /// Reference: at Q = 2^128 and N = 8192 the ratio of dimension to log(Q/noise) is larger
    /// still than the HE-standard table allows for 128 bits (N = 8192 admits log Q ≤ 218 with
    /// a ternary key), so 128 bits hold with a wide margin.
    pub fn q128() -> Self {
        Self {
            name: "q128".to_owned(),
            security_bits: 128,
            polynomial_size: PolynomialSize(8192),
            glwe_dimension: GlweDimension(1),
            ciphertext_modulus_log: CiphertextModulusLog(128),
            noise_bound_log2: 4,
            share_error_log2: 30,
            insecure: false,
        }
    }

    /// `toy`: Q = 2^64, N = 512. INSECURE: for fast tests and readable test vectors only. Its
    /// share error bound is 2^−20, so that unswitched 64-bit responses serve the widths the
    /// tests use.
    pub fn toy() -> Self {
        Self {
            name: "toy".to_owned(),
            security_bits: 0,
            polynomial_size: PolynomialSize(512),
            glwe_dimension: GlweDimension(1),
            ciphertext_modulus_log: CiphertextModulusLog(64),
            noise_bound_log2: 4,
            share_error_log2: 16,
            insecure: true,
        }
    }

    /// Looks a named set up. The sets are the published files `protocols/parameters/*.json`,
    /// compiled in.
    pub fn by_name(name: &str) -> Result<Self> {
        let text = match name {
            "default" => include_str!("../../../protocols/parameters/default.json"),
            "q128" => include_str!("../../../protocols/parameters/q128.json"),
            "toy" => include_str!("../../../protocols/parameters/toy.json"),
            other => {
                return Err(HeError::InvalidParameters(format!(
                    "unknown parameter set `{other}`"
                )));
            }
        };
        Self::from_json(text)
    }

    /// Validates `spec` into a parameter set.
    ///
    /// # Errors
    /// [`HeError::InvalidParameters`] naming the first inconsistency.
    ///
    /// ```
    /// use privface_he::{ParameterSet, ParameterSpec};
    /// let mut spec = ParameterSpec::from(ParameterSet::toy());
    /// spec.polynomial_size.0 = 1000; // not a power of two
    /// assert!(ParameterSet::new(spec).is_err());
    /// ```
    pub fn new(spec: ParameterSpec) -> Result<Self> {
        let set = ParameterSet {
            name: spec.name,
            security_bits: spec.security_bits,
            polynomial_size: spec.polynomial_size,
            glwe_dimension: spec.glwe_dimension,
            ciphertext_modulus_log: spec.ciphertext_modulus_log,
            noise_bound_log2: spec.noise_bound_log2,
            share_error_log2: spec.share_error_log2,
            insecure: spec.insecure,
        };
        set.validate()?;
        Ok(set)
    }

    /// Name on the wire and in `protocols/parameters/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Claimed computational security in bits (0 for insecure sets).
    pub fn security_bits(&self) -> u32 {
        self.security_bits
    }

    /// True for sets that must never protect real data.
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// Encryption noise is TUniform(this): values in `[-2^b, 2^b]`.
    pub fn noise_bound_log2(&self) -> u32 {
        self.noise_bound_log2
    }

    /// An honest score share is off by one with probability at most 2^−(this).
    pub fn share_error_log2(&self) -> u32 {
        self.share_error_log2
    }

    /// Decodes and validates a parameter set from its JSON form (the format of
    /// `protocols/parameters/`).
    pub fn from_json(text: &str) -> Result<Self> {
        let spec: ParameterSpec = serde_json::from_str(text)
            .map_err(|e| HeError::InvalidParameters(format!("parameter file: {e}")))?;
        Self::new(spec)
    }

    /// Checks internal consistency.
    fn validate(&self) -> Result<()> {
        let n = self.polynomial_size.0;
        let log_q = self.ciphertext_modulus_log.0;
        let bad = |why: &str| Err(HeError::InvalidParameters(format!("{}: {why}", self.name)));
        if !n.is_power_of_two() || !(32..=1 << 15).contains(&n) {
            return bad("polynomial size must be a power of two in [32, 32768]");
        }
        if self.glwe_dimension.0 != 1 {
            return bad("only GLWE dimension 1 is supported");
        }
        if !(log_q == 64 || log_q == 128) {
            return bad("ciphertext modulus must be 2^64 or 2^128");
        }
        if self.noise_bound_log2 + 2 > log_q as u32 {
            return bad("noise bound exceeds the modulus");
        }
        if !(1..=60).contains(&self.share_error_log2) {
            return bad("share error exponent must be in [1, 60]");
        }
        Ok(())
    }

    /// N as a usize.
    pub fn n(&self) -> usize {
        self.polynomial_size.0
    }

    /// log2(Q).
    pub fn log_q(&self) -> u32 {
        self.ciphertext_modulus_log.0 as u32
    }

    /// How the holder's exact products represent values mod Q (spec §6.2).
    pub fn rns(&self) -> Rns {
        Rns::for_modulus(self.log_q())
    }

    /// Reduces a value mod Q.
    pub fn reduce(&self, x: u128) -> u128 {
        x & modulus_mask(self.log_q())
    }

    /// The largest ℓ1 norm a gallery row may have so that the products of a layout with
    /// group size g stay exact (spec §6.2), at most 127·d (every i8 row then fits).
    ///
    /// An output coefficient of one digit is a sum over every coefficient of the block's m
    /// chunk polynomials (N/g rows, so at most (N/g)·‖ŷ‖₁ in total) and over the N binary
    /// coefficients of u, each times a digit of magnitude at most 2^w:
    /// `2^w·((N/g)·‖ŷ‖₁ + N)` must stay within [`Rns::exact_range`].
    pub fn exact_row_l1(&self, dimension: usize, group_size: usize) -> u64 {
        let rns = self.rns();
        let n = self.n() as u128;
        let rows = n / group_size as u128;
        let budget = (rns.exact_range() >> rns.digit_log2()).saturating_sub(n);
        (budget / rows).min(127 * dimension as u128) as u64
    }

    /// Worst-case magnitude of the decrypted noise before modulus switching, for `chunks`
    /// chunks: the gallery-dependent term Σ e_c·Y_c (|e| ≤ 2^η, |y| ≤ 127, N terms per chunk)
    /// and the re-randomisation noise e_pk·u − e1·s.
    pub fn noise_bound(&self, chunks: usize) -> f64 {
        let eta = 2f64.powi(self.noise_bound_log2 as i32);
        let n = self.n() as f64;
        (chunks as f64) * n * 127.0 * eta + 2.0 * n * eta
    }

    /// Standard deviation bound of the same noise for an honest verifier: every term is a sum
    /// of independent TUniform(η) samples (variance (2^(2η+1) + 1)/6) times coefficients of
    /// magnitude at most 127 (gallery) or 1 (u, s), N per chunk.
    pub fn noise_sd(&self, chunks: usize) -> f64 {
        let var = (2f64.powi(2 * self.noise_bound_log2 as i32 + 1) + 1.0) / 6.0;
        let n = self.n() as f64;
        (var * ((chunks as f64) * n * 127.0 * 127.0 + 2.0 * n)).sqrt()
    }

    /// Upper bound on the probability that an honest verifier's share is off by one, at
    /// switch target b bits (b = log Q: no switching) with `share_bits`-bit shares.
    ///
    /// The verifier's phase is D·score + R + e with D = 2^(b−k), R the holder's mask (uniform
    /// mod 2^b) and e an integer; the holder's share is R rounded to k bits, the verifier's is
    /// the phase rounded. They differ from the score by one exactly when a rounding boundary
    /// falls between R and R + e, with probability |e|/D over R (for |e| < D). So the rate is
    /// E|e|/D ≤ sd(e)/D, where e is the scaled noise (sd at most `noise_sd`·2^(b−logQ)) plus
    /// the rounding of the body and of N mask coefficients through a binary key (each uniform
    /// in (−1/2, 1/2], variance 1/12: sd at most √((N+1)/12)).
    pub fn share_error_bound(&self, chunks: usize, share_bits: u32, b: u32) -> f64 {
        let (sd, _) = self.switched_noise(chunks, b);
        sd / 2f64.powi((b - share_bits) as i32)
    }

    /// (standard-deviation bound, worst-case bound) of the switched noise e at b bits.
    fn switched_noise(&self, chunks: usize, b: u32) -> (f64, f64) {
        let scale = 2f64.powi(b as i32 - self.log_q() as i32);
        let n = self.n() as f64;
        let (round_sd, round_max) = if b == self.log_q() {
            (0.0, 0.0)
        } else {
            (((n + 1.0) / 12.0).sqrt(), (n + 1.0) / 2.0)
        };
        (
            self.noise_sd(chunks) * scale + round_sd,
            self.noise_bound(chunks) * scale + round_max,
        )
    }

    /// Smallest modulus-switch target b (bits, at most 64 and log Q) at which an honest share
    /// of `share_bits` bits is never off by more than one (worst-case |e| < 2^(b−k)) and is off
    /// by one with probability at most 2^−`share_error_log2` ([`ParameterSet::share_error_bound`]),
    /// or an error if no b does.
    pub fn switched_modulus_log(&self, chunks: usize, share_bits: u32) -> Result<u32> {
        let target = 2f64.powi(-(self.share_error_log2 as i32));
        for b in share_bits + 2..=self.log_q().min(64) {
            let (_, worst) = self.switched_noise(chunks, b);
            // A 2^-20 relative margin absorbs f64 rounding in this bound computation itself.
            let fits = worst * (1.0 + 1e-6) < 2f64.powi((b - share_bits) as i32);
            if fits && self.share_error_bound(chunks, share_bits, b) * (1.0 + 1e-6) <= target {
                return Ok(b);
            }
        }
        Err(HeError::InvalidParameters(format!(
            "{}: {share_bits}-bit shares with {chunks} chunks cannot meet the 2^-{} share error",
            self.name, self.share_error_log2
        )))
    }
}

#[cfg(test)]
mod tests;
