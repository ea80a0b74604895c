//! The holder's enrolled gallery as the sessions see it: the identities, the quantised rows
//! (shared, never copied per session, or read from a [`RowSource`] when the gallery is
//! streamed), the packed form for 1:N, and the padding bucket.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use rayon::prelude::*;

use privface_he::{
    Dimension, GalleryMode, Layout, PackedGallery, ParameterSet, Quantiser, RowSource, ShareBits,
    VectorCount, best_group_size,
};

use crate::error::{ProtocolError, Result};

/// Gallery size rounded up to its padding bucket: a multiple of 2^(⌊log2 n⌋ − 3), so the
/// verifier learns n only to within an eighth (exactly below 16).
pub fn padded_count(n: usize) -> usize {
    if n < 16 {
        return n.max(1);
    }
    let step = 1usize << ((usize::BITS - 1 - n.leading_zeros()) - 3);
    n.div_ceil(step) * step
}

/// The holder's enrolled gallery, packed for identification.
pub struct HolderGallery {
    params: ParameterSet,
    quantiser: Quantiser,
    index: HashMap<String, usize>,
    rows: Rows,
    len: usize,
    packed: PackedGallery,
    /// Each identity's label, in row order, when the holder loaded them.
    labels: Option<Arc<[String]>>,
    /// Identities in row order, built on the first who-identification (spec §15).
    by_row: OnceLock<Vec<String>>,
}

/// Where the enrolled rows are.
enum Rows {
    /// The enrolled rows followed by the zero rows of the padding, row-major.
    Memory(Arc<[i8]>),
    /// The enrolled rows, read when needed.
    Source(Arc<dyn RowSource>),
}

impl HolderGallery {
    /// Packs `entries` (identity, quantised embedding) of dimension `dimension`, padded with
    /// zero vectors (score 0, which never reaches a threshold ≥ 1) to [`padded_count`].
    pub fn new(
        params: &ParameterSet,
        dimension: usize,
        entries: impl IntoIterator<Item = (String, Vec<i8>)>,
        mode: GalleryMode,
    ) -> Result<Self> {
        let mut ids = Vec::new();
        let mut rows = Vec::new();
        for (id, row) in entries {
            ids.push(id);
            rows.extend_from_slice(&row);
        }
        Self::from_rows(params, dimension, ids, rows, mode)
    }

    /// Packs the identities `ids` whose quantised rows are `rows` (row-major, `ids.len()`
    /// rows of `dimension`), without a copy per row.
    pub fn from_rows(
        params: &ParameterSet,
        dimension: usize,
        ids: Vec<String>,
        rows: Vec<i8>,
        mode: GalleryMode,
    ) -> Result<Self> {
        Self::from_rows_with_progress(params, dimension, ids, rows, mode, &|_, _| {})
    }

    /// [`HolderGallery::from_rows`], reporting packing progress in blocks as
    /// [`PackedGallery::with_progress`] does.
    pub fn from_rows_with_progress(
        params: &ParameterSet,
        dimension: usize,
        ids: Vec<String>,
        mut rows: Vec<i8>,
        mode: GalleryMode,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Self> {
        let quantiser = Quantiser::for_dimension(dimension)?;
        if rows.len() != ids.len() * dimension {
            return Err(ProtocolError::Config(format!(
                "{} identities but {} bytes of rows at dimension {dimension}",
                ids.len(),
                rows.len()
            )));
        }
        // In parallel; the first bad row (in row order) is the one reported.
        if let Some((id, e)) = rows
            .par_chunks_exact(dimension)
            .zip(ids.par_iter())
            .find_map_first(|(row, id)| quantiser.check(row).err().map(|e| (id, e)))
        {
            return Err(ProtocolError::Config(format!("identity `{id}`: {e}")));
        }
        let index = index_ids(ids)?;
        let len = index.len();
        let padded = padded_count(len);
        rows.resize(padded * dimension, 0);
        let rows: Arc<[i8]> = rows.into();
        let layout = layout_for(params, &quantiser, padded)?;
        let packed = PackedGallery::with_progress(layout, rows.clone(), mode, progress)?;
        Ok(Self {
            params: params.clone(),
            quantiser,
            index,
            rows: Rows::Memory(rows),
            len,
            packed,
            labels: None,
            by_row: OnceLock::new(),
        })
    }

    /// A gallery whose rows stay in `source` (row i belongs to `ids[i]`) and are read and
    /// transformed per query: for galleries larger than memory. Every row is read once now
    /// and checked as [`HolderGallery::from_rows`] checks it (progress in blocks).
    pub fn streamed(
        params: &ParameterSet,
        dimension: usize,
        ids: Vec<String>,
        source: Arc<dyn RowSource>,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Self> {
        let quantiser = Quantiser::for_dimension(dimension)?;
        if source.rows() != ids.len() {
            return Err(ProtocolError::Config(format!(
                "{} identities but {} stored rows",
                ids.len(),
                source.rows()
            )));
        }
        let index = index_ids(ids)?;
        let len = index.len();
        let padded = padded_count(len);
        let layout = layout_for(params, &quantiser, padded)?;
        // The norm bound, which the packed gallery does not know, in the same pass as its own
        // checks.
        let norm = |row: &[i8]| quantiser.check(row);
        let packed = PackedGallery::streamed(layout, source.clone(), padded, &norm, progress)?;
        Ok(Self {
            params: params.clone(),
            quantiser,
            index,
            rows: Rows::Source(source),
            len,
            packed,
            labels: None,
            by_row: OnceLock::new(),
        })
    }

    /// Enrolled identities (padding excluded).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nobody is enrolled.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Embedding dimension.
    pub fn dimension(&self) -> usize {
        self.quantiser.dimension()
    }

    /// The quantiser (shared with verifiers through its scale).
    pub fn quantiser(&self) -> &Quantiser {
        &self.quantiser
    }

    /// The parameter set the gallery is packed for.
    pub fn params(&self) -> &ParameterSet {
        &self.params
    }

    /// The packed form of the whole padded gallery (1:N).
    pub fn packed(&self) -> &PackedGallery {
        &self.packed
    }

    /// Attaches each identity's label, in row order (the order of the identities the gallery
    /// was built from), for who-identification.
    ///
    /// # Errors
    /// [`ProtocolError::Config`] for another number of labels than identities.
    pub fn with_labels(mut self, labels: Vec<String>) -> Result<Self> {
        if labels.len() != self.len {
            return Err(ProtocolError::Config(format!(
                "{} labels for {} identities",
                labels.len(),
                self.len
            )));
        }
        self.labels = Some(labels.into());
        Ok(self)
    }

    fn ids_by_row(&self) -> &[String] {
        self.by_row.get_or_init(|| {
            let mut ids = vec![String::new(); self.len];
            for (id, &row) in &self.index {
                ids[row] = id.clone();
            }
            ids
        })
    }

    /// Checks that every identity fits a who-identification's label-table entry (spec §15.3):
    /// an id of at most [`privface_gc::who::ENTRY_CONTENT`] bytes (labels are shortened to fit).
    ///
    /// # Errors
    /// [`ProtocolError::Config`] naming the first id that does not fit.
    pub fn check_who(&self) -> Result<()> {
        match self
            .ids_by_row()
            .iter()
            .find(|id| id.len() > privface_gc::who::ENTRY_CONTENT)
        {
            Some(id) => Err(ProtocolError::Config(format!(
                "identity `{id}` is longer than the {} bytes a who-identification's entry holds",
                privface_gc::who::ENTRY_CONTENT
            ))),
            None => Ok(()),
        }
    }

    /// The label-table entry of padded row `row`: its id and label (the label shortened at a
    /// character boundary to fit), or an empty entry for padding.
    pub fn who_entry(&self, row: usize) -> [u8; privface_gc::who::ENTRY_BYTES] {
        use privface_gc::who::{ENTRY_CONTENT, entry_plaintext};
        let empty = entry_plaintext("", "").expect("an empty entry fits");
        let Some(id) = self.ids_by_row().get(row) else {
            return empty;
        };
        let mut label = self.labels.as_ref().map_or("", |l| l[row].as_str());
        let room = ENTRY_CONTENT.saturating_sub(id.len());
        if label.len() > room {
            let mut end = room;
            while !label.is_char_boundary(end) {
                end -= 1;
            }
            label = &label[..end];
        }
        entry_plaintext(id, label).unwrap_or(empty)
    }

    /// The quantised row enrolled as `id`.
    ///
    /// # Errors
    /// [`ProtocolError::Config`] when a streamed gallery's row cannot be read.
    pub fn row(&self, id: &str) -> Result<Option<Vec<i8>>> {
        let d = self.dimension();
        let Some(&i) = self.index.get(id) else {
            return Ok(None);
        };
        match &self.rows {
            Rows::Memory(rows) => Ok(Some(rows[i * d..(i + 1) * d].to_vec())),
            Rows::Source(source) => {
                let mut row = vec![0i8; d];
                source.read_rows(i, &mut row).map_err(|e| {
                    ProtocolError::Config(format!("reading the row of `{id}`: {e}"))
                })?;
                Ok(Some(row))
            }
        }
    }
}

/// Row positions by identity, refusing a duplicate.
fn index_ids(ids: Vec<String>) -> Result<HashMap<String, usize>> {
    use std::collections::hash_map::Entry;
    let mut index = HashMap::with_capacity(ids.len());
    for (i, id) in ids.into_iter().enumerate() {
        match index.entry(id) {
            Entry::Occupied(e) => {
                return Err(ProtocolError::Config(format!(
                    "identity `{}` enrolled twice",
                    e.key()
                )));
            }
            Entry::Vacant(v) => {
                v.insert(i);
            }
        }
    }
    Ok(index)
}

/// The byte-optimal layout for a padded gallery of `padded` vectors.
fn layout_for(params: &ParameterSet, quantiser: &Quantiser, padded: usize) -> Result<Layout> {
    let d = quantiser.dimension();
    let g = best_group_size(
        params,
        Dimension(d),
        VectorCount(padded),
        ShareBits(quantiser.share_bits()),
    )?;
    Ok(Layout::new(params, d, g)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_buckets() {
        assert_eq!(padded_count(0), 1);
        assert_eq!(padded_count(1), 1);
        assert_eq!(padded_count(15), 15);
        assert_eq!(padded_count(16), 16);
        assert_eq!(padded_count(17), 18);
        assert_eq!(padded_count(1000), 1024);
        assert_eq!(padded_count(1_000_000), 1_048_576);
        for n in 16..5000 {
            let p = padded_count(n);
            assert!(p >= n && (p - n) * 8 <= n, "{n} -> {p}");
        }
    }

    #[test]
    fn rows_are_found_by_identity_and_duplicates_refused() {
        let params = ParameterSet::toy();
        let rows = |v: i8| vec![v; 8];
        let g = HolderGallery::new(
            &params,
            8,
            [("a".to_string(), rows(1)), ("b".to_string(), rows(2))],
            GalleryMode::OnTheFly,
        )
        .unwrap();
        assert_eq!(g.row("b").unwrap(), Some(rows(2)));
        assert_eq!(g.row("c").unwrap(), None);
        let twice = HolderGallery::new(
            &params,
            8,
            [("a".to_string(), rows(1)), ("a".to_string(), rows(2))],
            GalleryMode::OnTheFly,
        );
        assert!(matches!(twice, Err(ProtocolError::Config(_))));
    }

    /// Rows behind the [`RowSource`] interface.
    struct Rows8(Vec<i8>);

    impl RowSource for Rows8 {
        fn rows(&self) -> usize {
            self.0.len() / 8
        }

        fn read_rows(&self, first: usize, out: &mut [i8]) -> std::io::Result<()> {
            out.copy_from_slice(&self.0[first * 8..first * 8 + out.len()]);
            Ok(())
        }
    }

    #[test]
    fn a_streamed_gallery_serves_rows_and_refuses_one_over_the_norm_bound() {
        let params = ParameterSet::toy();
        let ids = || vec!["a".to_string(), "b".to_string()];
        let mut rows: Vec<i8> = [vec![1i8; 8], vec![2i8; 8]].concat();
        let g =
            HolderGallery::streamed(&params, 8, ids(), Arc::new(Rows8(rows.clone())), &|_, _| {})
                .unwrap();
        assert_eq!(g.row("b").unwrap(), Some(vec![2i8; 8]));
        assert_eq!(g.row("c").unwrap(), None);
        // 127 in every component: ‖ŷ‖² = 8·127², above any quantiser's bound at d = 8.
        rows[8..].fill(127);
        let err = HolderGallery::streamed(&params, 8, ids(), Arc::new(Rows8(rows)), &|_, _| {})
            .err()
            .expect("refused");
        assert!(err.to_string().contains("row 1"), "{err}");
        // Fewer stored rows than identities: refused before anything is read.
        let short =
            HolderGallery::streamed(&params, 8, ids(), Arc::new(Rows8(vec![1; 8])), &|_, _| {});
        assert!(matches!(short, Err(ProtocolError::Config(_))));
    }
}
