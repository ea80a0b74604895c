//! The verifier's policy and the checks it makes on the holder's terms (spec §9.3, Accept)
//! before it encrypts anything: every field the holder chose must be one the policy allows and
//! every derived field (share width, switched modulus) must be the one the parameters imply.

use privface_he::{Layout, MAX_DROPPED_BITS, ParameterSet, Quantiser, SessionShape};

use crate::error::{ProtocolError, Result};
use crate::messages::Accept;
use crate::{MAX_BATCH, MAX_ROUND_BLOCKS};

/// The verifier's policy.
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// Parameter sets accepted, in preference order.
    pub param_sets: Vec<String>,
    /// Whether an insecure parameter set may be used.
    pub allow_insecure: bool,
    /// Largest number of scores the verifier is willing to process.
    pub max_scores: u32,
    /// Comparison batches requested ahead of the tables received (≥ 1). Two or more keep the
    /// holder garbling while the verifier evaluates; the driver must then read and write at
    /// the same time (the drivers in this workspace do).
    pub window: usize,
    /// Most low score bits the verifier lets the holder's comparison drop (spec §4.1); 0
    /// accepts only exact comparisons. Default: any the spec allows.
    pub max_dropped_bits: u32,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            param_sets: vec!["default".into(), "q128".into()],
            allow_insecure: false,
            max_scores: 1 << 25,
            window: 2,
            max_dropped_bits: privface_he::MAX_DROPPED_BITS,
        }
    }
}

/// The parameter set and session shape of acceptable terms, or why they are refused.
pub(super) fn check_accept(
    config: &VerifierConfig,
    accept: &Accept,
    dimension: usize,
) -> Result<(ParameterSet, SessionShape)> {
    let refuse = |why: String| Err(ProtocolError::Refused(why));
    if !config.param_sets.iter().any(|n| n == &accept.params) {
        return refuse(format!("holder chose parameter set `{}`", accept.params));
    }
    let params = ParameterSet::by_name(&accept.params)?;
    if params.is_insecure() && !config.allow_insecure {
        return Err(privface_he::HeError::InsecureParameters(params.name().to_owned()).into());
    }
    if accept.dimension as usize != dimension {
        return refuse(format!(
            "holder uses dimension {} but the probe has dimension {dimension}",
            accept.dimension
        ));
    }
    if accept.threshold < 1 {
        // The padding rows score 0: a threshold of 0 or less would let them match.
        return refuse(format!(
            "threshold {} (must be at least 1)",
            accept.threshold
        ));
    }
    if accept.padded_count == 0 || accept.padded_count > config.max_scores {
        return refuse(format!("{} scores", accept.padded_count));
    }
    let quantiser = Quantiser::with_scale(dimension, accept.quant_scale)?;
    if accept.dropped_bits > MAX_DROPPED_BITS.min(config.max_dropped_bits) {
        return refuse(format!("{} dropped bits", accept.dropped_bits));
    }
    if accept.share_bits != quantiser.session_share_bits(accept.threshold, accept.dropped_bits) {
        return refuse(format!("share width {}", accept.share_bits));
    }
    if accept.threshold > quantiser.norm_bound() as i64 {
        // Out of the range the comparison is exact for (spec §8.1).
        return refuse(format!(
            "threshold {} above the score bound {}",
            accept.threshold,
            quantiser.norm_bound()
        ));
    }
    if !(1..=MAX_BATCH as u32).contains(&accept.batch) {
        return refuse(format!("batch size {}", accept.batch));
    }
    if !(1..=MAX_ROUND_BLOCKS as u32).contains(&accept.round_blocks) {
        return refuse(format!("round of {} blocks", accept.round_blocks));
    }
    let layout = Layout::new(&params, dimension, accept.group_size as usize)?;
    let shape = SessionShape::new(&params, layout, accept.share_bits)?
        .with_dropped_bits(accept.dropped_bits)?;
    if shape.switched_modulus_log != accept.switched_modulus_log {
        return refuse(format!(
            "switched modulus 2^{}",
            accept.switched_modulus_log
        ));
    }
    Ok((params, shape))
}
