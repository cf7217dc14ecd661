//! Frame headers: the kinds, flags and routing fields of the [wire format](super),
//! and their encoding.

use bytes::{BufMut, Bytes};

use super::{ChannelName, DecodeError, Encoding, FLAG_ENCODING, Pattern};

/// Bytes of the length prefix that starts every frame.
pub const LEN_PREFIX: usize = 4;

/// Longest channel name in bytes (the name's length travels in one byte).
pub const MAX_CHANNEL_LEN: usize = 255;

/// Longest header without a route: prefix, kind, flags, name length, a 255-byte
/// name, an origin, a send time and the largest kind fields (an image's 37 bytes).
const MAX_UNROUTED_HEAD: usize =
    LEN_PREFIX + 3 + MAX_CHANNEL_LEN + 8 + 8 + KindCode::Image.fields_len();

/// The flags bit set when a [`Route`] follows the channel.
pub const FLAG_ROUTE: u8 = 0x01;
/// The header bit set when an origin client id follows the channel (and route).
pub const FLAG_ORIGIN: u8 = 0x02;
/// The header bit asking the host to send a routed frame back to its sender too.
pub const FLAG_MIRROR: u8 = 0x04;
/// The header bit set when a send time (`u64`, nanoseconds since the Unix
/// epoch on the host's clock) follows the origin.
pub const FLAG_SENT_AT: u8 = 0x08;
const KNOWN_FLAGS: u8 = FLAG_ROUTE | FLAG_ORIGIN | FLAG_MIRROR | FLAG_SENT_AT | FLAG_ENCODING;

/// Pixel geometry and timing of an image frame; see the [wire format](super).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImageMeta {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Pixel format code (defined by the image layer).
    pub format: u8,
    /// Bytes per row, padding included.
    pub stride: u32,
    /// Sender's frame sequence number.
    pub seq: u64,
    /// Capture time, nanoseconds since the Unix epoch on the sender's clock.
    pub timestamp_ns: u64,
    /// Payload bytes of the whole image, across all its chunks.
    pub total_len: u64,
}

/// What a frame is, with the fields specific to its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A plain channel message.
    Data,
    /// An image; the payload is the first (or only) chunk of its pixels.
    Image(ImageMeta),
    /// A later chunk of image `seq`, placed at byte `offset` of its payload.
    ImageChunk {
        /// Sequence number of the image this chunk belongs to.
        seq: u64,
        /// Byte offset of this chunk within the image payload.
        offset: u64,
    },
    /// A request that expects a [`Kind::Reply`] with the same id.
    Request {
        /// Request id, unique per sender.
        id: u64,
    },
    /// The answer to a request.
    Reply {
        /// Id of the request answered.
        id: u64,
        /// Application status; 0 means success.
        status: u8,
    },
    /// A liveness probe carrying the sender's clock.
    Ping {
        /// Sender's clock when sent, in nanoseconds.
        sent_ns: u64,
    },
    /// The answer to a ping.
    Pong {
        /// The `sent_ns` of the ping answered.
        ping_sent_ns: u64,
        /// Responder's clock when answering, in nanoseconds.
        sent_ns: u64,
    },
    /// A control operation (join or leave a room, subscribe); the payload is its argument.
    Control {
        /// Operation code.
        op: u8,
    },
    /// The sender is closing the connection; the payload is a UTF-8 message.
    Close {
        /// Reason code.
        reason: u8,
    },
}

/// The kind byte of a frame: the one table of kind codes in the
/// [wire format](super), used by the decoder, [`Kind`] and the image path.
///
/// # Examples
///
/// ```
/// use socketengine::protocol::KindCode;
///
/// assert_eq!(KindCode::Image.code(), 0x02);
/// assert_eq!(KindCode::from_code(0x09), Some(KindCode::Close));
/// assert_eq!(KindCode::from_code(0x0a), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum KindCode {
    /// [`Kind::Data`].
    Data = 0x01,
    /// [`Kind::Image`].
    Image = 0x02,
    /// [`Kind::ImageChunk`].
    ImageChunk = 0x03,
    /// [`Kind::Request`].
    Request = 0x04,
    /// [`Kind::Reply`].
    Reply = 0x05,
    /// [`Kind::Ping`].
    Ping = 0x06,
    /// [`Kind::Pong`].
    Pong = 0x07,
    /// [`Kind::Control`].
    Control = 0x08,
    /// [`Kind::Close`].
    Close = 0x09,
}

impl KindCode {
    /// Every kind, in code order.
    pub const ALL: [KindCode; 9] = [
        KindCode::Data,
        KindCode::Image,
        KindCode::ImageChunk,
        KindCode::Request,
        KindCode::Reply,
        KindCode::Ping,
        KindCode::Pong,
        KindCode::Control,
        KindCode::Close,
    ];

    /// The byte on the wire.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The kind with wire byte `code`, if any.
    pub fn from_code(code: u8) -> Option<KindCode> {
        // Codes run from 1 without gaps (checked below at compile time), so the
        // table is indexed rather than searched.
        KindCode::ALL
            .get(usize::from(code).wrapping_sub(1))
            .copied()
    }

    /// Whether frames of this kind carry image bytes (an image or an image
    /// chunk), whose payloads a receiver reads into a buffer of their own.
    pub const fn is_image(self) -> bool {
        matches!(self, KindCode::Image | KindCode::ImageChunk)
    }

    /// Whether frames of this kind may carry a send time ([`FLAG_SENT_AT`]):
    /// the application's messages (data, the first frame of an image), not
    /// requests, replies or the connection's own frames.
    pub const fn carries_sent_at(self) -> bool {
        matches!(self, KindCode::Data | KindCode::Image)
    }

    /// Bytes of kind-specific fields after the routing fields.
    pub const fn fields_len(self) -> usize {
        match self {
            KindCode::Data => 0,
            KindCode::Image => 37,
            KindCode::ImageChunk | KindCode::Pong => 16,
            KindCode::Request | KindCode::Ping => 8,
            KindCode::Reply => 9,
            KindCode::Control | KindCode::Close => 1,
        }
    }
}

// `from_code` indexes `ALL` by code: every code must sit at its index plus one.
const _: () = {
    let mut i = 0;
    while i < KindCode::ALL.len() {
        assert!(KindCode::ALL[i] as usize == i + 1);
        i += 1;
    }
};

impl Kind {
    /// The kind byte on the wire.
    pub fn code(&self) -> u8 {
        self.kind_code().code()
    }

    /// The entry of the kind table this kind has.
    pub fn kind_code(&self) -> KindCode {
        match self {
            Kind::Data => KindCode::Data,
            Kind::Image(_) => KindCode::Image,
            Kind::ImageChunk { .. } => KindCode::ImageChunk,
            Kind::Request { .. } => KindCode::Request,
            Kind::Reply { .. } => KindCode::Reply,
            Kind::Ping { .. } => KindCode::Ping,
            Kind::Pong { .. } => KindCode::Pong,
            Kind::Control { .. } => KindCode::Control,
            Kind::Close { .. } => KindCode::Close,
        }
    }

    pub(crate) fn put_fields(&self, dst: &mut impl BufMut) {
        match *self {
            Kind::Data => {}
            Kind::Image(m) => {
                dst.put_u32_le(m.width);
                dst.put_u32_le(m.height);
                dst.put_u8(m.format);
                dst.put_u32_le(m.stride);
                dst.put_u64_le(m.seq);
                dst.put_u64_le(m.timestamp_ns);
                dst.put_u64_le(m.total_len);
            }
            Kind::ImageChunk { seq, offset } => {
                dst.put_u64_le(seq);
                dst.put_u64_le(offset);
            }
            Kind::Request { id } => dst.put_u64_le(id),
            Kind::Reply { id, status } => {
                dst.put_u64_le(id);
                dst.put_u8(status);
            }
            Kind::Ping { sent_ns } => dst.put_u64_le(sent_ns),
            Kind::Pong {
                ping_sent_ns,
                sent_ns,
            } => {
                dst.put_u64_le(ping_sent_ns);
                dst.put_u64_le(sent_ns);
            }
            Kind::Control { op } => dst.put_u8(op),
            Kind::Close { reason } => dst.put_u8(reason),
        }
    }

    /// Parses the fields of kind `code` from `f`, which holds exactly
    /// [`code.fields_len()`](KindCode::fields_len) bytes.
    pub(crate) fn parse(code: KindCode, f: &[u8]) -> Kind {
        let u32_at = |i: usize| u32::from_le_bytes([f[i], f[i + 1], f[i + 2], f[i + 3]]);
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&f[i..i + 8]);
            u64::from_le_bytes(b)
        };
        match code {
            KindCode::Data => Kind::Data,
            KindCode::Image => Kind::Image(ImageMeta {
                width: u32_at(0),
                height: u32_at(4),
                format: f[8],
                stride: u32_at(9),
                seq: u64_at(13),
                timestamp_ns: u64_at(21),
                total_len: u64_at(29),
            }),
            KindCode::ImageChunk => Kind::ImageChunk {
                seq: u64_at(0),
                offset: u64_at(8),
            },
            KindCode::Request => Kind::Request { id: u64_at(0) },
            KindCode::Reply => Kind::Reply {
                id: u64_at(0),
                status: f[8],
            },
            KindCode::Ping => Kind::Ping { sent_ns: u64_at(0) },
            KindCode::Pong => Kind::Pong {
                ping_sent_ns: u64_at(0),
                sent_ns: u64_at(8),
            },
            KindCode::Control => Kind::Control { op: f[0] },
            KindCode::Close => Kind::Close { reason: f[0] },
        }
    }
}

/// The table entry of wire byte `code`, or the decoder's error for an unknown one.
pub(crate) fn parse_code(code: u8) -> Result<KindCode, DecodeError> {
    KindCode::from_code(code).ok_or(DecodeError::UnknownKind(code))
}

/// Where the host should deliver a frame a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// The host only (the same as sending no route).
    Host,
    /// Every connected client.
    All,
    /// The clients with these ids (at most 255).
    Clients(Vec<u64>),
    /// The members of a room.
    Room(String),
    /// The clients with these names (at most 255, each 1..=255 bytes).
    Names(Vec<String>),
    /// The clients whose declared interest overlaps a channel pattern.
    Group(Pattern),
}

impl Route {
    fn encoded_len(&self) -> usize {
        match self {
            Route::Host | Route::All => 1,
            Route::Clients(ids) => 2 + 8 * ids.len(),
            Route::Room(name) => 2 + name.len(),
            Route::Names(names) => 2 + names.iter().map(|n| 1 + n.len()).sum::<usize>(),
            Route::Group(pattern) => 2 + pattern.as_str().len(),
        }
    }

    fn put(&self, dst: &mut impl BufMut) {
        match self {
            Route::Host => dst.put_u8(0),
            Route::All => dst.put_u8(1),
            Route::Clients(ids) => {
                dst.put_u8(2);
                dst.put_u8(ids.len() as u8);
                ids.iter().for_each(|id| dst.put_u64_le(*id));
            }
            Route::Room(name) => {
                dst.put_u8(3);
                dst.put_u8(name.len() as u8);
                dst.put_slice(name.as_bytes());
            }
            Route::Names(names) => {
                dst.put_u8(4);
                dst.put_u8(names.len() as u8);
                for name in names {
                    dst.put_u8(name.len() as u8);
                    dst.put_slice(name.as_bytes());
                }
            }
            Route::Group(pattern) => {
                dst.put_u8(5);
                dst.put_u8(pattern.as_str().len() as u8);
                dst.put_slice(pattern.as_str().as_bytes());
            }
        }
    }

    /// How many bytes the route at the start of `b` takes, once enough of
    /// it is in `b` to tell; an unknown tag counts one byte (parsing refuses it).
    pub(crate) fn wire_len(b: &[u8]) -> Option<usize> {
        match *b.first()? {
            2 => Some(2 + 8 * *b.get(1)? as usize),
            3 | 5 => Some(2 + *b.get(1)? as usize),
            4 => {
                let mut at = 2;
                for _ in 0..*b.get(1)? {
                    at += 1 + *b.get(at)? as usize;
                }
                Some(at)
            }
            _ => Some(1),
        }
    }

    /// Parses a route from the start of `b`; returns it and the bytes it used.
    pub(crate) fn parse(b: &[u8]) -> Result<(Route, usize), DecodeError> {
        let short = DecodeError::Truncated("route");
        let (&tag, rest) = b.split_first().ok_or(short)?;
        match tag {
            0 => Ok((Route::Host, 1)),
            1 => Ok((Route::All, 1)),
            2 => {
                let n = *rest.first().ok_or(short)? as usize;
                let ids = rest.get(1..1 + 8 * n).ok_or(short)?;
                let ids = ids
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                    .collect();
                Ok((Route::Clients(ids), 2 + 8 * n))
            }
            3 => {
                let n = *rest.first().ok_or(short)? as usize;
                let name = rest.get(1..1 + n).ok_or(short)?;
                let name = std::str::from_utf8(name).map_err(|_| DecodeError::BadUtf8("room"))?;
                Ok((Route::Room(name.to_owned()), 2 + n))
            }
            4 => {
                let count = *rest.first().ok_or(short)? as usize;
                let (mut names, mut at) = (Vec::with_capacity(count), 1);
                for _ in 0..count {
                    let n = *rest.get(at).ok_or(short)? as usize;
                    let name = rest.get(at + 1..at + 1 + n).ok_or(short)?;
                    let name = std::str::from_utf8(name)
                        .map_err(|_| DecodeError::BadUtf8("client name"))?;
                    if name.is_empty() {
                        return Err(DecodeError::EmptyName);
                    }
                    names.push(name.to_owned());
                    at += 1 + n;
                }
                Ok((Route::Names(names), 1 + at))
            }
            5 => {
                let n = *rest.first().ok_or(short)? as usize;
                let text = rest.get(1..1 + n).ok_or(short)?;
                let text = std::str::from_utf8(text).map_err(|_| DecodeError::BadUtf8("group"))?;
                let pattern = Pattern::new(text).map_err(|err| match err {
                    DecodeError::EmptyChannel => DecodeError::BadPattern("an empty group"),
                    err => err,
                })?;
                Ok((Route::Group(pattern), 2 + n))
            }
            other => Err(DecodeError::BadRoute(other)),
        }
    }
}

/// Everything in a frame before its payload, borrowed for encoding.
///
/// Build one with [`Header::data`] (or a struct literal) and write it with
/// [`Header::encode`]; the decoder's output is a [`Frame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// What the frame is.
    pub kind: Kind,
    /// The channel name: 1..=255 bytes of UTF-8.
    pub channel: &'a str,
    /// Delivery target requested by a client; `None` means the host.
    pub route: Option<&'a Route>,
    /// The client a relayed frame came from (set by the host).
    pub origin: Option<u64>,
    /// Ask the host to deliver a routed frame to its sender as well.
    pub mirror: bool,
    /// When the message was sent, in nanoseconds since the Unix epoch on the
    /// host's clock ([`FLAG_SENT_AT`]; data and image frames only).
    pub sent_at: Option<u64>,
    /// How the payload is encoded (data, request and reply frames only).
    pub encoding: Encoding,
}

impl<'a> Header<'a> {
    /// A plain data header on `channel`, with no routing fields.
    pub fn data(channel: &'a str) -> Header<'a> {
        Header::new(Kind::Data, channel)
    }

    /// A header of `kind` on `channel`, with no routing fields.
    pub fn new(kind: Kind, channel: &'a str) -> Header<'a> {
        Header {
            kind,
            channel,
            route: None,
            origin: None,
            mirror: false,
            sent_at: None,
            encoding: Encoding::Bytes,
        }
    }

    /// The same header, declaring its payload's `encoding`.
    pub fn with_encoding(self, encoding: Encoding) -> Header<'a> {
        Header { encoding, ..self }
    }

    /// The same header, carrying the send time `sent_at` (nanoseconds since
    /// the Unix epoch on the host's clock), if any.
    pub fn with_sent_at(self, sent_at: Option<u64>) -> Header<'a> {
        Header { sent_at, ..self }
    }

    fn flags(&self) -> u8 {
        let mut flags = self.encoding.flag_bits();
        if self.route.is_some() {
            flags |= FLAG_ROUTE;
        }
        if self.origin.is_some() {
            flags |= FLAG_ORIGIN;
        }
        if self.mirror {
            flags |= FLAG_MIRROR;
        }
        if self.sent_at.is_some() {
            flags |= FLAG_SENT_AT;
        }
        flags
    }

    /// Bytes of the body before the payload: kind, flags, channel, routing and
    /// kind fields.
    pub fn body_prefix_len(&self) -> usize {
        let route = self.route.map_or(0, Route::encoded_len);
        let origin = if self.origin.is_some() { 8 } else { 0 };
        let sent_at = if self.sent_at.is_some() { 8 } else { 0 };
        let fields = self.kind.kind_code().fields_len();
        3 + self.channel.len() + route + origin + sent_at + fields
    }

    /// Checks the fields that have limits: the channel name length and
    /// routing lists, and an encoding or a send time only on a kind that
    /// carries one.
    pub fn validate(&self) -> Result<(), DecodeError> {
        let kind = self.kind.kind_code();
        if self.encoding != Encoding::Bytes && !Encoding::carried_by(kind) {
            return Err(DecodeError::EncodingNotCarried(kind.code()));
        }
        if self.sent_at.is_some() && !kind.carries_sent_at() {
            return Err(DecodeError::SentAtNotCarried(kind.code()));
        }
        if self.channel.is_empty() {
            return Err(DecodeError::EmptyChannel);
        }
        if self.channel.len() > MAX_CHANNEL_LEN {
            return Err(DecodeError::ChannelTooLong(self.channel.len()));
        }
        match self.route {
            Some(Route::Clients(ids)) if ids.len() > 255 => Err(DecodeError::FieldTooLong {
                field: "client list",
                len: ids.len(),
            }),
            Some(Route::Room(name)) if name.len() > 255 => Err(DecodeError::FieldTooLong {
                field: "room name",
                len: name.len(),
            }),
            Some(Route::Names(names)) if names.len() > 255 => Err(DecodeError::FieldTooLong {
                field: "name list",
                len: names.len(),
            }),
            Some(Route::Names(names)) if names.iter().any(String::is_empty) => {
                Err(DecodeError::EmptyName)
            }
            Some(Route::Names(names)) => match names.iter().find(|n| n.len() > 255) {
                Some(name) => Err(DecodeError::FieldTooLong {
                    field: "client name",
                    len: name.len(),
                }),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Writes the length prefix and every header byte for a frame carrying
    /// `payload_len` payload bytes. The payload itself is not written: the outbox
    /// sends it from its own buffer.
    ///
    /// # Errors
    ///
    /// [`DecodeError`] when [`validate`](Self::validate) fails or the body would not
    /// fit the `u32` length prefix.
    pub fn encode(&self, payload_len: usize, dst: &mut impl BufMut) -> Result<(), DecodeError> {
        self.check(payload_len)?;
        self.encode_valid(payload_len, dst);
        Ok(())
    }

    /// [`validate`](Self::validate), then checks that a body carrying `payload_len`
    /// payload bytes fits the `u32` length prefix. The sum is taken in `u64`, so a
    /// length near `usize::MAX` is refused rather than wrapped.
    pub(crate) fn check(&self, payload_len: usize) -> Result<(), DecodeError> {
        self.validate()?;
        let body = (self.body_prefix_len() as u64).saturating_add(payload_len as u64);
        if body > u64::from(u32::MAX) {
            return Err(DecodeError::FrameTooLarge {
                len: body,
                max: u64::from(u32::MAX),
            });
        }
        Ok(())
    }

    /// [`encode`](Self::encode) for a header that passed [`validate`](Self::validate)
    /// and a body known to fit the `u32` prefix.
    ///
    /// A header without a route (the common case) is assembled on the stack and
    /// handed to `dst` in one copy, rather than one small copy per field.
    pub(crate) fn encode_valid(&self, payload_len: usize, dst: &mut impl BufMut) {
        if self.route.is_some() {
            return self.put_fields_into(payload_len, dst);
        }
        let mut head = [0u8; MAX_UNROUTED_HEAD];
        let mut rest = &mut head[..];
        self.put_fields_into(payload_len, &mut rest);
        let used = MAX_UNROUTED_HEAD - rest.len();
        dst.put_slice(&head[..used]);
    }

    fn put_fields_into(&self, payload_len: usize, dst: &mut impl BufMut) {
        let body = self.body_prefix_len() + payload_len;
        dst.put_u32_le(body as u32);
        dst.put_u8(self.kind.code());
        dst.put_u8(self.flags());
        dst.put_u8(self.channel.len() as u8);
        dst.put_slice(self.channel.as_bytes());
        if let Some(route) = self.route {
            route.put(dst);
        }
        if let Some(origin) = self.origin {
            dst.put_u64_le(origin);
        }
        if let Some(sent_at) = self.sent_at {
            dst.put_u64_le(sent_at);
        }
        self.kind.put_fields(dst);
    }

    /// Encodes the header and appends `payload`, as one contiguous buffer.
    /// Convenient for tests and small frames; the engine sends payloads without copying.
    pub fn to_bytes(&self, payload: &[u8]) -> Result<Bytes, DecodeError> {
        let mut out = Vec::with_capacity(LEN_PREFIX + self.body_prefix_len() + payload.len());
        self.encode(payload.len(), &mut out)?;
        out.extend_from_slice(payload);
        Ok(out.into())
    }
}

/// A decoded frame: header fields plus the payload, which shares the receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What the frame is.
    pub kind: Kind,
    /// The channel name.
    pub channel: ChannelName,
    /// Delivery target, when the sender set one.
    pub route: Option<Route>,
    /// The client a relayed frame came from.
    pub origin: Option<u64>,
    /// Whether the sender asked for a copy of a routed frame.
    pub mirror: bool,
    /// When the message was sent, on the host's clock, if the frame says.
    pub sent_at: Option<u64>,
    /// How the payload is encoded, as the frame declares it.
    pub encoding: Encoding,
    /// The payload.
    pub payload: Bytes,
}

impl Frame {
    /// The channel name.
    pub fn channel_str(&self) -> &str {
        self.channel.as_str()
    }

    /// The header of this frame, for re-encoding it.
    pub fn header(&self) -> Header<'_> {
        Header {
            kind: self.kind,
            channel: self.channel_str(),
            route: self.route.as_ref(),
            origin: self.origin,
            mirror: self.mirror,
            sent_at: self.sent_at,
            encoding: self.encoding,
        }
    }
}

/// Checks the flags byte of a frame of `kind`: no reserved bit may be set,
/// the encoding must be one a frame of that kind may declare, and a send
/// time only on a kind that carries one.
pub(crate) fn check_flags(kind: KindCode, flags: u8) -> Result<Encoding, DecodeError> {
    if flags & !KNOWN_FLAGS != 0 {
        return Err(DecodeError::UnknownFlags(flags));
    }
    if flags & FLAG_SENT_AT != 0 && !kind.carries_sent_at() {
        return Err(DecodeError::SentAtNotCarried(kind.code()));
    }
    Encoding::from_flags(kind, flags)
}
