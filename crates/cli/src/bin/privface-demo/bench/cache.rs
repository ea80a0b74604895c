//! The streamed bench gallery: synthetic identities generated once, directly as quantised
//! rows, into a cache file that later runs reuse (a 10^7 × 512 gallery is 5.1 GB of rows and
//! about a minute of generation; its pretransformed form would be 41 GB).
//!
//! File: the magic `privface-synth1\0`, n and d (u64 LE), the genuine probe (d f32 LE), then
//! the n rows (d bytes each). Written to a temporary file and renamed, so a run that stops
//! midway leaves no half file behind.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use privface_cli::SyntheticFaces;
use privface_he::{Quantiser, RowSource};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;

const MAGIC: &[u8; 16] = b"privface-synth1\0";
/// Rows generated per seeded piece (in parallel, written in order).
const PIECE: usize = 1 << 16;

/// The cached rows of one (n, d): a [`RowSource`] over the file.
pub(super) struct CachedRows {
    file: File,
    n: usize,
    d: usize,
    offset: u64,
    /// The genuine probe: a fresh capture of identity n/2.
    pub probe: Vec<f32>,
}

impl RowSource for CachedRows {
    fn rows(&self) -> usize {
        self.n
    }

    fn read_rows(&self, first: usize, out: &mut [i8]) -> std::io::Result<()> {
        if first * self.d + out.len() > self.n * self.d {
            return Err(std::io::Error::other("rows past the cache"));
        }
        self.file.read_exact_at(
            bytemuck::cast_slice_mut(out),
            self.offset + (first * self.d) as u64,
        )
    }
}

fn path_for(dir: &Path, n: usize, d: usize) -> PathBuf {
    dir.join(format!("synthetic-n{n}-d{d}.rows"))
}

/// Opens the cache for (n, d) under `dir`, generating it first if it is not there.
pub(super) fn open_or_generate(dir: &Path, n: usize, d: usize) -> Result<CachedRows> {
    let path = path_for(dir, n, d);
    if !path.exists() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        eprintln!(
            "generating {n} identities (d = {d}) as quantised rows into {} ...",
            path.display()
        );
        generate(&path, n, d)?;
    } else {
        eprintln!("reusing the cached rows {}", path.display());
    }
    let mut file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut head = [0u8; 32];
    file.read_exact(&mut head)?;
    let word = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().expect("8 bytes"));
    ensure!(
        &head[..16] == MAGIC && word(16) == n as u64 && word(24) == d as u64,
        "{} is not the cache of n = {n}, d = {d}: delete it",
        path.display()
    );
    let mut probe_bytes = vec![0u8; 4 * d];
    file.read_exact(&mut probe_bytes)?;
    let probe = probe_bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
        .collect();
    let offset = 32 + 4 * d as u64;
    let size = file.metadata()?.len();
    ensure!(
        size == offset + (n * d) as u64,
        "{} has {size} bytes, not {}: delete it",
        path.display(),
        offset + (n * d) as u64
    );
    Ok(CachedRows {
        file,
        n,
        d,
        offset,
        probe,
    })
}

fn generate(path: &Path, n: usize, d: usize) -> Result<()> {
    let faces = SyntheticFaces {
        dimension: d,
        noise: 0.8,
    };
    let quantiser = Quantiser::for_dimension(d)?;
    let genuine = n / 2;
    let tmp = path.with_extension("rows.tmp");
    let mut out = BufWriter::with_capacity(1 << 22, File::create(&tmp)?);
    out.write_all(MAGIC)?;
    out.write_all(&(n as u64).to_le_bytes())?;
    out.write_all(&(d as u64).to_le_bytes())?;
    // The probe's place, filled in once its identity has been generated.
    out.write_all(&vec![0u8; 4 * d])?;
    let pieces = n.div_ceil(PIECE);
    let mut probe = Vec::new();
    // A few pieces at a time in parallel (each from its own seed), written in order.
    for batch in (0..pieces).collect::<Vec<_>>().chunks(16) {
        let made: Vec<(Vec<u8>, Option<Vec<f32>>)> = batch
            .par_iter()
            .map(|&piece| {
                let mut rng = ChaCha20Rng::seed_from_u64(7);
                rng.set_stream(piece as u64);
                let rows = (piece * PIECE..((piece + 1) * PIECE).min(n)).map(|i| {
                    let id = faces.identity(&mut rng);
                    let row = quantiser.quantise(&faces.capture(&id, &mut rng));
                    (i, id, row)
                });
                let mut bytes = Vec::with_capacity(PIECE * d);
                let mut genuine_id = None;
                for (i, id, row) in rows {
                    bytes.extend(
                        row.expect("synthetic captures are valid")
                            .iter()
                            .map(|&v| v as u8),
                    );
                    if i == genuine {
                        genuine_id = Some(id);
                    }
                }
                (bytes, genuine_id)
            })
            .collect();
        for (bytes, genuine_id) in made {
            out.write_all(&bytes)?;
            if let Some(id) = genuine_id {
                let mut rng = ChaCha20Rng::seed_from_u64(8);
                probe = faces.capture(&id, &mut rng);
            }
        }
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    let bytes: Vec<u8> = probe.iter().flat_map(|v| v.to_le_bytes()).collect();
    file.write_all_at(&bytes, 32)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
