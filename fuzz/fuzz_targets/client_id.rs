//! The client identity (spec §9.1): the DER walk that finds a certificate's issuer and
//! public key, on arbitrary bytes, never panics; an identity, when found, is 64 hex digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use privface_net::client_identity;
use rustls::pki_types::CertificateDer;

fuzz_target!(|der: &[u8]| {
    if let Some(id) = client_identity(&CertificateDer::from(der)) {
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
});
