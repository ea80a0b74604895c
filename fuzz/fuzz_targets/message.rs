//! Message decoding (spec §9.2): any bytes either fail cleanly or decode to a message whose
//! encoding decodes to the same encoding (compared as bytes: a NaN `quant_scale` decodes, and
//! is refused later by the verifier's checks, but is not equal to itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use privface_protocol::Message;

fuzz_target!(|body: &[u8]| {
    if let Ok(m) = Message::decode(body) {
        let bytes = m.encode();
        let again = Message::decode(&bytes).expect("a decoded message re-encodes");
        assert_eq!(again.encode(), bytes);
    }
});
