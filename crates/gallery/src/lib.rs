//! # privface-gallery — the holder's enrolled identities
//!
//! One SQLite file per gallery: a `meta` table with the embedding dimension and a schema
//! version, an `identities` table (id, label, quantised embedding, created time), and the
//! holder's query [`Ledger`] (`budget` and `audit` tables), and the classification models it
//! serves (`models`, see [`Gallery::import_model`]). Every
//! write is one transaction: an enrolment, a removal, or a whole bulk import, so a crash or a bad
//! row mid-import leaves the store as it was. Every write also bumps the gallery's generation;
//! an import then rewrites the quantised rows beside the database (`<file>.rows`, see
//! [`RowsFile`]) for holders that stream the gallery instead of holding it in memory. Embeddings are validated (dimension, finite,
//! non-zero) and quantised with the dimension's [`Quantiser`] before they are stored; the float
//! values are not kept.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use privface_he::Quantiser;
use rusqlite::{Connection, OptionalExtension, params};

mod error;
mod ledger;
mod models;
mod projection_file;
mod readers;
mod rows_file;

pub use error::GalleryError;

pub use ledger::{AuditEntry, ClientUsage, Ledger, QueryEntry};

pub use models::{ModelInfo, read_model, read_projected_model};
pub use projection_file::{
    PROJECTION_FORMAT, projection_fingerprint, read_projection, write_projection,
};
pub use readers::{
    parse_csv, parse_f32_npy, parse_jsonl, parse_npy, read_csv, read_f32_npy, read_jsonl, read_npy,
};
pub use rows_file::{RowsFile, rows_path};

/// Schema version stored in `meta`.
pub const SCHEMA_VERSION: i64 = 1;

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, GalleryError>;

/// One enrolled identity, without its embedding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Identifier.
    pub id: String,
    /// Free-form label.
    pub label: String,
    /// Enrolment time, seconds since the Unix epoch.
    pub created: i64,
}

/// A record to enrol.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Identifier (unique).
    pub id: String,
    /// Label.
    pub label: String,
    /// Float embedding (any non-zero length-d vector; it is normalised).
    pub embedding: Vec<f32>,
}

/// The quantised gallery as the holder serves it: ids in order and their rows back to back.
#[derive(Clone, PartialEq, Eq)]
pub struct QuantisedRows {
    /// Embedding dimension d.
    pub dimension: usize,
    /// Identities, in row order.
    pub ids: Vec<String>,
    /// The rows, d bytes each, in the order of `ids`.
    pub rows: Vec<i8>,
}

impl QuantisedRows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[i8] {
        &self.rows[i * self.dimension..(i + 1) * self.dimension]
    }

    /// (id, row) pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[i8])> {
        self.ids
            .iter()
            .map(String::as_str)
            .zip(self.rows.chunks_exact(self.dimension.max(1)))
    }
}

impl std::fmt::Debug for QuantisedRows {
    // The rows are templates: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuantisedRows")
            .field("dimension", &self.dimension)
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// An open gallery.
#[derive(Debug)]
pub struct Gallery {
    conn: Connection,
    quantiser: Quantiser,
    /// The database file (the rows file lives beside it).
    path: PathBuf,
}

fn quantiser_for(dimension: usize) -> Result<Quantiser> {
    Quantiser::for_dimension(dimension).map_err(GalleryError::Dimension)
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Gallery {
    /// Creates a new gallery file for dimension `dimension` (fails if the file exists).
    pub fn create(path: &Path, dimension: usize) -> Result<Self> {
        if path.exists() {
            return Err(GalleryError::NotAGallery(format!(
                "{} already exists",
                path.display()
            )));
        }
        let quantiser = quantiser_for(dimension)?;
        // The file holds templates: create it owner-only before SQLite opens it (SQLite gives
        // its journal files the database file's permissions).
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path).map_err(|error| GalleryError::Read {
            path: path.display().to_string(),
            error,
        })?;
        let mut conn = Connection::open(path)?;
        let tx = conn.transaction()?;
        tx.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
             CREATE TABLE identities (
                 id TEXT PRIMARY KEY,
                 label TEXT NOT NULL,
                 embedding BLOB NOT NULL,
                 created INTEGER NOT NULL
             );",
        )?;
        tx.execute(
            "INSERT INTO meta VALUES ('schema', ?1)",
            params![SCHEMA_VERSION],
        )?;
        tx.execute(
            "INSERT INTO meta VALUES ('dimension', ?1)",
            params![dimension as i64],
        )?;
        tx.execute(
            "INSERT INTO meta VALUES ('scale_f32_bits', ?1)",
            params![quantiser.scale().to_bits() as i64],
        )?;
        tx.commit()?;
        Ok(Self {
            conn,
            quantiser,
            path: path.to_owned(),
        })
    }

    /// Opens an existing gallery.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(GalleryError::NotAGallery(format!(
                "{} does not exist",
                path.display()
            )));
        }
        let conn = Connection::open(path)?;
        let meta = |key: &str| -> Result<Option<i64>> {
            Ok(conn
                .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| {
                    r.get(0)
                })
                .optional()?)
        };
        let bad = || GalleryError::NotAGallery(path.display().to_string());
        let schema = meta("schema").map_err(|_| bad())?.ok_or_else(bad)?;
        if schema != SCHEMA_VERSION {
            return Err(bad());
        }
        let dimension = meta("dimension").map_err(|_| bad())?.ok_or_else(bad)? as usize;
        let quantiser = quantiser_for(dimension)?;
        // Galleries written before the scale was recorded were quantised at this scale: the
        // quantiser has not changed since schema 1.
        if let Some(bits) = meta("scale_f32_bits").map_err(|_| bad())? {
            let stored = f32::from_bits(bits as u32);
            if stored.to_bits() != quantiser.scale().to_bits() {
                return Err(GalleryError::ScaleChanged {
                    dimension,
                    stored,
                    current: quantiser.scale(),
                });
            }
        }
        Ok(Self {
            conn,
            quantiser,
            path: path.to_owned(),
        })
    }

    /// The write generation: bumped by every committed enrolment, import and removal (0 for a
    /// gallery never written since generations were recorded).
    pub fn generation(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'generation'", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .unwrap_or(0) as u64)
    }

    fn bump_generation(tx: &rusqlite::Transaction<'_>) -> Result<()> {
        tx.execute(
            "INSERT INTO meta VALUES ('generation', 1)
             ON CONFLICT(key) DO UPDATE SET value = value + 1",
            [],
        )?;
        Ok(())
    }

    /// Embedding dimension.
    pub fn dimension(&self) -> usize {
        self.quantiser.dimension()
    }

    /// The quantiser embeddings are stored with.
    pub fn quantiser(&self) -> &Quantiser {
        &self.quantiser
    }

    fn insert(
        tx: &rusqlite::Transaction<'_>,
        q: &Quantiser,
        record: usize,
        r: &Record,
        created: i64,
    ) -> Result<()> {
        if r.id.trim().is_empty() {
            return Err(GalleryError::EmptyId { record });
        }
        let x = q
            .quantise(&r.embedding)
            .map_err(|error| GalleryError::Embedding {
                record,
                id: r.id.clone(),
                error,
            })?;
        let bytes: Vec<u8> = x.iter().map(|&v| v as u8).collect();
        let n = tx.execute(
            "INSERT OR IGNORE INTO identities (id, label, embedding, created) VALUES (?1, ?2, ?3, ?4)",
            params![r.id, r.label, bytes, created],
        )?;
        if n == 0 {
            return Err(GalleryError::Duplicate(r.id.clone()));
        }
        Ok(())
    }

    /// Enrols one identity. (The rows file is left behind the database: it is rebuilt when
    /// a holder next opens the gallery for streaming, not rewritten per enrolment.)
    pub fn enrol(&mut self, record: &Record) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::insert(&tx, &self.quantiser, 0, record, now())?;
        Self::bump_generation(&tx)?;
        tx.commit()?;
        Ok(())
    }

    /// Enrols many identities atomically: all of them, or (on the first bad record) none;
    /// then rewrites the rows file (atomically: a crash leaves the old file, which is behind
    /// the database's generation and rebuilt when next opened for streaming).
    pub fn import(&mut self, records: impl IntoIterator<Item = Result<Record>>) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let created = now();
        let mut count = 0;
        for (i, r) in records.into_iter().enumerate() {
            Self::insert(&tx, &self.quantiser, i + 1, &r?, created)?;
            count += 1;
        }
        Self::bump_generation(&tx)?;
        tx.commit()?;
        self.write_rows_file()?;
        Ok(count)
    }

    /// Removes an identity; returns whether it existed. (As for [`Gallery::enrol`], the rows
    /// file is rebuilt when next opened for streaming.)
    pub fn remove(&mut self, id: &str) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let removed = tx.execute("DELETE FROM identities WHERE id = ?1", params![id])? == 1;
        if removed {
            Self::bump_generation(&tx)?;
        }
        tx.commit()?;
        Ok(removed)
    }

    /// Every identity, ordered by id (the row order of [`Gallery::load_quantised`] and of the
    /// rows file).
    pub fn load_ids(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT id FROM identities ORDER BY id")?;
        let ids = stmt.query_map([], |r| r.get(0))?;
        Ok(ids.collect::<rusqlite::Result<_>>()?)
    }

    /// Every identity's label, ordered by id (the row order of [`Gallery::load_quantised`]).
    pub fn load_labels(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT label FROM identities ORDER BY id")?;
        let labels = stmt.query_map([], |r| r.get(0))?;
        Ok(labels.collect::<rusqlite::Result<_>>()?)
    }

    /// Number of enrolled identities.
    pub fn count(&self) -> Result<usize> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM identities", [], |r| {
                r.get::<_, i64>(0)
            })? as usize)
    }

    /// All identities, ordered by id.
    pub fn list(&self) -> Result<Vec<Identity>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, label, created FROM identities ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(Identity {
                id: r.get(0)?,
                label: r.get(1)?,
                created: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every identity's quantised embedding, ordered by id, as one flat row-major array.
    pub fn load_quantised(&self) -> Result<QuantisedRows> {
        let d = self.dimension();
        let n = self.count()?;
        let mut stmt = self
            .conn
            .prepare("SELECT id, embedding FROM identities ORDER BY id")?;
        let mut rows = stmt.query([])?;
        let mut out = QuantisedRows {
            dimension: d,
            ids: Vec::with_capacity(n),
            rows: Vec::with_capacity(n * d),
        };
        while let Some(row) = rows.next()? {
            let id: String = row.get(0)?;
            let bytes = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            if bytes.len() != d {
                return Err(GalleryError::Corrupt {
                    id,
                    len: bytes.len(),
                    dimension: d,
                });
            }
            out.rows.extend(bytes.iter().map(|&b| b as i8));
            out.ids.push(id);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
