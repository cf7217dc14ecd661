//! Table-driven and property tests of the pure wire layer: frames, the decoder, the
//! handshake and the outbox. Streams are also fed split at every byte and one byte
//! at a time, because a socket may hand over any prefix.
#![allow(clippy::unwrap_used)]

use std::io::{self, IoSlice, Write};

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;

use super::{
    ChannelName, DEFAULT_COALESCE, DecodeError, Decoder, Encoding, FLAG_MIRROR, FLAG_ORIGIN,
    FLAG_ROUTE, FLAG_SENT_AT, Frame, Header, Hello, ImageMeta, Kind, LEN_PREFIX, MAGIC,
    MAX_CHANNEL_LEN, Outbox, Pattern, ResumeToken, Route, TOKEN_LEN, VERSION, WELCOME_LEN, Welcome,
    WelcomeStatus,
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
        channel: ChannelName::new(channel).unwrap(),
        route,
        origin: None,
        mirror: false,
        sent_at: None,
        encoding: Encoding::Bytes,
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

fn all_routes() -> [Option<Route>; 9] {
    [
        None,
        Some(Route::Host),
        Some(Route::All),
        Some(Route::Clients(vec![])),
        Some(Route::Clients(vec![1, u64::MAX])),
        Some(Route::Room(String::new())),
        Some(Route::Room("lab-ü".to_owned())),
        Some(Route::Names(vec![])),
        Some(Route::Names(vec!["planner".to_owned(), "ü".to_owned()])),
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
        frame(
            Kind::Data,
            "cmd",
            Some(Route::Names(vec!["arm".into()])),
            b"go",
        ),
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
        sent_at: None,
        encoding: Encoding::MsgPack,
    };
    let expected = cat(&[
        &[27, 0, 0, 0], // len
        &[0x05, 0x20 | FLAG_ROUTE | FLAG_ORIGIN | FLAG_MIRROR, 2],
        b"rq",
        &[3, 2, b'a', b'b'],          // route: room "ab"
        &[5, 0, 0, 0, 0, 0, 0, 0],    // origin
        &[8, 7, 6, 5, 4, 3, 2, 1, 9], // reply id, status
        b"z",
    ]);
    assert_eq!(header.to_bytes(b"z").unwrap().to_vec(), expected);
    // A send time (data and image frames only) follows the origin.
    let data = Header {
        kind: Kind::Data,
        sent_at: Some(0x1112_1314_1516_1718),
        ..header
    };
    let expected = cat(&[
        &[26, 0, 0, 0], // len
        &[
            0x01,
            0x20 | FLAG_ROUTE | FLAG_ORIGIN | FLAG_MIRROR | FLAG_SENT_AT,
            2,
        ],
        b"rq",
        &[3, 2, b'a', b'b'],                               // route: room "ab"
        &[5, 0, 0, 0, 0, 0, 0, 0],                         // origin
        &[0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11], // send time
        b"z",
    ]);
    assert_eq!(data.to_bytes(b"z").unwrap().to_vec(), expected);
}

#[test]
fn routes_encode_as_tag_then_fields() {
    let table: [(Route, Vec<u8>); 6] = [
        (Route::Host, vec![0]),
        (Route::All, vec![1]),
        (Route::Clients(vec![]), vec![2, 0]),
        (
            Route::Clients(vec![1, 0x0200]),
            cat(&[&[2, 2], &1u64.to_le_bytes(), &0x0200u64.to_le_bytes()]),
        ),
        (Route::Room("ab".into()), vec![3, 2, b'a', b'b']),
        (
            Route::Group(Pattern::new("a/*").unwrap()),
            vec![5, 3, b'a', b'/', b'*'],
        ),
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
    assert_eq!(count, 9 * 9 * 3 * 2);
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
    // The channel name is copied inline: short names cost no shared counter.
    assert_eq!(f.channel, "pose");
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

mod clock;
mod decode_errors;
mod fuzz_regressions;
mod handshake;
mod lane;
mod outbox;
mod properties;
mod shm;
mod step;
