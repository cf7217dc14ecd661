//! The outbox: vectored writes of queued frames, partial writes, zero copy.

use super::*;

// ---------------------------------------------------------------------------
// Outbox
// ---------------------------------------------------------------------------

/// A writer that accepts at most `k` bytes per call, like a socket with a small
/// send buffer.
struct Trickle {
    out: Vec<u8>,
    k: usize,
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut left = self.k;
        for b in bufs {
            let n = b.len().min(left);
            self.out.extend_from_slice(&b[..n]);
            left -= n;
        }
        Ok(self.k - left)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes `outbox` out through a [`Trickle`] of `k`, four slices per call, checking
/// `len` after every write; returns the bytes written.
pub(super) fn drain(outbox: &mut Outbox, k: usize) -> Vec<u8> {
    let mut w = Trickle { out: Vec::new(), k };
    for _ in 0..=outbox.len() {
        if outbox.is_empty() {
            break;
        }
        let before = outbox.len();
        let mut slices = [IoSlice::new(&[]); 4];
        let n = outbox.io_slices(&mut slices);
        let written = w.write_vectored(&slices[..n]).unwrap();
        outbox.advance(written);
        assert_eq!(outbox.len(), before - written);
    }
    assert!(outbox.is_empty());
    w.out
}

/// An outbox holding small, boundary-sized and large frames plus a raw segment;
/// returns it with the frames it carries.
fn mixed_outbox() -> (Outbox, Vec<Frame>) {
    let frames = vec![
        frame(Kind::Data, "a", None, b"hello"),
        frame(all_kinds()[1], "cam", None, &[0x5a; 10_000]),
        frame(Kind::Request { id: 1 }, "raw", None, b"pushed raw"),
        frame(Kind::Ping { sent_ns: 2 }, "p", None, b""),
        frame(Kind::Data, "edge", None, &[1; DEFAULT_COALESCE]),
        frame(Kind::Data, "edge+1", None, &[2; DEFAULT_COALESCE + 1]),
        frame(Kind::Close { reason: 0 }, "bye", Some(Route::All), b"done"),
    ];
    let mut outbox = Outbox::new();
    let mut len = 0;
    for f in &frames {
        let wire = encode(f);
        let size = if f.channel_str() == "raw" {
            outbox.push_raw(Bytes::from(wire.clone()));
            wire.len()
        } else {
            outbox.push(&f.header(), f.payload.clone()).unwrap()
        };
        assert_eq!(size, wire.len());
        len += size;
        assert_eq!(outbox.len(), len);
    }
    (outbox, frames)
}

/// Bytes a simulated socket takes per write: tiny, odd, around the coalescing
/// limit, and everything.
const WRITE_SIZES: [usize; 6] = [
    1,
    7,
    100,
    DEFAULT_COALESCE,
    DEFAULT_COALESCE + 1,
    usize::MAX,
];

#[test]
fn outbox_writes_reproduce_the_frames_for_any_write_size() {
    for k in WRITE_SIZES {
        let (mut outbox, frames) = mixed_outbox();
        let written = drain(&mut outbox, k);
        assert_eq!(written, encode_all(&frames), "k = {k}");
        assert_eq!(decode_chunks([&written[..]]).unwrap(), frames, "k = {k}");
    }
}

#[test]
fn outbox_accepts_pushes_between_partial_writes() {
    let frames: Vec<Frame> = (0..6)
        .map(|i| {
            frame(
                Kind::Request { id: i },
                "q",
                None,
                &vec![1; 3000 * i as usize],
            )
        })
        .collect();
    let mut outbox = Outbox::new();
    let mut w = Trickle {
        out: Vec::new(),
        k: 1000,
    };
    for f in &frames {
        outbox.push(&f.header(), f.payload.clone()).unwrap();
        let mut slices = [IoSlice::new(&[]); 2];
        let n = outbox.io_slices(&mut slices);
        let written = w.write_vectored(&slices[..n]).unwrap();
        outbox.advance(written);
    }
    w.out.extend(drain(&mut outbox, 999));
    assert_eq!(w.out, encode_all(&frames));
}

#[test]
fn large_payload_is_sent_from_its_own_memory() {
    let payload = Bytes::from(vec![7u8; DEFAULT_COALESCE + 1]);
    let header = Header::data("cam");
    let head = LEN_PREFIX + 3 + "cam".len();
    let (mut first, mut second) = (Outbox::new(), Outbox::new());
    for outbox in [&mut first, &mut second] {
        outbox.push(&header, payload.clone()).unwrap();
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(outbox.io_slices(&mut slices), 2);
        assert_eq!(&slices[0][..], &header.to_bytes(&payload).unwrap()[..head]);
        assert_eq!(slices[1].as_ptr(), payload.as_ptr());
        assert_eq!(slices[1].len(), payload.len());
    }
    first.advance(head + 100);
    let mut slices = [IoSlice::new(&[]); 4];
    assert_eq!(first.io_slices(&mut slices), 1);
    assert_eq!(slices[0].as_ptr(), payload[100..].as_ptr());
}

/// The `Outbox` doc example pushes 100 000 bytes on channel "cam": the header is
/// 4 + 3 + 3 = 10 bytes (not 13, as that example assumes), so after advancing 10
/// bytes exactly the payload is left.
#[test]
fn outbox_len_counts_header_and_payload() {
    let mut outbox = Outbox::new();
    let size = outbox.push(&Header::data("cam"), Bytes::from(vec![7u8; 100_000]));
    assert_eq!(size, Ok(100_010));
    outbox.advance(10);
    assert_eq!(outbox.len(), 100_000);
}

#[test]
fn small_frames_are_coalesced_into_one_slice() {
    let frames = [
        frame(Kind::Data, "a", None, b"1"),
        frame(Kind::Ping { sent_ns: 9 }, "b", None, b""),
        frame(Kind::Data, "c", None, &[3; DEFAULT_COALESCE]),
    ];
    let mut outbox = Outbox::new();
    for f in &frames {
        outbox.push(&f.header(), f.payload.clone()).unwrap();
    }
    let mut slices = [IoSlice::new(&[]); 4];
    assert_eq!(outbox.io_slices(&mut slices), 1);
    assert_eq!(&slices[0][..], &encode_all(&frames)[..]);
    assert_ne!(slices[0].as_ptr(), frames[2].payload.as_ptr());
}

#[test]
fn coalesce_limit_is_configurable() {
    let mut outbox = Outbox::with_coalesce(0);
    outbox
        .push(&Header::data("a"), Bytes::from_static(b"x"))
        .unwrap();
    outbox.push(&Header::data("b"), Bytes::new()).unwrap();
    let mut slices = [IoSlice::new(&[]); 4];
    // Header of "a", its payload, then the header of "b" (empty payload stays inline).
    assert_eq!(outbox.io_slices(&mut slices), 3);
    assert_eq!(&slices[1][..], b"x");
}

#[test]
fn append_and_push_raw_preserve_order() {
    let fs: Vec<Frame> = ["w", "x", "y", "z", "v"]
        .map(|c| frame(Kind::Data, c, None, c.as_bytes()))
        .to_vec();
    let mut a = Outbox::new();
    let mut b = Outbox::new();
    a.push(&fs[0].header(), fs[0].payload.clone()).unwrap();
    b.push(&fs[1].header(), fs[1].payload.clone()).unwrap();
    b.push_raw(Bytes::from(encode(&fs[2])));
    b.push_raw(Bytes::new());
    b.push(&fs[3].header(), fs[3].payload.clone()).unwrap();
    let b_len = b.len();
    let a_len = a.len();
    a.append(&mut b);
    assert_eq!(a.len(), a_len + b_len);
    assert_eq!((b.len(), b.is_empty()), (0, true));
    a.push(&fs[4].header(), fs[4].payload.clone()).unwrap();
    assert_eq!(drain(&mut a, 3), encode_all(&fs));
    b.push(&fs[0].header(), fs[0].payload.clone()).unwrap();
    assert_eq!(drain(&mut b, 5), encode(&fs[0]));
}

#[test]
fn io_slices_fills_at_most_the_slots_given() {
    let (outbox, frames) = mixed_outbox();
    let mut all = [IoSlice::new(&[]); 16];
    let n = outbox.io_slices(&mut all);
    let joined: Vec<u8> = all[..n].iter().flat_map(|s| s.iter().copied()).collect();
    assert_eq!(joined, encode_all(&frames));
    let mut two = [IoSlice::new(&[]); 2];
    assert_eq!(outbox.io_slices(&mut two), 2);
    assert_eq!(&two[1][..], &all[1][..]);
    assert_eq!(outbox.io_slices(&mut []), 0);
}

#[test]
#[should_panic(expected = "advance past the end of the outbox")]
fn advancing_past_the_end_panics() {
    let mut outbox = Outbox::new();
    outbox
        .push(&Header::data("a"), Bytes::from_static(b"x"))
        .unwrap();
    outbox.advance(outbox.len() + 1);
}

#[test]
fn push_front_raw_goes_before_everything_queued() {
    let mut outbox = Outbox::new();
    outbox
        .push(&Header::data("a"), Bytes::from_static(b"small"))
        .unwrap();
    outbox.push_raw(Bytes::from_static(b"[raw]"));
    outbox.push_front_raw(Bytes::from_static(b"rest"));
    outbox.push_front_raw(Bytes::from_static(b"head-"));
    let expected = [
        &b"head-rest"[..],
        &Header::data("a").to_bytes(b"small").unwrap(),
        b"[raw]",
    ]
    .concat();
    assert_eq!(outbox.len(), expected.len());
    assert_eq!(drain(&mut outbox, 3), expected);
}

#[test]
fn charged_payloads_leave_the_uncharged_count_as_they_are_written() {
    let mut outbox = Outbox::new();
    let big = Bytes::from(vec![5u8; 10_000]);
    let small = Bytes::from_static(b"hi");
    let a = outbox.push(&Header::data("a"), small.clone()).unwrap();
    let b = outbox.push_charged(&Header::data("b"), big.clone());
    let c = outbox.push_charged(&Header::data("c"), small);
    assert_eq!(outbox.len(), a + b + c);
    assert_eq!(outbox.uncharged_len(), outbox.len() - 10_002);
    // Moved to another outbox, the count goes along.
    let mut inflight = Outbox::new();
    inflight.append(&mut outbox);
    assert_eq!((outbox.len(), outbox.uncharged_len()), (0, 0));
    assert_eq!(inflight.uncharged_len(), a + b + c - 10_002);
    // Written a byte at a time, the uncharged count never goes below zero
    // and ends at zero; the bytes are the frames'.
    let mut sink = Trickle {
        out: Vec::new(),
        k: 1,
    };
    while !inflight.is_empty() {
        let mut slices = [IoSlice::new(&[]); 8];
        let n = inflight.io_slices(&mut slices);
        let written = sink.write_vectored(&slices[..n]).unwrap();
        inflight.advance(written);
        assert!(inflight.uncharged_len() <= inflight.len());
    }
    assert_eq!(inflight.uncharged_len(), 0);
    let mut decoder = Decoder::new(MAX);
    let mut buf = BytesMut::from(&sink.out[..]);
    let frames: Vec<Frame> = std::iter::from_fn(|| decoder.decode(&mut buf).unwrap()).collect();
    let payloads: Vec<&[u8]> = frames.iter().map(|f| &f.payload[..]).collect();
    assert_eq!(payloads, [&b"hi"[..], &big[..], &b"hi"[..]]);
}
