//! End-to-end checks of the HE step inside the crate; the hiding tests against a deviating
//! verifier are in `hiding_tests.rs`, cross-crate tests in the workspace's `tests/`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::*;
use privface_gc::reconstruct_score;
use std::sync::Arc;

fn random_rows(rng: &mut ChaCha20Rng, n: usize, d: usize) -> Vec<i8> {
    (0..n * d).map(|_| rng.random_range(-127..=127)).collect()
}

/// Runs a whole session and returns (decrypted scores, plaintext scores).
fn session(
    params: &ParameterSet,
    g: usize,
    probe: &[i8],
    rows: &[i8],
    mode: GalleryMode,
    seed: u64,
) -> (Vec<i64>, Vec<i64>) {
    let d = probe.len();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let layout = Layout::new(params, d, g).unwrap();
    // The widest score: the probe's largest component times the layout's row ℓ1 bound.
    let top = probe
        .iter()
        .map(|c| c.unsigned_abs() as u64)
        .max()
        .unwrap_or(0);
    let k = crate::quantise::share_bits_for_bound(top * layout.max_row_l1());
    let shape = SessionShape::new(params, layout, k).unwrap();
    let gallery = PackedGallery::new(layout, rows.to_vec(), mode).unwrap();
    let key = VerifierKey::generate(params, &mut rng);
    let query = key.encrypt_query(&shape, probe, &mut rng).unwrap();
    // Through the wire format, as a holder would see it.
    let query = Query::decode(params, &shape, &query.encode(params)).unwrap();
    let holder = HolderQuery::new(params, &shape, &query, &gallery).unwrap();
    let mut got = Vec::new();
    for block in holder
        .respond(&gallery, 0..holder.block_count(), &mut rng)
        .unwrap()
    {
        let count = block.masks.len();
        assert_eq!(count, gallery.block_len(block.index));
        let bytes = block.response.encode();
        let response = ResponseBlock::decode(&shape, count, &bytes).unwrap();
        let shares = key.decrypt_block(&shape, &response, count).unwrap();
        got.extend(
            shares
                .iter()
                .zip(&block.masks)
                .map(|(&s, &r)| reconstruct_score(s, r, k)),
        );
    }
    let want = plain::scores(probe, rows)
        .into_iter()
        .map(i64::from)
        .collect();
    (got, want)
}

/// Scores as the spec allows them (§6.6): each off by at most one, and off at all so rarely
/// (at most 2^−16 per score for `toy`, 2^−30 for `default`) that more than one in a test's
/// few thousand scores is a bug.
fn assert_scores(got: &[i64], want: &[i64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let off: Vec<usize> = (0..got.len()).filter(|&i| got[i] != want[i]).collect();
    assert!(
        off.iter().all(|&i| (got[i] - want[i]).abs() == 1) && off.len() <= 1,
        "{what}: {} scores differ: {:?}",
        off.len(),
        off.iter()
            .take(5)
            .map(|&i| (got[i], want[i]))
            .collect::<Vec<_>>()
    );
}

/// Zeroes the tail of every row until its ℓ1 norm is at most `max_l1`.
fn fit_rows(rows: &mut [i8], d: usize, max_l1: u64) {
    for row in rows.chunks_exact_mut(d) {
        let mut l1: u64 = row.iter().map(|&c| c.unsigned_abs() as u64).sum();
        for c in row.iter_mut().rev() {
            if l1 <= max_l1 {
                break;
            }
            l1 -= c.unsigned_abs() as u64;
            *c = 0;
        }
    }
}

fn check_all_groups(params: &ParameterSet, d: usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(d as u64);
    for g in group_sizes(params, d) {
        let cap = params.n() / g;
        // Not a multiple of the block size: two blocks, the second partial.
        let n = cap + 3;
        let mut rows = random_rows(&mut rng, n, d);
        // Extreme rows: all +127 and all −127 against an extreme probe below, cut to the
        // layout's exact ℓ1 bound where that is below 127·d (`default` at d = 512, g ≤ 2).
        rows[..d].fill(127);
        rows[d..2 * d].fill(-127);
        let max_l1 = Layout::new(params, d, g).unwrap().max_row_l1();
        fit_rows(&mut rows, d, max_l1);
        let full = max_l1 == 127 * d as u64;
        // The probe's range is cut as far as needed for the widest score to fit shares the
        // set can serve at 2^−λ_r (`default` at d = 512 serves at most 22 bits at g = 1,
        // 23 at g = 4: 47·21,844 ≤ 2^20, 63·65,024 ≤ 2^22).
        let layout = Layout::new(params, d, g).unwrap();
        let top: i8 = [127i8, 63, 47, 31]
            .into_iter()
            .find(|&t| {
                let k = crate::quantise::share_bits_for_bound(t as u64 * max_l1);
                SessionShape::new(params, layout, k).is_ok()
            })
            .expect("some probe range fits");
        let probe: Vec<i8> = random_rows(&mut rng, 1, d)
            .into_iter()
            .map(|c| c.clamp(-top, top))
            .collect();
        let (got, want) = session(
            params,
            g,
            &probe,
            &rows,
            GalleryMode::Pretransformed,
            g as u64,
        );
        assert_scores(&got, &want, &format!("{} d = {d} g = {g}", params.name));
        let extreme = vec![top; d];
        let (got, want) = session(
            params,
            g,
            &extreme,
            &rows[..3 * d],
            GalleryMode::Pretransformed,
            7,
        );
        assert_scores(
            &got,
            &want,
            &format!("{} d = {d} g = {g} extreme", params.name),
        );
        let extreme_score = (max_l1 / 127 * 127) as i64 * top as i64;
        assert_eq!(want[0], extreme_score);
        assert_eq!(want[1], -extreme_score);
        assert!(full || max_l1 >= crate::quantised_l1_bound(d));
        assert!(
            top == 127 || params.name() == "default",
            "only `default` cuts the probe"
        );
    }
}

#[test]
fn toy_scores_are_exact_for_every_group_size() {
    check_all_groups(&ParameterSet::toy(), 128);
    check_all_groups(&ParameterSet::toy(), 512);
}

#[test]
fn default_scores_are_exact_for_every_group_size() {
    check_all_groups(&ParameterSet::default_64(), 128);
    check_all_groups(&ParameterSet::default_64(), 512);
}

#[test]
fn q128_scores_are_exact_for_every_group_size() {
    check_all_groups(&ParameterSet::q128(), 128);
    check_all_groups(&ParameterSet::q128(), 512);
}

#[test]
fn rows_beyond_the_exact_bound_are_refused_not_miscomputed() {
    // `default` at d = 512, g = 1 is exact for rows of ℓ1 norm ≤ 21,844: all quantised rows
    // (≤ 16,512), not an all-127 row (65,024), whose products would wrap mod p0.
    let params = ParameterSet::default_64();
    let layout = Layout::new(&params, 512, 1).unwrap();
    assert_eq!(layout.max_row_l1(), 21_844);
    let mut rows = vec![0i8; 3 * 512];
    rows[512..1024].fill(127);
    let err = PackedGallery::new(layout, rows.clone(), GalleryMode::OnTheFly)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("row 1 has ℓ1 norm 65024"), "{err}");
    fit_rows(&mut rows, 512, layout.max_row_l1());
    assert!(PackedGallery::new(layout, rows, GalleryMode::OnTheFly).is_ok());
    // g = 4 has room for every i8 row; q128 for every i8 row at any g.
    assert_eq!(
        Layout::new(&params, 512, 4).unwrap().max_row_l1(),
        127 * 512
    );
    let wide = ParameterSet::q128();
    assert_eq!(Layout::new(&wide, 512, 1).unwrap().max_row_l1(), 127 * 512);
    // A dimension where g = 1 cannot hold quantised rows is not a valid layout.
    assert!(Layout::new(&params, 1024, 1).is_err());
    assert!(Layout::new(&params, 1024, 2).is_ok());
}

#[test]
fn on_the_fly_gallery_gives_the_same_response() {
    let params = ParameterSet::toy();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    // (20, 1): 20 chunks, so the last scatter batch is partial, and 300 rows of 20 columns, so
    // the transpose has rows and columns past its 8×8 squares.
    for (d, g) in [(128, 4), (20, 1)] {
        let probe = random_rows(&mut rng, 1, d);
        let rows = random_rows(&mut rng, 300, d);
        let a = session(&params, g, &probe, &rows, GalleryMode::Pretransformed, 11);
        let b = session(&params, g, &probe, &rows, GalleryMode::OnTheFly, 11);
        assert_eq!(a, b, "d = {d}, g = {g}");
        assert_scores(&a.0, &a.1, "on the fly");
    }
}

/// Rows in memory behind the [`RowSource`] interface; once `broken` is set, reads that reach
/// past row `fail_from` fail.
struct MemorySource {
    d: usize,
    rows: Vec<i8>,
    fail_from: usize,
    broken: std::sync::atomic::AtomicBool,
    reads: std::sync::atomic::AtomicUsize,
}

impl RowSource for MemorySource {
    fn rows(&self) -> usize {
        self.rows.len() / self.d
    }

    fn read_rows(&self, first: usize, out: &mut [i8]) -> std::io::Result<()> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let broken = self.broken.load(std::sync::atomic::Ordering::Relaxed);
        if broken && first + out.len() / self.d > self.fail_from {
            return Err(std::io::Error::other("disk gone"));
        }
        out.copy_from_slice(&self.rows[first * self.d..][..out.len()]);
        Ok(())
    }
}

#[test]
fn a_streamed_gallery_answers_exactly_as_the_rows_in_memory() {
    // Two and a half blocks of stored rows, padded with zero rows to three blocks and a bit:
    // the response must equal the in-memory one over the padded rows, block for block. At
    // d = 128, g = 1 a block has 128 chunks: two batches with the sums carried.
    let params = ParameterSet::toy();
    let (d, g) = (128, 1);
    let layout = Layout::new(&params, d, g).unwrap();
    let shape = SessionShape::new(&params, layout, 19).unwrap();
    let cap = layout.block_capacity();
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let stored = random_rows(&mut rng, 2 * cap + cap / 2, d);
    let padded_len = 3 * cap + 5;
    let mut padded = stored.clone();
    padded.resize(padded_len * d, 0);
    let memory = PackedGallery::new(layout, padded, GalleryMode::OnTheFly).unwrap();
    let source = Arc::new(MemorySource {
        d,
        rows: stored.clone(),
        fail_from: usize::MAX,
        broken: Default::default(),
        reads: Default::default(),
    });
    let mut progress = Vec::new();
    let seen = std::sync::Mutex::new(&mut progress);
    let streamed = PackedGallery::streamed(
        layout,
        source.clone(),
        padded_len,
        &|_| Ok(()),
        &|done, total| seen.lock().unwrap().push((done, total)),
    )
    .unwrap();
    assert_eq!(
        progress,
        [(1, 3), (2, 3), (3, 3)],
        "one check per stored block"
    );
    assert_eq!(streamed.len(), padded_len);
    assert_eq!(streamed.bytes_per_vector(), 0.0);
    let respond = |gallery: &PackedGallery| {
        let mut rng = ChaCha20Rng::seed_from_u64(13);
        let key = VerifierKey::generate(&params, &mut rng);
        let probe = random_rows(&mut rng, 1, d);
        let query = key.encrypt_query(&shape, &probe, &mut rng).unwrap();
        let holder = HolderQuery::new(&params, &shape, &query, gallery).unwrap();
        holder
            .respond(gallery, 0..holder.block_count(), &mut rng)
            .unwrap()
    };
    let before = source.reads.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(respond(&streamed), respond(&memory));
    // Three stored blocks read per query; the fourth, all padding, is not read at all.
    let reads = source.reads.load(std::sync::atomic::Ordering::Relaxed) - before;
    assert_eq!(reads, 3, "blocks 0..3 read, block 3 (all padding) not");
}

#[test]
fn a_streamed_gallery_refuses_bad_rows_and_fails_a_query_it_cannot_read() {
    let params = ParameterSet::toy();
    let (d, g) = (16, 2);
    let layout = Layout::new(&params, d, g).unwrap();
    let shape = SessionShape::new(&params, layout, 19).unwrap();
    let cap = layout.block_capacity();
    let mut rng = ChaCha20Rng::seed_from_u64(14);
    let mut rows = random_rows(&mut rng, 2 * cap, d);
    let source = |rows: Vec<i8>, fail_from| {
        Arc::new(MemorySource {
            d,
            rows,
            fail_from,
            broken: Default::default(),
            reads: Default::default(),
        })
    };
    // More rows stored than the gallery has: refused.
    let err = PackedGallery::streamed(
        layout,
        source(rows.clone(), usize::MAX),
        cap,
        &|_| Ok(()),
        &|_, _| {},
    )
    .err()
    .expect("too many rows");
    assert!(matches!(err, HeError::Storage(_)), "{err}");
    // A −128 in the second block: refused when the gallery is opened, naming the row.
    rows[(cap + 3) * d] = -128;
    let err = PackedGallery::streamed(
        layout,
        source(rows.clone(), usize::MAX),
        2 * cap,
        &|_| Ok(()),
        &|_, _| {},
    )
    .err()
    .expect("bad row");
    assert!(matches!(err, HeError::Malformed { .. }), "{err}");
    rows[(cap + 3) * d] = 0;
    // The caller's own check runs in the same pass and is named the same way.
    let saved: Vec<i8> = rows[(cap + 5) * d..(cap + 6) * d].to_vec();
    rows[(cap + 5) * d..(cap + 6) * d].fill(99);
    let refuse_99 = |row: &[i8]| {
        if row.iter().all(|&c| c == 99) {
            Err(HeError::ZeroEmbedding)
        } else {
            Ok(())
        }
    };
    let err = PackedGallery::streamed(
        layout,
        source(rows.clone(), usize::MAX),
        2 * cap,
        &refuse_99,
        &|_, _| {},
    )
    .err()
    .expect("refused by the caller's check");
    assert!(
        err.to_string().contains(&format!("row {}", cap + 5)),
        "{err}"
    );
    rows[(cap + 5) * d..(cap + 6) * d].copy_from_slice(&saved);
    // The second block becomes unreadable after the check: the query fails with the storage
    // error instead of answering with wrong rows or panicking.
    let src = source(rows, cap);
    let broken =
        PackedGallery::streamed(layout, src.clone(), 2 * cap, &|_| Ok(()), &|_, _| {}).unwrap();
    src.broken.store(true, std::sync::atomic::Ordering::Relaxed);
    let key = VerifierKey::generate(&params, &mut rng);
    let probe = random_rows(&mut rng, 1, d);
    let query = key.encrypt_query(&shape, &probe, &mut rng).unwrap();
    let holder = HolderQuery::new(&params, &shape, &query, &broken).unwrap();
    assert!(
        holder.respond(&broken, 0..1, &mut rng).is_ok(),
        "block 0 is readable"
    );
    let err = holder.respond(&broken, 0..2, &mut rng).unwrap_err();
    assert!(err.to_string().contains("disk gone"), "{err}");
}

#[test]
fn responses_are_reproducible_from_the_seed() {
    let params = ParameterSet::toy();
    let layout = Layout::new(&params, 16, 2).unwrap();
    let shape = SessionShape::new(&params, layout, 19).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let rows = random_rows(&mut rng, 700, 16);
    let gallery = PackedGallery::new(layout, rows, GalleryMode::Pretransformed).unwrap();
    let run = || {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let key = VerifierKey::generate(&params, &mut rng);
        let probe = random_rows(&mut rng, 1, 16);
        let query = key.encrypt_query(&shape, &probe, &mut rng).unwrap();
        let holder = HolderQuery::new(&params, &shape, &query, &gallery).unwrap();
        (
            query.encode(&params),
            holder.respond(&gallery, 0..3, &mut rng).unwrap(),
        )
    };
    assert_eq!(run(), run());
}

#[test]
fn packing_reports_every_block_once_and_ends_at_the_total() {
    use std::sync::Mutex;
    let params = ParameterSet::toy();
    let layout = Layout::new(&params, 16, 2).unwrap();
    let rows = random_rows(&mut ChaCha20Rng::seed_from_u64(6), 700, 16);
    let total = layout.block_count(700);
    assert!(total > 2, "{total} blocks");
    for mode in [GalleryMode::Pretransformed, GalleryMode::OnTheFly] {
        let calls = Mutex::new(Vec::new());
        let record = |done: usize, all: usize| calls.lock().unwrap().push((done, all));
        PackedGallery::with_progress(layout, rows.clone(), mode, &record).unwrap();
        let mut calls = calls.into_inner().unwrap();
        assert!(calls.iter().all(|&(_, all)| all == total), "{calls:?}");
        calls.sort();
        let done: Vec<usize> = calls.iter().map(|&(d, _)| d).collect();
        match mode {
            GalleryMode::Pretransformed => assert_eq!(done, (1..=total).collect::<Vec<_>>()),
            GalleryMode::OnTheFly => assert_eq!(done, [total]),
        }
    }
}

#[test]
fn query_ciphertexts_decrypt_with_tfhe() {
    use tfhe::core_crypto::prelude::*;
    let params = ParameterSet::q128();
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let layout = Layout::new(&params, 512, 256).unwrap();
    let shape = SessionShape::new(&params, layout, 24).unwrap();
    let key = VerifierKey::generate(&params, &mut rng);
    let probe = random_rows(&mut rng, 1, 512);
    let query = key.encrypt_query(&shape, &probe, &mut rng).unwrap();
    let n = params.n();
    let mut expected = vec![0i64; n];
    for (c, ct) in query.chunks.iter().enumerate() {
        let mut container = ct.mask(&params);
        container.extend_from_slice(&ct.body);
        let glwe = GlweCiphertext::from_container(
            container,
            params.polynomial_size,
            CiphertextModulus::new_native(),
        );
        let mut plain = PlaintextList::new(0u128, PlaintextCount(n));
        decrypt_glwe_ciphertext(key.tfhe_key(), &glwe, &mut plain);
        layout.probe_chunk_polynomial(&probe, c, &mut expected);
        for (got, &want) in plain.as_ref().iter().zip(&expected) {
            let noise = got.wrapping_sub((want as i128 as u128) << 104) as i128;
            assert!(noise.abs() <= 16, "noise {noise} outside TUniform(4)");
        }
    }
}

#[test]
fn default_query_ciphertexts_decrypt_with_tfhe_at_64_bits() {
    // The same check with tfhe's native 64-bit algorithms: the key's bits as a u64 key, the
    // coefficients (all below 2^64 under `default`) as u64, Δ = 2^(64−24).
    use tfhe::core_crypto::prelude::*;
    let params = ParameterSet::default_64();
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let layout = Layout::new(&params, 512, 256).unwrap();
    let shape = SessionShape::new(&params, layout, 24).unwrap();
    let key = VerifierKey::generate(&params, &mut rng);
    let bits: Vec<u64> = key.tfhe_key().as_ref().iter().map(|&b| b as u64).collect();
    let key64 = GlweSecretKeyOwned::from_container(bits, params.polynomial_size);
    let probe = random_rows(&mut rng, 1, 512);
    let query = key.encrypt_query(&shape, &probe, &mut rng).unwrap();
    let n = params.n();
    let mut expected = vec![0i64; n];
    for (c, ct) in query.chunks.iter().enumerate() {
        let container: Vec<u64> = ct
            .mask(&params)
            .iter()
            .chain(&ct.body)
            .map(|&v| u64::try_from(v).expect("reduced mod 2^64"))
            .collect();
        let glwe = GlweCiphertext::from_container(
            container,
            params.polynomial_size,
            CiphertextModulus::new_native(),
        );
        let mut plain = PlaintextList::new(0u64, PlaintextCount(n));
        decrypt_glwe_ciphertext(&key64, &glwe, &mut plain);
        layout.probe_chunk_polynomial(&probe, c, &mut expected);
        for (got, &want) in plain.as_ref().iter().zip(&expected) {
            let noise = got.wrapping_sub((want as u64) << 40) as i64;
            assert!(noise.abs() <= 16, "noise {noise} outside TUniform(4)");
        }
    }
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let params = ParameterSet::toy();
    let other = ParameterSet::default_64();
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let layout = Layout::new(&params, 32, 4).unwrap();
    let shape = SessionShape::new(&params, layout, 20).unwrap();
    let gallery = PackedGallery::new(
        layout,
        random_rows(&mut rng, 10, 32),
        GalleryMode::Pretransformed,
    )
    .unwrap();
    let key = VerifierKey::generate(&params, &mut rng);
    let probe = random_rows(&mut rng, 1, 32);
    let query = key.encrypt_query(&shape, &probe, &mut rng).unwrap();
    let bytes = query.encode(&params);

    // Wrong sizes on the wire.
    assert!(matches!(
        Query::decode(&params, &shape, &bytes[1..]),
        Err(HeError::Malformed { .. })
    ));
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Query::decode(&params, &shape, &longer),
        Err(HeError::Malformed { .. })
    ));
    // Wrong parameter set.
    assert!(matches!(
        Query::decode(&other, &shape, &bytes),
        Err(HeError::ParameterMismatch(_))
    ));
    assert!(matches!(
        HolderQuery::new(&other, &shape, &query, &gallery),
        Err(HeError::ParameterMismatch(_))
    ));
    let other_layout = Layout::new(&other, 32, 4).unwrap();
    let other_shape = SessionShape::new(&other, other_layout, 20).unwrap();
    assert!(matches!(
        key.encrypt_query(&other_shape, &probe, &mut rng),
        Err(HeError::ParameterMismatch(_))
    ));
    // Missing chunk, short body, unreduced coefficient.
    let mut q = query.clone();
    q.chunks.pop();
    assert!(matches!(
        HolderQuery::new(&params, &shape, &q, &gallery),
        Err(HeError::Malformed { .. })
    ));
    let mut q = query.clone();
    q.chunks[0].body.pop();
    assert!(matches!(
        HolderQuery::new(&params, &shape, &q, &gallery),
        Err(HeError::Malformed { .. })
    ));
    let mut q = query.clone();
    q.public_key.body[3] = 1u128 << 64;
    assert!(matches!(
        HolderQuery::new(&params, &shape, &q, &gallery),
        Err(HeError::Malformed { .. })
    ));
    // Gallery of another layout.
    let g8 = PackedGallery::new(
        Layout::new(&params, 32, 8).unwrap(),
        vec![1; 64],
        GalleryMode::OnTheFly,
    )
    .unwrap();
    assert!(matches!(
        HolderQuery::new(&params, &shape, &query, &g8),
        Err(HeError::ParameterMismatch(_))
    ));
    // Probe of the wrong dimension, or with −128.
    assert!(matches!(
        key.encrypt_query(&shape, &probe[1..], &mut rng),
        Err(HeError::WrongDimension { .. })
    ));
    let mut bad = probe.clone();
    bad[0] = i8::MIN;
    assert!(matches!(
        key.encrypt_query(&shape, &bad, &mut rng),
        Err(HeError::Malformed { .. })
    ));
    // Gallery rows that are not whole vectors.
    assert!(matches!(
        PackedGallery::new(layout, vec![0; 33], GalleryMode::OnTheFly),
        Err(HeError::WrongDimension { .. })
    ));

    // Responses: wrong length, non-zero padding, too many scores, values past 2^b.
    let holder = HolderQuery::new(&params, &shape, &query, &gallery).unwrap();
    let block = holder.respond(&gallery, 0..1, &mut rng).unwrap().remove(0);
    let enc = block.response.encode();
    assert!(ResponseBlock::decode(&shape, 10, &enc[..enc.len() - 1]).is_err());
    assert!(ResponseBlock::decode(&shape, 11, &enc).is_err());
    assert!(ResponseBlock::decode(&shape, 0, &enc).is_err());
    assert!(key.decrypt_block(&shape, &block.response, 11).is_err());
    let mut wide = block.response.clone();
    wide.body[0] = u64::MAX;
    assert!(matches!(
        key.decrypt_block(&shape, &wide, 10),
        Err(HeError::Malformed { .. })
    ));
    let mut short = block.response.clone();
    short.mask.pop();
    assert!(matches!(
        key.decrypt_block(&shape, &short, 10),
        Err(HeError::Malformed { .. })
    ));
    // A block claiming another switched modulus, in particular one with no room for the
    // rounding (b ≤ k), is refused and never reaches the shift that would underflow.
    assert!(shape.switched_modulus_log + 1 < 64);
    for b in [
        shape.share_bits - 1,
        shape.share_bits,
        shape.share_bits + 1,
        shape.switched_modulus_log + 1,
    ] {
        let mut other = block.response.clone();
        other.switched_modulus_log = b;
        assert!(
            matches!(
                key.decrypt_block(&shape, &other, 10),
                Err(HeError::Malformed { .. })
            ),
            "b = {b}"
        );
    }
    // The holder's masks never reach Debug output.
    let shown = format!("{block:?}");
    assert!(shown.contains("hidden") && !shown.contains(&format!("{:?}", block.masks)));
}
