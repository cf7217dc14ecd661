//! A client asking its host about the others: the client list, a name's id,
//! the host's channels (requests on the host's `$` service channels).

#![allow(clippy::unwrap_used)]

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use socketengine::protocol::{Frame, Header, Kind, STATUS_NO_RESPONDER};
use socketengine::{Client, ClientId, ErrorKind};

use util::{
    TIMEOUT, client, client_with, fake_host, host, raw_handshake, read_frame as read_any_frame,
    wait_until,
};

/// Reads one whole frame from a raw stream, past the pings a client sends
/// (quick pings after the welcome, for its clock estimate), which a fake
/// host lets go unanswered.
fn read_frame(stream: &mut TcpStream) -> Frame {
    for _ in 0..64 {
        let frame = read_any_frame(stream);
        if !matches!(frame.kind, Kind::Ping { .. }) {
            return frame;
        }
    }
    panic!("nothing but pings");
}

/// A client of a fake host (id 7) that accepted it and then does only what
/// the test does with the returned stream.
fn client_of_fake_host() -> (Client, TcpStream) {
    let (addr, fake) = fake_host(util::accepted_welcome(7));
    let client = Client::builder()
        .addr(addr.to_string())
        .name("asker")
        .write_timeout(TIMEOUT)
        .connect()
        .expect("connects to the fake host");
    let stream = fake.join().expect("the fake host accepted");
    (client, stream)
}

#[test]
fn the_client_list_shows_every_client_with_its_name_address_and_state() {
    let host = host();
    let arm = client(&host, "arm");
    let planner = client(&host, "planner");
    let gone = client(&host, "gone");
    let gone_id = gone.id();
    gone.close();
    let host_sees_it_gone = wait_until(TIMEOUT, || {
        host.clients()
            .iter()
            .any(|c| c.id == gone_id && !c.connected)
    });
    assert!(host_sees_it_gone, "the host noticed the close");

    let listed = planner.clients().expect("the host answers");
    let on_host = host.clients();
    let summary: Vec<(ClientId, &str, bool)> = listed
        .iter()
        .map(|c| (c.id, c.name.as_str(), c.connected))
        .collect();
    assert_eq!(
        summary,
        [
            (arm.id(), "arm", true),
            (planner.id(), "planner", true),
            (gone_id, "gone", false),
        ]
    );
    for (got, want) in listed.iter().zip(&on_host) {
        assert_eq!(got.addr, want.addr, "{}", got.name);
        assert!(got.rooms.is_empty(), "no rooms yet");
        assert!(got.connected_since <= got.last_seen + Duration::from_millis(1));
        assert!(got.last_seen <= Instant::now());
    }
}

#[test]
fn lookup_finds_a_connected_name_and_not_an_unknown_one() {
    let host = host();
    let arm = client(&host, "arm");
    let planner = client(&host, "planner");
    assert_eq!(planner.lookup("arm").expect("answered"), Some(arm.id()));
    assert_eq!(arm.lookup("planner").expect("answered"), Some(planner.id()));
    assert_eq!(planner.lookup("nobody").expect("answered"), None);
    assert_eq!(planner.lookup("").expect("answered"), None);
}

#[test]
fn host_channels_list_what_others_sent_on_three_channels() {
    let host = host();
    let sender = client(&host, "sender");
    let viewer = client(&host, "viewer");
    assert!(viewer.host_channels().expect("answered").is_empty());
    for (channel, payload) in [("pose", "p1"), ("cmd", "go"), ("pose", "p2"), ("log", "hi")] {
        sender.write_lock(channel, payload).expect("written");
    }
    let mut channels = Vec::new();
    let all_in = wait_until(TIMEOUT, || {
        channels = viewer.host_channels().expect("answered");
        channels.iter().map(|c| c.stats.received).sum::<u64>() == 4
    });
    assert!(all_in, "the host's counters reach 4: {channels:?}");
    let rows: Vec<(&str, u64, u64)> = channels
        .iter()
        .map(|c| (c.name.as_str(), c.stats.received, c.stats.bytes))
        .collect();
    assert_eq!(rows, [("cmd", 1, 2), ("log", 1, 2), ("pose", 2, 4)]);
    assert!(
        channels
            .iter()
            .all(|c| c.stats.capacity > 0 && c.stats.dropped == 0)
    );
    // The viewer itself received nothing: the list is the host's.
    assert!(viewer.channels().is_empty());
}

#[test]
fn a_host_answers_a_request_to_an_unknown_service_with_no_responder() {
    let host = host();
    let (mut raw, _) = raw_handshake(&host, "raw");
    let request = Header::new(Kind::Request { id: 9 }, "$time")
        .to_bytes(b"")
        .expect("a valid frame");
    raw.write_all(&request).expect("request sent");
    let reply = read_frame(&mut raw);
    let status = STATUS_NO_RESPONDER;
    assert_eq!(reply.kind, Kind::Reply { id: 9, status });
    assert_eq!(reply.channel_str(), "$time");
    assert_eq!(&reply.payload[..], b"$time");
}

#[test]
fn a_host_without_the_service_fails_the_request_with_no_responder() {
    let (client, mut fake) = client_of_fake_host();
    let asking = std::thread::spawn(move || client.clients());
    let request = read_frame(&mut fake);
    let Kind::Request { id } = request.kind else {
        panic!("a request, not {:?}", request.kind);
    };
    assert_eq!(request.channel_str(), "$clients");
    let status = STATUS_NO_RESPONDER;
    let reply = Header::new(Kind::Reply { id, status }, "$clients")
        .to_bytes(b"$clients")
        .expect("a valid frame");
    fake.write_all(&reply).expect("reply sent");
    let err = asking.join().expect("no panic").unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::NoResponder(c) if c == "$clients"),
        "{err}"
    );
}

#[test]
fn a_pending_request_fails_with_not_connected_when_the_connection_drops() {
    let (client, mut fake) = client_of_fake_host();
    let asker = client.clone();
    let asking = std::thread::spawn(move || asker.lookup("arm"));
    let request = read_frame(&mut fake);
    assert_eq!(&request.payload[..], b"arm");
    let started = Instant::now();
    drop(fake);
    let err = asking.join().expect("no panic").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotConnected), "{err}");
    assert!(started.elapsed() < TIMEOUT, "failed before its timeout");
    client.close();
}

#[test]
fn a_request_while_disconnected_fails_fast() {
    let host = host();
    let planner = client_with(&host, "planner", |b| b.write_timeout(TIMEOUT));
    let events = planner.events();
    host.close();
    let _ = util::next_disconnect(&events);
    let started = Instant::now();
    for err in [
        planner.clients().unwrap_err(),
        planner.lookup("arm").unwrap_err(),
        planner.host_channels().unwrap_err(),
    ] {
        assert!(matches!(err.kind(), ErrorKind::NotConnected), "{err}");
    }
    assert!(started.elapsed() < TIMEOUT / 10, "no wait for the timeout");
    planner.close();
    let err = planner.clients().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Closed), "{err}");
}

#[test]
fn writes_on_reserved_channels_are_refused() {
    let host = host();
    let arm = client(&host, "arm");
    for channel in ["$clients", "$mine"] {
        let err = arm.write(channel, "x").unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidChannel { .. }),
            "{err}"
        );
        assert_eq!(err.payload().map(|p| &p[..]), Some(&b"x"[..]));
        let err = host.write(channel, "x").unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidChannel { .. }),
            "{err}"
        );
    }
}

#[test]
fn the_client_lists_show_each_clients_rooms() {
    let host = util::host();
    let arm = util::client(&host, "arm");
    let planner = util::client(&host, "planner");
    host.join(arm.id(), "motors").unwrap();
    host.join(arm.id(), "cameras").unwrap();
    let rooms_of = |infos: Vec<socketengine::ClientInfo>, id| {
        infos.into_iter().find(|c| c.id == id).map(|c| c.rooms)
    };
    let want = Some(vec!["cameras".to_owned(), "motors".to_owned()]);
    assert_eq!(rooms_of(host.clients(), arm.id()), want);
    assert_eq!(rooms_of(planner.clients().unwrap(), arm.id()), want);
    assert_eq!(rooms_of(host.clients(), planner.id()), Some(Vec::new()));
}
