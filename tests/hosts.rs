//! Many hosts at once (`Hosts`): writes to all, reads merged with each
//! message's host, hosts added and removed while running (also while a read
//! waits), each host connecting and reconnecting on its own; a host down at
//! start, one that never answers, one that refuses, a key given twice or
//! raced for, a `Hosts` used after it closed.
#![allow(clippy::unwrap_used)]

mod util;

use std::net::TcpListener;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use socketengine::protocol::{ResumeToken, VERSION, Welcome, WelcomeStatus};
use socketengine::{
    Auth, Client, ClientBuilder, ConnectionState, Credential, ErrorKind, Event, Host, Hosts,
    IMAGE_CHANNEL, Image, Permissions, PixelFormat, RecvTimeoutError, Refusal, TryRecvError,
};
use util::{TIMEOUT, host, reserved_port, text, wait_until};

/// Clients that retry quickly, so a host that comes up is found soon.
fn template() -> ClientBuilder {
    Client::builder()
        .name("pocket")
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(100))
}

/// Waits until the host under `key` is in `state`.
fn wait_state(hosts: &Hosts, key: &str, state: ConnectionState) {
    let reached = wait_until(TIMEOUT, || hosts.state(key) == Some(state));
    assert!(reached, "{key} is {:?}, not {state:?}", hosts.state(key));
}

/// Waits until every host is connected.
fn wait_all_connected(hosts: &Hosts) {
    for key in hosts.keys() {
        wait_state(hosts, &key, ConnectionState::Connected);
    }
}

/// Each host's key and whether its write succeeded.
fn outcomes(results: Vec<(String, socketengine::Result<()>)>) -> Vec<(String, bool)> {
    results.into_iter().map(|(k, r)| (k, r.is_ok())).collect()
}

fn addr(host: &Host) -> String {
    host.local_addr().to_string()
}

#[test]
fn a_write_reaches_every_host_and_reads_come_with_their_host() {
    let (a, b) = (host(), host());
    let hosts = Hosts::from_list(template(), [addr(&a), addr(&b)]).unwrap();
    assert_eq!(hosts.keys(), [addr(&a), addr(&b)]);
    wait_all_connected(&hosts);
    let (at_a, at_b) = (a.subscribe("pose"), b.subscribe("pose"));
    let sent = hosts.write_lock("pose", "x=1").unwrap();
    assert_eq!(
        outcomes(sent),
        [(addr(&a), true), (addr(&b), true)],
        "one result per host, in order"
    );
    for at in [&at_a, &at_b] {
        assert_eq!(text(&at.recv_timeout(TIMEOUT).unwrap()), "x=1");
    }

    let merged = hosts.subscribe("cmd");
    a.write_lock("cmd", "from a").unwrap();
    b.write_lock("cmd", "from b").unwrap();
    let mut got: Vec<(String, String)> = (0..2)
        .map(|_| merged.recv_timeout(TIMEOUT).unwrap())
        .map(|(key, msg)| (key, text(&msg)))
        .collect();
    got.sort();
    let mut want = [
        (addr(&a), "from a".to_owned()),
        (addr(&b), "from b".to_owned()),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(text(&hosts.get(&addr(&b), "cmd").unwrap()), "from b");
    let latest: Vec<_> = hosts.latest("cmd").into_iter().map(|(k, _)| k).collect();
    assert_eq!(latest, [addr(&a), addr(&b)]);
}

#[test]
fn hosts_from_a_map_are_known_by_their_keys_and_added_later_join_reads() {
    let (local, dev, late) = (host(), host(), host());
    let pairs = [("local", addr(&local)), ("dev", addr(&dev))];
    let hosts = Hosts::from_map(template(), pairs).unwrap();
    let merged = hosts.subscribe("cmd");
    hosts.add("late", addr(&late)).unwrap();
    assert_eq!(hosts.keys(), ["local", "dev", "late"]);
    assert_eq!(merged.hosts(), ["local", "dev", "late"]);
    wait_all_connected(&hosts);
    late.write_lock("cmd", "hello").unwrap();
    let (key, msg) = merged.recv_timeout(TIMEOUT).unwrap();
    assert_eq!((key.as_str(), text(&msg).as_str()), ("late", "hello"));
    // Each host's client is the template's, with the host's address.
    assert_eq!(hosts.client("dev").unwrap().name(), "pocket");
    assert_eq!(dev.clients()[0].name, "pocket");
}

#[test]
fn a_host_down_at_start_connects_when_it_comes_up_and_the_others_work_meanwhile() {
    let up = host();
    // Nothing listens there, and nothing else can meanwhile.
    let down = reserved_port();
    let pairs = [("up", addr(&up)), ("down", down.addr.to_string())];
    let hosts = Hosts::from_map(template(), pairs).unwrap();
    wait_state(&hosts, "up", ConnectionState::Connected);
    assert_eq!(hosts.state("down"), Some(ConnectionState::Connecting));
    assert!(wait_until(TIMEOUT, || hosts.last_error("down").is_some()));
    let at_up = up.subscribe("pose");
    let sent = hosts.write("pose", "x").unwrap();
    assert_eq!(
        outcomes(sent),
        [("up".into(), true), ("down".into(), false)]
    );
    // A locked write does not wait for the host that is down.
    let sent = hosts.write_lock("pose", "y").unwrap();
    assert_eq!(
        outcomes(sent),
        [("up".into(), true), ("down".into(), false)]
    );
    for want in ["x", "y"] {
        assert_eq!(text(&at_up.recv_timeout(TIMEOUT).unwrap()), want);
    }

    // The host comes up where nothing listened: its client finds it.
    let late = Host::builder().addr(down.addr.to_string()).start().unwrap();
    wait_state(&hosts, "down", ConnectionState::Connected);
    assert!(hosts.last_error("down").is_none());
    let at_late = late.subscribe("pose");
    let sent = hosts.write_lock("pose", "z").unwrap();
    assert_eq!(outcomes(sent), [("up".into(), true), ("down".into(), true)]);
    assert_eq!(text(&at_late.recv_timeout(TIMEOUT).unwrap()), "z");
}

#[test]
fn a_host_that_accepts_and_never_answers_holds_up_nobody() {
    let good = host();
    // Accepts (the kernel's backlog does), never answers the hello.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let template = template().connect_timeout(Duration::from_millis(200));
    let pairs = [
        ("silent", silent.local_addr().unwrap().to_string()),
        ("good", addr(&good)),
    ];
    let hosts = Hosts::from_map(template, pairs).unwrap();
    wait_state(&hosts, "good", ConnectionState::Connected);
    let merged = hosts.subscribe("cmd");
    good.write_lock("cmd", "go").unwrap();
    let (key, _) = merged.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(key, "good");
    let sent = hosts.write("pose", "x").unwrap();
    assert_eq!(
        outcomes(sent),
        [("silent".into(), false), ("good".into(), true)]
    );
    // It times out and is tried again, never connected.
    let silent_client = hosts.client("silent").unwrap();
    let events = silent_client.events();
    let timed_out = util::next_event(&events, |e| match e {
        socketengine::Event::Error { error, .. } => Some(error.into_kind()),
        _ => None,
    });
    assert!(
        matches!(timed_out, ErrorKind::HandshakeTimeout(_)),
        "{timed_out:?}"
    );
    assert_eq!(hosts.state("silent"), Some(ConnectionState::Connecting));
}

#[test]
fn a_host_removed_while_a_read_waits_leaves_the_read_to_the_others() {
    let (a, b) = (host(), host());
    let hosts = Hosts::from_map(template(), [("a", addr(&a)), ("b", addr(&b))]).unwrap();
    wait_all_connected(&hosts);
    let merged = hosts.subscribe("cmd");
    let reader = merged.clone();
    let waiting = std::thread::spawn(move || reader.recv_timeout(TIMEOUT));
    hosts.remove("a").unwrap();
    assert_eq!(merged.hosts(), ["b"]);
    assert_eq!(hosts.keys(), ["b"]);
    // The removed host's client is closed: a's writes reach no one.
    assert!(wait_until(TIMEOUT, || a
        .clients()
        .iter()
        .all(|c| !c.connected)));
    assert_eq!(a.write("cmd", "lost").unwrap(), 0);
    b.write_lock("cmd", "from b").unwrap();
    let (key, msg) = waiting.join().unwrap().unwrap();
    assert_eq!((key.as_str(), text(&msg).as_str()), ("b", "from b"));
    assert_eq!(
        merged.recv_timeout(Duration::from_millis(1)).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    let gone = hosts.remove("a").unwrap_err();
    assert!(
        matches!(gone.kind(), ErrorKind::UnknownHost(k) if k == "a"),
        "{gone}"
    );
}

#[test]
fn a_key_given_twice_is_a_typed_error() {
    let a = host();
    let twice = Hosts::from_list(template(), [addr(&a), addr(&a)]).unwrap_err();
    assert!(
        matches!(twice.kind(), ErrorKind::DuplicateHost(k) if *k == addr(&a)),
        "{twice}"
    );
    let hosts = Hosts::new(template());
    hosts.add("lab", addr(&a)).unwrap();
    let again = hosts.add("lab", addr(&a)).unwrap_err();
    assert!(matches!(again.kind(), ErrorKind::DuplicateHost(k) if k == "lab"));
    assert_eq!(hosts.len(), 1);
}

#[test]
fn each_host_reconnects_on_its_own_and_closing_ends_merged_reads() {
    // Held from before `a` starts until after it is back: while it is
    // away no client meets itself there and nothing else takes the port.
    let port = reserved_port();
    let a_addr = port.addr.to_string();
    let (a, b) = (Host::builder().addr(&a_addr).start().unwrap(), host());
    let hosts = Hosts::from_map(template(), [("a", a_addr.clone()), ("b", addr(&b))]).unwrap();
    wait_all_connected(&hosts);
    a.close();
    wait_state(&hosts, "a", ConnectionState::Reconnecting);
    assert_eq!(hosts.state("b"), Some(ConnectionState::Connected));
    let sent = hosts.write("pose", "x").unwrap();
    assert_eq!(outcomes(sent), [("a".into(), false), ("b".into(), true)]);
    let back = Host::builder().addr(a_addr).start().unwrap();
    wait_state(&hosts, "a", ConnectionState::Connected);
    assert_eq!(back.clients().len(), 1);

    let merged = hosts.subscribe("cmd");
    b.write_lock("cmd", "held").unwrap();
    assert!(wait_until(TIMEOUT, || hosts.get("b", "cmd").is_some()));
    hosts.close();
    assert!(hosts.is_empty());
    let (key, msg) = merged.recv_timeout(TIMEOUT).unwrap();
    assert_eq!((key.as_str(), text(&msg).as_str()), ("b", "held"));
    assert_eq!(
        merged.recv_timeout(TIMEOUT).unwrap_err(),
        RecvTimeoutError::Disconnected
    );
}

#[test]
fn a_reader_waiting_on_the_merged_subscription_gets_a_host_added_meanwhile() {
    let (a, late) = (host(), host());
    let hosts = Hosts::from_map(template(), [("a", addr(&a))]).unwrap();
    let merged = hosts.subscribe("cmd");
    let waiting = Arc::new(Barrier::new(2));
    let reader = {
        let (merged, waiting) = (merged.clone(), Arc::clone(&waiting));
        std::thread::spawn(move || {
            waiting.wait();
            merged.recv_timeout(TIMEOUT)
        })
    };
    // The reader is in (or on its way into) its wait on `a` alone.
    waiting.wait();
    hosts.add("late", addr(&late)).unwrap();
    wait_state(&hosts, "late", ConnectionState::Connected);
    late.write_lock("cmd", "from late").unwrap();
    let (key, msg) = reader.join().unwrap().unwrap();
    assert_eq!((key.as_str(), text(&msg).as_str()), ("late", "from late"));
    assert_eq!(merged.hosts(), ["a", "late"]);
}

#[test]
fn a_closed_hosts_adds_nothing_writes_nothing_and_new_reads_end_at_once() {
    let a = host();
    let hosts = Hosts::from_map(template(), [("a", addr(&a))]).unwrap();
    wait_all_connected(&hosts);
    hosts.close();
    let closed = |err: socketengine::Error| matches!(err.kind(), ErrorKind::Closed);
    assert!(closed(hosts.add("b", addr(&a)).unwrap_err()));
    assert!(closed(hosts.remove("a").unwrap_err()));
    let write = hosts.write("pose", "x").unwrap_err();
    assert_eq!(write.payload().map(|p| &p[..]), Some(&b"x"[..]));
    assert!(closed(write));
    assert!(closed(hosts.write_lock("pose", "y").unwrap_err()));
    assert!(hosts.is_empty());
    // No client was started for `b`: `a` sees its one client go, no other.
    assert!(wait_until(TIMEOUT, || a
        .clients()
        .iter()
        .all(|c| !c.connected)));
    assert_eq!(a.clients().len(), 1);
    let merged = hosts.subscribe("cmd");
    assert_eq!(merged.try_recv().unwrap_err(), TryRecvError::Disconnected);
    assert_eq!(
        merged.recv_timeout(TIMEOUT).unwrap_err(),
        RecvTimeoutError::Disconnected
    );
}

#[test]
fn adds_racing_for_one_key_leave_one_host_and_close_the_others_clients() {
    let a = host();
    let hosts = Hosts::new(template());
    let go = Arc::new(Barrier::new(4));
    let adders: Vec<_> = (0..4)
        .map(|_| {
            let (hosts, go, addr) = (hosts.clone(), Arc::clone(&go), addr(&a));
            std::thread::spawn(move || {
                go.wait();
                hosts.add("lab", addr)
            })
        })
        .collect();
    let results: Vec<_> = adders.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for err in results.into_iter().filter_map(Result::err) {
        assert!(
            matches!(err.kind(), ErrorKind::DuplicateHost(k) if k == "lab"),
            "{err}"
        );
    }
    assert_eq!(hosts.keys(), ["lab"]);
    wait_state(&hosts, "lab", ConnectionState::Connected);
    // The losers' clients were closed: one client stays.
    let one = || a.clients().iter().filter(|c| c.connected).count() == 1;
    assert!(wait_until(TIMEOUT, one), "{:?}", a.clients());
}

/// A fake host of the last version, which refuses the one client it
/// accepts: its address, and its thread to join.
fn old_host() -> (String, std::thread::JoinHandle<std::net::TcpStream>) {
    let (addr, accepted) = util::fake_host(Welcome {
        version: VERSION - 1,
        status: WelcomeStatus::VersionMismatch,
        client_id: 0,
        host_time_ns: 0,
        resume: ResumeToken::NONE,
        epoch: 0,
    });
    (addr.to_string(), accepted)
}

#[test]
fn a_host_refusing_the_credential_or_the_version_is_given_up() {
    let token = Credential::token("s3cret").verifier();
    let locked = util::host_with(|b| b.auth(Auth::new().client("arm", token, Permissions::all())));
    let (old, accepted) = old_host();
    let pairs = [("locked", addr(&locked)), ("old", old)];
    let hosts = Hosts::from_map(template(), pairs).unwrap();
    for (key, refusal) in [
        ("locked", Refusal::Unauthorized),
        ("old", Refusal::VersionMismatch),
    ] {
        wait_state(&hosts, key, ConnectionState::Refused(refusal));
        // Its attempt's error, then the end: no redial planned between them.
        let events = hosts.client(key).unwrap().events();
        let mut seen = Vec::new();
        let end = util::next_event(&events, |e| match e {
            Event::Refused { refusal, .. } => Some(refusal),
            other => {
                seen.push(other);
                None
            }
        });
        assert_eq!(end, refusal);
        assert!(
            matches!(&seen[..], [Event::Error { error, .. }]
                if matches!(error.kind(), ErrorKind::Refused(r) if *r == refusal)),
            "{key}: {seen:?}"
        );
        let write = hosts.client(key).unwrap().write("pose", "x");
        assert!(write.is_err());
    }
    // One attempt each, refused once.
    assert_eq!(locked.admission_stats().unauthorized, 1);
    drop(accepted.join().expect("the old host answered"));
}

#[test]
fn a_name_taken_is_tried_again_with_the_error_in_view() {
    let lab = host();
    let hosts = Hosts::new(template());
    hosts.add("first", addr(&lab)).unwrap();
    wait_state(&hosts, "first", ConnectionState::Connected);
    // The same host again: the same name, held by the first connection.
    hosts.add("again", addr(&lab)).unwrap();
    let taken = || {
        let error = hosts
            .last_error("again")
            .map(socketengine::Error::into_kind);
        matches!(error, Some(ErrorKind::NameTaken { name }) if name == "pocket")
    };
    assert!(
        wait_until(TIMEOUT, taken),
        "{:?}",
        hosts.last_error("again")
    );
    assert_eq!(hosts.state("again"), Some(ConnectionState::Connecting));
    // Once the first lets go of the name, the second gets in.
    hosts.remove("first").unwrap();
    wait_state(&hosts, "again", ConnectionState::Connected);
    assert!(hosts.last_error("again").is_none());
}

#[test]
fn an_image_from_one_host_written_to_all_keeps_its_capture_time() {
    let (a, b) = (host(), host());
    // Clients whose clock reads 5 s ahead: a time on their own clock would move.
    let template = template().test_clock_skew(5_000_000_000);
    let hosts = Hosts::from_map(template, [("a", addr(&a)), ("b", addr(&b))]).unwrap();
    wait_all_connected(&hosts);
    let merged = hosts.subscribe(IMAGE_CHANNEL);
    let (again_a, again_b) = (a.subscribe("again"), b.subscribe("again"));
    let frame = Image::new(8, 8, PixelFormat::Gray8, vec![1u8; 64]).unwrap();
    a.write_lock(IMAGE_CHANNEL, &frame).unwrap();
    let (key, msg) = merged.recv_timeout(TIMEOUT).unwrap();
    let image = msg.image().unwrap();
    assert_eq!(
        (key.as_str(), image.timestamp_ns()),
        ("a", frame.timestamp_ns())
    );
    // Written on to every host as it came: on `a`'s clock, which here is
    // `b`'s too (documented on `Hosts::write`).
    for (key, sent) in hosts.write_lock("again", &image).unwrap() {
        sent.unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    for again in [&again_a, &again_b] {
        let came = again.recv_timeout(TIMEOUT).unwrap().image().unwrap();
        assert_eq!(came.timestamp_ns(), frame.timestamp_ns());
    }
}
