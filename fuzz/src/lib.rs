//! Helpers shared by the fuzz targets (see `README.md`):
//!
//! * [`decode_one_shot`] decodes a whole stream from one buffer and checks the
//!   decoder's invariants on the way (bounded, canonical, sticky errors);
//! * [`spec_decode`] (in `spec.rs`) is a reference parser written from the wire
//!   format in `socketengine::protocol` (not from the decoder), to compare the
//!   decoder with;
//! * [`AnyFrame`] and friends build frames with `arbitrary`, valid or not, and say
//!   which errors the encoder may give for the invalid ones.

mod spec;

pub use spec::spec_decode;
use spec::spec_sent_at;

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use socketengine::protocol::{
    ChannelName, DecodeError, Decoder, Encoding, FLAG_SENT_AT, Frame, Header, ImageMeta, Kind,
    KindCode, LEN_PREFIX, MAX_CHANNEL_LEN, Pattern, Route,
};

/// Frame size limits a target picks from with a selector byte: none allowed,
/// below the smallest body, the smallest body, small, a page, the engine's order
/// of magnitude, and unlimited.
pub const MAXES: [usize; 8] = [0, 3, 4, 16, 300, 4096, 1 << 20, usize::MAX];

/// Bytes the decoder needs before it judges a frame: length prefix, kind, flags.
pub const HEAD_LEN: usize = LEN_PREFIX + 2;

/// Smallest legal body: kind, flags, channel length and a one-byte name.
pub const MIN_BODY: usize = 4;

/// The limit picked by `selector`.
pub fn max_frame(selector: u8) -> usize {
    MAXES[usize::from(selector) % MAXES.len()]
}

/// What decoding a stream came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Every frame decoded, in order.
    pub frames: Vec<Frame>,
    /// `Ok` when the stream ended between frames or inside one; the error otherwise.
    pub end: Result<(), DecodeError>,
    /// Bytes of the stream consumed by the frames.
    pub consumed: usize,
    /// The decoder's `frame_len()` at the end.
    pub frame_len: Option<usize>,
}

/// The bytes `frame` encodes to. A decoded frame always has a valid header.
pub fn reencode(frame: &Frame) -> Bytes {
    match frame.header().to_bytes(&frame.payload) {
        Ok(wire) => wire,
        Err(err) => panic!("decoded frame {frame:?} does not re-encode: {err}"),
    }
}

/// Decodes `stream`, held whole in one buffer, with a decoder limited to `max`.
///
/// Checks on the way: the loop ends within `stream.len() / 8 + 1` frames; every
/// frame re-encodes to exactly the bytes it was decoded from (so the payloads
/// and headers add up to the bytes consumed, nothing lost or invented); at the
/// end, `Ok(None)` leaves only a partial frame and asking again changes nothing;
/// an error consumes nothing and is returned again on every later call, whatever
/// bytes arrive.
pub fn decode_one_shot(stream: &[u8], max: usize) -> Outcome {
    let mut decoder = Decoder::new(max);
    let mut buf = BytesMut::from(stream);
    let mut frames = Vec::new();
    let mut consumed = 0;
    let bound = stream.len() / (LEN_PREFIX + MIN_BODY) + 1;
    let end = loop {
        assert!(
            frames.len() <= bound,
            "more frames than the stream can hold"
        );
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => {
                let wire = reencode(&frame);
                let used = stream.get(consumed..consumed + wire.len());
                assert_eq!(used, Some(&wire[..]), "frame differs from its bytes");
                consumed += wire.len();
                assert!(frame.payload.len() <= max, "payload over the limit");
                frames.push(frame);
            }
            Ok(None) => break Ok(()),
            Err(err) => break Err(err),
        }
        assert_eq!(consumed + buf.len(), stream.len(), "bytes lost or invented");
    };
    assert_eq!(
        &buf[..],
        &stream[consumed..],
        "the rest is not the stream's tail"
    );
    let frame_len = decoder.frame_len();
    match end {
        Ok(()) => {
            match frame_len {
                Some(n) => assert!(
                    buf.len() < n && n >= LEN_PREFIX + MIN_BODY && n - LEN_PREFIX <= max,
                    "frame_len {n} with {} bytes buffered, max {max}",
                    buf.len()
                ),
                None => assert!(buf.len() < HEAD_LEN, "a whole head left undecided"),
            }
            assert_eq!(decoder.decode(&mut buf), Ok(None), "asked again");
            assert_eq!(buf.len(), stream.len() - consumed, "asking again consumed");
        }
        Err(err) => {
            assert_eq!(frame_len, None, "a failed decoder still expects a frame");
            for more in [&[][..], &[0u8; 64][..], stream] {
                buf.extend_from_slice(more);
                assert_eq!(decoder.decode(&mut buf), Err(err), "error not sticky");
            }
        }
    }
    Outcome {
        frames,
        end,
        consumed,
        frame_len,
    }
}

/// Cuts `s` to at most `max` bytes, at a character boundary.
pub fn truncate_str(s: &mut String, max: usize) {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

/// Bytes a route takes on the wire, by the spec.
pub fn route_len(route: &Route) -> usize {
    match route {
        Route::Host | Route::All => 1,
        Route::Clients(ids) => 2 + 8 * ids.len(),
        Route::Room(name) => 2 + name.len(),
        Route::Names(names) => 2 + names.iter().map(|n| 1 + n.len()).sum::<usize>(),
        Route::Group(pattern) => 2 + pattern.as_str().len(),
    }
}

/// A channel name: usually valid (1..=255 bytes of UTF-8, now and then exactly
/// 255), sometimes empty or too long. Running out of input gives a valid one.
#[derive(Debug, Clone)]
pub struct AnyChannel(pub String);

impl<'a> Arbitrary<'a> for AnyChannel {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut name = String::arbitrary(u)?;
        match u8::arbitrary(u)? {
            255 => name.clear(),
            254 => {
                let extra = usize::from(u8::arbitrary(u)? % 8) + 1;
                while name.len() < MAX_CHANNEL_LEN + extra {
                    name.push('x');
                }
            }
            253 => {
                truncate_str(&mut name, MAX_CHANNEL_LEN);
                while name.len() < MAX_CHANNEL_LEN {
                    name.push('m');
                }
            }
            _ => {
                truncate_str(&mut name, MAX_CHANNEL_LEN);
                if name.is_empty() {
                    name.push('c');
                }
            }
        }
        Ok(AnyChannel(name))
    }
}

/// A valid channel name: 1..=255 bytes of UTF-8.
#[derive(Debug, Clone)]
pub struct ValidChannel(pub String);

impl<'a> Arbitrary<'a> for ValidChannel {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let AnyChannel(mut name) = AnyChannel::arbitrary(u)?;
        truncate_str(&mut name, MAX_CHANNEL_LEN);
        if name.is_empty() {
            name.push('v');
        }
        Ok(ValidChannel(name))
    }
}

/// A route: the short lists valid, the long ones around the 255 limit.
#[derive(Debug, Clone, Arbitrary)]
pub enum AnyRoute {
    /// [`Route::Host`].
    Host,
    /// [`Route::All`].
    All,
    /// Up to 255 ids.
    Clients(Vec<u64>),
    /// A room name of up to 255 bytes.
    Room(String),
    /// Up to 255 client names of 1..=255 bytes.
    Names(Vec<String>),
    /// 250..=259 ids.
    ManyClients {
        /// Ids past 250.
        extra: u8,
        /// The first id; the others count up from it.
        first: u64,
    },
    /// A group: a channel pattern, its text cut to 255 bytes; one that is
    /// not a valid pattern becomes `**`.
    Group(String),
    /// A room name of 250..=262 bytes.
    LongRoom {
        /// Bytes past 250.
        extra: u8,
        /// The character it repeats.
        fill: char,
    },
}

impl AnyRoute {
    /// The route; `valid_only` cuts the long lists to 255.
    pub fn build(&self, valid_only: bool) -> Route {
        let limit = if valid_only { 255 } else { usize::MAX };
        match self {
            AnyRoute::Host => Route::Host,
            AnyRoute::All => Route::All,
            AnyRoute::Clients(ids) => Route::Clients(ids.iter().copied().take(255).collect()),
            AnyRoute::Room(name) => {
                let mut name = name.clone();
                truncate_str(&mut name, 255);
                Route::Room(name)
            }
            AnyRoute::Names(names) => Route::Names(
                names
                    .iter()
                    .take(255)
                    .map(|name| {
                        let mut name = name.clone();
                        truncate_str(&mut name, 255);
                        if name.is_empty() {
                            name.push('n');
                        }
                        name
                    })
                    .collect(),
            ),
            AnyRoute::Group(text) => {
                let mut text = text.clone();
                truncate_str(&mut text, 255);
                let pattern = Pattern::new(&text).or_else(|_| Pattern::new("**"));
                Route::Group(pattern.expect("`**` is a pattern"))
            }
            AnyRoute::ManyClients { extra, first } => {
                let n = (250 + usize::from(extra % 10)).min(limit);
                Route::Clients((0..n as u64).map(|i| first.wrapping_add(i)).collect())
            }
            AnyRoute::LongRoom { extra, fill } => {
                let n = 250 + usize::from(extra % 10);
                let mut name = String::new();
                while name.len() < n {
                    name.push(*fill);
                }
                if name.len() > limit {
                    truncate_str(&mut name, limit);
                }
                Route::Room(name)
            }
        }
    }
}

/// Image fields, all arbitrary.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct AnyImageMeta {
    /// See [`ImageMeta`].
    pub width: u32,
    /// See [`ImageMeta`].
    pub height: u32,
    /// See [`ImageMeta`].
    pub format: u8,
    /// See [`ImageMeta`].
    pub stride: u32,
    /// See [`ImageMeta`].
    pub seq: u64,
    /// See [`ImageMeta`].
    pub timestamp_ns: u64,
    /// See [`ImageMeta`].
    pub total_len: u64,
}

impl AnyImageMeta {
    /// The library's value.
    pub fn build(self) -> ImageMeta {
        ImageMeta {
            width: self.width,
            height: self.height,
            format: self.format,
            stride: self.stride,
            seq: self.seq,
            timestamp_ns: self.timestamp_ns,
            total_len: self.total_len,
        }
    }
}

/// Every [`Kind`], with arbitrary fields.
#[derive(Debug, Clone, Copy, Arbitrary)]
#[allow(missing_docs)]
pub enum AnyKind {
    Data,
    Image(AnyImageMeta),
    ImageChunk { seq: u64, offset: u64 },
    Request { id: u64 },
    Reply { id: u64, status: u8 },
    Ping { sent_ns: u64 },
    Pong { ping_sent_ns: u64, sent_ns: u64 },
    Control { op: u8 },
    Close { reason: u8 },
}

impl AnyKind {
    /// The library's value.
    pub fn build(self) -> Kind {
        match self {
            AnyKind::Data => Kind::Data,
            AnyKind::Image(m) => Kind::Image(m.build()),
            AnyKind::ImageChunk { seq, offset } => Kind::ImageChunk { seq, offset },
            AnyKind::Request { id } => Kind::Request { id },
            AnyKind::Reply { id, status } => Kind::Reply { id, status },
            AnyKind::Ping { sent_ns } => Kind::Ping { sent_ns },
            AnyKind::Pong {
                ping_sent_ns,
                sent_ns,
            } => Kind::Pong {
                ping_sent_ns,
                sent_ns,
            },
            AnyKind::Control { op } => Kind::Control { op },
            AnyKind::Close { reason } => Kind::Close { reason },
        }
    }
}

/// A frame to encode, valid or not.
#[derive(Debug, Clone, Arbitrary)]
pub struct AnyFrame {
    /// Kind and kind fields.
    pub kind: AnyKind,
    /// Channel name.
    pub channel: AnyChannel,
    /// Optional route.
    pub route: Option<AnyRoute>,
    /// Optional origin.
    pub origin: Option<u64>,
    /// Mirror flag.
    pub mirror: bool,
    /// Optional send time (on any kind, so some are invalid).
    pub sent_at: Option<u64>,
    /// The payload's encoding: its code modulo 3 (on any kind, so some
    /// are invalid).
    pub encoding: u8,
    /// Payload.
    pub payload: Vec<u8>,
}

/// An [`AnyFrame`] in the library's types, ready to encode.
#[derive(Debug, Clone)]
pub struct Built {
    /// Kind.
    pub kind: Kind,
    /// Channel name, maybe invalid.
    pub channel: String,
    /// Route, maybe with too long a list.
    pub route: Option<Route>,
    /// Origin.
    pub origin: Option<u64>,
    /// Mirror flag.
    pub mirror: bool,
    /// Send time, maybe on a kind that carries none.
    pub sent_at: Option<u64>,
    /// The payload's encoding, maybe on a kind that carries none.
    pub encoding: Encoding,
    /// Payload.
    pub payload: Bytes,
}

impl AnyFrame {
    /// The frame in the library's types.
    pub fn build(&self) -> Built {
        Built {
            kind: self.kind.build(),
            channel: self.channel.0.clone(),
            route: self.route.as_ref().map(|r| r.build(false)),
            origin: self.origin,
            mirror: self.mirror,
            sent_at: self.sent_at,
            encoding: Encoding::from_code(self.encoding % 3).expect("0, 1 or 2"),
            payload: Bytes::copy_from_slice(&self.payload),
        }
    }
}

impl Built {
    /// The header to encode.
    pub fn header(&self) -> Header<'_> {
        Header {
            kind: self.kind,
            channel: &self.channel,
            route: self.route.as_ref(),
            origin: self.origin,
            mirror: self.mirror,
            sent_at: self.sent_at,
            encoding: self.encoding,
        }
    }

    /// Every rule the header breaks, as the error naming it; empty when valid.
    pub fn violations(&self) -> Vec<DecodeError> {
        let mut errors = Vec::new();
        let code = self.kind.kind_code();
        let carries = matches!(code, KindCode::Data | KindCode::Request | KindCode::Reply);
        if self.encoding != Encoding::Bytes && !carries {
            errors.push(DecodeError::EncodingNotCarried(code.code()));
        }
        if let (Some(_), Err(err)) = (self.sent_at, spec_sent_at(code, FLAG_SENT_AT)) {
            errors.push(err);
        }
        match self.channel.len() {
            0 => errors.push(DecodeError::EmptyChannel),
            n if n > MAX_CHANNEL_LEN => errors.push(DecodeError::ChannelTooLong(n)),
            _ => {}
        }
        match &self.route {
            Some(Route::Clients(ids)) if ids.len() > 255 => {
                errors.push(DecodeError::FieldTooLong {
                    field: "client list",
                    len: ids.len(),
                });
            }
            Some(Route::Room(name)) if name.len() > 255 => {
                errors.push(DecodeError::FieldTooLong {
                    field: "room name",
                    len: name.len(),
                });
            }
            _ => {}
        }
        errors
    }

    /// Body bytes before the payload, by the spec.
    pub fn body_prefix_len(&self) -> usize {
        3 + self.channel.len()
            + self.route.as_ref().map_or(0, route_len)
            + if self.origin.is_some() { 8 } else { 0 }
            + if self.sent_at.is_some() { 8 } else { 0 }
            + kind_fields_len(&self.kind)
    }

    /// The frame a decoder must give for this (valid) header and payload.
    pub fn frame(&self) -> Frame {
        Frame {
            kind: self.kind,
            channel: ChannelName::new(&self.channel).expect("a valid channel"),
            route: self.route.clone(),
            origin: self.origin,
            mirror: self.mirror,
            sent_at: self.sent_at,
            encoding: self.encoding,
            payload: self.payload.clone(),
        }
    }
}

/// Bytes of the kind fields, by the spec's table.
pub fn kind_fields_len(kind: &Kind) -> usize {
    match kind {
        Kind::Data => 0,
        Kind::Image(_) => 37,
        Kind::ImageChunk { .. } | Kind::Pong { .. } => 16,
        Kind::Request { .. } | Kind::Ping { .. } => 8,
        Kind::Reply { .. } => 9,
        Kind::Control { .. } | Kind::Close { .. } => 1,
    }
}

/// Rewrites the length prefix of the valid frame `wire` (encoded from `built`)
/// to a body of `cut % body_prefix_len` bytes, which ends inside the header
/// fields, and checks that the decoder names the field the body ends in. The
/// bytes after the cut stay, as a following frame would.
pub fn check_truncated(wire: &[u8], built: &Built, cut: usize) {
    let prefix = built.body_prefix_len();
    let len = cut % prefix;
    let channel_end = 3 + built.channel.len();
    let route_end = channel_end + built.route.as_ref().map_or(0, route_len);
    let origin_end = route_end + if built.origin.is_some() { 8 } else { 0 };
    let sent_at_end = origin_end + if built.sent_at.is_some() { 8 } else { 0 };
    let expected = if len < MIN_BODY {
        DecodeError::FrameTooShort { len: len as u32 }
    } else if len < channel_end {
        DecodeError::Truncated("channel")
    } else if len < route_end {
        DecodeError::Truncated("route")
    } else if len < origin_end {
        DecodeError::Truncated("origin")
    } else if len < sent_at_end {
        DecodeError::Truncated("send time")
    } else {
        DecodeError::Truncated("kind fields")
    };
    let mut bytes = BytesMut::from(&(len as u32).to_le_bytes()[..]);
    bytes.extend_from_slice(&wire[LEN_PREFIX..]);
    let got = Decoder::new(usize::MAX).decode(&mut bytes);
    assert_eq!(
        got,
        Err(expected),
        "body of {len} bytes, header of {prefix}"
    );
    assert_eq!(spec_decode(&bytes, usize::MAX).end, Err(expected));
}
