//! Frame reading (spec §9.2): a stream of length-prefixed frames, each decoded, until the
//! first error; an announced length over the limit is refused before anything is allocated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use privface_protocol::{Message, read_frame};

const LIMIT: usize = 1 << 16;

fuzz_target!(|stream: &[u8]| {
    let mut rest = stream;
    while let Ok(body) = read_frame(&mut rest, LIMIT) {
        assert!(body.len() <= LIMIT);
        let _ = Message::decode(&body);
    }
});
