//! Inputs found by the fuzz targets (`fuzz/`), minimised, kept as unit tests so
//! they run in every `cargo test` without cargo-fuzz. `fuzz/README.md` says how a
//! crash becomes one of these.

use super::*;

// ---------------------------------------------------------------------------
// Crashes
// ---------------------------------------------------------------------------

/// `round_trip`, minimised: a data header on `c` encoded for a payload of
/// `usize::MAX` bytes. `body_prefix_len() + payload_len` overflowed: a panic with
/// overflow checks, and without them a wrapped body of 3 bytes encoded as `Ok`.
/// Near the limit of a routed header too.
#[test]
fn encode_refuses_a_payload_len_that_overflows_usize() {
    let ids = Route::Clients((0..255).collect());
    let routed = Header {
        route: Some(&ids),
        ..Header::new(all_kinds()[1], "c")
    };
    let cases = [
        (Header::data("c"), usize::MAX),
        (Header::data("c"), usize::MAX - 3),
        (routed.clone(), usize::MAX - routed.body_prefix_len() + 1),
    ];
    for (header, payload_len) in cases {
        let mut dst = Vec::new();
        let result = header.encode(payload_len, &mut dst);
        assert!(
            matches!(result, Err(DecodeError::FrameTooLarge { max, .. }) if max == u32::MAX as u64),
            "payload of {payload_len} bytes: {result:?}"
        );
        assert!(dst.is_empty(), "a refused header wrote {} bytes", dst.len());
    }
}

/// `decode_chunked` (checking the header split, now `step`'s `Large`),
/// minimised, then made an image: a header on an empty channel declaring a
/// 460,135-byte body, cut after its header. `decode` waits for the body; `step`
/// judges an image header at once, with the error `decode` gives once the body
/// is in. (The harness, not the decoder, was wrong: it expected no error
/// before the body.)
#[test]
fn an_image_header_is_judged_before_the_body_is_in() {
    let head = cat(&[&[0x67, 0x05, 0x07, 0x00, 0x02, 0x00, 0x00], &[0; 37]]);
    let mut decoder = Decoder::new(usize::MAX);
    let mut buf = BytesMut::from(&head[..]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    let err = DecodeError::EmptyChannel;
    assert_eq!(decoder.step(&mut buf, None), Err(err));
    assert_eq!(decoder.decode(&mut buf), Err(err), "sticky");
    let mut whole = BytesMut::from(&head[..]);
    whole.resize(LEN_PREFIX + 0x07_0567, 0);
    let mut fresh = Decoder::new(usize::MAX);
    assert_eq!(fresh.decode(&mut whole), Err(err));
}

// ---------------------------------------------------------------------------
// Corpus seeds: the smallest inputs the `decode` and `handshake` targets found
// for each way a stream or a hello can fail
// ---------------------------------------------------------------------------

/// Streams from the `decode` corpus (limit 1 MiB): the frames before the bad one,
/// then the error.
#[rustfmt::skip]
fn fuzzed_bad_streams() -> [(&'static str, Vec<u8>, usize, DecodeError); 8] {
    use DecodeError::*;
    [
        ("close on an empty channel", vec![5, 0, 0, 0, 9, 0, 0, 0, 0], 0, EmptyChannel),
        ("channel longer than the body",
            vec![9, 0, 0, 0, 9, 3, 0x23, 0xff, 0xff, 0, 0, 0, 0x20], 0, Truncated("channel")),
        ("close on a channel of bad utf-8",
            vec![9, 0, 0, 0, 9, 0, 3, 0xfc, 4, 0x10, 0, 0, 0], 0, BadUtf8("channel")),
        ("route flag, body ends with the channel",
            vec![9, 0, 0, 0, 9, 1, 6, 0x60, 3, 0x2b, 0x0a, 0, 0x4c], 0, Truncated("route")),
        ("room of bad utf-8 on a NUL channel",
            vec![9, 0, 0, 0, 9, 3, 2, 0, 0, 3, 1, 0x8b, 0xff], 0, BadUtf8("room")),
        ("one byte of origin",
            vec![8, 0, 0, 0, 9, 3, 3, 0, 0, 0x32, 1, 0], 0, Truncated("origin")),
        ("routed data, then a reply one field byte short",
            cat(&[&[9, 0, 0, 0, 1, 1, 2, 0, 0, 0, 9, 0, 0x13],
                  &[0x0d, 0, 0, 0, 5, 4, 2, 0, 2, 0x4b, 0, 0, 0, 0, 0, 0, 0xff]]),
            1, Truncated("kind fields")),
        ("mirrored empty data, then a length over the limit",
            vec![5, 0, 0, 0, 1, 4, 2, 0, 0, 0, 0, 0x4b, 0, 0, 0, 0xff], 1,
            FrameTooLarge { len: 0x4b_0000, max: MAX as u64 }),
    ]
}

/// Decodes `stream` fed as `chunks`; returns the frames and how it ended.
fn decode_until_error<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<Frame>, Result<(), DecodeError>) {
    let mut decoder = Decoder::new(MAX);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(err) => return (frames, Err(err)),
            }
        }
    }
    (frames, Ok(()))
}

#[test]
fn fuzzed_bad_streams_fail_alike_at_every_split() {
    for (name, stream, good, err) in fuzzed_bad_streams() {
        let (frames, end) = decode_until_error([&stream[..]]);
        assert_eq!((frames.len(), end), (good, Err(err)), "{name}");
        let consumed: usize = frames.iter().map(|f| encode(f).len()).sum();
        assert_eq!(
            encode_all(&frames),
            stream[..consumed],
            "{name}: good frames"
        );
        for i in 0..=stream.len() {
            let (a, b) = stream.split_at(i);
            assert_eq!(
                decode_until_error([a, b]),
                (frames.clone(), end),
                "{name}: split at {i}"
            );
        }
        assert_eq!(
            decode_until_error(stream.chunks(1)),
            (frames, end),
            "{name}: bytewise"
        );
    }
}

/// What `Hello::decode` returns.
type HelloDecision = Result<Option<(Hello, usize)>, DecodeError>;

/// Inputs from the `handshake` corpus: the bytes, the length at which the hello
/// is decided, and the decision. (The corpus's hellos of version 4 are of
/// version 5 here, the version this build speaks, so their names are judged.)
#[rustfmt::skip]
fn fuzzed_hellos() -> [(&'static str, Vec<u8>, usize, HelloDecision); 7] {
    use DecodeError::*;
    let doubled = cat(&[b"SKENSKEN", &[0, 0, 0, 0x45], &[0; 35]]);
    [
        ("first byte not S", vec![0x8b], 1, Err(BadMagic)),
        ("version 0", cat(&[b"SKEN", &[0, 0, 0]]), 7, Err(UnsupportedVersion(0))),
        ("magic twice", doubled, 7, Err(UnsupportedVersion(0x4b53))),
        ("version 1", cat(&[b"SKEN", &[1, 0, 0]]), 7, Err(UnsupportedVersion(1))),
        ("version 4", cat(&[b"SKEN", &[4, 0, 0, 0, 0]]), 7, Err(UnsupportedVersion(4))),
        ("empty name", cat(&[b"SKEN", &[5, 0, 0, 0, 0]]), 9, Ok(Some((Hello::new(""), 9)))),
        ("name of bad utf-8", cat(&[b"SKEN", &[5, 0, 4, 0x0d, 0xe1, 0x3a, 0xcf, 0xde]]), 11,
            Err(BadUtf8("client name"))),
    ]
}

#[test]
fn fuzzed_hellos_wait_then_decide_once() {
    for (name, bytes, decided_at, decision) in fuzzed_hellos() {
        for k in 0..=bytes.len() {
            let want = if k < decided_at {
                Ok(None)
            } else {
                decision.clone()
            };
            assert_eq!(Hello::decode(&bytes[..k]), want, "{name}: {k} bytes");
        }
    }
    // The magic twice is also a whole welcome, of an unknown version and status:
    // the welcome decoder leaves judging those to the client.
    let doubled = &fuzzed_hellos()[2].1;
    let welcome = Welcome {
        version: 0x4b53,
        status: WelcomeStatus::Unknown(0x45),
        client_id: 0x45_0000_004e,
        host_time_ns: 0,
        resume: ResumeToken::NONE,
        epoch: 0,
    };
    assert_eq!(Welcome::decode(doubled), Ok(Some(welcome)));
    assert_eq!(welcome.encode()[..], doubled[..WELCOME_LEN]);
}
