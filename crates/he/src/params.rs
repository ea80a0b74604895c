//! Named parameter sets and the noise arithmetic that follows from them.
//!
//! Every bound used by the protocol is computed here from the parameter set and the layout, so
//! the numbers in `protocols/` and in the code come from one place.

use serde::{Deserialize, Serialize};
use tfhe::core_crypto::prelude::{CiphertextModulusLog, GlweDimension, PolynomialSize};

use crate::bits::modulus_mask;
use crate::error::{HeError, Result};

/// Largest log2 of an exact product magnitude: the CRT range of the two NTT primes is
/// (−P/2, P/2) with log2 P ≈ 100.8, and one bit of it is kept in reserve.
pub const MAX_EXACT_LOG2: f64 = crate::ntt::CRT_MODULUS_LOG2 - 2.0;

/// A named, immutable, validated set of HE parameters.
///
/// Use [`ParameterSet::default_128`] for real sessions and [`ParameterSet::toy`] only in tests
/// and test vectors. Every other set comes through [`ParameterSet::new`] or
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
    /// Flooding noise is TUniform(`flooding_bound_log2`).
    pub(crate) flooding_bound_log2: u32,
    /// Required statistical distance exponent of a whole response (0: not enforced).
    pub(crate) statistical_security_bits: u32,
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
    /// Flooding noise is TUniform(`flooding_bound_log2`).
    pub flooding_bound_log2: u32,
    /// Required statistical distance exponent of a whole response (0: not enforced).
    pub statistical_security_bits: u32,
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
            flooding_bound_log2: p.flooding_bound_log2,
            statistical_security_bits: p.statistical_security_bits,
            insecure: p.insecure,
        }
    }
}

impl ParameterSet {
    /// `default`: Q = 2^128, N = 8192, GLWE dimension 1, uniform binary key, TUniform(4)
    /// encryption noise; 128-bit security.
    ///
    /// Reference: tfhe-rs's own 128-bit sets place GLWE dimension·N = 2048 with TUniform(17) at
    /// Q = 2^64; at Q = 2^128 and N = 8192 the ratio of dimension to log(Q/noise) is larger
    /// still than the HE-standard table allows for 128 bits (N = 8192 admits log Q ≤ 218 with
    /// a ternary key), so 128 bits hold with a wide margin. The flooding bound 2^102 hides
    /// responses of up to 2^29 scores at d = 512, g = 1 within 2^-40 statistical distance
    /// (see [`ParameterSet::flooding_security_bits`]). Q = 2^64 cannot do this: the decryptable
    /// noise is below Q/2^(k+1) = 2^42 at k = 21 (d = 512), while hiding a 2^33
    /// gallery-dependent term to 2^-40 for even one coefficient needs flooding of 2^72.
    pub fn default_128() -> Self {
        Self {
            name: "default".to_owned(),
            security_bits: 128,
            polynomial_size: PolynomialSize(8192),
            glwe_dimension: GlweDimension(1),
            ciphertext_modulus_log: CiphertextModulusLog(128),
            noise_bound_log2: 4,
            flooding_bound_log2: 102,
            statistical_security_bits: 40,
            insecure: false,
        }
    }

    /// `toy`: Q = 2^64, N = 512. INSECURE: for fast tests and readable test vectors only.
    pub fn toy() -> Self {
        Self {
            name: "toy".to_owned(),
            security_bits: 0,
            polynomial_size: PolynomialSize(512),
            glwe_dimension: GlweDimension(1),
            ciphertext_modulus_log: CiphertextModulusLog(64),
            noise_bound_log2: 4,
            flooding_bound_log2: 37,
            statistical_security_bits: 0,
            insecure: true,
        }
    }

    /// Looks a named set up. The sets are the published files `protocols/parameters/*.json`,
    /// compiled in.
    pub fn by_name(name: &str) -> Result<Self> {
        let text = match name {
            "default" => include_str!("../../../protocols/parameters/default.json"),
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
            flooding_bound_log2: spec.flooding_bound_log2,
            statistical_security_bits: spec.statistical_security_bits,
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

    /// Flooding noise is TUniform(this).
    pub fn flooding_bound_log2(&self) -> u32 {
        self.flooding_bound_log2
    }

    /// Required statistical distance exponent of a whole response (0: not enforced).
    pub fn statistical_security_bits(&self) -> u32 {
        self.statistical_security_bits
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
        if self.noise_bound_log2 + 2 > log_q as u32 || self.flooding_bound_log2 + 2 > log_q as u32 {
            return bad("noise bounds exceed the modulus");
        }
        if self.flooding_bound_log2 <= self.noise_bound_log2 {
            return bad("flooding must exceed the encryption noise");
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

    /// Number of signed 64-bit limbs a ciphertext coefficient is split into.
    pub fn limb_count(&self) -> usize {
        crate::ntt::limb_count(self.log_q())
    }

    /// Reduces a value mod Q.
    pub fn reduce(&self, x: u128) -> u128 {
        x & modulus_mask(self.log_q())
    }

    /// log2 of the worst-case magnitude of any integer the NTT accumulation must recover,
    /// for `chunks` gallery chunks plus the re-randomisation chunk.
    ///
    /// Each output coefficient of one limb is a sum over the `chunks` products (|y| ≤ 127) and
    /// one product with the binary re-randomiser u, each a sum of N limb·coefficient terms
    /// with |limb| ≤ 2^63: at most `(127·chunks + 1)·N·2^63`. It must stay below P/2.
    pub fn product_bound_log2(&self, chunks: usize) -> f64 {
        ((127 * chunks + 1) as f64 * self.n() as f64).log2() + 63.0
    }

    /// Worst-case magnitude of the decrypted noise before flooding, for `chunks` chunks: the
    /// gallery-dependent term Σ e_c·Y_c (|e| ≤ 2^η, |y| ≤ 127, N terms per chunk), the
    /// re-randomisation noise e_pk·u + e2 − e1·s, and nothing else.
    pub fn pre_flooding_noise_bound(&self, chunks: usize) -> f64 {
        let eta = 2f64.powi(self.noise_bound_log2 as i32);
        let n = self.n() as f64;
        (chunks as f64) * n * 127.0 * eta + (2.0 * n + 1.0) * eta
    }

    /// Statistical security (−log2 of the statistical distance) that flooding gives a response
    /// of `coefficients` body coefficients, for `chunks` chunks.
    ///
    /// A TUniform(φ) sample shifted by v with |v| ≤ B is within B/2^(φ+1) of the unshifted
    /// distribution; a union over the coefficients gives `coefficients·B/2^(φ+1)`.
    pub fn flooding_security_bits(&self, chunks: usize, coefficients: u64) -> f64 {
        (self.flooding_bound_log2 + 1) as f64
            - self.pre_flooding_noise_bound(chunks).log2()
            - (coefficients.max(1) as f64).log2()
    }

    /// Checks that a response of `coefficients` body coefficients is hidden well enough.
    pub fn check_flooding(&self, chunks: usize, coefficients: u64) -> Result<()> {
        if self.statistical_security_bits == 0 {
            return Ok(());
        }
        let achieved_bits = self.flooding_security_bits(chunks, coefficients);
        if achieved_bits < self.statistical_security_bits as f64 {
            return Err(HeError::FloodingTooWeak {
                coefficients,
                achieved_bits,
                required_bits: self.statistical_security_bits,
            });
        }
        Ok(())
    }

    /// Smallest modulus-switch target b (bits) at which a response still decrypts exactly for
    /// shares of `share_bits` bits, or an error if even b = log Q does not.
    ///
    /// After switching, the decrypted noise is at most `B·2^(b−logQ) + (N+1)/2` (the scaled
    /// pre-switch noise B, plus rounding: 1/2 for the body and N·1/2 through the binary key)
    /// and must stay below half the switched scale, `2^(b−k−1)`.
    pub fn switched_modulus_log(&self, chunks: usize, share_bits: u32) -> Result<u32> {
        let total =
            self.pre_flooding_noise_bound(chunks) + 2f64.powi(self.flooding_bound_log2 as i32);
        let rounding = (self.n() as f64 + 1.0) / 2.0;
        for b in share_bits + 2..=self.log_q() {
            let noise = total * 2f64.powi(b as i32 - self.log_q() as i32)
                + if b == self.log_q() { 0.0 } else { rounding };
            // A 2^-20 relative margin absorbs f64 rounding in this bound computation itself.
            if noise * (1.0 + 1e-6) < 2f64.powi((b - share_bits - 1) as i32) {
                return Ok(b);
            }
        }
        Err(HeError::InvalidParameters(format!(
            "{}: noise {:.3e} does not decrypt {share_bits}-bit shares with {chunks} chunks",
            self.name, total
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_sets_are_valid() {
        for p in [ParameterSet::default_128(), ParameterSet::toy()] {
            p.validate().unwrap();
            assert_eq!(ParameterSet::by_name(&p.name).unwrap(), p);
        }
        assert!(ParameterSet::by_name("nope").is_err());
    }

    #[test]
    fn no_invalid_set_can_be_built_or_decoded() {
        let mut json = serde_json::to_value(ParameterSet::toy()).unwrap();
        json["polynomial_size"] = 1000.into();
        let err = serde_json::from_value::<ParameterSet>(json.clone()).unwrap_err();
        assert!(err.to_string().contains("power of two"), "{err}");
        assert!(ParameterSet::from_json(&json.to_string()).is_err());
        let mut spec = ParameterSpec::from(ParameterSet::default_128());
        spec.flooding_bound_log2 = spec.noise_bound_log2;
        assert!(matches!(
            ParameterSet::new(spec),
            Err(HeError::InvalidParameters(_))
        ));
    }

    #[test]
    fn default_set_matches_the_design_figures() {
        let p = ParameterSet::default_128();
        // d = 512, g = 1: 512 chunks, gallery-dependent noise just under 2^33.
        let b = p.pre_flooding_noise_bound(512).log2();
        assert!((32.9..33.0).contains(&b), "{b}");
        // A million-score response keeps more than 40 bits.
        assert!(p.flooding_security_bits(512, 1 << 20) > 48.0);
        p.check_flooding(512, 1 << 20).unwrap();
        assert!(p.check_flooding(512, 1 << 31).is_err());
        // Switch target from the design: about k + 1 + log2(N/2) + 2.
        assert_eq!(p.switched_modulus_log(512, 24).unwrap(), 39);
        // The exactness bound stays inside the CRT range at d = 512, g = 1 (2^92 < 2^98.8).
        assert!(p.product_bound_log2(512) < MAX_EXACT_LOG2);
        assert!(p.product_bound_log2(512) < 92.1);
        assert_eq!(p.limb_count(), 2);
        assert_eq!(ParameterSet::toy().limb_count(), 1);
    }

    #[test]
    fn q64_cannot_carry_flooding() {
        // Any 64-bit modulus with d = 512, g = 1 and 24-bit shares: the decryptable noise is
        // below 2^39, the gallery-dependent noise is 2^(29..33), so no flooding bound both
        // decrypts and reaches 40 bits for even a single coefficient.
        for n in [1024usize, 2048, 4096, 8192] {
            let mut p = ParameterSet::toy();
            p.polynomial_size = PolynomialSize(n);
            p.statistical_security_bits = 40;
            let mut best = f64::NEG_INFINITY;
            for f in p.noise_bound_log2 + 1..62 {
                p.flooding_bound_log2 = f;
                if p.switched_modulus_log(512, 24).is_ok() {
                    best = best.max(p.flooding_security_bits(512, 1));
                }
            }
            assert!(best < 40.0, "N = {n}: {best}");
        }
    }
}

#[cfg(test)]
mod files {
    use super::*;

    /// protocols/parameters/*.json are the published form of the named sets: they must decode
    /// to exactly what the code uses.
    #[test]
    fn published_parameter_files_match_the_code() {
        for (file, set) in [
            (
                include_str!("../../../protocols/parameters/default.json"),
                ParameterSet::default_128(),
            ),
            (
                include_str!("../../../protocols/parameters/toy.json"),
                ParameterSet::toy(),
            ),
        ] {
            let loaded = ParameterSet::from_json(file).unwrap();
            assert_eq!(loaded, set);
        }
        assert!(ParameterSet::from_json("{\"name\": \"x\"}").is_err());
    }
}
