//! Request/reply under bad input and faults: replies to ids never sent or
//! answered already, or from the wrong connection; more requests in flight
//! than the limit; a responder that never returns, one that panics, one
//! that disconnects mid-request; an answer too large for a frame; requests
//! the permissions forbid. Each ends in a typed error (never a hang), and
//! the connections involved stay healthy.

#![allow(clippy::unwrap_used)]

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use socketengine::protocol::{Frame, Header, Kind, STATUS_OK};
use socketengine::{
    Action, Auth, ClientId, Credential, ErrorKind, Event, Host, Permissions, Replies, Result, To,
};
use util::{TIMEOUT, client, client_with, host_with, next_event, raw_handshake, read_frame};

/// The deadline of requests meant to go unanswered.
const SHORT: Duration = Duration::from_millis(300);

/// The next request frame on a raw client's stream (pings and room lists
/// skipped).
fn read_request(stream: &mut TcpStream) -> Frame {
    for _ in 0..1000 {
        let frame = read_frame(stream);
        if let Kind::Request { .. } = frame.kind {
            return frame;
        }
    }
    panic!("no request among 1000 frames");
}

/// Sends a raw reply of status 0 to request `id` on `channel`.
fn reply(stream: &mut TcpStream, id: u64, channel: &str, answer: &[u8]) {
    let kind = Kind::Reply {
        id,
        status: STATUS_OK,
    };
    let frame = Header::new(kind, channel).to_bytes(answer).unwrap();
    stream.write_all(&frame).unwrap();
}

fn id_of(request: &Frame) -> u64 {
    match request.kind {
        Kind::Request { id } => id,
        other => panic!("not a request: {other:?}"),
    }
}

/// A host with no heartbeat, so raw clients that never ping stay.
fn quiet_host(f: impl FnOnce(socketengine::HostBuilder) -> socketengine::HostBuilder) -> Host {
    host_with(|b| f(b.heartbeat(None)))
}

#[test]
fn replies_to_ids_never_sent_answered_already_or_from_elsewhere_are_ignored() {
    let host = quiet_host(|b| b);
    let events = host.events();
    let (mut raw, raw_id) = raw_handshake(&host, "raw");
    let (mut other, _) = raw_handshake(&host, "other");
    // Ids the host never gives (its ids count up from 1).
    for id in [0, 1 << 40, u64::MAX] {
        reply(&mut raw, id, "q", b"unasked");
    }
    let replies = host.to(raw_id).request("q", "", TIMEOUT).unwrap();
    let id = id_of(&read_request(&mut raw));
    // Another connection answering with the same id is not the one asked.
    reply(&mut other, id, "q", b"wrong");
    reply(&mut raw, id, "q", b"right");
    reply(&mut raw, id, "q", b"again");
    assert_eq!(&replies.one().unwrap().payload[..], b"right");
    // Both connections are still served, and nothing was reported.
    let next = host.to(raw_id).request("q", "", TIMEOUT).unwrap();
    let id = id_of(&read_request(&mut raw));
    reply(&mut raw, id, "q", b"still");
    assert_eq!(&next.one().unwrap().payload[..], b"still");
    let connected = host.clients().iter().filter(|c| c.connected).count();
    assert_eq!(connected, 2);
    let errors = events
        .try_iter()
        .filter(|e| matches!(e, Event::Error { .. } | Event::Disconnected { .. }));
    assert_eq!(errors.count(), 0);
    assert_eq!(host.request_stats().in_flight, 0);
}

#[test]
fn a_host_takes_no_clients_word_for_who_answered() {
    let host = quiet_host(|b| b);
    let (mut raw, raw_id) = raw_handshake(&host, "raw");
    let replies = host.to(raw_id).request("q", "", TIMEOUT).unwrap();
    let id = id_of(&read_request(&mut raw));
    // The reply claims to come from client 999 (an origin only a host sets).
    let kind = Kind::Reply {
        id,
        status: STATUS_OK,
    };
    let forged = Header {
        origin: Some(999),
        ..Header::new(kind, "q")
    };
    raw.write_all(&forged.to_bytes(b"mine").unwrap()).unwrap();
    let reply = replies.one().unwrap();
    assert_eq!((reply.from, &reply.payload[..]), (raw_id, &b"mine"[..]));
}

#[test]
fn requests_beyond_the_limit_fail_typed_and_nothing_else_breaks() {
    let host = quiet_host(|b| b);
    let (mut raw, raw_id) = raw_handshake(&host, "raw");
    let mut in_flight: Vec<Replies> = Vec::new();
    let mut refused = None;
    for i in 0..100_000 {
        match host.to(raw_id).request("q", "p", TIMEOUT) {
            Ok(replies) => in_flight.push(replies),
            Err(err) => {
                refused = Some((i, err));
                break;
            }
        }
    }
    let (at, err) = refused.expect("the limit is reached");
    assert_eq!(at, 65_536);
    assert!(
        matches!(err.kind(), ErrorKind::TooManyRequests { max: 65_536 }),
        "{err}"
    );
    assert_eq!(err.payload().map(|p| &p[..]), Some(&b"p"[..]));
    assert_eq!(host.request_stats().in_flight, 65_536);
    // The first request is still answered, and another client is served.
    let first = id_of(&read_request(&mut raw));
    reply(&mut raw, first, "q", b"first");
    assert_eq!(&in_flight.remove(0).one().unwrap().payload[..], b"first");
    host.on_request("ping", |_| Ok("pong")).unwrap();
    let good = client(&host, "good");
    assert_eq!(
        &good.request("ping", "", TIMEOUT).unwrap().payload[..],
        b"pong"
    );
    // Dropping the replies forgets their requests.
    drop(in_flight);
    assert_eq!(host.request_stats().in_flight, 0);
    good.on_request("q", |_| Ok("fine")).unwrap();
    let again = host.to(good.id()).request("q", "", TIMEOUT).unwrap().one();
    assert_eq!(&again.unwrap().payload[..], b"fine");
}

#[test]
fn a_host_forwarding_past_its_limit_answers_too_many() {
    let host = quiet_host(|b| b.max_requests(4));
    let (_arm, _) = raw_handshake(&host, "arm");
    let planner = client(&host, "planner");
    let waiting: Vec<Replies> = (0..4)
        .map(|_| planner.to("arm").request("q", "", TIMEOUT).unwrap())
        .collect();
    let err = planner.to("arm").request("q", "", TIMEOUT).unwrap().one();
    let err = err.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TooManyRequests { max: 4 }),
        "{err}"
    );
    assert_eq!(host.request_stats().forwarded, 4);
    drop(waiting);
}

#[test]
fn a_responder_that_never_returns_times_its_requester_out_and_the_connection_stays_up() {
    let host = host_with(|b| b.responder_queue(2));
    let (started_tx, started) = crossbeam_channel::bounded(1);
    let (release, held) = crossbeam_channel::bounded::<()>(1);
    host.on_request("stuck", move |_| {
        let _ = started_tx.try_send(());
        let _ = held.recv_timeout(TIMEOUT);
        Ok("late")
    })
    .unwrap();
    host.on_request("quick", |_| Ok("fine")).unwrap();
    let client = client(&host, "asker");
    let err = client.request("stuck", "", SHORT).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TimedOut(t) if *t == SHORT),
        "{err}"
    );
    started.recv_timeout(TIMEOUT).unwrap();
    // Two wait behind it; the next finds the queue full.
    let queued: Vec<Replies> = (0..2)
        .map(|_| client.to(To::Host).request("quick", "", TIMEOUT).unwrap())
        .collect();
    assert!(util::wait_until(TIMEOUT, || host.request_stats().queued == 2));
    let busy = client.request("quick", "", TIMEOUT).unwrap_err();
    assert!(
        matches!(busy.kind(), ErrorKind::Busy(c) if c == "quick"),
        "{busy}"
    );
    assert_eq!(host.request_stats().busy, 1);
    // The loop serves the connection meanwhile: its services and writes.
    client.write_confirmed("pose", "1").unwrap();
    assert_eq!(client.clients().unwrap().len(), 1);
    assert!(client.is_connected() && host.clients()[0].connected);
    release.send(()).unwrap();
    for replies in queued {
        assert_eq!(&replies.one().unwrap().payload[..], b"fine");
    }
}

#[test]
fn a_panicking_responder_answers_remote_is_reported_and_the_next_request_is_served() {
    let host = host_with(|b| b);
    let events = host.events();
    host.on_request("boom", |req| match &req.payload()[..] {
        b"panic" => panic!("bad input"),
        _ => Ok("fine"),
    })
    .unwrap();
    let client = client(&host, "asker");
    let err = client.request("boom", "panic", TIMEOUT).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Remote(why) if why.contains("bad input")),
        "{err}"
    );
    let (callback, message) = next_event(&events, |e| match e {
        Event::CallbackPanicked { callback, message } => Some((callback, message)),
        _ => None,
    });
    assert_eq!(
        (callback.as_str(), message.as_str()),
        ("responder on \"boom\"", "bad input")
    );
    assert_eq!(
        &client.request("boom", "ok", TIMEOUT).unwrap().payload[..],
        b"fine"
    );
    assert_eq!(host.request_stats().panicked, 1);
}

#[test]
fn a_responder_that_disconnects_mid_request_fails_the_requester_at_once() {
    let host = quiet_host(|b| b);
    let planner = client(&host, "planner");
    let (mut arm, arm_id) = raw_handshake(&host, "arm");
    // Through the host: the arm sees the planner as origin, under the host's id.
    let mut forwarded = planner.to("arm").request("grip", "open", TIMEOUT).unwrap();
    let request = read_request(&mut arm);
    assert_eq!(
        (request.origin, &request.payload[..]),
        (Some(planner.id().0), &b"open"[..])
    );
    // Asked directly by the host too.
    let direct = host.to(arm_id).request("grip", "", TIMEOUT).unwrap();
    read_request(&mut arm);
    drop(arm);
    let (from, result) = forwarded.next().unwrap();
    let err = result.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::ResponderGone(who) if who == "arm"),
        "{err}"
    );
    assert_eq!(from, arm_id);
    let err = direct.one().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotConnected), "{err}");
    assert_eq!(host.request_stats().forwarded, 0);
}

#[test]
fn an_answer_too_large_for_a_frame_fails_typed_and_is_reported_to_the_responder() {
    let host = host_with(|b| b.max_frame(1024));
    let events = host.events();
    host.on_request("big", |_| Ok(vec![7u8; 2000])).unwrap();
    host.on_request("small", |_| Ok("ok")).unwrap();
    let client = client_with(&host, "asker", |b| b.max_frame(1 << 20));
    let err = client.request("big", "", TIMEOUT).unwrap_err();
    let want_len = 3 + "big".len() + 9 + 2000;
    assert!(
        matches!(err.kind(), ErrorKind::ReplyTooLarge { len, max: 1024 } if *len == want_len),
        "{err}"
    );
    let (channel, asker, kind) = next_event(&events, |e| match e {
        Event::ReplyFailed {
            channel,
            client,
            error,
        } => Some((channel, client, error.into_kind())),
        _ => None,
    });
    assert_eq!((channel.as_str(), asker), ("big", client.id()));
    assert!(matches!(kind, ErrorKind::ReplyTooLarge { .. }), "{kind:?}");
    assert_eq!(
        &client.request("small", "", TIMEOUT).unwrap().payload[..],
        b"ok"
    );
}

#[test]
fn requests_the_permissions_forbid_fail_forbidden_and_the_connections_stay() {
    let (arm_key, cam_key) = (
        Credential::generate().unwrap(),
        Credential::generate().unwrap(),
    );
    let cam_may = Permissions::none()
        .allow(Action::Request, "cam/*")
        .and_then(|p| p.allow(Action::Subscribe, "cmd/cam"))
        .unwrap();
    let auth = Auth::new()
        .client("arm", arm_key.verifier(), Permissions::all())
        .client("cam", cam_key.verifier(), cam_may);
    let host = host_with(|b| b.auth(auth));
    host.on_request("grip", |_| Ok("ok")).unwrap();
    host.on_request("cam/info", |_| Ok("info")).unwrap();
    let arm = client_with(&host, "arm", |b| b.credential(arm_key));
    let cam = client_with(&host, "cam", |b| b.credential(cam_key));
    cam.on_request("grip", |_| Ok("never")).unwrap();
    let forbidden = |result: Result<socketengine::Reply>| result.unwrap_err().into_kind();
    // The camera may not ask `grip` of the host, nor of the arm.
    let kinds = [
        forbidden(cam.request("grip", "", TIMEOUT)),
        forbidden(cam.to("arm").request("grip", "", TIMEOUT).unwrap().one()),
    ];
    for kind in kinds {
        assert!(
            matches!(&kind, ErrorKind::Forbidden { action: Action::Request, channel, client: None } if channel == "grip"),
            "{kind:?}"
        );
    }
    // The arm may ask, but the camera may not receive `grip`.
    let kind = forbidden(arm.to("cam").request("grip", "", TIMEOUT).unwrap().one());
    assert!(
        matches!(&kind, ErrorKind::Forbidden { action: Action::Subscribe, channel, client: Some(c) } if channel == "grip" && c == "cam"),
        "{kind:?}"
    );
    let err = host.to(cam.id()).request("grip", "", TIMEOUT).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Forbidden {
                action: Action::Subscribe,
                ..
            }
        ),
        "{err}"
    );
    // What the camera may ask is answered; both stay connected.
    assert_eq!(
        &cam.request("cam/info", "", TIMEOUT).unwrap().payload[..],
        b"info"
    );
    assert!(cam.is_connected() && arm.is_connected());
    assert_eq!(host.clients().iter().filter(|c| c.connected).count(), 2);
    assert_ne!(cam.id(), ClientId::HOST);
}
