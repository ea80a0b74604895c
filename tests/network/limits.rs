//! The holder's resource bounds against clients that hold connections without using them:
//! the handshake and the Hello come before any session slot, each client has a limit on its
//! own sessions, and waiting for a slot ends in a clear `Reject(Busy)`.

use std::sync::Arc;
use std::time::Duration;

use privface::he::ParameterSet;
use privface::net::{NetError, ServeOptions};
use privface::protocol::{AbortCode, Mode, ProtocolError};
use tokio::net::TcpStream;

use crate::support::{Holder, IO_TIMEOUTS, start_holder_with};

/// `max_sessions` at a time, waited for 1 s, one per client; room for eight connections.
async fn tight_holder(max_sessions: usize) -> Holder {
    let options = ServeOptions {
        timeouts: IO_TIMEOUTS,
        max_connections: 8,
        max_sessions,
        max_sessions_per_client: 1,
        slot_wait: Duration::from_secs(1),
        shutdown_grace: Duration::from_secs(1),
        session_deadline: Duration::from_secs(60),
    };
    start_holder_with(ParameterSet::toy(), 32, 40, None, options).await
}

fn is_busy(result: &Result<Option<bool>, NetError>) -> bool {
    matches!(
        result,
        Err(NetError::Protocol(ProtocolError::Rejected(AbortCode::Busy)))
    )
}

async fn identify(
    h: &Holder,
    tls: Arc<rustls::ClientConfig>,
    probe: Vec<f32>,
) -> Result<Option<bool>, NetError> {
    h.query_as(tls, probe, Mode::Identify).await
}

/// Queries until one is answered (a freed place is noticed when the holder reads the EOF).
async fn answered_within(h: &Holder, tls: Arc<rustls::ClientConfig>, secs: u64) {
    let probe = h.genuine(5);
    let answer = tokio::time::timeout(Duration::from_secs(secs), async {
        loop {
            let result = identify(h, tls.clone(), probe.clone()).await;
            if !is_busy(&result) {
                return result.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("answered once the place is free");
    assert_eq!(answer, Some(true));
}

/// A genuine query is answered within 3 s, while `held` (connections opened just before)
/// still wait for their 5 s timeouts.
async fn answered_at_once(h: &Holder, held: &str) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bit = tokio::time::timeout(
        Duration::from_secs(3),
        identify(h, h.client_tls(), h.genuine(2)),
    )
    .await
    .unwrap_or_else(|_| panic!("not answered while {held}"));
    assert_eq!(bit.unwrap(), Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_before_the_handshake_take_no_session_slot() {
    let h = tight_holder(1).await;
    // Four TCP connections that never start TLS: each holds a connection for the 5 s
    // handshake timeout, but none of them the one session slot.
    let mut silent = Vec::new();
    for _ in 0..4 {
        silent.push(TcpStream::connect(h.addr).await.unwrap());
    }
    answered_at_once(
        &h,
        "the silent connections wait for their handshake timeout",
    )
    .await;
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_silent_after_its_handshake_holds_no_place_and_no_slot() {
    let h = tight_holder(1).await;
    // Authenticated but never a Hello: until the Hello timeout (5 s) it holds a connection
    // permit only, so the same client is served meanwhile.
    let idle = h.raw_tls().await;
    answered_at_once(&h, "the silent session waits for its Hello timeout").await;
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_session_limit_is_refused_busy_and_others_are_served() {
    let h = tight_holder(2).await;
    // The first client holds a session that stalls after Accept; a second session of its
    // own is refused at once although a slot is free.
    let idle = h.stalled_session(h.client_tls()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = identify(&h, h.client_tls(), h.genuine(1)).await;
    assert!(
        is_busy(&again),
        "a second session of the same client: {again:?}"
    );
    // Another client takes the free slot.
    let other = h.other_client_tls("gate-2");
    let served = identify(&h, other, h.genuine(1)).await;
    assert_eq!(served.unwrap(), Some(true));
    drop(idle);
    answered_within(&h, h.client_tls(), 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_a_slot_ends_in_busy_and_a_freed_slot_serves_again() {
    let h = tight_holder(1).await;
    let idle = h.stalled_session(h.client_tls()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let other = h.other_client_tls("gate-2");
    let waited = identify(&h, other.clone(), h.genuine(1)).await;
    assert!(is_busy(&waited), "no free slot within 1 s: {waited:?}");
    drop(idle);
    answered_within(&h, other, 10).await;
}
