//! The holder's packed gallery: pretransformed blocks in memory, or quantised rows — in memory
//! or read from a [`RowSource`] such as a file — transformed per query.

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::error::{HeError, Result};
use crate::layout::Layout;
use crate::ntt::{RnsNtt, ScatterOn, scatter_chunks};
use crate::quantise::check_quantised;

/// Quantised gallery rows kept outside the process's memory (a file the OS caches), read a
/// block at a time when a query needs them.
///
/// Rows at and past [`RowSource::rows`], up to the packed gallery's length, are zero rows
/// (the padding of spec §9.3).
pub trait RowSource: Send + Sync {
    /// Number of rows stored.
    fn rows(&self) -> usize;

    /// Reads the `out.len() / d` rows from row `first` on into `out`.
    ///
    /// # Errors
    /// Any I/O error; the query that needed the rows fails with it.
    fn read_rows(&self, first: usize, out: &mut [i8]) -> std::io::Result<()>;
}

/// The holder's gallery, packed for one layout.
///
/// `Pretransformed` keeps every block's chunk polynomials in the NTT domain (one 64-bit residue
/// per coefficient and prime: 8·d bytes per vector under `default`, 16·d under `q128`) and
/// reuses them across queries; `OnTheFly` keeps the quantised rows (d bytes per vector) and
/// transforms each block when it is needed; [`PackedGallery::streamed`] reads the rows from a
/// [`RowSource`] per query, for galleries larger than memory.
pub struct PackedGallery {
    layout: Layout,
    len: usize,
    storage: Storage,
}

enum Storage {
    Transformed(Vec<Vec<u64>>),
    Rows(Arc<[i8]>),
    Source(Arc<dyn RowSource>),
}

/// How a [`PackedGallery`] built from rows in memory is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GalleryMode {
    /// NTT-domain residues kept in memory.
    Pretransformed,
    /// Quantised rows kept; transforms computed per query.
    OnTheFly,
}

thread_local! {
    /// Each thread's buffers for the transforms of a gallery kept as rows, kept between calls
    /// so that a block does not map and fault in tens of MB every time.
    static TRANSFORM_BUFFERS: RefCell<Vec<Vec<u64>>> = const { RefCell::new(Vec::new()) };
    /// Each thread's buffer for the rows of one block read from a [`RowSource`].
    static ROW_BUFFER: RefCell<Vec<i8>> = const { RefCell::new(Vec::new()) };
    /// Each thread's buffers for cutting a block into its chunk polynomials and for one batch
    /// of their residues.
    static BLOCK_SCRATCH: RefCell<(Vec<i8>, Vec<u64>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Checks one row against the layout: no −128 and an ℓ1 norm the products keep exact.
fn check_row(layout: &Layout, i: usize, row: &[i8]) -> Result<()> {
    check_quantised(row, layout.dimension())?;
    let l1: u64 = row.iter().map(|&c| c.unsigned_abs() as u64).sum();
    if l1 > layout.max_row_l1() {
        return Err(HeError::Malformed {
            object: "gallery row",
            reason: format!(
                "row {i} has ℓ1 norm {l1}, above the {} this layout keeps exact",
                layout.max_row_l1()
            ),
        });
    }
    Ok(())
}

impl PackedGallery {
    /// Packs `rows` (n quantised vectors of dimension d, row-major). The rows are shared, not
    /// copied: `OnTheFly` keeps a reference, `Pretransformed` reads them once.
    ///
    /// # Errors
    /// [`HeError::WrongDimension`] when `rows` is not a whole number of d-vectors, and
    /// [`HeError::Malformed`] for a −128 component or a row whose ℓ1 norm exceeds
    /// [`Layout::max_row_l1`] (no quantised row does).
    pub fn new(layout: Layout, rows: impl Into<Arc<[i8]>>, mode: GalleryMode) -> Result<Self> {
        Self::with_progress(layout, rows, mode, &|_, _| {})
    }

    /// [`PackedGallery::new`], calling `progress(done, total)` as blocks are transformed (from
    /// any of the packing threads, `done` counting up to `total`; once with `total` for
    /// `OnTheFly`, which transforms nothing now).
    ///
    /// # Errors
    /// As [`PackedGallery::new`].
    pub fn with_progress(
        layout: Layout,
        rows: impl Into<Arc<[i8]>>,
        mode: GalleryMode,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Self> {
        let rows: Arc<[i8]> = rows.into();
        let d = layout.dimension();
        if !rows.len().is_multiple_of(d) {
            return Err(HeError::WrongDimension {
                expected: d,
                actual: rows.len() % d,
            });
        }
        // In parallel; the first bad row (in row order) is the one reported.
        if let Some(err) = rows
            .par_chunks_exact(d)
            .enumerate()
            .find_map_first(|(i, row)| check_row(&layout, i, row).err())
        {
            return Err(err);
        }
        let len = rows.len() / d;
        let total = layout.block_count(len);
        let storage = match mode {
            GalleryMode::OnTheFly => {
                progress(total, total);
                Storage::Rows(rows)
            }
            GalleryMode::Pretransformed => {
                let ntt = RnsNtt::get(layout.polynomial_size());
                let primes = layout.rns().primes();
                let done = AtomicUsize::new(0);
                let blocks = (0..total)
                    .into_par_iter()
                    .map(|b| {
                        let mut t = Vec::new();
                        let rows = block_rows(&layout, &rows, len, b);
                        transform_block_into(&layout, primes, &ntt, rows, &mut t);
                        progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                        t
                    })
                    .collect();
                Storage::Transformed(blocks)
            }
        };
        Ok(Self {
            layout,
            len,
            storage,
        })
    }

    /// A gallery of `len` vectors whose rows stay in `source` (rows past the source's are
    /// zero padding) and are read and transformed per query. Reads every row once now, a
    /// block at a time, to check it as [`PackedGallery::new`] does and with the caller's
    /// `row_check` (the quantiser's norm bound, say) in the same pass, calling
    /// `progress(done, total)` per block.
    ///
    /// # Errors
    /// [`HeError::Storage`] when the source cannot be read or holds more than `len` rows;
    /// [`HeError::Malformed`] for a row [`PackedGallery::new`] or `row_check` refuses.
    pub fn streamed(
        layout: Layout,
        source: Arc<dyn RowSource>,
        len: usize,
        row_check: &dyn Fn(&[i8]) -> Result<()>,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Self> {
        if source.rows() > len {
            return Err(HeError::Storage(format!(
                "{} rows stored for a gallery of {len}",
                source.rows()
            )));
        }
        let d = layout.dimension();
        let cap = layout.block_capacity();
        let total = layout.block_count(source.rows());
        let mut buf = Vec::new();
        for b in 0..total {
            read_block(&layout, source.as_ref(), b, &mut buf)?;
            for (i, row) in buf.chunks_exact(d).enumerate() {
                check_row(&layout, b * cap + i, row)?;
                row_check(row).map_err(|e| HeError::Malformed {
                    object: "gallery row",
                    reason: format!("row {}: {e}", b * cap + i),
                })?;
            }
            progress(b + 1, total);
        }
        Ok(Self {
            layout,
            len,
            storage: Storage::Source(source),
        })
    }

    /// Number of gallery vectors.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the gallery holds no vector.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The layout this gallery is packed for.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// True when the blocks are transformed per query (`OnTheFly` or streamed).
    pub fn transforms_per_query(&self) -> bool {
        !matches!(self.storage, Storage::Transformed(_))
    }

    /// Bytes of process memory the packed gallery occupies per vector (0 for a streamed
    /// gallery: its rows are in the OS's file cache, not in the process).
    pub fn bytes_per_vector(&self) -> f64 {
        let bytes = match &self.storage {
            Storage::Transformed(blocks) => blocks.iter().map(|b| b.len() * 8).sum::<usize>(),
            Storage::Rows(rows) => rows.len(),
            Storage::Source(_) => 0,
        };
        bytes as f64 / self.len.max(1) as f64
    }

    /// Vectors in block `b` (the last block may be partial).
    pub fn block_len(&self, b: usize) -> usize {
        let cap = self.layout.block_capacity();
        self.len.saturating_sub(b * cap).min(cap)
    }

    /// The transform of block `b`: borrowed when pretransformed, computed into `buf`
    /// otherwise.
    ///
    /// # Errors
    /// [`HeError::Storage`] when a streamed gallery's rows cannot be read.
    pub(crate) fn block_transform<'a>(
        &'a self,
        b: usize,
        buf: &'a mut Vec<u64>,
        ntt: &RnsNtt,
    ) -> Result<&'a [u64]> {
        let primes = self.layout.rns().primes();
        match &self.storage {
            Storage::Transformed(blocks) => Ok(&blocks[b]),
            Storage::Rows(rows) => {
                let rows = block_rows(&self.layout, rows, self.len, b);
                transform_block_into(&self.layout, primes, ntt, rows, buf);
                Ok(buf)
            }
            Storage::Source(source) => {
                ROW_BUFFER.with_borrow_mut(|rows| -> Result<()> {
                    read_block(&self.layout, source.as_ref(), b, rows)?;
                    transform_block_into(&self.layout, primes, ntt, rows, buf);
                    Ok(())
                })?;
                Ok(buf)
            }
        }
    }

    /// Takes this thread's transform buffers (give them back with
    /// [`PackedGallery::return_buffers`]).
    pub(crate) fn take_buffers(count: usize) -> Vec<Vec<u64>> {
        let mut bufs = TRANSFORM_BUFFERS.with_borrow_mut(std::mem::take);
        bufs.resize_with(count, Vec::new);
        bufs
    }

    /// Keeps `bufs` for this thread's next call.
    pub(crate) fn return_buffers(bufs: Vec<Vec<u64>>) {
        TRANSFORM_BUFFERS.with_borrow_mut(|pool| *pool = bufs);
    }
}

fn block_rows<'a>(layout: &Layout, rows: &'a [i8], len: usize, b: usize) -> &'a [i8] {
    let cap = layout.block_capacity();
    let d = layout.dimension();
    &rows[b * cap * d..((b + 1) * cap).min(len) * d]
}

/// Reads the stored rows of block `b` into `out` (fewer than a block's at the end: the
/// transform treats the rest as the zero padding).
fn read_block(layout: &Layout, source: &dyn RowSource, b: usize, out: &mut Vec<i8>) -> Result<()> {
    let cap = layout.block_capacity();
    let first = b * cap;
    let count = source.rows().saturating_sub(first).min(cap);
    out.resize(count * layout.dimension(), 0);
    if count == 0 {
        return Ok(());
    }
    source.read_rows(first, out).map_err(|e| {
        HeError::Storage(format!(
            "reading gallery rows {first}..{}: {e}",
            first + count
        ))
    })
}

/// Transforms the m chunk polynomials of one block into `[tile][chunk][prime][LANES]` residues
/// for the first `primes` primes, into `out` (its allocation reused; every entry is
/// overwritten): the block is cut into its chunk polynomials in one pass, then transformed and
/// scattered a batch of chunks at a time. The batch's residues (8 chunks: 512 KB per prime at
/// N = 8192) stay in the core's L2 cache between their transform and their scatter, and the
/// thread's buffers are reused from block to block, so nothing is allocated or zeroed per
/// chunk.
fn transform_block_into(
    layout: &Layout,
    primes: usize,
    ntt: &RnsNtt,
    rows: &[i8],
    out: &mut Vec<u64>,
) {
    const BATCH: usize = 8;
    let (n, m) = (layout.polynomial_size(), layout.chunk_count());
    if out.len() != m * primes * n {
        *out = vec![0u64; m * primes * n];
    }
    BLOCK_SCRATCH.with_borrow_mut(|(polys, residues)| {
        polys.resize(m * n, 0);
        layout.gallery_block_polynomials(rows, polys);
        residues.resize(BATCH.min(m) * primes * n, 0);
        for (b, batch) in polys.chunks(BATCH * n).enumerate() {
            let residues = &mut residues[..batch.len() * primes];
            for (poly, r) in batch
                .chunks_exact(n)
                .zip(residues.chunks_exact_mut(primes * n))
            {
                ntt.forward_i8(poly, r);
            }
            scatter_chunks(residues, (n, primes), b * BATCH, m, out, ScatterOn::Caller);
        }
    });
}
