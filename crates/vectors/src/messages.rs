//! `messages.json`.

use privface_he::{Layout, ParameterSet, Quantiser, SessionShape};
use privface_protocol::{
    AbortCode, Accept, DEFAULT_BATCH, DEFAULT_ROUND_BLOCKS, Hello, Message, Mode, OutputTo,
};
use serde_json::{Value, json};

use crate::{file, hex};

pub(crate) fn messages() -> Value {
    let valid: Vec<(&str, Message)> = vec![
        (
            "Hello, identification",
            Message::Hello(Hello {
                param_sets: vec!["default".into()],
                dimension: 512,
                mode: Mode::Identify,
                output: OutputTo::Verifier,
            }),
        ),
        (
            "Hello, verification of `alice`, output to both",
            Message::Hello(Hello {
                param_sets: vec!["default".into(), "toy".into()],
                dimension: 128,
                mode: Mode::Verify {
                    identity: "alice".into(),
                },
                output: OutputTo::Both,
            }),
        ),
        ("Accept", Message::Accept(default_accept())),
        ("Reject: budget", Message::Reject(AbortCode::Budget)),
        (
            "QueryPart",
            Message::QueryPart {
                index: 3,
                bytes: vec![1, 2, 3],
            },
        ),
        (
            "Scores",
            Message::Scores {
                index: 0,
                count: 2,
                bytes: vec![0xff; 4],
            },
        ),
        ("BaseOtOffer", Message::BaseOtOffer(vec![0xa5; 32])),
        ("BaseOtReply", Message::BaseOtReply(vec![0x5a; 64])),
        (
            "OtExtension",
            Message::OtExtension {
                batch: 7,
                bytes: vec![0, 1, 2, 3, 4],
            },
        ),
        (
            "Tables",
            Message::Tables {
                batch: 300,
                bytes: vec![9; 3],
            },
        ),
        ("Finish", Message::Finish(vec![1])),
        ("OutputLabel", Message::OutputLabel(vec![0x11; 16])),
        ("Abort: unexpected", Message::Abort(AbortCode::Unexpected)),
    ];
    let mut cases: Vec<Value> = valid
        .into_iter()
        .enumerate()
        .map(|(i, (comment, m))| json!({"id": i + 1, "comment": comment, "flags": [], "valid": true, "kind": m.kind(), "body": hex(&m.encode())}))
        .collect();
    let ok = Message::Abort(AbortCode::Internal).encode();
    let mut trailing = ok.clone();
    trailing.push(0);
    let mut version = ok.clone();
    version[0] = 2;
    let invalid: Vec<(&str, &str, Vec<u8>)> = vec![
        ("empty body", "Malformed", vec![]),
        ("trailing byte after a valid message", "Malformed", trailing),
        ("another protocol version", "Version", version),
        ("unknown variant 12", "Malformed", vec![1, 12]),
        (
            "truncated Hello",
            "Malformed",
            Message::Hello(Hello {
                param_sets: vec!["default".into()],
                dimension: 512,
                mode: Mode::Identify,
                output: OutputTo::Verifier,
            })
            .encode()[..6]
                .to_vec(),
        ),
        (
            "byte vector longer than the frame",
            "Malformed",
            vec![1, 3, 200, 1, 0],
        ),
    ];
    cases.extend(invalid.into_iter().enumerate().map(|(i, (comment, flag, body))| {
        json!({"id": 100 + i, "comment": comment, "flags": [flag], "valid": false, "body": hex(&body)})
    }));
    file(
        "privface/messages/1",
        "Frame bodies: version byte then postcard(Message) (spec §9.2); invalid ones must be rejected",
        "`body` excludes the 4-byte length prefix",
        cases,
    )
}

/// The terms a `default` holder offers for d = 512 at g = 32: every derived field (scale,
/// threshold, share width, switched modulus) computed as a conforming holder computes it, so
/// a conforming verifier accepts them.
fn default_accept() -> Accept {
    let params = ParameterSet::default_64();
    let dimension = 512;
    let quantiser = Quantiser::for_dimension(dimension).expect("d = 512 has a quantiser");
    let layout = Layout::new(&params, dimension, 32).expect("g = 32 divides 512");
    let shape =
        SessionShape::new(&params, layout, quantiser.share_bits()).expect("k = 22 decrypts");
    Accept {
        params: params.name().to_owned(),
        dimension: dimension as u32,
        quant_scale: quantiser.scale(),
        threshold: quantiser.threshold(0.4),
        padded_count: 10_240,
        group_size: 32,
        share_bits: shape.share_bits,
        switched_modulus_log: shape.switched_modulus_log,
        batch: DEFAULT_BATCH as u32,
        round_blocks: DEFAULT_ROUND_BLOCKS as u32,
        dropped_bits: 0,
    }
}
