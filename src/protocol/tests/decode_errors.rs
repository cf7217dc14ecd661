//! Bad input to the decoder, by table: heads and bodies that must fail with
//! their error and keep failing, the good frame before a bad one, and the
//! header and route limits the encoder enforces before writing.

use super::*;

/// Bad heads: the six bytes alone (no body) must produce the error.
#[rustfmt::skip]
fn bad_heads() -> [(&'static str, [u8; 6], usize, DecodeError); 18] {
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
        ("flag 0x40", [5, 0, 0, 0, 1, 0x48], MAX, UnknownFlags(0x48)),
        ("send time on a ping", [5, 0, 0, 0, 6, 0x08], MAX, SentAtNotCarried(0x06)),
        ("send time on a chunk", [5, 0, 0, 0, 3, 0x0a], MAX, SentAtNotCarried(0x03)),
        ("send time on a request", [5, 0, 0, 0, 4, 0x08], MAX, SentAtNotCarried(0x04)),
        ("send time on a reply", [5, 0, 0, 0, 5, 0x09], MAX, SentAtNotCarried(0x05)),
        ("flag 0x80", [5, 0, 0, 0, 1, 0x81], MAX, UnknownFlags(0x81)),
        ("flags 0xff", [5, 0, 0, 0, 1, 0xff], MAX, UnknownFlags(0xff)),
        ("encoding 3", [5, 0, 0, 0, 1, 0x30], MAX, UnknownEncoding(3)),
        ("encoding 3, routed", [5, 0, 0, 0, 5, 0x31], MAX, UnknownEncoding(3)),
        ("json on an image", [5, 0, 0, 0, 2, 0x10], MAX, EncodingNotCarried(0x02)),
        ("msgpack on a ping", [5, 0, 0, 0, 6, 0x20], MAX, EncodingNotCarried(0x06)),
    ]
}

/// Bad bodies (everything after the length prefix, which is correct).
#[rustfmt::skip]
fn bad_bodies() -> [(&'static str, Vec<u8>, DecodeError); 24] {
    use DecodeError::*;
    let (r, o, t) = (FLAG_ROUTE, FLAG_ORIGIN, FLAG_SENT_AT);
    [
        ("empty channel", vec![1, 0, 0, b'x'], EmptyChannel),
        ("channel not utf-8", vec![1, 0, 2, 0xc3, 0x28], BadUtf8("channel")),
        ("channel past body", vec![1, 0, 9, b'a', b'b'], Truncated("channel")),
        ("channel one past", vec![1, 0, 3, b'a', b'b'], Truncated("channel")),
        ("route tag 6", vec![1, r, 1, b'a', 6], BadRoute(6)),
        ("group past body", vec![1, r, 1, b'a', 5, 3, b'*'], Truncated("route")),
        ("empty group", vec![1, r, 1, b'a', 5, 0], BadPattern("an empty group")),
        ("group not a pattern", vec![1, r, 1, b'a', 5, 2, b'a', b'*'], BadPattern("`*` inside a segment")),
        ("group not utf-8", vec![1, r, 1, b'a', 5, 1, 0xff], BadUtf8("group")),
        ("names count missing", vec![1, r, 1, b'a', 4], Truncated("route")),
        ("name past body", vec![1, r, 1, b'a', 4, 1, 3, b'x'], Truncated("route")),
        ("empty name", vec![1, r, 1, b'a', 4, 1, 0], EmptyName),
        ("name not utf-8", vec![1, r, 1, b'a', 4, 1, 1, 0xff], BadUtf8("client name")),
        ("route tag 0xff", vec![1, r, 1, b'a', 0xff], BadRoute(0xff)),
        ("route missing", vec![1, r, 1, b'a'], Truncated("route")),
        ("clients count missing", vec![1, r, 1, b'a', 2], Truncated("route")),
        ("clients past body", cat(&[&[1, r, 1, b'a', 2, 2], &[0; 15]]), Truncated("route")),
        ("room past body", vec![1, r, 1, b'a', 3, 5, b'x'], Truncated("route")),
        ("room not utf-8", vec![1, r, 1, b'a', 3, 1, 0xff], BadUtf8("room")),
        ("origin short", vec![1, o, 1, b'a', 1, 2, 3], Truncated("origin")),
        ("send time short", vec![1, t, 1, b'a', 1, 2, 3], Truncated("send time")),
        ("send time after origin short", cat(&[&[1, o | t, 1, b'a'], &[0; 12]]), Truncated("send time")),
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
    let json_ping = Header::new(Kind::Ping { sent_ns: 1 }, "c").with_encoding(Encoding::Json);
    let table = [
        (Header::data(&long), DecodeError::ChannelTooLong(256)),
        (Header::data(""), DecodeError::EmptyChannel),
        (json_ping, DecodeError::EncodingNotCarried(0x06)),
        (
            routed(&many),
            DecodeError::FieldTooLong {
                field: "client list",
                len: 256,
            },
        ),
        (
            routed(&big_room),
            DecodeError::FieldTooLong {
                field: "room name",
                len: 256,
            },
        ),
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
        Route::Group(Pattern::new(&"*/".repeat(127)).unwrap()),
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
