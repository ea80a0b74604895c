//! Negotiation (spec §9.3, Hello → Accept or Reject): the terms a session answers under.

use std::sync::Arc;

use privface_gc::{ArgmaxSpec, Reveal, ThresholdSpec, WhoSpec};
use privface_he::{
    Dimension, GalleryMode, Layout, PackedGallery, ParameterSet, SessionShape, ShareBits,
    VectorCount, best_group_size,
};
use rand::{CryptoRng, Rng};

use super::HolderSession;
use crate::budget::QueryRecord;
use crate::comparison::Circuit;
use crate::error::ProtocolError;
use crate::gallery::{HolderGallery, padded_count};
use crate::messages::{AbortCode, Accept, Hello, Mode};

/// The gallery a session answers from: the shared packed gallery (1:N) or the claimed
/// identity's row packed for this session alone (1:1).
#[derive(Clone)]
pub(super) enum Answering {
    Shared(Arc<HolderGallery>),
    Single(Arc<PackedGallery>),
}

impl Answering {
    pub(super) fn packed(&self) -> &PackedGallery {
        match self {
            Answering::Shared(g) => g.packed(),
            Answering::Single(p) => p,
        }
    }
}

/// What negotiation settled.
pub(super) struct Terms {
    pub(super) accept: Accept,
    pub(super) shape: SessionShape,
    pub(super) answering: Answering,
    pub(super) reveal: Reveal,
    /// The garbled step; for an argmax, the class biases (the holder's) and the labels.
    pub(super) circuit: Circuit,
    pub(super) biases: Vec<i64>,
    pub(super) labels: Vec<String>,
}

/// What one mode answers with, before the budget is charged.
struct Plan {
    count: usize,
    answering: Answering,
    shape: Option<SessionShape>,
    layout: Layout,
    share_bits: u32,
    quant_scale: f32,
    threshold: i64,
    dropped_bits: u32,
    batch: usize,
    round_blocks: usize,
    /// The garbled step, unless it is the threshold-OR.
    circuit: Option<Circuit>,
    biases: Vec<i64>,
    labels: Vec<String>,
}

impl<R: Rng + CryptoRng> HolderSession<R> {
    /// Checks the verifier's Hello against the holder's policy and charges the budget; the
    /// refusal carries the code the verifier is told.
    pub(super) fn negotiate(
        &mut self,
        hello: &Hello,
    ) -> core::result::Result<Terms, (AbortCode, ProtocolError)> {
        let refuse = |code, why: String| Err((code, ProtocolError::Refused(why)));
        let p = &self.params;
        if !hello.param_sets.iter().any(|n| n == p.name()) {
            return refuse(
                AbortCode::Parameters,
                format!(
                    "verifier accepts {:?}, holder offers `{}`",
                    hello.param_sets,
                    p.name()
                ),
            );
        }
        if !self.allowed_outputs.contains(&hello.output) {
            return refuse(
                AbortCode::Parameters,
                format!(
                    "output to {:?} is not allowed here (allowed: {:?})",
                    hello.output, self.allowed_outputs
                ),
            );
        }
        let plan = match &hello.mode {
            Mode::Classify { model } => self.plan_classification(model, hello)?,
            mode => self.plan_matching(mode, hello)?,
        };
        let internal = |e: ProtocolError| (AbortCode::Internal, e);
        let record = QueryRecord {
            client: &self.client,
            mode: &hello.mode,
            scores: plan.count as u32,
            output: hello.output,
        };
        match self.budget.charge(&record) {
            Ok(charge) => self.charge = Some(charge),
            Err(e @ ProtocolError::BudgetExhausted(_)) => return Err((AbortCode::Budget, e)),
            Err(e) => return Err(internal(e)),
        }
        let shape = match plan.shape {
            Some(shape) => shape,
            None => SessionShape::new(p, plan.layout, plan.share_bits)
                .and_then(|s| s.with_dropped_bits(plan.dropped_bits))
                .map_err(|e| internal(e.into()))?,
        };
        let accept = Accept {
            params: p.name().to_owned(),
            dimension: hello.dimension,
            quant_scale: plan.quant_scale,
            threshold: plan.threshold,
            padded_count: plan.count as u32,
            group_size: plan.layout.group_size() as u32,
            share_bits: plan.share_bits,
            switched_modulus_log: shape.switched_modulus_log,
            batch: plan.batch as u32,
            round_blocks: plan.round_blocks as u32,
            dropped_bits: plan.dropped_bits,
        };
        let circuit = match plan.circuit {
            Some(circuit) => circuit,
            None => Circuit::Threshold(ThresholdSpec {
                share_bits: plan.share_bits,
                threshold: privface_he::coarse_threshold(plan.threshold, plan.dropped_bits),
            }),
        };
        Ok(Terms {
            accept,
            shape,
            answering: plan.answering,
            reveal: Reveal {
                evaluator: hello.output.verifier(),
                garbler: hello.output.holder(),
            },
            circuit,
            biases: plan.biases,
            labels: plan.labels,
        })
    }

    /// Identification and verification: the gallery, or the claimed identity's row.
    fn plan_matching(
        &self,
        mode: &Mode,
        hello: &Hello,
    ) -> core::result::Result<Plan, (AbortCode, ProtocolError)> {
        let refuse = |code, why: String| Err((code, ProtocolError::Refused(why)));
        let (p, gallery) = (&self.params, &self.gallery);
        let d = gallery.dimension();
        if hello.dimension as usize != d {
            return refuse(
                AbortCode::Dimension,
                format!(
                    "probe dimension {} but gallery dimension {d}",
                    hello.dimension
                ),
            );
        }
        let internal = |e: ProtocolError| (AbortCode::Internal, e);
        // Who-identification compares exactly: a coarse comparison would tie rows whose
        // scores differ in the dropped bits.
        let who = matches!(mode, Mode::IdentifyWho);
        let dropped_bits = if who { 0 } else { self.dropped_bits };
        let k = gallery
            .quantiser()
            .session_share_bits(self.threshold, dropped_bits);
        if who && let Err(e) = gallery.check_who() {
            return Err((AbortCode::Parameters, e));
        }
        let (count, layout, answering) = match mode {
            Mode::Identify | Mode::IdentifyWho => {
                if gallery.is_empty() {
                    return refuse(AbortCode::UnknownIdentity, "empty gallery".into());
                }
                (
                    padded_count(gallery.len()),
                    *gallery.packed().layout(),
                    Answering::Shared(gallery.clone()),
                )
            }
            Mode::Verify { identity } => {
                // An unknown identity is answered like a known one that does not match: the
                // zero row scores 0 < τ, and the session has the same messages and sizes (a
                // refusal here would be a free enrolment oracle). It is charged too.
                let row = match gallery.row(identity).map_err(internal)? {
                    Some(row) => row,
                    None => {
                        tracing::debug!(client = %self.client, "claimed identity is not enrolled; answering with the zero row");
                        vec![0i8; d]
                    }
                };
                let single =
                    single_row(p, d, k, &row).map_err(|e| internal(ProtocolError::He(e)))?;
                (1, *single.layout(), Answering::Single(Arc::new(single)))
            }
            Mode::Classify { .. } => {
                return Err(internal(ProtocolError::Internal(
                    "classification planned as matching".into(),
                )));
            }
        };
        let circuit = who.then_some(Circuit::Who(WhoSpec {
            threshold: ThresholdSpec {
                share_bits: k,
                threshold: self.threshold,
            },
            scores: count,
        }));
        Ok(Plan {
            count,
            answering,
            shape: None,
            layout,
            share_bits: k,
            quant_scale: gallery.quantiser().scale(),
            threshold: self.threshold,
            dropped_bits,
            batch: self.batch,
            round_blocks: self.round_blocks,
            circuit,
            biases: Vec::new(),
            labels: Vec::new(),
        })
    }

    /// Classification (spec §13.2): the named model's class rows, all C scores in one round
    /// and one comparison batch, exact (no dropped bits), the input scale in `quant_scale` and
    /// threshold 0.
    fn plan_classification(
        &self,
        name: &str,
        hello: &Hello,
    ) -> core::result::Result<Plan, (AbortCode, ProtocolError)> {
        let refuse = |code, why: String| Err((code, ProtocolError::Refused(why)));
        let Some(held) = self.models.get(name) else {
            return refuse(AbortCode::UnknownModel, format!("no model `{name}`"));
        };
        let model = held.model();
        if hello.dimension as usize != model.dimension() {
            return refuse(
                AbortCode::Dimension,
                format!(
                    "input dimension {} but model `{name}` takes {}",
                    hello.dimension,
                    model.dimension()
                ),
            );
        }
        let shape = held.shape().clone();
        let classes = model.classes();
        Ok(Plan {
            count: classes,
            answering: Answering::Single(held.packed().clone()),
            layout: shape.layout,
            share_bits: shape.share_bits,
            round_blocks: shape.layout.block_count(classes),
            shape: Some(shape),
            quant_scale: model.input().scale(),
            threshold: 0,
            dropped_bits: 0,
            batch: classes,
            circuit: Some(Circuit::Argmax(ArgmaxSpec {
                share_bits: model.share_bits(),
                classes,
            })),
            biases: model.biases().to_vec(),
            labels: model.labels().to_vec(),
        })
    }
}

/// The claimed identity's row alone, packed at the group size best for one vector.
fn single_row(
    params: &ParameterSet,
    d: usize,
    k: u32,
    row: &[i8],
) -> privface_he::Result<PackedGallery> {
    let g = best_group_size(params, Dimension(d), VectorCount(1), ShareBits(k))?;
    PackedGallery::new(Layout::new(params, d, g)?, row, GalleryMode::OnTheFly)
}
