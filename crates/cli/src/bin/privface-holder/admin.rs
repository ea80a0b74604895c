//! The operator's commands around serving: `budget`, `audit`, `client-id` and the demo PKI
//! (`certs`, `certs revoke`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use privface_gallery::Ledger;
use privface_net::{client_identity, pki};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

#[derive(Subcommand)]
pub(crate) enum CertsAction {
    /// Revoke a certificate of the demo PKI: adds it to `ca/revoked.pem` and writes the CA's
    /// new revocation list to `holder/crl.pem`, for `serve --crl` (restart the holder to load
    /// it).
    Revoke {
        /// The directory `certs --out` wrote.
        #[arg(long)]
        pki: PathBuf,
        /// The certificate to revoke (PEM).
        #[arg(long)]
        cert: PathBuf,
    },
}

#[derive(Subcommand)]
pub(crate) enum BudgetAction {
    /// Each client's queries used since its last reset.
    List {
        #[arg(long)]
        db: PathBuf,
    },
    /// Give a client its whole budget back (logged in the audit log).
    Reset {
        #[arg(long)]
        db: PathBuf,
        /// The client identity, as `budget list` or `client-id` print it.
        #[arg(long)]
        client: String,
    },
}

/// `budget list` and `budget reset`.
pub(crate) fn budget(action: BudgetAction) -> Result<()> {
    match action {
        BudgetAction::List { db } => {
            let ledger = Ledger::open(&db, None)?;
            println!("client\tused\tlast");
            for u in ledger.clients()? {
                println!("{}\t{}\t{}", u.client, u.used, u.last);
            }
        }
        BudgetAction::Reset { db, client } => {
            if !Ledger::open(&db, None)?.reset(&client)? {
                anyhow::bail!("client `{client}` has never asked a query");
            }
            println!("reset the budget of {client}");
        }
    }
    Ok(())
}

/// `audit`: the `last` most recent rows of the audit log.
pub(crate) fn audit(db: &Path, last: usize) -> Result<()> {
    let ledger = Ledger::open(db, None)?;
    println!("id\ttime\tclient\tmode\tidentity\tscores\toutput\tcharged\toutcome");
    for a in ledger.audit(last)? {
        let outcome = match (a.mode.as_str(), a.outcome) {
            (_, None) => "-".to_owned(),
            ("classify", Some(class)) => format!("class {class}"),
            (_, Some(0)) => "no match".to_owned(),
            (_, Some(_)) => "match".to_owned(),
        };
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{outcome}",
            a.id,
            a.time,
            a.client,
            a.mode,
            a.identity.as_deref().unwrap_or("-"),
            a.scores,
            a.output,
            if a.charged { "yes" } else { "refused" },
        );
    }
    Ok(())
}

/// `client-id`: the client identity of a PEM certificate.
pub(crate) fn client_id(cert: &Path) -> Result<()> {
    let der = CertificateDer::from_pem_file(cert)
        .with_context(|| format!("reading {}", cert.display()))?;
    let id = client_identity(&der).context("not an X.509 certificate")?;
    println!("{id}");
    Ok(())
}

/// `certs revoke`: adds `cert` to the demo PKI's revoked list and writes the CA's new CRL.
pub(crate) fn revoke(dir: &Path, cert: &Path) -> Result<()> {
    let ca_key = std::fs::read_to_string(dir.join("ca/ca.key"))
        .with_context(|| format!("reading the CA key in {}/ca", dir.display()))?;
    let cert =
        std::fs::read_to_string(cert).with_context(|| format!("reading {}", cert.display()))?;
    let list = dir.join("ca/revoked.pem");
    let mut revoked = std::fs::read_to_string(&list).unwrap_or_default();
    if !revoked.contains(cert.trim()) {
        revoked.push_str(cert.trim());
        revoked.push('\n');
    }
    let certs: Vec<String> = revoked
        .split_inclusive("-----END CERTIFICATE-----")
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    let refs: Vec<&str> = certs.iter().map(String::as_str).collect();
    let crl = pki::revocation_list(&ca_key, &refs, refs.len() as u64)?;
    std::fs::write(&list, &revoked)?;
    let out = dir.join("holder/crl.pem");
    std::fs::write(&out, crl)?;
    println!(
        "{} certificate(s) revoked; serve with --crl {}",
        refs.len(),
        out.display()
    );
    Ok(())
}

/// `certs --out DIR`: mints the demo PKI.
pub(crate) fn mint(out: Option<PathBuf>, name: &str) -> Result<()> {
    let out = out.context("--out is required")?;
    pki::mint(&[name], "privface-verifier")?.write_to(&out)?;
    println!(
        "wrote {0}/ca (the CA certificate and key: keep them with the issuer), {0}/holder \
         (for this holder) and {0}/verifier (hand this one to the verifier); keys are 0600",
        out.display()
    );
    Ok(())
}
