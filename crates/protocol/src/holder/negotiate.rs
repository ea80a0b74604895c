//! Negotiation (spec §9.3, Hello → Accept or Reject): the terms a session answers under.

use std::sync::Arc;

use privface_gc::Reveal;
use privface_he::{
    Dimension, GalleryMode, Layout, PackedGallery, ParameterSet, SessionShape, ShareBits,
    VectorCount, best_group_size,
};
use rand::{CryptoRng, Rng};

use super::HolderSession;
use crate::budget::QueryRecord;
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
        let gallery = &self.gallery;
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
        let k = gallery
            .quantiser()
            .session_share_bits(self.threshold, self.dropped_bits);
        let (count, layout, answering) = match &hello.mode {
            Mode::Identify => {
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
                // refusal here would be a free enrolment oracle). It is charged below too.
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
        };
        let record = QueryRecord {
            client: &self.client,
            mode: &hello.mode,
            scores: count as u32,
            output: hello.output,
        };
        match self.budget.charge(&record) {
            Ok(charge) => self.charge = Some(charge),
            Err(e @ ProtocolError::BudgetExhausted(_)) => return Err((AbortCode::Budget, e)),
            Err(e) => return Err(internal(e)),
        }
        let shape = SessionShape::new(p, layout, k)
            .and_then(|s| s.with_dropped_bits(self.dropped_bits))
            .map_err(|e| internal(e.into()))?;
        let accept = Accept {
            params: p.name().to_owned(),
            dimension: d as u32,
            quant_scale: gallery.quantiser().scale(),
            threshold: self.threshold,
            padded_count: count as u32,
            group_size: layout.group_size() as u32,
            share_bits: k,
            switched_modulus_log: shape.switched_modulus_log,
            batch: self.batch as u32,
            round_blocks: self.round_blocks as u32,
            dropped_bits: self.dropped_bits,
        };
        Ok(Terms {
            accept,
            shape,
            answering,
            reveal: Reveal {
                evaluator: hello.output.verifier(),
                garbler: hello.output.holder(),
            },
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
