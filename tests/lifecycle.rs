//! `Host` and `Client` on loopback: what the handles are, closing them,
//! start-up errors and argument checks (channel names, frame sizes, a full
//! host).

#![allow(clippy::unwrap_used)]

mod util;

use std::time::Duration;

use bytes::Bytes;
use socketengine::RecvTimeoutError;
use socketengine::{Client, ErrorKind, Host};
use util::{
    TIMEOUT, client, client_with, closed_port_addr, host, host_with, next_disconnect, next_error,
    text, wait_received, wait_until,
};

#[test]
fn host_and_client_are_send_sync_and_clone() {
    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
    assert_shareable::<Host>();
    assert_shareable::<Client>();
    assert_shareable::<socketengine::Hosts>();
    assert_shareable::<socketengine::HostsSubscription>();
}

#[test]
fn a_handle_says_when_it_is_closed_and_its_waits_then_end_at_once() {
    let host = host();
    let client = client(&host, "closer");
    assert!(!client.is_closed() && !host.is_closed());
    client.close();
    assert!(client.is_closed() && !host.is_closed());
    // Returns at once: a wait on a closed handle would otherwise hold the
    // test for an hour.
    let left = client.get_all_timeout("ch", Duration::from_secs(3600));
    assert!(left.is_empty());
    host.close();
    assert!(host.is_closed());
}

#[test]
fn writes_after_close_fail_with_closed_and_close_is_idempotent() {
    let host = host();
    let client = client(&host, "closer");
    client.write_lock("ch", "kept").unwrap();
    wait_received(&host, "ch", 1);
    client.close();
    client.close();
    let err = client.write("ch", "late").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Closed));
    assert_eq!(err.into_payload(), Some(Bytes::from("late")));
    assert!(matches!(
        client.write_lock("ch", "late").unwrap_err().kind(),
        ErrorKind::Closed
    ));
    let mut batch = client.lock();
    assert!(matches!(
        batch.write("ch", "late").unwrap_err().kind(),
        ErrorKind::Closed
    ));
    batch.finish().unwrap();

    host.close();
    host.close();
    let err = host.write("ch", "late").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Closed));
    assert_eq!(err.into_payload(), Some(Bytes::from("late")));
    assert!(matches!(
        host.write_lock("ch", "x").unwrap_err().kind(),
        ErrorKind::Closed
    ));
    assert!(matches!(
        host.to(client.id()).write("ch", "x").unwrap_err().kind(),
        ErrorKind::Closed
    ));
    assert_eq!(
        text(&host.get("ch").unwrap()),
        "kept",
        "stored messages stay readable"
    );
    assert!(host.clients().iter().all(|c| !c.connected));
}

#[test]
fn closing_a_handle_ends_its_subscriptions_after_what_they_hold() {
    let host = host();
    let robot = client(&host, "robot");
    let cmd = robot.subscribe("cmd");
    host.to(robot.id()).write_lock("cmd", "stop").unwrap();
    assert_eq!(text(&cmd.recv_timeout(TIMEOUT).unwrap()), "stop");
    host.to(robot.id()).write_lock("cmd", "park").unwrap();
    assert!(wait_until(TIMEOUT, || !cmd.is_empty()));
    // A reader blocked with no timeout is woken by the close.
    let quiet = robot.subscribe("quiet");
    let waiter = std::thread::spawn(move || quiet.recv());

    robot.close();
    assert_eq!(text(&cmd.recv().unwrap()), "park", "what it held is kept");
    let ended = Err(RecvTimeoutError::Disconnected);
    assert_eq!(cmd.recv_timeout(TIMEOUT), ended);
    assert!(wait_until(TIMEOUT, || waiter.is_finished()));
    assert!(waiter.join().unwrap().is_err());
    assert_eq!(robot.subscribe("late").recv_timeout(TIMEOUT), ended);
    let drainer = robot.clone();
    let drained = std::thread::spawn(move || drainer.get_all_timeout("quiet", Duration::MAX));
    assert!(wait_until(TIMEOUT, || drained.is_finished()));
    assert!(drained.join().unwrap().is_empty());
}

#[test]
fn closing_the_host_disconnects_its_clients() {
    let host = host();
    let client = client(&host, "orphan");
    let events = client.events();
    host.close();
    next_disconnect(&events);
    assert!(!client.is_connected());
    let err = client.write("ch", "lost").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::NotConnected));
    assert_eq!(err.into_payload(), Some(Bytes::from("lost")));
}

#[test]
fn dropping_the_last_handle_stops_the_host_and_frees_its_port() {
    let host = host();
    let addr = host.local_addr();
    let clone = host.clone();
    let client = client(&host, "witness");
    drop(host);
    client.write_lock("ch", "alive").unwrap();
    wait_received(&clone, "ch", 1);
    drop(clone);
    assert!(wait_until(TIMEOUT, || !client.is_connected()));
    let again = Host::builder().addr(addr.to_string()).start().unwrap();
    assert_eq!(again.local_addr(), addr);
    drop(client);
}

#[test]
fn binding_a_taken_address_fails_with_addr_in_use() {
    let host = host();
    let err = Host::builder()
        .addr(host.local_addr().to_string())
        .start()
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::AddrInUse { addr } if *addr == host.local_addr()));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = std_listener.local_addr().unwrap().to_string();
    let err = Host::builder().addr(taken).start().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::AddrInUse { .. }), "{err}");
}

#[test]
fn connecting_where_nothing_listens_fails_with_connect() {
    let addr = closed_port_addr().to_string();
    let err = Client::builder().addr(addr.clone()).connect().unwrap_err();
    match err.kind() {
        ErrorKind::Connect {
            addr: tried,
            source,
        } => {
            assert_eq!(tried, &addr);
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
        }
        other => panic!("expected Connect, got {other:?}"),
    }
}

#[test]
fn invalid_channel_names_are_refused_with_the_payload() {
    let host = host();
    let client = client(&host, "namer");
    let too_long = "c".repeat(256);
    let too_long_utf8 = "é".repeat(128);
    for bad in ["", too_long.as_str(), too_long_utf8.as_str()] {
        let results = [
            client.write(bad, "p"),
            client.write_lock(bad, "p"),
            client.lock().write(bad, "p"),
            host.to(client.id()).write(bad, "p").map(drop),
            host.to(client.id()).write_lock(bad, "p").map(drop),
            host.write(bad, "p").map(drop),
            host.write_lock(bad, "p").map(drop),
            host.lock().write(bad, "p"),
        ];
        for (i, result) in results.into_iter().enumerate() {
            let err = result.unwrap_err();
            assert!(
                matches!(err.kind(), ErrorKind::InvalidChannel { .. }),
                "call {i}: {err}"
            );
            assert_eq!(err.into_payload(), Some(Bytes::from("p")), "call {i}");
        }
    }
}

#[test]
fn channel_names_of_255_bytes_work_both_ways() {
    let host = host();
    let client = client(&host, "namer");
    let ascii = "c".repeat(255);
    let utf8 = format!("{}x", "é".repeat(127));
    for name in [ascii, utf8] {
        assert_eq!(name.len(), 255);
        client.write_lock(&name, "up").unwrap();
        wait_received(&host, &name, 1);
        let msg = host.get(&name).unwrap();
        assert_eq!((msg.channel(), text(&msg).as_str()), (name.as_str(), "up"));
        let down = client.subscribe(&name);
        host.to(client.id()).write_lock(&name, "down").unwrap();
        let msg = down.recv_timeout(TIMEOUT).unwrap();
        assert_eq!(
            (msg.channel(), text(&msg).as_str()),
            (name.as_str(), "down")
        );
    }
}

#[test]
fn payload_over_max_frame_fails_with_frame_too_large() {
    const MAX: usize = 1024;
    let host = host_with(|b| b.max_frame(MAX));
    let client = client_with(&host, "big", |b| b.max_frame(MAX));
    // Body = kind + flags + n + "ch" + payload: 5 + payload bytes.
    let fits = Bytes::from(vec![1u8; MAX - 5]);
    let over = Bytes::from(vec![2u8; MAX - 4]);
    let results = [
        client.write("ch", over.clone()),
        client.write_lock("ch", over.clone()),
        client.lock().write("ch", over.clone()),
        host.to(client.id()).write("ch", over.clone()).map(drop),
        host.to(client.id())
            .write_lock("ch", over.clone())
            .map(drop),
        host.write("ch", over.clone()).map(drop),
        host.write_lock("ch", over.clone()).map(drop),
        host.lock().write("ch", over.clone()),
    ];
    for (i, result) in results.into_iter().enumerate() {
        let err = result.unwrap_err();
        let kind = err.kind();
        assert!(
            matches!(
                kind,
                ErrorKind::FrameTooLarge {
                    len: 1025,
                    max: MAX
                }
            ),
            "call {i}: {kind:?}"
        );
        assert_eq!(err.into_payload().as_ref(), Some(&over), "call {i}");
    }
    client.write_lock("ch", fits.clone()).unwrap();
    wait_received(&host, "ch", 1);
    assert_eq!(host.get("ch").unwrap().into_payload(), fits);
    host.to(client.id()).write_lock("ch", fits.clone()).unwrap();
    assert!(wait_until(TIMEOUT, || client.get("ch").is_some()));
}

#[test]
fn a_full_host_refuses_further_clients() {
    let host = host_with(|b| b.max_connections(1));
    let events = host.events();
    let first = client(&host, "first");
    let err = Client::builder()
        .addr(host.local_addr().to_string())
        .name("second")
        .connect()
        .unwrap_err();
    let (id, _, error) = next_error(&events);
    assert_eq!(id, None);
    assert!(matches!(error.kind(), ErrorKind::Refused(_)), "{error:?}");
    assert!(first.is_connected());
    assert!(matches!(err.kind(), ErrorKind::Refused(_)), "{err:?}");
}

#[test]
fn oversized_broadcast_fails_even_with_no_clients() {
    let host = host_with(|b| b.max_frame(1024));
    let over = Bytes::from(vec![0u8; 2048]);
    let err = host.write("ch", over.clone()).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::FrameTooLarge { .. }),
        "{err:?}"
    );
    let err = host.write_lock("ch", over).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::FrameTooLarge { .. }),
        "{err:?}"
    );
}
