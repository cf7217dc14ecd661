//! Image frames: arbitrary `ImageMeta` (with any channel, route, origin,
//! mirror and send time) round-trips bit-exact, its 37 bytes sitting where the spec puts them;
//! a valid image head followed by arbitrary bytes, whatever payload length it
//! declares, decodes without panicking and as the reference parser says; and a
//! length prefix ending the body inside the image fields is refused naming them.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use socketengine::protocol::{
    Encoding, FLAG_MIRROR, FLAG_ORIGIN, FLAG_ROUTE, FLAG_SENT_AT, Kind, KindCode, LEN_PREFIX,
};
use socketengine_fuzz::{
    AnyImageMeta, AnyRoute, Built, ValidChannel, check_truncated, decode_one_shot, max_frame,
    route_len, spec_decode,
};

#[derive(Debug, Arbitrary)]
struct Input {
    meta: AnyImageMeta,
    channel: ValidChannel,
    route: Option<AnyRoute>,
    origin: Option<u64>,
    mirror: bool,
    sent_at: Option<u64>,
    /// Payload length the second head declares.
    declared: u16,
    /// Picks the decoder's limit for the head-and-tail stream.
    limit: u8,
    /// Where the truncated copy ends.
    cut: u16,
    /// Payload of the first frame; bytes after the second head.
    tail: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let meta = input.meta.build();
    let mut built = Built {
        kind: Kind::Image(meta),
        channel: input.channel.0,
        route: input.route.map(|r| r.build(true)),
        origin: input.origin,
        mirror: input.mirror,
        sent_at: input.sent_at,
        encoding: Encoding::Bytes,
        payload: input.tail.into(),
    };
    let wire = built
        .header()
        .to_bytes(&built.payload)
        .expect("a valid header");

    // The bytes, where the spec puts them.
    let n = built.channel.len();
    let flags = [
        (built.route.is_some(), FLAG_ROUTE),
        (built.origin.is_some(), FLAG_ORIGIN),
        (built.mirror, FLAG_MIRROR),
        (built.sent_at.is_some(), FLAG_SENT_AT),
    ];
    let flags = flags.iter().filter(|f| f.0).fold(0, |acc, f| acc | f.1);
    assert_eq!(
        wire[LEN_PREFIX..LEN_PREFIX + 3],
        [KindCode::Image.code(), flags, n as u8],
        "kind, flags, n"
    );
    let at = LEN_PREFIX
        + 3
        + n
        + built.route.as_ref().map_or(0, route_len)
        + if built.origin.is_some() { 8 } else { 0 };
    if let Some(sent_at) = built.sent_at {
        assert_eq!(wire[at..at + 8], sent_at.to_le_bytes(), "send time");
    }
    let at = at + if built.sent_at.is_some() { 8 } else { 0 };
    let mut fields = Vec::new();
    fields.extend_from_slice(&meta.width.to_le_bytes());
    fields.extend_from_slice(&meta.height.to_le_bytes());
    fields.push(meta.format);
    fields.extend_from_slice(&meta.stride.to_le_bytes());
    fields.extend_from_slice(&meta.seq.to_le_bytes());
    fields.extend_from_slice(&meta.timestamp_ns.to_le_bytes());
    fields.extend_from_slice(&meta.total_len.to_le_bytes());
    assert_eq!(wire[at..at + 37], fields[..], "image fields");
    assert_eq!(
        wire[at + 37..],
        built.payload[..],
        "payload follows the fields"
    );

    // Round trip, bit-exact.
    let decoded = decode_one_shot(&wire, usize::MAX);
    assert_eq!(decoded.frames, [built.frame()], "image round trip");
    check_truncated(&wire, &built, usize::from(input.cut));

    // A head declaring `declared` payload bytes, then whatever bytes follow.
    let declared = usize::from(input.declared);
    let mut stream = Vec::new();
    built
        .header()
        .encode(declared, &mut stream)
        .expect("a valid header");
    stream.extend_from_slice(&built.payload);
    let max = max_frame(input.limit);
    let got = decode_one_shot(&stream, max);
    assert_eq!(got, spec_decode(&stream, max), "decoder and spec disagree");
    let body = built.body_prefix_len() + declared;
    if body <= max {
        if built.payload.len() >= declared {
            built.payload = built.payload.slice(..declared);
            assert_eq!(got.frames.first(), Some(&built.frame()), "image frame");
        } else {
            assert_eq!((got.frames.len(), got.end), (0, Ok(())), "a partial image");
            assert_eq!(got.frame_len, Some(LEN_PREFIX + body), "frame_len");
        }
    }
});
