//! The session state machines on their own: no transport, messages handed over in memory.

use privface_he::ParameterSet;
use privface_protocol::*;
use privface_testkit::{Fixture, embedding};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn fixture(n: usize, d: usize, batch: usize, round_blocks: usize) -> Fixture {
    Fixture::builder(ParameterSet::toy(), d, n)
        .seed(n as u64 ^ 0x5eed)
        .batch(batch)
        .round_blocks(round_blocks)
        .build()
}

fn verifier_config(window: usize) -> VerifierConfig {
    VerifierConfig {
        param_sets: vec!["toy".into()],
        allow_insecure: true,
        window,
        ..VerifierConfig::default()
    }
}

/// What each side sent, in order, and the two outcomes.
struct Transcript {
    to_holder: Vec<Message>,
    to_verifier: Vec<Message>,
    verifier_bit: Option<bool>,
    holder_bit: Option<bool>,
}

fn run(f: &Fixture, probe: &[f32], mode: Mode, output: OutputTo, window: usize) -> Transcript {
    let mut holder =
        HolderSession::new(&f.config, "client", ChaCha20Rng::seed_from_u64(1)).unwrap();
    let mut verifier = VerifierSession::new(
        verifier_config(window),
        probe,
        mode,
        output,
        ChaCha20Rng::seed_from_u64(2),
    )
    .unwrap();
    let (mut to_holder, mut to_verifier) = (Vec::new(), Vec::new());
    let mut pending = verifier.start().unwrap();
    while !pending.is_empty() {
        let mut replies = Vec::new();
        for m in pending.drain(..) {
            to_holder.push(m.clone());
            replies.extend(holder.receive(m).unwrap());
        }
        for m in replies {
            to_verifier.push(m.clone());
            pending.extend(verifier.receive(m).unwrap());
        }
    }
    assert!(holder.is_finished() && verifier.is_finished());
    Transcript {
        to_holder,
        to_verifier,
        verifier_bit: verifier.outcome().unwrap().0.bit,
        holder_bit: holder.outcome().unwrap().0.bit,
    }
}

#[test]
fn sessions_in_memory_equal_the_plaintext_decision_for_every_window() {
    // 700 vectors at d = 16 (toy: 32 per block, ≥ 22 blocks), batches of 50 that do not
    // divide a round, rounds of 3 blocks.
    let f = fixture(700, 16, 50, 3);
    let all: Vec<usize> = (0..700).collect();
    let genuine: Vec<f32> = f.embeddings[411].iter().map(|v| v + 0.003).collect();
    let impostor = embedding(&mut ChaCha20Rng::seed_from_u64(99), 16);
    for probe in [&genuine, &impostor] {
        let want = f.plain_decision(probe, &all);
        let reference = run(&f, probe, Mode::Identify, OutputTo::Both, 1);
        assert_eq!(reference.verifier_bit, Some(want));
        assert_eq!(reference.holder_bit, Some(want));
        let blocks = reference
            .to_verifier
            .iter()
            .filter(|m| m.kind() == "Scores")
            .count();
        assert!(blocks > 3, "several rounds of 3 blocks ({blocks} blocks)");
        for window in [2, 3, 64] {
            let t = run(&f, probe, Mode::Identify, OutputTo::Both, window);
            assert_eq!(t.verifier_bit, Some(want));
            // A wider window changes only the interleaving: each direction carries the same
            // messages, in the same order.
            assert_eq!(t.to_holder, reference.to_holder, "window {window}");
            assert_eq!(t.to_verifier, reference.to_verifier, "window {window}");
        }
    }
    let want = f.plain_decision(&genuine, &[411]);
    let t = run(
        &f,
        &genuine,
        Mode::Verify {
            identity: "id411".into(),
        },
        OutputTo::Verifier,
        2,
    );
    assert_eq!((t.verifier_bit, t.holder_bit), (Some(want), None));
    assert!(want);
}

#[test]
fn the_message_sequence_is_the_specified_one() {
    let f = fixture(70, 16, 20, 1);
    let t = run(&f, &f.embeddings[3], Mode::Identify, OutputTo::Both, 2);
    let kinds = |ms: &[Message]| ms.iter().map(|m| m.kind()).collect::<Vec<_>>();
    let v = kinds(&t.to_holder);
    let h = kinds(&t.to_verifier);
    // toy d = 16: g = 1 (m = 1 chunk) or more; the query is the public key plus m chunks.
    let m = v.iter().filter(|k| **k == "QueryPart").count() - 1;
    assert!(m >= 1);
    assert_eq!(&v[..2], ["Hello", "BaseOtOffer"]);
    assert!(v[2..2 + m + 1].iter().all(|k| *k == "QueryPart"));
    assert!(
        v[2 + m + 1..v.len() - 1]
            .iter()
            .all(|k| *k == "OtExtension")
    );
    assert_eq!(v.last(), Some(&"OutputLabel"));
    assert_eq!(&h[..2], ["Accept", "BaseOtReply"]);
    // Output to both: the decode bit comes last, after the holder has the verifier's label.
    assert_eq!(&h[h.len() - 2..], ["Finish", "Decode"]);
    let tables = h.iter().filter(|k| **k == "Tables").count();
    assert_eq!(tables, v.iter().filter(|k| **k == "OtExtension").count());
    // Every round's score blocks precede its tables.
    assert_eq!(h[2], "Scores");
    // Batch indices count up from 0 in both directions.
    let batches = |ms: &[Message]| {
        ms.iter()
            .filter_map(|m| match m {
                Message::OtExtension { batch, .. } | Message::Tables { batch, .. } => Some(*batch),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let expected: Vec<u32> = (0..tables as u32).collect();
    assert_eq!(batches(&t.to_holder), expected);
    assert_eq!(batches(&t.to_verifier), expected);
}

/// Output to both: the holder learns the bit before the verifier can. Finish alone does not
/// let the verifier decode (it must send its label first); a verifier that withholds the label
/// never learns the bit, while the holder decodes it from the label the moment it arrives.
#[test]
fn with_output_to_both_the_holder_learns_first() {
    let f = fixture(70, 16, 20, 1);
    let (mut holder, mut verifier, label) = until(&f, "OutputLabel", true);
    assert!(
        !verifier.is_finished(),
        "the verifier has no bit before the decode bit"
    );
    let Message::OutputLabel(_) = &label else {
        unreachable!()
    };
    // Withheld: the holder has nothing to send and the verifier no outcome.
    assert!(!holder.is_finished());
    let replies = holder.receive(label).unwrap();
    assert!(holder.is_finished());
    let kinds: Vec<_> = replies.iter().map(Message::kind).collect();
    assert_eq!(kinds, ["Decode"]);
    for m in replies {
        assert!(verifier.receive(m).unwrap().is_empty());
    }
    let holder_bit = holder.outcome().unwrap().0.bit;
    let verifier_bit = verifier.outcome().unwrap().0.bit;
    assert_eq!(holder_bit, verifier_bit);
    assert!(holder_bit.is_some());
}

/// Runs a session up to the first message of `kind` sent by `from_verifier`'s side, returns
/// the two machines and that message (not delivered).
fn until(
    f: &Fixture,
    kind: &str,
    from_verifier: bool,
) -> (
    HolderSession<ChaCha20Rng>,
    VerifierSession<ChaCha20Rng>,
    Message,
) {
    let mut holder =
        HolderSession::new(&f.config, "client", ChaCha20Rng::seed_from_u64(1)).unwrap();
    let mut verifier = VerifierSession::new(
        verifier_config(1),
        &f.embeddings[0],
        Mode::Identify,
        OutputTo::Both,
        ChaCha20Rng::seed_from_u64(2),
    )
    .unwrap();
    let mut pending = verifier.start().unwrap();
    loop {
        let mut replies = Vec::new();
        for m in pending.drain(..) {
            if from_verifier && m.kind() == kind {
                return (holder, verifier, m);
            }
            replies.extend(holder.receive(m).unwrap());
        }
        for m in replies {
            if !from_verifier && m.kind() == kind {
                return (holder, verifier, m);
            }
            pending.extend(verifier.receive(m).unwrap());
        }
        assert!(!pending.is_empty(), "no {kind} in the session");
    }
}

fn resize(m: Message, delta: isize) -> Message {
    let fix = |mut b: Vec<u8>| {
        if delta < 0 {
            b.truncate(b.len() - (-delta) as usize);
        } else {
            b.extend(std::iter::repeat_n(0u8, delta as usize));
        }
        b
    };
    match m {
        Message::BaseOtOffer(b) => Message::BaseOtOffer(fix(b)),
        Message::BaseOtReply(b) => Message::BaseOtReply(fix(b)),
        Message::OtExtension { batch, bytes } => Message::OtExtension {
            batch,
            bytes: fix(bytes),
        },
        Message::Tables { batch, bytes } => Message::Tables {
            batch,
            bytes: fix(bytes),
        },
        Message::Finish(b) => Message::Finish(fix(b)),
        Message::OutputLabel(b) => Message::OutputLabel(fix(b)),
        other => other,
    }
}

#[test]
fn comparison_messages_of_the_wrong_size_are_malformed() {
    let f = fixture(70, 16, 20, 1);
    for kind in ["BaseOtOffer", "OtExtension", "OutputLabel"] {
        for delta in [-1isize, 1] {
            let (mut holder, _, m) = until(&f, kind, true);
            let err = holder.receive(resize(m.clone(), delta)).unwrap_err();
            assert!(
                matches!(
                    err,
                    ProtocolError::Misbehaved(_) | ProtocolError::Ot(_) | ProtocolError::Gc(_)
                ),
                "{kind} {delta}: {err:?}"
            );
            assert_eq!(err.abort_code(), AbortCode::Malformed, "{kind}");
            // The session is over: even the well-formed message is refused now.
            assert_eq!(holder.state(), "Failed");
            assert!(holder.is_finished());
            assert!(
                matches!(holder.receive(m), Err(ProtocolError::Internal(_))),
                "{kind} {delta}"
            );
        }
    }
    for kind in ["BaseOtReply", "Tables", "Finish"] {
        for delta in [-1isize, 1] {
            let (_, mut verifier, m) = until(&f, kind, false);
            let err = verifier.receive(resize(m.clone(), delta)).unwrap_err();
            assert_eq!(
                err.abort_code(),
                AbortCode::Malformed,
                "{kind} {delta}: {err:?}"
            );
            assert_eq!(verifier.state(), "Failed");
            assert!(verifier.is_finished());
            assert!(
                matches!(verifier.receive(m), Err(ProtocolError::Internal(_))),
                "{kind} {delta}"
            );
        }
    }
}

#[test]
fn messages_out_of_order_name_the_state_that_refused_them() {
    let f = fixture(70, 16, 20, 1);
    let stray = Message::Finish(vec![0; 16]);
    for (kind, state) in [
        ("BaseOtOffer", "ExpectBaseOtOffer"),
        ("QueryPart", "ExpectQueryPart"),
        ("OtExtension", "ExpectOtExtension"),
        ("OutputLabel", "ExpectOutputLabel"),
    ] {
        let (mut holder, _, _) = until(&f, kind, true);
        let err = holder.receive(stray.clone()).unwrap_err();
        assert!(
            matches!(err, ProtocolError::Unexpected { state: s, got: "Finish" } if s == state),
            "{err:?}"
        );
    }
    let stray = Message::OtExtension {
        batch: 0,
        bytes: vec![],
    };
    for (kind, state) in [
        ("Accept", "ExpectAccept"),
        ("BaseOtReply", "ExpectBaseOtReply"),
        ("Scores", "ExpectScores"),
        ("Tables", "ExpectTables"),
        ("Finish", "ExpectFinish"),
    ] {
        let (_, mut verifier, _) = until(&f, kind, false);
        let err = verifier.receive(stray.clone()).unwrap_err();
        assert!(
            matches!(err, ProtocolError::Unexpected { state: s, got: "OtExtension" } if s == state),
            "{err:?}"
        );
        assert_eq!(err.notice(), Some(AbortCode::Unexpected));
    }
    // A batch out of order, and a peer's abort.
    let (mut holder, _, m) = until(&f, "OtExtension", true);
    let Message::OtExtension { bytes, .. } = m else {
        unreachable!()
    };
    assert!(matches!(
        holder.receive(Message::OtExtension { batch: 1, bytes }),
        Err(ProtocolError::Misbehaved(_))
    ));
    let (_, mut verifier, _) = until(&f, "Tables", false);
    let err = verifier
        .receive(Message::Abort(AbortCode::Timeout))
        .unwrap_err();
    assert!(matches!(err, ProtocolError::Aborted(AbortCode::Timeout)));
    assert_eq!(err.notice(), None);
}

#[test]
fn a_refusal_is_a_reject_message_and_an_error_outcome() {
    let f = Fixture::builder(ParameterSet::toy(), 16, 20)
        .budget(Some(0))
        .build();
    let mut holder =
        HolderSession::new(&f.config, "client", ChaCha20Rng::seed_from_u64(1)).unwrap();
    let mut verifier = VerifierSession::new(
        verifier_config(2),
        &f.embeddings[0],
        Mode::Identify,
        OutputTo::Verifier,
        ChaCha20Rng::seed_from_u64(2),
    )
    .unwrap();
    let hello = verifier.start().unwrap().pop().unwrap();
    let out = holder.receive(hello).unwrap();
    assert_eq!(out, vec![Message::Reject(AbortCode::Budget)]);
    assert!(holder.is_finished());
    assert!(matches!(
        holder.outcome(),
        Err(ProtocolError::BudgetExhausted(_))
    ));
    assert!(matches!(
        verifier.receive(out[0].clone()),
        Err(ProtocolError::Rejected(AbortCode::Budget))
    ));
}

/// A peer's Abort(code) ends the session with exactly that code, and the peer is not told again.
fn assert_peer_abort(result: Result<Vec<Message>>, code: AbortCode, state: &str) {
    let err = result.unwrap_err();
    assert!(
        matches!(err, ProtocolError::Aborted(c) if c == code),
        "{state}: {err:?}"
    );
    assert_eq!(err.notice(), None, "{state}: the peer is not told again");
}

#[test]
fn a_peer_abort_ends_every_state_with_the_peer_code_and_no_reply() {
    let f = fixture(70, 16, 20, 1);
    // Each holder state, reached by stopping before the message it expects.
    for (kind, state) in [
        ("Hello", "ExpectHello"),
        ("BaseOtOffer", "ExpectBaseOtOffer"),
        ("QueryPart", "ExpectQueryPart"),
        ("OtExtension", "ExpectOtExtension"),
        ("OutputLabel", "ExpectOutputLabel"),
    ] {
        let (mut holder, _, _) = until(&f, kind, true);
        assert_eq!(holder.state(), state);
        let err = holder.receive(Message::Abort(AbortCode::Timeout));
        assert_peer_abort(err, AbortCode::Timeout, state);
        assert_eq!(holder.state(), "Failed", "{state}");
        assert!(
            holder.outcome().is_err(),
            "{state}: no outcome after an abort"
        );
    }
    for (kind, state) in [
        ("Accept", "ExpectAccept"),
        ("BaseOtReply", "ExpectBaseOtReply"),
        ("Scores", "ExpectScores"),
        ("Tables", "ExpectTables"),
        ("Finish", "ExpectFinish"),
    ] {
        let (_, mut verifier, _) = until(&f, kind, false);
        assert_eq!(verifier.state(), state);
        let err = verifier.receive(Message::Abort(AbortCode::Budget));
        assert_peer_abort(err, AbortCode::Budget, state);
        assert_eq!(verifier.state(), "Failed", "{state}");
        assert!(verifier.outcome().is_err(), "{state}");
    }
}

#[test]
fn an_unknown_identity_is_charged_and_looks_like_a_known_one_that_does_not_match() {
    let f = Fixture::builder(ParameterSet::toy(), 16, 40)
        .batch(20)
        .round_blocks(1)
        .budget(Some(2))
        .build();
    let probe = embedding(&mut ChaCha20Rng::seed_from_u64(404), 16);
    let known = Mode::Verify {
        identity: "id7".into(),
    };
    // An unknown name of the same length, so even the verifier's own Hello has the same size.
    let unknown = Mode::Verify {
        identity: "idX".into(),
    };
    assert!(
        !f.plain_decision(&probe, &[7]),
        "the probe does not match id7"
    );
    let a = run(&f, &probe, known, OutputTo::Both, 2);
    let b = run(&f, &probe, unknown, OutputTo::Both, 2);
    assert_eq!((a.verifier_bit, a.holder_bit), (Some(false), Some(false)));
    assert_eq!((b.verifier_bit, b.holder_bit), (Some(false), Some(false)));
    // Same messages, in the same order, of the same sizes, in both directions.
    let shape = |ms: &[Message]| {
        ms.iter()
            .map(|m| (m.kind(), m.encode().len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&a.to_holder), shape(&b.to_holder));
    assert_eq!(shape(&a.to_verifier), shape(&b.to_verifier));
    // Both were charged: the budget of 2 is used up.
    let mut holder =
        HolderSession::new(&f.config, "client", ChaCha20Rng::seed_from_u64(1)).unwrap();
    let mut verifier = VerifierSession::new(
        verifier_config(1),
        &probe,
        Mode::Verify {
            identity: "nobody".into(),
        },
        OutputTo::Verifier,
        ChaCha20Rng::seed_from_u64(2),
    )
    .unwrap();
    let hello = verifier.start().unwrap().pop().unwrap();
    assert_eq!(
        holder.receive(hello).unwrap(),
        vec![Message::Reject(AbortCode::Budget)]
    );
}

#[test]
fn a_verifier_refuses_a_threshold_outside_one_to_the_score_bound() {
    let f = fixture(20, 16, 20, 1);
    // τ ≤ 0 lets padding match; τ > B is outside the range the comparison is exact for.
    let bound = privface_he::Quantiser::for_dimension(16)
        .unwrap()
        .norm_bound() as i64;
    for tau in [0i64, -5, bound + 1, i64::MAX] {
        let (_, mut verifier, m) = until(&f, "Accept", false);
        let Message::Accept(mut accept) = m else {
            unreachable!()
        };
        accept.threshold = tau;
        let err = verifier.receive(Message::Accept(accept)).unwrap_err();
        assert!(
            matches!(err, ProtocolError::Refused(_)),
            "τ = {tau}: {err:?}"
        );
        assert_eq!(err.notice(), Some(AbortCode::Parameters));
    }
}

/// From the message fuzz target: a NaN scale decodes (postcard carries any f32); the verifier
/// must refuse it, and every other scale that is not finite and positive, before it encrypts
/// (`Quantiser::with_scale` does; the share-width check behind it would too).
#[test]
fn a_verifier_refuses_a_quantisation_scale_that_is_not_finite_and_positive() {
    let f = fixture(20, 16, 20, 1);
    for scale in [f32::NAN, f32::INFINITY, -1.0, 0.0] {
        let (_, mut verifier, m) = until(&f, "Accept", false);
        let Message::Accept(mut accept) = m else {
            unreachable!()
        };
        accept.quant_scale = scale;
        let decoded = Message::decode(&Message::Accept(accept).encode()).unwrap();
        let err = verifier.receive(decoded).unwrap_err();
        assert!(err.notice().is_some(), "scale {scale}: {err:?}");
    }
}

#[test]
fn an_output_the_holder_does_not_allow_is_refused_before_anything_is_charged() {
    let f = Fixture::builder(ParameterSet::toy(), 16, 20)
        .budget(Some(1))
        .build();
    let mut config = (*f.config).clone();
    config.allowed_outputs = vec![OutputTo::Verifier];
    for output in [OutputTo::Holder, OutputTo::Both] {
        let mut holder =
            HolderSession::new(&config, "client", ChaCha20Rng::seed_from_u64(1)).unwrap();
        let mut verifier = VerifierSession::new(
            verifier_config(1),
            &f.embeddings[0],
            Mode::Identify,
            output,
            ChaCha20Rng::seed_from_u64(2),
        )
        .unwrap();
        let hello = verifier.start().unwrap().pop().unwrap();
        assert_eq!(
            holder.receive(hello).unwrap(),
            vec![Message::Reject(AbortCode::Parameters)],
            "{output:?}"
        );
        let err = holder.outcome().unwrap_err();
        assert!(err.to_string().contains("not allowed"), "{err}");
    }
    // The refusals were not charged: the one query of the budget is still there.
    let mut holder = HolderSession::new(&config, "client", ChaCha20Rng::seed_from_u64(1)).unwrap();
    let mut verifier = VerifierSession::new(
        verifier_config(1),
        &f.embeddings[0],
        Mode::Identify,
        OutputTo::Verifier,
        ChaCha20Rng::seed_from_u64(2),
    )
    .unwrap();
    let hello = verifier.start().unwrap().pop().unwrap();
    assert!(matches!(
        holder.receive(hello).unwrap()[..],
        [Message::Accept(_)]
    ));
}
