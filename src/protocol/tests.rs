//! Table-driven and property tests of the pure wire layer: frames, the decoder, the
//! handshake and the outbox. Streams are also fed split at every byte and one byte
//! at a time, because a socket may hand over any prefix.
#![allow(clippy::unwrap_used)]

use std::io::{self, IoSlice, Write};

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

use super::{
    DEFAULT_COALESCE, DecodeError, Decoder, FLAG_MIRROR, FLAG_ORIGIN, FLAG_ROUTE, Frame, Header,
    Hello, ImageMeta, Kind, LEN_PREFIX, MAGIC, MAX_CHANNEL_LEN, Outbox, Route, VERSION,
    WELCOME_LEN, Welcome, WelcomeStatus,
};

/// Maximum body length used by decoders in these tests.
const MAX: usize = 1 << 20;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// An owned frame: the source of truth that tests encode and expect back.
fn frame(kind: Kind, channel: &str, route: Option<Route>, payload: &[u8]) -> Frame {
    Frame {
        kind,
        channel: Bytes::copy_from_slice(channel.as_bytes()),
        route,
        origin: None,
        mirror: false,
        payload: Bytes::copy_from_slice(payload),
    }
}

/// The wire bytes of `f`, encoded through its header.
fn encode(f: &Frame) -> Vec<u8> {
    f.header().to_bytes(&f.payload).unwrap().to_vec()
}

fn encode_all(frames: &[Frame]) -> Vec<u8> {
    frames.iter().flat_map(encode).collect()
}

/// Concatenates byte slices.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Prefixes `body` with its little-endian `u32` length.
fn with_len(body: &[u8]) -> Vec<u8> {
    cat(&[&(body.len() as u32).to_le_bytes(), body])
}

/// Feeds `chunks` to one decoder in order, decoding after each; returns every frame
/// and checks that no bytes are left over.
fn decode_chunks<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Frame>, DecodeError> {
    let mut decoder = Decoder::new(MAX);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        // Bounded: each frame consumes at least eight bytes of `buf`.
        while let Some(f) = decoder.decode(&mut buf)? {
            frames.push(f);
        }
    }
    assert!(buf.is_empty(), "{} bytes left undecoded", buf.len());
    Ok(frames)
}

fn all_kinds() -> [Kind; 9] {
    [
        Kind::Data,
        Kind::Image(ImageMeta {
            width: 1920,
            height: 1080,
            format: 3,
            stride: 5760,
            seq: u64::MAX,
            timestamp_ns: 1_700_000_000_123_456_789,
            total_len: 6_220_800,
        }),
        Kind::ImageChunk {
            seq: 7,
            offset: 4096,
        },
        Kind::Request { id: u64::MAX },
        Kind::Reply { id: 9, status: 255 },
        Kind::Ping { sent_ns: 1 },
        Kind::Pong {
            ping_sent_ns: 1,
            sent_ns: u64::MAX - 1,
        },
        Kind::Control { op: 3 },
        Kind::Close { reason: 4 },
    ]
}

fn all_routes() -> [Option<Route>; 7] {
    [
        None,
        Some(Route::Host),
        Some(Route::All),
        Some(Route::Clients(vec![])),
        Some(Route::Clients(vec![1, u64::MAX])),
        Some(Route::Room(String::new())),
        Some(Route::Room("lab-ü".to_owned())),
    ]
}

/// Several frames of different kinds, including an empty payload, a routed one
/// and a 255-byte channel name.
fn sample_stream() -> Vec<Frame> {
    let long = "c".repeat(MAX_CHANNEL_LEN);
    let mut routed = frame(
        Kind::Request { id: 42 },
        "rpc/arm",
        Some(Route::Clients(vec![3, 4])),
        b"",
    );
    routed.origin = Some(17);
    routed.mirror = true;
    vec![
        frame(Kind::Data, "pose", None, b"hi"),
        frame(all_kinds()[1], "cam/left", None, &[0xab; 300]),
        frame(Kind::Ping { sent_ns: 5 }, "p", None, b""),
        routed,
        frame(Kind::Close { reason: 1 }, &long, None, "bye ✓".as_bytes()),
        frame(Kind::Data, "ü", Some(Route::Room("r".into())), &[0; 1]),
    ]
}

// ---------------------------------------------------------------------------
// Encoding: exact bytes
// ---------------------------------------------------------------------------

#[test]
fn worked_example_decodes_to_pose_hi() {
    let wire = b"\x09\x00\x00\x00\x01\x00\x04pose\x68\x69";
    assert_eq!(&Header::data("pose").to_bytes(b"hi").unwrap()[..], wire);
    let frames = decode_chunks([&wire[..]]).unwrap();
    assert_eq!(frames, vec![frame(Kind::Data, "pose", None, b"hi")]);
    assert_eq!(frames[0].channel_str(), "pose");
    assert_eq!(&frames[0].payload[..], b"hi");
}

#[test]
fn kind_fields_follow_the_spec_table() {
    let meta = ImageMeta {
        width: 1,
        height: 2,
        format: 3,
        stride: 4,
        seq: 5,
        timestamp_ns: 6,
        total_len: 7,
    };
    let (b1, b2, b5) = (1u64.to_le_bytes(), 2u64.to_le_bytes(), 5u64.to_le_bytes());
    let image = cat(&[
        &1u32.to_le_bytes(),
        &2u32.to_le_bytes(),
        &[3],
        &4u32.to_le_bytes(),
        &5u64.to_le_bytes(),
        &6u64.to_le_bytes(),
        &7u64.to_le_bytes(),
    ]);
    let table: [(Kind, u8, Vec<u8>); 9] = [
        (Kind::Data, 0x01, vec![]),
        (Kind::Image(meta), 0x02, image),
        (
            Kind::ImageChunk { seq: 1, offset: 2 },
            0x03,
            cat(&[&b1, &b2]),
        ),
        (Kind::Request { id: 5 }, 0x04, b5.to_vec()),
        (Kind::Reply { id: 5, status: 9 }, 0x05, cat(&[&b5, &[9]])),
        (Kind::Ping { sent_ns: 1 }, 0x06, b1.to_vec()),
        (
            Kind::Pong {
                ping_sent_ns: 1,
                sent_ns: 2,
            },
            0x07,
            cat(&[&b1, &b2]),
        ),
        (Kind::Control { op: 8 }, 0x08, vec![8]),
        (Kind::Close { reason: 9 }, 0x09, vec![9]),
    ];
    let sizes = [0, 37, 16, 8, 9, 8, 16, 1, 1];
    for ((kind, code, fields), size) in table.into_iter().zip(sizes) {
        assert_eq!(kind.code(), code, "{kind:?}");
        assert_eq!(fields.len(), size, "{kind:?}");
        let expected = with_len(&cat(&[&[code, 0, 1, b'c'], &fields, b"P"]));
        let header = Header::new(kind, "c");
        assert_eq!(
            header.to_bytes(b"P").unwrap().to_vec(),
            expected,
            "{kind:?}"
        );
        assert_eq!(header.body_prefix_len(), 4 + size, "{kind:?}");
    }
}

#[test]
fn routing_fields_follow_the_spec_order() {
    let route = Route::Room("ab".into());
    let header = Header {
        kind: Kind::Reply {
            id: 0x0102_0304_0506_0708,
            status: 9,
        },
        channel: "rq",
        route: Some(&route),
        origin: Some(5),
        mirror: true,
    };
    let expected = cat(&[
        &[27, 0, 0, 0], // len
        &[0x05, FLAG_ROUTE | FLAG_ORIGIN | FLAG_MIRROR, 2],
        b"rq",
        &[3, 2, b'a', b'b'],          // route: room "ab"
        &[5, 0, 0, 0, 0, 0, 0, 0],    // origin
        &[8, 7, 6, 5, 4, 3, 2, 1, 9], // reply id, status
        b"z",
    ]);
    assert_eq!(header.to_bytes(b"z").unwrap().to_vec(), expected);
}

#[test]
fn routes_encode_as_tag_then_fields() {
    let table: [(Route, Vec<u8>); 5] = [
        (Route::Host, vec![0]),
        (Route::All, vec![1]),
        (Route::Clients(vec![]), vec![2, 0]),
        (
            Route::Clients(vec![1, 0x0200]),
            cat(&[&[2, 2], &1u64.to_le_bytes(), &0x0200u64.to_le_bytes()]),
        ),
        (Route::Room("ab".into()), vec![3, 2, b'a', b'b']),
    ];
    for (route, bytes) in table {
        let mut header = Header::data("c");
        header.route = Some(&route);
        let expected = with_len(&cat(&[&[0x01, FLAG_ROUTE, 1, b'c'], &bytes]));
        assert_eq!(
            header.to_bytes(b"").unwrap().to_vec(),
            expected,
            "{route:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Round trips and splitting
// ---------------------------------------------------------------------------

#[test]
fn every_kind_route_origin_and_mirror_round_trips() {
    let mut count = 0;
    for kind in all_kinds() {
        for route in all_routes() {
            for origin in [None, Some(0), Some(u64::MAX)] {
                for mirror in [false, true] {
                    let mut f = frame(kind, "ch/1", route.clone(), b"payload");
                    f.origin = origin;
                    f.mirror = mirror;
                    let wire = encode(&f);
                    let body_len = f.header().body_prefix_len() + f.payload.len();
                    assert_eq!(wire.len(), LEN_PREFIX + body_len);
                    assert_eq!(wire[..4], (body_len as u32).to_le_bytes());
                    assert_eq!(decode_chunks([&wire[..]]).unwrap(), vec![f]);
                    count += 1;
                }
            }
        }
    }
    assert_eq!(count, 9 * 7 * 3 * 2);
}

#[test]
fn stream_split_at_every_byte_decodes_the_same() {
    let frames = sample_stream();
    let wire = encode_all(&frames);
    assert_eq!(decode_chunks([&wire[..]]).unwrap(), frames);
    for i in 0..=wire.len() {
        let (a, b) = wire.split_at(i);
        assert_eq!(decode_chunks([a, b]).unwrap(), frames, "split at {i}");
    }
}

#[test]
fn stream_fed_one_byte_at_a_time_decodes_the_same() {
    let frames = sample_stream();
    let wire = encode_all(&frames);
    assert_eq!(decode_chunks(wire.chunks(1)).unwrap(), frames);
}

#[test]
fn partial_frame_waits_and_keeps_its_bytes() {
    let wire = encode(&frame(Kind::Data, "pose", None, b"hi"));
    let mut decoder = Decoder::new(MAX);
    let mut buf = BytesMut::new();
    for (i, byte) in wire.iter().enumerate().take(wire.len() - 1) {
        buf.extend_from_slice(&[*byte]);
        assert_eq!(decoder.decode(&mut buf), Ok(None), "after {} bytes", i + 1);
        assert_eq!(&buf[..], &wire[..=i]);
    }
}

#[test]
fn decoded_payload_shares_the_receive_buffer() {
    let wire = encode(&frame(Kind::Data, "pose", None, &[9; 64]));
    let mut buf = BytesMut::from(&wire[..]);
    let base = buf.as_ptr() as usize;
    let f = Decoder::new(MAX).decode(&mut buf).unwrap().unwrap();
    assert_eq!(f.payload.as_ptr() as usize, base + wire.len() - 64);
    assert_eq!(f.channel.as_ptr() as usize, base + 7);
}

#[test]
fn frame_len_is_known_once_the_head_is_checked() {
    let wire = encode(&frame(Kind::Data, "pose", None, b"hi"));
    assert_eq!(wire.len(), 13);
    let mut decoder = Decoder::new(MAX);
    let mut buf = BytesMut::new();
    assert_eq!(decoder.frame_len(), None);
    for (i, byte) in wire.iter().enumerate() {
        buf.extend_from_slice(&[*byte]);
        let decoded = decoder.decode(&mut buf).unwrap();
        let fed = i + 1;
        match fed {
            1..=5 => assert_eq!((decoded, decoder.frame_len()), (None, None), "{fed}"),
            6..=12 => assert_eq!((decoded, decoder.frame_len()), (None, Some(13)), "{fed}"),
            _ => {
                assert_eq!(decoded.unwrap().channel_str(), "pose");
                assert_eq!(decoder.frame_len(), None);
            }
        }
    }
}

#[test]
fn body_of_exactly_max_is_accepted() {
    let f = frame(Kind::Data, "c", None, &[1; 96]);
    let wire = encode(&f);
    let body = wire.len() - LEN_PREFIX;
    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(Decoder::new(body).decode(&mut buf), Ok(Some(f)));
    let mut buf = BytesMut::from(&wire[..]);
    let err = DecodeError::FrameTooLarge {
        len: body as u64,
        max: body as u64 - 1,
    };
    assert_eq!(Decoder::new(body - 1).decode(&mut buf), Err(err));
}

// ---------------------------------------------------------------------------
// Decode errors
// ---------------------------------------------------------------------------

/// Bad heads: the six bytes alone (no body) must produce the error.
#[rustfmt::skip]
fn bad_heads() -> [(&'static str, [u8; 6], usize, DecodeError); 10] {
    use DecodeError::*;
    let huge = FrameTooLarge { len: u32::MAX as u64, max: MAX as u64 };
    [
        ("over the maximum", [0xe9, 3, 0, 0, 1, 0], 1000, FrameTooLarge { len: 1001, max: 1000 }),
        ("u32::MAX length", [0xff, 0xff, 0xff, 0xff, 1, 0], MAX, huge),
        ("zero length", [0, 0, 0, 0, 1, 0], MAX, FrameTooShort { len: 0 }),
        ("length 3", [3, 0, 0, 0, 1, 0], MAX, FrameTooShort { len: 3 }),
        ("kind 0", [5, 0, 0, 0, 0x00, 0], MAX, UnknownKind(0x00)),
        ("kind 0x0a", [5, 0, 0, 0, 0x0a, 0], MAX, UnknownKind(0x0a)),
        ("kind 0xff", [5, 0, 0, 0, 0xff, 0], MAX, UnknownKind(0xff)),
        ("flag 0x08", [5, 0, 0, 0, 1, 0x08], MAX, UnknownFlags(0x08)),
        ("flag 0x80", [5, 0, 0, 0, 1, 0x81], MAX, UnknownFlags(0x81)),
        ("flags 0xff", [5, 0, 0, 0, 1, 0xff], MAX, UnknownFlags(0xff)),
    ]
}

/// Bad bodies (everything after the length prefix, which is correct).
#[rustfmt::skip]
fn bad_bodies() -> [(&'static str, Vec<u8>, DecodeError); 14] {
    use DecodeError::*;
    let (r, o) = (FLAG_ROUTE, FLAG_ORIGIN);
    [
        ("empty channel", vec![1, 0, 0, b'x'], EmptyChannel),
        ("channel not utf-8", vec![1, 0, 2, 0xc3, 0x28], BadUtf8("channel")),
        ("channel past body", vec![1, 0, 9, b'a', b'b'], Truncated("channel")),
        ("channel one past", vec![1, 0, 3, b'a', b'b'], Truncated("channel")),
        ("route tag 4", vec![1, r, 1, b'a', 4], BadRoute(4)),
        ("route tag 0xff", vec![1, r, 1, b'a', 0xff], BadRoute(0xff)),
        ("route missing", vec![1, r, 1, b'a'], Truncated("route")),
        ("clients count missing", vec![1, r, 1, b'a', 2], Truncated("route")),
        ("clients past body", cat(&[&[1, r, 1, b'a', 2, 2], &[0; 15]]), Truncated("route")),
        ("room past body", vec![1, r, 1, b'a', 3, 5, b'x'], Truncated("route")),
        ("room not utf-8", vec![1, r, 1, b'a', 3, 1, 0xff], BadUtf8("room")),
        ("origin short", vec![1, o, 1, b'a', 1, 2, 3], Truncated("origin")),
        ("request id short", vec![4, 0, 1, b'a', 1, 2, 3, 4], Truncated("kind fields")),
        ("image meta short", cat(&[&[2, 0, 1, b'a'], &[0; 36]]), Truncated("kind fields")),
    ]
}

/// Feeds `bytes` one at a time: every prefix must wait, the whole must fail with
/// `err`, and the error must stick through later calls and later good bytes.
fn assert_fails_and_sticks(name: &str, bytes: &[u8], max: usize, err: DecodeError) {
    let mut decoder = Decoder::new(max);
    let mut buf = BytesMut::new();
    let (last, prefix) = bytes.split_last().unwrap();
    for &byte in prefix {
        buf.extend_from_slice(&[byte]);
        assert_eq!(decoder.decode(&mut buf), Ok(None), "{name}: prefix");
    }
    buf.extend_from_slice(&[*last]);
    assert_eq!(decoder.decode(&mut buf), Err(err), "{name}");
    assert_eq!(decoder.decode(&mut buf), Err(err), "{name}: again");
    buf.extend_from_slice(&encode(&frame(Kind::Data, "ok", None, b"fine")));
    assert_eq!(decoder.decode(&mut buf), Err(err), "{name}: good bytes");
    assert_eq!(decoder.frame_len(), None, "{name}");
    let mut whole = BytesMut::from(bytes);
    assert_eq!(
        Decoder::new(max).decode(&mut whole),
        Err(err),
        "{name}: whole"
    );
}

#[test]
fn bad_heads_fail_from_six_bytes_and_stick() {
    for (name, head, max, err) in bad_heads() {
        assert_fails_and_sticks(name, &head, max, err);
    }
}

#[test]
fn bad_bodies_fail_once_whole_and_stick() {
    for (name, body, err) in bad_bodies() {
        assert_fails_and_sticks(name, &with_len(&body), MAX, err);
    }
}

#[test]
fn good_frame_before_a_bad_one_is_still_delivered() {
    let good = frame(Kind::Data, "ok", None, b"fine");
    let wire = cat(&[&encode(&good), &with_len(&[1, 0, 0, b'x'])]);
    let mut buf = BytesMut::from(&wire[..]);
    let mut decoder = Decoder::new(MAX);
    assert_eq!(decoder.decode(&mut buf), Ok(Some(good)));
    assert_eq!(decoder.decode(&mut buf), Err(DecodeError::EmptyChannel));
}

// ---------------------------------------------------------------------------
// Header limits
// ---------------------------------------------------------------------------

#[test]
fn channel_of_255_bytes_round_trips() {
    let name = "é".repeat(127) + "x";
    assert_eq!(name.len(), MAX_CHANNEL_LEN);
    let f = frame(Kind::Data, &name, None, b"v");
    let wire = encode(&f);
    assert_eq!(wire[6], 255);
    assert_eq!(decode_chunks([&wire[..]]).unwrap(), vec![f]);
}

#[test]
fn header_limits_are_enforced_before_writing() {
    let long = "x".repeat(MAX_CHANNEL_LEN + 1);
    let many = Route::Clients((0..256).collect());
    let big_room = Route::Room("r".repeat(256));
    let routed = |route| Header {
        route: Some(route),
        ..Header::data("c")
    };
    let table = [
        (Header::data(&long), DecodeError::ChannelTooLong(256)),
        (Header::data(""), DecodeError::EmptyChannel),
        (routed(&many), DecodeError::BadRoute(2)),
        (routed(&big_room), DecodeError::BadRoute(3)),
    ];
    for (header, err) in table {
        assert_eq!(header.validate(), Err(err));
        let mut dst = Vec::new();
        assert_eq!(header.encode(0, &mut dst), Err(err));
        assert!(dst.is_empty(), "{err:?}: bytes written");
        assert_eq!(header.to_bytes(b"p"), Err(err));
        let mut outbox = Outbox::new();
        assert_eq!(outbox.push(&header, Bytes::from_static(b"p")), Err(err));
        assert_eq!(
            (outbox.len(), outbox.io_slices(&mut [IoSlice::new(&[])])),
            (0, 0)
        );
    }
}

#[test]
fn routes_at_their_limits_round_trip() {
    let routes = [
        Route::Clients((0..255).map(|i| i * 0x0101_0101).collect()),
        Route::Room("r".repeat(255)),
    ];
    for route in routes {
        let f = frame(Kind::Data, "c", Some(route), b"");
        assert_eq!(decode_chunks([&encode(&f)[..]]).unwrap(), vec![f]);
    }
}

#[test]
fn encode_reports_a_body_too_long_for_the_prefix() {
    let mut dst = Vec::new();
    let err = Header::data("c").encode(u32::MAX as usize, &mut dst);
    let len = u32::MAX as u64 + 4;
    assert_eq!(
        err,
        Err(DecodeError::FrameTooLarge {
            len,
            max: u32::MAX as u64
        })
    );
    assert!(dst.is_empty());
}

// ---------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------

fn hello_names() -> [String; 4] {
    [
        String::new(),
        "robot-1".into(),
        "日本é".into(),
        "n".repeat(255),
    ]
}

#[test]
fn hello_round_trips_and_leaves_following_bytes() {
    for name in hello_names() {
        let hello = Hello::new(name.clone());
        let mut wire = Vec::new();
        hello.encode(&mut wire).unwrap();
        let expected = cat(&[
            b"SKEN",
            &VERSION.to_le_bytes(),
            &[name.len() as u8],
            name.as_bytes(),
        ]);
        assert_eq!(wire, expected);
        assert_eq!(
            Hello::decode(&wire),
            Ok(Some((hello.clone(), 7 + name.len())))
        );
        wire.extend_from_slice(&encode(&frame(Kind::Data, "a", None, b"")));
        assert_eq!(Hello::decode(&wire), Ok(Some((hello, 7 + name.len()))));
    }
}

#[test]
fn partial_hello_needs_more_at_every_split() {
    for name in hello_names() {
        let mut wire = Vec::new();
        Hello::new(name).encode(&mut wire).unwrap();
        for i in 0..wire.len() {
            assert_eq!(Hello::decode(&wire[..i]), Ok(None), "{i} of {}", wire.len());
        }
    }
}

#[test]
fn http_request_is_bad_magic_from_its_first_byte() {
    let http = b"GET / HTTP/1.1\r\n";
    for i in 1..=http.len() {
        assert_eq!(Hello::decode(&http[..i]), Err(DecodeError::BadMagic), "{i}");
        assert_eq!(
            Welcome::decode(&http[..i]),
            Err(DecodeError::BadMagic),
            "{i}"
        );
    }
}

#[test]
fn any_wrong_magic_byte_is_caught_as_it_arrives() {
    let mut good = Vec::new();
    Hello::new("x").encode(&mut good).unwrap();
    for pos in 0..MAGIC.len() {
        let mut wire = good.clone();
        wire[pos] ^= 0x20;
        assert_eq!(Hello::decode(&wire[..pos]), Ok(None), "{pos}");
        assert_eq!(
            Hello::decode(&wire[..=pos]),
            Err(DecodeError::BadMagic),
            "{pos}"
        );
        assert_eq!(Hello::decode(&wire), Err(DecodeError::BadMagic), "{pos}");
    }
}

#[test]
fn hello_with_another_version_is_unsupported() {
    for version in [0, 2, u16::MAX] {
        let mut wire = Vec::new();
        Hello {
            version,
            name: "a".into(),
        }
        .encode(&mut wire)
        .unwrap();
        assert_eq!(
            Hello::decode(&wire),
            Err(DecodeError::UnsupportedVersion(version))
        );
    }
}

#[test]
fn hello_name_must_be_utf8_and_short() {
    let wire = cat(&[b"SKEN", &VERSION.to_le_bytes(), &[2, 0xc3, 0x28]]);
    assert_eq!(
        Hello::decode(&wire),
        Err(DecodeError::BadUtf8("client name"))
    );
    let mut dst = Vec::new();
    let err = Hello::new("n".repeat(256)).encode(&mut dst);
    assert_eq!(err, Err(DecodeError::ChannelTooLong(256)));
    assert!(dst.is_empty());
}

#[test]
fn welcome_round_trips_every_status() {
    let statuses = [
        WelcomeStatus::Accepted,
        WelcomeStatus::VersionMismatch,
        WelcomeStatus::HostFull,
        WelcomeStatus::Unknown(3),
        WelcomeStatus::Unknown(255),
    ];
    for (code, status) in [0u8, 1, 2, 3, 255].into_iter().zip(statuses) {
        let welcome = Welcome {
            version: VERSION,
            status,
            client_id: 0x0102_0304_0506_0708,
            host_time_ns: u64::MAX - 7,
        };
        let wire = welcome.encode();
        let expected = cat(&[
            b"SKEN",
            &VERSION.to_le_bytes(),
            &[code],
            &0x0102_0304_0506_0708u64.to_le_bytes(),
            &(u64::MAX - 7).to_le_bytes(),
        ]);
        assert_eq!(wire.len(), WELCOME_LEN);
        assert_eq!(wire.to_vec(), expected, "{status:?}");
        assert_eq!(Welcome::decode(&wire), Ok(Some(welcome)));
        let with_more = cat(&[&wire, b"\x09\x00"]);
        assert_eq!(Welcome::decode(&with_more), Ok(Some(welcome)));
        for i in 0..WELCOME_LEN {
            assert_eq!(Welcome::decode(&wire[..i]), Ok(None), "{status:?} at {i}");
        }
    }
}

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
fn drain(outbox: &mut Outbox, k: usize) -> Vec<u8> {
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

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

fn any_kind() -> impl Strategy<Value = Kind> {
    let image = (any::<(u32, u32, u8, u32)>(), any::<(u64, u64, u64)>()).prop_map(
        |((width, height, format, stride), (seq, timestamp_ns, total_len))| {
            Kind::Image(ImageMeta {
                width,
                height,
                format,
                stride,
                seq,
                timestamp_ns,
                total_len,
            })
        },
    );
    prop_oneof![
        Just(Kind::Data),
        image,
        any::<(u64, u64)>().prop_map(|(seq, offset)| Kind::ImageChunk { seq, offset }),
        any::<u64>().prop_map(|id| Kind::Request { id }),
        any::<(u64, u8)>().prop_map(|(id, status)| Kind::Reply { id, status }),
        any::<u64>().prop_map(|sent_ns| Kind::Ping { sent_ns }),
        any::<(u64, u64)>().prop_map(|(ping_sent_ns, sent_ns)| Kind::Pong {
            ping_sent_ns,
            sent_ns
        }),
        any::<u8>().prop_map(|op| Kind::Control { op }),
        any::<u8>().prop_map(|reason| Kind::Close { reason }),
    ]
}

fn any_route() -> impl Strategy<Value = Route> {
    prop_oneof![
        Just(Route::Host),
        Just(Route::All),
        vec(any::<u64>(), 0..8).prop_map(Route::Clients),
        // At most 63 chars of at most 4 bytes: within the 255-byte limit.
        "\\PC{0,63}".prop_map(Route::Room),
    ]
}

fn any_frame() -> impl Strategy<Value = Frame> {
    let channel = prop_oneof!["\\PC{1,63}", "[a-z]{255}"];
    (
        any_kind(),
        channel,
        proptest::option::of(any_route()),
        proptest::option::of(any::<u64>()),
        any::<bool>(),
        vec(any::<u8>(), 0..512),
    )
        .prop_map(|(kind, channel, route, origin, mirror, payload)| Frame {
            kind,
            channel: Bytes::from(channel),
            route,
            origin,
            mirror,
            payload: Bytes::from(payload),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_frame_round_trips(f in any_frame()) {
        let wire = encode(&f);
        prop_assert_eq!(wire.len(), LEN_PREFIX + f.header().body_prefix_len() + f.payload.len());
        prop_assert_eq!(decode_chunks([&wire[..]]), Ok(vec![f]));
    }

    #[test]
    fn any_chunking_of_a_stream_decodes_the_same(
        frames in vec(any_frame(), 1..6),
        cuts in vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let wire = encode_all(&frames);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        cuts.push(0);
        cuts.push(wire.len());
        cuts.sort_unstable();
        let chunks = cuts.windows(2).map(|w| &wire[w[0]..w[1]]);
        prop_assert_eq!(decode_chunks(chunks), Ok(frames));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in vec(any::<u8>(), 0..300)) {
        let mut decoder = Decoder::new(128);
        let mut buf = BytesMut::from(&bytes[..]);
        for _ in 0..bytes.len() + 1 {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => prop_assert!(!f.channel.is_empty()),
                Ok(None) => break,
                Err(err) => {
                    prop_assert_eq!(decoder.decode(&mut buf), Err(err));
                    break;
                }
            }
        }
    }

    #[test]
    fn any_hello_round_trips(name in "\\PC{0,63}") {
        let mut wire = Vec::new();
        Hello::new(name.clone()).encode(&mut wire).unwrap();
        prop_assert_eq!(Hello::decode(&wire), Ok(Some((Hello::new(name), wire.len()))));
    }

    #[test]
    fn outbox_reproduces_any_frames_for_any_write_size(
        frames in vec(any_frame(), 1..6),
        k in 1usize..3000,
        coalesce in 0usize..600,
    ) {
        let mut outbox = Outbox::with_coalesce(coalesce);
        for f in &frames {
            outbox.push(&f.header(), f.payload.clone()).unwrap();
        }
        prop_assert_eq!(drain(&mut outbox, k), encode_all(&frames));
    }
}
