//! `session.json`.

use privface_he::{GalleryMode, ParameterSet, Quantiser};
use privface_protocol::{Answer, HolderSession, Message, Mode, OutputTo, VerifierSession};
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

/// The toy gallery of the transcripts: three identities at d = 8, threshold cos ≥ 0.9.
fn toy_gallery() -> Vec<(String, Vec<f32>)> {
    vec![
        ("alice".into(), vec![1.0, 0.5, 0.0, 0.0, 0.2, 0.0, 0.0, 0.1]),
        ("bob".into(), vec![0.0, 1.0, 0.0, 0.3, 0.0, 0.0, 0.4, 0.0]),
        ("carol".into(), vec![0.2, 0.0, 1.0, 0.0, 0.0, 0.6, 0.0, 0.0]),
    ]
}

/// A probe close to bob.
const PROBE: [f32; 8] = [0.0, 1.0, 0.0, 0.3, 0.0, 0.0, 0.41, 0.0];

/// Runs one toy session over [`toy_gallery`] (labels "Label of <id>") in `mode` with output
/// to `output`: the frames each way and the two answers.
fn toy_session(
    mode: Mode,
    output: OutputTo,
    seeds: (u64, u64),
) -> (Vec<Value>, Vec<Value>, Answer, Answer) {
    use std::sync::Arc;
    let params = ParameterSet::toy();
    let d = 8;
    let q = Quantiser::for_dimension(d).expect("d = 8");
    let gallery = toy_gallery();
    let entries = gallery
        .iter()
        .map(|(id, e)| (id.clone(), q.quantise(e).expect("valid")));
    let labels = gallery
        .iter()
        .map(|(id, _)| format!("Label of {id}"))
        .collect();
    let packed =
        privface_protocol::HolderGallery::new(&params, d, entries, GalleryMode::Pretransformed)
            .and_then(|g| g.with_labels(labels))
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
    let vconfig = privface_protocol::VerifierConfig {
        param_sets: vec!["toy".into()],
        allow_insecure: true,
        ..Default::default()
    };
    let mut holder = HolderSession::new(
        &config,
        "vector-client",
        ChaCha20Rng::seed_from_u64(seeds.0),
    )
    .expect("holder");
    let mut verifier = VerifierSession::new(
        vconfig,
        &PROBE,
        mode,
        output,
        ChaCha20Rng::seed_from_u64(seeds.1),
    )
    .expect("verifier");
    let (v, h) = run_in_memory(&mut holder, &mut verifier);
    assert!(verifier.is_finished() && holder.is_finished());
    let holder_answer = holder.outcome().expect("holder").0;
    let verifier_answer = verifier.outcome().expect("verifier").0;
    (v, h, verifier_answer, holder_answer)
}

fn gallery_json() -> Value {
    toy_gallery()
        .iter()
        .map(|(id, e)| json!({"id": id, "embedding": e, "label": format!("Label of {id}")}))
        .collect()
}

pub(crate) fn session_transcript() -> Value {
    let (v, h, verifier, holder) = toy_session(Mode::Identify, OutputTo::Both, (11, 12));
    let case = json!({
        "id": 1,
        "comment": "1:N identification, toy parameters, d = 8, three identities, output to both; holder RNG ChaCha20 seed 11, verifier seed 12",
        "flags": ["insecure-toy-params"],
        "valid": true,
        "probe": PROBE,
        "gallery": gallery_json(),
        "threshold_cosine": 0.9,
        "verifier_to_holder": v,
        "holder_to_verifier": h,
        "verifier_bit": verifier.bit,
        "holder_bit": holder.bit,
    });
    file(
        "privface/session/1",
        "A whole session: every frame body in each direction (spec §9)",
        "frames are listed per direction in sending order; `kind` is informative, `body` is the frame without its length prefix",
        vec![case],
    )
}

pub(crate) fn who_transcript() -> Value {
    let (v, h, verifier, holder) = toy_session(Mode::IdentifyWho, OutputTo::Verifier, (31, 32));
    let who = verifier.who.as_ref().expect("bob is named");
    assert_eq!(who.id, "bob");
    let case = json!({
        "id": 1,
        "comment": "who-identification, toy parameters, d = 8, three identities, output to the verifier; holder RNG ChaCha20 seed 31, verifier seed 32",
        "flags": ["insecure-toy-params"],
        "valid": true,
        "probe": PROBE,
        "gallery": gallery_json(),
        "threshold_cosine": 0.9,
        "verifier_to_holder": v,
        "holder_to_verifier": h,
        "verifier_match": verifier.bit,
        "verifier_id": who.id,
        "verifier_label": who.label,
        "holder_learns": holder.bit.is_some(),
    });
    file(
        "privface/who-session/1",
        "A whole who-identification: every frame body in each direction (spec §9, §15)",
        "frames are listed per direction in sending order; `kind` is informative, `body` is the frame without its length prefix",
        vec![case],
    )
}
