//! `Host` and `Client` on loopback: the client list, the store readers, writes in
//! both directions (locked, unlocked, batched) and back-pressure. Closing,
//! start-up errors and argument checks are in `lifecycle.rs`.

#![allow(clippy::unwrap_used)]

mod util;

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use socketengine::protocol::{Header, Hello, WELCOME_LEN, Welcome};
use socketengine::{Client, ClientId, ErrorKind, Event};
use util::{
    TIMEOUT, bytes_of, client, client_with, fake_host, host, host_with, next_disconnect,
    next_event, payloads, raw_connect, raw_handshake, text, wait_received, wait_until,
};

/// The payload of message `seq` in the ordered stream: `seq` (u32 LE), then bytes
/// that depend on `seq` and their position. Mostly small; every hundredth is over
/// 100 KB and number 1000 is a 1080p RGB frame.
fn numbered(seq: u32) -> Bytes {
    let len = match seq {
        1000 => 6_220_800,
        s if s % 100 == 7 => 100_000 + s as usize,
        s => 4 + (s as usize * 37) % 700,
    };
    let mut payload = Vec::with_capacity(len);
    payload.extend_from_slice(&seq.to_le_bytes());
    payload.extend((4..len).map(|j| (j as u32).wrapping_mul(31).wrapping_add(seq) as u8));
    payload.into()
}

#[test]
fn host_lists_named_clients_and_tags_their_messages() {
    let host = host();
    let events = host.events();
    let clients: Vec<Client> = ["cam", "planner", "arm"]
        .iter()
        .map(|name| client(&host, name))
        .collect();
    for c in &clients {
        let (id, name) = next_event(&events, |e| match e {
            Event::Connected { client, name, .. } => Some((client, name)),
            _ => None,
        });
        assert_eq!((id, name.as_str()), (c.id(), c.name()));
    }
    let infos = host.clients();
    assert_eq!(infos.len(), 3);
    for (info, c) in infos.iter().zip(&clients) {
        assert_eq!((info.id, info.name.as_str()), (c.id(), c.name()));
        assert!(info.connected && info.id != ClientId::HOST && info.addr.ip().is_loopback());
        assert_eq!(info.dropped, 0);
    }
    // The welcome may still count as queued for a moment after the client read it.
    let drained = || host.clients().iter().all(|i| i.queued_bytes == 0);
    assert!(wait_until(TIMEOUT, drained), "nothing stays queued");
    for c in &clients {
        c.write_lock("pose", format!("from {}", c.name())).unwrap();
    }
    wait_received(&host, "pose", 3);
    for msg in host.get_all("pose") {
        let sender = clients.iter().find(|c| c.id() == msg.from()).unwrap();
        assert_eq!(text(&msg), format!("from {}", sender.name()));
        assert_eq!(msg.channel(), "pose");
    }
}

#[test]
fn locked_writes_arrive_intact_and_in_order() {
    const COUNT: u32 = 2000;
    let host = host_with(|b| b.queue_capacity(COUNT as usize));
    let client = client(&host, "stream");
    let mut total = 0;
    for seq in 0..COUNT {
        let payload = numbered(seq);
        total += payload.len() as u64;
        client.write_lock("stream", payload).unwrap();
    }
    wait_received(&host, "stream", u64::from(COUNT));
    let stats = host.channel_stats("stream").unwrap();
    assert_eq!((stats.bytes, stats.dropped), (total, 0));
    let got = host.get_all("stream");
    assert_eq!(got.len(), COUNT as usize);
    for (seq, msg) in (0..COUNT).zip(&got) {
        let head = u32::from_le_bytes(msg.payload()[..4].try_into().unwrap());
        assert_eq!(head, seq, "message out of order");
        assert!(msg.payload() == &numbered(seq), "payload {seq} corrupted");
        assert_eq!(msg.from(), client.id());
    }
}

#[test]
fn unlocked_writes_that_back_off_on_full_all_arrive_in_order() {
    const COUNT: usize = 10_000;
    let host = host_with(|b| b.queue_capacity(COUNT));
    let client = client_with(&host, "burst", |b| b.outbox_budget(32 * 1024));
    let sent: Vec<Bytes> = (0..COUNT)
        .map(|i| format!("{i:05}:{}", "x".repeat(i % 300)).into())
        .collect();
    for payload in &sent {
        let mut payload = payload.clone();
        let mut attempts = 0;
        while let Err(err) = client.write("burst", payload) {
            assert!(err.is_full() && attempts < 1000, "unexpected {err}");
            attempts += 1;
            client.flush().unwrap();
            payload = err.into_payload().unwrap();
        }
    }
    client.flush().unwrap();
    wait_received(&host, "burst", COUNT as u64);
    assert_eq!(payloads(&host.get_all("burst")), sent);
}

#[test]
fn get_returns_the_newest_repeatably_and_get_all_drains_in_order() {
    let host = host();
    let client = client(&host, "pose");
    assert!(host.get("pose").is_none() && host.get_all("pose").is_empty());
    for p in ["a", "b", "c"] {
        client.write_lock("pose", p).unwrap();
    }
    wait_received(&host, "pose", 3);
    for _ in 0..3 {
        assert_eq!(text(&host.get("pose").unwrap()), "c");
    }
    assert_eq!(payloads(&host.get_all("pose")), bytes_of(&["a", "b", "c"]));
    assert!(host.get_all("pose").is_empty());
    assert_eq!(
        text(&host.get("pose").unwrap()),
        "c",
        "draining keeps the latest"
    );
    assert_eq!(host.channels(), ["pose"]);
}

#[test]
fn full_queue_drops_the_oldest_and_counts_them() {
    let host = host_with(|b| b.queue_capacity(100).channel_capacity("small", 3));
    let client = client(&host, "producer");
    for i in 0..10 {
        client.write_lock("small", format!("m{i}")).unwrap();
        client.write_lock("big", format!("m{i}")).unwrap();
    }
    wait_received(&host, "small", 10);
    wait_received(&host, "big", 10);
    let small = host.channel_stats("small").unwrap();
    assert_eq!(
        (small.received, small.dropped, small.queued, small.capacity),
        (10, 7, 3, 3)
    );
    assert_eq!(
        payloads(&host.get_all("small")),
        bytes_of(&["m7", "m8", "m9"])
    );
    let big = host.channel_stats("big").unwrap();
    assert_eq!((big.dropped, big.queued, big.capacity), (0, 10, 100));
    assert_eq!(host.get_all("big").len(), 10);
}

#[test]
fn zero_capacity_keeps_only_the_latest() {
    let host = host_with(|b| b.queue_capacity(0));
    let client = client(&host, "producer");
    for p in ["a", "b"] {
        client.write_lock("ch", p).unwrap();
    }
    wait_received(&host, "ch", 2);
    assert!(host.get_all("ch").is_empty());
    assert_eq!(text(&host.get("ch").unwrap()), "b");
    assert_eq!(host.channel_stats("ch").unwrap().dropped, 2);
}

#[test]
fn get_by_client_keeps_the_latest_value_of_each_client() {
    let host = host();
    let clients: Vec<Client> = ["a", "b", "c"].iter().map(|n| client(&host, n)).collect();
    for round in 0..5 {
        for c in &clients {
            c.write_lock("pose", format!("{}-{round}", c.name()))
                .unwrap();
        }
    }
    wait_received(&host, "pose", 15);
    let latest = host.get_by_client("pose");
    let got: Vec<(ClientId, String)> = latest.iter().map(|m| (m.from(), text(m))).collect();
    let want: Vec<(ClientId, String)> = clients
        .iter()
        .map(|c| (c.id(), format!("{}-4", c.name())))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn client_list_and_events_reflect_a_disconnect() {
    let host = host();
    let events = host.events();
    let stay = client(&host, "stay");
    let leave = client(&host, "leave");
    leave.close();
    assert_eq!(next_disconnect(&events), leave.id());
    let infos = host.clients();
    let state: Vec<(&str, bool)> = infos
        .iter()
        .map(|i| (i.name.as_str(), i.connected))
        .collect();
    assert_eq!(state, [("stay", true), ("leave", false)]);
    let err = host.to(leave.id()).write("cmd", "gone").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::UnknownClient(id) if *id == leave.id()));
    host.to(stay.id()).write_lock("cmd", "here").unwrap();
    assert!(stay.is_connected() && !leave.is_connected());
}

#[test]
fn host_writes_to_one_client_or_all_of_them() {
    let host = host();
    let clients: Vec<Client> = ["a", "b", "c"].iter().map(|n| client(&host, n)).collect();
    let subs: Vec<_> = clients.iter().map(|c| c.subscribe("cmd")).collect();
    let recv = |i: usize| subs[i].recv_timeout(TIMEOUT).unwrap();

    host.to(clients[1].id()).write("cmd", "only b").unwrap();
    let msg = recv(1);
    assert_eq!((text(&msg), msg.from()), ("only b".into(), ClientId::HOST));

    assert_eq!(host.write("cmd", "everyone").unwrap(), 3);
    assert_eq!(host.write_lock("cmd", "locked").unwrap(), 3);
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(text(&recv(i)), "everyone");
        assert_eq!(text(&recv(i)), "locked");
        let queued: Vec<String> = c.get_all("cmd").iter().map(text).collect();
        let mut want = vec!["everyone", "locked"];
        if i == 1 {
            want.insert(0, "only b");
        }
        assert_eq!(queued, want, "client {}", c.name());
    }

    let err = host.to(ClientId(999)).write("cmd", "nobody").unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::UnknownClient(ClientId(999))
    ));
    assert_eq!(err.into_payload(), Some(Bytes::from("nobody")));
    let err = host
        .to(ClientId(999))
        .write_lock("cmd", "nobody")
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::UnknownClient(ClientId(999))
    ));
}

#[test]
fn lock_guard_sends_its_batch_in_order_and_unbroken() {
    let host = host_with(|b| b.queue_capacity(1000));
    let client = client(&host, "batcher");
    let other = client.clone();
    let rival = std::thread::spawn(move || {
        for i in 0..300 {
            other.write_lock("seq", format!("other-{i:03}")).unwrap();
        }
    });
    let mut batch = client.lock();
    for i in 0..100 {
        batch.write("seq", format!("batch-{i:03}")).unwrap();
    }
    batch.finish().unwrap();
    rival.join().unwrap();
    wait_received(&host, "seq", 400);
    let got: Vec<String> = host.get_all("seq").iter().map(text).collect();
    let start = got.iter().position(|s| s.starts_with("batch-")).unwrap();
    let want: Vec<String> = (0..100).map(|i| format!("batch-{i:03}")).collect();
    assert_eq!(
        got[start..start + 100],
        want,
        "the batch was split or reordered"
    );
    let others: Vec<&String> = got.iter().filter(|s| s.starts_with("other-")).collect();
    assert!(others.windows(2).all(|w| w[0] < w[1]) && others.len() == 300);
}

#[test]
fn dropping_an_unfinished_guard_still_sends_it() {
    let host = host();
    let client = client(&host, "forgetful");
    {
        let mut batch = client.lock();
        batch.write("a", "1").unwrap();
        batch.write("b", "2").unwrap();
    }
    wait_received(&host, "a", 1);
    wait_received(&host, "b", 1);
}

#[test]
fn unlocked_write_to_a_peer_that_stops_reading_fails_full_with_the_payload() {
    const BUDGET: usize = 1 << 20;
    const CHUNK: usize = 64 * 1024;
    let host = host_with(|b| b.outbox_budget(BUDGET).send_buffer(CHUNK));
    let (_slow, id) = raw_handshake(&host, "slow");
    let mut full = None;
    // 2000 x 64 KiB is far more than the budget and any kernel buffers.
    for i in 0..2000u32 {
        let payload = Bytes::from(vec![i as u8; CHUNK]);
        match host.to(id).write("frames", payload.clone()) {
            Ok(_) => {}
            Err(err) if err.is_full() => {
                full = Some((err, payload));
                break;
            }
            Err(err) => panic!("write {i} failed: {err}"),
        }
    }
    let (err, sent) = full.expect("the outbox filled up");
    assert!(
        matches!(err.kind(), ErrorKind::Full { budget: BUDGET, queued } if *queued <= BUDGET + CHUNK)
    );
    let back = err.into_payload().unwrap();
    assert_eq!(back, sent);
    assert_eq!(back.as_ptr(), sent.as_ptr(), "handed back, not copied");
    let info = host.clients().into_iter().find(|c| c.id == id).unwrap();
    assert!(info.connected);
    assert!(
        info.queued_bytes <= BUDGET + CHUNK,
        "{} queued",
        info.queued_bytes
    );
    assert!(info.dropped >= 1);
}

#[test]
fn client_writes_to_a_host_that_stops_reading_fail_full_or_time_out() {
    const BUDGET: usize = 1 << 20;
    const CHUNK: usize = 64 * 1024;
    let welcome = util::accepted_welcome(7);
    let (addr, fake) = fake_host(welcome);
    let client = Client::builder()
        .addr(addr.to_string())
        .name("pusher")
        .outbox_budget(BUDGET)
        .send_buffer(CHUNK)
        .write_timeout(Duration::from_millis(100))
        .connect()
        .unwrap();
    let _silent_host = fake.join().unwrap();
    assert_eq!((client.id(), client.name()), (ClientId(7), "pusher"));
    let mut full = None;
    for i in 0..2000u32 {
        let payload = Bytes::from(vec![i as u8; CHUNK]);
        match client.write("frames", payload.clone()) {
            Ok(()) => {}
            Err(err) if err.is_full() => {
                full = Some((err, payload));
                break;
            }
            Err(err) => panic!("write {i} failed: {err}"),
        }
    }
    let (err, sent) = full.expect("the outbox filled up");
    assert_eq!(err.into_payload(), Some(sent));
    let err = client.write_lock("frames", "late").unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::TimedOut(_)), "{err}");
    assert!(matches!(
        client.flush().unwrap_err().kind(),
        ErrorKind::TimedOut(_)
    ));
}

#[test]
fn client_events_name_the_client_itself() {
    let host = host();
    let client = client(&host, "self");
    let events = client.events();
    let connected = next_event(&events, |e| match e {
        Event::Connected { client, name, addr } => Some((client, name, addr)),
        _ => None,
    });
    assert_eq!(
        connected,
        (client.id(), "self".to_owned(), host.local_addr())
    );
    host.close();
    let disconnected = next_event(&events, |e| match e {
        Event::Disconnected {
            client, name, addr, ..
        } => Some((client, name, addr)),
        _ => None,
    });
    assert_eq!(
        disconnected, connected,
        "Disconnected must name the client as Connected did"
    );
}

#[test]
fn frames_sent_right_after_the_hello_are_stored() {
    let host = host();
    let mut raw = raw_connect(&host);
    let mut wire = Vec::new();
    Hello::new("eager").encode(&mut wire).unwrap();
    for p in ["1", "2", "3"] {
        wire.extend_from_slice(&Header::data("early").to_bytes(p.as_bytes()).unwrap());
    }
    raw.write_all(&wire).unwrap();
    let mut welcome = [0u8; WELCOME_LEN];
    raw.read_exact(&mut welcome).unwrap();
    let id = ClientId(Welcome::decode(&welcome).unwrap().unwrap().client_id);
    wait_received(&host, "early", 3);
    let got = host.get_all("early");
    assert_eq!(payloads(&got), bytes_of(&["1", "2", "3"]));
    assert!(got.iter().all(|m| m.from() == id));
}
