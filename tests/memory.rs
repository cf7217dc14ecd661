//! The memory limit: what peers make a host hold stays under it whatever
//! they send, the oldest of the fullest channels going first, and a message
//! no room can be made for is refused with a typed notice to its sender.

#![allow(clippy::unwrap_used)]

mod util;

use bytes::Bytes;
use socketengine::ErrorKind;
use util::{TIMEOUT, client, host_with, next_undelivered, wait_received, wait_until};

const LIMIT: usize = 4 << 20;

#[test]
fn peers_with_fresh_names_and_big_frames_cannot_make_the_host_hold_more() {
    let host = host_with(|b| b.memory_limit(LIMIT).max_connections(8));
    let pilot = client(&host, "pilot");
    let frame = Bytes::from(vec![9u8; 1 << 20]);
    // One fresh name and one fresh channel per connection: each leaves a
    // latest value and a sender's latest behind (16 MiB in all).
    for i in 0..16 {
        let intruder = client(&host, &format!("intruder-{i}"));
        let channel = format!("junk/{i}");
        intruder.write_lock(&channel, frame.clone()).unwrap();
        // A control loop's messages beside them.
        pilot.write_lock("pose", format!("x={i}")).unwrap();
        wait_received(&host, &channel, 1);
        assert!(
            host.memory_used() <= LIMIT,
            "{} after {i}",
            host.memory_used()
        );
        intruder.close();
    }
    wait_received(&host, "pose", 16);
    assert_eq!(&host.get("pose").unwrap().payload()[..], b"x=15");
    assert_eq!(host.get_all("pose").len(), 16, "none of the pilot's lost");
    // The oldest junk went to make room, counted where it went.
    let shed: u64 = (0..16)
        .filter_map(|i| host.channel_stats(&format!("junk/{i}")))
        .map(|s| s.dropped)
        .sum();
    assert!(shed > 0);
    assert!(host.get("junk/0").is_none(), "the oldest of equals first");
    assert!(pilot.is_connected());
}

#[test]
fn a_message_larger_than_the_limit_is_refused_and_its_sender_told() {
    let host = host_with(|b| b.memory_limit(LIMIT));
    let sender = client(&host, "sender");
    let events = sender.events();
    sender.write_lock("keep", "small").unwrap();
    sender
        .write_lock("huge", Bytes::from(vec![1u8; LIMIT + 1]))
        .unwrap();
    let (channel, error) = next_undelivered(&events);
    assert_eq!(channel, "huge");
    assert!(matches!(&error, ErrorKind::HostLimit(_)), "{error}");
    assert_eq!(host.get("huge"), None);
    assert_eq!(host.channel_stats("huge").map(|s| s.dropped), Some(1));
    // Nothing else was let go, and the connection carries on.
    assert_eq!(&host.get("keep").unwrap().payload()[..], b"small");
    sender.write_lock("after", "still here").unwrap();
    assert!(wait_until(TIMEOUT, || host.get("after").is_some()));
}

#[test]
fn a_large_message_relayed_to_many_stalled_readers_is_counted_once() {
    let host = host_with(|b| {
        b.memory_limit(64 << 20)
            .relay(socketengine::Relay::Others)
            .send_buffer(64 << 10)
    });
    // Ten readers that took the welcome and read nothing more.
    let stalled: Vec<_> = (0..10)
        .map(|i| util::raw_handshake(&host, &format!("stalled-{i}")).0)
        .collect();
    let camera = client(&host, "camera");
    let frame = Bytes::from(vec![3u8; 2 << 20]);
    for i in 0..3 {
        camera
            .write_lock(&format!("big/{i}"), frame.clone())
            .unwrap();
    }
    camera.sync().unwrap();
    // Stored once each (6 MiB), and held for the ten readers once each:
    // not 3 x 10 x 2 MiB.
    let used = host.memory_used();
    assert!(used <= 14 << 20, "{} MiB counted", used >> 20);
    let queued: usize = host.clients().iter().map(|c| c.queued_bytes).sum();
    assert!(queued >= 10 << 20, "the readers hold copies: {queued}");
    drop(stalled);
}

#[test]
fn a_subscription_the_application_never_reads_holds_what_its_bytes_allow() {
    let host = host_with(|b| b.memory_limit(LIMIT).queue_bytes(2 << 20));
    let unread = host.subscribe("feed");
    let pilot = client(&host, "pilot");
    let frame = Bytes::from(vec![5u8; 512 << 10]);
    // 16 MiB at a subscription nobody reads, on a host whose limit is 4 MiB
    // and whose buffers hold 2 MiB beyond one message.
    for _ in 0..32 {
        pilot.write_lock("feed", frame.clone()).unwrap();
    }
    wait_received(&host, "feed", 32);
    assert!(host.memory_used() <= LIMIT, "{}", host.memory_used());
    assert!(unread.len() <= 5, "{} buffered", unread.len());
    let stats = host.channel_stats("feed").unwrap();
    assert!(stats.dropped >= 27, "skipped and counted: {stats:?}");
    // Read whole, it gives its bytes back: the channel keeps what its
    // queue holds.
    let before = host.memory_used();
    let taken = unread.try_iter().count();
    assert!(taken >= 1);
    let after = host.memory_used();
    assert!(
        after <= before - taken * (512 << 10),
        "before {before} after {after} taken {taken}"
    );
}
