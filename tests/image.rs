//! The image path: round trips for every pixel format and odd sizes, geometry
//! checks on both sides, conflation under a slow reader and a stalled peer,
//! control frames overtaking a large image, locked images, codecs.
#![allow(clippy::unwrap_used)]

mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::io::Read;

use bytes::BytesMut;
use socketengine::protocol::{Decoder, Header, ImageMeta, Kind, OP_IMAGE_ACK};
use socketengine::{Client, ErrorKind, IMAGE_CHANNEL, Image, ImageError, PixelFormat};
use util::{
    TIMEOUT, assert_closed_by_peer, client, client_with, fake_host, host, host_with, next_error,
    raw_handshake, wait_image, wait_until,
};

const RAW_FORMATS: [PixelFormat; 5] = [
    PixelFormat::Gray8,
    PixelFormat::Gray16,
    PixelFormat::Rgb8,
    PixelFormat::Bgr8,
    PixelFormat::Rgba8,
];

/// `len` bytes that differ from image to image and from byte to byte.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64 * 7 + seed * 131) as u8)
        .collect()
}

/// A frame whose every byte is its sequence number (cheap to make and to check
/// in debug builds): bytes from two images in one would show.
fn solid(seq: u64, width: u32, height: u32) -> Image {
    let len = width as usize * height as usize * 3;
    Image::new(width, height, PixelFormat::Rgb8, vec![seq as u8; len])
        .unwrap()
        .with_seq(seq)
}

fn assert_not_torn(img: &Image) {
    let want = img.seq() as u8;
    assert!(
        img.data().iter().all(|&b| b == want),
        "image {} holds bytes of another image",
        img.seq()
    );
}

#[test]
fn every_pixel_format_and_odd_size_round_trips_bit_exact() {
    let host = host();
    let cam = client(&host, "cam");
    let mut cases = Vec::new();
    for format in RAW_FORMATS {
        let bpp = format.bytes_per_pixel().unwrap() as u32;
        cases.push((1, 1, format, bpp));
        // Three pixels a row, rows padded by five bytes.
        cases.push((3, 7, format, 3 * bpp + 5));
    }
    cases.push((3840, 2160, PixelFormat::Rgb8, 3840 * 3));
    for (seq, &(w, h, format, stride)) in cases.iter().enumerate() {
        let seq = seq as u64;
        let data = pattern(seq, stride as usize * h as usize);
        let sent = Image::with_stride(w, h, format, stride, data)
            .unwrap()
            .with_seq(seq)
            .with_timestamp_ns(1_000 + seq);
        cam.write_lock(IMAGE_CHANNEL, &sent).unwrap();
        let got = wait_image(|| host.get_image(IMAGE_CHANNEL), seq);
        assert_eq!(got, sent, "{w}x{h} {format:?} stride {stride}");
        // And back, host to client, on another channel.
        host.to(cam.id()).write("back", &sent).unwrap();
        assert_eq!(wait_image(|| cam.get_image("back"), seq), sent);
    }
    let stats = host.image_stats(IMAGE_CHANNEL);
    assert_eq!((stats.received, stats.skipped), (cases.len() as u64, 0));
    assert_eq!(cam.image_stats(IMAGE_CHANNEL).sent, cases.len() as u64);
}

#[test]
#[cfg(feature = "image")]
fn encoded_images_round_trip_jpeg_keeping_dimensions_and_png_bit_exact() {
    let host = host();
    let cam = client(&host, "cam");
    let (w, h) = (64, 48);
    let rgb = (0..h)
        .flat_map(|y| (0..w).flat_map(move |x| [(x * 4) as u8, (y * 5) as u8, 128]))
        .collect::<Vec<u8>>();
    let raw = Image::new(w, h, PixelFormat::Rgb8, rgb)
        .unwrap()
        .with_seq(1);
    let jpeg = raw.encode_jpeg(80).unwrap();
    let png = raw.encode_png().unwrap().with_seq(2);
    assert_eq!((jpeg.format(), jpeg.stride()), (PixelFormat::Jpeg, 0));
    assert!(jpeg.data().len() < raw.data().len());
    cam.write_lock("jpeg", &jpeg).unwrap();
    cam.write_lock("png", &png).unwrap();
    let got = wait_image(|| host.get_image("jpeg"), 1).decode().unwrap();
    assert_eq!(
        (got.width(), got.height(), got.format()),
        (w, h, PixelFormat::Rgb8)
    );
    let got = wait_image(|| host.get_image("png"), 2).decode().unwrap();
    assert_eq!(got.data(), raw.data());
}

#[test]
#[cfg(feature = "image")]
fn image_crate_conversions_do_not_copy_pixels() {
    let rgb = image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, 9]));
    let ptr = rgb.as_raw().as_ptr();
    let img = Image::from_rgb(rgb).unwrap();
    assert_eq!(
        (img.data().as_ptr(), img.format()),
        (ptr, PixelFormat::Rgb8)
    );
    let view = img.as_rgb().unwrap();
    assert_eq!(view.as_raw().as_ptr(), ptr);
    assert_eq!(view.get_pixel(4, 2), &image::Rgb([4, 2, 9]));
    // Grey 16 keeps its buffer too, as little-endian bytes.
    let gray = image::ImageBuffer::<image::Luma<u16>, _>::from_fn(2, 2, |x, _| {
        image::Luma([x as u16 * 0x0102])
    });
    let img = Image::from_dynamic(gray.into()).unwrap();
    assert_eq!(&img.data()[..4], &[0, 0, 2, 1]);
    // A padded image has no view, but converts by copy.
    let padded = Image::with_stride(2, 2, PixelFormat::Bgr8, 8, pattern(1, 16)).unwrap();
    assert!(matches!(padded.as_rgb(), Err(ImageError::Unsupported(_))));
    let rgb = padded.to_dynamic().unwrap().to_rgb8();
    assert_eq!(
        rgb.get_pixel(1, 1).0,
        [padded.row(1)[5], padded.row(1)[4], padded.row(1)[3]]
    );
}

#[test]
fn a_payload_that_does_not_fit_its_geometry_is_refused_on_send_and_on_receive() {
    // On send: the image cannot even be made.
    let err = Image::new(3, 2, PixelFormat::Rgb8, vec![0u8; 17]).unwrap_err();
    assert_eq!(
        err,
        ImageError::Geometry {
            width: 3,
            height: 2,
            format: PixelFormat::Rgb8,
            stride: 9,
            len: 17,
            expected: 18
        }
    );
    let short_stride = Image::with_stride(3, 2, PixelFormat::Rgb8, 8, vec![0u8; 16]);
    assert_eq!(short_stride, Err(ImageError::Stride { stride: 8, row: 9 }));
    assert!(matches!(
        Image::new(0, 2, PixelFormat::Gray8, vec![]),
        Err(ImageError::Empty { .. })
    ));
    assert!(matches!(
        Image::new(2, 2, PixelFormat::Jpeg, vec![]),
        Err(ImageError::Encoded { .. })
    ));

    // On receive: a peer declaring 4x4 RGB (48 bytes) and sending 47 is cut off
    // with a typed error; the host keeps serving the others.
    let host = host();
    let events = host.events();
    let good = client(&host, "good");
    util::next_event(&events, |e| {
        matches!(e, socketengine::Event::Connected { .. }).then_some(())
    });
    let (mut liar, liar_id) = raw_handshake(&host, "liar");
    let meta = ImageMeta {
        width: 4,
        height: 4,
        format: PixelFormat::Rgb8.code(),
        stride: 12,
        seq: 0,
        timestamp_ns: 0,
        total_len: 47,
    };
    let frame = Header::new(Kind::Image(meta), IMAGE_CHANNEL)
        .to_bytes(&[0; 47])
        .unwrap();
    std::io::Write::write_all(&mut liar, &frame).unwrap();
    let (id, _, err) = next_error(&events);
    assert_eq!(id, Some(liar_id));
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Image(ImageError::Geometry {
                len: 47,
                expected: 48,
                ..
            })
        ),
        "{err}"
    );
    assert_closed_by_peer(&mut liar);
    let img = solid(5, 4, 4);
    good.write_lock(IMAGE_CHANNEL, &img).unwrap();
    assert_eq!(wait_image(|| host.get_image(IMAGE_CHANNEL), 5), img);
}

#[test]
fn get_all_on_an_image_channel_returns_the_images_in_order() {
    let host = host();
    let cam = client(&host, "cam");
    for seq in 0..5 {
        cam.write_lock(IMAGE_CHANNEL, solid(seq, 640, 480)).unwrap();
    }
    let mut got = Vec::new();
    assert!(wait_until(TIMEOUT, || {
        got.extend(host.get_all(IMAGE_CHANNEL));
        got.len() == 5
    }));
    let seqs: Vec<u64> = got.iter().map(|m| m.image().unwrap().seq()).collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
    got.iter()
        .for_each(|m| assert_not_torn(&m.image().unwrap()));
    // Locked images are never conflated away.
    let stats = cam.image_stats(IMAGE_CHANNEL);
    assert_eq!((stats.sent, stats.dropped), (5, 0));
}

/// Frame age: an image captured a minute ago is at least a minute old when
/// a reader gets it, by `get_image` and by `get_all`, on a host and on a
/// client; none is counted before a read.
#[test]
fn image_stats_tell_how_old_images_were_when_read() {
    let host = host();
    let cam = client(&host, "cam");
    let viewer = client(&host, "viewer");
    assert_eq!(host.image_stats(IMAGE_CHANNEL).age_p50, None);
    let minute = Duration::from_secs(60);
    let captured = std::time::SystemTime::now() - minute;
    let ns = captured
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let old = solid(1, 64, 48).with_timestamp_ns(ns);
    cam.write_lock(IMAGE_CHANNEL, &old).unwrap();
    assert!(wait_until(TIMEOUT, || host
        .get_image(IMAGE_CHANNEL)
        .is_some()));
    host.to(viewer.id())
        .write_lock(IMAGE_CHANNEL, &old)
        .unwrap();
    assert!(wait_until(TIMEOUT, || !viewer
        .get_all(IMAGE_CHANNEL)
        .is_empty()));
    for (side, stats) in [
        ("host", host.image_stats(IMAGE_CHANNEL)),
        ("viewer", viewer.image_stats(IMAGE_CHANNEL)),
    ] {
        let (p50, p99) = (stats.age_p50.unwrap(), stats.age_p99.unwrap());
        assert!(p50 >= minute && p99 >= p50, "{side}: {p50:?} {p99:?}");
    }
}

/// A camera at 60 Hz, a reader polling `get_image` at 2 Hz: every poll sees
/// the newest image or the one before it, whole; the counters on both sides
/// agree once the stream stops.
#[test]
fn a_reader_polling_at_2_hz_always_sees_a_whole_image_at_most_one_frame_old() {
    const FRAMES: u64 = 150;
    let host = host();
    let cam = client(&host, "cam");
    let written = Arc::new(AtomicU64::new(0));
    let camera = {
        let (cam, written) = (cam.clone(), Arc::clone(&written));
        std::thread::spawn(move || {
            let start = Instant::now();
            for seq in 0..FRAMES {
                // The camera's own clock: one frame every 1/60 s.
                let due = start + Duration::from_secs_f64(seq as f64 / 60.0);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                cam.write(IMAGE_CHANNEL, solid(seq, 1920, 1080)).unwrap();
                written.store(seq + 1, Ordering::Release);
            }
        })
    };
    let mut polls = Vec::new();
    let start = Instant::now();
    for poll in 1..=4u32 {
        let due = start + Duration::from_millis(500) * poll;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let newest = written.load(Ordering::Acquire).saturating_sub(1);
        // The image written last may still be on its way; the one before it
        // must be here (or arrive without waiting for any later image).
        let mut seen = None;
        assert!(wait_until(TIMEOUT, || {
            seen = host.get_image(IMAGE_CHANNEL);
            seen.as_ref().is_some_and(|i| i.seq() + 1 >= newest)
        }));
        let seen = seen.unwrap();
        assert_not_torn(&seen);
        polls.push((newest, seen.seq()));
    }
    camera.join().unwrap();
    assert!(wait_until(TIMEOUT, || {
        host.get_image(IMAGE_CHANNEL)
            .is_some_and(|i| i.seq() == FRAMES - 1)
    }));
    let (sent, got) = (
        cam.image_stats(IMAGE_CHANNEL),
        host.image_stats(IMAGE_CHANNEL),
    );
    assert_eq!(sent.sent + sent.dropped, FRAMES, "{sent:?}");
    assert_eq!(
        (got.received, got.skipped),
        (sent.sent, sent.dropped),
        "{polls:?}"
    );
}

/// A host broadcasting at full speed to a good client and to a peer that never
/// reads: the host never blocks, the stalled peer costs at most two images,
/// and the good client's skipped count matches the host's drops for it.
#[test]
fn a_broadcast_to_a_stalled_peer_conflates_and_never_blocks_the_host() {
    const FRAMES: u64 = 120;
    let host = host_with(|b| b.send_buffer(64 * 1024));
    let good = client(&host, "good");
    let (_stalled, stalled_id) = raw_handshake(&host, "stalled");
    assert!(wait_until(TIMEOUT, || host.clients().len() == 2));
    let frame_len = 1280 * 720 * 3;
    for seq in 0..FRAMES {
        let queued = host.write(IMAGE_CHANNEL, solid(seq, 1280, 720)).unwrap();
        assert_eq!(queued, 2);
    }
    let info = |id| host.clients().into_iter().find(|c| c.id == id).unwrap();
    let stalled = info(stalled_id);
    assert!(
        stalled.queued_bytes <= 2 * frame_len + 256 * 1024,
        "stalled peer holds {} bytes",
        stalled.queued_bytes
    );
    assert!(stalled.images_dropped >= FRAMES - 10, "{stalled:?}");
    // The good client ends with the last image and the counts agree.
    let last = wait_image(|| good.get_image(IMAGE_CHANNEL), FRAMES - 1);
    assert_not_torn(&last);
    let good_info = info(good.id());
    let got = good.image_stats(IMAGE_CHANNEL);
    assert_eq!(got.received + good_info.images_dropped, FRAMES);
    // The receiver counts the gaps after its first image; the host also counts
    // any dropped before it.
    // (received + skipped spans the first image received to the last.)
    let before_first = FRAMES - (got.received + got.skipped);
    assert_eq!(got.skipped + before_first, good_info.images_dropped);
    // Every image written is sent or dropped, but for at most two still queued
    // to the stalled peer.
    let all = host.image_stats(IMAGE_CHANNEL);
    let accounted = all.sent + all.dropped;
    assert!(
        (2 * FRAMES - 2..=2 * FRAMES).contains(&accounted),
        "{all:?}"
    );
}

/// Reads frames from a fake host's stream until `total` image payload bytes
/// are in; returns the frames' kinds and channels in wire order.
fn read_until_image_done(stream: &mut std::net::TcpStream, total: u64) -> Vec<(Kind, String)> {
    let mut decoder = Decoder::new(64 << 20);
    let mut buf = BytesMut::with_capacity(1 << 20);
    let mut got = Vec::new();
    let mut image_bytes = 0u64;
    let deadline = Instant::now() + TIMEOUT;
    while image_bytes < total {
        assert!(Instant::now() < deadline, "image not complete");
        let mut chunk = [0u8; 65536];
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "stream closed");
        buf.extend_from_slice(&chunk[..n]);
        while let Some(f) = decoder.decode(&mut buf).unwrap() {
            if matches!(f.kind, Kind::Image(_) | Kind::ImageChunk { .. }) {
                image_bytes += f.payload.len() as u64;
                // A receiver acknowledges image bytes, or the sender stops at
                // its window.
                let ack = Header::new(Kind::Control { op: OP_IMAGE_ACK }, IMAGE_CHANNEL);
                let ack = ack.to_bytes(&image_bytes.to_le_bytes()).unwrap();
                std::io::Write::write_all(stream, &ack).unwrap();
            }
            got.push((f.kind, f.channel_str().to_string()));
        }
    }
    got
}

/// A 4K image queued, then a control message: with chunking the control
/// message goes out before the image ends; with plain FIFO sending, after.
#[test]
fn a_control_message_overtakes_a_large_image_unless_chunking_is_off() {
    let welcome = util::accepted_welcome(1);
    for chunked in [true, false] {
        let (addr, accepted) = fake_host(welcome);
        let cam = Client::builder()
            .addr(addr.to_string())
            .name("cam")
            .image_chunk(chunked.then_some(256 * 1024))
            // FIFO: the whole image counts against the budget; leave room for more.
            .outbox_budget(64 << 20)
            .heartbeat(None)
            .connect()
            .unwrap();
        let mut stream = accepted.join().unwrap();
        let big = solid(1, 3840, 2160);
        cam.write(IMAGE_CHANNEL, &big).unwrap();
        cam.write("cmd", "stop").unwrap();
        let frames = read_until_image_done(&mut stream, big.data().len() as u64);
        let cmd_at = frames
            .iter()
            .position(|(k, c)| *k == Kind::Data && c == "cmd");
        let chunks = frames.len() - usize::from(cmd_at.is_some());
        if chunked {
            let cmd_at = cmd_at.expect("the control message went out before the image ended");
            // Behind at most the default 1 MiB window of unacknowledged chunks.
            assert!(cmd_at <= 4, "after {cmd_at} of {chunks} chunks");
            // Chunks of 256 KiB at most; smaller where the window that
            // follows the link cuts them to fit.
            assert!(
                chunks >= big.data().len().div_ceil(256 * 1024),
                "{chunks} chunks"
            );
        } else {
            assert_eq!(chunks, 1, "FIFO: the image is one frame");
            assert!(
                cmd_at.is_none_or(|i| i == 1),
                "FIFO: the control message goes after the image"
            );
        }
    }
}

/// While control or data frames flow, a sender lets only half its image
/// window (1 MiB by default) go unacknowledged, so a frame queued behind
/// images finds less image data ahead of it; 100 ms after the last frame, the
/// whole window again. The peer here never acknowledges until told to.
#[test]
fn a_sender_halves_its_image_window_while_frames_flow() {
    const CHUNK: u64 = 256 * 1024;
    // No heartbeat pings: they are frames too, and would halve the window.
    let host = host_with(|b| b.heartbeat(None));
    let (mut raw, id) = raw_handshake(&host, "viewer");
    // Read everything and acknowledge nothing, so that what is written never
    // waits on the kernel's buffers, only on the window.
    let sink = {
        let mut raw = raw.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            while matches!(raw.read(&mut buf), Ok(n) if n > 0) {}
        })
    };
    let big = solid(1, 3840, 2160);
    let total = big.data().len() as u64;
    let queued = || {
        let info = host.clients().into_iter().find(|c| c.id == id).unwrap();
        info.queued_bytes as u64
    };
    host.to(id).write("cmd", "go").unwrap();
    host.to(id).write(IMAGE_CHANNEL, &big).unwrap();
    // Two chunks go out: half the window.
    assert!(wait_until(TIMEOUT, || queued() == total - 2 * CHUNK));
    // And no more without an acknowledgement (watched past the 100 ms the
    // halving lasts: only an acknowledgement lets the lane take more).
    let more = wait_until(Duration::from_millis(250), || queued() < total - 2 * CHUNK);
    assert!(!more, "sent past half the window: {} queued", queued());
    // Acknowledged now, with no frame for 100 ms: the whole window, 1 MiB
    // more unacknowledged.
    let ack = Header::new(Kind::Control { op: OP_IMAGE_ACK }, IMAGE_CHANNEL);
    let ack = ack.to_bytes(&(2 * CHUNK).to_le_bytes()).unwrap();
    std::io::Write::write_all(&mut raw, &ack).unwrap();
    assert!(
        wait_until(TIMEOUT, || queued() == total - 6 * CHUNK),
        "{} queued",
        queued()
    );
    host.close();
    sink.join().unwrap();
}

/// Locked image writes wait rather than drop: every one arrives.
#[test]
fn locked_image_writes_are_never_dropped() {
    let host = host();
    let cam = client_with(&host, "cam", |b| b.image_chunk(Some(64 * 1024)));
    for seq in 0..30 {
        cam.write_lock(IMAGE_CHANNEL, solid(seq, 640, 480)).unwrap();
    }
    wait_image(|| host.get_image(IMAGE_CHANNEL), 29);
    let (sent, got) = (
        cam.image_stats(IMAGE_CHANNEL),
        host.image_stats(IMAGE_CHANNEL),
    );
    assert_eq!(
        (sent.sent, sent.dropped, got.received, got.skipped),
        (30, 0, 30, 0)
    );
}

/// Pings on a connection that streams images with back-pressure: every ping
/// and every image arrives, the connection stays up.
#[test]
fn pings_interleave_with_a_stream_of_locked_images() {
    let host = host();
    let events = host.events();
    let cam = client(&host, "cam");
    let pings = host.subscribe("ping");
    let streamer = {
        let cam = cam.clone();
        std::thread::spawn(move || {
            for seq in 0..40 {
                cam.write_lock(IMAGE_CHANNEL, solid(seq, 1920, 1080))
                    .unwrap();
            }
        })
    };
    for i in 0..200u32 {
        if let Err(e) = cam.write_lock("ping", i.to_le_bytes().to_vec()) {
            panic!(
                "ping {i}: {e}; host events: {:?}",
                events.try_iter().collect::<Vec<_>>()
            );
        }
        let got = pings.recv_timeout(TIMEOUT).unwrap();
        assert_eq!(&got.payload()[..], i.to_le_bytes());
    }
    streamer.join().unwrap();
    assert_not_torn(&wait_image(|| host.get_image(IMAGE_CHANNEL), 39));
}

/// With chunking off on both sides, a 4K image is one frame each way, read
/// straight into its own buffer all the same.
#[test]
fn whole_frame_images_round_trip_with_chunking_off() {
    // FIFO images count against the outbox budget; a 4K frame beside a queued
    // pong would be refused with `Full` under the default 16 MiB.
    let host = host_with(|b| b.image_chunk(None).outbox_budget(64 << 20));
    let cam = client_with(&host, "cam", |b| {
        b.image_chunk(None).outbox_budget(64 << 20)
    });
    for seq in 0..3 {
        let img = solid(seq, 3840, 2160);
        cam.write_lock(IMAGE_CHANNEL, &img).unwrap();
        assert_eq!(wait_image(|| host.get_image(IMAGE_CHANNEL), seq), img);
        host.to(cam.id()).write(IMAGE_CHANNEL, &img).unwrap();
        assert_eq!(wait_image(|| cam.get_image(IMAGE_CHANNEL), seq), img);
    }
}

/// More image channels than a receiver holds half-received images: the sender
/// starts no more than that at once, and every image arrives.
#[test]
fn seventeen_cameras_on_one_connection_all_arrive() {
    let host = host();
    let events = host.events();
    let cam = client_with(&host, "cams", |b| b.image_chunk(Some(64 * 1024)));
    let channels: Vec<String> = (0..17).map(|i| format!("cam{i}")).collect();
    // 8 MiB each, made before any is written: all 17 are queued before the
    // first can finish, so the lane has 17 channels to start.
    let images: Vec<Image> = (0..17)
        .map(|i| Image::new(4096, 2048, PixelFormat::Gray8, vec![i as u8; 8 << 20]).unwrap())
        .collect();
    for (i, (ch, img)) in channels.iter().zip(images).enumerate() {
        cam.write(ch, img.with_seq(i as u64)).unwrap();
    }
    for (i, ch) in channels.iter().enumerate() {
        let got = wait_image(|| host.get_image(ch), i as u64);
        assert!(got.data().iter().all(|&b| b == i as u8), "{ch} torn");
    }
    assert!(
        events
            .try_iter()
            .all(|e| !matches!(e, socketengine::Event::Error { .. }))
    );
}
