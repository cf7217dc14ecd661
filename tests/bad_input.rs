//! A host facing peers that break the wire format. Each bad peer must get a typed
//! `Event::Error` and lose its own connection, while a well-behaved client that
//! connected earlier keeps being served and keeps what it already sent.

#![allow(clippy::unwrap_used)]

mod util;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use socketengine::protocol::{DecodeError, Header, Hello, Kind, MAGIC, MAX_INTEREST, OP_INTEREST};
use socketengine::{Client, ClientId, Error, ErrorKind, Events, Host, HostBuilder};
use util::{
    TIMEOUT, assert_closed_by_peer, bytes_of, client, host_with, next_disconnect, next_error,
    noise, payloads, raw_connect, raw_handshake, wait_received, wait_until,
};

/// A host, its event stream, and a good client that has stored two messages on
/// `before`.
struct Bystander {
    host: Host,
    events: Events,
    good: Client,
}

impl Bystander {
    fn new(configure: impl FnOnce(HostBuilder) -> HostBuilder) -> Bystander {
        let host = host_with(configure);
        let events = host.events();
        let good = client(&host, "good");
        good.write_lock("before", "b1").unwrap();
        good.write_lock("before", "b2").unwrap();
        wait_received(&host, "before", 2);
        Bystander { host, events, good }
    }

    /// The next error event, which must come from `raw` (known to the host as
    /// `client`, if it completed the handshake).
    fn error_from(&self, raw: &TcpStream, client: Option<ClientId>) -> Error {
        let (id, addr, error) = next_error(&self.events);
        assert_eq!((id, addr), (client, raw.local_addr().unwrap()), "{error}");
        error
    }

    /// Checks that only the bad connection `raw` was closed: it reads end of stream
    /// (or a reset) and the good client is still served.
    fn assert_only_bad_peer_closed(&self, raw: &mut TcpStream) {
        assert_closed_by_peer(raw);
        self.assert_good_client_served();
    }

    /// Checks that the good client is still connected and listed, its earlier
    /// messages are still stored, and writes in both directions still work.
    fn assert_good_client_served(&self) {
        let (host, good) = (&self.host, &self.good);
        let info = host.clients().into_iter().find(|c| c.id == good.id());
        assert!(info.unwrap().connected && good.is_connected());
        assert_eq!(payloads(&host.get_all("before")), bytes_of(&["b1", "b2"]));
        good.write_lock("after", "a1").unwrap();
        wait_received(host, "after", 1);
        assert_eq!(host.get("after").unwrap().from(), good.id());
        host.to(good.id())
            .write_lock("reply", "still here")
            .unwrap();
        assert!(wait_until(TIMEOUT, || good.get("reply").is_some()));
    }

    /// Checks that the handshaken bad peer `id` is listed as disconnected.
    fn assert_dropped(&self, id: ClientId) {
        assert_eq!(next_disconnect(&self.events), id);
        let info = self.host.clients().into_iter().find(|c| c.id == id);
        assert!(!info.unwrap().connected);
    }
}

fn assert_protocol_error(error: &Error, want: DecodeError) {
    match error.kind() {
        ErrorKind::Protocol(got) => assert_eq!(*got, want),
        other => panic!("expected Protocol({want:?}), got {other:?}"),
    }
}

#[test]
fn random_bytes_instead_of_a_hello_fail_with_bad_magic() {
    let world = Bystander::new(|b| b);
    let garbage = noise(0x5EED, 4096);
    assert_ne!(
        garbage[0], MAGIC[0],
        "the seed must not start like the magic"
    );
    let mut raw = raw_connect(&world.host);
    raw.write_all(&garbage).unwrap();
    let error = world.error_from(&raw, None);
    assert_protocol_error(&error, DecodeError::BadMagic);
    world.assert_only_bad_peer_closed(&mut raw);
    assert_eq!(
        world.host.clients().len(),
        1,
        "the bad peer was never admitted"
    );
}

#[test]
fn an_http_request_fails_with_bad_magic() {
    let world = Bystander::new(|b| b);
    let mut raw = raw_connect(&world.host);
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let error = world.error_from(&raw, None);
    assert_protocol_error(&error, DecodeError::BadMagic);
    world.assert_only_bad_peer_closed(&mut raw);
}

#[test]
fn an_unsupported_version_in_the_hello_is_refused() {
    let world = Bystander::new(|b| b);
    let mut raw = raw_connect(&world.host);
    let mut hello = Vec::new();
    let future = Hello {
        version: 99,
        ..Hello::new("future")
    };
    future.encode(&mut hello).unwrap();
    raw.write_all(&hello).unwrap();
    let error = world.error_from(&raw, None);
    assert_protocol_error(&error, DecodeError::UnsupportedVersion(99));
    world.assert_only_bad_peer_closed(&mut raw);
}

#[test]
fn a_declared_length_over_max_frame_fails_after_the_head_alone() {
    const MAX: usize = 1 << 20;
    let world = Bystander::new(|b| b.max_frame(MAX));
    let (mut raw, id) = raw_handshake(&world.host, "liar");
    // Only the six-byte head of a frame claiming ~4 GiB: if the host waited for
    // (or reserved) the body, no error would come.
    let mut head = 0xFFFF_FFF0u32.to_le_bytes().to_vec();
    head.extend_from_slice(&[0x01, 0x00]);
    raw.write_all(&head).unwrap();
    let error = world.error_from(&raw, Some(id));
    let want = DecodeError::FrameTooLarge {
        len: 0xFFFF_FFF0,
        max: MAX as u64,
    };
    assert_protocol_error(&error, want);
    world.assert_dropped(id);
    world.assert_only_bad_peer_closed(&mut raw);
}

#[test]
fn a_frame_cut_off_by_a_disconnect_fails_truncated_and_keeps_earlier_frames() {
    let world = Bystander::new(|b| b);
    let (mut raw, id) = raw_handshake(&world.host, "cut");
    for p in ["p0", "p1", "p2"] {
        let frame = Header::data("pre").to_bytes(p.as_bytes()).unwrap();
        raw.write_all(&frame).unwrap();
    }
    let big = Header::data("big").to_bytes(&vec![7u8; 1_000_000]).unwrap();
    let half = big.len() / 2;
    raw.write_all(&big[..half]).unwrap();
    raw.shutdown(Shutdown::Write).unwrap();
    let error = world.error_from(&raw, Some(id));
    match error.kind() {
        ErrorKind::Truncated { received, expected } => {
            assert_eq!((*received, *expected), (half, big.len()));
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
    world.assert_dropped(id);
    let pre = world.host.get_all("pre");
    assert_eq!(payloads(&pre), bytes_of(&["p0", "p1", "p2"]));
    assert!(pre.iter().all(|m| m.from() == id));
    assert!(world.host.get("big").is_none());
    world.assert_only_bad_peer_closed(&mut raw);
}

#[test]
fn invalid_utf8_in_a_channel_name_fails_with_bad_utf8() {
    let world = Bystander::new(|b| b);
    let (mut raw, id) = raw_handshake(&world.host, "mangler");
    // Body: kind, flags, n = 2, the bytes FF FE (never UTF-8), payload "x".
    let frame = [6, 0, 0, 0, 0x01, 0x00, 2, 0xFF, 0xFE, b'x'];
    raw.write_all(&frame).unwrap();
    let error = world.error_from(&raw, Some(id));
    assert!(
        matches!(error.kind(), ErrorKind::Protocol(DecodeError::BadUtf8(_))),
        "{error:?}"
    );
    world.assert_dropped(id);
    world.assert_only_bad_peer_closed(&mut raw);
}

#[test]
fn an_empty_channel_name_fails_while_255_bytes_are_stored() {
    let world = Bystander::new(|b| b);
    let (mut raw, id) = raw_handshake(&world.host, "namer");
    let longest = "k".repeat(255);
    let frame = Header::data(&longest).to_bytes(b"ok").unwrap();
    raw.write_all(&frame).unwrap();
    wait_received(&world.host, &longest, 1);
    let msg = world.host.get(&longest).unwrap();
    assert_eq!((&msg.payload()[..], msg.from()), (&b"ok"[..], id));
    // Body: kind, flags, n = 0, payload "x".
    raw.write_all(&[4, 0, 0, 0, 0x01, 0x00, 0, b'x']).unwrap();
    let error = world.error_from(&raw, Some(id));
    assert_protocol_error(&error, DecodeError::EmptyChannel);
    world.assert_dropped(id);
    world.assert_only_bad_peer_closed(&mut raw);
}

#[test]
fn malformed_heads_and_fields_close_only_their_connection() {
    let cases: &[(&str, &[u8], DecodeError)] = &[
        (
            "unknown kind",
            &[5, 0, 0, 0, 0x7F, 0x00, 1, b'c', b'x'],
            DecodeError::UnknownKind(0x7F),
        ),
        (
            "reserved flag",
            &[5, 0, 0, 0, 0x01, 0x80, 1, b'c', b'x'],
            DecodeError::UnknownFlags(0x80),
        ),
        (
            "body shorter than a header",
            &[2, 0, 0, 0, 0x01, 0x00],
            DecodeError::FrameTooShort { len: 2 },
        ),
        (
            "channel past the body",
            &[5, 0, 0, 0, 0x01, 0x00, 9, b'c', b'x'],
            DecodeError::Truncated("channel"),
        ),
        (
            "route flag with no route",
            &[4, 0, 0, 0, 0x01, 0x01, 1, b'c'],
            DecodeError::Truncated("route"),
        ),
        (
            "request without its id",
            &[5, 0, 0, 0, 0x04, 0x00, 1, b'c', 0],
            DecodeError::Truncated("kind fields"),
        ),
    ];
    each_closes_only_its_connection(cases.iter().copied());
}

/// Sends each case's frame on its own handshaken raw connection: each must
/// fail with its decode error and close that connection alone.
fn each_closes_only_its_connection<'a>(
    cases: impl IntoIterator<Item = (&'a str, &'a [u8], DecodeError)>,
) {
    let world = Bystander::new(|b| b);
    for (i, (what, frame, want)) in cases.into_iter().enumerate() {
        let (mut raw, id) = raw_handshake(&world.host, &format!("bad-{i}"));
        raw.write_all(frame).unwrap();
        let error = world.error_from(&raw, Some(id));
        assert!(
            matches!(error.kind(), ErrorKind::Protocol(got) if *got == want),
            "{what}: {error:?}"
        );
        world.assert_dropped(id);
        assert_closed_by_peer(&mut raw);
    }
    world.assert_good_client_served();
}

/// A data frame on channel `c` with the route flag, `route` as the route's
/// bytes and `x` as the payload, length prefix included.
fn routed_frame(route: &[u8]) -> Vec<u8> {
    let mut body = vec![0x01, 0x01, 1, b'c'];
    body.extend_from_slice(route);
    body.push(b'x');
    let mut frame = (body.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn a_hand_made_route_past_the_wire_limits_closes_only_its_connection() {
    // A route holds at most 255 names or ids (a count byte): these claim the
    // most and carry fewer, or carry what no route may.
    let short = DecodeError::Truncated("route");
    let routes: [(&str, &[u8], DecodeError); 6] = [
        (
            "255 names claimed, 2 sent",
            &[4, 255, 1, b'a', 1, b'b'],
            short,
        ),
        (
            "255 ids claimed, 1 sent",
            &[2, 255, 1, 0, 0, 0, 0, 0, 0, 0],
            short,
        ),
        ("a room past the body", &[3, 255, b'r'], short),
        ("an empty name", &[4, 2, 1, b'a', 0], DecodeError::EmptyName),
        (
            "a name not in utf-8",
            &[4, 1, 2, 0xFF, 0xFE],
            DecodeError::BadUtf8("client name"),
        ),
        ("an unknown route tag", &[9], DecodeError::BadRoute(9)),
    ];
    let frames = routes.map(|(what, route, want)| (what, routed_frame(route), want));
    each_closes_only_its_connection(frames.iter().map(|(w, f, e)| (*w, &f[..], *e)));
}

/// An interest declaration whose payload is `payload`, length prefix included.
fn interest_frame(payload: &[u8]) -> Vec<u8> {
    let header = Header::new(Kind::Control { op: OP_INTEREST }, "interest");
    header.to_bytes(payload).unwrap().to_vec()
}

#[test]
fn a_hand_made_interest_over_its_pattern_cap_or_with_a_bad_pattern_closes_only_its_connection() {
    let patterns = |n: usize| {
        let mut payload = vec![n as u8];
        payload.extend([1, b'a'].repeat(n));
        payload
    };
    let mut trailing = patterns(MAX_INTEREST);
    trailing.push(b'!');
    let payloads: [(&str, Vec<u8>, DecodeError); 4] = [
        (
            "33 patterns",
            patterns(MAX_INTEREST + 1),
            DecodeError::BadControl("more patterns than an interest holds"),
        ),
        (
            "32 patterns and a stray byte",
            trailing,
            DecodeError::BadControl("bytes after the interest"),
        ),
        (
            "a `*` inside a segment",
            vec![1, 4, b'c', b'a', b'm', b'*'],
            DecodeError::BadPattern("`*` inside a segment"),
        ),
        (
            "2 patterns claimed, 1 sent",
            vec![2, 1, b'a'],
            DecodeError::BadControl("interest runs short"),
        ),
    ];
    let frames = payloads.map(|(what, payload, want)| (what, interest_frame(&payload), want));
    each_closes_only_its_connection(frames.iter().map(|(w, f, e)| (*w, &f[..], *e)));
}

#[test]
fn a_silent_peer_is_dropped_after_the_handshake_timeout() {
    let timeout = Duration::from_millis(200);
    let world = Bystander::new(|b| b.handshake_timeout(timeout));
    let start = Instant::now();
    let mut raw = raw_connect(&world.host);
    let error = world.error_from(&raw, None);
    assert!(start.elapsed() >= timeout, "dropped too early");
    assert!(
        matches!(error.kind(), ErrorKind::HandshakeTimeout(t) if *t == timeout),
        "{error:?}"
    );
    world.assert_only_bad_peer_closed(&mut raw);
    assert_eq!(
        world.host.clients().len(),
        1,
        "the silent peer was never admitted"
    );
}
