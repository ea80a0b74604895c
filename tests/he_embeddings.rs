//! Cross-crate check of the HE step from float embeddings: quantise, pick the byte-optimal
//! group size, encrypt, respond block by block, decrypt, and compare every score and the
//! threshold decision with the plaintext computation.

use privface::gc::reconstruct_score;
use privface::he::{
    Dimension, GalleryMode, HeError, HolderQuery, Layout, PackedGallery, ParameterSet, Quantiser,
    SessionShape, ShareBits, VectorCount, VerifierKey, best_group_size, plain,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn embedding(rng: &mut ChaCha20Rng, d: usize) -> Vec<f32> {
    (0..d).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
}

fn run(params: &ParameterSet, d: usize, n: usize, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let quantiser = Quantiser::for_dimension(d).unwrap();
    let k = quantiser.share_bits();
    let gallery_f32: Vec<Vec<f32>> = (0..n).map(|_| embedding(&mut rng, d)).collect();
    let rows: Vec<i8> = gallery_f32
        .iter()
        .flat_map(|e| quantiser.quantise(e).unwrap())
        .collect();
    let g = best_group_size(params, Dimension(d), VectorCount(n), ShareBits(k)).unwrap();
    let layout = Layout::new(params, d, g).unwrap();
    let shape = SessionShape::new(params, layout, k).unwrap();
    // On-the-fly storage: exercises the per-query transform path across crates.
    let gallery = PackedGallery::new(layout, rows.clone(), GalleryMode::OnTheFly).unwrap();

    // A probe near gallery entry 3 (or the only one; genuine) and the threshold at cos = 0.6.
    let probe: Vec<f32> = gallery_f32[3.min(n - 1)]
        .iter()
        .map(|v| v + 0.05 * (rng.random::<f32>() - 0.5))
        .collect();
    let x = quantiser.quantise(&probe).unwrap();
    let tau = quantiser.threshold(0.6);

    let key = VerifierKey::generate(params, &mut rng);
    let query = key.encrypt_query(&shape, &x, &mut rng).unwrap();
    let holder = HolderQuery::new(params, &shape, &query, &gallery).unwrap();
    let mut scores = Vec::new();
    // Stream one block at a time, as the protocol does.
    for b in 0..holder.block_count() {
        for block in holder.respond(&gallery, b..b + 1, &mut rng).unwrap() {
            let shares = key
                .decrypt_block(&shape, &block.response, block.masks.len())
                .unwrap();
            scores.extend(
                shares
                    .iter()
                    .zip(&block.masks)
                    .map(|(&s, &r)| reconstruct_score(s, r, k)),
            );
        }
    }
    let expected: Vec<i64> = plain::scores(&x, &rows)
        .into_iter()
        .map(i64::from)
        .collect();
    assert_eq!(
        scores,
        expected,
        "{} d = {d} n = {n} g = {g}",
        params.name()
    );
    let decision = scores.iter().any(|&s| s >= tau);
    assert!(decision, "the genuine probe must match");
    assert_eq!(decision, expected.iter().any(|&s| s >= tau));
    assert!(
        scores.iter().filter(|&&s| s >= tau).count() == 1,
        "only the genuine entry passes"
    );
}

#[test]
fn float_embeddings_give_exact_scores_and_decisions() {
    run(&ParameterSet::toy(), 128, 1000, 1);
    run(&ParameterSet::toy(), 512, 77, 2);
    run(&ParameterSet::default_64(), 512, 9000, 3);
    run(&ParameterSet::default_64(), 128, 1, 4);
}

#[test]
fn bad_embeddings_are_rejected_before_anything_is_encrypted() {
    let q = Quantiser::for_dimension(128).unwrap();
    let mut e = vec![0.1f32; 128];
    e[5] = f32::NAN;
    assert_eq!(
        q.quantise(&e),
        Err(HeError::NonFiniteEmbedding { index: 5 })
    );
    assert_eq!(q.quantise(&[0.0; 128]), Err(HeError::ZeroEmbedding));
    assert!(matches!(
        q.quantise(&[0.1; 127]),
        Err(HeError::WrongDimension {
            expected: 128,
            actual: 127
        })
    ));
}
