//! The verifier's side: one session to a holder over a fresh TLS connection.

use std::sync::Arc;

use privface_protocol::{
    ALPN, MAX_FRAME, Mode, OutputTo, VerifierConfig, VerifierSession, VerifyOutcome, drive,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::{NetError, Result, Timeouts, bridged, handshake_timed_out, timed};

/// What a verifier asks of a holder.
#[derive(Clone)]
pub struct VerifyRequest {
    /// The holder's name, as its certificate states it.
    pub server_name: String,
    /// The verifier's policy.
    pub config: VerifierConfig,
    /// The probe embedding.
    pub probe: Vec<f32>,
    /// Identification (1:N), verification of a claimed identity (1:1) or classification.
    pub mode: Mode,
    /// Who learns the result.
    pub output: OutputTo,
    /// Handshake and I/O timeouts.
    pub timeouts: Timeouts,
}

impl std::fmt::Debug for VerifyRequest {
    // The probe is biometric data: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("server_name", &self.server_name)
            .field("mode", &self.mode)
            .field("output", &self.output)
            .finish_non_exhaustive()
    }
}

/// Runs one verifier session over `tcp` under `request`.
pub async fn verify(
    tcp: TcpStream,
    tls: Arc<ClientConfig>,
    request: VerifyRequest,
) -> Result<VerifyOutcome> {
    let VerifyRequest {
        server_name,
        config,
        probe,
        mode,
        output,
        timeouts,
    } = request;
    // The probe is checked and quantised before anything is sent.
    let session = VerifierSession::new(config, &probe, mode, output, StdRng::from_os_rng())?;
    drop(probe);
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(server_name).map_err(|e| NetError::Tls(e.to_string()))?;
    let tls = tokio::time::timeout(
        timeouts.handshake,
        TlsConnector::from(tls).connect(name, tcp),
    )
    .await
    .map_err(|_| handshake_timed_out())??;
    if tls.get_ref().1.alpn_protocol() != Some(ALPN) {
        return Err(NetError::Alpn);
    }
    let (mut reader, mut writer) = bridged(timed(tls, timeouts.io));
    tokio::task::spawn_blocking(move || {
        let outcome = drive(session, &mut reader, &mut writer, MAX_FRAME);
        let _ = writer.shutdown();
        let ((answer, accept), timings) = outcome?;
        Ok(VerifyOutcome {
            bit: answer.bit,
            class: answer.class,
            who: answer.who,
            accept,
            timings,
        })
    })
    .await
    .map_err(|e| NetError::Internal(e.to_string()))?
}
