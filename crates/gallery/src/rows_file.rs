//! The quantised rows beside the SQLite file (`<gallery>.rows`), for holders that stream a
//! gallery larger than memory.
//!
//! Layout: a 72-byte header — the magic `privface-rows\0\0\0`, format version (u32 LE),
//! dimension (u32 LE), row count (u64 LE), the gallery's write generation (u64 LE) and the
//! SHA-256 of the row bytes — then the rows, d bytes each, in identity order (the order of
//! [`Gallery::load_quantised`]). Every committed write to the gallery bumps its generation
//! and rewrites the file through a temporary file, fsync and rename, so the file is either the
//! old one or the new one; a file whose generation, count or dimension differs from the
//! database's (a crash between the commit and the rename) is rebuilt from the database when
//! the gallery is opened for streaming, and one whose digest differs is refused.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use privface_he::RowSource;
use sha2::{Digest, Sha256};

use crate::{Gallery, GalleryError, Result};

const MAGIC: &[u8; 16] = b"privface-rows\0\0\0";
const VERSION: u32 = 1;
/// Bytes before the first row.
pub const HEADER_BYTES: u64 = 72;

/// The header of a rows file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Header {
    dimension: usize,
    count: usize,
    generation: u64,
    digest: [u8; 32],
}

impl Header {
    fn encode(&self) -> [u8; HEADER_BYTES as usize] {
        let mut out = [0u8; HEADER_BYTES as usize];
        out[..16].copy_from_slice(MAGIC);
        out[16..20].copy_from_slice(&VERSION.to_le_bytes());
        out[20..24].copy_from_slice(&(self.dimension as u32).to_le_bytes());
        out[24..32].copy_from_slice(&(self.count as u64).to_le_bytes());
        out[32..40].copy_from_slice(&self.generation.to_le_bytes());
        out[40..72].copy_from_slice(&self.digest);
        out
    }

    fn decode(bytes: &[u8; HEADER_BYTES as usize]) -> Option<Self> {
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let long = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        if &bytes[..16] != MAGIC || word(16) != VERSION {
            return None;
        }
        Some(Self {
            dimension: word(20) as usize,
            count: usize::try_from(long(24)).ok()?,
            generation: long(32),
            digest: bytes[40..72].try_into().expect("32 bytes"),
        })
    }
}

/// The rows file of the gallery at `db`.
pub fn rows_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".rows");
    PathBuf::from(name)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> GalleryError + '_ {
    move |error| GalleryError::Read {
        path: path.display().to_string(),
        error,
    }
}

/// An open, checked rows file: the [`RowSource`] of a streamed gallery.
#[derive(Debug)]
pub struct RowsFile {
    file: File,
    path: PathBuf,
    dimension: usize,
    count: usize,
}

impl RowsFile {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when the file holds no row.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl RowSource for RowsFile {
    fn rows(&self) -> usize {
        self.count
    }

    fn read_rows(&self, first: usize, out: &mut [i8]) -> std::io::Result<()> {
        let d = self.dimension;
        if !out.len().is_multiple_of(d) || first + out.len() / d > self.count {
            return Err(std::io::Error::other(format!(
                "rows {first}..{} past the {} stored",
                first + out.len() / d,
                self.count
            )));
        }
        let at = HEADER_BYTES + (first * d) as u64;
        self.file.read_exact_at(bytemuck::cast_slice_mut(out), at)
    }
}

impl Gallery {
    /// Rewrites the rows file from the database: into `<file>.tmp` (owner-only), fsynced,
    /// then renamed over the old one and the directory fsynced.
    pub(crate) fn write_rows_file(&self) -> Result<()> {
        let path = rows_path(&self.path);
        let tmp = {
            let mut name = path.as_os_str().to_owned();
            name.push(".tmp");
            PathBuf::from(name)
        };
        let d = self.dimension();
        let generation = self.generation()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&tmp).map_err(io(&tmp))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&[0u8; HEADER_BYTES as usize])
            .map_err(io(&tmp))?;
        let mut hash = Sha256::new();
        let mut count = 0usize;
        let mut stmt = self
            .conn
            .prepare("SELECT id, embedding FROM identities ORDER BY id")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let bytes = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            if bytes.len() != d {
                return Err(GalleryError::Corrupt {
                    id: row.get(0)?,
                    len: bytes.len(),
                    dimension: d,
                });
            }
            hash.update(bytes);
            out.write_all(bytes).map_err(io(&tmp))?;
            count += 1;
        }
        let header = Header {
            dimension: d,
            count,
            generation,
            digest: hash.finalize().into(),
        };
        let mut file = out.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(io(&tmp))?;
        file.write_all(&header.encode()).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io(dir))?;
        }
        Ok(())
    }

    /// Opens the rows file for streaming, with the identities in row order: the header must
    /// match the database (dimension, count, generation) — if not, the file is rebuilt from
    /// the database first — and the rows must hash to the header's digest.
    ///
    /// # Errors
    /// [`GalleryError::Read`] for I/O, [`GalleryError::RowsFile`] when the rows do not match
    /// their digest (the file was damaged after it was written).
    pub fn open_rows(&self) -> Result<(Vec<String>, RowsFile)> {
        let path = rows_path(&self.path);
        let ids = self.load_ids()?;
        let expected = (self.dimension(), ids.len(), self.generation()?);
        let header = read_header(&path)?;
        let current = header
            .as_ref()
            .is_some_and(|h| (h.dimension, h.count, h.generation) == expected);
        if !current {
            tracing::warn!(file = %path.display(), "rows file missing or behind the database; rebuilding it");
            self.write_rows_file()?;
        }
        let header = read_header(&path)?.ok_or_else(|| GalleryError::RowsFile {
            path: path.display().to_string(),
            reason: "no valid header after a rebuild".into(),
        })?;
        // Another process may have written the gallery since the identities were read.
        if (header.dimension, header.count, header.generation) != expected {
            return Err(GalleryError::RowsFile {
                path: path.display().to_string(),
                reason: "the gallery changed while it was being opened; open it again".into(),
            });
        }
        let mut file = File::open(&path).map_err(io(&path))?;
        let d = header.dimension;
        let want = HEADER_BYTES + (header.count * d) as u64;
        let size = file.metadata().map_err(io(&path))?.len();
        if size != want {
            return Err(GalleryError::RowsFile {
                path: path.display().to_string(),
                reason: format!(
                    "{size} bytes, expected {want} (damaged; delete it to rebuild it from the database)"
                ),
            });
        }
        file.seek(SeekFrom::Start(HEADER_BYTES))
            .map_err(io(&path))?;
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut left = (header.count * d) as u64;
        while left > 0 {
            let take = buf.len().min(left as usize);
            file.read_exact(&mut buf[..take]).map_err(io(&path))?;
            hash.update(&buf[..take]);
            left -= take as u64;
        }
        if <[u8; 32]>::from(hash.finalize()) != header.digest {
            return Err(GalleryError::RowsFile {
                path: path.display().to_string(),
                reason: "rows do not match their digest (damaged after they were written; \
                         delete the file to rebuild it from the database)"
                    .into(),
            });
        }
        Ok((
            ids,
            RowsFile {
                file,
                path,
                dimension: d,
                count: header.count,
            },
        ))
    }
}

/// The file's header, or None when it is missing or not a rows file.
fn read_header(path: &Path) -> Result<Option<Header>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let mut bytes = [0u8; HEADER_BYTES as usize];
    match file.read_exact(&mut bytes) {
        Ok(()) => Ok(Header::decode(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}
