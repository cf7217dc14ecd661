//! Limits that keep one peer from hurting the host: budgets that hold for every
//! kind of write, bounded channel counts, the welcome always first, timeouts
//! that may be "forever". (Descriptors released on disconnect: `descriptors.rs`.)

#![allow(clippy::unwrap_used)]

mod util;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use socketengine::protocol::{Header, Kind};
use socketengine::{Client, ErrorKind, Event};
use util::{TIMEOUT, client, client_with, host, host_with, raw_handshake, wait_until};

#[test]
fn clients_connecting_during_a_broadcast_storm_all_get_their_welcome() {
    let host = host();
    let stop = Arc::new(AtomicBool::new(false));
    let storm = {
        let (host, stop) = (host.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) && rounds < 50_000_000 {
                host.write("storm", Bytes::from_static(b"x")).unwrap();
                let _ = host.write_lock("storm", Bytes::from_static(b"y"));
                rounds += 1;
            }
        })
    };
    // A frame ahead of the welcome made `connect` fail with BadMagic.
    let clients: Vec<Client> = (0..100).map(|i| client(&host, &format!("c{i}"))).collect();
    stop.store(true, Ordering::Relaxed);
    storm.join().unwrap();
    assert!(clients.iter().all(Client::is_connected));
}

#[test]
fn pings_from_a_peer_that_never_reads_do_not_grow_its_outbox() {
    const BUDGET: usize = 4096;
    let host = host_with(|b| b.outbox_budget(BUDGET).send_buffer(4096));
    let (mut raw, id) = raw_handshake(&host, "pinger");
    let ping = Header::new(Kind::Ping { sent_ns: 1 }, "ping")
        .to_bytes(&[])
        .unwrap();
    let burst: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 1000)
        .collect();
    let queued = || host.clients().into_iter().find(|c| c.id == id).unwrap();
    for _ in 0..200 {
        raw.write_all(&burst).unwrap();
    }
    // 200,000 pings in, their pongs refused once the budget is reached.
    assert!(wait_until(TIMEOUT, || queued().dropped > 0));
    assert!(queued().queued_bytes <= BUDGET + ping.len() + 16);
}

#[test]
fn locked_writes_to_a_stalled_peer_time_out_within_the_budget() {
    const BUDGET: usize = 1 << 20;
    let host = host_with(|b| {
        b.outbox_budget(BUDGET)
            .send_buffer(64 * 1024)
            .write_timeout(Duration::from_millis(50))
    });
    let (_raw, id) = raw_handshake(&host, "stalled");
    let payload = Bytes::from(vec![7u8; 256 * 1024]);
    let mut handed_back = 0;
    for _ in 0..40 {
        match host.to(id).write_lock("frames", payload.clone()) {
            Ok(_) => {}
            // Timed out waiting for the kernel (the frame stays queued), or for
            // room (nothing queued, the payload comes back).
            Err(err) if matches!(err.kind(), ErrorKind::TimedOut(_)) => {
                if let Some(back) = err.into_payload() {
                    assert_eq!(back, payload);
                    handed_back += 1;
                }
            }
            Err(err) => panic!("unexpected error {err}"),
        }
        let info = host.clients().into_iter().find(|c| c.id == id).unwrap();
        assert!(info.queued_bytes <= BUDGET + payload.len(), "{info:?}");
    }
    assert!(
        handed_back > 0,
        "the budget filled and later writes waited for room"
    );
}

#[test]
fn a_peer_inventing_channels_is_closed_at_the_limit() {
    let host = host_with(|b| b.max_channels(8));
    let events = host.events();
    let good = client(&host, "good");
    good.write_lock("kept", "1").unwrap();
    let greedy = client(&host, "greedy");
    for i in 0..7 {
        greedy.write_lock(&format!("ch{i}"), "x").unwrap();
    }
    // "kept" and ch0..ch6 make eight; the ninth name is refused.
    let _ = greedy.write_lock("one-too-many", "x");
    let error = loop {
        match events.recv_timeout(TIMEOUT).expect("an event") {
            Event::Error { error, .. } => break error,
            _ => continue,
        }
    };
    assert!(
        matches!(error.kind(), ErrorKind::ChannelLimit { max: 8 }),
        "{error}"
    );
    assert_eq!(host.channels().len(), 8);
    good.write_lock("kept", "2").unwrap();
    assert!(wait_until(TIMEOUT, || host
        .get("kept")
        .is_some_and(|m| &m.payload()[..] == b"2")));
}

#[test]
fn timeouts_of_duration_max_mean_no_timeout() {
    let host = host_with(|b| {
        b.handshake_timeout(Duration::MAX)
            .write_timeout(Duration::MAX)
    });
    let c = client_with(&host, "patient", |b| b.write_timeout(Duration::MAX));
    c.write_lock("ch", "1").unwrap();
    let got = host.get_all_timeout("ch", Duration::MAX);
    assert_eq!(&got[0].payload()[..], b"1");
    host.to(c.id()).write_lock("ch", "2").unwrap();
}

#[test]
fn a_chosen_name_cannot_take_over_a_generated_one() {
    let host = host();
    let anonymous = client(&host, "");
    let name = anonymous.name().to_owned();
    assert!(name.starts_with("client-"), "{name}");
    let impostor = client(&host, &name);
    assert_ne!(impostor.id(), anonymous.id());
    anonymous.write_lock("ch", "still here").unwrap();
    assert!(anonymous.is_connected());
}

#[test]
fn a_stalled_peer_does_not_slow_locked_writes_to_others_past_the_timeout() {
    let host = host_with(|b| {
        b.outbox_budget(64 * 1024)
            .send_buffer(16 * 1024)
            .write_timeout(Duration::from_millis(100))
    });
    let (_raw, _) = raw_handshake(&host, "stalled");
    let fast = client(&host, "fast");
    let rx = fast.subscribe("cmd");
    let payload = Bytes::from(vec![1u8; 32 * 1024]);
    for _ in 0..20 {
        // Delivered to `fast` every time; the stalled peer fills up and then
        // times out, which ends the call with that error.
        let _ = host.write_lock("cmd", payload.clone());
    }
    let mut got = 0;
    while got < 20 && rx.recv_timeout(TIMEOUT).is_ok() {
        got += 1;
    }
    assert_eq!(got, 20);
}
