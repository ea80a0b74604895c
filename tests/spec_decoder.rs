//! An independent decoder of the session transcript vectors, written from the specification
//! alone (protocols/privface-spec.md §9.2–§9.3, §6.1, §6.5, §13): no type of the protocol
//! crate is used. It parses every frame of both directions and checks that each transcript
//! agrees with the spec's message sequence and with the values the vector states.

use serde_json::Value;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A cursor over a frame body with the postcard primitives the spec names.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().expect("byte");
        self.0 = rest;
        *b
    }
    fn varint(&mut self) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte();
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return v;
            }
        }
        panic!("varint too long");
    }
    fn zigzag(&mut self) -> i64 {
        let v = self.varint();
        (v >> 1) as i64 ^ -((v & 1) as i64)
    }
    fn bytes(&mut self) -> Vec<u8> {
        let n = self.varint() as usize;
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b.to_vec()
    }
    fn string(&mut self) -> String {
        String::from_utf8(self.bytes()).unwrap()
    }
    fn f32(&mut self) -> f32 {
        let b: [u8; 4] = [self.byte(), self.byte(), self.byte(), self.byte()];
        f32::from_le_bytes(b)
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Debug)]
enum Msg {
    Hello {
        param_sets: Vec<String>,
        dimension: u64,
        mode: u64,
        /// The claimed identity (mode 1) or the model (mode 2).
        name: Option<String>,
        output: u64,
    },
    Accept {
        params: String,
        dimension: u64,
        scale: f32,
        threshold: i64,
        padded_count: u64,
        group_size: u64,
        share_bits: u64,
        b: u64,
        batch: u64,
        round_blocks: u64,
        dropped_bits: u64,
    },
    Reject,
    BaseOtOffer(usize),
    BaseOtReply(usize),
    QueryPart {
        index: u64,
        len: usize,
    },
    Scores {
        index: u64,
        count: u64,
        len: usize,
    },
    OtExtension {
        batch: u64,
        len: usize,
    },
    Tables {
        batch: u64,
        len: usize,
    },
    Finish(usize),
    OutputLabel(usize),
    Abort,
    Decode(usize),
    Labels(Vec<String>),
    LabelTable {
        part: u64,
        len: usize,
    },
}

/// Decodes a frame body by the table of §9.2.
fn decode(body: &[u8]) -> Msg {
    let mut r = Reader(body);
    assert_eq!(r.byte(), 1, "version byte");
    let msg = match r.varint() {
        0 => {
            let n = r.varint();
            let param_sets = (0..n).map(|_| r.string()).collect();
            let dimension = r.varint();
            let mode = r.varint();
            // 0 Identify, 1 Verify { identity }, 2 Classify { model }, 3 IdentifyWho.
            assert!(mode <= 3, "mode {mode} is not in the spec's table");
            let name = matches!(mode, 1 | 2).then(|| r.string());
            Msg::Hello {
                param_sets,
                dimension,
                mode,
                name,
                output: r.varint(),
            }
        }
        1 => {
            let params = r.string();
            let dimension = r.varint();
            let scale = r.f32();
            let threshold = r.zigzag();
            let padded_count = r.varint();
            let group_size = r.varint();
            let share_bits = r.varint();
            let b = r.varint();
            let batch = r.varint();
            Msg::Accept {
                params,
                dimension,
                scale,
                threshold,
                padded_count,
                group_size,
                share_bits,
                b,
                batch,
                round_blocks: r.varint(),
                dropped_bits: r.varint(),
            }
        }
        2 => {
            r.varint();
            Msg::Reject
        }
        3 => Msg::BaseOtOffer(r.bytes().len()),
        4 => Msg::BaseOtReply(r.bytes().len()),
        5 => {
            let index = r.varint();
            Msg::QueryPart {
                index,
                len: r.bytes().len(),
            }
        }
        6 => {
            let index = r.varint();
            let count = r.varint();
            Msg::Scores {
                index,
                count,
                len: r.bytes().len(),
            }
        }
        7 => {
            let batch = r.varint();
            Msg::OtExtension {
                batch,
                len: r.bytes().len(),
            }
        }
        8 => {
            let batch = r.varint();
            Msg::Tables {
                batch,
                len: r.bytes().len(),
            }
        }
        9 => Msg::Finish(r.bytes().len()),
        10 => Msg::OutputLabel(r.bytes().len()),
        11 => {
            r.varint();
            Msg::Abort
        }
        12 => Msg::Decode(r.bytes().len()),
        13 => {
            let n = r.varint();
            Msg::Labels((0..n).map(|_| r.string()).collect())
        }
        14 => {
            let part = r.varint();
            Msg::LabelTable {
                part,
                len: r.bytes().len(),
            }
        }
        other => panic!("variant {other} is not in the spec's table"),
    };
    assert!(r.done(), "a frame body is consumed exactly");
    msg
}

/// §6.5: the smallest b in [k+2, min(q, 64)] with E_max < 2^(b−k) and σ_e/2^(b−k) ≤ 2^−λ_r.
fn switched_modulus_log(n: u64, q: u64, eta: i32, lambda: i32, m: u64, k: u64) -> u64 {
    let (n, m) = (n as f64, m as f64);
    let v_eta = (2f64.powi(2 * eta + 1) + 1.0) / 6.0;
    let sd_he = (v_eta * (m * n * 127.0 * 127.0 + 2.0 * n)).sqrt();
    let max_he = m * n * 127.0 * 2f64.powi(eta) + 2.0 * n * 2f64.powi(eta);
    (k + 2..=q.min(64))
        .find(|&b| {
            let scale = 2f64.powi(b as i32 - q as i32);
            let (round_sd, round_max) = if b == q {
                (0.0, 0.0)
            } else {
                (((n + 1.0) / 12.0).sqrt(), (n + 1.0) / 2.0)
            };
            let d = 2f64.powi((b - k) as i32);
            max_he * scale + round_max < d && (sd_he * scale + round_sd) / d <= 2f64.powi(-lambda)
        })
        .expect("a switch target exists")
}

/// §6.1, §6.5, §9.3 on the toy set (N = 512, q = 64, η = 4, λ_r = 16, d = 8): the verifier's
/// base-OT offer, then the public key and the m = d/g chunk ciphertexts in order, and the
/// announced b. Returns m.
fn check_query(v: &[Msg], group_size: u64, k: u64, b: u64) -> u64 {
    assert!(matches!(v[1], Msg::BaseOtOffer(32)), "{:?}", v[1]);
    let (n, q) = (512u64, 64u64);
    let m = 8 / group_size;
    assert_eq!(b, switched_modulus_log(n, q, 4, 16, m, k), "§6.5");
    for i in 0..=m {
        let Msg::QueryPart { index, len } = &v[2 + i as usize] else {
            panic!("query part {i}: {:?}", v[2 + i as usize])
        };
        assert_eq!(*index, i);
        assert_eq!(*len as u64, 16 + n * q / 8, "seed, N coefficients (§6.1)");
    }
    m
}

/// The first case of a transcript vector and its frames decoded, each direction in order.
fn transcript(name: &str) -> (Value, Vec<Msg>, Vec<Msg>) {
    let path = format!("{}/protocols/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let case = file["cases"][0].clone();
    let decode_all = |dir: &str| -> Vec<Msg> {
        case[dir]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| decode(&unhex(f["body"].as_str().unwrap())))
            .collect()
    };
    let (v, h) = (
        decode_all("verifier_to_holder"),
        decode_all("holder_to_verifier"),
    );
    (case, v, h)
}

#[test]
fn session_transcript_follows_the_spec() {
    let (case, v, h) = transcript("session.json");

    let Msg::Hello {
        param_sets,
        dimension,
        mode,
        name,
        output,
    } = &v[0]
    else {
        panic!("first message {:?}", v[0])
    };
    assert_eq!(
        (param_sets.as_slice(), *dimension, *mode, *output),
        (&["toy".to_owned()][..], 8, 0, 2)
    );
    assert_eq!(*name, None);
    let Msg::Accept {
        params,
        dimension: d,
        scale,
        threshold,
        padded_count,
        group_size,
        share_bits: k,
        b,
        batch,
        round_blocks,
        dropped_bits,
    } = &h[0]
    else {
        panic!("holder's first message {:?}", h[0])
    };
    let (k, n_scores) = (*k, *padded_count);
    assert_eq!((params.as_str(), *d), ("toy", 8));
    // §4: k is the smallest integer with B + 1 + τ ≤ 2^(k−1), B = ⌊min(d·127², (α + √d/2)²)⌋
    // (the vector's holder compares exactly: §4.1 with j = 0).
    assert_eq!(*dropped_bits, 0);
    let dd = *d as f64;
    let bound = ((*scale as f64 + dd.sqrt() / 2.0).powi(2)).min(dd * 127.0 * 127.0) as u64;
    // §9.3: 1 ≤ τ ≤ B.
    assert!((1..=bound as i64).contains(threshold));
    let need = bound + 1 + *threshold as u64;
    assert!(need <= 1 << (k - 1) && need > 1 << (k - 2));
    assert_eq!(k, 15);
    assert_eq!(n_scores, 3, "fewer than 16 identities are not padded");
    assert!((1..=1024).contains(batch) && *round_blocks >= 1);

    // §9.3: the verifier's base-OT offer, then the query without waiting.
    assert!(matches!(h[1], Msg::BaseOtReply(4096)), "{:?}", h[1]);
    assert_eq!(*d, 8);
    let m = check_query(&v, *group_size, k, *b);
    let n = 512u64;
    let mut v_rest = v[2 + m as usize + 1..].iter();
    let mut h_rest = h[2..].iter();

    // Rounds: Scores blocks, then per batch an OtExtension and its Tables (§8.2).
    let cap = n / group_size;
    let blocks = n_scores.div_ceil(cap);
    // §8.1: one half-gate (16 bytes) and k − 2 ANDs (32 bytes each) per score, whatever τ.
    let per_score = 16 + 32 * (k - 2);
    let (mut block, mut beta, mut acc_lanes) = (0u64, 0u64, 0u64);
    while block < blocks {
        let round_end = (block + round_blocks).min(blocks);
        let mut round_scores = 0;
        for i in block..round_end {
            let Some(Msg::Scores { index, count, len }) = h_rest.next() else {
                panic!("score block {i} due")
            };
            let want = cap.min(n_scores - i * cap);
            assert_eq!((*index, *count), (i, want));
            // §6.5: (N + count) values of b bits, packed.
            assert_eq!(*len as u64, ((n + count) * b).div_ceil(8));
            round_scores += count;
        }
        block = round_end;
        let mut left = round_scores;
        while left > 0 {
            let scores = left.min(*batch);
            left -= scores;
            let ots = k * scores;
            let Some(Msg::OtExtension { batch: got, len }) = v_rest.next() else {
                panic!("extension of batch {beta} due")
            };
            assert_eq!(*got, beta);
            assert_eq!(
                *len as u64,
                128 * 16 * ots.div_ceil(128) + ots.div_ceil(8),
                "128 columns and the correction bits (§8.2)"
            );
            let Some(Msg::Tables { batch: got, len }) = h_rest.next() else {
                panic!("tables of batch {beta} due")
            };
            assert_eq!(*got, beta);
            let ors = if beta == 0 { 0 } else { scores.min(acc_lanes) };
            assert_eq!(*len as u64, scores * per_score + 32 * ors, "batch {beta}");
            acc_lanes = acc_lanes.max(scores);
            beta += 1;
        }
    }
    // §8.2, output to both: the OR tree over the accumulator alone, the verifier's label, and
    // only then the decode bit.
    assert!(matches!(h_rest.next(), Some(Msg::Finish(len)) if *len as u64 == 32 * (acc_lanes - 1)));
    assert!(matches!(v_rest.next(), Some(Msg::OutputLabel(16))));
    assert!(matches!(h_rest.next(), Some(Msg::Decode(1))));
    assert!(h_rest.next().is_none() && v_rest.next().is_none());
    assert!(beta >= 2, "the vector covers more than one batch");

    // The stated outcome: bob enrolled, probe close to bob, threshold 0.9, output to both.
    assert_eq!(case["verifier_bit"], true);
    assert_eq!(case["holder_bit"], true);
}

#[test]
fn classification_transcript_follows_the_spec() {
    let (case, v, h) = transcript("classify_session.json");
    // §9.2: mode 2 names the model; output 2 is both.
    assert!(
        matches!(&v[0], Msg::Hello { mode: 2, name: Some(m), output: 2, dimension: 8, .. } if m == "pets"),
        "{:?}",
        v[0]
    );
    let Msg::Accept {
        scale,
        threshold,
        padded_count: c,
        group_size,
        share_bits: k,
        b,
        batch,
        round_blocks,
        dropped_bits,
        ..
    } = &h[0]
    else {
        panic!("holder's first message {:?}", h[0])
    };
    let (c, k) = (*c, *k);
    // §13.2: threshold and dropped bits 0, one batch of all C classes, α_x = 127/X.
    assert_eq!((*threshold, *dropped_bits, *batch, c), (0, 0, c, 3));
    assert_eq!(*scale, 127.0 / case["input_bound"].as_f64().unwrap() as f32);
    // §13.1: Λ = max_c (127·‖ŵ_c‖₁ + |β̂_c|) + 1 and k the smallest with Λ + 1 ≤ 2^(k−1), with
    // ŵ = round(α_w·w), α_w = 127/max|w|, β̂ = round(α_x·α_w·b).
    let weights: Vec<f64> = case["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32 as f64)
        .collect();
    let biases: Vec<f64> = case["biases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32 as f64)
        .collect();
    let alpha_w = (127.0 / weights.iter().fold(0f64, |m, w| m.max(w.abs())) as f32) as f64;
    let lambda = (0..3)
        .map(|class| {
            let l1: f64 = weights[class * 8..class * 8 + 8]
                .iter()
                .map(|w| (w * alpha_w).round().abs())
                .sum();
            127.0 * l1 + (biases[class] * *scale as f64 * alpha_w).round().abs()
        })
        .fold(0f64, f64::max) as u64
        + 1;
    assert!(
        lambda < 1 << (k - 1) && lambda + 1 > 1 << (k - 2),
        "k = {k}, Λ = {lambda}"
    );
    // §13.2: the labels right after Accept, C of them.
    assert!(
        matches!(&h[1], Msg::Labels(l) if l == &["cat", "dog", "neither"]),
        "{:?}",
        h[1]
    );
    assert!(matches!(h[2], Msg::BaseOtReply(4096)));
    let m = check_query(&v, *group_size, k, *b);
    let n = 512u64;
    // One round of one block, one batch.
    let blocks = c.div_ceil(n / group_size);
    assert!(*round_blocks >= blocks);
    assert!(
        matches!(h[3], Msg::Scores { index: 0, count, len } if count == c && len as u64 == ((n + c) * b).div_ceil(8))
    );
    let ots = k * c;
    let Msg::OtExtension { batch: 0, len } = v[3 + m as usize] else {
        panic!("{:?}", v[3 + m as usize])
    };
    assert_eq!(len as u64, 128 * 16 * ots.div_ceil(128) + ots.div_ceil(8));
    // §13.3: C half-gates (16 bytes) and C·(k − 2) + (C − 1)·(2k + ⌈log2 C⌉) ANDs (32 bytes).
    let bits = 2;
    let ands = c * (k - 2) + (c - 1) * (2 * k + bits);
    assert!(
        matches!(h[4], Msg::Tables { batch: 0, len } if len as u64 == 16 * c + 32 * ands),
        "{:?}",
        h[4]
    );
    // Output to both: no decode bits in Finish, the verifier's labels, then the decode bits.
    assert!(matches!(h[5], Msg::Finish(0)));
    assert!(matches!(v[4 + m as usize], Msg::OutputLabel(len) if len as u64 == 16 * bits));
    assert!(matches!(h[6], Msg::Decode(1)));
    assert_eq!((h.len(), v.len() as u64), (7, 5 + m));
    // The stated outcome is the exact rule on the stated quantised logits.
    let logits: Vec<i64> = case["quantised_logits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    let best = (0..3).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
    assert_eq!(case["verifier_class"], best);
    assert_eq!(case["holder_class"], best);
}

#[test]
fn who_transcript_follows_the_spec() {
    let (case, v, h) = transcript("who_session.json");
    // §9.2: mode 3 names nothing; output 0 is the verifier.
    assert!(
        matches!(
            &v[0],
            Msg::Hello {
                mode: 3,
                name: None,
                output: 0,
                ..
            }
        ),
        "{:?}",
        v[0]
    );
    let Msg::Accept {
        padded_count: n_scores,
        group_size,
        share_bits: k,
        b,
        batch,
        round_blocks,
        dropped_bits,
        ..
    } = &h[0]
    else {
        panic!("holder's first message {:?}", h[0])
    };
    let (k, n_scores, batch) = (*k, *n_scores, *batch);
    // §15.1: exact.
    assert_eq!(*dropped_bits, 0);
    assert!(matches!(h[1], Msg::BaseOtReply(4096)));
    let m = check_query(&v, *group_size, k, *b);
    let n = 512u64;
    // §15.2: index bits ⌈log2 n′⌉; per score k − 2 ANDs and a half-gate, then 2k + bits ANDs.
    let bits = 64 - (n_scores.max(2) - 1).leading_zeros() as u64;
    let per_score = 16 + 32 * (k - 2) + 32 * (2 * k + bits);
    let cap = n / group_size;
    assert!(n_scores <= cap * *round_blocks, "one round");
    assert!(matches!(h[2], Msg::Scores { index: 0, count, .. } if count == n_scores));
    let mut left = n_scores;
    let (mut beta, mut lanes) = (0u64, 0u64);
    let (mut vi, mut hi) = (2 + m as usize + 1, 3usize);
    while left > 0 {
        let scores = left.min(batch);
        left -= scores;
        let ots = k * scores;
        assert!(
            matches!(v[vi], Msg::OtExtension { batch: got, len } if got == beta && len as u64 == 128 * 16 * ots.div_ceil(128) + ots.div_ceil(8))
        );
        assert!(
            matches!(h[hi], Msg::Tables { batch: got, len } if got == beta && len as u64 == scores * per_score),
            "batch {beta}: {:?}",
            h[hi]
        );
        lanes = lanes.max(scores);
        beta += 1;
        vi += 1;
        hi += 1;
    }
    // The tournament over the lanes (2(k + bits) ANDs a meeting) and the decode bit of valid
    // alone; then the label table, 2^bits entries of 64 bytes.
    assert!(
        matches!(h[hi], Msg::Finish(len) if len as u64 == 32 * (lanes - 1) * 2 * (k + bits) + 1),
        "{:?}",
        h[hi]
    );
    assert!(
        matches!(h[hi + 1], Msg::LabelTable { part: 0, len } if len as u64 == 64 << bits),
        "{:?}",
        h[hi + 1]
    );
    assert_eq!((h.len(), v.len()), (hi + 2, vi));
    assert_eq!(case["verifier_id"], "bob");
    assert_eq!(case["verifier_label"], "Label of bob");
    assert_eq!(case["holder_learns"], false);
}
