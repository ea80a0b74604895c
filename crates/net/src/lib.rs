//! # privface-net — the sessions over mutual TLS
//!
//! TLS 1.3 only (rustls with the ring provider), client certificates required and verified
//! against the holder's CA, ALPN `privface/1` required on both sides. Each session's state
//! machine is driven on tokio's blocking pool ([`privface_protocol::drive`]: frames read on one
//! thread, written on another) over the two halves of the TLS stream, with a read/write timeout
//! on every operation, and ends with close_notify. [`serve`] accepts many concurrent
//! sessions (one failing session never disturbs another); [`verify`] runs one verifier session.
//! The binaries, the demo and the tests all call these two functions.

mod client;
mod client_id;
pub mod pki;
mod server;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use privface_protocol::{ALPN, ProtocolError};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use thiserror::Error;
use tokio::io::{ReadHalf, WriteHalf};
use tokio_io_timeout::TimeoutStream;
use tokio_util::io::SyncIoBridge;

pub use client::{VerifyRequest, verify};
pub use client_id::client_identity;
pub use server::{ServeOptions, serve};

/// Transport errors.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum NetError {
    /// Socket or TLS failure.
    #[error("I/O: {0}")]
    Io(io::Error),
    /// Certificates, keys or TLS configuration.
    #[error("TLS setup: {0}")]
    Tls(String),
    /// The peer did not negotiate ALPN `privface/1`.
    #[error("peer did not negotiate ALPN privface/1")]
    Alpn,
    /// The session failed.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The holder refused the connection before its session (too busy); the client was told
    /// `Reject(Busy)`.
    #[error("refused: {0}")]
    Refused(String),
    /// A session task panicked (our bug).
    #[error("internal error: {0}")]
    Internal(String),
}

// Not `#[from]`: the message already includes the I/O error, so it is not repeated as a source.
impl From<io::Error> for NetError {
    fn from(e: io::Error) -> Self {
        NetError::Io(e)
    }
}

impl From<rustls::Error> for NetError {
    fn from(e: rustls::Error) -> Self {
        NetError::Tls(e.to_string())
    }
}

/// Result alias for this crate.
pub type Result<T> = core::result::Result<T, NetError>;

/// Timeouts of a session.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// TLS handshake.
    pub handshake: Duration,
    /// Any single read or write of a session (each phase makes progress within it).
    pub io: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            handshake: Duration::from_secs(10),
            io: Duration::from_secs(120),
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<core::result::Result<Vec<_>, _>>()
        .map_err(|e| NetError::Tls(format!("certificate PEM: {e}")))
}

fn key(pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| NetError::Tls(format!("private key PEM: {e}")))
}

fn roots(ca_pem: &[u8]) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for c in certs(ca_pem)? {
        roots.add(c)?;
    }
    Ok(roots)
}

/// The holder's TLS configuration: its certificate chain and key, and the CA whose client
/// certificates it accepts (and requires).
pub fn server_tls(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ServerConfig>> {
    server_tls_with_crls(ca_pem, cert_pem, key_pem, &[])
}

/// [`server_tls`] with certificate revocation lists (PEM, any number in `crl_pem`): a client
/// certificate a CRL of its issuer lists is refused at the handshake. The CRLs must come from
/// the CA (a CRL with a bad signature fails the handshake of every client).
pub fn server_tls_with_crls(
    ca_pem: &[u8],
    cert_pem: &[u8],
    key_pem: &[u8],
    crl_pem: &[u8],
) -> Result<Arc<ServerConfig>> {
    let crls = rustls::pki_types::CertificateRevocationListDer::pem_slice_iter(crl_pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| NetError::Tls(format!("certificate revocation list: {e}")))?;
    if !crl_pem.is_empty() && crls.is_empty() {
        return Err(NetError::Tls(
            "no certificate revocation list in the CRL file".into(),
        ));
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_pem)?), provider())
            .with_crls(crls)
            .only_check_end_entity_revocation()
            .build()
            .map_err(|e| NetError::Tls(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(cert_pem)?, key(key_pem)?)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

/// The verifier's TLS configuration: the CA it trusts for the holder, and its own client
/// certificate chain and key.
pub fn client_tls(ca_pem: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Result<Arc<ClientConfig>> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca_pem)?)
        .with_client_auth_cert(certs(cert_pem)?, key(key_pem)?)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

/// The stream's read and write halves as blocking streams for the session driver (which reads
/// on one thread and writes on another).
fn bridged<S: tokio::io::AsyncRead + tokio::io::AsyncWrite>(
    stream: S,
) -> (SyncIoBridge<ReadHalf<S>>, SyncIoBridge<WriteHalf<S>>) {
    let handle = tokio::runtime::Handle::current();
    let (r, w) = tokio::io::split(stream);
    (
        SyncIoBridge::new_with_handle(r, handle.clone()),
        SyncIoBridge::new_with_handle(w, handle),
    )
}

fn timed<S: tokio::io::AsyncRead + tokio::io::AsyncWrite>(
    stream: S,
    io: Duration,
) -> std::pin::Pin<Box<TimeoutStream<S>>> {
    let mut t = TimeoutStream::new(stream);
    t.set_read_timeout(Some(io));
    t.set_write_timeout(Some(io));
    Box::pin(t)
}

fn handshake_timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
}
