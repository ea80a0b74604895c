//! # privface-gallery — the holder's enrolled identities
//!
//! One SQLite file per gallery: a `meta` table with the embedding dimension and a schema
//! version, and an `identities` table (id, label, quantised embedding, created time). Every
//! write is one transaction: an enrolment, a removal, or a whole bulk import, so a crash or a bad
//! row mid-import leaves the store as it was. Embeddings are validated (dimension, finite,
//! non-zero) and quantised with the dimension's [`Quantiser`] before they are stored; the float
//! values are not kept.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use privface_he::{HeError, Quantiser};
use rusqlite::{Connection, OptionalExtension, params};
use thiserror::Error;

/// Schema version stored in `meta`.
pub const SCHEMA_VERSION: i64 = 1;

/// Store errors.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GalleryError {
    /// SQLite failed.
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// Reading an import file failed.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// An embedding is invalid.
    #[error("record {record} ({id}): {source}")]
    Embedding {
        /// 1-based record number in the import (0 for a single enrolment).
        record: usize,
        /// Identity.
        id: String,
        /// What is wrong.
        source: HeError,
    },
    /// An import file is not in the expected format.
    #[error("{path}: {reason}")]
    Format {
        /// File.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The identity is already enrolled.
    #[error("identity `{0}` is already enrolled")]
    Duplicate(String),
    /// The file is not a privface gallery, or of another schema version.
    #[error("not a privface gallery (or another schema version): {0}")]
    NotAGallery(String),
}

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

/// An open gallery.
pub struct Gallery {
    conn: Connection,
    quantiser: Quantiser,
}

fn quantiser_for(dimension: usize) -> Result<Quantiser> {
    Quantiser::for_dimension(dimension).map_err(|source| GalleryError::Embedding {
        record: 0,
        id: String::new(),
        source,
    })
}

fn now() -> i64 {
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
        tx.commit()?;
        Ok(Self { conn, quantiser })
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
        Ok(Self { conn, quantiser })
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
        let x = q
            .quantise(&r.embedding)
            .map_err(|source| GalleryError::Embedding {
                record,
                id: r.id.clone(),
                source,
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

    /// Enrols one identity.
    pub fn enrol(&mut self, record: &Record) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::insert(&tx, &self.quantiser, 0, record, now())?;
        tx.commit()?;
        Ok(())
    }

    /// Enrols many identities atomically: all of them, or (on the first bad record) none.
    pub fn import(&mut self, records: impl IntoIterator<Item = Result<Record>>) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let created = now();
        let mut count = 0;
        for (i, r) in records.into_iter().enumerate() {
            Self::insert(&tx, &self.quantiser, i + 1, &r?, created)?;
            count += 1;
        }
        tx.commit()?;
        Ok(count)
    }

    /// Removes an identity; returns whether it existed.
    pub fn remove(&mut self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM identities WHERE id = ?1", params![id])?
            == 1)
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

    /// All (id, quantised embedding) pairs, ordered by id.
    pub fn load_quantised(&self) -> Result<Vec<(String, Vec<i8>)>> {
        let d = self.dimension();
        let mut stmt = self
            .conn
            .prepare("SELECT id, embedding FROM identities ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, bytes) = row?;
            if bytes.len() != d {
                return Err(GalleryError::Format {
                    path: "gallery".into(),
                    reason: format!("stored embedding of `{id}` has {} bytes", bytes.len()),
                });
            }
            out.push((id, bytes.into_iter().map(|b| b as i8).collect()));
        }
        Ok(out)
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| GalleryError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn format_err(path: &Path, reason: impl Into<String>) -> GalleryError {
    GalleryError::Format {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Reads a `.npy` float32 matrix (little-endian `<f4`, C order, shape (n, d)) and an id list
/// (one id per line, n lines) into records; labels are empty.
pub fn read_npy(npy: &Path, ids: &Path) -> Result<Vec<Record>> {
    let bytes = read(npy)?;
    let bad = |why: &str| format_err(npy, why);
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not an .npy file"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize,
            12,
        ),
        _ => return Err(bad("unsupported .npy version")),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + header_len)
            .ok_or_else(|| bad("truncated header"))?,
    )
    .map_err(|_| bad("header is not text"))?;
    let compact: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    if !compact.contains("'descr':'<f4'") {
        return Err(bad("dtype must be little-endian float32 ('<f4')"));
    }
    if !compact.contains("'fortran_order':False") {
        return Err(bad("Fortran order is not supported"));
    }
    let shape = compact
        .split("'shape':(")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| bad("bad shape")))
        .collect::<Result<_>>()?;
    let [n, d] = dims[..] else {
        return Err(bad("shape must be (n, d)"));
    };
    let data = &bytes[start + header_len..];
    if data.len() != n * d * 4 {
        return Err(bad(&format!(
            "{} data bytes for shape ({n}, {d})",
            data.len()
        )));
    }
    let ids_text = String::from_utf8(read(ids)?).map_err(|_| format_err(ids, "not UTF-8"))?;
    let id_list: Vec<&str> = ids_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if id_list.len() != n {
        return Err(format_err(
            ids,
            format!("{} ids for {n} matrix rows", id_list.len()),
        ));
    }
    Ok(id_list
        .iter()
        .zip(data.chunks_exact(4 * d.max(1)))
        .map(|(id, row)| Record {
            id: id.to_string(),
            label: String::new(),
            embedding: row
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect(),
        })
        .collect())
}

/// Reads CSV records: `id,label,v0,…,v(d−1)` per line (no quoting; a first line starting with
/// `id,` is a header and skipped).
pub fn read_csv(path: &Path) -> Result<Vec<Record>> {
    let text = String::from_utf8(read(path)?).map_err(|_| format_err(path, "not UTF-8"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || (i == 0 && line.starts_with("id,")) {
            continue;
        }
        let mut fields = line.split(',');
        let id = fields.next().unwrap_or_default().trim().to_owned();
        let label = fields
            .next()
            .ok_or_else(|| format_err(path, format!("line {}: no label", i + 1)))?
            .trim()
            .to_owned();
        let embedding = fields
            .map(|f| {
                f.trim()
                    .parse::<f32>()
                    .map_err(|_| format_err(path, format!("line {}: `{f}` is not a number", i + 1)))
            })
            .collect::<Result<_>>()?;
        out.push(Record {
            id,
            label,
            embedding,
        });
    }
    Ok(out)
}

#[derive(serde::Deserialize)]
struct JsonRecord {
    id: String,
    #[serde(default)]
    label: String,
    embedding: Vec<f32>,
}

/// Reads JSON-lines records: `{"id": …, "label": …, "embedding": […]}` per line.
pub fn read_jsonl(path: &Path) -> Result<Vec<Record>> {
    let text = String::from_utf8(read(path)?).map_err(|_| format_err(path, "not UTF-8"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let r: JsonRecord = serde_json::from_str(l)
                .map_err(|e| format_err(path, format!("line {}: {e}", i + 1)))?;
            Ok(Record {
                id: r.id,
                label: r.label,
                embedding: r.embedding,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, e: Vec<f32>) -> Record {
        Record {
            id: id.into(),
            label: format!("label {id}"),
            embedding: e,
        }
    }

    #[test]
    fn enrol_list_remove_count_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.sqlite");
        let mut g = Gallery::create(&path, 4).unwrap();
        g.enrol(&rec("b", vec![1.0, 0.0, 0.0, 0.0])).unwrap();
        g.enrol(&rec("a", vec![0.0, 2.0, 0.0, 0.0])).unwrap();
        assert!(matches!(
            g.enrol(&rec("a", vec![1.0; 4])),
            Err(GalleryError::Duplicate(_))
        ));
        assert_eq!(g.count().unwrap(), 2);
        assert_eq!(
            g.list()
                .unwrap()
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        drop(g);
        let mut g = Gallery::open(&path).unwrap();
        assert_eq!(g.dimension(), 4);
        let q = g.load_quantised().unwrap();
        assert_eq!(
            q[0].1,
            g.quantiser().quantise(&[0.0, 1.0, 0.0, 0.0]).unwrap()
        );
        assert!(g.remove("a").unwrap());
        assert!(!g.remove("a").unwrap());
        assert_eq!(g.count().unwrap(), 1);
        assert!(Gallery::create(&path, 4).is_err());
        assert!(Gallery::open(&dir.path().join("none")).is_err());
    }

    #[test]
    fn a_bad_record_mid_import_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Gallery::create(&dir.path().join("g.sqlite"), 3).unwrap();
        g.enrol(&rec("keep", vec![1.0, 2.0, 3.0])).unwrap();
        for bad in [
            rec("x", vec![f32::NAN, 0.0, 0.0]),
            rec("x", vec![0.0; 3]),
            rec("x", vec![1.0; 4]),
            rec("keep", vec![1.0; 3]),
        ] {
            let records = vec![
                Ok(rec("n1", vec![1.0; 3])),
                Ok(bad),
                Ok(rec("n2", vec![2.0; 3])),
            ];
            let err = g.import(records).unwrap_err();
            assert!(
                matches!(
                    err,
                    GalleryError::Embedding { record: 2, .. } | GalleryError::Duplicate(_)
                ),
                "{err}"
            );
            assert_eq!(
                g.count().unwrap(),
                1,
                "nothing of a failed import is stored"
            );
        }
        assert_eq!(
            g.import(vec![
                Ok(rec("n1", vec![1.0; 3])),
                Ok(rec("n2", vec![2.0, 1.0, 0.0]))
            ])
            .unwrap(),
            2
        );
        assert_eq!(g.count().unwrap(), 3);
    }

    #[test]
    fn import_formats() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n);
        // .npy: shape (2, 3), float32.
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let mut padded = header.to_string();
        while (10 + padded.len() + 1) % 64 != 0 {
            padded.push(' ');
        }
        padded.push('\n');
        let mut npy = b"\x93NUMPY\x01\x00".to_vec();
        npy.extend((padded.len() as u16).to_le_bytes());
        npy.extend(padded.as_bytes());
        for v in [1.0f32, 0.0, 0.0, 0.0, 1.0, 0.5] {
            npy.extend(v.to_le_bytes());
        }
        std::fs::write(p("m.npy"), &npy).unwrap();
        std::fs::write(p("ids.txt"), "alice\nbob\n").unwrap();
        let r = read_npy(&p("m.npy"), &p("ids.txt")).unwrap();
        assert_eq!(
            r[1],
            Record {
                id: "bob".into(),
                label: String::new(),
                embedding: vec![0.0, 1.0, 0.5]
            }
        );
        std::fs::write(p("ids.txt"), "alice\n").unwrap();
        assert!(read_npy(&p("m.npy"), &p("ids.txt")).is_err());
        std::fs::write(p("bad.npy"), &npy[..npy.len() - 1]).unwrap();
        assert!(read_npy(&p("bad.npy"), &p("ids.txt")).is_err());
        // CSV with header, JSON lines.
        std::fs::write(p("g.csv"), "id,label,v0,v1,v2\nc,Carol,0.1,0.2,0.3\n").unwrap();
        assert_eq!(
            read_csv(&p("g.csv")).unwrap()[0].embedding,
            vec![0.1, 0.2, 0.3]
        );
        std::fs::write(p("bad.csv"), "c,Carol,0.1,zz,0.3\n").unwrap();
        assert!(read_csv(&p("bad.csv")).is_err());
        std::fs::write(
            p("g.jsonl"),
            "{\"id\":\"d\",\"label\":\"Dan\",\"embedding\":[0,1,0]}\n",
        )
        .unwrap();
        assert_eq!(read_jsonl(&p("g.jsonl")).unwrap()[0].id, "d");
        std::fs::write(p("bad.jsonl"), "{\"id\":\"d\"}\n").unwrap();
        assert!(read_jsonl(&p("bad.jsonl")).is_err());
    }
}
