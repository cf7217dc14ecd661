//! Many hosts at once (`Hosts`): writes to all, reads merged with each
//! message's host, hosts added and removed while running, each host
//! connecting and reconnecting on its own; a host down at start, one that
//! never answers, one removed while a read waits, a key given twice.
#![allow(clippy::unwrap_used)]

mod util;

use std::net::TcpListener;
use std::time::Duration;

use socketengine::{
    Client, ClientBuilder, ConnectionState, ErrorKind, Host, Hosts, RecvTimeoutError,
};
use util::{TIMEOUT, closed_port_addr, host, text, wait_until};

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
    let down = closed_port_addr();
    let pairs = [("up", addr(&up)), ("down", down.to_string())];
    let hosts = Hosts::from_map(template(), pairs).unwrap();
    wait_state(&hosts, "up", ConnectionState::Connected);
    assert_eq!(hosts.state("down"), Some(ConnectionState::Connecting));
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
    let late = Host::builder().addr(down.to_string()).start().unwrap();
    wait_state(&hosts, "down", ConnectionState::Connected);
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
    let (a, b) = (host(), host());
    let a_addr = addr(&a);
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
