//! The holder's enrolled gallery as the sessions see it: the identities, the quantised rows
//! (shared, never copied per session), the packed form for 1:N, and the padding bucket.

use std::collections::HashMap;
use std::sync::Arc;

use privface_he::{
    Dimension, GalleryMode, Layout, PackedGallery, ParameterSet, Quantiser, ShareBits, VectorCount,
    best_group_size,
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
    /// The enrolled rows followed by the zero rows of the padding, row-major.
    rows: Arc<[i8]>,
    len: usize,
    packed: PackedGallery,
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
        let mut index = HashMap::with_capacity(ids.len());
        for (i, (id, row)) in ids
            .into_iter()
            .zip(rows.chunks_exact(dimension))
            .enumerate()
        {
            quantiser
                .check(row)
                .map_err(|e| ProtocolError::Config(format!("identity `{id}`: {e}")))?;
            if index.insert(id.clone(), i).is_some() {
                return Err(ProtocolError::Config(format!(
                    "identity `{id}` enrolled twice"
                )));
            }
        }
        let len = index.len();
        let padded = padded_count(len);
        rows.resize(padded * dimension, 0);
        let rows: Arc<[i8]> = rows.into();
        let g = best_group_size(
            params,
            Dimension(dimension),
            VectorCount(padded),
            ShareBits(quantiser.share_bits()),
        )?;
        let layout = Layout::new(params, dimension, g)?;
        let packed = PackedGallery::with_progress(layout, rows.clone(), mode, progress)?;
        Ok(Self {
            params: params.clone(),
            quantiser,
            index,
            rows,
            len,
            packed,
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

    /// The quantised row enrolled as `id`.
    pub fn row(&self, id: &str) -> Option<&[i8]> {
        let d = self.dimension();
        self.index.get(id).map(|&i| &self.rows[i * d..(i + 1) * d])
    }
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
        assert_eq!(g.row("b"), Some(&rows(2)[..]));
        assert_eq!(g.row("c"), None);
        let twice = HolderGallery::new(
            &params,
            8,
            [("a".to_string(), rows(1)), ("a".to_string(), rows(2))],
            GalleryMode::OnTheFly,
        );
        assert!(matches!(twice, Err(ProtocolError::Config(_))));
    }
}
