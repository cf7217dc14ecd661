//! Heartbeats: silent peers are closed after the idle timeout; quiet but live
//! ones are kept.

#![allow(clippy::unwrap_used)]

mod util;

use std::time::{Duration, Instant};

use socketengine::{ErrorKind, Event};
use util::{TIMEOUT, assert_closed_by_peer, client_with, host_with, next_error, raw_handshake};

const HEARTBEAT: Duration = Duration::from_millis(50);
const IDLE: Duration = Duration::from_millis(300);

#[test]
fn a_peer_that_answers_nothing_is_closed_after_the_idle_timeout() {
    let host = host_with(|b| b.heartbeat(Some(HEARTBEAT)).idle_timeout(IDLE));
    let events = host.events();
    let started = Instant::now();
    // Completes the handshake, then neither sends nor reads: a powered-off peer.
    let (mut raw, id) = raw_handshake(&host, "silent");
    let (client, _, error) = next_error(&events);
    assert_eq!(client, Some(id));
    assert!(
        matches!(error.kind(), ErrorKind::TimedOut(t) if *t == IDLE),
        "{error}"
    );
    assert!(started.elapsed() >= IDLE);
    assert_closed_by_peer(&mut raw);
    assert!(!host.clients()[0].connected);
}

#[test]
fn a_quiet_client_stays_connected_through_many_idle_timeouts() {
    let host = host_with(|b| b.heartbeat(Some(HEARTBEAT)).idle_timeout(IDLE));
    let events = host.events();
    let quiet = client_with(&host, "quiet", |b| {
        b.heartbeat(Some(HEARTBEAT)).idle_timeout(IDLE)
    });
    // Five idle timeouts with no application traffic at all: the pings and
    // pongs alone must keep both sides from closing.
    let window = Instant::now() + IDLE * 5;
    while let Some(left) = window.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(Event::Connected { .. }) => {}
            Ok(other) => panic!("unexpected event {other:?}"),
            Err(_) => break,
        }
    }
    assert!(quiet.is_connected());
    assert!(host.clients()[0].connected);
    quiet.write_lock("ch", "still here").unwrap();
    assert_eq!(
        &host.get_all_timeout("ch", TIMEOUT)[0].payload()[..],
        b"still here"
    );
}

#[test]
fn a_client_notices_a_host_that_stopped_answering() {
    let (addr, fake) = util::fake_host(socketengine::protocol::Welcome {
        version: socketengine::protocol::VERSION,
        status: socketengine::protocol::WelcomeStatus::Accepted,
        client_id: 7,
        host_time_ns: 0,
        resume: socketengine::protocol::ResumeToken::NONE,
        epoch: 1,
    });
    let client = socketengine::Client::builder()
        .addr(addr.to_string())
        .heartbeat(Some(HEARTBEAT))
        .idle_timeout(IDLE)
        .connect()
        .unwrap();
    let events = client.events();
    let error = loop {
        match events.recv_timeout(TIMEOUT).expect("an event") {
            Event::Error { error, .. } => break error,
            _ => continue,
        }
    };
    assert!(matches!(error.kind(), ErrorKind::TimedOut(_)), "{error}");
    assert!(!client.is_connected());
    drop(fake);
}
