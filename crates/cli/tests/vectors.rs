//! The committed protocol test vectors: regenerating them gives the same files, and every case
//! checks out against the implementation (decoding, decryption, circuit evaluation, garbled
//! evaluation, rejection of the invalid ones).

use std::path::Path;

use privface_cli::vectors::{generate, unhex};
use privface_gc::{Reveal, ThresholdSpec, evaluate_threshold_or, garble_threshold_or};
use privface_he::{
    Layout, ParameterSet, Quantiser, Query, ResponseBlock, SessionShape, VerifierKey, plain,
    reconstruct_score,
};
use privface_ot::{Delta, IknpReceiver, IknpSender, MemoryChannel};
use privface_protocol::{Message, ProtocolError};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;

fn committed(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../protocols/vectors")
        .join(name);
    serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    unhex(v.as_str().expect("hex string")).expect("lowercase hex")
}

fn cases(file: &Value) -> &Vec<Value> {
    file["cases"].as_array().expect("cases")
}

#[test]
fn regenerated_vectors_equal_the_committed_ones() {
    for (name, content) in generate() {
        assert_eq!(
            content,
            committed(name),
            "{name} drifted: run gen-vectors and review the diff"
        );
    }
}

#[test]
fn quantisation_vectors() {
    for case in cases(&committed("quantisation.json")) {
        let d = case["dimension"].as_u64().unwrap() as usize;
        let e: Vec<f32> = case["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().map(|f| f as f32).unwrap_or(f32::NAN))
            .collect();
        let q = Quantiser::for_dimension(d).unwrap();
        if case["valid"] == true {
            assert_eq!(q.scale(), case["scale"].as_f64().unwrap() as f32);
            let want: Vec<i8> = bytes(&case["quantised"])
                .into_iter()
                .map(|b| b as i8)
                .collect();
            assert_eq!(q.quantise(&e).unwrap(), want, "case {}", case["id"]);
        } else {
            assert!(q.quantise(&e).is_err(), "case {}", case["id"]);
        }
    }
}

#[test]
fn threshold_or_vectors_plain_and_garbled() {
    for case in cases(&committed("threshold_or.json")) {
        let spec = ThresholdSpec {
            share_bits: case["share_bits"].as_u64().unwrap() as u32,
            threshold: case["threshold"].as_i64().unwrap(),
        };
        let list = |k: &str| -> Vec<u32> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect()
        };
        let (shares, masks) = (list("shares"), list("masks"));
        let want = case["bit"].as_bool().unwrap();
        assert_eq!(
            privface_gc::plain_threshold_or(&spec, &shares, &masks),
            want
        );
        let (mut a, mut b) = MemoryChannel::pair(8);
        let garbler = std::thread::spawn(move || {
            let mut rng = ChaCha20Rng::seed_from_u64(1);
            let mut ot = IknpSender::setup(&mut a, Delta::random(&mut rng), &mut rng).unwrap();
            garble_threshold_or(&mut a, &mut ot, &spec, &masks, 3, Reveal::BOTH)
                .unwrap()
                .result
        });
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut ot = IknpReceiver::setup(&mut b, &mut rng).unwrap();
        let bit = evaluate_threshold_or(&mut b, &mut ot, &spec, &shares, 3, Reveal::BOTH, &mut rng)
            .unwrap();
        assert_eq!(
            (bit, garbler.join().unwrap()),
            (Some(want), Some(want)),
            "case {}",
            case["id"]
        );
    }
}

#[test]
fn toy_he_vectors_decode_and_decrypt() {
    for case in cases(&committed("toy_he.json")) {
        let params = ParameterSet::by_name(case["params"].as_str().unwrap()).unwrap();
        let d = case["dimension"].as_u64().unwrap() as usize;
        let layout =
            Layout::new(&params, d, case["group_size"].as_u64().unwrap() as usize).unwrap();
        let shape = SessionShape::new(&params, layout, case["share_bits"].as_u64().unwrap() as u32)
            .unwrap();
        assert_eq!(
            shape.switched_modulus_log as u64,
            case["switched_modulus_log"].as_u64().unwrap()
        );
        let key = VerifierKey::from_binary_key(&params, &bytes(&case["secret_key_bits"])).unwrap();
        let query = Query::decode(&params, &shape, &bytes(&case["query"])).unwrap();
        assert_eq!(query.encode(&params), bytes(&case["query"]));
        let masks: Vec<u32> = case["holder_masks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let block =
            ResponseBlock::decode(&shape, masks.len(), &bytes(&case["response_block"])).unwrap();
        let shares = key.decrypt_block(&shape, &block, masks.len()).unwrap();
        let want: Vec<u32> = case["verifier_shares"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(shares, want);
        let probe: Vec<i8> = bytes(&case["probe"]).into_iter().map(|b| b as i8).collect();
        let rows: Vec<i8> = bytes(&case["gallery"])
            .into_iter()
            .map(|b| b as i8)
            .collect();
        let scores: Vec<i64> = shares
            .iter()
            .zip(&masks)
            .map(|(&s, &r)| reconstruct_score(s, r, shape.share_bits))
            .collect();
        let plain_scores: Vec<i64> = plain::scores(&probe, &rows)
            .into_iter()
            .map(i64::from)
            .collect();
        assert_eq!(scores, plain_scores);
        assert_eq!(
            case["scores"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect::<Vec<_>>(),
            scores
        );
    }
}

#[test]
fn message_vectors_decode_or_are_rejected() {
    for case in cases(&committed("messages.json")) {
        let body = bytes(&case["body"]);
        let decoded = Message::decode(&body);
        if case["valid"] == true {
            let m = decoded.unwrap_or_else(|e| panic!("case {}: {e}", case["id"]));
            assert_eq!(m.kind(), case["kind"].as_str().unwrap());
            assert_eq!(m.encode(), body, "encoding is canonical");
        } else {
            let err = decoded.expect_err("invalid vector decoded");
            let flag = case["flags"][0].as_str().unwrap();
            match flag {
                "Version" => assert!(matches!(err, ProtocolError::Version(_))),
                _ => assert!(matches!(err, ProtocolError::Malformed(_))),
            }
        }
    }
}
