//! Request/reply through the public API: a client asking its host's
//! responder, a host asking one client, several or all of them, a client
//! asking another through the host, and the typed errors of a request that
//! cannot go or gets no answer. Bad input and faults are in
//! `requests_faults.rs`.

#![allow(clippy::unwrap_used)]

#[cfg(feature = "serde")]
#[path = "util/pose.rs"]
mod pose;
mod util;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use socketengine::{
    Client, ClientId, ErrorKind, Image, PixelFormat, RecvTimeoutError, Replies, Reply, Request,
    Result, To,
};
use util::{TIMEOUT, client, client_with, host, host_with, raw_handshake};

/// The deadline of requests some peers are meant to leave unanswered.
const SHORT: Duration = Duration::from_millis(300);

/// A responder answering with its client's name and the payload asked.
fn answers_with(name: &'static str) -> impl Fn(&Request) -> Result<String, String> {
    move |req| Ok(format!("{name}:{}", String::from_utf8_lossy(req.payload())))
}

/// The one answer to a request that was sent.
fn answer(sent: Result<Replies>) -> Reply {
    sent.unwrap().one().unwrap()
}

fn text(reply: &Reply) -> &str {
    std::str::from_utf8(&reply.payload).unwrap()
}

#[test]
fn a_client_asks_the_host_and_the_host_sees_who_asked() {
    let host = host();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    host.on_request("echo", move |req: &Request| {
        let who = (req.from(), req.name().map(str::to_owned));
        record.lock().unwrap().push((who, req.channel().to_owned()));
        Ok(req.payload().clone())
    })
    .unwrap();
    let planner = client(&host, "planner");
    let reply = planner.request("echo", "hello", TIMEOUT).unwrap();
    assert_eq!((reply.from, text(&reply)), (ClientId::HOST, "hello"));
    let who = (planner.id(), Some("planner".to_owned()));
    assert_eq!(*seen.lock().unwrap(), [(who, "echo".to_owned())]);
    assert_eq!(planner.request_stats().in_flight, 0);
}

#[test]
fn many_requests_in_flight_on_one_connection_each_get_their_own_answer() {
    let host = host();
    host.on_request("double", |req| {
        let n: u64 = std::str::from_utf8(req.payload()).unwrap().parse().unwrap();
        Ok((2 * n).to_string())
    })
    .unwrap();
    let client = client(&host, "asker");
    let pending: Vec<_> = (0..500u64)
        .map(|i| {
            let replies = client
                .to(To::Host)
                .request("double", i.to_string(), TIMEOUT);
            (i, replies.unwrap())
        })
        .collect();
    for (i, replies) in pending.into_iter().rev() {
        assert_eq!(text(&replies.one().unwrap()), (2 * i).to_string());
    }
    assert_eq!(client.request_stats().in_flight, 0);
}

#[test]
fn the_host_asks_one_client_by_id_or_name_and_the_client_sees_the_host() {
    let host = host();
    let arm = client(&host, "arm");
    arm.on_request("status", |req| match req.from() {
        ClientId::HOST if req.name().is_none() => Ok("ready"),
        other => Err(format!("asked by {other}")),
    })
    .unwrap();
    for to in [To::Client(arm.id()), To::Name("arm".into())] {
        let reply = answer(host.to(to).request("status", "", TIMEOUT));
        assert_eq!((reply.from, text(&reply)), (arm.id(), "ready"));
    }
}

#[test]
fn a_client_asks_another_through_the_host_by_name_and_by_id() {
    let host = host();
    let arm = client(&host, "arm");
    arm.on_request("who", |req| Ok(req.from().0.to_string()))
        .unwrap();
    let planner = client(&host, "planner");
    for to in [To::Name("arm".into()), To::Client(arm.id())] {
        let reply = answer(planner.to(to).request("who", "", TIMEOUT));
        // The arm saw the planner ask; the planner sees the arm answer.
        assert_eq!(
            (reply.from, text(&reply)),
            (arm.id(), &*planner.id().0.to_string())
        );
    }
    assert_eq!(host.request_stats().forwarded, 0);
}

#[test]
fn a_host_asks_everyone_and_gets_each_answer_with_who_gave_it() {
    let host = host();
    let names = ["a", "b", "c"];
    let clients: Vec<Client> = names.iter().map(|n| client(&host, n)).collect();
    for (c, name) in clients.iter().zip(names) {
        c.on_request("name", answers_with(name)).unwrap();
    }
    let replies = host.to(To::All).request("name", "?", TIMEOUT).unwrap();
    assert_eq!(replies.len(), 3);
    let mut got: Vec<(ClientId, String)> = replies
        .map(|(from, reply)| (from, text(&reply.unwrap()).to_owned()))
        .collect();
    got.sort();
    let want: Vec<(ClientId, String)> = clients
        .iter()
        .zip(names)
        .map(|(c, n)| (c.id(), format!("{n}:?")))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_room_where_some_do_not_answer_ends_at_the_deadline_with_the_answers_it_got() {
    let host = host_with(|b| b.heartbeat(None));
    let (a, b, quiet) = (client(&host, "a"), client(&host, "b"), client(&host, "c"));
    a.on_request("status", answers_with("a")).unwrap();
    b.on_request("status", answers_with("b")).unwrap();
    // `c` has no responder; `d` reads nothing and never answers.
    let (_silent, d) = raw_handshake(&host, "d");
    for id in [a.id(), b.id(), quiet.id(), d] {
        host.join(id, "cell").unwrap();
    }
    let replies = host
        .to(To::Room("cell".into()))
        .request("status", "", SHORT);
    let mut got: Vec<(ClientId, Result<Reply>)> = replies.unwrap().collect();
    got.sort_by_key(|(from, _)| *from);
    assert_eq!(got.len(), 4);
    assert_eq!(text(got[0].1.as_ref().unwrap()), "a:");
    assert_eq!(text(got[1].1.as_ref().unwrap()), "b:");
    let kinds: Vec<&ErrorKind> = got[2..]
        .iter()
        .map(|(_, r)| r.as_ref().unwrap_err().kind())
        .collect();
    assert!(
        matches!(kinds[0], ErrorKind::NoResponder(c) if c == "status"),
        "{kinds:?}"
    );
    assert!(
        matches!(kinds[1], ErrorKind::TimedOut(t) if *t == SHORT),
        "{kinds:?}"
    );
    assert_eq!((got[2].0, got[3].0), (quiet.id(), d));
    assert_eq!(host.request_stats().in_flight, 0);
}

/// A responder on `channel` of `host` that answers "told" once told to
/// (through the sender returned), or at `TIMEOUT`.
fn answers_when_told(host: &socketengine::Host, channel: &str) -> std::sync::mpsc::Sender<()> {
    let (tell, told) = std::sync::mpsc::channel::<()>();
    let told = Mutex::new(told);
    host.on_request(channel, move |_: &Request| {
        let _ = told.lock().unwrap().recv_timeout(TIMEOUT);
        Ok("told")
    })
    .unwrap();
    tell
}

#[test]
fn replies_waited_for_in_slices_say_nothing_yet_then_the_answer_then_the_end() {
    let host = host();
    let go = answers_when_told(&host, "later");
    let planner = client(&host, "planner");
    let mut replies = planner.to(To::Host).request("later", "", TIMEOUT).unwrap();
    let nothing_yet = replies.recv_timeout(Duration::from_millis(20));
    assert_eq!(nothing_yet.unwrap_err(), RecvTimeoutError::Timeout);
    assert_eq!(replies.len(), 1);
    go.send(()).unwrap();
    let (from, reply) = replies.recv_timeout(TIMEOUT).unwrap();
    assert_eq!((from, text(&reply.unwrap())), (ClientId::HOST, "told"));
    let ended = replies.recv_timeout(TIMEOUT);
    assert_eq!(ended.unwrap_err(), RecvTimeoutError::Disconnected);
}

#[test]
fn replies_waited_for_in_slices_end_at_the_requests_deadline() {
    let host = host();
    let _hold = answers_when_told(&host, "never");
    let planner = client(&host, "planner");
    let mut replies = planner.to(To::Host).request("never", "", SHORT).unwrap();
    // Slices far shorter than the deadline, until the request ends as
    // `next` would end it.
    let slice = Duration::from_millis(10);
    let mut slices = 0;
    let ended = loop {
        match replies.recv_timeout(slice) {
            Err(RecvTimeoutError::Timeout) => slices += 1,
            other => break other,
        }
        assert!(slices < 10_000, "the deadline never came");
    };
    let (_, answer) = ended.unwrap();
    assert!(matches!(answer.unwrap_err().kind(), ErrorKind::TimedOut(t) if *t == SHORT));
    assert_eq!(planner.request_stats().in_flight, 0);
}

#[test]
fn a_responder_is_replaced_by_registering_again_and_removed() {
    let host = host();
    let client = client(&host, "asker");
    host.on_request("v", |_| Ok("1")).unwrap();
    assert_eq!(text(&client.request("v", "", TIMEOUT).unwrap()), "1");
    host.on_request("v", |_| Ok("2")).unwrap();
    assert_eq!(text(&client.request("v", "", TIMEOUT).unwrap()), "2");
    assert!(host.remove_responder("v"));
    assert!(!host.remove_responder("v"));
    let err = client.request("v", "", TIMEOUT).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::NoResponder(c) if c == "v"),
        "{err}"
    );
}

#[test]
fn a_responders_error_reaches_the_requester_as_remote_text() {
    let host = host();
    let arm = client(&host, "arm");
    arm.on_request("grip", |req| match &req.payload()[..] {
        b"open" => Ok(Bytes::from_static(b"opened")),
        _ => Err("unknown\ncommand".to_owned()),
    })
    .unwrap();
    let planner = client(&host, "planner");
    let ok = planner
        .to("arm")
        .request("grip", "open", TIMEOUT)
        .unwrap()
        .one();
    assert_eq!(text(&ok.unwrap()), "opened");
    let err = host
        .to(arm.id())
        .request("grip", "fly", TIMEOUT)
        .unwrap()
        .one();
    let err = err.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Remote(why) if why == "unknown\ncommand"));
    assert!(!err.to_string().contains('\n'), "{err}");
}

#[test]
fn nothing_to_answer_is_a_typed_error() {
    let host = host();
    let (arm, planner) = (client(&host, "arm"), client(&host, "planner"));
    let asked = |sent: Result<Replies>| sent.unwrap().one().unwrap_err().into_kind();
    let none = [
        planner
            .request("nothing", "", TIMEOUT)
            .unwrap_err()
            .into_kind(),
        asked(planner.to("arm").request("nothing", "", TIMEOUT)),
        asked(host.to(arm.id()).request("nothing", "", TIMEOUT)),
    ];
    for kind in none {
        assert!(
            matches!(&kind, ErrorKind::NoResponder(c) if c == "nothing"),
            "{kind:?}"
        );
    }
    let nobody = asked(planner.to("nobody").request("x", "", TIMEOUT));
    assert!(
        matches!(&nobody, ErrorKind::UnknownName(n) if n == "nobody"),
        "{nobody:?}"
    );
    let gone = asked(planner.to(ClientId(999)).request("x", "", TIMEOUT));
    assert!(
        matches!(gone, ErrorKind::UnknownClient(ClientId(999))),
        "{gone:?}"
    );
}

fn unsupported(kind: &ErrorKind) -> bool {
    matches!(kind, ErrorKind::Unsupported(_))
}

fn invalid_channel(kind: &ErrorKind) -> bool {
    matches!(kind, ErrorKind::InvalidChannel { .. })
}

/// A request's outcome, and whether its error is the one expected.
type Case = (Result<Replies>, fn(&ErrorKind) -> bool);

#[test]
fn a_request_that_cannot_go_fails_before_sending_and_hands_the_payload_back() {
    let host = host_with(|b| b.max_frame(1024));
    let client = client_with(&host, "asker", |b| b.max_frame(1024));
    let image = Image::new(2, 2, PixelFormat::Gray8, vec![0; 4]).unwrap();
    let cases: Vec<Case> = vec![
        (client.to(To::All).request("x", "p", TIMEOUT), unsupported),
        (
            client.to(To::Room("r".into())).request("x", "p", TIMEOUT),
            unsupported,
        ),
        (
            client.to(To::Host).mirror().request("x", "p", TIMEOUT),
            unsupported,
        ),
        (
            client.to(To::Host).request("x", &image, TIMEOUT),
            unsupported,
        ),
        (host.to(To::Host).request("x", "p", TIMEOUT), unsupported),
        (
            client.to(To::Host).request("$clients", "p", TIMEOUT),
            invalid_channel,
        ),
        (
            client.to(To::Host).request("a/*", "p", TIMEOUT),
            invalid_channel,
        ),
        (
            client.to(To::Host).request("big", vec![0u8; 1024], TIMEOUT),
            |k| matches!(k, ErrorKind::FrameTooLarge { max: 1024, .. }),
        ),
        (host.to("nobody").request("x", "p", TIMEOUT), |k| {
            matches!(k, ErrorKind::UnknownName(_))
        }),
    ];
    for (i, (result, want)) in cases.into_iter().enumerate() {
        let err = result.unwrap_err();
        assert!(want(err.kind()), "case {i}: {err}");
        assert!(err.payload().is_some(), "case {i}: the payload comes back");
    }
    for channel in ["$x", "", "a/**"] {
        let err = host.on_request(channel, |_| Ok("")).unwrap_err();
        assert!(invalid_channel(err.kind()), "{err}");
    }
    client.close();
    let err = client.request("x", "p", TIMEOUT).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Closed), "{err}");
}

#[cfg(feature = "serde")]
#[test]
fn typed_requests_and_answers_keep_their_encodings_through_the_host() {
    use pose::{Pose, pose};
    use socketengine::{Encoding, Json, MsgPack};

    let host = host();
    let responder = |req: &Request| {
        let asked: u64 = req.decode().map_err(|e| e.to_string())?;
        match req.encoding() {
            Encoding::Json => Ok(MsgPack(pose(asked))),
            other => Err(format!("asked in {other}")),
        }
    };
    host.on_request("pose", responder).unwrap();
    let arm = client(&host, "arm");
    arm.on_request("pose", responder).unwrap();
    let planner = client(&host, "planner");
    let to_host = planner.request("pose", Json(&7u64), TIMEOUT).unwrap();
    let to_arm = answer(planner.to("arm").request("pose", Json(&8u64), TIMEOUT));
    for (reply, t) in [(to_host, 7), (to_arm, 8)] {
        assert_eq!(
            (reply.encoding, reply.channel()),
            (Encoding::MsgPack, "pose")
        );
        assert_eq!(reply.decode::<Pose>().unwrap(), pose(t));
    }
    let wrong = planner.request("pose", "not json", TIMEOUT).unwrap_err();
    assert!(
        matches!(wrong.kind(), ErrorKind::Remote(why) if why.contains("decode")),
        "{wrong}"
    );
    let reply = planner.request("pose", Json(&9u64), TIMEOUT).unwrap();
    let err = reply.decode::<String>().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Decode { channel, .. } if channel == "pose"),
        "{err}"
    );
}
