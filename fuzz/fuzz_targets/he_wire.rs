//! The HE wire decoders (spec §6.1, §6.5) at the toy set and the shape of the `toy_he` vector
//! (d = 8, g = 2, k = 19): the first byte picks a seeded ciphertext, a query or a response
//! block (the second byte is then its score count); the rest is the encoding.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use privface_he::{Layout, ParameterSet, Query, ResponseBlock, SeededCiphertext, SessionShape};

fn setup() -> &'static (ParameterSet, SessionShape) {
    static SETUP: OnceLock<(ParameterSet, SessionShape)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let params = ParameterSet::toy();
        let layout = Layout::new(&params, 8, 2).expect("layout");
        let shape = SessionShape::new(&params, layout, 19).expect("shape");
        (params, shape)
    })
}

fuzz_target!(|data: &[u8]| {
    let (params, shape) = setup();
    match data.split_first() {
        Some((0, rest)) => {
            if let Ok(c) = SeededCiphertext::decode(params, rest) {
                let mut out = Vec::new();
                c.encode_into(params, &mut out);
                assert_eq!(out, rest, "a seeded ciphertext has one encoding");
            }
        }
        Some((1, rest)) => {
            let _ = Query::decode(params, shape, rest);
        }
        Some((2, rest)) => {
            if let Some((&count, body)) = rest.split_first() {
                let _ = ResponseBlock::decode(shape, count as usize, body);
            }
        }
        _ => {}
    }
});
