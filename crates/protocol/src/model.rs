//! The holder's classification models as the sessions see them (spec §13): a quantised linear
//! model, its class rows packed once for the HE step, and the session shape they imply.

use std::collections::BTreeMap;
use std::sync::Arc;

use privface_he::{
    GalleryMode, Layout, PackedGallery, ParameterSet, QuantisedModel, SessionShape, ShareBits,
    VectorCount, group_sizes, session_bytes,
};

use crate::error::{ProtocolError, Result};

/// The class a classification revealed: its index among the model's labels and the label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class {
    /// Index of the class (for a binary model: 1 when the logit is ≥ 0).
    pub index: u32,
    /// The model's label for it.
    pub label: String,
}

impl Class {
    /// The class of index `value` among `labels`; an index past them is the peer's doing.
    pub(crate) fn of(value: u32, labels: &[String]) -> Result<Self> {
        let label = labels.get(value as usize).ok_or(ProtocolError::Misbehaved(
            crate::PeerMisbehaved::ClassOutOfRange {
                index: value,
                labels: labels.len(),
            },
        ))?;
        Ok(Self {
            index: value,
            label: label.clone(),
        })
    }
}

/// The enrolled identity a who-identification names (spec §15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolled {
    /// Its identifier.
    pub id: String,
    /// Its label.
    pub label: String,
}

/// What a session revealed to one side: the bit (identification, verification and
/// who-identification: whether some score reached τ), the class (classification) or the
/// identity (who-identification with a match). All empty when the result went to the peer only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// Match or no match.
    pub bit: Option<bool>,
    /// The class.
    pub class: Option<Class>,
    /// The identity with the best score at or above τ.
    pub who: Option<Enrolled>,
}

/// The models a holder serves, by name.
pub type ModelSet = BTreeMap<String, Arc<HolderModel>>;

/// One model, packed for serving.
pub struct HolderModel {
    model: QuantisedModel,
    packed: Arc<PackedGallery>,
    shape: SessionShape,
}

impl std::fmt::Debug for HolderModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HolderModel")
            .field("model", &self.model)
            .field("group_size", &self.shape.layout.group_size())
            .field("share_bits", &self.shape.share_bits)
            .finish_non_exhaustive()
    }
}

impl HolderModel {
    /// Packs `model`'s class rows under `params` at the group size that moves the fewest bytes
    /// among those whose products stay exact for the model's rows (a weight row may reach
    /// ℓ1 = 127·d, beyond what a face quantiser produces, so small groups may not serve it) and
    /// that carry its share width.
    ///
    /// # Errors
    /// [`ProtocolError::Config`] when no group size serves the model.
    pub fn new(params: &ParameterSet, model: QuantisedModel) -> Result<Self> {
        let d = model.dimension();
        let k = model.share_bits();
        let classes = model.classes();
        let mut best: Option<(u64, SessionShape)> = None;
        for g in group_sizes(params, d) {
            let layout = Layout::new(params, d, g)?;
            if layout.max_row_l1() < model.max_row_l1() {
                continue;
            }
            let Ok(shape) = SessionShape::new(params, layout, k) else {
                continue;
            };
            let (up, down) = session_bytes(params, &layout, VectorCount(classes), ShareBits(k))?;
            if best.as_ref().is_none_or(|(b, _)| up + down < *b) {
                best = Some((up + down, shape));
            }
        }
        let Some((_, shape)) = best else {
            return Err(ProtocolError::Config(format!(
                "no group size at d = {d} keeps rows of ℓ1 norm {} exact with {k}-bit shares",
                model.max_row_l1()
            )));
        };
        let packed = PackedGallery::new(
            shape.layout,
            model.rows().to_vec(),
            GalleryMode::Pretransformed,
        )?;
        Ok(Self {
            model,
            packed: Arc::new(packed),
            shape,
        })
    }

    /// The quantised model.
    pub fn model(&self) -> &QuantisedModel {
        &self.model
    }

    /// The class rows, packed.
    pub fn packed(&self) -> &Arc<PackedGallery> {
        &self.packed
    }

    /// Layout, share width and switched modulus of this model's sessions.
    pub fn shape(&self) -> &SessionShape {
        &self.shape
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_weight_rows_get_a_group_size_that_keeps_them_exact() {
        // Every weight at ±max: rows of ℓ1 = 127·d, which g = 1 cannot keep exact at d = 512
        // under `default` (spec §6.2: L_max = 21,844).
        let params = ParameterSet::default_64();
        let d = 512;
        let weights: Vec<f32> = (0..2 * d)
            .map(|i| if i % 3 == 0 { -1.0 } else { 1.0 })
            .collect();
        let labels = vec!["no".to_string(), "yes".to_string()];
        let model = QuantisedModel::quantise(d, &weights, &[0.1, -0.1], labels, 1.0).unwrap();
        assert_eq!(model.max_row_l1(), 127 * d as u64);
        let held = HolderModel::new(&params, model).unwrap();
        let layout = held.shape().layout;
        assert!(
            layout.max_row_l1() >= 127 * d as u64,
            "g = {}",
            layout.group_size()
        );
        assert!(Layout::new(&params, d, 1).unwrap().max_row_l1() < 127 * d as u64);
        assert_eq!(held.shape().share_bits, held.model().share_bits());
    }
}
