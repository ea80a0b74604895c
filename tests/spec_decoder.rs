//! An independent decoder of the session transcript vector, written from the specification
//! alone (protocols/privface-spec.md §9.2–§9.3, §6.1, §6.5): no type of the protocol crate is
//! used. It parses every frame of both directions and checks that the transcript agrees with
//! the spec's message sequence and with the values the vector states.

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
        output: u64,
    },
    Accept {
        params: String,
        dimension: u64,
        padded_count: u64,
        group_size: u64,
        share_bits: u64,
        b: u64,
        round_blocks: u64,
    },
    QueryPart {
        index: u64,
        len: usize,
    },
    Scores {
        index: u64,
        count: u64,
        len: usize,
    },
    Comparison,
    Abort(u64),
}

fn decode(body: &[u8]) -> Msg {
    let mut r = Reader(body);
    assert_eq!(r.byte(), 1, "version byte");
    let msg = match r.varint() {
        0 => {
            let n = r.varint();
            let param_sets = (0..n).map(|_| r.string()).collect();
            let dimension = r.varint();
            let mode = r.varint();
            if mode == 1 {
                r.string();
            }
            Msg::Hello {
                param_sets,
                dimension,
                mode,
                output: r.varint(),
            }
        }
        1 => {
            let params = r.string();
            let dimension = r.varint();
            let _scale = r.f32();
            let _tau = r.zigzag();
            let padded_count = r.varint();
            let group_size = r.varint();
            let share_bits = r.varint();
            let b = r.varint();
            let _batch = r.varint();
            Msg::Accept {
                params,
                dimension,
                padded_count,
                group_size,
                share_bits,
                b,
                round_blocks: r.varint(),
            }
        }
        3 => {
            let index = r.varint();
            Msg::QueryPart {
                index,
                len: r.bytes().len(),
            }
        }
        4 => {
            let index = r.varint();
            let count = r.varint();
            Msg::Scores {
                index,
                count,
                len: r.bytes().len(),
            }
        }
        5 => {
            r.bytes();
            Msg::Comparison
        }
        6 => Msg::Abort(r.varint()),
        other => panic!("variant {other} is not in the spec's table"),
    };
    assert!(r.done(), "a frame body is consumed exactly");
    msg
}

#[test]
fn session_transcript_follows_the_spec() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/protocols/vectors/session.json"
    );
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let case = &file["cases"][0];
    let decode_all = |dir: &str| -> Vec<Msg> {
        case[dir]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| decode(&unhex(f["body"].as_str().unwrap())))
            .collect()
    };
    let v = decode_all("verifier_to_holder");
    let h = decode_all("holder_to_verifier");

    // Verifier: Hello, then the base OT (Comparison), then QueryPart 0..=m, then Comparison.
    let Msg::Hello {
        param_sets,
        dimension,
        mode,
        output,
    } = &v[0]
    else {
        panic!("first message {:?}", v[0])
    };
    assert_eq!(
        (param_sets.as_slice(), *dimension, *mode, *output),
        (&["toy".to_owned()][..], 8, 0, 2)
    );
    let Msg::Accept {
        params,
        dimension: d,
        padded_count,
        group_size,
        share_bits,
        b,
        round_blocks,
    } = &h[0]
    else {
        panic!("holder's first message {:?}", h[0])
    };
    assert_eq!((params.as_str(), *d), ("toy", 8));
    // §4: k is the smallest integer with d·127² < 2^(k−1).
    assert_eq!(*share_bits, 18);
    assert_eq!(*padded_count, 3, "fewer than 16 identities are not padded");
    let m = d / group_size;
    // toy: N = 512, q = 64 (protocols/parameters/toy.json).
    let (n, q) = (512usize, 64usize);
    let parts: Vec<(u64, usize)> = v
        .iter()
        .filter_map(|x| match x {
            Msg::QueryPart { index, len } => Some((*index, *len)),
            _ => None,
        })
        .collect();
    assert_eq!(
        parts.len() as u64,
        m + 1,
        "public key and m chunk ciphertexts"
    );
    for (i, (index, len)) in parts.iter().enumerate() {
        assert_eq!(*index, i as u64);
        assert_eq!(
            *len,
            16 + n * q / 8,
            "seed and N coefficients of q/8 bytes (§6.1)"
        );
    }
    assert!(
        matches!(v[1], Msg::Comparison),
        "base OT before the query (§9.3)"
    );
    // Holder: Accept, base OT, then rounds of Scores and Comparison.
    let scores: Vec<(u64, u64, usize)> = h
        .iter()
        .filter_map(|x| match x {
            Msg::Scores { index, count, len } => Some((*index, *count, *len)),
            _ => None,
        })
        .collect();
    let cap = n as u64 / group_size;
    assert_eq!(scores.iter().map(|s| s.1).sum::<u64>(), *padded_count);
    for (i, (index, count, len)) in scores.iter().enumerate() {
        assert_eq!(*index, i as u64);
        assert_eq!(*count, cap.min(padded_count - i as u64 * cap));
        // §6.5: (N + count) values of b bits, packed.
        assert_eq!(*len as u64, ((n as u64 + count) * b).div_ceil(8));
    }
    assert!(*round_blocks >= 1);
    let aborts: Vec<u64> = h
        .iter()
        .chain(&v)
        .filter_map(|x| match x {
            Msg::Abort(code) => Some(*code),
            _ => None,
        })
        .collect();
    assert!(
        aborts.is_empty(),
        "a successful session has no Abort (codes {aborts:?})"
    );
    // The stated outcome: bob enrolled, probe close to bob, threshold 0.9, output to both.
    assert_eq!(case["verifier_bit"], true);
    assert_eq!(case["holder_bit"], true);
}
