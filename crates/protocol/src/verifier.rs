//! The verifier's session: sends Hello → ExpectAccept → OT setup → sends the query → rounds of
//! (ExpectScores, comparison) → the bit.

use std::io::{Read, Write};
use std::time::Instant;

use privface_gc::{Reveal, ThresholdOrEvaluator, ThresholdSpec};
use privface_he::{
    Layout, ParameterSet, Quantiser, ResponseBlock, SessionShape, VerifierKey,
    share_bits_for_dimension,
};
use privface_ot::IknpReceiver;
use rand::{CryptoRng, Rng};

use crate::error::{ProtocolError, Result};
use crate::frame::FrameIo;
use crate::messages::{Accept, Hello, Message, Mode, OutputTo};
use crate::{PhaseTimings, unexpected};

/// The verifier's policy.
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// Parameter sets accepted, in preference order.
    pub param_sets: Vec<String>,
    /// Whether an insecure parameter set may be used.
    pub allow_insecure: bool,
    /// Largest number of scores the verifier is willing to process.
    pub max_scores: u32,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            param_sets: vec!["default".into()],
            allow_insecure: false,
            max_scores: 1 << 25,
        }
    }
}

/// What a verifier session ends with.
#[derive(Debug)]
pub struct VerifyOutcome {
    /// The bit (None when only the holder learns it).
    pub bit: Option<bool>,
    /// The holder's terms.
    pub accept: Accept,
    /// Per-phase wall time.
    pub timings: PhaseTimings,
}

fn check_accept(
    config: &VerifierConfig,
    accept: &Accept,
    dimension: usize,
) -> Result<(ParameterSet, SessionShape)> {
    let refuse = |why: String| Err(ProtocolError::Refused(why));
    if !config.param_sets.iter().any(|n| n == &accept.params) {
        return refuse(format!("holder chose parameter set `{}`", accept.params));
    }
    let params = ParameterSet::by_name(&accept.params)?;
    if params.insecure && !config.allow_insecure {
        return Err(privface_he::HeError::InsecureParameters(params.name).into());
    }
    if accept.dimension as usize != dimension {
        return refuse(format!("holder uses dimension {}", accept.dimension));
    }
    if accept.padded_count == 0 || accept.padded_count > config.max_scores {
        return refuse(format!("{} scores", accept.padded_count));
    }
    if accept.share_bits != share_bits_for_dimension(dimension) {
        return refuse(format!("share width {}", accept.share_bits));
    }
    if !(1..=65_536).contains(&accept.batch) {
        return refuse(format!("batch size {}", accept.batch));
    }
    if !(1..=4096).contains(&accept.round_blocks) {
        return refuse(format!("round of {} blocks", accept.round_blocks));
    }
    let layout = Layout::new(&params, dimension, accept.group_size as usize)?;
    let shape = SessionShape::new(&params, layout, accept.share_bits)?;
    if shape.switched_modulus_log != accept.switched_modulus_log {
        return refuse(format!(
            "switched modulus 2^{}",
            accept.switched_modulus_log
        ));
    }
    Ok((params, shape))
}

/// Runs one verifier session for `probe`.
pub fn run_verifier<T: Read + Write, R: Rng + CryptoRng>(
    io: &mut FrameIo<T>,
    config: &VerifierConfig,
    probe: &[f32],
    mode: Mode,
    output: OutputTo,
    rng: &mut R,
) -> Result<VerifyOutcome> {
    // Reject a bad probe before anything leaves the machine.
    Quantiser::for_dimension(probe.len())?.quantise(probe)?;
    let result = verifier_session(io, config, probe, mode, output, rng);
    if let Err(e) = &result {
        if !matches!(
            e,
            ProtocolError::Io(_) | ProtocolError::Aborted(_) | ProtocolError::Rejected(_)
        ) {
            let _ = io.send(&Message::Abort(e.abort_code()));
        }
    }
    result
}

fn verifier_session<T: Read + Write, R: Rng + CryptoRng>(
    io: &mut FrameIo<T>,
    config: &VerifierConfig,
    probe: &[f32],
    mode: Mode,
    output: OutputTo,
    rng: &mut R,
) -> Result<VerifyOutcome> {
    let mut timings = PhaseTimings::default();
    let t = Instant::now();
    let d = probe.len();
    io.send(&Message::Hello(Hello {
        param_sets: config.param_sets.clone(),
        dimension: d as u32,
        mode,
        output,
    }))?;
    // ExpectAccept
    let accept = match io.recv()? {
        Message::Accept(a) => a,
        Message::Reject(code) => return Err(ProtocolError::Rejected(code)),
        other => return Err(unexpected("ExpectAccept", &other)),
    };
    let (params, shape) = check_accept(config, &accept, d)?;
    let quantiser = Quantiser::with_scale(d, accept.quant_scale)?;
    let x = quantiser.quantise(probe)?;
    timings.push("negotiate", t, io);

    // The OT base phase (query-independent) comes first.
    let t = Instant::now();
    let mut ot = IknpReceiver::setup(io, rng)?;
    timings.push("ot-setup", t, io);

    let t = Instant::now();
    let key = VerifierKey::generate(&params, rng);
    let query = key.encrypt_query(&shape, &x, rng)?;
    for (i, ct) in std::iter::once(&query.public_key)
        .chain(&query.chunks)
        .enumerate()
    {
        let mut bytes = Vec::with_capacity(privface_he::SeededCiphertext::encoded_len(&params));
        ct.encode_into(&params, &mut bytes);
        io.send(&Message::QueryPart {
            index: i as u32,
            bytes,
        })?;
    }
    drop(query);
    timings.push("query", t, io);

    // Rounds: receive a round's score blocks (in order, exact counts), decrypt, compare.
    let t = Instant::now();
    let n = accept.padded_count as usize;
    let cap = shape.layout.block_capacity();
    let blocks = shape.layout.block_count(n);
    let round = accept.round_blocks as usize;
    let spec = ThresholdSpec {
        share_bits: shape.share_bits,
        threshold: accept.threshold,
    };
    let reveal = Reveal {
        evaluator: output.verifier(),
        garbler: output.holder(),
    };
    let mut e = ThresholdOrEvaluator::new(io, &mut ot, spec, accept.batch as usize)?;
    for start in (0..blocks).step_by(round) {
        let mut shares = Vec::new();
        for b in start..(start + round).min(blocks) {
            let expected = cap.min(n - b * cap);
            match e.channel().recv()? {
                Message::Scores {
                    index,
                    count,
                    bytes,
                } if index as usize == b && count as usize == expected => {
                    let block = ResponseBlock::decode(&shape, expected, &bytes)?;
                    shares.extend(key.decrypt_block(&shape, &block, expected)?);
                }
                Message::Scores { index, count, .. } => {
                    return Err(ProtocolError::Malformed(format!(
                        "score block {index} with {count} scores where block {b} with {expected} was due"
                    )));
                }
                other => return Err(unexpected("ExpectScores", &other)),
            }
        }
        e.feed(&shares, rng)?;
    }
    let bit = e.finish(reveal)?;
    timings.push("rounds", t, io);
    Ok(VerifyOutcome {
        bit,
        accept,
        timings,
    })
}
