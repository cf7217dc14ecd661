//! `Client::connect`: the first dial's outcomes, each within the connect
//! timeout, and what a connected client knows when `connect` returns.

#![allow(clippy::unwrap_used)]

mod util;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use socketengine::protocol::{DecodeError, VERSION, Welcome, WelcomeStatus};
use socketengine::{Client, ErrorKind, Event};
use util::{TIMEOUT, fake_host, fake_peer, host, wait_received};

const CONNECT_TIMEOUT: Duration = Duration::from_millis(300);

#[test]
fn a_host_that_never_answers_the_hello_times_out_with_handshake_timeout() {
    // The kernel completes the TCP handshake into the backlog; nobody answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    for reconnect in [true, false] {
        let started = Instant::now();
        let err = Client::builder()
            .addr(silent.local_addr().unwrap().to_string())
            .reconnect(reconnect)
            .connect_timeout(CONNECT_TIMEOUT)
            .connect()
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(
            matches!(err.kind(), ErrorKind::HandshakeTimeout(t) if *t == CONNECT_TIMEOUT),
            "reconnect {reconnect}: {err}"
        );
        assert!(elapsed >= CONNECT_TIMEOUT, "gave up after {elapsed:?}");
        assert!(elapsed < TIMEOUT, "took {elapsed:?}");
    }
}

#[test]
fn a_peer_answering_http_fails_with_bad_magic_whatever_the_name_length() {
    let long = "n".repeat(255);
    let answers: [&[u8]; 2] = [
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        // Shorter than a welcome.
        b"HTTP/1.0 400\r\n\r\n",
    ];
    for answer in answers {
        for name in ["", "a", "camera", long.as_str()] {
            let (addr, server) = fake_peer(answer.to_vec());
            let err = Client::builder()
                .addr(addr.to_string())
                .name(name)
                .connect_timeout(CONNECT_TIMEOUT)
                .connect()
                .unwrap_err();
            drop(server.join().unwrap());
            assert!(
                matches!(err.kind(), ErrorKind::Protocol(DecodeError::BadMagic)),
                "name of {} bytes: {err}",
                name.len()
            );
        }
    }
}

#[test]
fn a_welcome_refusing_the_version_fails_with_refused() {
    let (addr, fake) = fake_host(Welcome {
        version: VERSION,
        status: WelcomeStatus::VersionMismatch,
        client_id: 0,
        host_time_ns: 0,
        resume: socketengine::protocol::ResumeToken::NONE,
        epoch: 1,
    });
    let err = Client::builder()
        .addr(addr.to_string())
        .connect_timeout(CONNECT_TIMEOUT)
        .connect()
        .unwrap_err();
    drop(fake.join().unwrap());
    assert!(matches!(err.kind(), ErrorKind::Refused(_)), "{err}");
}

#[test]
fn an_unnamed_client_knows_its_id_and_name_and_reports_connected_once() {
    let host = host();
    let client = Client::builder()
        .addr(host.local_addr().to_string())
        .connect()
        .unwrap();
    let listed = host.clients();
    assert_eq!(client.id(), listed[0].id);
    assert_eq!(client.name(), format!("client-{}", client.id().0));
    assert_eq!(client.name(), listed[0].name);
    assert!(client.is_connected());
    let events = client.events();
    match events.try_recv() {
        Ok(Event::Connected {
            client: id,
            name,
            addr,
        }) => {
            assert_eq!(
                (id, name.as_str(), addr),
                (client.id(), client.name(), host.local_addr())
            );
        }
        other => panic!("expected Connected first, got {other:?}"),
    }
    // A round trip later, still no second one.
    client.write_lock("ch", "x").unwrap();
    wait_received(&host, "ch", 1);
    let again: Vec<_> = events
        .try_iter()
        .filter(|e| matches!(e, Event::Connected { .. }))
        .collect();
    assert!(again.is_empty(), "{again:?}");
}
