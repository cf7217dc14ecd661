//! Allocation as bytes arrive: a frame's or an image's announced length
//! reserves nothing until its bytes come; what is in progress is charged to
//! the handle's memory limit (images also capped per connection); an image
//! that does not fit, or does not arrive whole within the partial timeout,
//! is dropped and counted, and a frame that does not arrive whole in time
//! closes its connection with a typed error, and the others carry on.
#![allow(clippy::unwrap_used)]

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use socketengine::protocol::{Decoder, Header, ImageMeta, Kind, OP_IMAGE_ACK};
use socketengine::{ErrorKind, Host, IMAGE_CHANNEL, Image, PixelFormat};
use util::{
    TIMEOUT, assert_closed_by_peer, client, frame_1080p, host_with, next_error, raw_handshake,
    wait_until,
};

const K: usize = 1 << 10;
const M: usize = 1 << 20;

/// A short partial timeout, for the tests that wait it out.
const SHORT: Duration = Duration::from_millis(300);

/// The first frame of a JPEG image of `total` bytes on `channel`, carrying
/// `first` bytes of it.
fn image_start(channel: &str, seq: u64, total: usize, first: usize) -> Vec<u8> {
    let meta = ImageMeta {
        width: 1,
        height: 1,
        format: PixelFormat::Jpeg.code(),
        stride: 0,
        seq,
        timestamp_ns: 0,
        total_len: total as u64,
    };
    let frame = Header::new(Kind::Image(meta), channel).to_bytes(&vec![7; first]);
    frame.unwrap().to_vec()
}

/// A chunk frame of image `seq` on `channel`: `len` bytes at `offset`.
fn image_chunk(channel: &str, seq: u64, offset: usize, len: usize) -> Vec<u8> {
    let kind = Kind::ImageChunk {
        seq,
        offset: offset as u64,
    };
    Header::new(kind, channel)
        .to_bytes(&vec![8; len])
        .unwrap()
        .to_vec()
}

/// Reads frames from the host on a raw connection until it has acknowledged
/// `total` image bytes.
fn wait_acked(stream: &mut TcpStream, total: usize) {
    let mut decoder = Decoder::new(64 * M);
    let mut buf = BytesMut::new();
    let deadline = Instant::now() + TIMEOUT;
    for _ in 0..100_000 {
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            if matches!(frame.kind, Kind::Control { op: OP_IMAGE_ACK }) {
                let acked = u64::from_le_bytes(frame.payload[..].try_into().unwrap());
                if acked == total as u64 {
                    return;
                }
            }
        }
        assert!(Instant::now() < deadline, "not acknowledged in time");
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the host closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
    panic!("too many frames before the acknowledgement");
}

/// Waits until `host` holds the image numbered `seq` on the image channel.
fn wait_image(host: &Host, seq: u64) {
    let arrived = wait_until(TIMEOUT, || {
        host.get_image(IMAGE_CHANNEL)
            .is_some_and(|img| img.seq() == seq)
    });
    assert!(arrived, "image {seq} did not arrive");
}

/// Raw connections that each start as many images as the wire allows, each
/// announcing 64 MiB and sending 1 KiB; returns them once the host has
/// taken every byte.
fn announce_64_mib_images(host: &Host, connections: usize) -> Vec<TcpStream> {
    let mut raws = Vec::new();
    for c in 0..connections {
        let (mut raw, _) = raw_handshake(host, &format!("greedy{c}"));
        let headers: Vec<u8> = (0..16)
            .flat_map(|cam| image_start(&format!("cam{cam}"), 0, 64 * M, K))
            .collect();
        raw.write_all(&headers).unwrap();
        wait_acked(&mut raw, 16 * K);
        raws.push(raw);
    }
    raws
}

#[test]
fn images_announced_at_64_mib_hold_what_arrived_and_a_camera_still_gets_through() {
    let host = host_with(|b| b.heartbeat(None).partial_timeout(Duration::from_secs(600)));
    let before = host.memory_used();
    // 8 connections × 16 images × 64 MiB: 8 GiB announced, 128 KiB sent.
    let raws = announce_64_mib_images(&host, 8);
    let held = host.memory_used() - before;
    assert!(held >= 128 * K, "what arrived is charged: {held}");
    assert!(held <= M, "{held} bytes held for 8 GiB announced");
    let cam = client(&host, "cam");
    for seq in 0..3 {
        cam.write_lock(IMAGE_CHANNEL, frame_1080p(seq)).unwrap();
    }
    wait_image(&host, 2);
    assert_eq!(host.image_stats(IMAGE_CHANNEL).incomplete, 0);
    drop(raws);
}

#[test]
fn an_image_that_does_not_fit_the_memory_limit_is_dropped_and_counted_and_the_next_arrives() {
    let host = host_with(|b| b.memory_limit(4 * M));
    let events = host.events();
    let cam = client(&host, "cam");
    // 6 MB do not fit in 4 MiB: dropped part way, its connection kept.
    cam.write_lock(IMAGE_CHANNEL, frame_1080p(0)).unwrap();
    let dropped = wait_until(TIMEOUT, || host.image_stats(IMAGE_CHANNEL).incomplete == 1);
    assert!(dropped, "{:?}", host.image_stats(IMAGE_CHANNEL));
    let small = Image::new(640, 480, PixelFormat::Rgb8, vec![1; 640 * 480 * 3]).unwrap();
    cam.write_lock(IMAGE_CHANNEL, small.with_seq(1)).unwrap();
    wait_image(&host, 1);
    let stats = host.image_stats(IMAGE_CHANNEL);
    assert_eq!((stats.received, stats.incomplete), (1, 1));
    assert!(events.try_iter().all(|e| !matches!(
        e,
        socketengine::Event::Error { .. } | socketengine::Event::Disconnected { .. }
    )));
}

#[test]
fn a_partial_image_past_the_deadline_is_dropped_and_its_connection_kept() {
    let host = host_with(|b| b.heartbeat(None).partial_timeout(SHORT));
    let before = host.memory_used();
    let (mut raw, _) = raw_handshake(&host, "slow");
    raw.write_all(&image_start("cam", 0, M, 100 * K)).unwrap();
    wait_acked(&mut raw, 100 * K);
    let dropped = wait_until(TIMEOUT, || host.image_stats("cam").incomplete == 1);
    assert!(dropped, "the image was not dropped");
    assert!(wait_until(TIMEOUT, || host.memory_used() == before));
    // The rest of it is taken and let go; the next image arrives.
    raw.write_all(&image_chunk("cam", 0, 100 * K, M - 100 * K))
        .unwrap();
    wait_acked(&mut raw, M);
    raw.write_all(&image_start("cam", 1, 10, 10)).unwrap();
    let arrived = wait_until(TIMEOUT, || {
        host.get_image("cam").is_some_and(|img| img.seq() == 1)
    });
    assert!(arrived, "{:?}", host.image_stats("cam"));
    assert_eq!(host.image_stats("cam").incomplete, 1);
    assert!(
        host.get_image("cam")
            .is_some_and(|img| img.data().len() == 10)
    );
}

#[test]
fn a_partial_large_frame_past_the_deadline_closes_its_connection_with_frame_timeout() {
    let host = host_with(|b| b.heartbeat(None).partial_timeout(SHORT));
    let events = host.events();
    let before = host.memory_used();
    let bystander = client(&host, "bystander");
    let (mut raw, raw_id) = raw_handshake(&host, "slowloris");
    let frame = Header::data("blob").to_bytes(&vec![0; 4 * M]).unwrap();
    raw.write_all(&frame[..200 * K]).unwrap();
    let (id, _, err) = next_error(&events);
    assert_eq!(id, Some(raw_id));
    assert!(
        matches!(err.kind(), ErrorKind::FrameTimeout(t) if *t == SHORT),
        "{err}"
    );
    assert_closed_by_peer(&mut raw);
    assert!(wait_until(TIMEOUT, || host.memory_used() == before));
    bystander.write_lock("ok", &b"unaffected"[..]).unwrap();
    util::wait_received(&host, "ok", 1);
    let clients = host.clients();
    assert!(clients.iter().any(|c| c.name == "bystander" && c.connected));
}

/// Set in the child process that runs under an address-space limit.
#[cfg(target_os = "linux")]
const UNDER_LIMIT: &str = "SOCKETENGINE_TEST_UNDER_RLIMIT_AS";

/// Runs itself again in a child process that limits its own address space
/// (`RLIMIT_AS`, with util-linux's `prlimit`) to what it uses plus 768 MiB,
/// then takes 2 GiB of announced images: reserving them would abort the
/// child ("memory allocation of 67108864 bytes failed").
#[cfg(target_os = "linux")]
#[test]
fn a_host_under_an_address_space_limit_keeps_serving_through_64_mib_headers() {
    const NAME: &str = "a_host_under_an_address_space_limit_keeps_serving_through_64_mib_headers";
    if std::env::var_os(UNDER_LIMIT).is_some() {
        return under_address_space_limit();
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
        .env(UNDER_LIMIT, "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let ran = stdout.contains("served under the limit");
    assert!(
        out.status.success() && ran,
        "{}\n{stdout}\n{stderr}",
        out.status
    );
}

#[cfg(target_os = "linux")]
fn under_address_space_limit() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let vm_kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let limit = vm_kib * K + 768 * M;
    let set = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--as={limit}"))
        .status()
        .expect("prlimit (util-linux) runs");
    assert!(set.success(), "prlimit: {set}");
    let host = host_with(|b| b.heartbeat(None).partial_timeout(Duration::from_secs(600)));
    // 2 × 16 × 64 MiB announced: 2 GiB, past the limit.
    let raws = announce_64_mib_images(&host, 2);
    assert!(host.memory_used() <= M, "{}", host.memory_used());
    let cam = client(&host, "cam");
    for seq in 0..3 {
        cam.write_lock(IMAGE_CHANNEL, frame_1080p(seq)).unwrap();
    }
    wait_image(&host, 2);
    drop(raws);
    println!("served under the limit of {limit} bytes");
}
