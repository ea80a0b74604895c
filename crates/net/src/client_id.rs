//! A client's identity for budgets and logs (spec §9.1): the issuer and the subject public key
//! of its certificate, not the certificate itself, so a certificate reissued for the same key
//! by the same CA is the same client (and does not start with a fresh budget).

use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};

/// One DER element: (tag, the whole element, its contents, what follows it).
type Element<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

fn element(input: &[u8]) -> Option<Element<'_>> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let count = (first & 0x7f) as usize;
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    let header = input.len() - rest.len();
    Some((tag, &input[..header + len], &rest[..len], &rest[len..]))
}

/// The contents of an X.509 certificate's serialNumber.
pub(crate) fn serial_number(cert: &[u8]) -> Option<&[u8]> {
    let (0x30, _, certificate, _) = element(cert)? else {
        return None;
    };
    let (0x30, _, mut tbs, _) = element(certificate)? else {
        return None;
    };
    if tbs.first() == Some(&0xa0) {
        tbs = element(tbs)?.3;
    }
    match element(tbs)? {
        (0x02, _, serial, _) => Some(serial),
        _ => None,
    }
}

/// The issuer Name and the SubjectPublicKeyInfo of an X.509 certificate (RFC 5280 §4.1), as
/// their complete DER encodings.
pub(crate) fn issuer_and_key(cert: &[u8]) -> Option<(&[u8], &[u8])> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, _, certificate, _) = element(cert)? else {
        return None;
    };
    let (SEQUENCE, _, tbs, _) = element(certificate)? else {
        return None;
    };
    let mut fields = tbs;
    // version [0] EXPLICIT is optional.
    if fields.first() == Some(&0xa0) {
        fields = element(fields)?.3;
    }
    let (0x02, _, _, rest) = element(fields)? else {
        return None; // serialNumber
    };
    let (SEQUENCE, _, _, rest) = element(rest)? else {
        return None; // signature
    };
    let (SEQUENCE, issuer, _, rest) = element(rest)? else {
        return None;
    };
    let (SEQUENCE, _, _, rest) = element(rest)? else {
        return None; // validity
    };
    let (SEQUENCE, _, _, rest) = element(rest)? else {
        return None; // subject
    };
    let (SEQUENCE, key, _, _) = element(rest)? else {
        return None;
    };
    Some((issuer, key))
}

/// A client's identity: SHA-256 of `"privface/1 client" ‖ LE32(|issuer|) ‖ issuer ‖ spki`
/// (the DER of the certificate's issuer Name and SubjectPublicKeyInfo), all 32 bytes in
/// lowercase hex; `None` for bytes that are not a certificate.
pub fn client_identity(cert: &CertificateDer<'_>) -> Option<String> {
    let (issuer, key) = issuer_and_key(cert.as_ref())?;
    let mut h = Sha256::new();
    h.update(b"privface/1 client");
    h.update((issuer.len() as u32).to_le_bytes());
    h.update(issuer);
    h.update(key);
    Some(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair};

    fn ca(name: &str) -> Issuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        Issuer::new(params, KeyPair::generate().unwrap())
    }

    fn leaf(issuer: &Issuer<'_, KeyPair>, key: &KeyPair, serial: u64) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(vec!["verifier".to_owned()]).unwrap();
        params.serial_number = Some(serial.into());
        params.signed_by(key, issuer).unwrap().der().clone()
    }

    #[test]
    fn a_reissued_certificate_is_the_same_client_and_another_key_is_not() {
        let issuer = ca("privface test CA");
        let key = KeyPair::generate().unwrap();
        let first = leaf(&issuer, &key, 1);
        let reissued = leaf(&issuer, &key, 2);
        assert_ne!(first.as_ref(), reissued.as_ref());
        let id = client_identity(&first).unwrap();
        assert_eq!(id.len(), 64);
        assert_eq!(client_identity(&reissued).unwrap(), id);
        // Another key under the same CA, or the same key under another CA: other clients.
        let other = leaf(&issuer, &KeyPair::generate().unwrap(), 1);
        assert_ne!(client_identity(&other).unwrap(), id);
        let issuer2 = ca("another CA");
        assert_ne!(client_identity(&leaf(&issuer2, &key, 1)).unwrap(), id);
    }

    #[test]
    fn bytes_that_are_not_a_certificate_have_no_identity() {
        let issuer = ca("privface test CA");
        let cert = leaf(&issuer, &KeyPair::generate().unwrap(), 1);
        for cut in [0, 1, 2, 10, cert.len() / 2] {
            assert!(client_identity(&CertificateDer::from(&cert[..cut])).is_none());
        }
        assert!(
            client_identity(&CertificateDer::from(vec![
                0x30, 0x84, 0xff, 0xff, 0xff, 0xff
            ]))
            .is_none()
        );
    }
}
