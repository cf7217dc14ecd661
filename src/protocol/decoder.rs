//! The incremental frame decoder: a `Head -> Body` state machine over a `BytesMut`.

use bytes::{Buf, BytesMut};

use super::ChannelName;
use super::frame::{self, FLAG_MIRROR, FLAG_ORIGIN, FLAG_ROUTE, Frame, Kind, LEN_PREFIX, Route};

/// Bytes the decoder needs before it can judge a frame: the length prefix, the
/// kind byte and the flags byte.
const HEAD_LEN: usize = LEN_PREFIX + 2;

/// Smallest legal body: kind, flags, channel length and a one-byte channel name.
const MIN_BODY: usize = 4;

/// Why bytes could not be decoded. Small and `Copy`, so the pure layer can return it
/// freely; the engine wraps it in [`crate::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The declared body length exceeds the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// Declared body length.
        len: u64,
        /// Configured maximum.
        max: u64,
    },
    /// The declared body length cannot hold even the fixed header fields.
    #[error("frame of {len} bytes is shorter than its header")]
    FrameTooShort {
        /// Declared body length.
        len: u32,
    },
    /// The kind byte names no known frame kind.
    #[error("unknown frame kind {0:#04x}")]
    UnknownKind(u8),
    /// The flags byte sets a reserved bit.
    #[error("unknown flags {0:#04x}")]
    UnknownFlags(u8),
    /// The channel name is empty.
    #[error("empty channel name")]
    EmptyChannel,
    /// The channel name is longer than 255 bytes.
    #[error("channel name of {0} bytes exceeds 255")]
    ChannelTooLong(usize),
    /// A length-limited field (a client name, a room name, a client list) is too long.
    #[error("{field} of {len} exceeds 255")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length (bytes, or ids for a client list).
        len: usize,
    },
    /// A text field is not valid UTF-8.
    #[error("{0} is not valid utf-8")]
    BadUtf8(&'static str),
    /// A field runs past the end of the frame body.
    #[error("frame truncated in its {0} field")]
    Truncated(&'static str),
    /// The route tag is unknown.
    #[error("unknown route tag {0}")]
    BadRoute(u8),
    /// An image chunk that does not continue the image being received on its
    /// channel (no such image, another sequence number, a gap or overlap, or
    /// bytes past the image's end), or an image that starts over an unfinished one.
    #[error("image chunk out of place: {0}")]
    BadChunk(&'static str),
    /// The handshake did not start with the protocol's magic tag.
    #[error("peer is not speaking the socketengine protocol")]
    BadMagic,
    /// The peer speaks a protocol version this build does not.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the length prefix, kind and flags.
    Head,
    /// The head was valid; waiting for `len` body bytes.
    Body { len: usize },
    /// The header fields were handed out by [`Decoder::split_header`]; `left`
    /// payload bytes are still to be consumed by the caller.
    Payload { left: usize },
    /// A frame was bad; the stream cannot be resynchronised.
    Failed(DecodeError),
}

/// Splits a byte stream into [`Frame`]s.
///
/// Feed it by appending received bytes to a `BytesMut` and calling
/// [`decode`](Self::decode) until it returns `Ok(None)`. The stream may be split at
/// any byte. The declared length is checked against `max_frame` as soon as the
/// first six bytes are in, before the caller reserves room for the body
/// ([`frame_len`](Self::frame_len) tells how much to reserve). Payloads are split
/// off the buffer, not copied.
///
/// After an error every further call returns the same error: a byte stream cannot
/// be resynchronised, so the caller closes the connection.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use socketengine::protocol::{Decoder, Header};
///
/// let wire = Header::data("pose").to_bytes(b"x=1").unwrap();
/// let mut buf = BytesMut::from(&wire[..3]); // a partial frame
/// let mut decoder = Decoder::new(1 << 20);
/// assert_eq!(decoder.decode(&mut buf), Ok(None));
/// buf.extend_from_slice(&wire[3..]);
/// let frame = decoder.decode(&mut buf).unwrap().unwrap();
/// assert_eq!((frame.channel_str(), &frame.payload[..]), ("pose", &b"x=1"[..]));
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    max_frame: usize,
    state: State,
}

impl Decoder {
    /// A decoder that rejects bodies longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Decoder {
        Decoder {
            max_frame,
            state: State::Head,
        }
    }

    /// Total bytes (length prefix included) of the frame being received, once its
    /// head has been checked; `None` while waiting for a head.
    pub fn frame_len(&self) -> Option<usize> {
        match self.state {
            State::Body { len } => Some(LEN_PREFIX + len),
            _ => None,
        }
    }

    /// The kind byte of the frame being received, once its head has been checked.
    pub fn pending_kind(&self, buf: &[u8]) -> Option<u8> {
        match self.state {
            State::Body { .. } => buf.get(LEN_PREFIX).copied(),
            _ => None,
        }
    }

    /// Payload bytes the caller still has to consume after
    /// [`split_header`](Self::split_header); `None` when not in that mode.
    pub fn payload_left(&self) -> Option<usize> {
        match self.state {
            State::Payload { left } => Some(left),
            _ => None,
        }
    }

    /// Parses the header of the frame being received as soon as its header
    /// fields are in `buf`, before its payload is: removes the length prefix and
    /// header from `buf` and returns the frame with an empty payload, and the
    /// payload's length.
    ///
    /// This lets a receiver read a large payload straight into a buffer of its
    /// own (an image being reassembled) instead of into `buf`. The caller then
    /// owns the next `payload_len` bytes of the stream: it takes them from the
    /// front of `buf` or reads them elsewhere, and reports each step with
    /// [`consume_payload`](Self::consume_payload). Until the payload is
    /// consumed, [`decode`](Self::decode) returns `Ok(None)`.
    ///
    /// Returns `Ok(None)` when no frame head has been checked yet (call `decode`
    /// first) or the header fields are not all in; the header is judged as
    /// `decode` would judge it.
    ///
    /// # Errors
    ///
    /// The [`DecodeError`] `decode` would give for this frame's header; sticky.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use socketengine::protocol::{Decoder, Header};
    ///
    /// let wire = Header::data("cam").to_bytes(&[7; 100]).unwrap();
    /// let mut buf = BytesMut::from(&wire[..20]); // the 10-byte header, 10 payload bytes
    /// let mut decoder = Decoder::new(1 << 20);
    /// assert_eq!(decoder.decode(&mut buf), Ok(None));
    /// let (frame, len) = decoder.split_header(&mut buf).unwrap().unwrap();
    /// assert_eq!((frame.channel_str(), len, buf.len()), ("cam", 100, 10));
    /// decoder.consume_payload(100);
    /// assert_eq!(decoder.payload_left(), None);
    /// ```
    pub fn split_header(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<(Frame, usize)>, DecodeError> {
        let State::Body { len } = self.state else {
            return match self.state {
                State::Failed(err) => Err(err),
                _ => Ok(None),
            };
        };
        let body = &buf[LEN_PREFIX..buf.len().min(LEN_PREFIX + len)];
        let Some(head_len) = head_len(body) else {
            return Ok(None);
        };
        let head = parse_head(&body[..head_len]).map_err(|err| self.fail(err))?;
        buf.advance(LEN_PREFIX + head.len);
        let left = len - head.len;
        self.state = match left {
            0 => State::Head,
            _ => State::Payload { left },
        };
        let frame = Frame {
            kind: head.kind,
            channel: head.channel,
            route: head.route,
            origin: head.origin,
            mirror: head.mirror,
            payload: bytes::Bytes::new(),
        };
        Ok(Some((frame, left)))
    }

    /// Reports `n` payload bytes of a split frame consumed by the caller; after
    /// the last one the decoder waits for the next frame's head.
    ///
    /// # Panics
    ///
    /// If `n` exceeds [`payload_left`](Self::payload_left): the caller would have
    /// taken bytes of the next frame.
    pub fn consume_payload(&mut self, n: usize) {
        let State::Payload { left } = self.state else {
            assert_eq!(n, 0, "consume_payload without a split frame");
            return;
        };
        assert!(n <= left, "consumed {n} payload bytes of {left}");
        self.state = match left - n {
            0 => State::Head,
            left => State::Payload { left },
        };
    }

    /// Decodes the next whole frame from the front of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` holds only part of a frame; the bytes stay in
    /// `buf` for the next call.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when the stream is not valid; the error is sticky.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let len = match self.state {
            State::Failed(err) => return Err(err),
            State::Payload { .. } => return Ok(None),
            State::Head => match self.decode_head(buf) {
                Ok(Some(len)) => len,
                Ok(None) => return Ok(None),
                Err(err) => return Err(self.fail(err)),
            },
            State::Body { len } => len,
        };
        if buf.len() < LEN_PREFIX + len {
            return Ok(None);
        }
        self.state = State::Head;
        let head = parse_head(&buf[LEN_PREFIX..LEN_PREFIX + len]).map_err(|err| self.fail(err))?;
        // Only the payload is split off (one reference count), not copied.
        buf.advance(LEN_PREFIX + head.len);
        Ok(Some(Frame {
            kind: head.kind,
            channel: head.channel,
            route: head.route,
            origin: head.origin,
            mirror: head.mirror,
            payload: buf.split_to(len - head.len).freeze(),
        }))
    }

    /// If `buf` starts with a whole plain data frame (no routing fields) on
    /// `channel`, returns where its payload starts and where the frame ends,
    /// consuming nothing; otherwise `None`, and [`decode`](Self::decode) takes
    /// over (and reports any error).
    ///
    /// A fast path for runs of small frames on one channel: it makes the same
    /// checks as `decode` (a length within the maximum, the kind, no flags, the
    /// name), but compares the name with one already validated instead of
    /// validating it again, and splits nothing off the buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// use socketengine::protocol::{ChannelName, Decoder, Header};
    ///
    /// let wire = Header::data("pose").to_bytes(b"hi").unwrap();
    /// let pose = ChannelName::new("pose").unwrap();
    /// let decoder = Decoder::new(1 << 20);
    /// assert_eq!(decoder.plain_data(&wire, &pose), Some((11, 13)));
    /// assert_eq!(&wire[11..13], b"hi");
    /// assert_eq!(decoder.plain_data(&wire[..12], &pose), None); // not whole yet
    /// ```
    pub fn plain_data(&self, buf: &[u8], channel: &ChannelName) -> Option<(usize, usize)> {
        let name = channel.as_str().as_bytes();
        let start = LEN_PREFIX + 3 + name.len();
        let head = buf.get(..start)?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let plain = head[4] == Kind::Data.code() && head[5] == 0 && head[6] as usize == name.len();
        let fits = len <= self.max_frame && len >= start - LEN_PREFIX;
        if self.state != State::Head || !plain || !fits || &head[LEN_PREFIX + 3..] != name {
            return None;
        }
        let end = LEN_PREFIX + len;
        (buf.len() >= end).then_some((start, end))
    }

    fn fail(&mut self, err: DecodeError) -> DecodeError {
        self.state = State::Failed(err);
        err
    }

    /// Checks the head once six bytes are in; returns the body length.
    fn decode_head(&mut self, buf: &BytesMut) -> Result<Option<usize>, DecodeError> {
        if buf.len() < HEAD_LEN {
            return Ok(None);
        }
        let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if len as u64 > self.max_frame as u64 {
            return Err(DecodeError::FrameTooLarge {
                len: len as u64,
                max: self.max_frame as u64,
            });
        }
        let len = len as usize;
        if len < MIN_BODY {
            return Err(DecodeError::FrameTooShort { len: len as u32 });
        }
        Kind::fields_len(buf[LEN_PREFIX])?;
        frame::check_flags(buf[LEN_PREFIX + 1])?;
        self.state = State::Body { len };
        Ok(Some(len))
    }
}

/// Bytes of header fields at the front of a body whose first bytes (at most the
/// whole body) are `body`; `None` until they are all in. A header running past
/// the body is never all in: `decode` reports it once the body is whole.
fn head_len(body: &[u8]) -> Option<usize> {
    let (code, flags, name_len) = (*body.first()?, *body.get(1)?, *body.get(2)? as usize);
    let mut pos = 3 + name_len;
    if flags & FLAG_ROUTE != 0 {
        pos += match *body.get(pos)? {
            2 => 2 + 8 * *body.get(pos + 1)? as usize,
            3 => 2 + *body.get(pos + 1)? as usize,
            _ => 1,
        };
    }
    if flags & FLAG_ORIGIN != 0 {
        pos += 8;
    }
    pos += Kind::fields_len(code).ok()?;
    (pos <= body.len()).then_some(pos)
}

/// The fields of a frame body before its payload.
struct Head {
    kind: Kind,
    channel: ChannelName,
    route: Option<Route>,
    origin: Option<u64>,
    mirror: bool,
    /// Bytes of the body before the payload.
    len: usize,
}

/// Parses the fields of a whole frame body (everything after the length prefix).
fn parse_head(body: &[u8]) -> Result<Head, DecodeError> {
    let (code, flags, name_len) = (body[0], body[1], body[2] as usize);
    let mut pos = 3;
    let name = body
        .get(pos..pos + name_len)
        .ok_or(DecodeError::Truncated("channel"))?;
    let channel = ChannelName::from_utf8(name)?;
    pos += name_len;
    let route = match flags & FLAG_ROUTE {
        0 => None,
        _ => {
            let (route, used) = Route::parse(&body[pos..])?;
            pos += used;
            Some(route)
        }
    };
    let origin = match flags & FLAG_ORIGIN {
        0 => None,
        _ => {
            let b = body
                .get(pos..pos + 8)
                .ok_or(DecodeError::Truncated("origin"))?;
            pos += 8;
            Some(u64::from_le_bytes([
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
            ]))
        }
    };
    let fields_len = Kind::fields_len(code)?;
    let fields = body
        .get(pos..pos + fields_len)
        .ok_or(DecodeError::Truncated("kind fields"))?;
    Ok(Head {
        kind: Kind::parse(code, fields)?,
        channel,
        route,
        origin,
        mirror: flags & FLAG_MIRROR != 0,
        len: pos + fields_len,
    })
}
