//! `packed_gallery.json`.

use privface_he::{Layout, ParameterSet, Quantiser};
use serde_json::{Value, json};

use crate::{file, hex};

pub(crate) fn packed_gallery() -> Value {
    let params = ParameterSet::toy();
    let d = 8usize;
    let q = Quantiser::for_dimension(d).expect("d = 8");
    let embeddings: [[f32; 8]; 5] = [
        [1.0, 0.5, 0.0, 0.0, 0.2, 0.0, 0.0, 0.1],
        [0.0, 1.0, 0.0, 0.3, 0.0, 0.0, 0.4, 0.0],
        [0.2, 0.0, 1.0, 0.0, 0.0, 0.6, 0.0, 0.0],
        [-0.3, 0.1, -0.2, 0.9, 0.0, -0.1, 0.0, 0.2],
        [0.1, 0.1, 0.1, 0.1, -0.1, -0.1, -0.1, -0.1],
    ];
    let probe_embedding = [0.0f32, 1.0, 0.0, 0.3, 0.0, 0.0, 0.41, 0.0];
    let rows: Vec<i8> = embeddings
        .iter()
        .flat_map(|e| q.quantise(e).expect("valid"))
        .collect();
    let probe = q.quantise(&probe_embedding).expect("valid");
    let n = params.n();
    let mut cases = Vec::new();
    for (i, g) in [1usize, 2, 8].into_iter().enumerate() {
        let layout = Layout::new(&params, d, g).expect("layout");
        let poly_hex = |p: &[i64]| hex(&p.iter().map(|&v| v as i8 as u8).collect::<Vec<_>>());
        let mut gallery_polys = Vec::new();
        let mut probe_polys = Vec::new();
        let mut buf = vec![0i64; n];
        for c in 0..layout.chunk_count() {
            buf.fill(0);
            layout.gallery_chunk_polynomial(&rows, c, &mut buf);
            gallery_polys.push(poly_hex(&buf));
            buf.fill(0);
            layout.probe_chunk_polynomial(&probe, c, &mut buf);
            probe_polys.push(poly_hex(&buf));
        }
        let scores: Vec<i64> = rows
            .chunks(d)
            .map(|y| {
                y.iter()
                    .zip(&probe)
                    .map(|(&a, &b)| a as i64 * b as i64)
                    .sum()
            })
            .collect();
        let positions: Vec<usize> = (0..scores.len())
            .map(|t| layout.score_coefficient(t))
            .collect();
        cases.push(json!({
            "id": i + 1,
            "comment": format!("toy (N = {n}), d = 8, g = {g}: m = {} chunks, one block of five vectors", layout.chunk_count()),
            "flags": ["insecure-toy-params"], "valid": true,
            "params": "toy", "dimension": d, "group_size": g,
            "gallery": hex(&rows.iter().map(|&v| v as u8).collect::<Vec<_>>()),
            "probe": hex(&probe.iter().map(|&v| v as u8).collect::<Vec<_>>()),
            "gallery_polynomials": gallery_polys,
            "probe_polynomials": probe_polys,
            "score_coefficients": positions,
            "scores": scores,
        }));
    }
    file(
        "privface/packed-gallery/1",
        "The grouped coefficient layout (spec §5): gallery polynomials Y_{0,c} and probe polynomials Q_c of one block",
        "polynomials are N coefficients as two's-complement bytes (all fit in i8), coefficient 0 first; coefficient `score_coefficients[t]` of Σ_c Q_c·Y_c mod X^N + 1 is `scores[t]` = ⟨probe, gallery row t⟩",
        cases,
    )
}
