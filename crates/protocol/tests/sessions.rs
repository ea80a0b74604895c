//! Holder and verifier sessions against each other over a Unix socket pair.

use std::os::unix::net::UnixStream;
use std::sync::Arc;

use privface_he::ParameterSet;
use privface_protocol::*;
use privface_testkit::{Fixture, embedding};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn fixture(params: ParameterSet, d: usize, n: usize, budget: Option<u32>) -> Fixture {
    // Small batches and rounds, so a few hundred scores take several of each.
    Fixture::builder(params, d, n)
        .budget(budget)
        .batch(64)
        .round_blocks(2)
        .build()
}

/// A holder session on its own thread over one end of a socket pair.
fn spawn_holder(
    end: UnixStream,
    config: Arc<HolderConfig>,
) -> std::thread::JoinHandle<Result<HolderReport>> {
    std::thread::spawn(move || {
        run_holder(
            &mut end.try_clone().unwrap(),
            &mut &end,
            &config,
            "client",
            ChaCha20Rng::seed_from_u64(1),
        )
    })
}

fn session(
    f: &Fixture,
    probe: Vec<f32>,
    mode: Mode,
    output: OutputTo,
) -> (Result<VerifyOutcome>, Result<HolderReport>) {
    let (a, b) = UnixStream::pair().unwrap();
    let config = f.config.clone();
    let holder = spawn_holder(a, config);
    let vconfig = f.verifier_config();
    let v = run_verifier(
        &mut b.try_clone().unwrap(),
        &mut &b,
        &vconfig,
        &probe,
        mode,
        output,
        ChaCha20Rng::seed_from_u64(2),
    );
    drop(b);
    (v, holder.join().unwrap())
}

#[test]
fn identify_and_verify_match_and_no_match() {
    for params in [ParameterSet::toy(), ParameterSet::default_64()] {
        let f = fixture(params, 128, 300, None);
        let genuine = f.genuine(123);
        let impostor = embedding(&mut ChaCha20Rng::seed_from_u64(77), 128);
        for (probe, want) in [(genuine.clone(), true), (impostor.clone(), false)] {
            let (v, h) = session(&f, probe.clone(), Mode::Identify, OutputTo::Both);
            let (v, h) = (v.unwrap(), h.unwrap());
            assert_eq!(v.bit, Some(want));
            assert_eq!(h.bit, Some(want));
            assert_eq!(v.accept.padded_count as usize, padded_count(300));
            let (v, _) = session(
                &f,
                probe,
                Mode::Verify {
                    identity: "id123".into(),
                },
                OutputTo::Verifier,
            );
            assert_eq!(v.unwrap().bit, Some(want));
        }
        // Genuine probe against the wrong claimed identity: no match.
        let (v, _) = session(
            &f,
            genuine,
            Mode::Verify {
                identity: "id5".into(),
            },
            OutputTo::Verifier,
        );
        assert_eq!(v.unwrap().bit, Some(false));
    }
}

/// A holder that drops low score bits (spec §4.1) announces it, and the verifier follows: the
/// shares are narrower, the comparison smaller, and far-from-τ decisions unchanged.
#[test]
fn a_coarse_comparison_is_announced_and_decides_like_the_exact_one_far_from_tau() {
    let exact = fixture(ParameterSet::default_64(), 128, 300, None);
    let coarse = Fixture::builder(ParameterSet::default_64(), 128, 300)
        .batch(64)
        .round_blocks(2)
        .dropped_bits(4)
        .build();
    let genuine = coarse.genuine(123);
    let impostor = embedding(&mut ChaCha20Rng::seed_from_u64(77), 128);
    for (probe, want) in [(genuine, true), (impostor, false)] {
        assert_eq!(
            coarse.plain_decision(&probe, &(0..300).collect::<Vec<_>>()),
            want
        );
        let (v, h) = session(&coarse, probe.clone(), Mode::Identify, OutputTo::Both);
        let (v, h) = (v.unwrap(), h.unwrap());
        assert_eq!((v.bit, h.bit), (Some(want), Some(want)));
        assert_eq!(v.accept.dropped_bits, 4);
        let (e, _) = session(&exact, probe, Mode::Identify, OutputTo::Verifier);
        let e = e.unwrap();
        assert_eq!(e.accept.dropped_bits, 0);
        // d = 128, τ at cosine 0.8: B + 1 + τ = 236,347 ≤ 2^18, so k = 19; dropping 4 bits,
        // ⌈B/16⌉ + 1 + ⌈τ/16⌉ = 14,773 ≤ 2^14, so k = 15 (spec §4, §4.1).
        assert_eq!(e.accept.share_bits, 19);
        assert_eq!(v.accept.share_bits, 15);
    }
    // A verifier that wants exact decisions refuses the coarse holder's terms.
    let (a, b) = UnixStream::pair().unwrap();
    let holder = spawn_holder(a, coarse.config.clone());
    let strict = VerifierConfig {
        max_dropped_bits: 0,
        ..coarse.verifier_config()
    };
    let v = run_verifier(
        &mut b.try_clone().unwrap(),
        &mut &b,
        &strict,
        &coarse.genuine(1),
        Mode::Identify,
        OutputTo::Verifier,
        ChaCha20Rng::seed_from_u64(2),
    );
    drop(b);
    assert!(matches!(v, Err(ProtocolError::Refused(_))), "{v:?}");
    assert!(holder.join().unwrap().is_err());
}

#[test]
fn holder_only_output_hides_the_bit_from_the_verifier() {
    let f = fixture(ParameterSet::toy(), 64, 20, None);
    let (v, h) = session(&f, f.genuine(3), Mode::Identify, OutputTo::Holder);
    assert_eq!(v.unwrap().bit, None);
    assert_eq!(h.unwrap().bit, Some(true));
}

#[test]
fn refusals_are_typed_and_the_holder_says_why() {
    let f = fixture(ParameterSet::toy(), 64, 20, Some(1));
    // Wrong dimension (the verifier's probe is 32-d).
    let (v, _) = session(&f, vec![0.1; 32], Mode::Identify, OutputTo::Verifier);
    assert!(
        matches!(v, Err(ProtocolError::Rejected(AbortCode::Dimension))),
        "{v:?}"
    );
    // Budget: one query allowed, the second refused.
    let (v, _) = session(
        &f,
        f.embeddings[1].clone(),
        Mode::Identify,
        OutputTo::Verifier,
    );
    v.unwrap();
    let (v, h) = session(
        &f,
        f.embeddings[1].clone(),
        Mode::Identify,
        OutputTo::Verifier,
    );
    assert!(
        matches!(v, Err(ProtocolError::Rejected(AbortCode::Budget))),
        "{v:?}"
    );
    assert!(matches!(h, Err(ProtocolError::BudgetExhausted(_))));
    // A NaN probe never leaves the verifier.
    let mut nan = f.embeddings[2].clone();
    nan[3] = f32::NAN;
    let (a, _b) = UnixStream::pair().unwrap();
    let err = run_verifier(
        &mut a.try_clone().unwrap(),
        &mut &a,
        &VerifierConfig::default(),
        &nan,
        Mode::Identify,
        OutputTo::Verifier,
        ChaCha20Rng::seed_from_u64(1),
    );
    assert!(matches!(
        err,
        Err(ProtocolError::He(
            privface_he::HeError::NonFiniteEmbedding { index: 3 }
        ))
    ));
}

#[test]
fn out_of_order_oversized_and_foreign_frames_are_errors() {
    use std::io::Write;
    let f = fixture(ParameterSet::toy(), 64, 20, None);
    let run = |bytes: Vec<u8>| {
        let (a, mut b) = UnixStream::pair().unwrap();
        let config = f.config.clone();
        let h = spawn_holder(a, config);
        b.write_all(&bytes).unwrap();
        drop(b);
        h.join().unwrap()
    };
    // A query part before Hello.
    let r = run(encode_frame(&Message::QueryPart {
        index: 0,
        bytes: vec![1, 2, 3],
    }));
    assert!(
        matches!(
            r,
            Err(ProtocolError::Unexpected {
                state: "ExpectHello",
                got: "QueryPart"
            })
        ),
        "{r:?}"
    );
    // A frame header announcing more than the maximum.
    let r = run(((MAX_FRAME + 1) as u32).to_le_bytes().to_vec());
    assert!(matches!(r, Err(ProtocolError::FrameTooLarge(..))), "{r:?}");
    // Another protocol version.
    let mut body = Message::Abort(AbortCode::Internal).encode();
    body[0] = 9;
    let mut bytes = (body.len() as u32).to_le_bytes().to_vec();
    bytes.extend(body);
    assert!(matches!(run(bytes), Err(ProtocolError::Version(9))));
    // Garbage.
    assert!(matches!(
        run(vec![3, 0, 0, 0, 1, 200, 200]),
        Err(ProtocolError::Misbehaved(_))
    ));
    // The holder still serves a correct session afterwards.
    let (v, _) = session(&f, f.genuine(4), Mode::Identify, OutputTo::Verifier);
    assert_eq!(v.unwrap().bit, Some(true));
}

/// A stream that fails every read once `budget` bytes have been read: a verifier that vanishes
/// at a chosen point.
struct CutAfter<T> {
    inner: T,
    budget: usize,
}

impl<T: std::io::Read> std::io::Read for CutAfter<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.budget == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "verifier vanished",
            ));
        }
        let n = buf.len().min(self.budget);
        let got = self.inner.read(&mut buf[..n])?;
        self.budget -= got;
        Ok(got)
    }
}

#[test]
fn a_verifier_vanishing_mid_garbling_ends_only_its_session() {
    let f = fixture(ParameterSet::toy(), 64, 2000, None);
    // Measure how many bytes a whole session sends the verifier, then cut at 60% of that: well
    // inside the garbled tables, which are most of the traffic.
    let (v, _) = session(&f, f.genuine(5), Mode::Identify, OutputTo::Verifier);
    let total = v.unwrap().timings.bytes().1 as usize;
    let (a, b) = UnixStream::pair().unwrap();
    let config = f.config.clone();
    let holder = spawn_holder(a, config);
    let vconfig = VerifierConfig {
        param_sets: vec!["toy".into()],
        allow_insecure: true,
        ..VerifierConfig::default()
    };
    let mut cut = CutAfter {
        inner: b.try_clone().unwrap(),
        budget: total * 6 / 10,
    };
    let v = run_verifier(
        &mut cut,
        &mut &b,
        &vconfig,
        &f.genuine(5),
        Mode::Identify,
        OutputTo::Verifier,
        ChaCha20Rng::seed_from_u64(2),
    );
    assert!(
        matches!(v, Err(ProtocolError::Gc(_)) | Err(ProtocolError::Io(_))),
        "{v:?}"
    );
    b.shutdown(std::net::Shutdown::Both).unwrap();
    let h = holder.join().unwrap();
    assert!(h.is_err(), "the holder's session ends with an error");
    // The holder (its configuration, gallery and budget) serves the next verifier correctly.
    let (v, h) = session(&f, f.genuine(6), Mode::Identify, OutputTo::Both);
    assert_eq!(v.unwrap().bit, Some(true));
    assert_eq!(h.unwrap().bit, Some(true));
}
