//! The test holder: a fixture gallery served over mutual TLS on 127.0.0.1:0, and clients of it.

use std::sync::Arc;
use std::time::Duration;

use privface::he::ParameterSet;
use privface::net::{
    NetError, ServeOptions, Timeouts, VerifyRequest, client_tls, pki, serve, server_tls, verify,
};
use privface::protocol::{Message, Mode, OutputTo, VerifierSession, encode_frame};
use privface_testkit::Fixture;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Holder {
    pub addr: std::net::SocketAddr,
    pub pki: Arc<pki::DemoPki>,
    pub fixture: Fixture,
    /// Dropping it (or sending) shuts the holder down.
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub served: tokio::task::JoinHandle<Result<(), NetError>>,
}

/// A holder serving a fixture gallery on 127.0.0.1:0 with at most `max_connections` at once.
pub async fn start_holder(
    params: ParameterSet,
    d: usize,
    n: usize,
    budget: Option<u32>,
    max_connections: usize,
) -> Holder {
    let options = ServeOptions {
        timeouts: IO_TIMEOUTS,
        max_connections,
        max_sessions: max_connections,
        max_sessions_per_client: max_connections,
        shutdown_grace: Duration::from_secs(10),
        session_deadline: Duration::from_secs(120),
        ..ServeOptions::default()
    };
    start_holder_with(params, d, n, budget, options).await
}

pub async fn start_holder_with(
    params: ParameterSet,
    d: usize,
    n: usize,
    budget: Option<u32>,
    options: ServeOptions,
) -> Holder {
    let pki = Arc::new(pki::mint(&["localhost"], "gate-1").unwrap());
    let fixture = Fixture::builder(params, d, n)
        .budget(budget)
        .batch(256)
        .round_blocks(2)
        .build();
    let tls = server_tls(
        pki.ca_cert.as_bytes(),
        pki.holder_cert.as_bytes(),
        pki.holder_key.as_bytes(),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = fixture.config.clone();
    let served = tokio::spawn(serve(listener, tls, config, options, async move {
        let _ = stopped.await;
    }));
    Holder {
        addr,
        pki,
        fixture,
        stop: Some(stop),
        served,
    }
}

/// The holder's timeouts: a peer that vanishes must be noticed long before the I/O timeout.
pub const IO_TIMEOUTS: Timeouts = Timeouts {
    handshake: Duration::from_secs(5),
    io: Duration::from_secs(20),
};

impl Holder {
    pub fn client_tls(&self) -> Arc<rustls::ClientConfig> {
        client_tls(
            self.pki.ca_cert.as_bytes(),
            self.pki.verifier_cert.as_bytes(),
            self.pki.verifier_key.as_bytes(),
        )
        .unwrap()
    }

    pub fn request(&self, probe: Vec<f32>, mode: Mode) -> VerifyRequest {
        VerifyRequest {
            server_name: "localhost".into(),
            config: self.fixture.verifier_config(),
            probe,
            mode,
            output: OutputTo::Verifier,
            timeouts: Timeouts::default(),
        }
    }

    pub async fn query(&self, probe: Vec<f32>, mode: Mode) -> Result<Option<bool>, NetError> {
        self.query_as(self.client_tls(), probe, mode).await
    }

    /// A query by the client of `tls`.
    pub async fn query_as(
        &self,
        tls: Arc<rustls::ClientConfig>,
        probe: Vec<f32>,
        mode: Mode,
    ) -> Result<Option<bool>, NetError> {
        let tcp = TcpStream::connect(self.addr).await?;
        let out = verify(tcp, tls, self.request(probe, mode)).await?;
        Ok(out.bit)
    }

    /// The TLS configuration of a second verifier, `name`, certified by the same CA.
    pub fn other_client_tls(&self, name: &str) -> Arc<rustls::ClientConfig> {
        let (cert, key) = pki::issue_verifier(&self.pki.ca_key, name).unwrap();
        client_tls(self.pki.ca_cert.as_bytes(), cert.as_bytes(), key.as_bytes()).unwrap()
    }

    pub fn genuine(&self, i: usize) -> Vec<f32> {
        self.fixture.genuine(i)
    }

    /// A genuine query answers correctly within 10 s (half the I/O timeout: a holder that
    /// still waits on a vanished peer's slot fails this).
    pub async fn check_still_serving(&self) {
        let i = self.fixture.embeddings.len() / 2;
        let bit = tokio::time::timeout(
            Duration::from_secs(10),
            self.query(self.genuine(i), Mode::Identify),
        )
        .await
        .expect("the holder answers within 10 s");
        assert_eq!(bit.unwrap(), Some(true));
    }

    /// An authenticated TLS connection with ALPN privface/1, for hand-made frames.
    pub async fn raw_tls(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        tokio_rustls::TlsConnector::from(self.client_tls())
            .connect(name, tcp)
            .await
            .unwrap()
    }

    /// A verifier session identifying genuine probe `i`, with generator seed `seed`, to be
    /// played by hand over [`Holder::raw_tls`].
    pub fn verifier_session(&self, i: usize, seed: u64) -> VerifierSession<ChaCha20Rng> {
        VerifierSession::new(
            self.fixture.verifier_config(),
            &self.genuine(i),
            Mode::Identify,
            OutputTo::Verifier,
            ChaCha20Rng::seed_from_u64(seed),
        )
        .unwrap()
    }

    /// An authenticated session that has said Hello and been accepted, then stalls: it holds
    /// a place among its client's sessions and a session slot until dropped.
    pub async fn stalled_session(
        &self,
        tls: Arc<rustls::ClientConfig>,
    ) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut s = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .unwrap();
        for m in self.verifier_session(0, 9).start().unwrap() {
            s.write_all(&encode_frame(&m)).await.unwrap();
        }
        s.flush().await.unwrap();
        let accept = read_message(&mut s).await;
        assert_eq!(accept.kind(), "Accept");
        s
    }
}

/// Reads one frame and decodes it.
pub async fn read_message(s: &mut (impl AsyncReadExt + Unpin)) -> Message {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    s.read_exact(&mut body).await.unwrap();
    Message::decode(&body).unwrap()
}
