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
    /// Writes the six PEM files (`ca.pem`, `ca.key`, `holder.pem`, `holder.key`, `verifier.pem`,
    /// `verifier.key`) into `dir`, which must exist.
    pub fn write_to(&self, dir: &std::path::Path) -> std::io::Result<()> {
        for (file, pem) in [
            ("ca.pem", &self.ca_cert),
            ("ca.key", &self.ca_key),
            ("holder.pem", &self.holder_cert),
            ("holder.key", &self.holder_key),
            ("verifier.pem", &self.verifier_cert),
            ("verifier.key", &self.verifier_key),
        ] {
            std::fs::write(dir.join(file), pem)?;
        }
        Ok(())
    }
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
