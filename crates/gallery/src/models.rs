//! The holder's classification models, beside the gallery in the same SQLite file (spec §13):
//! each stored quantised, as the sessions use it (the class rows as signed bytes, the biases on
//! the score scale, both scales and the labels). The float weights are not kept. A model is
//! imported or removed in one transaction; the table is created on first use, so galleries
//! of every schema gain it.

use std::path::Path;

use privface_he::{Projection, QuantisedModel};
use rusqlite::{OptionalExtension, params};

use crate::readers::read_f32_npy;
use crate::{Gallery, GalleryError, Result, now};

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS models (
        name TEXT PRIMARY KEY,
        dimension INTEGER NOT NULL,
        input_scale_f32_bits INTEGER NOT NULL,
        weight_scale_f32_bits INTEGER NOT NULL,
        rows BLOB NOT NULL,
        biases BLOB NOT NULL,
        labels TEXT NOT NULL,
        created INTEGER NOT NULL
    );";

/// A stored model, without its weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    /// Name the verifier asks for.
    pub name: String,
    /// Input dimension d.
    pub dimension: usize,
    /// Class rows C.
    pub classes: usize,
    /// The labels.
    pub labels: Vec<String>,
    /// Import time, seconds since the Unix epoch.
    pub created: i64,
}

fn model_err(name: &str, reason: impl Into<String>) -> GalleryError {
    GalleryError::Model {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// A float model as read from its files: (d, weights C × d, biases, labels).
type FloatModel = (usize, Vec<f32>, Vec<f32>, Vec<String>);

fn read_float_model(name: &str, weights: &Path, bias: &Path, labels: &Path) -> Result<FloatModel> {
    let (w_shape, w) = read_f32_npy(weights)?;
    let (b_shape, b) = read_f32_npy(bias)?;
    let [classes, dimension] = w_shape[..] else {
        return Err(model_err(
            name,
            format!("weights of shape {w_shape:?}, not (C, d)"),
        ));
    };
    if b_shape != [classes] {
        return Err(model_err(
            name,
            format!("bias of shape {b_shape:?} for {classes} classes"),
        ));
    }
    let text = std::fs::read_to_string(labels).map_err(|error| GalleryError::Read {
        path: labels.display().to_string(),
        error,
    })?;
    let labels: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    Ok((dimension, w, b, labels))
}

/// Reads a float model from files: `weights` a C × d float32 `.npy`, `bias` a float32 `.npy`
/// of C values, `labels` one label per line (C lines, or 2 for C = 1), and quantises it for
/// inputs whose every component lies in [−`input_bound`, `input_bound`] (spec §13.1).
pub fn read_model(
    name: &str,
    weights: &Path,
    bias: &Path,
    labels: &Path,
    input_bound: f32,
) -> Result<QuantisedModel> {
    let (dimension, w, b, labels) = read_float_model(name, weights, bias, labels)?;
    QuantisedModel::quantise(dimension, &w, &b, labels, input_bound)
        .map_err(|e| model_err(name, e.to_string()))
}

/// [`read_model`] for inputs projected by `projection` (spec §14): every weight row w_c
/// becomes P·w_c, so that ⟨P·w_c, P·x⟩ = ⟨w_c, PᵀP·x⟩ ≈ ⟨w_c, x⟩ for inputs near the kept
/// subspace; `input_bound` bounds the projected inputs.
pub fn read_projected_model(
    name: &str,
    weights: &Path,
    bias: &Path,
    labels: &Path,
    input_bound: f32,
    projection: &Projection,
) -> Result<QuantisedModel> {
    let (dimension, w, b, labels) = read_float_model(name, weights, bias, labels)?;
    if dimension != projection.input_dim() {
        return Err(model_err(
            name,
            format!(
                "weights of dimension {dimension}, a projection from {}",
                projection.input_dim()
            ),
        ));
    }
    let projected: Vec<f32> = w
        .chunks_exact(dimension)
        .map(|row| projection.apply(row))
        .collect::<privface_he::Result<Vec<_>>>()
        .map_err(|e| model_err(name, e.to_string()))?
        .concat();
    QuantisedModel::quantise(projection.output_dim(), &projected, &b, labels, input_bound)
        .map_err(|e| model_err(name, e.to_string()))
}

impl Gallery {
    fn models_table(&self) -> Result<()> {
        self.conn.execute_batch(SCHEMA)?;
        Ok(())
    }

    /// Stores `model` as `name`; refuses a name already taken (remove it first).
    pub fn import_model(&mut self, name: &str, model: &QuantisedModel) -> Result<()> {
        if name.trim().is_empty() {
            return Err(model_err(name, "empty name"));
        }
        self.models_table()?;
        let rows: Vec<u8> = model.rows().iter().map(|&v| v as u8).collect();
        let biases: Vec<u8> = model
            .biases()
            .iter()
            .flat_map(|b| b.to_le_bytes())
            .collect();
        let labels = serde_json::to_string(model.labels()).expect("strings serialise");
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "INSERT OR IGNORE INTO models VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                name,
                model.dimension() as i64,
                model.input().scale().to_bits() as i64,
                model.weight_scale().to_bits() as i64,
                rows,
                biases,
                labels,
                now()
            ],
        )?;
        if n == 0 {
            return Err(model_err(name, "a model of this name is stored already"));
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes the model `name`; returns whether it existed.
    pub fn remove_model(&mut self, name: &str) -> Result<bool> {
        self.models_table()?;
        Ok(self
            .conn
            .execute("DELETE FROM models WHERE name = ?1", params![name])?
            == 1)
    }

    /// Every stored model, by name.
    pub fn models(&self) -> Result<Vec<ModelInfo>> {
        self.models_table()?;
        let mut stmt = self
            .conn
            .prepare("SELECT name, dimension, biases, labels, created FROM models ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (name, dimension, biases, labels, created) = row?;
            let labels: Vec<String> = serde_json::from_str(&labels)
                .map_err(|e| model_err(&name, format!("stored labels: {e}")))?;
            Ok(ModelInfo {
                name,
                dimension: dimension as usize,
                classes: biases.len() / 8,
                labels,
                created,
            })
        })
        .collect()
    }

    /// The model stored as `name`, checked as it was when imported.
    pub fn load_model(&self, name: &str) -> Result<Option<QuantisedModel>> {
        self.models_table()?;
        let row = self
            .conn
            .query_row(
                "SELECT dimension, input_scale_f32_bits, weight_scale_f32_bits, rows, biases, labels
                 FROM models WHERE name = ?1",
                params![name],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Vec<u8>>(3)?,
                        r.get::<_, Vec<u8>>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((dimension, input_bits, weight_bits, rows, biases, labels)) = row else {
            return Ok(None);
        };
        if biases.len() % 8 != 0 {
            return Err(model_err(name, "stored biases are damaged"));
        }
        let biases = biases
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        let labels: Vec<String> = serde_json::from_str(&labels)
            .map_err(|e| model_err(name, format!("stored labels: {e}")))?;
        QuantisedModel::from_parts(
            dimension as usize,
            f32::from_bits(input_bits as u32),
            f32::from_bits(weight_bits as u32),
            rows.into_iter().map(|b| b as i8).collect(),
            biases,
            labels,
        )
        .map(Some)
        .map_err(|e| model_err(name, format!("stored model: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(bias: f32) -> QuantisedModel {
        let labels = vec!["cat".to_string(), "dog".to_string(), "neither".to_string()];
        let w: Vec<f32> = (0..12).map(|i| i as f32 / 10.0 - 0.5).collect();
        QuantisedModel::quantise(4, &w, &[bias, 0.0, -bias], labels, 2.0).unwrap()
    }

    #[test]
    fn a_model_reads_back_as_stored_and_names_are_unique() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.sqlite");
        let mut g = Gallery::create(&db, 8).unwrap();
        assert!(g.models().unwrap().is_empty());
        g.import_model("pets", &model(0.25)).unwrap();
        let again = g.import_model("pets", &model(0.5)).unwrap_err();
        assert!(again.to_string().contains("stored already"), "{again}");
        drop(g);
        let mut g = Gallery::open(&db).unwrap();
        assert_eq!(g.load_model("pets").unwrap(), Some(model(0.25)));
        assert_eq!(g.load_model("cars").unwrap(), None);
        let listed = g.models().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].dimension, listed[0].classes), (4, 3));
        assert_eq!(listed[0].labels, ["cat", "dog", "neither"]);
        assert!(g.remove_model("pets").unwrap());
        assert!(!g.remove_model("pets").unwrap());
        assert_eq!(g.load_model("pets").unwrap(), None);
    }

    #[test]
    fn a_damaged_stored_model_is_refused_not_served() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.sqlite");
        let mut g = Gallery::create(&db, 8).unwrap();
        g.import_model("pets", &model(0.25)).unwrap();
        // One class row byte short: the rows no longer match C × d.
        g.conn
            .execute("UPDATE models SET rows = substr(rows, 2)", [])
            .unwrap();
        let err = g.load_model("pets").unwrap_err();
        assert!(matches!(err, GalleryError::Model { .. }), "{err}");
    }
}
