//! The import readers (.npy with its id list, CSV, JSON lines): the first byte picks one; for
//! .npy the next two bytes are the id list's length, then the ids, then the .npy file.
//! Whatever parses has rows of one width only if the format says so (.npy always does).
#![no_main]

use libfuzzer_sys::fuzz_target;
use privface_gallery::{parse_csv, parse_jsonl, parse_npy};

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, rest)) if rest.len() >= 2 => {
            let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
            let rest = &rest[2..];
            let (ids, npy) = rest.split_at(len.min(rest.len()));
            if let Ok(records) = parse_npy("fuzz.npy", npy, "ids.txt", ids) {
                if let Some(first) = records.first() {
                    let d = first.embedding.len();
                    assert!(records.iter().all(|r| r.embedding.len() == d));
                }
            }
        }
        Some((1, rest)) => {
            let _ = parse_csv("fuzz.csv", rest);
        }
        Some((2, rest)) => {
            let _ = parse_jsonl("fuzz.jsonl", rest);
        }
        _ => {}
    }
});
