//! End-to-end over real mutual TLS on 127.0.0.1:0: identification and verification, match and
//! no-match, several gallery sizes, bad clients of every kind (each gets a clear error and the
//! holder keeps serving), and 16 concurrent verifiers.

use std::sync::Arc;
use std::time::Duration;

use privface::he::ParameterSet;
use privface::net::{
    NetError, ServeOptions, Timeouts, VerifyRequest, client_tls, pki, serve, verify,
};
use privface::protocol::{
    AbortCode, Message, Mode, OutputTo, ProtocolError, VerifierConfig, VerifierSession,
    encode_frame,
};
use privface_testkit::{Fixture, embedding};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

mod limits;
mod support;

use support::{IO_TIMEOUTS, read_message, start_holder, start_holder_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identification_and_verification_over_tls_for_several_gallery_sizes() {
    let toy = ParameterSet::toy();
    // Toy layout at d = 128: the byte-optimal g gives blocks of a few hundred vectors.
    for n in [1usize, 7, 255, 256, 257, 3000] {
        let h = start_holder(toy.clone(), 128, n, None, 32).await;
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
    let h = start_holder(ParameterSet::default_64(), 512, 500, None, 32).await;
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
    let h = start_holder(ParameterSet::toy(), 64, 50, None, 32).await;

    // 1. A client certificate from another CA.
    let other = pki::mint(&["localhost"], "intruder").unwrap();
    let tls = client_tls(
        h.pki.ca_cert.as_bytes(),
        other.verifier_cert.as_bytes(),
        other.verifier_key.as_bytes(),
    )
    .unwrap();
    let tcp = TcpStream::connect(h.addr).await.unwrap();
    let r = verify(tcp, tls, h.request(h.genuine(1), Mode::Identify)).await;
    assert!(
        matches!(
            r,
            Err(NetError::Io(_)) | Err(NetError::Protocol(ProtocolError::Io(_)))
        ),
        "{r:?}"
    );
    h.check_still_serving().await;

    // 2. No client certificate (right ALPN); then a valid certificate with no ALPN or another
    //    one. Each sends a valid Hello and must get no Accept: the connection just closes.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::pem::PemObject::pem_slice_iter(h.pki.ca_cert.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = || {
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots.clone())
    };
    let with_cert = || {
        let certs =
            rustls::pki_types::pem::PemObject::pem_slice_iter(h.pki.verifier_cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
        let key = rustls::pki_types::pem::PemObject::from_pem_slice(h.pki.verifier_key.as_bytes())
            .unwrap();
        builder().with_client_auth_cert(certs, key).unwrap()
    };
    let mut anonymous = builder().with_no_client_auth();
    anonymous.alpn_protocols = vec![b"privface/1".to_vec()];
    let no_alpn = with_cert();
    let mut http = with_cert();
    http.alpn_protocols = vec![b"http/1.1".to_vec()];
    let hello = encode_frame(&Message::Hello(privface::protocol::Hello {
        param_sets: vec!["toy".into()],
        dimension: 64,
        mode: Mode::Identify,
        output: OutputTo::Verifier,
    }));
    for (what, cc) in [
        ("no client certificate", anonymous),
        ("no ALPN", no_alpn),
        ("ALPN http/1.1", http),
    ] {
        let tcp = TcpStream::connect(h.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let res = tokio_rustls::TlsConnector::from(Arc::new(cc))
            .connect(name, tcp)
            .await;
        // TLS 1.3 client-auth and ALPN refusals may surface only on the first read.
        if let Ok(mut s) = res {
            let _ = s.write_all(&hello).await;
            let _ = s.flush().await;
            let mut reply = Vec::new();
            let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut reply))
                .await
                .expect("the holder closes the connection");
            assert!(
                read.is_err() || reply.is_empty(),
                "{what}: the holder answered {} bytes",
                reply.len()
            );
        }
    }
    h.check_still_serving().await;

    // 3. A mismatched parameter set.
    let tcp = TcpStream::connect(h.addr).await.unwrap();
    let mut request = h.request(h.genuine(1), Mode::Identify);
    request.config = VerifierConfig::default();
    let r = verify(tcp, h.client_tls(), request).await;
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
        let h = &h;
        async move {
            let mut s = h.raw_tls().await;
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
    // One connection at a time: the vanished session's slot must come back promptly.
    let h = start_holder(ParameterSet::toy(), 64, 2000, None, 1).await;
    let mut s = h.raw_tls().await;
    let mut session = h.verifier_session(3, 5);
    let mut outgoing = session.start().unwrap();
    let mut seen = Vec::new();
    // Play the verifier until the first garbled tables arrive, then vanish without a word.
    loop {
        for m in outgoing.drain(..) {
            s.write_all(&encode_frame(&m)).await.unwrap();
        }
        s.flush().await.unwrap();
        let m = read_message(&mut s).await;
        seen.push(m.kind());
        if m.kind() == "Tables" {
            break;
        }
        outgoing = session.receive(m).unwrap();
    }
    assert!(!session.is_finished(), "the comparison was under way");
    assert!(seen.contains(&"Scores"), "{seen:?}");
    drop(s);
    drop(session);
    h.check_still_serving().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_verifiers_all_get_the_right_bit() {
    let h = Arc::new(start_holder(ParameterSet::toy(), 64, 300, None, 32).await);
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
    let h = start_holder(ParameterSet::toy(), 64, 10, Some(2), 32).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_running_session_finish_then_stops_accepting() {
    let mut h = start_holder(ParameterSet::toy(), 64, 2000, None, 4).await;
    let mut s = h.raw_tls().await;
    let probe = h.genuine(7);
    let mut session = VerifierSession::new(
        h.fixture.verifier_config(),
        &probe,
        Mode::Identify,
        OutputTo::Verifier,
        ChaCha20Rng::seed_from_u64(6),
    )
    .unwrap();
    let mut outgoing = session.start().unwrap();
    let mut stopped = false;
    while !session.is_finished() {
        for m in outgoing.drain(..) {
            s.write_all(&encode_frame(&m)).await.unwrap();
        }
        s.flush().await.unwrap();
        let m = read_message(&mut s).await;
        // Shut the holder down once the comparison is under way.
        if m.kind() == "Scores" && !stopped {
            drop(h.stop.take());
            stopped = true;
        }
        outgoing = session.receive(m).unwrap();
    }
    assert!(stopped, "the shutdown came mid-session");
    let bit = session.outcome().unwrap().0.bit;
    assert_eq!(
        bit,
        Some(true),
        "the running session finished with the right bit"
    );
    let served = tokio::time::timeout(Duration::from_secs(10), &mut h.served)
        .await
        .expect("serve returns once its sessions are done");
    served.unwrap().unwrap();
    // The listener is closed: nobody new is served.
    let refused = match TcpStream::connect(h.addr).await {
        Err(_) => true,
        Ok(tcp) => {
            let tls = h.client_tls();
            let request = h.request(h.genuine(1), Mode::Identify);
            verify(tcp, tls, request).await.is_err()
        }
    };
    assert!(refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_trickles_is_cut_off_at_the_session_deadline() {
    // One connection slot, a 20 s I/O timeout and a 3 s session deadline.
    let options = ServeOptions {
        timeouts: IO_TIMEOUTS,
        max_connections: 1,
        shutdown_grace: Duration::from_secs(1),
        session_deadline: Duration::from_secs(3),
        ..ServeOptions::default()
    };
    let h = start_holder_with(ParameterSet::toy(), 64, 50, None, options).await;
    let mut s = h.stalled_session(h.client_tls()).await;
    // Accepted, then a frame of 1000 bytes announced and one byte every 200 ms: each byte
    // restarts the holder's I/O timeout, so only the deadline can end this session.
    let trickler = tokio::spawn(async move {
        if s.write_all(&1000u32.to_le_bytes()).await.is_err() {
            return true;
        }
        for _ in 0..150 {
            if s.write_all(&[1]).await.is_err() || s.flush().await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Within 10 s (the deadline frees the only slot at 3 s), an honest query is answered.
    h.check_still_serving().await;
    assert!(trickler.await.unwrap(), "the holder cut the trickler off");
}

/// A holder given a CRL refuses the revoked verifier at the handshake and keeps serving the
/// others; the CRL is the demo CA's, listing one of two verifier certificates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_verifier_is_refused_at_the_handshake_and_others_are_served() {
    let pki = pki::mint(&["localhost"], "gate-1").unwrap();
    let (other_cert, other_key) = pki::issue_verifier(&pki.ca_key, "gate-2").unwrap();
    let crl = pki::revocation_list(&pki.ca_key, &[&pki.verifier_cert], 1).unwrap();
    let fixture = Fixture::builder(ParameterSet::toy(), 32, 8).build();
    let tls = privface::net::server_tls_with_crls(
        pki.ca_cert.as_bytes(),
        pki.holder_cert.as_bytes(),
        pki.holder_key.as_bytes(),
        crl.as_bytes(),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ServeOptions {
        timeouts: IO_TIMEOUTS,
        ..ServeOptions::default()
    };
    tokio::spawn(serve(
        listener,
        tls,
        fixture.config.clone(),
        options,
        std::future::pending(),
    ));
    let ask = |cert: String, key: String| {
        let request = VerifyRequest {
            server_name: "localhost".into(),
            config: fixture.verifier_config(),
            probe: fixture.genuine(3),
            mode: Mode::Identify,
            output: OutputTo::Verifier,
            timeouts: Timeouts::default(),
        };
        let tls = client_tls(pki.ca_cert.as_bytes(), cert.as_bytes(), key.as_bytes()).unwrap();
        async move { verify(TcpStream::connect(addr).await?, tls, request).await }
    };
    for _ in 0..2 {
        let revoked = ask(pki.verifier_cert.clone(), pki.verifier_key.clone()).await;
        assert!(revoked.is_err(), "the revoked certificate was served");
        let other = ask(other_cert.clone(), other_key.clone()).await.unwrap();
        assert_eq!(other.bit, Some(true));
    }
    // A CRL file without a CRL is a configuration error, not an open door.
    assert!(
        privface::net::server_tls_with_crls(
            pki.ca_cert.as_bytes(),
            pki.holder_cert.as_bytes(),
            pki.holder_key.as_bytes(),
            b"not a CRL",
        )
        .is_err()
    );
}
