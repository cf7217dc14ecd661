//! Image reassembly: channels kept, memory as bytes arrive, drops counted.

use std::time::Duration;

use bytes::BytesMut;

use super::*;
use crate::config::Config;
use crate::protocol::{Decoder, Header};

const M: usize = 1 << 20;

fn decode(kind: Kind, channel: &str, payload: &[u8]) -> Frame {
    let wire = Header::new(kind, channel)
        .to_bytes(payload)
        .expect("a valid frame");
    let mut buf = BytesMut::from(&wire[..]);
    Decoder::new(64 * M)
        .decode(&mut buf)
        .expect("decodes")
        .expect("whole")
}

/// The first frame of a JPEG image of `total` bytes, carrying `first`.
fn start(channel: &str, seq: u64, total: usize, first: &[u8]) -> Frame {
    let meta = ImageMeta {
        width: 1,
        height: 1,
        format: 16,
        stride: 0,
        seq,
        timestamp_ns: 0,
        total_len: total as u64,
    };
    decode(Kind::Image(meta), channel, first)
}

fn chunk(channel: &str, seq: u64, offset: usize, bytes: &[u8]) -> Frame {
    let offset = offset as u64;
    decode(Kind::ImageChunk { seq, offset }, channel, bytes)
}

/// A whole 1×1 Gray8 image frame with sequence number `seq` on `channel`.
fn frame(channel: &str, seq: u64) -> Frame {
    let meta = ImageMeta {
        width: 1,
        height: 1,
        format: 1,
        stride: 1,
        seq,
        timestamp_ns: 0,
        total_len: 1,
    };
    decode(Kind::Image(meta), channel, &[seq as u8])
}

/// A connection's images, its read buffer, and a handle's shared state
/// with `config`.
struct Rx {
    images: Images,
    rbuf: ReadBuf,
    shared: Shared,
    now: Instant,
}

impl Rx {
    fn new(config: Config) -> Rx {
        Rx {
            images: Images::default(),
            rbuf: ReadBuf::default(),
            shared: Shared::new(config),
            now: Instant::now(),
        }
    }

    fn take(&mut self, frame: Frame) -> Option<Finished> {
        let (rbuf, shared) = (&mut self.rbuf, &self.shared);
        let done = self
            .images
            .on_frame(frame, (ClientId(1), false), rbuf, shared, self.now);
        done.expect("a good frame")
    }

    fn used(&self) -> usize {
        self.shared.memory.used()
    }
}

#[test]
fn a_peer_cycling_through_channel_names_does_not_grow_the_receiver() {
    let mut rx = Rx::new(Config::default());
    let mut take = |channel: &str, seq| rx.take(frame(channel, seq)).expect("whole");
    for i in 0..1000 {
        take("steady", i);
        take(&format!("cam{i}"), 0);
    }
    // Channels in use are remembered, the least recently used forgotten:
    // a gap is counted on the steady channel and the newest one, not on
    // one a thousand channels ago.
    assert_eq!(take("steady", 1001).skipped, 1);
    assert_eq!(take("cam999", 3).skipped, 2);
    assert_eq!(take("cam0", 3).skipped, 0);
    assert_eq!(rx.images.channels.len(), CHANNELS_KEPT);
}

#[test]
fn images_announced_at_64_mib_hold_only_what_arrived() {
    let mut rx = Rx::new(Config::default());
    for cam in 0..MAX_PARTIAL {
        assert!(
            rx.take(start(&format!("cam{cam}"), 0, 64 * M, &[7; 100]))
                .is_none()
        );
    }
    assert_eq!(rx.images.held(), MAX_PARTIAL * 100);
    assert_eq!(rx.used(), rx.images.held());
    // Chunks arrive on one: it doubles, no further ahead than what came.
    let mut offset = 100;
    for _ in 0..20 {
        rx.take(chunk("cam3", 0, offset, &[8; 1000]));
        offset += 1000;
    }
    let cam3 = rx.images.held() - (MAX_PARTIAL - 1) * 100;
    assert!(cam3 >= offset && cam3 <= 2 * offset, "{cam3} for {offset}");
    drop(rx.images);
    assert_eq!(rx.shared.memory.used(), 0);
}

#[test]
fn an_image_refused_room_is_dropped_and_counted_and_the_next_one_arrives() {
    let mut rx = Rx::new(Config {
        memory_limit: M,
        ..Config::default()
    });
    assert!(rx.take(start("cam", 4, 4 * M, &[1; 1000])).is_none());
    let piece = vec![2; 256 << 10];
    for offset in (1000..4 * M - piece.len()).step_by(piece.len()) {
        assert!(rx.take(chunk("cam", 4, offset, &piece)).is_none());
        assert!(rx.used() <= M);
    }
    // Past the limit it was dropped: no memory, counted once, and the
    // rest of its chunks are taken (and acknowledged) without an error.
    assert_eq!((rx.used(), rx.shared.incomplete.of("cam")), (0, 1));
    let last = 4 * M - 1000 - (4 * M - 1000) / piece.len() * piece.len();
    let offset = 4 * M - last;
    assert!(rx.take(chunk("cam", 4, offset, &vec![2; last])).is_none());
    assert_eq!(rx.images.take_ack(), Some(4 * M as u64));
    let small = rx.take(start("cam", 6, 1000, &[3; 1000])).expect("whole");
    assert_eq!(
        (small.data.len(), small.skipped),
        (1000, 1),
        "seq 5 skipped"
    );
    assert_eq!(rx.shared.incomplete.of("cam"), 1);
}

#[test]
fn an_image_makes_the_store_let_go_of_larger_channels_never_smaller_ones() {
    let mut rx = Rx::new(Config {
        memory_limit: 4 * M,
        ..Config::default()
    });
    let store = &rx.shared.store;
    let message = |channel: &str, len: usize| {
        let name = crate::protocol::ChannelName::new(channel).expect("valid");
        let payload = bytes::Bytes::from(vec![9u8; len]);
        crate::Message::new(name, payload, ClientId(2), Instant::now())
    };
    let flood = store.slot(&crate::protocol::ChannelName::new("flood").expect("valid"));
    flood.push_batch(&mut vec![message("flood", 3 * M)]);
    let control = store.slot(&crate::protocol::ChannelName::new("ctl").expect("valid"));
    control.push_batch(&mut vec![message("ctl", 100)]);
    // A 2 MiB image does not fit beside the flood: the flood makes way.
    let piece = vec![4; M];
    assert!(rx.take(start("cam", 0, 2 * M, &piece)).is_none());
    let image = rx.take(chunk("cam", 0, M, &piece)).expect("whole");
    assert_eq!(image.data.len(), 2 * M);
    assert!(rx.shared.store.get("flood").is_none());
    assert!(
        rx.shared.store.get("ctl").is_some(),
        "the small channel kept"
    );
    assert_eq!(rx.shared.incomplete.of("cam"), 0);
}

#[test]
fn a_connection_holds_one_large_image_but_not_a_second_past_its_cap() {
    let mut rx = Rx::new(Config {
        max_partial_image_bytes: M,
        ..Config::default()
    });
    let piece = vec![5; 512 << 10];
    rx.take(start("a", 0, 8 * M, &piece));
    rx.take(chunk("a", 0, piece.len(), &piece));
    rx.take(chunk("a", 0, 2 * piece.len(), &piece));
    assert!(rx.images.held() > M, "a lone image is held past the cap");
    rx.take(start("b", 0, 8 * M, &piece));
    assert_eq!(rx.shared.incomplete.of("b"), 1, "a second one is not");
    assert_eq!(rx.shared.incomplete.of("a"), 0);
    let held = rx.images.held();
    assert_eq!(rx.used(), held);
}

#[test]
fn an_image_past_the_partial_timeout_is_dropped_and_its_memory_given_back() {
    let timeout = Duration::from_secs(2);
    let mut rx = Rx::new(Config {
        partial_timeout: timeout,
        ..Config::default()
    });
    rx.take(start("slow", 0, 8 * M, &[1; 5000]));
    rx.now += Duration::from_secs(1);
    rx.take(start("fast", 0, 8 * M, &[1; 5000]));
    let (later, shared) = (rx.now + Duration::from_secs(1), &rx.shared);
    rx.images.expire(later, shared);
    assert_eq!(rx.shared.incomplete.of("slow"), 1);
    assert_eq!(rx.shared.incomplete.of("fast"), 0, "not yet");
    assert_eq!(rx.used(), 5000);
    rx.images.expire(later + timeout, &rx.shared);
    assert_eq!((rx.used(), rx.shared.incomplete.of("fast")), (0, 1));
    // Its chunks still come, and are let go.
    assert!(rx.take(chunk("slow", 0, 5000, &[2; 1000])).is_none());
}
