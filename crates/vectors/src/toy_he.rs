//! `toy_he.json`.

use privface_gc::reconstruct_score;
use privface_he::{
    GalleryMode, HolderQuery, Layout, PackedGallery, ParameterSet, SessionShape, VerifierKey,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};

use crate::{file, hex};

pub(crate) fn toy_he() -> Value {
    let params = ParameterSet::toy();
    let (d, g) = (8usize, 2usize);
    let layout = Layout::new(&params, d, g).expect("layout");
    let k = privface_he::share_bits_for_dimension(d);
    let shape = SessionShape::new(&params, layout, k).expect("shape");
    let probe: Vec<i8> = vec![1, -2, 3, -4, 5, -6, 7, -127];
    let rows: Vec<i8> = vec![
        1, 1, 1, 1, 1, 1, 1, 1, 127, -127, 127, -127, 127, -127, 127, -127, 0, 2, 0, -2, 0, 2, 0, 5,
    ];
    let gallery =
        PackedGallery::new(layout, rows.clone(), GalleryMode::Pretransformed).expect("gallery");
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let key = VerifierKey::generate(&params, &mut rng);
    let query = key.encrypt_query(&shape, &probe, &mut rng).expect("query");
    let holder = HolderQuery::new(&params, &shape, &query, &gallery).expect("holder");
    let block = holder
        .respond(&gallery, 0..1, &mut rng)
        .expect("respond")
        .remove(0);
    let shares = key
        .decrypt_block(&shape, &block.response, 3)
        .expect("decrypt");
    let scores: Vec<i64> = shares
        .iter()
        .zip(&block.masks)
        .map(|(&s, &r)| reconstruct_score(s, r, k))
        .collect();
    let secret: Vec<u8> = key.tfhe_key().as_ref().iter().map(|&b| b as u8).collect();
    let case = json!({
        "id": 1, "comment": "d = 8, g = 2, three gallery vectors, ChaCha20 seed 2026 (key, then query, then response)",
        "flags": ["insecure-toy-params"], "valid": true,
        "params": "toy", "dimension": d, "group_size": g, "share_bits": k, "switched_modulus_log": shape.switched_modulus_log,
        "probe": hex(&probe.iter().map(|&v| v as u8).collect::<Vec<_>>()),
        "gallery": hex(&rows.iter().map(|&v| v as u8).collect::<Vec<_>>()),
        "secret_key_bits": hex(&secret),
        "query": hex(&query.encode(&params)),
        "response_block": hex(&block.response.encode()),
        "holder_masks": block.masks,
        "verifier_shares": shares,
        "scores": scores,
    });
    file(
        "privface/toy-he/1",
        "The HE step end to end with toy parameters and fixed seeds (spec §5–§6)",
        "secret_key_bits: one byte (0/1) per key coefficient; query and response in the wire encodings of §6.1 and §6.5",
        vec![case],
    )
}
