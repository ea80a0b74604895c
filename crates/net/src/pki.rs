//! A demo PKI minted with rcgen: one CA, a holder (server) certificate and a verifier (client)
//! certificate, all PEM. For demos and tests; production deployments bring their own.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::{NetError, Result};

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

/// Mints a CA, a holder certificate for `holder_names` and one verifier certificate.
pub fn mint(holder_names: &[&str], verifier_name: &str) -> Result<DemoPki> {
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.distinguished_name
        .push(DnType::CommonName, "privface demo CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let issuer = Issuer::new(ca, &ca_key);

    let leaf = |names: Vec<String>,
                cn: &str,
                usage: ExtendedKeyUsagePurpose|
     -> Result<(String, String)> {
        let key = KeyPair::generate().map_err(err)?;
        let mut p = CertificateParams::new(names).map_err(err)?;
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![usage];
        let cert = p.signed_by(&key, &issuer).map_err(err)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let (holder_cert, holder_key) = leaf(
        holder_names.iter().map(|s| s.to_string()).collect(),
        "privface holder",
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (verifier_cert, verifier_key) = leaf(
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
