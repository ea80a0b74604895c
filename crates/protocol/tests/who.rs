//! Who-identification (spec §15) as state machines, messages handed over in memory: the
//! verifier learns the id and label of the first best row at or above τ, or no match, and
//! nothing else; wherever the output goes; the transcript's sizes do not depend on the answer.

use std::sync::Arc;

use privface_he::{GalleryMode, ParameterSet, Quantiser};
use privface_protocol::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

const D: usize = 16;

struct World {
    config: HolderConfig,
    ids: Vec<String>,
    labels: Vec<String>,
    rows: Vec<Vec<i8>>,
    embeddings: Vec<Vec<f32>>,
    tau: i64,
}

fn unit(rng: &mut ChaCha20Rng) -> Vec<f32> {
    (0..D).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// 41 identities (padded to 42, so a padding row takes part), labels of very different lengths,
/// a duplicate pair (rows 7 and 23 hold the same embedding) and a close pair (3 and 12).
fn world() -> World {
    let params = ParameterSet::toy();
    let q = Quantiser::for_dimension(D).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(40);
    let mut embeddings: Vec<Vec<f32>> = (0..41).map(|_| unit(&mut rng)).collect();
    embeddings[23] = embeddings[7].clone();
    // Rows 3 and 12 are close: a probe between them scores above τ with both.
    embeddings[12] = embeddings[3]
        .iter()
        .map(|v| v + rng.random_range(-0.15..0.15))
        .collect();
    let ids: Vec<String> = (0..41).map(|i| format!("id-{i:02}")).collect();
    let labels: Vec<String> = (0..41).map(|i| "L".repeat(i % 30)).collect();
    let rows: Vec<Vec<i8>> = embeddings.iter().map(|e| q.quantise(e).unwrap()).collect();
    let entries = ids.iter().cloned().zip(rows.iter().cloned());
    let gallery = HolderGallery::new(&params, D, entries, GalleryMode::OnTheFly)
        .unwrap()
        .with_labels(labels.clone())
        .unwrap();
    assert!(padded_count(41) > 41, "padding rows take part");
    let tau = q.threshold(0.8);
    let mut config = HolderConfig::new(
        params,
        Arc::new(gallery),
        tau,
        Arc::new(QueryBudget::new(None)),
    );
    config.allow_insecure = true;
    config.batch = 8;
    config.round_blocks = 1;
    World {
        config,
        ids,
        labels,
        rows,
        embeddings,
        tau,
    }
}

/// The plaintext rule on the quantised rows: the first row with the best score ≥ τ.
fn expected(w: &World, probe: &[f32]) -> Option<usize> {
    let x = Quantiser::for_dimension(D)
        .unwrap()
        .quantise(probe)
        .unwrap();
    let scores: Vec<i64> = w
        .rows
        .iter()
        .map(|r| r.iter().zip(&x).map(|(&a, &b)| a as i64 * b as i64).sum())
        .collect();
    let best = scores.iter().copied().filter(|&s| s >= w.tau).max()?;
    scores.iter().position(|&s| s == best)
}

struct Run {
    verifier: Answer,
    holder: Answer,
    sizes: Vec<(&'static str, usize)>,
}

fn run(w: &World, probe: &[f32], output: OutputTo, seed: u64) -> Run {
    let mut holder =
        HolderSession::new(&w.config, "client", ChaCha20Rng::seed_from_u64(seed)).unwrap();
    let vconfig = VerifierConfig {
        param_sets: vec!["toy".into()],
        allow_insecure: true,
        window: 2,
        ..VerifierConfig::default()
    };
    let mut verifier = VerifierSession::new(
        vconfig,
        probe,
        Mode::IdentifyWho,
        output,
        ChaCha20Rng::seed_from_u64(seed + 1),
    )
    .unwrap();
    let mut sizes = Vec::new();
    let mut pending = verifier.start().unwrap();
    while !pending.is_empty() {
        let mut replies = Vec::new();
        for m in pending.drain(..) {
            sizes.push((m.kind(), m.encode().len()));
            replies.extend(holder.receive(m).unwrap());
        }
        for m in replies {
            sizes.push((m.kind(), m.encode().len()));
            pending.extend(verifier.receive(m).unwrap());
        }
    }
    Run {
        verifier: verifier.outcome().unwrap().0,
        holder: holder.outcome().unwrap().0,
        sizes,
    }
}

fn named(w: &World, row: Option<usize>) -> Option<Enrolled> {
    row.map(|r| Enrolled {
        id: w.ids[r].clone(),
        label: w.labels[r].clone(),
    })
}

#[test]
fn the_verifier_learns_who_has_the_best_score_or_no_match_wherever_the_output_goes() {
    let w = world();
    let mut rng = ChaCha20Rng::seed_from_u64(41);
    let nudge = |e: &[f32], rng: &mut ChaCha20Rng| -> Vec<f32> {
        e.iter()
            .map(|v| v + rng.random_range(-0.01..0.01))
            .collect()
    };
    // Several rows above τ: a probe between rows 3 and 12 (closer to 12).
    let between: Vec<f32> = w.embeddings[3]
        .iter()
        .zip(&w.embeddings[12])
        .map(|(a, b)| 0.4 * a + 0.6 * b)
        .collect();
    let cases = [
        ("a genuine probe", nudge(&w.embeddings[30], &mut rng)),
        (
            "the duplicate pair: the earlier row",
            w.embeddings[23].clone(),
        ),
        ("between two enrolled rows", between),
        ("an impostor", unit(&mut rng)),
    ];
    let mut answers = std::collections::BTreeSet::new();
    for (i, (what, probe)) in cases.iter().enumerate() {
        let want = expected(&w, probe);
        answers.insert(want);
        for (j, output) in [OutputTo::Verifier, OutputTo::Holder, OutputTo::Both]
            .into_iter()
            .enumerate()
        {
            let r = run(&w, probe, output, 100 * i as u64 + j as u64);
            let full = Answer {
                bit: Some(want.is_some()),
                who: named(&w, want),
                ..Answer::default()
            };
            let seen = |learns: bool| {
                if learns {
                    full.clone()
                } else {
                    Answer::default()
                }
            };
            assert_eq!(r.verifier, seen(output.verifier()), "{what}, {output:?}");
            assert_eq!(r.holder, seen(output.holder()), "{what}, {output:?}");
        }
    }
    assert_eq!(
        expected(&w, &cases[1].1),
        Some(7),
        "the tie goes to the lower row"
    );
    assert!(
        answers.contains(&None) && answers.contains(&Some(12)),
        "{answers:?}"
    );
    assert_eq!(answers.len(), 4, "{answers:?}");
}

#[test]
fn the_transcript_sizes_do_not_depend_on_the_answer() {
    let w = world();
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let mut by_answer = std::collections::BTreeMap::new();
    // Rows whose labels are 0 to 29 bytes long, and no match at all.
    for (i, row) in [None, Some(0usize), Some(29), Some(15)]
        .into_iter()
        .enumerate()
    {
        let probe = match row {
            Some(r) => w.embeddings[r].clone(),
            None => unit(&mut rng),
        };
        assert_eq!(expected(&w, &probe), row);
        let r = run(&w, &probe, OutputTo::Verifier, 500 + i as u64);
        assert_eq!(r.verifier.who.map(|e| e.id), row.map(|r| w.ids[r].clone()));
        by_answer.insert(row, r.sizes);
    }
    let first = by_answer.values().next().unwrap().clone();
    assert!(first.iter().any(|(kind, _)| *kind == "LabelTable"));
    for (row, sizes) in &by_answer {
        assert_eq!(sizes, &first, "answer {row:?}");
    }
}

#[test]
fn an_id_too_long_for_an_entry_is_refused_not_truncated() {
    let params = ParameterSet::toy();
    let q = Quantiser::for_dimension(D).unwrap();
    let long = "x".repeat(privface_gc::who::ENTRY_CONTENT + 1);
    let gallery = HolderGallery::new(
        &params,
        D,
        [(long, q.quantise(&[1.0; D]).unwrap())],
        GalleryMode::OnTheFly,
    )
    .unwrap();
    let mut config = HolderConfig::new(
        params,
        Arc::new(gallery),
        q.threshold(0.8),
        Arc::new(QueryBudget::new(None)),
    );
    config.allow_insecure = true;
    let mut holder = HolderSession::new(&config, "client", ChaCha20Rng::seed_from_u64(1)).unwrap();
    let hello = Hello {
        param_sets: vec!["toy".into()],
        dimension: D as u32,
        mode: Mode::IdentifyWho,
        output: OutputTo::Verifier,
    };
    assert_eq!(
        holder.receive(Message::Hello(hello)).unwrap(),
        vec![Message::Reject(AbortCode::Parameters)]
    );
}

/// The verifier's session fed the holder's messages, with `tamper` applied to each
/// `LabelTable`; returns the verifier's error, if any.
fn with_tampered_table(
    w: &World,
    probe: &[f32],
    tamper: impl Fn(&mut u32, &mut Vec<u8>),
) -> Result<Answer> {
    let mut holder =
        HolderSession::new(&w.config, "client", ChaCha20Rng::seed_from_u64(9)).unwrap();
    let vconfig = VerifierConfig {
        param_sets: vec!["toy".into()],
        allow_insecure: true,
        ..VerifierConfig::default()
    };
    let mut verifier = VerifierSession::new(
        vconfig,
        probe,
        Mode::IdentifyWho,
        OutputTo::Verifier,
        ChaCha20Rng::seed_from_u64(10),
    )
    .unwrap();
    let mut pending = verifier.start().unwrap();
    while !pending.is_empty() {
        let mut replies = Vec::new();
        for m in pending.drain(..) {
            replies.extend(holder.receive(m).unwrap());
        }
        for mut m in replies {
            if let Message::LabelTable { part, bytes } = &mut m {
                tamper(part, bytes);
            }
            pending.extend(verifier.receive(m)?);
        }
    }
    Ok(verifier.outcome()?.0)
}

#[test]
fn a_damaged_or_reordered_label_table_is_refused() {
    let w = world();
    let probe = w.embeddings[30].clone();
    let honest = with_tampered_table(&w, &probe, |_, _| {}).unwrap();
    assert_eq!(honest.who.map(|e| e.id), Some(w.ids[30].clone()));
    // Every entry flipped: the one the verifier opens no longer decrypts to an entry.
    let flipped = with_tampered_table(&w, &probe, |_, b| b.iter_mut().for_each(|x| *x ^= 1));
    assert!(
        matches!(
            flipped,
            Err(ProtocolError::Misbehaved(PeerMisbehaved::SealedEntry))
        ),
        "{flipped:?}"
    );
    let short = with_tampered_table(&w, &probe, |_, b| {
        b.pop();
    });
    assert!(
        matches!(
            short,
            Err(ProtocolError::Misbehaved(
                PeerMisbehaved::WrongLength { .. }
            ))
        ),
        "{short:?}"
    );
    let renumbered = with_tampered_table(&w, &probe, |p, _| *p += 1);
    assert!(
        matches!(
            renumbered,
            Err(ProtocolError::Misbehaved(PeerMisbehaved::OutOfOrder { .. }))
        ),
        "{renumbered:?}"
    );
}

#[test]
fn forged_output_labels_are_refused_and_the_holder_records_nothing() {
    // A verifier that sends the holder output labels that are not the wires' (to make it
    // believe a match, or name another row): the holder refuses the session.
    let w = world();
    let mut holder =
        HolderSession::new(&w.config, "client", ChaCha20Rng::seed_from_u64(3)).unwrap();
    let vconfig = VerifierConfig {
        param_sets: vec!["toy".into()],
        allow_insecure: true,
        ..VerifierConfig::default()
    };
    let mut verifier = VerifierSession::new(
        vconfig,
        &w.embeddings[30],
        Mode::IdentifyWho,
        OutputTo::Holder,
        ChaCha20Rng::seed_from_u64(4),
    )
    .unwrap();
    let mut pending = verifier.start().unwrap();
    let mut refused = None;
    'session: while !pending.is_empty() {
        let mut replies = Vec::new();
        for mut m in pending.drain(..) {
            if let Message::OutputLabel(labels) = &mut m {
                assert_eq!(labels.len(), 16 * 7, "valid and six index labels");
                labels[20] ^= 0x40;
            }
            match holder.receive(m) {
                Ok(out) => replies.extend(out),
                Err(e) => {
                    refused = Some(e);
                    break 'session;
                }
            }
        }
        for m in replies {
            pending.extend(verifier.receive(m).unwrap());
        }
    }
    let err = refused.expect("the holder refuses forged labels");
    assert_eq!(err.notice(), Some(AbortCode::Malformed), "{err}");
    assert!(holder.outcome().is_err());
}
