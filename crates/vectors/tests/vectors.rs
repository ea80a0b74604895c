//! The committed protocol test vectors: regenerating them gives the same files, and every case
//! checks out against the implementation (decoding, decryption, circuit evaluation, garbled
//! evaluation, rejection of the invalid ones).

use privface_gc::reconstruct_score;
use privface_gc::{
    Evaluator, Garbler, Plain, Reveal, ThresholdSpec, circuit, evaluate_threshold_or,
    garble_threshold_or,
};
use privface_he::{
    Layout, ParameterSet, Quantiser, Query, ResponseBlock, SessionShape, VerifierKey, plain,
};
use privface_ot::{Block, BufferChannel, Delta, IknpReceiver, IknpSender, MemoryChannel};
use privface_protocol::{Message, ProtocolError};
use privface_vectors::{committed_dir, generate, tiny_circuit, tiny_threshold, unhex};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;

fn committed(name: &str) -> Value {
    let path = committed_dir().join(name);
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

fn block(v: &Value) -> Block {
    Block::from_bytes(bytes(v).try_into().expect("16-byte block"))
}

fn blocks(v: &Value) -> Vec<Block> {
    v.as_array().unwrap().iter().map(block).collect()
}

fn bools(v: &Value) -> Vec<bool> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_bool().unwrap())
        .collect()
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn packed_gallery_vectors() {
    let params = ParameterSet::toy();
    let n = params.n();
    let signed = |v: &Value| -> Vec<i64> { bytes(v).iter().map(|&b| b as i8 as i64).collect() };
    for case in cases(&committed("packed_gallery.json")) {
        let d = case["dimension"].as_u64().unwrap() as usize;
        let g = case["group_size"].as_u64().unwrap() as usize;
        let layout = Layout::new(&params, d, g).unwrap();
        let rows: Vec<i8> = bytes(&case["gallery"]).iter().map(|&b| b as i8).collect();
        let probe: Vec<i8> = bytes(&case["probe"]).iter().map(|&b| b as i8).collect();
        let ys: Vec<Vec<i64>> = case["gallery_polynomials"]
            .as_array()
            .unwrap()
            .iter()
            .map(signed)
            .collect();
        let qs: Vec<Vec<i64>> = case["probe_polynomials"]
            .as_array()
            .unwrap()
            .iter()
            .map(signed)
            .collect();
        assert_eq!(ys.len(), layout.chunk_count());
        // The implementation packs exactly these polynomials.
        let mut buf = vec![0i64; n];
        for c in 0..layout.chunk_count() {
            buf.fill(0);
            layout.gallery_chunk_polynomial(&rows, c, &mut buf);
            assert_eq!(buf, ys[c], "g = {g}, chunk {c}");
            buf.fill(0);
            layout.probe_chunk_polynomial(&probe, c, &mut buf);
            assert_eq!(buf, qs[c], "g = {g}, probe chunk {c}");
        }
        // Σ_c Q_c·Y_c mod X^N + 1, computed here schoolbook: the stated coefficients carry the
        // stated scores, which are the plaintext inner products.
        let mut sum = vec![0i64; n];
        for (q, y) in qs.iter().zip(&ys) {
            for (i, &a) in q.iter().enumerate().filter(|(_, a)| **a != 0) {
                for (j, &b) in y.iter().enumerate() {
                    let e = i + j;
                    if e < n {
                        sum[e] += a * b;
                    } else {
                        sum[e - n] -= a * b;
                    }
                }
            }
        }
        let scores: Vec<i64> = case["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        for (t, pos) in case["score_coefficients"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let pos = pos.as_u64().unwrap() as usize;
            assert_eq!(pos, layout.score_coefficient(t));
            assert_eq!(sum[pos], scores[t], "g = {g}, vector {t}");
            assert_eq!(
                scores[t],
                plain::dot_i8(&probe, &rows[t * d..(t + 1) * d]) as i64
            );
        }
    }
}

#[test]
fn garbling_vectors() {
    for case in cases(&committed("garbling.json")) {
        let delta = Delta::from_block(block(&case["delta"]));
        assert_eq!(delta.block(), block(&case["delta"]), "Δ has lsb 1");
        let stream = bytes(&case["stream"]);
        let want = bools(&case["outputs"]);
        let mut g = Garbler::new(BufferChannel::new(), delta);
        let mut e = Evaluator::new(BufferChannel::new());
        e.channel().put(stream.clone());
        let held = |zero: &[Block], x: &[bool]| -> Vec<Block> {
            zero.iter()
                .zip(x)
                .map(|(z, &x)| *z ^ delta.block().select(x))
                .collect()
        };
        let (got, plain) = match case["circuit"].as_str().unwrap() {
            "tiny" => {
                let (za, zb) = (
                    blocks(&case["zero_labels_a"]),
                    blocks(&case["zero_labels_b"]),
                );
                let (xa, xb) = (bools(&case["inputs_a"]), bools(&case["inputs_b"]));
                let known = bools(&case["known"]);
                tiny_circuit(&mut g, &za, &zb, &known).unwrap();
                (
                    tiny_circuit(&mut e, &held(&za, &xa), &held(&zb, &xb), ()).unwrap(),
                    tiny_circuit(&mut Plain, &xa, &xb, &known).unwrap(),
                )
            }
            "threshold-or" => {
                let spec = ThresholdSpec {
                    share_bits: case["share_bits"].as_u64().unwrap() as u32,
                    threshold: case["threshold"].as_i64().unwrap(),
                };
                let masks = u32s(&case["masks"]);
                let shares = u32s(&case["shares"]);
                let zero: Vec<Vec<Block>> = case["zero_labels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(blocks)
                    .collect();
                let bits = circuit::bit_columns(&shares, spec.share_bits);
                let labels: Vec<Vec<Block>> =
                    zero.iter().zip(&bits).map(|(z, x)| held(z, x)).collect();
                let neg = circuit::offset_bits(&masks, &spec);
                let neg: Vec<&[bool]> = neg.iter().map(Vec::as_slice).collect();
                let hidden = vec![(); spec.share_bits as usize];
                tiny_threshold(&mut g, &spec, &zero, &neg).unwrap();
                (
                    tiny_threshold(&mut e, &spec, &labels, &hidden).unwrap(),
                    tiny_threshold(&mut Plain, &spec, &bits, &neg).unwrap(),
                )
            }
            other => panic!("unknown circuit {other}"),
        };
        // Garbling with the stated Δ and labels gives the committed stream byte for byte; the
        // evaluator consumes all of it and decodes the plaintext circuit's outputs.
        assert_eq!(g.channel().take_outgoing(), stream, "case {}", case["id"]);
        assert_eq!(e.channel().remaining(), 0);
        let got: Vec<bool> = got.into_iter().map(Option::unwrap).collect();
        let plain: Vec<bool> = plain.into_iter().map(Option::unwrap).collect();
        assert_eq!(got, want);
        assert_eq!(plain, want);
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
            privface_gc::plain_threshold_rule(&spec, &shares, &masks),
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
                _ => assert!(matches!(err, ProtocolError::Misbehaved(_))),
            }
        }
    }
}
