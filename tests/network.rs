//! End-to-end over real mutual TLS on 127.0.0.1:0: identification and verification, match and
//! no-match, several gallery sizes, bad clients of every kind (each gets a clear error and the
//! holder keeps serving), and 16 concurrent verifiers.

use std::sync::Arc;
use std::time::Duration;

use privface::he::{GalleryMode, ParameterSet, Quantiser};
use privface::net::{NetError, Timeouts, client_tls, pki, serve, server_tls, verify};
use privface::protocol::{
    AbortCode, HolderConfig, HolderGallery, Message, Mode, OutputTo, ProtocolError, QueryBudget,
    VerifierConfig,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Holder {
    addr: std::net::SocketAddr,
    pki: Arc<pki::DemoPki>,
    embeddings: Vec<Vec<f32>>,
    params: ParameterSet,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn embedding(rng: &mut ChaCha20Rng, d: usize) -> Vec<f32> {
    (0..d).map(|_| rng.random::<f32>() - 0.5).collect()
}

async fn start_holder(params: ParameterSet, d: usize, n: usize, budget: Option<u32>) -> Holder {
    let pki = Arc::new(pki::mint(&["localhost"], "gate-1").unwrap());
    let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
    let q = Quantiser::for_dimension(d).unwrap();
    let embeddings: Vec<Vec<f32>> = (0..n).map(|_| embedding(&mut rng, d)).collect();
    let entries = embeddings
        .iter()
        .enumerate()
        .map(|(i, e)| (format!("id{i}"), q.quantise(e).unwrap()));
    let gallery = HolderGallery::new(&params, d, entries, GalleryMode::Pretransformed).unwrap();
    let config = Arc::new(HolderConfig {
        threshold: q.threshold(0.8),
        allow_insecure: params.insecure,
        params: params.clone(),
        gallery: Arc::new(gallery),
        budget: Arc::new(QueryBudget::new(budget)),
        batch: 256,
        round_blocks: 2,
    });
    let tls = server_tls(
        pki.ca_cert.as_bytes(),
        pki.holder_cert.as_bytes(),
        pki.holder_key.as_bytes(),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let timeouts = Timeouts {
        handshake: Duration::from_secs(5),
        io: Duration::from_secs(20),
    };
    tokio::spawn(serve(listener, tls, config, timeouts, 32, async move {
        let _ = stopped.await;
    }));
    Holder {
        addr,
        pki,
        embeddings,
        params,
        _stop: stop,
    }
}

impl Holder {
    async fn query(&self, probe: Vec<f32>, mode: Mode) -> Result<Option<bool>, NetError> {
        let tls = client_tls(
            self.pki.ca_cert.as_bytes(),
            self.pki.verifier_cert.as_bytes(),
            self.pki.verifier_key.as_bytes(),
        )
        .unwrap();
        let config = VerifierConfig {
            param_sets: vec![self.params.name.clone()],
            allow_insecure: self.params.insecure,
            ..VerifierConfig::default()
        };
        let tcp = TcpStream::connect(self.addr).await?;
        let out = verify(
            tcp,
            tls,
            "localhost",
            config,
            probe,
            mode,
            OutputTo::Verifier,
            Timeouts::default(),
        )
        .await?;
        Ok(out.bit)
    }

    fn genuine(&self, i: usize) -> Vec<f32> {
        self.embeddings[i]
            .iter()
            .enumerate()
            .map(|(j, v)| v + if j % 5 == 0 { 0.01 } else { 0.0 })
            .collect()
    }

    async fn check_still_serving(&self) {
        let i = self.embeddings.len() / 2;
        assert_eq!(
            self.query(self.genuine(i), Mode::Identify).await.unwrap(),
            Some(true)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identification_and_verification_over_tls_for_several_gallery_sizes() {
    let toy = ParameterSet::toy();
    // Toy layout at d = 128: the byte-optimal g gives blocks of a few hundred vectors.
    for n in [1usize, 7, 255, 256, 257, 3000] {
        let h = start_holder(toy.clone(), 128, n, None).await;
        let impostor = embedding(&mut ChaCha20Rng::seed_from_u64(999), 128);
        let last = n - 1;
        assert_eq!(
            h.query(h.genuine(last), Mode::Identify).await.unwrap(),
            Some(true),
            "n = {n}"
        );
        assert_eq!(
            h.query(impostor.clone(), Mode::Identify).await.unwrap(),
            Some(false),
            "n = {n}"
        );
        let claim = Mode::Verify {
            identity: format!("id{last}"),
        };
        assert_eq!(
            h.query(h.genuine(last), claim.clone()).await.unwrap(),
            Some(true)
        );
        assert_eq!(h.query(impostor, claim).await.unwrap(), Some(false));
    }
    // The real parameter set, once.
    let h = start_holder(ParameterSet::default_128(), 512, 500, None).await;
    assert_eq!(
        h.query(h.genuine(17), Mode::Identify).await.unwrap(),
        Some(true)
    );
    assert_eq!(
        h.query(
            h.genuine(17),
            Mode::Verify {
                identity: "id17".into()
            }
        )
        .await
        .unwrap(),
        Some(true)
    );
    assert_eq!(
        h.query(
            h.genuine(17),
            Mode::Verify {
                identity: "id18".into()
            }
        )
        .await
        .unwrap(),
        Some(false)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_clients_get_clear_errors_and_the_holder_keeps_serving() {
    let h = start_holder(ParameterSet::toy(), 64, 50, None).await;

    // 1. A client certificate from another CA.
    let other = pki::mint(&["localhost"], "intruder").unwrap();
    let tls = client_tls(
        h.pki.ca_cert.as_bytes(),
        other.verifier_cert.as_bytes(),
        other.verifier_key.as_bytes(),
    )
    .unwrap();
    let config = VerifierConfig {
        param_sets: vec!["toy".into()],
        allow_insecure: true,
        ..VerifierConfig::default()
    };
    let tcp = TcpStream::connect(h.addr).await.unwrap();
    let r = verify(
        tcp,
        tls,
        "localhost",
        config.clone(),
        h.genuine(1),
        Mode::Identify,
        OutputTo::Verifier,
        Timeouts::default(),
    )
    .await;
    assert!(
        matches!(
            r,
            Err(NetError::Io(_)) | Err(NetError::Protocol(ProtocolError::Io(_)))
        ),
        "{r:?}"
    );
    h.check_still_serving().await;

    // 2. No client certificate at all / a wrong ALPN.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::pem::PemObject::pem_slice_iter(h.pki.ca_cert.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    for alpn in [b"privface/1".to_vec(), b"http/1.1".to_vec()] {
        let mut cc = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        cc.alpn_protocols = vec![alpn];
        let tcp = TcpStream::connect(h.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let res = tokio_rustls::TlsConnector::from(Arc::new(cc))
            .connect(name, tcp)
            .await;
        // TLS 1.3 client auth failures surface on first read.
        if let Ok(mut s) = res {
            let _ = s.write_all(&[0, 0, 0, 0]).await;
            let mut buf = [0u8; 1];
            assert!(matches!(s.read(&mut buf).await, Err(_) | Ok(0)));
        }
    }
    h.check_still_serving().await;

    // 3. A mismatched parameter set.
    let tls = client_tls(
        h.pki.ca_cert.as_bytes(),
        h.pki.verifier_cert.as_bytes(),
        h.pki.verifier_key.as_bytes(),
    )
    .unwrap();
    let tcp = TcpStream::connect(h.addr).await.unwrap();
    let default_only = VerifierConfig::default();
    let r = verify(
        tcp,
        tls.clone(),
        "localhost",
        default_only,
        h.genuine(1),
        Mode::Identify,
        OutputTo::Verifier,
        Timeouts::default(),
    )
    .await;
    assert!(
        matches!(
            r,
            Err(NetError::Protocol(ProtocolError::Rejected(
                AbortCode::Parameters
            )))
        ),
        "{r:?}"
    );

    // 4. A probe of the wrong dimension, and a NaN probe (refused locally, nothing sent).
    assert!(matches!(
        h.query(vec![0.1; 63], Mode::Identify).await,
        Err(NetError::Protocol(ProtocolError::Rejected(
            AbortCode::Dimension
        )))
    ));
    let mut nan = h.genuine(2);
    nan[0] = f32::NAN;
    assert!(matches!(
        h.query(nan, Mode::Identify).await,
        Err(NetError::Protocol(ProtocolError::He(_)))
    ));
    h.check_still_serving().await;

    // 5. Raw frames over an authenticated TLS connection: oversized, out of order, and a peer
    //    that disconnects in the middle of the garbling.
    let raw = |bytes: Vec<u8>| {
        let tls = tls.clone();
        let addr = h.addr;
        async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut s = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .unwrap();
            s.write_all(&bytes).await.unwrap();
            s.flush().await.unwrap();
            let mut reply = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut reply)).await;
            reply
        }
    };
    let frame = |m: &Message| {
        let body = m.encode();
        let mut out = (body.len() as u32).to_le_bytes().to_vec();
        out.extend(body);
        out
    };
    let abort_code = |reply: &[u8]| {
        (reply.len() > 4)
            .then(|| Message::decode(&reply[4..]).ok())
            .flatten()
    };
    let reply = raw(u32::MAX.to_le_bytes().to_vec()).await;
    assert_eq!(
        abort_code(&reply),
        Some(Message::Abort(AbortCode::Malformed))
    );
    let reply = raw(frame(&Message::Scores {
        index: 0,
        count: 1,
        bytes: vec![],
    }))
    .await;
    assert_eq!(
        abort_code(&reply),
        Some(Message::Abort(AbortCode::Unexpected))
    );
    h.check_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_vanishing_mid_garbling_does_not_disturb_the_holder() {
    let h = start_holder(ParameterSet::toy(), 64, 2000, None).await;
    // Start a session and drop it after the scores have started to flow.
    let tls = client_tls(
        h.pki.ca_cert.as_bytes(),
        h.pki.verifier_cert.as_bytes(),
        h.pki.verifier_key.as_bytes(),
    )
    .unwrap();
    let tcp = TcpStream::connect(h.addr).await.unwrap();
    let config = VerifierConfig {
        param_sets: vec!["toy".into()],
        allow_insecure: true,
        ..VerifierConfig::default()
    };
    let session = tokio::spawn(verify(
        tcp,
        tls,
        "localhost",
        config,
        h.genuine(3),
        Mode::Identify,
        OutputTo::Verifier,
        Timeouts::default(),
    ));
    tokio::time::sleep(Duration::from_millis(30)).await;
    session.abort();
    h.check_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_verifiers_all_get_the_right_bit() {
    let h = Arc::new(start_holder(ParameterSet::toy(), 64, 300, None).await);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let h = h.clone();
        tasks.push(tokio::spawn(async move {
            let (probe, want) = if i % 2 == 0 {
                (h.genuine(i * 10), true)
            } else {
                (
                    embedding(&mut ChaCha20Rng::seed_from_u64(i as u64 + 1000), 64),
                    false,
                )
            };
            (h.query(probe, Mode::Identify).await.unwrap(), want)
        }));
    }
    for t in tasks {
        let (got, want) = t.await.unwrap();
        assert_eq!(got, Some(want));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_budget_is_enforced_per_client_certificate() {
    let h = start_holder(ParameterSet::toy(), 64, 10, Some(2)).await;
    h.query(h.genuine(1), Mode::Identify).await.unwrap();
    h.query(h.genuine(1), Mode::Identify).await.unwrap();
    let r = h.query(h.genuine(1), Mode::Identify).await;
    assert!(
        matches!(
            r,
            Err(NetError::Protocol(ProtocolError::Rejected(
                AbortCode::Budget
            )))
        ),
        "{r:?}"
    );
}
