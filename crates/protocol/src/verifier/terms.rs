//! The verifier's policy and the checks it makes on the holder's terms (spec §9.3, Accept)
//! before it encrypts anything: every field the holder chose must be one the policy allows and
//! every derived field (share width, switched modulus) must be the one the parameters imply.

use privface_he::{Layout, MAX_CLASSES, MAX_DROPPED_BITS, ParameterSet, Quantiser, SessionShape};

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
    let params = check_common(config, accept, dimension)?;
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
    let shape = announced_shape(&params, layout, accept)?;
    Ok((params, shape))
}

/// The session shape the terms imply for `layout`, refused unless its switched modulus is the
/// one announced (§6.5).
fn announced_shape(params: &ParameterSet, layout: Layout, accept: &Accept) -> Result<SessionShape> {
    let shape = SessionShape::new(params, layout, accept.share_bits)?
        .with_dropped_bits(accept.dropped_bits)?;
    if shape.switched_modulus_log != accept.switched_modulus_log {
        return Err(ProtocolError::Refused(format!(
            "switched modulus 2^{}",
            accept.switched_modulus_log
        )));
    }
    Ok(shape)
}

/// The checks every mode makes: a parameter set the verifier accepts (insecure ones only if
/// allowed) and the verifier's own dimension.
fn check_common(
    config: &VerifierConfig,
    accept: &Accept,
    dimension: usize,
) -> Result<ParameterSet> {
    if !config.param_sets.iter().any(|n| n == &accept.params) {
        return Err(ProtocolError::Refused(format!(
            "holder chose parameter set `{}`",
            accept.params
        )));
    }
    let params = ParameterSet::by_name(&accept.params)?;
    if params.is_insecure() && !config.allow_insecure {
        return Err(privface_he::HeError::InsecureParameters(params.name().to_owned()).into());
    }
    if accept.dimension as usize != dimension {
        return Err(ProtocolError::Refused(format!(
            "holder uses dimension {} but the probe has dimension {dimension}",
            accept.dimension
        )));
    }
    Ok(params)
}

/// The checks on a classification's terms (spec §13.2): C = `padded_count` classes (1 to
/// [`MAX_CLASSES`]) all in one comparison batch and one round, no threshold and no dropped
/// bits, a layout valid for the dimension and the switched modulus its share width implies.
/// The share width itself follows from the holder's model, which the verifier does not know;
/// a width too small for the model could only spoil the holder's own answer (spec §13.5).
pub(super) fn check_classification(
    config: &VerifierConfig,
    accept: &Accept,
    dimension: usize,
) -> Result<(ParameterSet, SessionShape)> {
    let refuse = |why: String| Err(ProtocolError::Refused(why));
    let params = check_common(config, accept, dimension)?;
    let classes = accept.padded_count as usize;
    if classes == 0 || classes > MAX_CLASSES || accept.padded_count > config.max_scores {
        return refuse(format!("{classes} classes (1 to {MAX_CLASSES})"));
    }
    if accept.threshold != 0 || accept.dropped_bits != 0 {
        return refuse(format!(
            "threshold {} and {} dropped bits in a classification (both must be 0)",
            accept.threshold, accept.dropped_bits
        ));
    }
    if accept.batch != accept.padded_count {
        return refuse(format!(
            "batch of {} scores for {classes} classes (one batch of all)",
            accept.batch
        ));
    }
    let layout = Layout::new(&params, dimension, accept.group_size as usize)?;
    let blocks = layout.block_count(classes);
    if !(blocks..=MAX_ROUND_BLOCKS).contains(&(accept.round_blocks as usize)) {
        return refuse(format!(
            "round of {} blocks where the {classes} classes take {blocks} (one round)",
            accept.round_blocks
        ));
    }
    let shape = announced_shape(&params, layout, accept)?;
    Ok((params, shape))
}

/// The model's labels: C of them (2 for a binary model), none longer than
/// [`privface_he::classify::MAX_LABEL_BYTES`].
pub(super) fn check_labels(labels: &[String], classes: usize) -> Result<()> {
    Ok(privface_he::classify::check_labels(labels, classes)?)
}
