//! Channel patterns on the reading side: a subscription or a `get_all` over
//! `arm/*` or `arm/**` takes every matching channel, now and to come.

#![allow(clippy::unwrap_used)]

mod util;

use std::time::Duration;

use bytes::Bytes;
use socketengine::{ErrorKind, Message, RecvTimeoutError};
use util::{TIMEOUT, client, host, wait_received};

fn label(msg: &Message) -> String {
    format!(
        "{}={}",
        msg.channel(),
        String::from_utf8_lossy(msg.payload())
    )
}

#[test]
fn a_pattern_subscription_takes_every_matching_channel_and_only_those() {
    let host = host();
    let arm_one = host.subscribe("arm/*");
    let arm_all = host.subscribe("arm/**");
    let client = client(&host, "robot");
    for (channel, value) in [
        ("arm/left", "1"),
        ("leg/left", "2"),
        ("arm/left/joint3", "3"),
        ("arm", "4"),
        ("arm/right", "5"),
    ] {
        client.write_lock(channel, value).unwrap();
    }
    wait_received(&host, "arm/right", 1);
    let one: Vec<String> = arm_one.try_iter().map(|m| label(&m)).collect();
    assert_eq!(one, ["arm/left=1", "arm/right=5"]);
    let all: Vec<String> = arm_all.try_iter().map(|m| label(&m)).collect();
    assert_eq!(
        all,
        ["arm/left=1", "arm/left/joint3=3", "arm=4", "arm/right=5"]
    );
    // Each channel's own reader still has its messages.
    assert_eq!(
        host.get("leg/left").map(|m| label(&m)),
        Some("leg/left=2".into())
    );
}

#[test]
fn a_pattern_subscription_waits_for_channels_that_do_not_exist_yet() {
    let host = host();
    let client = client(&host, "robot");
    let any = client.subscribe("**");
    let later = client.clone();
    let waiting = std::thread::spawn(move || later.subscribe("cam/*").recv_timeout(TIMEOUT));
    host.write_lock("arm/left/joint3", "a").unwrap();
    assert_eq!(
        label(&any.recv_timeout(TIMEOUT).unwrap()),
        "arm/left/joint3=a"
    );
    // Sent until the waiting thread's subscription exists and takes one
    // (bounded: it subscribes at once).
    let mut attempts = 0;
    let got = loop {
        host.write_lock("cam/left", "x").unwrap();
        assert_eq!(label(&any.recv_timeout(TIMEOUT).unwrap()), "cam/left=x");
        if waiting.is_finished() {
            break waiting.join().unwrap();
        }
        attempts += 1;
        assert!(attempts < 100_000, "the later subscription never received");
    };
    assert_eq!(label(&got.unwrap()), "cam/left=x");
    client.close();
    while any.try_recv().is_ok() {}
    assert!(
        any.recv_timeout(TIMEOUT).is_err(),
        "closing ends a pattern subscription"
    );
}

/// `**/a/` fifty times, then `**/bb`: 255 bytes, the longest a pattern may
/// be, and the worst for a matcher that backtracks (every way to share a
/// channel's parts among 51 `**` before it says no).
fn worst_pattern() -> String {
    format!("{}**/bb", "**/a/".repeat(50))
}

/// A pattern with a `*` inside a segment, and one a byte over the limit.
fn bad_patterns() -> [String; 2] {
    [
        "arm/*/joint*".to_owned(),
        format!("{}x", "**/a/".repeat(51)),
    ]
}

#[test]
fn an_invalid_or_overlong_pattern_ends_a_subscription_at_once_and_drains_nothing() {
    let host = host();
    let client = client(&host, "robot");
    client.write_lock("arm/left/joint3", "kept").unwrap();
    wait_received(&host, "arm/left/joint3", 1);
    for bad in bad_patterns() {
        for sub in [host.subscribe(&bad), client.subscribe(&bad)] {
            assert_eq!(
                sub.recv_timeout(TIMEOUT).unwrap_err(),
                RecvTimeoutError::Disconnected,
                "{bad}"
            );
        }
        assert!(host.get_all(&bad).is_empty(), "{bad}");
    }
    assert_eq!(host.get_all("arm/**").len(), 1, "nothing was drained");
}

#[test]
fn get_all_timeout_with_an_invalid_pattern_returns_at_once_as_with_an_invalid_name() {
    let host = host();
    let mut waiters = vec![String::new()];
    waiters.extend(bad_patterns());
    let waiters: Vec<_> = waiters
        .into_iter()
        .map(|channel| {
            let host = host.clone();
            std::thread::spawn(move || host.get_all_timeout(&channel, Duration::MAX))
        })
        .collect();
    let returned = util::wait_until(TIMEOUT, || waiters.iter().all(|w| w.is_finished()));
    let finished: Vec<bool> = waiters.iter().map(|w| w.is_finished()).collect();
    // Closing wakes any waiter left.
    host.close();
    assert!(
        returned,
        "returned: {finished:?} (empty name, `*` inside, 256 bytes)"
    );
    for waiter in waiters {
        assert!(waiter.join().unwrap().is_empty());
    }
}

#[test]
fn a_pathological_pattern_of_255_bytes_is_matched_without_backtracking() {
    let worst = worst_pattern();
    let miss = format!("{}a", "a/".repeat(127));
    let hit = format!("{}bb", "a/".repeat(126));
    assert_eq!((worst.len(), miss.len()), (255, 255));
    let host = host();
    let writer = client(&host, "writer");
    let picky = client(&host, "picky");
    let sub = host.subscribe(&worst);
    picky.interest([worst.as_str()]).unwrap();
    writer.write_lock(&miss, "m").unwrap();
    writer.write_lock(&hit, "h").unwrap();
    wait_received(&host, &hit, 1);
    // Matched on another thread so a matcher that never ends fails in time.
    let matching = {
        let (host, worst, miss, hit) = (host.clone(), worst.clone(), miss.clone(), hit.clone());
        std::thread::spawn(move || {
            // Once the host has the declaration, a broadcast on `miss`
            // reaches the writer alone.
            let applied = util::wait_until(TIMEOUT, || host.write(&miss, "m").unwrap() == 1);
            let both = host.write(&hit, "h").unwrap();
            let drained: Vec<String> = host.get_all(&worst).iter().map(label).collect();
            (applied, both, drained)
        })
    };
    let done = util::wait_until(TIMEOUT, || matching.is_finished());
    assert!(done, "matching a 255-byte pattern did not finish");
    let (applied, both, drained) = matching.join().unwrap();
    assert!(applied, "the interest never kept the miss from picky");
    assert_eq!(both, 2);
    assert_eq!(drained, [format!("{hit}=h")]);
    let got = sub.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(label(&got), format!("{hit}=h"), "the miss never matched");
    assert_eq!(
        host.get_all(&miss).len(),
        1,
        "the miss is its own channel's"
    );
    assert!(util::wait_until(TIMEOUT, || picky.get(&hit).is_some()));
}

#[test]
fn get_all_with_a_pattern_drains_the_matching_channels_in_name_order() {
    let host = host();
    let client = client(&host, "robot");
    for (channel, value) in [
        ("arm/right", "r1"),
        ("arm/left", "l1"),
        ("leg/left", "x"),
        ("arm/left", "l2"),
    ] {
        client.write_lock(channel, value).unwrap();
    }
    wait_received(&host, "arm/left", 2);
    wait_received(&host, "leg/left", 1);
    let drained: Vec<String> = host.get_all("arm/*").iter().map(label).collect();
    assert_eq!(drained, ["arm/left=l1", "arm/left=l2", "arm/right=r1"]);
    assert!(host.get_all("arm/*").is_empty());
    assert_eq!(
        host.get_all("leg/left").len(),
        1,
        "other channels untouched"
    );
}

#[test]
fn a_pattern_is_not_a_channel_to_write_to() {
    let host = host();
    let client = client(&host, "robot");
    let payload = Bytes::from_static(b"p");
    for name in ["arm/*", "**", "a/**/b"] {
        let err = client.write(name, payload.clone()).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidChannel { .. }),
            "{name}: {err}"
        );
        assert_eq!(err.into_payload(), Some(payload.clone()));
        assert!(host.write(name, payload.clone()).is_err());
    }
    client
        .write_lock("cam*", "a `*` inside a segment is a plain name")
        .unwrap();
    wait_received(&host, "cam*", 1);
}

#[test]
fn a_declared_interest_keeps_other_channels_from_a_clients_connection() {
    let host = host();
    let picky = client(&host, "picky");
    let greedy = client(&host, "greedy");
    picky.interest(["pose", "arm/**"]).unwrap();
    // The host applies a declaration once it reads it: wait until a
    // broadcast on an uninteresting channel skips the picky client.
    assert!(util::wait_until(TIMEOUT, || host
        .write("probe", "p")
        .unwrap()
        == 1));
    let frame =
        socketengine::Image::new(64, 48, socketengine::PixelFormat::Gray8, vec![1u8; 64 * 48])
            .unwrap();
    assert_eq!(
        host.write("camera", &frame).unwrap(),
        1,
        "only the greedy client"
    );
    assert_eq!(host.write_lock("pose", "x=1").unwrap(), 2);
    assert_eq!(host.write_lock("arm/left/joint3", "7").unwrap(), 2);
    // Sent by id, a message is not filtered.
    host.to(picky.id()).write_lock("camera", &frame).unwrap();
    host.write_lock("marker", "m").unwrap();
    host.to(picky.id()).write_lock("by-id", "m").unwrap();
    assert!(util::wait_until(TIMEOUT, || greedy.get("marker").is_some()));
    assert!(util::wait_until(TIMEOUT, || picky.get("by-id").is_some()));
    assert!(picky.get("marker").is_none(), "a broadcast it did not want");
    assert_eq!(
        picky.get("pose").map(|m| label(&m)),
        Some("pose=x=1".into())
    );
    assert!(picky.get("arm/left/joint3").is_some());
    assert_eq!(
        picky.image_stats("camera").received,
        1,
        "the one sent by id"
    );
    assert_eq!(greedy.image_stats("camera").received, 1);
    // Everything again.
    picky.interest(["**"]).unwrap();
    assert!(util::wait_until(TIMEOUT, || host
        .write("probe", "p")
        .unwrap()
        == 2));
}

#[test]
fn a_relay_honours_interest_and_a_bad_pattern_is_refused_before_sending() {
    let host = util::host_with(|b| b.relay(socketengine::Relay::Others));
    let camera = client(&host, "camera");
    let planner = client(&host, "planner");
    planner.interest(["pose"]).unwrap();
    let poses = planner.subscribe("pose");
    // The declaration reaches the host on another connection than the
    // camera's frames, so frames written before the host reads it may reach
    // the planner. Once it applies, a frame written just before a pose no
    // longer arrives ahead of that pose; poses always do.
    let frame_skipped = |n: usize| {
        let frame = format!("frame {n}");
        camera.write_lock("camera", frame.clone()).unwrap();
        camera.write_lock("pose", "p").unwrap();
        poses.recv_timeout(TIMEOUT).is_ok()
            && planner
                .get("camera")
                .is_none_or(|m| m.payload()[..] != *frame.as_bytes())
    };
    let mut n = 0;
    assert!(util::wait_until(TIMEOUT, || {
        n += 1;
        frame_skipped(n)
    }));
    assert!(
        (n + 1..n + 20).all(frame_skipped),
        "a frame reached the planner after its interest applied"
    );
    let err = planner.interest(["cam*era"]).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidChannel { .. }),
        "{err}"
    );
}

#[test]
fn an_interest_over_32_patterns_or_with_an_overlong_one_is_refused_before_sending() {
    let host = host();
    let picky = client(&host, "picky");
    let _greedy = client(&host, "greedy");
    let names: Vec<String> = (0..33).map(|i| format!("ch{i}")).collect();
    let err = picky.interest(&names).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidTarget(_)), "{err}");
    for bad in bad_patterns() {
        let err = picky.interest([bad.as_str(), "pose"]).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidChannel { .. }),
            "{bad}: {err}"
        );
    }
    // Nothing refused reached the host: picky still takes every broadcast.
    assert_eq!(host.write_lock("ch32", "all").unwrap(), 2);
    // The cap itself, and a 255-byte pattern, are taken.
    let mut at_cap = names[..31].to_vec();
    at_cap.push(worst_pattern());
    picky.interest(&at_cap).unwrap();
    assert!(util::wait_until(TIMEOUT, || host
        .write("ch32", "p")
        .unwrap()
        == 1));
    assert_eq!(host.write_lock("ch30", "x").unwrap(), 2);
    assert!(picky.is_connected());
}

#[test]
fn get_all_timeout_with_a_pattern_waits_for_any_matching_channel() {
    let host = host();
    let client = client(&host, "robot");
    let waiter = {
        let host = host.clone();
        std::thread::spawn(move || host.get_all_timeout("arm/**", TIMEOUT))
    };
    // Written until the waiter has taken one (it subscribes at once).
    let mut attempts = 0;
    while !waiter.is_finished() {
        client.write_lock("arm/left", "go").unwrap();
        attempts += 1;
        assert!(attempts < 100_000, "the waiter never woke");
    }
    let got = waiter.join().unwrap();
    assert!(!got.is_empty() && got.iter().all(|m| m.channel() == "arm/left"));
    assert!(
        !host.channels().iter().any(|c| c.contains('*')),
        "a pattern never becomes a channel: {:?}",
        host.channels()
    );
}
