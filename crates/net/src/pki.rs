//! A demo PKI minted with rcgen: one CA, a holder (server) certificate and a verifier (client)
//! certificate, all PEM. For demos and tests; production deployments bring their own.

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::{NetError, Result};

/// The demo CA's distinguished name (its certificates' issuer and its CRLs').
const CA_NAME: &str = "privface demo CA";

/// PEM files of a demo PKI.
pub struct DemoPki {
    /// The CA certificate (trusted by both sides).
    pub ca_cert: String,
    /// The CA key (kept by whoever issues more certificates).
    pub ca_key: String,
    /// Holder certificate (server auth, DNS names given).
    pub holder_cert: String,
    /// Holder key.
    pub holder_key: String,
    /// Verifier certificate (client auth).
    pub verifier_cert: String,
    /// Verifier key.
    pub verifier_key: String,
}

fn err(e: rcgen::Error) -> NetError {
    NetError::Tls(e.to_string())
}

impl DemoPki {
    /// Writes the PKI into `dir` (created if missing) as one directory per party, so each is
    /// handed only what it needs and the CA key stays apart:
    ///
    /// * `ca/ca.pem`, `ca/ca.key` (the issuer's; never handed out),
    /// * `holder/ca.pem`, `holder/holder.pem`, `holder/holder.key`,
    /// * `verifier/ca.pem`, `verifier/verifier.pem`, `verifier/verifier.key`.
    ///
    /// On Unix the directories are created 0700 and the keys 0600 (created with that mode, so
    /// they are never readable by others, not even for a moment); certificates are 0644. An
    /// existing key file is refused rather than overwritten.
    pub fn write_to(&self, dir: &std::path::Path) -> std::io::Result<()> {
        let parties: [(&str, &[PemFile]); 3] = [
            (
                "ca",
                &[
                    ("ca.pem", &self.ca_cert, false),
                    ("ca.key", &self.ca_key, true),
                ],
            ),
            (
                "holder",
                &[
                    ("ca.pem", &self.ca_cert, false),
                    ("holder.pem", &self.holder_cert, false),
                    ("holder.key", &self.holder_key, true),
                ],
            ),
            (
                "verifier",
                &[
                    ("ca.pem", &self.ca_cert, false),
                    ("verifier.pem", &self.verifier_cert, false),
                    ("verifier.key", &self.verifier_key, true),
                ],
            ),
        ];
        std::fs::create_dir_all(dir)?;
        for (party, files) in parties {
            let sub = dir.join(party);
            private_dir(&sub)?;
            for &(name, pem, secret) in files {
                write_file(&sub.join(name), pem, secret)?;
            }
        }
        Ok(())
    }
}

/// A file to write: name, PEM text, and whether it is a private key.
type PemFile<'a> = (&'a str, &'a str, bool);

fn private_dir(path: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)?;
    #[cfg(unix)]
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    Ok(())
}

fn write_file(path: &std::path::Path, text: &str, secret: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if secret {
        options.create_new(true);
    } else {
        options.create(true).truncate(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, if secret { 0o600 } else { 0o644 });
    options.open(path)?.write_all(text.as_bytes())
}

/// The demo CA's certificate parameters (what [`mint`] self-signs, and what the CA key signs
/// further certificates and CRLs under).
fn ca_params() -> Result<CertificateParams> {
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.distinguished_name.push(DnType::CommonName, CA_NAME);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(ca)
}

/// A leaf certificate and its key, signed by `issuer`.
fn leaf(
    issuer: &Issuer<'_, impl rcgen::SigningKey>,
    names: Vec<String>,
    cn: &str,
    usage: ExtendedKeyUsagePurpose,
) -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(err)?;
    let mut p = CertificateParams::new(names).map_err(err)?;
    p.distinguished_name.push(DnType::CommonName, cn);
    p.extended_key_usages = vec![usage];
    let cert = p.signed_by(&key, issuer).map_err(err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The demo CA as an issuer, from its key (`ca/ca.key`).
fn demo_issuer(ca_key_pem: &str) -> Result<Issuer<'static, KeyPair>> {
    let key = KeyPair::from_pem(ca_key_pem).map_err(err)?;
    Ok(Issuer::new(ca_params()?, key))
}

/// Issues another verifier (client) certificate under the demo CA: (certificate, key) PEM.
pub fn issue_verifier(ca_key_pem: &str, name: &str) -> Result<(String, String)> {
    let issuer = demo_issuer(ca_key_pem)?;
    leaf(
        &issuer,
        vec![name.to_owned()],
        name,
        ExtendedKeyUsagePurpose::ClientAuth,
    )
}

/// A certificate revocation list of the demo CA, numbered `number`, revoking the PEM
/// certificates `revoked` (key compromise), valid for a year: what a holder loads with
/// `serve --crl`.
pub fn revocation_list(ca_key_pem: &str, revoked: &[&str], number: u64) -> Result<String> {
    let issuer = demo_issuer(ca_key_pem)?;
    let now = time::OffsetDateTime::now_utc();
    let revoked_certs = revoked
        .iter()
        .map(|pem| {
            let der = CertificateDer::from_pem_slice(pem.as_bytes())
                .map_err(|e| NetError::Tls(format!("revoked certificate: {e}")))?;
            let serial = crate::client_id::serial_number(der.as_ref())
                .ok_or_else(|| NetError::Tls("revoked certificate does not parse".into()))?;
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(serial),
                revocation_time: now,
                reason_code: Some(RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: now + time::Duration::days(365),
        crl_number: SerialNumber::from(number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    params.signed_by(&issuer).map_err(err)?.pem().map_err(err)
}

/// Mints a CA, a holder certificate for `holder_names` and one verifier certificate.
pub fn mint(holder_names: &[&str], verifier_name: &str) -> Result<DemoPki> {
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca_params()?.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca_params()?, &ca_key);
    let (holder_cert, holder_key) = leaf(
        &issuer,
        holder_names.iter().map(|s| s.to_string()).collect(),
        "privface holder",
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (verifier_cert, verifier_key) = leaf(
        &issuer,
        vec![verifier_name.to_owned()],
        verifier_name,
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;
    Ok(DemoPki {
        ca_cert: ca_cert.pem(),
        ca_key: ca_key.serialize_pem(),
        holder_cert,
        holder_key,
        verifier_cert,
        verifier_key,
    })
}
