//! Names are identities: a connected name is refused to a second connection
//! unless it presents the holder's resume token; and disconnects carry reasons
//! (kicked, replaced, closing, shutting down).

#![allow(clippy::unwrap_used)]

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Barrier, Mutex};

use bytes::BytesMut;
use socketengine::protocol::{
    Decoded, Decoder, Hello, Kind, ResumeToken, WELCOME_LEN, Welcome, WelcomeStatus,
};
use socketengine::{
    Client, ClientId, CloseCode, DisconnectReason, ErrorKind, Event, Events, Host, NamePolicy, To,
};
use util::{TIMEOUT, client, client_with, host, host_with, next_event, raw_connect};

/// The reason of the next `Disconnected` event.
fn next_disconnect_reason(events: &Events) -> Option<DisconnectReason> {
    next_event(events, |e| match e {
        Event::Disconnected { reason, .. } => Some(reason),
        _ => None,
    })
}

/// The next `Connected` event's client and name.
fn next_connect(events: &Events) -> (ClientId, String) {
    next_event(events, |e| match e {
        Event::Connected { client, name, .. } => Some((client, name)),
        _ => None,
    })
}

fn reason(code: CloseCode, message: &str) -> Option<DisconnectReason> {
    Some(DisconnectReason::new(code, message))
}

/// Sends `hello` on a raw connection and returns it with the host's welcome.
fn raw_hello(host: &Host, hello: Hello) -> (TcpStream, Welcome) {
    let mut stream = raw_connect(host);
    let mut wire = Vec::new();
    hello.encode(&mut wire).unwrap();
    stream.write_all(&wire).unwrap();
    let mut buf = [0u8; WELCOME_LEN];
    stream.read_exact(&mut buf).unwrap();
    (stream, Welcome::decode(&buf).unwrap().unwrap())
}

/// Reads `stream` to its end and returns the close frame's reason code and
/// message, skipping other frames (pings).
fn close_frame_of(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut bytes = Vec::new();
    // The host may reset the connection after its bytes; what came is kept.
    let _ = stream.read_to_end(&mut bytes);
    let (mut buf, mut decoder) = (BytesMut::from(&bytes[..]), Decoder::new(1 << 20));
    for _ in 0..1000 {
        match decoder.step(&mut buf, None) {
            Ok(Decoded::Frame(f)) => {
                if let Kind::Close { reason } = f.kind {
                    return (reason, f.payload.to_vec());
                }
            }
            Ok(Decoded::Run { .. }) => {}
            other => panic!("no close frame before {other:?}"),
        }
    }
    panic!("too many frames");
}

#[test]
fn two_clients_with_one_name_do_not_flap() {
    let host = host();
    let events = host.events();
    let first = client(&host, "dup");
    assert_eq!(next_connect(&events), (first.id(), "dup".to_owned()));
    for _ in 0..3 {
        let second = Client::builder()
            .addr(host.local_addr().to_string())
            .name("dup")
            .connect();
        let err = second.expect_err("a connected name is refused");
        assert!(
            matches!(err.kind(), ErrorKind::NameTaken { name } if name == "dup"),
            "{err}"
        );
    }
    // The first is untouched: it still reaches the host and the host it.
    let cmd = first.subscribe("cmd");
    host.to("dup").write_lock("cmd", "still you").unwrap();
    assert_eq!(
        &cmd.recv_timeout(TIMEOUT).unwrap().payload()[..],
        b"still you"
    );
    first.write_lock("ch", "here").unwrap();
    assert_eq!(host.get_all_timeout("ch", TIMEOUT).len(), 1);
    let (mut connects, mut disconnects, mut refusals) = (0, 0, 0);
    for _ in 0..100 {
        match events.try_recv() {
            Ok(Event::Connected { .. }) => connects += 1,
            Ok(Event::Disconnected { .. }) => disconnects += 1,
            Ok(Event::Error { error, .. })
                if matches!(error.kind(), ErrorKind::NameTaken { .. }) =>
            {
                refusals += 1
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!((connects, disconnects, refusals), (0, 0, 3));
    assert_eq!(host.clients().len(), 1);
}

#[test]
fn a_name_claimed_twice_at_once_has_one_winner() {
    let host = host();
    let addr = host.local_addr().to_string();
    let start = Arc::new(Barrier::new(2));
    let racers: Vec<_> = (0..2)
        .map(|_| {
            let (addr, start) = (addr.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                Client::builder().addr(addr).name("race").connect()
            })
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    let winners = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(winners, 1);
    let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert!(
        matches!(loser.kind(), ErrorKind::NameTaken { .. }),
        "{loser}"
    );
}

#[test]
fn a_forged_token_is_refused() {
    let host = host();
    let _cam = client(&host, "cam");
    let forged = Hello::new("cam").with_resume(Some(ResumeToken([0x5a; 16])));
    let (mut raw, welcome) = raw_hello(&host, forged);
    assert_eq!(welcome.status, WelcomeStatus::NameTaken);
    assert_eq!((welcome.client_id, welcome.resume), (0, ResumeToken::NONE));
    util::assert_closed_by_peer(&mut raw);
}

#[test]
fn another_names_token_is_refused() {
    let host = host();
    let _cam = client(&host, "cam");
    let (_other, welcome) = raw_hello(&host, Hello::new("other"));
    assert_eq!(welcome.status, WelcomeStatus::Accepted);
    let stolen = Hello::new("cam").with_resume(Some(welcome.resume));
    let (_raw, refused) = raw_hello(&host, stolen);
    assert_eq!(refused.status, WelcomeStatus::NameTaken);
}

#[test]
fn a_token_from_before_the_name_connected_anew_is_refused() {
    let host = host();
    let events = host.events();
    let (old, first) = raw_hello(&host, Hello::new("cam"));
    drop(old);
    util::next_disconnect(&events);
    let (_new, second) = raw_hello(&host, Hello::new("cam"));
    assert_eq!(second.status, WelcomeStatus::Accepted);
    assert_eq!(
        second.client_id, first.client_id,
        "a known name keeps its id"
    );
    let replayed = Hello::new("cam").with_resume(Some(first.resume));
    let (_raw, refused) = raw_hello(&host, replayed);
    assert_eq!(refused.status, WelcomeStatus::NameTaken);
}

#[test]
fn the_latest_token_takes_the_name_over_and_the_old_connection_is_told() {
    let host = host();
    let events = host.events();
    let (mut old, first) = raw_hello(&host, Hello::new("cam"));
    let resume = Hello::new("cam").with_resume(Some(first.resume));
    let (_new, second) = raw_hello(&host, resume);
    assert_eq!(second.status, WelcomeStatus::Accepted);
    assert_eq!(second.client_id, first.client_id);
    assert_ne!(second.resume, first.resume, "every welcome has a new token");
    let (code, message) = close_frame_of(&mut old);
    assert_eq!(code, 2);
    assert!(!message.is_empty());
    let id = ClientId(first.client_id);
    let replaced = next_event(&events, |e| match e {
        Event::Disconnected { client, reason, .. } if client == id => reason,
        _ => None,
    });
    assert_eq!(replaced.code, CloseCode::Replaced);
    assert!(host.clients()[0].connected);
}

/// A TCP relay to `to` whose client-facing sockets can be cut while the
/// host-facing ones stay open: the host never learns the client left.
struct Relay {
    addr: SocketAddr,
    downstream: Arc<Mutex<Vec<TcpStream>>>,
    /// The host-facing sockets, held here until the test ends (a pipe that
    /// fails drops its own copy, which must not close them).
    _upstream: Arc<Mutex<Vec<TcpStream>>>,
}

fn relay(to: SocketAddr, connections: usize) -> Relay {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let downstream = Arc::new(Mutex::new(Vec::new()));
    let upstream = Arc::new(Mutex::new(Vec::new()));
    let (kept_down, kept_up) = (Arc::clone(&downstream), Arc::clone(&upstream));
    std::thread::spawn(move || {
        for down in listener.incoming().take(connections) {
            let down = down.unwrap();
            let up = TcpStream::connect(to).unwrap();
            pipe(down.try_clone().unwrap(), up.try_clone().unwrap());
            pipe(up.try_clone().unwrap(), down.try_clone().unwrap());
            kept_down.lock().unwrap().push(down);
            kept_up.lock().unwrap().push(up);
        }
    });
    Relay {
        addr,
        downstream,
        _upstream: upstream,
    }
}

impl Relay {
    /// Breaks the first relayed connection on the client's side only.
    fn cut_client_side(&self) {
        let first = self.downstream.lock().unwrap()[0].try_clone().unwrap();
        first.shutdown(std::net::Shutdown::Both).unwrap();
    }
}

/// A client named `cam` that reaches its host through `relay` and redials
/// at once.
fn cam_through(relay: &Relay) -> Client {
    Client::builder()
        .addr(relay.addr.to_string())
        .name("cam")
        .reconnect_backoff(std::time::Duration::from_millis(10), TIMEOUT)
        .connect()
        .unwrap()
}

/// Copies `from` to `to` until either fails; closes neither.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || std::io::copy(&mut from, &mut to));
}

#[test]
fn a_client_whose_connection_dropped_takes_its_name_back_with_its_token() {
    let host = host();
    let host_events = host.events();
    let relay = relay(host.local_addr(), 2);
    let cam = cam_through(&relay);
    let events = cam.events();
    let id = next_connect(&events).0;
    next_connect(&host_events);
    // Cut the client's side only: the host still holds the name.
    relay.cut_client_side();
    assert_eq!(next_disconnect_reason(&events), None);
    assert_eq!(next_connect(&events), (id, "cam".to_owned()));
    // The host let the token in: it closed the connection it thought open,
    // then reported the new one.
    let old = next_disconnect_reason(&host_events).unwrap();
    assert_eq!(old.code, CloseCode::Replaced);
    assert_eq!(next_connect(&host_events), (id, "cam".to_owned()));
    cam.write_lock("ch", "back").unwrap();
    assert_eq!(host.get_all_timeout("ch", TIMEOUT).len(), 1);
}

#[test]
fn a_kicked_client_hears_why_and_does_not_redial() {
    let host = host();
    let host_events = host.events();
    let arm = client(&host, "arm");
    let events = arm.events();
    next_connect(&events);
    host.disconnect(arm.id(), "maintenance").unwrap();
    let kicked = reason(CloseCode::Kicked, "maintenance");
    assert_eq!(next_disconnect_reason(&events), kicked);
    assert_eq!(next_disconnect_reason(&host_events), kicked);
    // Not reconnecting: a locked write fails at once instead of waiting.
    let err = arm.write_lock("ch", "x").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotConnected), "{err}");
    assert!(matches!(
        host.disconnect(arm.id(), "again").unwrap_err().kind(),
        ErrorKind::UnknownClient(_)
    ));
}

#[test]
fn a_kicked_client_redials_when_told_to() {
    let host = host();
    let host_events = host.events();
    let arm = client_with(&host, "arm", |b| {
        b.redial_after_kick(true)
            .reconnect_backoff(std::time::Duration::from_millis(10), TIMEOUT)
    });
    let events = arm.events();
    next_connect(&events);
    next_connect(&host_events);
    host.disconnect(arm.id(), "come back").unwrap();
    assert_eq!(
        next_disconnect_reason(&events),
        reason(CloseCode::Kicked, "come back")
    );
    assert_eq!(next_connect(&events), (arm.id(), "arm".to_owned()));
    assert_eq!(next_connect(&host_events), (arm.id(), "arm".to_owned()));
}

#[test]
fn a_clients_close_reason_reaches_the_host() {
    let host = host();
    let events = host.events();
    let cam = client(&host, "cam");
    next_connect(&events);
    cam.close();
    assert_eq!(
        next_disconnect_reason(&events),
        reason(CloseCode::Normal, "closing")
    );
}

#[test]
fn a_host_shutting_down_tells_its_clients() {
    let host = host();
    let cam = client(&host, "cam");
    let events = cam.events();
    next_connect(&events);
    host.close();
    assert_eq!(
        next_disconnect_reason(&events),
        reason(CloseCode::ShuttingDown, "host shutting down")
    );
}

#[test]
fn with_replace_old_the_newer_connection_wins_and_the_older_stays_off() {
    let host = host_with(|b| b.name_policy(NamePolicy::ReplaceOld));
    let old = client(&host, "cam");
    let events = old.events();
    next_connect(&events);
    let new = client(&host, "cam");
    assert_eq!(new.id(), old.id());
    let replaced = next_disconnect_reason(&events).unwrap();
    assert_eq!(replaced.code, CloseCode::Replaced);
    // The replaced client does not come back to knock the new one off.
    let err = old.write_lock("ch", "x").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotConnected), "{err}");
    new.write_lock("ch", "new").unwrap();
    assert_eq!(host.get_all_timeout("ch", TIMEOUT).len(), 1);
    assert!(new.is_connected());
}

#[test]
fn a_token_spent_on_a_resume_is_refused_when_replayed() {
    let host = host();
    let events = host.events();
    let (_old, first) = raw_hello(&host, Hello::new("cam"));
    let resume = Hello::new("cam").with_resume(Some(first.resume));
    let (_holder, second) = raw_hello(&host, resume.clone());
    assert_eq!(second.status, WelcomeStatus::Accepted);
    // The replaced connection is gone; the spent token proves nothing now.
    next_connect(&events);
    assert_eq!(
        next_disconnect_reason(&events).map(|r| r.code),
        Some(CloseCode::Replaced)
    );
    next_connect(&events);
    let (mut raw, refused) = raw_hello(&host, resume);
    assert_eq!(refused.status, WelcomeStatus::NameTaken);
    util::assert_closed_by_peer(&mut raw);
    let listed = host.clients();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].connected && listed[0].id == ClientId(second.client_id));
}

/// The next connect or disconnect, as `ClientId(N) in` or
/// `ClientId(N) out: Code message`.
fn coming_or_going(events: &Events) -> String {
    next_event(events, |e| match e {
        Event::Connected { client, .. } => Some(format!("{client:?} in")),
        Event::Disconnected { client, reason, .. } => {
            let why = reason.map_or(String::new(), |r| format!("{:?} {}", r.code, r.message));
            Some(format!("{client:?} out: {why}"))
        }
        _ => None,
    })
}

#[test]
fn a_client_kicked_each_time_it_redials_leaves_the_host_well() {
    const ROUNDS: usize = 20;
    let host = host();
    let host_events = host.events();
    let planner = client(&host, "planner");
    next_connect(&host_events);
    // Kicked at once each time, it backs off ever longer (to the cap).
    let ms = std::time::Duration::from_millis;
    let arm = client_with(&host, "arm", |b| {
        b.redial_after_kick(true).reconnect_backoff(ms(1), ms(16))
    });
    let id = arm.id();
    let events = arm.events();
    assert_eq!(next_connect(&host_events), (id, "arm".to_owned()));
    next_connect(&events);
    for round in 0..ROUNDS {
        host.disconnect(id, format!("kick {round}")).unwrap();
        // Out, then back under the same identity: nothing more, each side.
        let want = [
            format!("{id:?} out: Kicked kick {round}"),
            format!("{id:?} in"),
        ];
        for side in [&events, &host_events] {
            let got = [coming_or_going(side), coming_or_going(side)];
            assert_eq!(got, want, "round {round}");
        }
    }
    // The host keeps one entry for it, and the bystander was never touched.
    let listed: Vec<(ClientId, bool)> =
        host.clients().iter().map(|c| (c.id, c.connected)).collect();
    assert_eq!(listed, [(planner.id(), true), (id, true)]);
    let cmd = arm.subscribe("cmd");
    planner.to("arm").write_lock("cmd", "stay").unwrap();
    assert_eq!(&cmd.recv_timeout(TIMEOUT).unwrap().payload()[..], b"stay");
    assert!(planner.is_connected());
    // Once the kicks stop, so do the comings and goings.
    let after: Vec<Event> = host_events.try_iter().collect();
    assert!(
        !after
            .iter()
            .any(|e| matches!(e, Event::Connected { .. } | Event::Disconnected { .. })),
        "{after:?}"
    );
}

#[test]
fn a_client_whose_code_redials_after_each_kick_keeps_one_identity() {
    const ROUNDS: usize = 20;
    let host = host();
    let host_events = host.events();
    let planner = client(&host, "planner");
    let mut cam = client(&host, "cam");
    let id = cam.id();
    let arrivals = [coming_or_going(&host_events), coming_or_going(&host_events)];
    assert_eq!(
        arrivals,
        [format!("{:?} in", planner.id()), format!("{id:?} in")]
    );
    for round in 0..ROUNDS {
        host.disconnect(id, "go away").unwrap();
        // The host has let go of the connection before the code dials again.
        let out = coming_or_going(&host_events);
        assert_eq!(out, format!("{id:?} out: Kicked go away"), "round {round}");
        cam = client(&host, "cam");
        assert_eq!(cam.id(), id, "round {round}");
        assert_eq!(coming_or_going(&host_events), format!("{id:?} in"));
    }
    assert_eq!(host.clients().len(), 2);
    assert!(planner.is_connected() && cam.is_connected());
}

#[test]
fn a_handed_over_connection_keeps_its_id_name_rooms_and_interest() {
    let host = host();
    let host_events = host.events();
    let relay = relay(host.local_addr(), 2);
    let cam = cam_through(&relay);
    let other = client(&host, "other");
    let (id, events) = (cam.id(), cam.events());
    cam.join("cams").unwrap();
    host.join(id, "all").unwrap();
    cam.interest(["pose"]).unwrap();
    let rooms = ["all".to_owned(), "cams".to_owned()];
    let settled = |cam: &Client| {
        util::wait_until(TIMEOUT, || cam.rooms() == rooms)
            && util::wait_until(TIMEOUT, || host.write("probe", "p").unwrap() == 1)
    };
    assert!(settled(&cam), "rooms {:?}", cam.rooms());
    // Cut the client's side only: the host still holds the connection, and
    // the client takes it over with its token.
    relay.cut_client_side();
    next_event(&events, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });
    assert_eq!(next_connect(&events), (id, "cam".to_owned()));
    let handed = next_event(&host_events, |e| match e {
        Event::Disconnected { client, reason, .. } => Some((client, reason.map(|r| r.code))),
        _ => None,
    });
    assert_eq!(handed, (id, Some(CloseCode::Replaced)));
    assert_eq!((cam.id(), cam.name()), (id, "cam"));
    // Its rooms are listed again and its interest declared again.
    assert!(settled(&cam), "rooms {:?}", cam.rooms());
    assert_eq!(host.members("cams"), [id]);
    let poses = cam.subscribe("pose");
    assert_eq!(host.write_lock("pose", "p").unwrap(), 2);
    assert_eq!(&poses.recv_timeout(TIMEOUT).unwrap().payload()[..], b"p");
    let cmds = cam.subscribe("cmd");
    other
        .to(To::Room("cams".into()))
        .write_lock("cmd", "go")
        .unwrap();
    let msg = cmds.recv_timeout(TIMEOUT).unwrap();
    assert_eq!((&msg.payload()[..], msg.from()), (&b"go"[..], other.id()));
}
