//! Who gets in: handshake slots apart from client slots, the oldest silent
//! handshake making way for a client, limits per source address (several
//! addresses simulated with `127.0.0.x`: Linux routes all of `127/8` to the
//! loopback interface), and every refusal typed and counted.

#![allow(clippy::unwrap_used)]

mod util;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use socketengine::protocol::{Hello, WELCOME_LEN, Welcome, WelcomeStatus};
use socketengine::{Client, ErrorKind, Host, Refusal};
use util::{
    TIMEOUT, client, host_with, next_disconnect, next_error, raw_connect, raw_handshake, wait_until,
};

/// A raw connection to `host` from `127.0.0.{last}`.
fn connect_from(host: &Host, last: u8) -> TcpStream {
    let local = SocketAddr::from((Ipv4Addr::new(127, 0, 0, last), 0));
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&local.into()).unwrap();
    socket.connect(&host.local_addr().into()).unwrap();
    let stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// The welcome the host sends on `stream` (after a hello, or unasked when it
/// turns the connection away).
fn welcome(stream: &mut TcpStream) -> WelcomeStatus {
    let mut buf = [0u8; WELCOME_LEN];
    stream.read_exact(&mut buf).unwrap();
    Welcome::decode(&buf).unwrap().unwrap().status
}

/// Sends a hello as `name` and returns the host's answer.
fn hello(stream: &mut TcpStream, name: &str) -> WelcomeStatus {
    let mut bytes = Vec::new();
    Hello::new(name).encode(&mut bytes).unwrap();
    stream.write_all(&bytes).unwrap();
    welcome(stream)
}

/// The next error the host reports: its address's last byte and its refusal.
fn next_refusal(events: &socketengine::Events) -> (IpAddr, Refusal) {
    let (client, addr, error) = next_error(events);
    assert_eq!(client, None, "refused before it was a client");
    match error.kind() {
        ErrorKind::Refused(refusal) => (addr.ip(), *refusal),
        other => panic!("a refusal, not {other:?}"),
    }
}

/// Why `host` refused a library client named `name`.
fn refused_client(host: &Host, name: &str) -> Refusal {
    let err = Client::builder()
        .addr(host.local_addr().to_string())
        .name(name)
        .connect()
        .unwrap_err();
    match err.kind() {
        ErrorKind::Refused(refusal) => *refusal,
        other => panic!("a refusal, not {other:?}"),
    }
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

#[test]
fn a_client_is_admitted_while_silent_half_handshakes_fill_every_slot() {
    let host = host_with(|b| {
        b.max_handshakes(4)
            .max_connections(2)
            .handshake_timeout(Duration::MAX)
    });
    let events = host.events();
    let mut silent: Vec<TcpStream> = (0..4).map(|_| raw_connect(&host)).collect();
    assert!(wait_until(TIMEOUT, || host.admission_stats().handshaking == 4));

    let first = client(&host, "first");
    assert!(first.is_connected());
    // The oldest silent connection made way, told why, and was closed.
    let oldest = silent[0].local_addr().unwrap();
    assert_eq!(welcome(&mut silent[0]), WelcomeStatus::Evicted);
    util::assert_closed_by_peer(&mut silent[0]);
    let (client_id, addr, error) = next_error(&events);
    assert_eq!((client_id, addr), (None, oldest));
    assert!(
        matches!(error.kind(), ErrorKind::Refused(Refusal::Evicted)),
        "{error}"
    );
    // Half-handshakes take no client slot: a second client needs no eviction.
    let second = client(&host, "second");
    assert!(second.is_connected());
    let stats = host.admission_stats();
    assert_eq!((stats.evicted, stats.handshaking), (1, 3), "{stats:?}");
    // The two client slots are full now; a third is refused, typed.
    assert_eq!(refused_client(&host, "third"), Refusal::HostFull);
    assert_eq!(next_refusal(&events).1, Refusal::HostFull);
    assert_eq!(host.admission_stats().host_full, 1);
}

#[test]
fn every_client_gets_in_while_a_slowloris_reopens_every_evicted_half_handshake() {
    const SLOTS: usize = 8;
    let host = host_with(|b| b.max_handshakes(SLOTS).handshake_timeout(Duration::MAX));
    let stop = Arc::new(AtomicBool::new(false));
    let attacker = {
        let (host, stop) = (host.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            // Holds every slot, and opens a new silent connection for each
            // one the host evicts (at most 500, whatever happens).
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) && held.len() < 500 {
                let evicted = host.admission_stats().evicted as usize;
                match held.len() < SLOTS + evicted {
                    true => held.push(raw_connect(&host)),
                    false => std::thread::yield_now(),
                }
            }
            held.len()
        })
    };
    assert!(wait_until(TIMEOUT, || host.admission_stats().handshaking == SLOTS));
    // The run: 0 of 40 clients got in (4 of 49 with reopening).
    let honest: Vec<Client> = (0..40)
        .map(|i| client(&host, &format!("honest-{i}")))
        .collect();
    stop.store(true, Ordering::Relaxed);
    let opened = attacker.join().unwrap();
    assert!(honest.iter().all(Client::is_connected));
    assert!(
        opened > SLOTS,
        "the attacker reopened what was evicted: {opened}"
    );
    assert!(host.admission_stats().evicted >= 1);
}

#[test]
fn the_connection_over_an_address_share_is_refused_and_others_get_in() {
    let host = host_with(|b| b.max_connections_per_loopback_addr(2));
    let events = host.events();
    let mut two: Vec<TcpStream> = (0..2).map(|_| connect_from(&host, 2)).collect();
    for (i, stream) in two.iter_mut().enumerate() {
        assert_eq!(hello(stream, &format!("two-{i}")), WelcomeStatus::Accepted);
    }
    // The third from 127.0.0.2 is told at once, before any hello.
    let mut over = connect_from(&host, 2);
    assert_eq!(welcome(&mut over), WelcomeStatus::AddressLimit);
    assert_eq!(next_refusal(&events), (loopback(2), Refusal::AddressLimit));
    // Other addresses are not held to 127.0.0.2's share.
    let mut three = connect_from(&host, 3);
    assert_eq!(hello(&mut three, "three"), WelcomeStatus::Accepted);
    let named = client(&host, "from-127.0.0.1");
    assert!(named.is_connected());
    // A connection that closes gives its address's place back.
    drop(two.pop());
    next_disconnect(&events);
    let mut again = connect_from(&host, 2);
    assert_eq!(hello(&mut again, "two-again"), WelcomeStatus::Accepted);
    assert_eq!(host.admission_stats().address_limit, 1);
}

#[test]
fn a_client_over_its_address_share_fails_to_connect_with_a_typed_refusal() {
    let host = host_with(|b| b.max_connections_per_loopback_addr(1));
    let first = client(&host, "first");
    assert_eq!(refused_client(&host, "second"), Refusal::AddressLimit);
    assert!(first.is_connected());
}

#[test]
fn one_address_holding_its_share_leaves_client_slots_for_another() {
    // Three from 127.0.0.2 is its share, under the four client slots.
    let host = host_with(|b| b.max_connections(4).max_connections_per_loopback_addr(3));
    let events = host.events();
    let mut greedy: Vec<TcpStream> = (0..3).map(|_| connect_from(&host, 2)).collect();
    for (i, stream) in greedy.iter_mut().enumerate() {
        assert_eq!(
            hello(stream, &format!("greedy-{i}")),
            WelcomeStatus::Accepted
        );
    }
    let mut more = connect_from(&host, 2);
    assert_eq!(welcome(&mut more), WelcomeStatus::AddressLimit);
    assert_eq!(next_refusal(&events), (loopback(2), Refusal::AddressLimit));
    let mut other = connect_from(&host, 3);
    assert_eq!(hello(&mut other, "other"), WelcomeStatus::Accepted);
    // Now every client slot is taken, whatever the address.
    let mut late = connect_from(&host, 4);
    assert_eq!(welcome(&mut late), WelcomeStatus::HostFull);
    assert_eq!(next_refusal(&events), (loopback(4), Refusal::HostFull));
}

#[test]
fn loopback_clients_are_not_held_to_the_per_address_limit_by_default() {
    // Programs on one machine all connect from 127.0.0.1: the limit for
    // remote addresses does not apply to them.
    let host = host_with(|b| b.max_connections_per_addr(1));
    let clients: Vec<Client> = (0..3).map(|i| client(&host, &format!("c{i}"))).collect();
    assert!(clients.iter().all(Client::is_connected));
    assert_eq!(host.admission_stats().address_limit, 0);
}

#[test]
fn every_connection_turned_away_is_counted_by_reason() {
    let host = host_with(|b| b.handshake_timeout(Duration::from_millis(50)));
    let events = host.events();
    // Silent until its deadline.
    let _silent = raw_connect(&host);
    let (_, _, error) = next_error(&events);
    assert!(
        matches!(error.kind(), ErrorKind::HandshakeTimeout(_)),
        "{error}"
    );
    // Not the protocol.
    let mut junk = raw_connect(&host);
    junk.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let (_, _, error) = next_error(&events);
    assert!(matches!(error.kind(), ErrorKind::Protocol(_)), "{error}");
    // A connected client's name, without its token.
    let (_held, _) = raw_handshake(&host, "arm");
    let mut impostor = raw_connect(&host);
    assert_eq!(hello(&mut impostor, "arm"), WelcomeStatus::NameTaken);
    let stats = host.admission_stats();
    assert_eq!(
        (stats.timed_out, stats.bad_hello, stats.name_taken),
        (1, 1, 1),
        "{stats:?}"
    );
}
