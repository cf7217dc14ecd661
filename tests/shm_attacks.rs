//! The shared-memory path under attack (regressions of its security
//! review): a segment cannot be truncated under a mapping, a file that is
//! not a sealed memory file (a FIFO, a regular file, a socket, a device, an
//! unsealed memory file) is refused without the host's loop waiting, a segment not
//! offered to a connection cannot be mapped through it, a second offer
//! closes its connection; and a reader of the latest image only is never
//! left with a frozen stream nor misses the newest image of a burst while
//! its queue holds every slot.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

#[path = "util/shm.rs"]
mod shm_util;
mod util;

use std::io::Write;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use shm_util::{
    closed_with, control, first_image, gray_image_op, host_offer, raw_segment, read_answer,
};
use socketengine::protocol::{
    Header, Kind, OP_SHM_OFFER, SHM_CHANNEL, SegmentName, ShmOffer, ShmStatus,
};
use socketengine::{Client, Host, IMAGE_CHANNEL, Image, PixelFormat};
use util::{TIMEOUT, client_with, host_with, raw_handshake, wait_image, wait_received, wait_until};

fn shm_host() -> Host {
    host_with(|b| b.shared_memory_images(true))
}

/// Sends `offer` from a raw peer and returns the host's answer's status.
fn offered(raw: &mut TcpStream, offer: &ShmOffer) -> ShmStatus {
    let frame = control(OP_SHM_OFFER, SHM_CHANNEL, &offer.encode());
    raw.write_all(&frame).unwrap();
    read_answer(raw).status
}

/// Waits until the host mapped `cam`'s segment, which the camera makes at
/// its first image (written here on `first`, over the socket).
fn first_image_mapped(cam: &Client) {
    cam.write_lock("first", first_image()).unwrap();
    assert!(wait_until(TIMEOUT, || cam.shared_memory_stats().mapped == 1));
}

/// Shows the host's loop still serves its connections: a message from
/// `raw` behind whatever it sent reaches the store.
fn still_served(host: &Host, raw: &mut TcpStream, count: u64) {
    let mark = Header::new(Kind::Data, "mark").to_bytes(b"x").unwrap();
    raw.write_all(&mark).unwrap();
    wait_received(host, "mark", count);
}

/// An offer of `pid`'s descriptor `fd` of 4096 bytes, under a name no
/// segment has.
fn offer_of(pid: u32, fd: u32) -> ShmOffer {
    ShmOffer {
        len: 4096,
        pid,
        fd,
        name: SegmentName::from_random([0x5a; 16]),
    }
}

#[test]
fn a_segment_cannot_be_truncated_under_the_receivers_mapping() {
    let host = shm_host();
    let (mut raw, raw_id) = raw_handshake(&host, "evil");
    let host_offer = host_offer(&host, &mut raw, raw_id);
    // The peer's own segment: mapped, then the peer tries to shrink it.
    let segment = raw_segment(1 << 20, [3; 16], true);
    assert_eq!(offered(&mut raw, &segment.offer), ShmStatus::Mapped);
    assert!(segment.file.set_len(0).is_err(), "sealed: cannot shrink");
    // Nor through another descriptor of it, nor the host's own segment.
    for (pid, fd) in [
        (segment.offer.pid, segment.offer.fd),
        (host_offer.pid, host_offer.fd),
    ] {
        let other = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/{pid}/fd/{fd}"))
            .unwrap();
        assert!(other.set_len(0).is_err(), "{pid} {fd}");
    }
    // An image larger than what the store copies: the reader's bytes stay
    // readable (before the redesign: SIGBUS in the reader).
    raw.write_all(&gray_image_op(65536, 0)).unwrap();
    let image = wait_image(|| host.get_image("cam"), 1);
    assert!(image.data().iter().all(|&b| b == 0));
    // A small one, which the host's loop copies (before: SIGBUS in the loop).
    raw.write_all(&gray_image_op(64, 65536)).unwrap();
    still_served(&host, &mut raw, 1);
}

#[test]
fn an_unsealed_memory_file_is_refused_and_counted() {
    let host = shm_host();
    let (mut raw, _) = raw_handshake(&host, "evil");
    let segment = raw_segment(4096, [4; 16], false);
    assert_eq!(offered(&mut raw, &segment.offer), ShmStatus::Unavailable);
    assert_eq!(host.shared_memory_stats().refused, 1);
    still_served(&host, &mut raw, 1);
}

#[test]
fn a_fifo_a_regular_file_a_socket_or_a_device_is_refused_without_the_loop_waiting() {
    let host = shm_host();
    let good = client_with(&host, "good", |b| b);
    let dir = std::env::temp_dir().join(format!("shm-attack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    // Opened for reading only, without waiting: a reader that opens it
    // again and waits for a writer would wait for ever.
    let fifo_end = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let regular = std::fs::File::create(dir.join("plain")).unwrap();
    regular.set_len(8192).unwrap();
    // A device (its opening may act: a serial port's raises its lines).
    let device = std::fs::File::open("/dev/null").unwrap();
    let (raw, _) = raw_handshake(&host, "evil");
    let socket_fd = raw.as_raw_fd();
    let pid = std::process::id();
    let fds = [
        fifo_end.as_raw_fd(),
        regular.as_raw_fd(),
        socket_fd,
        device.as_raw_fd(),
    ];
    for (count, fd) in fds.into_iter().enumerate() {
        // One offer a connection: a fresh one each.
        let (mut raw, _) = raw_handshake(&host, &format!("evil{count}"));
        assert_eq!(
            offered(&mut raw, &offer_of(pid, fd as u32)),
            ShmStatus::Unavailable
        );
        good.write("ping", &b"1"[..]).unwrap();
        wait_received(&host, "ping", count as u64 + 1);
    }
    assert_eq!(host.shared_memory_stats().refused, 4);
    drop((fifo_end, regular, device));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_segment_offered_to_another_connection_cannot_be_mapped() {
    let host = shm_host();
    // The victim's segment from the host, whose descriptor an attacker
    // guesses (here: knows); the name travels to the victim alone.
    let (mut victim, victim_id) = raw_handshake(&host, "victim");
    let victim_offer = host_offer(&host, &mut victim, victim_id);
    let (mut evil, _) = raw_handshake(&host, "evil");
    let stolen = offer_of(victim_offer.pid, victim_offer.fd);
    let stolen = ShmOffer {
        len: victim_offer.len,
        ..stolen
    };
    assert_eq!(offered(&mut evil, &stolen), ShmStatus::Unavailable);
    // Any segment of this process (a camera's to the host among them).
    let cam = client_with(&host, "cam", |b| b.shared_memory_images(true));
    first_image_mapped(&cam);
    let cam_fds = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            let is_segment = target.to_string_lossy().starts_with("/memfd:socketengine-");
            is_segment.then(|| entry.file_name().to_string_lossy().parse::<u32>().ok())?
        });
    let mut guesses = 0;
    for fd in cam_fds {
        let (mut evil, _) = raw_handshake(&host, &format!("evil-{fd}"));
        let guess = offer_of(std::process::id(), fd);
        assert_eq!(offered(&mut evil, &guess), ShmStatus::Unavailable);
        guesses += 1;
    }
    assert!(
        guesses >= 2,
        "the host's and the camera's segments at least"
    );
    assert_eq!(host.shared_memory_stats().refused, 1 + guesses);
}

#[test]
fn a_second_offer_closes_its_connection() {
    let host = shm_host();
    let events = host.events();
    let (mut raw, raw_id) = raw_handshake(&host, "twice");
    let segment = raw_segment(4096, [5; 16], true);
    assert_eq!(offered(&mut raw, &segment.offer), ShmStatus::Mapped);
    let again = control(OP_SHM_OFFER, SHM_CHANNEL, &segment.offer.encode());
    raw.write_all(&again).unwrap();
    closed_with(&events, raw_id, "a second offer");
}

/// A camera whose segment holds `slots` RGB images of `width` × `height`,
/// mapped, and its images: every byte the sequence number's.
fn camera(host: &Host, slots: usize, width: u32, height: u32) -> (Client, impl Fn(u64) -> Image) {
    let px = width as usize * height as usize * 3;
    let cam = client_with(host, "cam", |b| {
        b.shared_memory_images(true)
            .shared_memory_segment(slots * px)
    });
    first_image_mapped(&cam);
    let frame = move |seq: u64| {
        Image::new(width, height, PixelFormat::Rgb8, vec![seq as u8; px])
            .unwrap()
            .with_seq(seq)
    };
    (cam, frame)
}

#[test]
fn a_latest_value_reader_whose_queue_pins_every_slot_keeps_seeing_new_images() {
    let host = shm_host();
    let (cam, frame) = camera(&host, 4, 320, 240);
    // Four images fill the segment; the host's queue holds them all.
    for seq in 1..=4 {
        cam.write_lock(IMAGE_CHANNEL, frame(seq)).unwrap();
    }
    wait_image(|| host.get_image(IMAGE_CHANNEL), 4);
    // The reader takes only the latest: newer images still reach it.
    let mut seq = 4;
    let moved = wait_until(TIMEOUT, || {
        seq += 1;
        cam.write(IMAGE_CHANNEL, frame(seq)).unwrap();
        host.get_image(IMAGE_CHANNEL).is_some_and(|i| i.seq() > 4)
    });
    assert!(moved, "frozen at 4; {:?}", cam.shared_memory_stats());
    assert!(cam.shared_memory_stats().full >= 1);
}

#[test]
fn the_newest_image_of_a_burst_arrives_while_every_slot_is_held() {
    let host = shm_host();
    let (cam, frame) = camera(&host, 3, 64, 48);
    for seq in 1..=10 {
        cam.write(IMAGE_CHANNEL, frame(seq)).unwrap();
    }
    let newest = wait_image(|| host.get_image(IMAGE_CHANNEL), 10);
    assert!(newest.data().iter().all(|&b| b == 10));
}

#[test]
fn an_ipv4_client_of_a_dual_stack_host_is_on_loopback() {
    // The one test off 127.0.0.1: a dual-stack listener sees an IPv4 peer
    // as `::ffff:127.0.0.1`. Without IPv6 on the machine there is nothing
    // to test.
    let started = Host::builder()
        .addr("[::]:0")
        .shared_memory_images(true)
        .start();
    let Ok(host) = started else {
        eprintln!("no IPv6 listener here: {started:?}");
        return;
    };
    let port = host.local_addr().port();
    let cam = Client::builder()
        .addr(format!("127.0.0.1:{port}"))
        .name("cam")
        .shared_memory_images(true)
        .connect()
        .unwrap();
    // Both directions: the host's segment to the client, the client's to it,
    // each made at the first image.
    cam.write("first", first_image()).unwrap();
    host.to(cam.id()).write("first", first_image()).unwrap();
    assert!(wait_until(TIMEOUT, || {
        host.shared_memory_stats().mapped == 1 && cam.shared_memory_stats().mapped == 1
    }));
}

#[test]
fn a_hosts_own_segment_offered_back_counts_against_its_limit() {
    // The second review: a peer with the host's offer (its own descriptor
    // and name) offers it back on another connection; the host can always
    // open its own descriptors, so what it maps must count, or each round
    // would keep a segment's pages past the limit.
    let segment = 1 << 20;
    let host = host_with(|b| {
        b.shared_memory_images(true)
            .shared_memory_segment(segment)
            .shared_memory_limit(segment)
    });
    let (mut a, a_id) = raw_handshake(&host, "a");
    let own = host_offer(&host, &mut a, a_id);
    // The host's limit is spent on a's segment (b gets no images: it is
    // offered none anyway).
    let (mut b, _) = raw_handshake(&host, "b");
    assert_eq!(offered(&mut b, &own), ShmStatus::Mapped, "within the limit");
    let (mut c, _) = raw_handshake(&host, "c");
    assert_eq!(offered(&mut c, &own), ShmStatus::Unavailable, "past it");
    assert_eq!(host.shared_memory_stats().refused, 1);
    // A peer's own segment past the limit is refused too.
    let big = raw_segment(2 * segment as u64, [9; 16], true);
    let (mut d, _) = raw_handshake(&host, "d");
    assert_eq!(offered(&mut d, &big.offer), ShmStatus::Unavailable);
    assert_eq!(host.shared_memory_stats().refused, 2);
    still_served(&host, &mut d, 1);
}
