//! Classification sessions (spec §13) as state machines, messages handed over in memory: the
//! label equals the exact integer rule on the quantised model, wherever the result goes; what
//! the holder refuses; what a verifier refuses of a holder's terms.

use std::sync::Arc;

use privface_he::{ParameterSet, QuantisedModel};
use privface_protocol::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

const D: usize = 16;

fn model(classes: usize, seed: u64) -> QuantisedModel {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let w: Vec<f32> = (0..classes * D)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    // Biases of the size of a typical logit, so that they matter and no class always wins.
    let b: Vec<f32> = (0..classes).map(|_| rng.random_range(-0.5..0.5)).collect();
    let labels = (0..classes.max(2)).map(|c| format!("label {c}")).collect();
    QuantisedModel::quantise(D, &w, &b, labels, 1.0).unwrap()
}

/// A holder with a one-identity gallery and the models `models`, charging `budget`.
fn holder_config(models: &[(&str, QuantisedModel)], budget: Arc<dyn QueryLedger>) -> HolderConfig {
    let params = ParameterSet::toy();
    let q = privface_he::Quantiser::for_dimension(D).unwrap();
    let row = q.quantise(&[0.25; D]).unwrap();
    let gallery = HolderGallery::new(
        &params,
        D,
        [("someone".to_string(), row)],
        privface_he::GalleryMode::OnTheFly,
    )
    .unwrap();
    let mut config = HolderConfig::new(params.clone(), Arc::new(gallery), q.threshold(0.9), budget);
    config.allow_insecure = true;
    config.models = Arc::new(
        models
            .iter()
            .map(|(name, m)| {
                (
                    name.to_string(),
                    Arc::new(HolderModel::new(&params, m.clone()).unwrap()),
                )
            })
            .collect(),
    );
    config
}

fn verifier_config() -> VerifierConfig {
    VerifierConfig {
        param_sets: vec!["toy".into()],
        allow_insecure: true,
        ..VerifierConfig::default()
    }
}

struct Run {
    verifier: (Answer, Accept),
    holder: (Answer, usize),
    to_holder: Vec<Message>,
    to_verifier: Vec<Message>,
}

fn run(config: &HolderConfig, input: &[f32], model: &str, output: OutputTo, seed: u64) -> Run {
    let mut holder =
        HolderSession::new(config, "client", ChaCha20Rng::seed_from_u64(seed)).unwrap();
    let mode = Mode::Classify {
        model: model.into(),
    };
    let mut verifier = VerifierSession::new(
        verifier_config(),
        input,
        mode,
        output,
        ChaCha20Rng::seed_from_u64(seed + 1),
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
    Run {
        verifier: verifier.outcome().unwrap(),
        holder: holder.outcome().unwrap(),
        to_holder,
        to_verifier,
    }
}

fn input(rng: &mut ChaCha20Rng) -> Vec<f32> {
    (0..D).map(|_| rng.random_range(-1.0..=1.0)).collect()
}

/// The label the exact rule gives, and whether the two best quantised logits are so close
/// that the HE step's ±1 (probability ≤ 2^−16 per score under `toy`) could swap them.
fn expected(m: &QuantisedModel, x: &[f32]) -> (usize, bool) {
    let logits = m.logits(&m.input().quantise(x).unwrap());
    let want = m.decide(&logits);
    let mut sorted = logits.clone();
    sorted.sort_unstable();
    let close = if m.classes() == 1 {
        logits[0].abs() <= 1
    } else {
        sorted[sorted.len() - 1] - sorted[sorted.len() - 2] <= 2
    };
    (want, close)
}

#[test]
fn the_label_is_the_exact_rule_on_the_quantised_model_wherever_it_goes() {
    let ten = model(10, 1);
    let binary = model(1, 2);
    let config = holder_config(
        &[("ten", ten.clone()), ("binary", binary.clone())],
        Arc::new(QueryBudget::new(None)),
    );
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut checked = 0;
    for (name, m) in [("ten", &ten), ("binary", &binary)] {
        let mut seen = std::collections::BTreeSet::new();
        for (i, output) in [OutputTo::Verifier, OutputTo::Holder, OutputTo::Both]
            .into_iter()
            .cycle()
            .take(24)
            .enumerate()
        {
            let x = input(&mut rng);
            let (want, close) = expected(m, &x);
            let r = run(&config, &x, name, output, 10 + i as u64);
            let label = |c: &Option<Class>| c.as_ref().map(|c| (c.index as usize, c.label.clone()));
            let want_class = Some((want, m.labels()[want].clone()));
            if !close {
                checked += 1;
                assert_eq!(
                    label(&r.verifier.0.class),
                    output.verifier().then(|| want_class.clone()).flatten(),
                    "{name} {i}"
                );
                assert_eq!(
                    label(&r.holder.0.class),
                    output.holder().then(|| want_class.clone()).flatten(),
                    "{name} {i}"
                );
            }
            assert_eq!(
                (r.verifier.0.bit, r.holder.0.bit),
                (None, None),
                "no bit in classification"
            );
            assert_eq!(r.verifier.1.padded_count as usize, m.classes());
            seen.insert(want);
        }
        assert!(seen.len() >= 2, "{name}: the inputs reach several classes");
    }
    assert!(checked >= 40, "{checked} sessions away from a tie");
}

#[test]
fn the_transcript_sizes_do_not_depend_on_the_class() {
    let ten = model(10, 4);
    let config = holder_config(&[("ten", ten.clone())], Arc::new(QueryBudget::new(None)));
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut sizes = std::collections::BTreeMap::new();
    for i in 0..12 {
        let x = input(&mut rng);
        let r = run(&config, &x, "ten", OutputTo::Both, 100 + i);
        let size = |ms: &[Message]| {
            ms.iter()
                .map(|m| (m.kind(), m.encode().len()))
                .collect::<Vec<_>>()
        };
        sizes.insert(
            r.verifier.0.class.unwrap().index,
            (size(&r.to_holder), size(&r.to_verifier)),
        );
    }
    assert!(sizes.len() >= 2, "several classes seen");
    let first = sizes.values().next().unwrap();
    assert!(
        sizes.values().all(|s| s == first),
        "message sizes differ between classes"
    );
}

#[test]
fn an_unknown_model_or_dimension_is_refused_before_any_charge() {
    let budget = Arc::new(QueryBudget::new(Some(1)));
    let config = holder_config(&[("ten", model(10, 6))], budget.clone());
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    for (model, dimension, code) in [
        ("cars", D, AbortCode::UnknownModel),
        ("ten", D + 1, AbortCode::Dimension),
    ] {
        let mut holder =
            HolderSession::new(&config, "client", ChaCha20Rng::seed_from_u64(1)).unwrap();
        let hello = Hello {
            param_sets: vec!["toy".into()],
            dimension: dimension as u32,
            mode: Mode::Classify {
                model: model.into(),
            },
            output: OutputTo::Verifier,
        };
        let out = holder.receive(Message::Hello(hello)).unwrap();
        assert_eq!(out, vec![Message::Reject(code)]);
    }
    // The one query of the budget is still there.
    let r = run(&config, &input(&mut rng), "ten", OutputTo::Verifier, 9);
    assert!(r.verifier.0.class.is_some());
    budget.consume("client").unwrap_err();
}

/// The verifier's session fed the holder's opening messages, altered by `tamper`; returns
/// what the verifier does with them.
fn verifier_on(tamper: impl Fn(&mut Vec<Message>), x: &[f32]) -> Result<Vec<Message>> {
    let config = holder_config(&[("ten", model(10, 8))], Arc::new(QueryBudget::new(None)));
    let mut holder = HolderSession::new(&config, "client", ChaCha20Rng::seed_from_u64(1)).unwrap();
    let mode = Mode::Classify {
        model: "ten".into(),
    };
    let mut verifier = VerifierSession::new(
        verifier_config(),
        x,
        mode,
        OutputTo::Verifier,
        ChaCha20Rng::seed_from_u64(2),
    )
    .unwrap();
    let hello = verifier.start().unwrap().remove(0);
    let mut opening = holder.receive(hello).unwrap();
    tamper(&mut opening);
    let mut out = Vec::new();
    for m in opening {
        out.extend(verifier.receive(m)?);
    }
    Ok(out)
}

#[test]
fn a_verifier_checks_the_terms_and_labels_before_it_encrypts_anything() {
    let x = vec![0.5f32; D];
    let honest = verifier_on(|_| {}, &x).unwrap();
    assert!(matches!(honest[0], Message::BaseOtOffer(_)));
    assert!(
        honest
            .iter()
            .any(|m| matches!(m, Message::QueryPart { .. }))
    );
    let accept = |f: fn(&mut Accept)| {
        move |ms: &mut Vec<Message>| {
            if let Message::Accept(a) = &mut ms[0] {
                f(a)
            }
        }
    };
    type Tamper = Box<dyn Fn(&mut Vec<Message>)>;
    let refused: Vec<(&str, Tamper)> = vec![
        ("a threshold", Box::new(accept(|a| a.threshold = 5))),
        ("dropped bits", Box::new(accept(|a| a.dropped_bits = 2))),
        ("batches", Box::new(accept(|a| a.batch = 3))),
        (
            "too many classes",
            Box::new(accept(|a| a.padded_count = 5000)),
        ),
        (
            "wrong switched modulus",
            Box::new(accept(|a| a.switched_modulus_log += 1)),
        ),
        (
            "a zero input scale",
            Box::new(accept(|a| a.quant_scale = 0.0)),
        ),
        (
            "one label short",
            Box::new(|ms: &mut Vec<Message>| {
                if let Message::Labels(l) = &mut ms[1] {
                    l.pop();
                }
            }),
        ),
        (
            "a huge label",
            Box::new(|ms: &mut Vec<Message>| {
                if let Message::Labels(l) = &mut ms[1] {
                    l[3] = "x".repeat(10_000);
                }
            }),
        ),
        (
            "no labels",
            Box::new(|ms: &mut Vec<Message>| {
                ms.pop();
                ms.push(Message::BaseOtReply(vec![0; 4096]));
            }),
        ),
    ];
    for (what, tamper) in refused {
        let err = verifier_on(tamper, &x);
        assert!(err.is_err(), "{what} accepted");
    }
    // An input outside the model's range [−1, 1] is refused, not clamped, and nothing is sent.
    let mut big = x.clone();
    big[3] = 1.5;
    let err = verifier_on(|_| {}, &big).unwrap_err();
    assert!(
        err.to_string().contains("outside the model's input range"),
        "{err}"
    );
}
