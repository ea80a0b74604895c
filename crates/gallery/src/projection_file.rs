//! The projection file both parties hold (spec §14), and the gallery's record of the
//! projection its rows were stored under.
//!
//! A projection file is JSON: `format` (`privface/projection/1`), `input_dim`, `output_dim`,
//! `energy` (the fraction of the fitting data's energy kept, when fitted), `sha256` (the
//! fingerprint below) and `matrix` (d′·d numbers, row-major). The fingerprint is
//! `SHA-256("privface/1 projection" ‖ LE32(d) ‖ LE32(d′) ‖ the matrix as LE f32)` in lowercase
//! hex: what operators compare, and what a gallery records so that rows projected differently
//! are never mixed.

use std::path::Path;

use privface_he::Projection;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Gallery, GalleryError, Result};

/// The format tag of a projection file.
pub const PROJECTION_FORMAT: &str = "privface/projection/1";

#[derive(Serialize, Deserialize)]
struct ProjectionFile {
    format: String,
    input_dim: usize,
    output_dim: usize,
    energy: Option<f64>,
    sha256: String,
    matrix: Vec<f32>,
}

/// The fingerprint of a projection (module documentation).
pub fn projection_fingerprint(p: &Projection) -> String {
    let mut h = Sha256::new();
    h.update(b"privface/1 projection");
    h.update((p.input_dim() as u32).to_le_bytes());
    h.update((p.output_dim() as u32).to_le_bytes());
    for v in p.matrix() {
        h.update(v.to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn file_err(path: &Path, reason: impl Into<String>) -> GalleryError {
    GalleryError::Format {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Writes `p` to `path` as a projection file.
pub fn write_projection(path: &Path, p: &Projection) -> Result<()> {
    let file = ProjectionFile {
        format: PROJECTION_FORMAT.into(),
        input_dim: p.input_dim(),
        output_dim: p.output_dim(),
        energy: p.energy(),
        sha256: projection_fingerprint(p),
        matrix: p.matrix().to_vec(),
    };
    let text = serde_json::to_string(&file).expect("a projection serialises");
    std::fs::write(path, text).map_err(|error| GalleryError::Read {
        path: path.display().to_string(),
        error,
    })
}

/// Reads a projection file, refusing another format, bad sizes, or a matrix whose fingerprint
/// is not the one recorded (a damaged or edited file).
pub fn read_projection(path: &Path) -> Result<Projection> {
    let text = std::fs::read_to_string(path).map_err(|error| GalleryError::Read {
        path: path.display().to_string(),
        error,
    })?;
    let file: ProjectionFile =
        serde_json::from_str(&text).map_err(|e| file_err(path, e.to_string()))?;
    if file.format != PROJECTION_FORMAT {
        return Err(file_err(path, format!("format `{}`", file.format)));
    }
    let p = Projection::new(file.input_dim, file.output_dim, file.matrix, file.energy)
        .map_err(|e| file_err(path, e.to_string()))?;
    if projection_fingerprint(&p) != file.sha256 {
        return Err(file_err(
            path,
            "the matrix does not match its recorded SHA-256",
        ));
    }
    Ok(p)
}

impl Gallery {
    /// The fingerprint of the projection the gallery's rows are stored under, if any.
    pub fn projection(&self) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT CAST(value AS TEXT) FROM meta WHERE key = 'projection'",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records that the gallery's rows are projected by `p` (its output dimension must be the
    /// gallery's); only while nobody is enrolled and no projection is recorded.
    pub fn set_projection(&mut self, p: &Projection) -> Result<()> {
        let refuse = |reason: String| {
            Err(GalleryError::Format {
                path: self.path.display().to_string(),
                reason,
            })
        };
        if p.output_dim() != self.dimension() {
            return refuse(format!(
                "a projection to {} dimensions for a gallery of dimension {}",
                p.output_dim(),
                self.dimension()
            ));
        }
        if self.projection()?.is_some() || self.count()? > 0 {
            return refuse("the projection of a gallery is set once, before any enrolment".into());
        }
        self.conn.execute(
            "INSERT INTO meta VALUES ('projection', ?1)",
            params![projection_fingerprint(p)],
        )?;
        Ok(())
    }

    /// Checks that embeddings projected by `p` (or not projected, for `None`) may be enrolled:
    /// the projection must be the one the gallery records.
    pub fn check_projection(&self, p: Option<&Projection>) -> Result<()> {
        let stored = self.projection()?;
        let given = p.map(projection_fingerprint);
        if stored == given {
            return Ok(());
        }
        let name = |f: &Option<String>| match f {
            Some(f) => format!("projection {}", &f[..16]),
            None => "no projection".to_owned(),
        };
        Err(GalleryError::Format {
            path: self.path.display().to_string(),
            reason: format!(
                "the gallery's rows are stored under {}, these embeddings under {}",
                name(&stored),
                name(&given)
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_projection_file_reads_back_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let p = Projection::new(3, 2, vec![1.0, 0.0, 0.0, 0.0, 0.6, 0.8], Some(0.9)).unwrap();
        write_projection(&path, &p).unwrap();
        assert_eq!(read_projection(&path).unwrap(), p);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("0.6", "0.61")).unwrap();
        let err = read_projection(&path).unwrap_err();
        assert!(err.to_string().contains("SHA-256"), "{err}");
    }

    #[test]
    fn a_gallery_takes_rows_of_its_own_projection_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Gallery::create(&dir.path().join("g.sqlite"), 2).unwrap();
        let p = Projection::new(3, 2, vec![1.0, 0.0, 0.0, 0.0, 0.6, 0.8], None).unwrap();
        let q = Projection::new(3, 2, vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0], None).unwrap();
        g.check_projection(None).unwrap();
        g.set_projection(&p).unwrap();
        assert_eq!(g.projection().unwrap(), Some(projection_fingerprint(&p)));
        g.check_projection(Some(&p)).unwrap();
        assert!(g.check_projection(Some(&q)).is_err());
        assert!(g.check_projection(None).is_err());
        assert!(g.set_projection(&q).is_err(), "set once");
        let wide = Projection::new(3, 3, vec![1.0; 9], None).unwrap();
        let mut h = Gallery::create(&dir.path().join("h.sqlite"), 2).unwrap();
        assert!(h.set_projection(&wide).is_err(), "dimension");
    }
}
