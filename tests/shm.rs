//! Images through shared memory between a host and its clients on loopback
//! (`shared_memory_images`): negotiated when both ends ask, byte-identical,
//! released and reused, over the socket and counted when the receiver
//! holds every slot, relayed through a host, no segment held past its use
//! and nothing named in `/dev/shm`, and a bogus image operation closing only
//! its own connection. Attacks on the path: `tests/shm_attacks.rs`.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

#[path = "util/shm.rs"]
mod shm_util;
mod util;

use std::io::Write;
use std::time::Duration;

use shm_util::{
    closed_with, control, gray_image_op, holds, host_offer, raw_segment, read_answer, read_offer,
};
use socketengine::protocol::{
    Header, Kind, OP_SHM_ANSWER, OP_SHM_IMAGE, OP_SHM_OFFER, OP_SHM_RELEASE, SHM_CHANNEL,
    ShmAnswer, ShmStatus, decode_release,
};
use socketengine::{
    Client, Event, Host, IMAGE_CHANNEL, Image, PixelFormat, Relay, SharedMemoryStats,
};
use util::{
    TIMEOUT, client_with, host_with, noise, raw_handshake, read_frame, wait_image, wait_received,
    wait_until,
};

fn shm_host() -> Host {
    host_with(|b| b.shared_memory_images(true))
}

fn shm_client(host: &Host, name: &str) -> Client {
    client_with(host, name, |b| b.shared_memory_images(true))
}

/// A 64 × 48 RGB image of noise, numbered `seq`.
fn small(seq: u64) -> Image {
    let pixels = noise(seq, 64 * 48 * 3);
    Image::new(64, 48, PixelFormat::Rgb8, pixels)
        .unwrap()
        .with_seq(seq)
}

/// A client of `host` whose segment holds `slots` of the [`small`]
/// images, once the host mapped it.
fn cam_with_slots(host: &Host, slots: usize) -> Client {
    let cam = client_with(host, "cam", |b| {
        b.shared_memory_images(true)
            .shared_memory_segment(slots * 64 * 48 * 3)
    });
    first_image_mapped(&cam);
    cam
}

/// Waits until the host mapped `cam`'s segment, which the camera makes at
/// its first image for the host (written here on `first`: it goes over
/// the socket, holding no slot).
fn first_image_mapped(cam: &Client) {
    cam.write_lock("first", small(0)).unwrap();
    wait_stats(|| cam.shared_memory_stats(), |s| s.mapped == 1);
}

/// The host writes image `seq` to its client `name` (which may make its
/// segment for it, the image going over the socket), waits until the
/// host has one segment mapped (its only one in the tests that call this),
/// and shows image `seq + 1` arrives through it.
fn host_images_through_a_segment(host: &Host, client: &Client, name: &str, seq: u64) {
    host.to(name).write(IMAGE_CHANNEL, small(seq)).unwrap();
    wait_stats(|| host.shared_memory_stats(), |s| s.mapped == 1);
    host.to(name)
        .write_lock(IMAGE_CHANNEL, small(seq + 1))
        .unwrap();
    let got = wait_image(|| client.get_image(IMAGE_CHANNEL), seq + 1);
    assert!(in_a_segment(got.data().as_ptr()), "through the segment");
}

/// Waits until `stats` (of one handle) holds `cond`.
fn wait_stats(stats: impl Fn() -> SharedMemoryStats, cond: impl Fn(&SharedMemoryStats) -> bool) {
    assert!(wait_until(TIMEOUT, || cond(&stats())), "{:?}", stats());
}

/// Whether `ptr` lies in one of this process's mappings of a segment.
fn in_a_segment(ptr: *const u8) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter(|line| line.contains("/memfd:socketengine-"))
        .any(|line| {
            let range = line.split_whitespace().next().unwrap();
            let (lo, hi) = range.split_once('-').unwrap();
            let lo = usize::from_str_radix(lo, 16).unwrap();
            let hi = usize::from_str_radix(hi, 16).unwrap();
            (lo..hi).contains(&(ptr as usize))
        })
}

#[test]
fn images_go_both_ways_through_shared_memory_byte_identical() {
    let host = shm_host();
    let cam = shm_client(&host, "cam");
    // Each end makes its segment at its first image for the other.
    first_image_mapped(&cam);
    host.to(cam.id()).write_lock("first", small(0)).unwrap();
    wait_stats(|| host.shared_memory_stats(), |s| s.mapped == 1);
    for seq in 1..=5 {
        let sent = small(seq);
        cam.write_lock(IMAGE_CHANNEL, &sent).unwrap();
        let got = wait_image(|| host.get_image(IMAGE_CHANNEL), seq);
        assert_eq!(got, sent);
        assert!(in_a_segment(got.data().as_ptr()), "no copy: in the mapping");
        host.to(cam.id()).write_lock("back", &sent).unwrap();
        let back = wait_image(|| cam.get_image("back"), seq);
        assert_eq!(back, sent);
        assert!(in_a_segment(back.data().as_ptr()));
    }
    assert_eq!(cam.shared_memory_stats().sent, 5);
    assert_eq!(host.shared_memory_stats().sent, 5);
    assert_eq!(cam.image_stats(IMAGE_CHANNEL).sent, 5);
    assert_eq!(host.image_stats(IMAGE_CHANNEL).received, 5);
    // Both segments' names were removed once answered.
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let segments: Vec<&str> = maps
        .lines()
        .filter(|l| l.contains("socketengine-"))
        .collect();
    assert!(segments.len() >= 2, "{segments:?}");
    assert!(
        segments.iter().all(|l| l.ends_with("(deleted)")),
        "{segments:?}"
    );
}

#[test]
fn one_end_off_keeps_images_on_the_socket_counted() {
    for (host_on, client_on) in [(true, false), (false, true)] {
        let host = host_with(|b| b.shared_memory_images(host_on));
        let cam = client_with(&host, "cam", |b| b.shared_memory_images(client_on));
        // The first images make the offering end's segment, declined.
        let first = small(1);
        cam.write_lock(IMAGE_CHANNEL, &first).unwrap();
        host.to(cam.id()).write_lock("back", &first).unwrap();
        let (offering, stats): (&str, SharedMemoryStats) = match host_on {
            true => {
                wait_stats(|| host.shared_memory_stats(), |s| s.fallbacks == 1);
                ("host", host.shared_memory_stats())
            }
            false => {
                wait_stats(|| cam.shared_memory_stats(), |s| s.fallbacks == 1);
                ("client", cam.shared_memory_stats())
            }
        };
        assert_eq!(stats.mapped, 0, "{offering}");
        let sent = small(2);
        cam.write_lock(IMAGE_CHANNEL, &sent).unwrap();
        host.to(cam.id()).write_lock("back", &sent).unwrap();
        assert_eq!(wait_image(|| host.get_image(IMAGE_CHANNEL), 2), sent);
        assert_eq!(wait_image(|| cam.get_image("back"), 2), sent);
        assert_eq!(cam.shared_memory_stats().sent, 0);
        assert_eq!(host.shared_memory_stats().sent, 0);
    }
}

#[test]
fn released_slots_are_reused_for_more_images_than_the_segment_holds() {
    let host = shm_host();
    let cam = cam_with_slots(&host, 4);
    // Three times the segment's slots, each image read and let go; one
    // written while the release of a slot is on its way goes over the
    // socket (a locked write never waits for a slot).
    let mut seq = 0;
    let reused = wait_until(TIMEOUT, || {
        seq += 1;
        let sent = small(seq);
        cam.write_lock(IMAGE_CHANNEL, &sent).unwrap();
        assert_eq!(wait_image(|| host.get_image(IMAGE_CHANNEL), seq), sent);
        drop(host.get_all(IMAGE_CHANNEL));
        cam.shared_memory_stats().sent >= 12
    });
    let stats = cam.shared_memory_stats();
    assert!(reused, "{stats:?}");
    assert_eq!(stats.sent + stats.full, seq);
}

#[test]
fn an_image_larger_than_the_segment_goes_over_the_socket() {
    let host = shm_host();
    let cam = cam_with_slots(&host, 1);
    let large = Image::new(128, 96, PixelFormat::Rgb8, noise(5, 128 * 96 * 3))
        .unwrap()
        .with_seq(5);
    cam.write_lock(IMAGE_CHANNEL, &large).unwrap();
    let got = wait_image(|| host.get_image(IMAGE_CHANNEL), 5);
    assert_eq!(got, large);
    assert!(!in_a_segment(got.data().as_ptr()), "read from the socket");
    cam.write_lock(IMAGE_CHANNEL, small(6)).unwrap();
    let got = wait_image(|| host.get_image(IMAGE_CHANNEL), 6);
    assert!(
        in_a_segment(got.data().as_ptr()),
        "a fitting one still goes through it"
    );
    assert_eq!(cam.shared_memory_stats().sent, 1);
}

#[test]
fn a_receiver_holding_every_slot_makes_images_go_over_the_socket_counted() {
    let host = shm_host();
    let cam = cam_with_slots(&host, 3);
    // The host keeps the latest and its queue: three images fill the
    // segment; the rest go over the socket, the newest of them arriving.
    for seq in 1..=10 {
        cam.write(IMAGE_CHANNEL, small(seq)).unwrap();
    }
    // (How many take a slot depends on when the loops run — a slot given
    // back meanwhile takes a fourth — their sum does not.)
    let stats = cam.shared_memory_stats();
    assert_eq!(stats.sent + stats.full, 10, "{stats:?}");
    assert!(stats.sent >= 3 && stats.full >= 1, "{stats:?}");
    let newest = wait_image(|| host.get_image(IMAGE_CHANNEL), 10);
    assert!(newest.data() == small(10).data());
    // Once the host lets go of all but the latest, images take slots again.
    drop(host.get_all(IMAGE_CHANNEL));
    let mut seq = 10;
    let went = wait_until(TIMEOUT, || {
        seq += 1;
        cam.write(IMAGE_CHANNEL, small(seq)).unwrap();
        cam.shared_memory_stats().sent > stats.sent
    });
    assert!(went, "{:?}", cam.shared_memory_stats());
}

#[test]
fn a_host_relays_a_clients_shared_image_to_another_from_its_own_segment() {
    let host = host_with(|b| b.shared_memory_images(true).relay(Relay::Others));
    let cam = shm_client(&host, "cam");
    let viewer = shm_client(&host, "viewer");
    // The camera's first image makes its segment, and the host's for the
    // viewer it relays it to; the host sends the camera none.
    first_image_mapped(&cam);
    wait_stats(|| host.shared_memory_stats(), |s| s.mapped == 1);
    for seq in 1..=20 {
        let sent = small(seq);
        cam.write_lock(IMAGE_CHANNEL, &sent).unwrap();
        let got = wait_image(|| viewer.get_image(IMAGE_CHANNEL), seq);
        assert_eq!(got, sent);
        assert!(in_a_segment(got.data().as_ptr()));
    }
    // The relayed copies hold none of the camera's slots.
    assert!(host.shared_memory_stats().sent >= 1);
    assert_eq!(cam.shared_memory_stats().full, 0);
}

#[test]
fn an_unanswered_offer_is_closed_when_the_peer_dies_and_never_named() {
    let host = shm_host();
    let (mut raw, raw_id) = raw_handshake(&host, "mute");
    let offer = host_offer(&host, &mut raw, raw_id);
    assert_eq!(offer.pid, std::process::id());
    assert!(holds(&offer), "open until answered");
    let path = std::path::Path::new("/dev/shm").join(offer.name.as_str());
    assert!(!path.exists(), "nothing named in /dev/shm");
    drop(raw);
    assert!(wait_until(TIMEOUT, || !holds(&offer)), "{offer:?} held");
}

#[test]
fn an_offer_never_answered_is_withdrawn_at_its_deadline_and_images_stay_on_the_socket() {
    let host = host_with(|b| {
        b.shared_memory_images(true)
            .shared_memory_answer_timeout(Duration::from_millis(50))
    });
    let events = host.events();
    // A peer that takes part in the handshake and never answers the offer.
    let (mut raw, raw_id) = raw_handshake(&host, "mute");
    let offer = host_offer(&host, &mut raw, raw_id);
    wait_stats(
        || host.shared_memory_stats(),
        |s| (s.unanswered, s.fallbacks, s.mapped) == (1, 1, 0),
    );
    assert!(!holds(&offer), "{offer:?} held");
    // An answer after the deadline changes nothing (the segment is gone);
    // a message behind it on the connection shows the host has read it.
    let late = ShmAnswer {
        status: ShmStatus::Mapped,
        name: offer.name.clone(),
    };
    raw.write_all(&control(OP_SHM_ANSWER, SHM_CHANNEL, &late.encode()))
        .unwrap();
    let mark = Header::new(Kind::Data, "mark").to_bytes(b"x").unwrap();
    raw.write_all(&mark).unwrap();
    util::wait_received(&host, "mark", 1);
    assert_eq!(host.shared_memory_stats().mapped, 0);
    // The host's images to it go over the socket, the connection open.
    host.to(raw_id).write("back", small(1)).unwrap();
    let image = (0..64)
        .map(|_| read_frame(&mut raw).kind)
        .find(|kind| matches!(kind, Kind::Image(_) | Kind::Control { op: OP_SHM_IMAGE }));
    assert!(matches!(image, Some(Kind::Image(_))), "{image:?}");
    assert_eq!(host.shared_memory_stats().sent, 0);
    let events: Vec<Event> = std::iter::from_fn(|| events.try_recv().ok()).collect();
    assert!(
        events.iter().all(|e| matches!(e, Event::Connected { .. })),
        "{events:?}"
    );
}

#[test]
fn a_client_withdraws_its_offer_to_a_host_that_never_answers() {
    // A host of an older build: it welcomes the client and drops the offer.
    let (addr, fake) = util::fake_host(util::accepted_welcome(7));
    let cam = Client::builder()
        .addr(addr.to_string())
        .name("cam")
        .shared_memory_images(true)
        .shared_memory_answer_timeout(Duration::from_millis(50))
        .connect()
        .unwrap();
    let mut host_side = fake.join().unwrap();
    cam.write(IMAGE_CHANNEL, small(1)).unwrap();
    let offer = read_offer(&mut host_side);
    wait_stats(
        || cam.shared_memory_stats(),
        |s| (s.unanswered, s.fallbacks, s.mapped) == (1, 1, 0),
    );
    assert!(!holds(&offer), "{offer:?} held");
}

#[test]
fn a_declined_offer_is_closed_at_once_and_counted() {
    let host = shm_host();
    let (mut raw, raw_id) = raw_handshake(&host, "declines");
    let offer = host_offer(&host, &mut raw, raw_id);
    let answer = ShmAnswer {
        status: ShmStatus::Off,
        name: offer.name.clone(),
    };
    raw.write_all(&control(OP_SHM_ANSWER, SHM_CHANNEL, &answer.encode()))
        .unwrap();
    assert!(wait_until(TIMEOUT, || !holds(&offer)), "{offer:?} held");
    wait_stats(|| host.shared_memory_stats(), |s| s.fallbacks == 1);
}

#[test]
fn an_image_outside_the_segment_closes_only_its_connection() {
    let host = shm_host();
    let events = host.events();
    let good = shm_client(&host, "good");
    let (mut raw, raw_id) = raw_handshake(&host, "liar");
    let segment = raw_segment(4096, [1; 16], true);
    let offer = segment.offer.encode();
    raw.write_all(&control(OP_SHM_OFFER, SHM_CHANNEL, &offer))
        .unwrap();
    assert_eq!(read_answer(&mut raw).status, ShmStatus::Mapped);
    // 300 bytes at 4000 run past the 4096 mapped.
    raw.write_all(&gray_image_op(300, 4000)).unwrap();
    closed_with(&events, raw_id, "image past the segment");
    util::assert_closed_by_peer(&mut raw);
    // The other client carries on, through its own mapping.
    let sent = small(9);
    good.write_lock(IMAGE_CHANNEL, &sent).unwrap();
    assert_eq!(wait_image(|| host.get_image(IMAGE_CHANNEL), 9), sent);
}

#[test]
fn an_image_operation_without_a_mapped_segment_closes_its_connection() {
    let host = host_with(|b| b);
    let events = host.events();
    let (mut raw, raw_id) = raw_handshake(&host, "early");
    raw.write_all(&gray_image_op(1, 0)).unwrap();
    closed_with(&events, raw_id, "image without a mapped segment");
}

#[test]
fn a_burst_of_dropped_images_releases_each_slot_once() {
    let host = shm_host();
    let (mut raw, _) = raw_handshake(&host, "sender");
    let segment = raw_segment(4096, [2; 16], true);
    let offer = segment.offer.encode();
    raw.write_all(&control(OP_SHM_OFFER, SHM_CHANNEL, &offer))
        .unwrap();
    assert_eq!(read_answer(&mut raw).status, ShmStatus::Mapped);
    // 20 images of 64 bytes, each in a slot of its own.
    let offsets: Vec<u64> = (0..20).map(|i| i * 64).collect();
    for &offset in &offsets {
        raw.write_all(&gray_image_op(64, offset)).unwrap();
    }
    util::wait_received(&host, "cam", 20);
    // The queue's overflow went as it came; the rest go at once (the store
    // keeps a copy of a latest value this small, not the view).
    drop(host.get_all("cam"));
    let mut released = Vec::new();
    for _ in 0..200 {
        if released.len() >= offsets.len() {
            break;
        }
        let frame = read_frame(&mut raw);
        if frame.kind == (Kind::Control { op: OP_SHM_RELEASE }) {
            released.extend(decode_release(&frame.payload).unwrap());
        }
    }
    released.sort_unstable();
    assert_eq!(released, offsets, "each released once");
}

#[test]
fn writers_on_several_threads_share_one_segment_byte_identical() {
    let host = shm_host();
    let cam = cam_with_slots(&host, 64);
    std::thread::scope(|scope| {
        for thread in 0..4 {
            let cam = &cam;
            scope.spawn(move || {
                for seq in 1..=25 {
                    let image = small(thread * 1000 + seq);
                    cam.write_lock(&format!("cam{thread}"), image).unwrap();
                }
            });
        }
    });
    for thread in 0..4 {
        let channel = format!("cam{thread}");
        wait_image(|| host.get_image(&channel), thread * 1000 + 25);
        for image in host.get_all(&channel) {
            let image = image.image().unwrap();
            let seq = image.seq();
            assert!(image.data() == small(seq).data(), "{channel} {seq}");
        }
    }
    // The first 64 fill the segment; any later one that found its slots
    // held went over the socket.
    let stats = cam.shared_memory_stats();
    assert!(stats.sent >= 64, "{stats:?}");
    assert_eq!(stats.sent + stats.full, 100);
}

#[test]
fn segments_past_the_handles_limit_leave_images_on_the_socket_until_one_goes() {
    let segment = 64 * 48 * 3 * 4;
    let host = host_with(|b| {
        b.shared_memory_images(true)
            .shared_memory_segment(segment)
            .shared_memory_limit(segment)
    });
    // The clients' own segments, half as long, both fit the host's limit
    // of what it maps (counted apart from what it makes).
    let half = |b: socketengine::ClientBuilder| {
        b.shared_memory_images(true)
            .shared_memory_segment(segment / 2)
    };
    let first = client_with(&host, "first", half);
    host.to("first").write(IMAGE_CHANNEL, small(0)).unwrap();
    wait_stats(|| host.shared_memory_stats(), |s| s.mapped == 1);
    // The host's segment for a second client would pass its limit.
    let second = client_with(&host, "second", half);
    host.to("second").write(IMAGE_CHANNEL, small(0)).unwrap();
    wait_stats(|| host.shared_memory_stats(), |s| s.fallbacks == 1);
    first_image_mapped(&second);
    host.to("second").write(IMAGE_CHANNEL, small(1)).unwrap();
    wait_image(|| second.get_image(IMAGE_CHANNEL), 1);
    assert_eq!(host.shared_memory_stats().sent, 0);
    // The first gone, its segment's bytes return: the second's next image
    // tries again (over the socket itself) and gets one, counted once.
    drop(first);
    wait_stats(|| host.shared_memory_stats(), |s| s.mapped == 0);
    host_images_through_a_segment(&host, &second, "second", 2);
    assert_eq!(host.shared_memory_stats().fallbacks, 1);
}

#[test]
fn a_segment_of_no_bytes_offers_none_and_the_connection_carries_on() {
    let host = host_with(|b| b.shared_memory_images(true).shared_memory_segment(0));
    let cam = shm_client(&host, "cam");
    // The host maps the client's segment; it offers none of its own.
    first_image_mapped(&cam);
    cam.write(IMAGE_CHANNEL, small(1)).unwrap();
    let got = wait_image(|| host.get_image(IMAGE_CHANNEL), 1);
    assert!(in_a_segment(got.data().as_ptr()), "the client's segment");
    host.to("cam").write(IMAGE_CHANNEL, small(2)).unwrap();
    let got = wait_image(|| cam.get_image(IMAGE_CHANNEL), 2);
    assert!(!in_a_segment(got.data().as_ptr()), "over the socket");
    assert_eq!(host.shared_memory_stats().mapped, 0);
}

#[test]
fn a_peer_sent_no_images_holds_no_segment_and_leaves_the_limit_to_those_that_are() {
    // A limit of one segment: before segments waited for the first image,
    // two clients that only exchange control took it (and their memory),
    // and the viewer that came next got its images over the socket.
    let segment = 64 * 48 * 3 * 4;
    let host = host_with(|b| {
        b.shared_memory_images(true)
            .shared_memory_segment(segment)
            .shared_memory_limit(segment)
    });
    let controls: Vec<Client> = (0..2)
        .map(|i| shm_client(&host, &format!("control{i}")))
        .collect();
    for (i, control) in controls.iter().enumerate() {
        control.write_lock("cmd", b"go".as_slice()).unwrap();
        host.to(control.id())
            .write_lock("state", b"ok".as_slice())
            .unwrap();
        wait_received(&host, "cmd", i as u64 + 1);
        let got = wait_until(TIMEOUT, || control.get("state").is_some());
        assert!(got, "control{i}");
    }
    // No image either way, no segment either way (this process's maps hold
    // other tests' segments, so the stats tell).
    for stats in controls
        .iter()
        .map(|control| control.shared_memory_stats())
        .chain([host.shared_memory_stats()])
    {
        assert_eq!((stats.mapped, stats.fallbacks), (0, 0), "{stats:?}");
    }
    // The viewer's images go through the one segment the limit allows.
    let viewer = shm_client(&host, "viewer");
    host_images_through_a_segment(&host, &viewer, "viewer", 1);
    assert_eq!(host.shared_memory_stats().fallbacks, 0);
    drop(controls);
}

#[test]
fn a_connection_that_ends_while_its_segment_is_made_leaves_the_next_one_a_segment() {
    // The security review of lazy segments: a limit of one segment, the
    // connection kicked while its segment (tens of milliseconds to make)
    // is being made; the reconnected client's first image then found the
    // budget still held by the dead connection's segment and kept its
    // images on the socket for good.
    let segment = 64 << 20;
    let host = shm_host();
    let host_events = host.events();
    let cam = client_with(&host, "cam", |b| {
        b.shared_memory_images(true)
            .shared_memory_segment(segment)
            .shared_memory_limit(segment)
            .redial_after_kick(true)
            .reconnect_backoff(Duration::from_millis(1), Duration::from_millis(5))
    });
    let connected = |events: &socketengine::Events| {
        let got = wait_until(TIMEOUT, || {
            matches!(events.try_recv(), Ok(Event::Connected { .. }))
        });
        assert!(got, "no connection");
    };
    connected(&host_events);
    for round in 0..3 {
        // The first image on the connection (written once the client has
        // the welcome) starts making the segment; kicked at once.
        let written = wait_until(TIMEOUT, || cam.write(IMAGE_CHANNEL, small(round)).is_ok());
        assert!(written, "round {round}: not connected");
        host.disconnect(cam.id(), "kick").unwrap();
        connected(&host_events);
        let mut seq = 100 * (round + 1);
        let mapped = wait_until(TIMEOUT, || {
            seq += 1;
            let _ = cam.write(IMAGE_CHANNEL, small(seq));
            cam.shared_memory_stats().mapped == 1
        });
        assert!(mapped, "round {round}: {:?}", cam.shared_memory_stats());
        host.disconnect(cam.id(), "kick").unwrap();
        connected(&host_events);
    }
}
