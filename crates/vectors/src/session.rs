//! `session.json`.

use privface_he::{GalleryMode, ParameterSet, Quantiser};
use privface_protocol::{HolderSession, Message, Mode, OutputTo, VerifierSession};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{Value, json};

use crate::{file, hex};

fn frame_json(m: &Message) -> Value {
    json!({"kind": m.kind(), "body": hex(&m.encode())})
}

/// Runs the two state machines against each other in memory (each side's messages delivered
/// to the other in order, so the transcript does not depend on any transport) and returns
/// the frames each sent, as vector entries.
pub(crate) fn run_in_memory(
    holder: &mut HolderSession<ChaCha20Rng>,
    verifier: &mut VerifierSession<ChaCha20Rng>,
) -> (Vec<Value>, Vec<Value>) {
    let (mut v, mut h) = (Vec::new(), Vec::new());
    let mut to_holder = verifier.start().expect("hello");
    while !to_holder.is_empty() {
        let mut to_verifier = Vec::new();
        for m in to_holder.drain(..) {
            v.push(frame_json(&m));
            to_verifier.extend(holder.receive(m).expect("holder"));
        }
        for m in to_verifier {
            h.push(frame_json(&m));
            to_holder.extend(verifier.receive(m).expect("verifier"));
        }
    }
    (v, h)
}

pub(crate) fn session_transcript() -> Value {
    use std::sync::Arc;
    let params = ParameterSet::toy();
    let d = 8;
    let q = Quantiser::for_dimension(d).expect("d = 8");
    let gallery: Vec<(String, Vec<f32>)> = vec![
        ("alice".into(), vec![1.0, 0.5, 0.0, 0.0, 0.2, 0.0, 0.0, 0.1]),
        ("bob".into(), vec![0.0, 1.0, 0.0, 0.3, 0.0, 0.0, 0.4, 0.0]),
        ("carol".into(), vec![0.2, 0.0, 1.0, 0.0, 0.0, 0.6, 0.0, 0.0]),
    ];
    let entries = gallery
        .iter()
        .map(|(id, e)| (id.clone(), q.quantise(e).expect("valid")));
    let packed =
        privface_protocol::HolderGallery::new(&params, d, entries, GalleryMode::Pretransformed)
            .expect("gallery");
    let mut config = privface_protocol::HolderConfig::new(
        params.clone(),
        Arc::new(packed),
        q.threshold(0.9),
        Arc::new(privface_protocol::QueryBudget::new(None)),
    );
    config.allow_insecure = true;
    config.batch = 2;
    config.round_blocks = 1;
    let probe = vec![0.0, 1.0, 0.0, 0.3, 0.0, 0.0, 0.41, 0.0];
    let vconfig = privface_protocol::VerifierConfig {
        param_sets: vec!["toy".into()],
        allow_insecure: true,
        ..Default::default()
    };
    let mut holder = HolderSession::new(&config, "vector-client", ChaCha20Rng::seed_from_u64(11))
        .expect("holder");
    let mut verifier = VerifierSession::new(
        vconfig,
        &probe,
        Mode::Identify,
        OutputTo::Both,
        ChaCha20Rng::seed_from_u64(12),
    )
    .expect("verifier");
    let (v, h) = run_in_memory(&mut holder, &mut verifier);
    assert!(verifier.is_finished() && holder.is_finished());
    let holder_bit = holder.outcome().expect("holder").0.bit;
    let verifier_bit = verifier.outcome().expect("verifier").0.bit;
    let case = json!({
        "id": 1,
        "comment": "1:N identification, toy parameters, d = 8, three identities, output to both; holder RNG ChaCha20 seed 11, verifier seed 12",
        "flags": ["insecure-toy-params"],
        "valid": true,
        "probe": probe,
        "gallery": gallery.iter().map(|(id, e)| json!({"id": id, "embedding": e})).collect::<Vec<_>>(),
        "threshold_cosine": 0.9,
        "verifier_to_holder": v,
        "holder_to_verifier": h,
        "verifier_bit": verifier_bit,
        "holder_bit": holder_bit,
    });
    file(
        "privface/session/1",
        "A whole session: every frame body in each direction (spec §9)",
        "frames are listed per direction in sending order; `kind` is informative, `body` is the frame without its length prefix",
        vec![case],
    )
}
