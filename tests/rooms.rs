//! Rooms: named sets of clients a host keeps. The host puts clients in and
//! takes them out, clients ask for themselves, a message to a room reaches
//! its members (from the host, or from a client as their origin), each client
//! knows its rooms, membership follows a client's name across reconnections,
//! and limits and policy refuse with typed errors.

#![allow(clippy::unwrap_used)]

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use socketengine::{Client, ClientId, ErrorKind, Event, Host, To};
use util::{
    TIMEOUT, client, client_with, host, host_with, next_event, next_undelivered, text,
    until_marker, wait_until,
};

fn room(name: &str) -> To {
    To::Room(name.to_owned())
}

/// Waits until `client` lists exactly `rooms`.
fn wait_rooms(client: &Client, rooms: &[&str]) {
    let done = wait_until(TIMEOUT, || client.rooms() == rooms);
    assert!(
        done,
        "{} lists {:?}, not {rooms:?}",
        client.name(),
        client.rooms()
    );
}

#[test]
fn a_send_to_a_room_the_host_made_reaches_its_members_only() {
    let host = host();
    let [a, b, c] = ["a", "b", "c"].map(|n| client(&host, n));
    let subs = [&a, &b, &c].map(|x| x.subscribe("cmd"));
    host.join(b.id(), "arm").unwrap();
    host.join(a.id(), "arm").unwrap();
    host.join(a.id(), "arm").unwrap();
    host.join(c.id(), "cam").unwrap();
    assert_eq!(host.rooms(), ["arm", "cam"]);
    assert_eq!(host.members("arm"), [a.id(), b.id()]);
    assert_eq!(host.to(room("arm")).write_lock("cmd", "locked").unwrap(), 2);
    assert_eq!(host.to(room("arm")).write("cmd", "unlocked").unwrap(), 2);
    let mut batch = host.to(room("arm")).lock();
    batch.write("cmd", "batched").unwrap();
    assert_eq!(batch.finish().unwrap(), 2);
    host.write_lock("cmd", "marker").unwrap();
    let from_host = |texts: &[&str]| -> Vec<(String, ClientId)> {
        texts
            .iter()
            .map(|t| (t.to_string(), ClientId::HOST))
            .collect()
    };
    let all = from_host(&["locked", "unlocked", "batched"]);
    assert_eq!(until_marker(&subs[0]), all);
    assert_eq!(until_marker(&subs[1]), all);
    assert_eq!(until_marker(&subs[2]), []);
}

#[test]
fn a_client_joins_by_itself_and_receives_room_messages_from_another_client() {
    let host = host();
    let [a, b, c] = ["a", "b", "c"].map(|n| client(&host, n));
    let subs = [&a, &b, &c].map(|x| x.subscribe("cmd"));
    a.join("arm").unwrap();
    b.join("arm").unwrap();
    wait_rooms(&a, &["arm"]);
    wait_rooms(&b, &["arm"]);
    assert_eq!(host.members("arm"), [a.id(), b.id()]);
    // The sender, a member itself, gets its own message back only with mirror.
    b.to(room("arm")).write_lock("cmd", "lift").unwrap();
    b.to(room("arm"))
        .mirror()
        .write_lock("cmd", "mirrored")
        .unwrap();
    // From a non-member too.
    c.to(room("arm")).write_lock("cmd", "from c").unwrap();
    b.flush().unwrap();
    c.flush().unwrap();
    let received = |cl: &Client, n| cl.channel_stats("cmd").map_or(0, |s| s.received) >= n;
    assert!(wait_until(TIMEOUT, || received(&a, 3) && received(&b, 2)));
    host.write_lock("cmd", "marker").unwrap();
    let mine = [("lift", b.id()), ("mirrored", b.id()), ("from c", c.id())];
    let want: Vec<_> = mine.iter().map(|(t, id)| (t.to_string(), *id)).collect();
    // Each sender's messages in order; between b's and c's, no order is
    // promised (the host may read c's socket first, in a pass begun for
    // an earlier frame of c's, such as a ping).
    let from = |got: Vec<(String, ClientId)>, id: ClientId| -> Vec<(String, ClientId)> {
        got.into_iter().filter(|(_, from)| *from == id).collect()
    };
    let (at_a, at_b) = (until_marker(&subs[0]), until_marker(&subs[1]));
    assert_eq!(at_a.len(), 3, "{at_a:?}");
    assert_eq!(from(at_a.clone(), b.id()), want[..2]);
    assert_eq!(from(at_a, c.id()), want[2..]);
    assert_eq!(at_b.len(), 2, "{at_b:?}");
    assert_eq!(from(at_b.clone(), b.id()), want[1..2]);
    assert_eq!(from(at_b, c.id()), want[2..]);
    assert_eq!(until_marker(&subs[2]), []);
    assert!(
        host.get("cmd").is_none(),
        "a routed message is not the host's"
    );
}

#[test]
fn leaving_stops_delivery_and_each_client_knows_its_rooms() {
    let host = host();
    let a = client(&host, "a");
    let b = client(&host, "b");
    let cmds = a.subscribe("cmd");
    a.join("x").unwrap();
    host.join(a.id(), "y").unwrap();
    wait_rooms(&a, &["x", "y"]);
    b.to(room("x")).write_lock("cmd", "in x").unwrap();
    assert_eq!(text(&cmds.recv_timeout(TIMEOUT).unwrap()), "in x");
    a.leave("x").unwrap();
    wait_rooms(&a, &["y"]);
    assert_eq!(host.rooms(), ["y"]);
    host.leave(a.id(), "y").unwrap();
    wait_rooms(&a, &[]);
    assert!(host.rooms().is_empty() && host.members("y").is_empty());
    // Leaving twice, or a room never joined, changes nothing.
    host.leave(a.id(), "y").unwrap();
    a.leave("never").unwrap();
    let events = b.events();
    b.to(room("x")).write_lock("cmd", "nobody").unwrap();
    let (channel, kind) = next_undelivered(&events);
    assert_eq!(channel, "cmd");
    assert!(
        matches!(&kind, ErrorKind::UnknownRoom(r) if r == "x"),
        "{kind}"
    );
    host.write_lock("cmd", "marker").unwrap();
    assert_eq!(until_marker(&cmds), []);
}

#[test]
fn an_unknown_room_is_a_typed_error_and_bad_names_are_refused() {
    let host = host();
    let a = client(&host, "a");
    let payload = Bytes::from_static(b"p");
    let err = host
        .to(room("ghost"))
        .write("cmd", payload.clone())
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnknownRoom(r) if r == "ghost"),
        "{err}"
    );
    assert_eq!(err.into_payload(), Some(payload.clone()));
    let err = host.to(room("ghost")).write_lock("cmd", "p").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::UnknownRoom(_)), "{err}");
    let err = host.to(room("ghost")).lock().write("cmd", "p").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::UnknownRoom(_)), "{err}");
    let long = "x".repeat(256);
    for name in ["", long.as_str()] {
        let err = host.join(a.id(), name).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidTarget(_)), "{err}");
        let err = a.join(name).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidTarget(_)), "{err}");
        let err = a.to(room(name)).write("cmd", payload.clone()).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::InvalidTarget(_)), "{err}");
    }
    let err = host.join(ClientId(4242), "arm").unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnknownClient(ClientId(4242))),
        "{err}"
    );
    assert!(host.rooms().is_empty() && a.is_connected());
}

#[test]
fn a_client_joining_a_hundred_thousand_rooms_hits_the_limit() {
    let host = host_with(|b| b.max_rooms_per_client(300));
    let a = client(&host, "a");
    let failed = (0..100_000).find_map(|i| host.join(a.id(), &format!("r{i}")).err());
    let err = failed.expect("a limit");
    assert!(
        matches!(err.kind(), ErrorKind::RoomLimit { max: 300 }),
        "{err}"
    );
    assert_eq!(host.rooms().len(), 300);
    // From the client itself: refused with a notice; the host's default is 256.
    let host = util::host();
    let b = client(&host, "b");
    let events = b.events();
    for i in 0..257 {
        b.join(&format!("r{i}")).unwrap();
    }
    let (channel, kind) = next_undelivered(&events);
    assert_eq!(channel, "rooms");
    assert!(
        matches!(&kind, ErrorKind::RouteRefused(why) if why.contains("limit of 256")),
        "{kind}"
    );
    assert!(wait_until(TIMEOUT, || b.rooms().len() == 256));
    assert_eq!(host.members("r255"), [b.id()]);
    assert!(host.members("r256").is_empty());
}

#[test]
fn a_host_policy_can_refuse_client_joins_but_the_host_still_can() {
    let host = host_with(|b| b.client_rooms(false));
    let a = client(&host, "a");
    let events = a.events();
    a.join("arm").unwrap();
    let (channel, kind) = next_undelivered(&events);
    assert_eq!(channel, "rooms");
    assert!(matches!(kind, ErrorKind::RouteRefused(_)), "{kind}");
    assert!(host.rooms().is_empty());
    host.join(a.id(), "arm").unwrap();
    wait_rooms(&a, &["arm"]);
    a.leave("arm").unwrap();
    let (_, kind) = next_undelivered(&events);
    assert!(matches!(kind, ErrorKind::RouteRefused(_)), "{kind}");
    assert_eq!(host.members("arm"), [a.id()]);
}

/// A TCP relay in front of a host whose connections the test can cut; the
/// relay keeps accepting, so a client reconnects through it.
struct Relay {
    addr: SocketAddr,
    streams: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn new(host: &Host) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (addr, target) = (listener.local_addr().unwrap(), host.local_addr());
        let streams = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::clone(&streams);
        // Ends with the test's process, blocked in `accept`.
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let (Ok(client), Ok(host)) = (client, TcpStream::connect(target)) else {
                    return;
                };
                open.lock().unwrap().extend([clone(&client), clone(&host)]);
                pipe(clone(&client), clone(&host));
                pipe(host, client);
            }
        });
        Relay { addr, streams }
    }

    /// Breaks every connection relayed so far.
    fn cut(&self) {
        for stream in self.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn clone(stream: &TcpStream) -> TcpStream {
    stream.try_clone().unwrap()
}

/// Copies `from` to `to` on a thread until either end closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 << 10];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

#[test]
fn membership_survives_a_reconnect_under_the_same_name() {
    let host = host();
    let relay = Relay::new(&host);
    let arm = Client::builder()
        .addr(relay.addr.to_string())
        .name("arm")
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .connect()
        .unwrap();
    let planner = client(&host, "planner");
    let anon = client_with(&host, "", |b| b);
    let cmds = arm.subscribe("cmd");
    arm.join("motors").unwrap();
    host.join(arm.id(), "all").unwrap();
    host.join(anon.id(), "all").unwrap();
    wait_rooms(&arm, &["all", "motors"]);
    let (id, events) = (arm.id(), arm.events());
    relay.cut();
    next_event(&events, |e| {
        matches!(e, Event::Disconnected { .. }).then_some(())
    });
    next_event(&events, |e| {
        matches!(e, Event::Connected { .. }).then_some(())
    });
    assert_eq!(arm.id(), id, "a named client gets its id back");
    // The host lists its rooms again after the welcome.
    wait_rooms(&arm, &["all", "motors"]);
    assert_eq!(host.members("motors"), [id]);
    assert_eq!(host.members("all"), [id, anon.id()]);
    planner
        .to(room("motors"))
        .write_lock("cmd", "after")
        .unwrap();
    let msg = cmds.recv_timeout(TIMEOUT).unwrap();
    assert_eq!((text(&msg), msg.from()), ("after".to_owned(), planner.id()));
}

#[test]
fn a_name_the_host_has_forgotten_comes_back_without_its_old_rooms() {
    // A host of two connections remembers two disconnected clients.
    let host = host_with(|b| b.max_connections(2));
    let events = host.events();
    let planner = client(&host, "planner");
    let old = client(&host, "arm");
    let old_id = old.id();
    old.join("motors").unwrap();
    host.join(old_id, "all").unwrap();
    wait_rooms(&old, &["all", "motors"]);
    // The old arm leaves for good; three more come and go, and the host
    // forgets the oldest of them, the arm, when the last one is admitted.
    let gone = |c: Client| {
        let id = c.id();
        c.close();
        assert_eq!(util::next_disconnect(&events), id);
    };
    gone(old);
    for name in ["x1", "x2", "x3"] {
        gone(client(&host, name));
    }
    assert!(!host.clients().iter().any(|c| c.id == old_id));
    let new = client(&host, "arm");
    assert_ne!(new.id(), old_id, "a forgotten name is a new client");
    host.join(new.id(), "fresh").unwrap();
    wait_rooms(&new, &["fresh"]);
    assert!(host.members("motors").is_empty() && host.members("all").is_empty());
    assert_eq!(host.rooms(), ["fresh"]);
    let planner_events = planner.events();
    planner.to(room("motors")).write_lock("cmd", "x").unwrap();
    let (_, kind) = next_undelivered(&planner_events);
    assert!(
        matches!(&kind, ErrorKind::UnknownRoom(r) if r == "motors"),
        "{kind}"
    );
}
