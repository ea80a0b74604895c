//! The holder's state machine (spec §9.3) fed an arbitrary sequence of frames as its verifier:
//! the configuration of the `session` vector, with the labels of the `who_session` vector and
//! the model `pets` of the `classify_session` vector, so the vectors' verifier-to-holder frames
//! (the seed corpus) open identification, who-identification and classification sessions, and
//! mutations of them reach every state of each. Every message either advances the session or
//! ends it with an error, and nothing panics.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use privface_he::{GalleryMode, ParameterSet, QuantisedModel, Quantiser};
use privface_protocol::{
    HolderConfig, HolderGallery, HolderModel, HolderSession, Message, QueryBudget,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn config() -> &'static HolderConfig {
    static CONFIG: OnceLock<HolderConfig> = OnceLock::new();
    CONFIG.get_or_init(|| {
        let params = ParameterSet::toy();
        let q = Quantiser::for_dimension(8).expect("d = 8");
        let rows: [(&str, [f32; 8]); 3] = [
            ("alice", [1.0, 0.5, 0.0, 0.0, 0.2, 0.0, 0.0, 0.1]),
            ("bob", [0.0, 1.0, 0.0, 0.3, 0.0, 0.0, 0.4, 0.0]),
            ("carol", [0.2, 0.0, 1.0, 0.0, 0.0, 0.6, 0.0, 0.0]),
        ];
        let entries = rows
            .iter()
            .map(|(id, e)| (id.to_string(), q.quantise(e).expect("valid")));
        let labels = rows.iter().map(|(id, _)| format!("Label of {id}")).collect();
        let gallery = HolderGallery::new(&params, 8, entries, GalleryMode::Pretransformed)
            .and_then(|g| g.with_labels(labels))
            .expect("gallery");
        let budget = Arc::new(QueryBudget::new(None));
        let mut config =
            HolderConfig::new(params.clone(), Arc::new(gallery), q.threshold(0.9), budget);
        config.allow_insecure = true;
        config.batch = 2;
        config.round_blocks = 1;
        // The classify_session vector's model.
        let weights: Vec<f32> = vec![
            0.9, -0.2, 0.1, 0.0, 0.3, -0.5, 0.2, 0.1, //
            -0.3, 0.8, 0.0, 0.4, -0.1, 0.2, 0.6, -0.2, //
            0.1, 0.1, 0.7, -0.6, 0.0, 0.5, -0.3, 0.4,
        ];
        let labels = ["cat", "dog", "neither"].map(String::from).to_vec();
        let model = QuantisedModel::quantise(8, &weights, &[0.05, -0.1, 0.2], labels, 1.0)
            .expect("model");
        let held = HolderModel::new(&params, model).expect("packed model");
        config.models = Arc::new([("pets".to_string(), Arc::new(held))].into_iter().collect());
        config
    })
}

fuzz_target!(|stream: &[u8]| {
    let mut holder = HolderSession::new(config(), "vector-client", ChaCha20Rng::seed_from_u64(11))
        .expect("session");
    let mut rest = stream;
    while let Ok(body) = privface_protocol::read_frame(&mut rest, 1 << 20) {
        let Ok(m) = Message::decode(&body) else { break };
        if holder.receive(m).is_err() || holder.is_finished() {
            break;
        }
    }
});
