//! The store's errors.

use privface_he::HeError;
use thiserror::Error;

/// Store errors.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GalleryError {
    /// SQLite failed.
    #[error("database: {0}")]
    Db(rusqlite::Error),
    /// Reading an import file failed.
    #[error("reading {path}: {error}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        error: std::io::Error,
    },
    /// The gallery's dimension has no quantiser.
    #[error("unsupported dimension: {0}")]
    Dimension(HeError),
    /// An embedding is invalid.
    #[error("identity `{id}`{}: {error}", import_position(*.record))]
    Embedding {
        /// 1-based record number in the import (0 for a single enrolment).
        record: usize,
        /// Identity.
        id: String,
        /// What is wrong.
        error: HeError,
    },
    /// An import file is not in the expected format.
    #[error("{path}: {reason}")]
    Format {
        /// File.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A record without an identifier.
    #[error("record {record} has an empty id")]
    EmptyId {
        /// 1-based record number in the import (0 for a single enrolment).
        record: usize,
    },
    /// The identity is already enrolled.
    #[error("identity `{0}` is already enrolled")]
    Duplicate(String),
    /// The gallery was quantised at another scale than this build quantises its dimension at
    /// (its scores would not be the ones the spec defines).
    #[error(
        "gallery quantised at scale {stored}, this build quantises dimension {dimension} at {current}"
    )]
    ScaleChanged {
        /// The gallery's dimension.
        dimension: usize,
        /// The scale recorded in the gallery.
        stored: f32,
        /// The scale of this build.
        current: f32,
    },
    /// A stored row is damaged.
    #[error("stored embedding of `{id}` has {len} bytes, not the gallery's dimension {dimension}")]
    Corrupt {
        /// Identity.
        id: String,
        /// Bytes stored.
        len: usize,
        /// The gallery's dimension.
        dimension: usize,
    },
    /// No charged query has this audit id.
    #[error("no charged query {0} in the audit log")]
    UnknownQuery(i64),
    /// The rows file beside the gallery is damaged.
    #[error("{path}: {reason}")]
    RowsFile {
        /// File.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A classification model could not be stored or read back.
    #[error("model `{name}`: {reason}")]
    Model {
        /// The model's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The file is not a privface gallery, or of another schema version.
    #[error("not a privface gallery (or another schema version): {0}")]
    NotAGallery(String),
}

fn import_position(record: usize) -> String {
    if record == 0 {
        String::new()
    } else {
        format!(" (record {record} of the import)")
    }
}

// Not `#[from]`: each message includes the wrapped error, so no variant repeats it as its
// `source()` (a chain printed with `{:#}` says everything once).
impl From<rusqlite::Error> for GalleryError {
    fn from(e: rusqlite::Error) -> Self {
        GalleryError::Db(e)
    }
}
