//! `classify_session.json`.

use std::sync::Arc;

use privface_he::{GalleryMode, ParameterSet, QuantisedModel, Quantiser};
use privface_protocol::{
    HolderConfig, HolderGallery, HolderModel, HolderSession, Mode, OutputTo, QueryBudget,
    VerifierConfig, VerifierSession,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};

use crate::file;
use crate::session::run_in_memory;

pub(crate) fn classify_transcript() -> Value {
    let params = ParameterSet::toy();
    let d = 8;
    // Three classes with biases; inputs bounded by 1.
    let weights: Vec<f32> = vec![
        0.9, -0.2, 0.1, 0.0, 0.3, -0.5, 0.2, 0.1, //
        -0.3, 0.8, 0.0, 0.4, -0.1, 0.2, 0.6, -0.2, //
        0.1, 0.1, 0.7, -0.6, 0.0, 0.5, -0.3, 0.4,
    ];
    let biases = vec![0.05f32, -0.1, 0.2];
    let labels: Vec<String> = ["cat", "dog", "neither"].map(String::from).to_vec();
    let model = QuantisedModel::quantise(d, &weights, &biases, labels.clone(), 1.0).expect("model");
    let q = Quantiser::for_dimension(d).expect("d = 8");
    let row = q.quantise(&[1.0; 8]).expect("row");
    let gallery = HolderGallery::new(&params, d, [("x".to_string(), row)], GalleryMode::OnTheFly)
        .expect("gallery");
    let mut config = HolderConfig::new(
        params.clone(),
        Arc::new(gallery),
        q.threshold(0.9),
        Arc::new(QueryBudget::new(None)),
    );
    config.allow_insecure = true;
    let held = HolderModel::new(&params, model.clone()).expect("packed model");
    config.models = Arc::new([("pets".to_string(), Arc::new(held))].into_iter().collect());
    let input = vec![0.1f32, 0.9, -0.2, 0.5, 0.0, 0.3, 0.8, -0.4];
    let vconfig = VerifierConfig {
        param_sets: vec!["toy".into()],
        allow_insecure: true,
        ..Default::default()
    };
    let mut holder = HolderSession::new(&config, "vector-client", ChaCha20Rng::seed_from_u64(21))
        .expect("holder");
    let mode = Mode::Classify {
        model: "pets".into(),
    };
    let mut verifier = VerifierSession::new(
        vconfig,
        &input,
        mode,
        OutputTo::Both,
        ChaCha20Rng::seed_from_u64(22),
    )
    .expect("verifier");
    let (v, h) = run_in_memory(&mut holder, &mut verifier);
    assert!(verifier.is_finished() && holder.is_finished());
    let holder_class = holder
        .outcome()
        .expect("holder")
        .0
        .class
        .expect("class")
        .index;
    let verifier_class = verifier
        .outcome()
        .expect("verifier")
        .0
        .class
        .expect("class")
        .index;
    let logits = model.logits(&model.input().quantise(&input).expect("in range"));
    assert_eq!(verifier_class as usize, model.decide(&logits));
    let case = json!({
        "id": 1,
        "comment": "classification with a three-class model `pets`, toy parameters, d = 8, output to both; holder RNG ChaCha20 seed 21, verifier seed 22",
        "flags": ["insecure-toy-params"],
        "valid": true,
        "input": input,
        "weights": weights,
        "biases": biases,
        "labels": labels,
        "input_bound": 1.0,
        "quantised_logits": logits,
        "verifier_to_holder": v,
        "holder_to_verifier": h,
        "verifier_class": verifier_class,
        "holder_class": holder_class,
    });
    file(
        "privface/classify-session/1",
        "A whole classification session: every frame body in each direction (spec §9, §13)",
        "frames are listed per direction in sending order; `kind` is informative, `body` is the frame without its length prefix; weights are row-major C × d",
        vec![case],
    )
}
