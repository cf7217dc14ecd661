//! The incremental frame decoder: a `Head -> Body` state machine over a `BytesMut`,
//! and the receive path's one step over it ([`Decoder::step`]).

use bytes::{Buf, Bytes, BytesMut};

use super::frame::{
    self, FLAG_MIRROR, FLAG_ORIGIN, FLAG_ROUTE, FLAG_SENT_AT, Frame, Kind, KindCode, LEN_PREFIX,
    Route,
};
use super::{ChannelName, DecodeError, Encoding, FLAG_ENCODING};

/// Bytes the decoder needs before it can judge a frame: the length prefix, the
/// kind byte and the flags byte.
const HEAD_LEN: usize = LEN_PREFIX + 2;

/// Smallest legal body: kind, flags, channel length and a one-byte channel name.
const MIN_BODY: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the length prefix, kind and flags.
    Head,
    /// The head was valid; waiting for `len` body bytes.
    Body { len: usize },
    /// The header fields were handed out as [`Decoded::Large`]; `left`
    /// payload bytes are still to be consumed by the caller.
    Payload { left: usize },
    /// A frame was bad; the stream cannot be resynchronised.
    Failed(DecodeError),
}

/// What one [`Decoder::step`] found at the front of the receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// A whole frame, its payload split off the buffer (not copied).
    Frame(Frame),
    /// Consecutive plain data frames (no routing fields) on the caller's
    /// current channel, all declaring one encoding, and all carrying a send
    /// time or none, split off the buffer as one piece: per frame, a few
    /// comparisons and a span, no allocation and no second name check.
    Run {
        /// The frames' bytes, headers included.
        chunk: Bytes,
        /// Where each payload starts and ends in `chunk`, in order.
        spans: Vec<(u32, u32)>,
        /// The encoding every frame of the run declares.
        encoding: Encoding,
        /// Whether every frame carries a send time: the 8 bytes before its
        /// payload ([`sent_at_before`]).
        stamped: bool,
    },
    /// An image or image-chunk frame whose header is in and whose payload is
    /// not all in. `frame` carries the header fields and, as its payload, the
    /// payload bytes already received (split off, not copied); the remaining
    /// `payload_len - frame.payload.len()` bytes are next on the stream, for the
    /// caller to read into a buffer of its own (see [`Need::Payload`]), so a
    /// large image is copied once, by the kernel.
    Large {
        /// The header fields and the first payload bytes.
        frame: Frame,
        /// The whole payload's length.
        payload_len: usize,
    },
    /// Nothing more to decode until more bytes arrive; what they are for.
    NeedMore(Need),
}

/// What the stream owes the decoder next, so the caller can size its read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Bytes of the next frame; its total length (prefix included) once its
    /// head is in, so a large frame can be read into a buffer of its size.
    Frame {
        /// The frame's length, once known.
        frame_len: Option<usize>,
    },
    /// The rest of an image frame's header: read little, since its payload
    /// goes to a buffer of its own once the header is in.
    Header,
    /// `left` more payload bytes of the last [`Decoded::Large`] frame, which
    /// the caller reads into its own buffer and reports with
    /// [`Decoder::consume_payload`]; the decoder's buffer is not theirs.
    Payload {
        /// Payload bytes still to come.
        left: usize,
    },
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
/// A receiver calls [`step`](Self::step) instead, which also groups runs of
/// small frames and hands out large image payloads for the caller to read
/// elsewhere.
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

    /// Payload bytes the caller still has to consume after a
    /// [`Decoded::Large`]; `None` when not in that mode.
    pub fn payload_left(&self) -> Option<usize> {
        match self.state {
            State::Payload { left } => Some(left),
            _ => None,
        }
    }

    /// Parses the header of the frame being received as soon as its header
    /// fields are in `buf`, before its payload is: removes the length prefix and
    /// header from `buf` and returns the frame with an empty payload, and the
    /// payload's length. The caller then owns the next `payload_len` bytes of the
    /// stream and reports them with [`consume_payload`](Self::consume_payload).
    ///
    /// `Ok(None)` when no frame head has been checked yet or the header fields
    /// are not all in; the header is judged as `decode` would judge it, and an
    /// error is sticky.
    fn split_header(&mut self, buf: &mut BytesMut) -> Result<Option<(Frame, usize)>, DecodeError> {
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
            sent_at: head.sent_at,
            encoding: head.encoding,
            payload: bytes::Bytes::new(),
        };
        Ok(Some((frame, left)))
    }

    /// Reports `n` payload bytes of a [`Decoded::Large`] frame consumed by the
    /// caller; after
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
            sent_at: head.sent_at,
            encoding: head.encoding,
            payload: buf.split_to(len - head.len).freeze(),
        }))
    }

    /// If `buf` starts with a whole plain data frame of `shape` (no routing
    /// fields; the shape's channel, flags and so header length), returns
    /// where its payload starts and where the frame ends, consuming
    /// nothing; otherwise `None`, and [`decode`](Self::decode) takes over
    /// (and reports any error).
    ///
    /// It makes the same checks as `decode` (a length within the maximum, the
    /// kind, the flags, the name), but compares the name with one already
    /// validated instead of validating it again, and splits nothing off.
    fn plain_data(&self, buf: &[u8], shape: &RunShape<'_>) -> Option<(usize, usize)> {
        let (name, start) = (shape.name, shape.start);
        let head = buf.get(..start)?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let plain = head[4] == KindCode::Data.code()
            && head[5] == shape.flags
            && head[6] as usize == name.len();
        let fits = len <= self.max_frame && len >= start - LEN_PREFIX;
        let name_at = LEN_PREFIX + 3;
        if !plain || !fits || &head[name_at..name_at + name.len()] != name {
            return None;
        }
        let end = LEN_PREFIX + len;
        (buf.len() >= end).then_some((start, end))
    }

    /// One step of the receive path: decodes what is at the front of `buf`.
    ///
    /// In order: the rest of a [`Decoded::Large`] payload is owed
    /// ([`Need::Payload`]); plain data frames on `current` (the channel the
    /// caller stored to last) come as one [`Decoded::Run`]; a whole frame comes
    /// as [`Decoded::Frame`]; an image or image chunk whose header is in but
    /// whose payload is not comes as [`Decoded::Large`]; otherwise
    /// [`Decoded::NeedMore`]. Call it until it asks for more, then read as it
    /// says and call it again.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when the stream is not valid; the error is sticky.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use socketengine::protocol::{ChannelName, Decoded, Decoder, Header, Need};
    ///
    /// let pose = ChannelName::new("pose").unwrap();
    /// let one = Header::data("pose").to_bytes(b"hi").unwrap();
    /// let mut buf = BytesMut::from(&[&one[..], &one[..], &one[..5]].concat()[..]);
    /// let mut decoder = Decoder::new(1 << 20);
    /// let Ok(Decoded::Run { chunk, spans, .. }) = decoder.step(&mut buf, Some(&pose)) else {
    ///     panic!("two frames on pose");
    /// };
    /// assert_eq!((chunk.len(), spans), (26, vec![(11, 13), (24, 26)]));
    /// let need = decoder.step(&mut buf, Some(&pose));
    /// assert_eq!(need, Ok(Decoded::NeedMore(Need::Frame { frame_len: None })));
    /// ```
    pub fn step(
        &mut self,
        buf: &mut BytesMut,
        current: Option<&ChannelName>,
    ) -> Result<Decoded, DecodeError> {
        match self.state {
            State::Failed(err) => return Err(err),
            State::Payload { left } => return Ok(Decoded::NeedMore(Need::Payload { left })),
            State::Head => {
                if let Some(run) = current.and_then(|channel| self.run(buf, channel)) {
                    return Ok(run);
                }
            }
            State::Body { .. } => {}
        }
        match self.decode(buf)? {
            Some(frame) => Ok(Decoded::Frame(frame)),
            None => self.split_large(buf),
        }
    }

    /// The plain data frames on `channel` at the front of `buf`, if any: all
    /// with the first one's flags, which may declare an encoding and a send
    /// time and nothing else. What depends on the flags is worked out once
    /// per run ([`RunShape`]), not per frame.
    fn run(&self, buf: &mut BytesMut, channel: &ChannelName) -> Option<Decoded> {
        let flags = *buf.get(LEN_PREFIX + 1)?;
        if self.state != State::Head || flags & !(FLAG_ENCODING | FLAG_SENT_AT) != 0 {
            return None;
        }
        let encoding = Encoding::from_flags(KindCode::Data, flags).ok()?;
        let shape = RunShape::new(channel, flags);
        let mut spans = Vec::new();
        let mut pos = 0;
        while let Some((start, end)) = self.plain_data(&buf[pos..], &shape) {
            let (Ok(start), Ok(end)) = (u32::try_from(pos + start), u32::try_from(pos + end))
            else {
                break;
            };
            spans.push((start, end));
            pos = end as usize;
        }
        if spans.is_empty() {
            return None;
        }
        let chunk = buf.split_to(pos).freeze();
        Some(Decoded::Run {
            chunk,
            spans,
            encoding,
            stamped: shape.stamped(),
        })
    }

    /// After `decode` found no whole frame: hands out an image frame's header
    /// and the payload bytes in hand, or says what to read next.
    fn split_large(&mut self, buf: &mut BytesMut) -> Result<Decoded, DecodeError> {
        let State::Body { len } = self.state else {
            return Ok(Decoded::NeedMore(Need::Frame { frame_len: None }));
        };
        // The kind byte was checked with the head.
        let image = KindCode::from_code(buf[LEN_PREFIX]).is_some_and(KindCode::is_image);
        if !image {
            let frame_len = Some(LEN_PREFIX + len);
            return Ok(Decoded::NeedMore(Need::Frame { frame_len }));
        }
        let Some((mut frame, payload_len)) = self.split_header(buf)? else {
            return Ok(Decoded::NeedMore(Need::Header));
        };
        let in_hand = buf.len().min(payload_len);
        frame.payload = buf.split_to(in_hand).freeze();
        self.consume_payload(in_hand);
        Ok(Decoded::Large { frame, payload_len })
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
        let code = frame::parse_code(buf[LEN_PREFIX])?;
        frame::check_flags(code, buf[LEN_PREFIX + 1])?;
        self.state = State::Body { len };
        Ok(Some(len))
    }
}

/// What every frame of a run shares: its channel's name, its flags byte,
/// and so where its payload starts.
struct RunShape<'a> {
    name: &'a [u8],
    flags: u8,
    /// Header bytes, the length prefix included: the name, and the send
    /// time when the flags say so.
    start: usize,
}

impl RunShape<'_> {
    fn new(channel: &ChannelName, flags: u8) -> RunShape<'_> {
        let name = channel.as_str().as_bytes();
        let stamp = if flags & FLAG_SENT_AT != 0 { 8 } else { 0 };
        RunShape {
            name,
            flags,
            start: LEN_PREFIX + 3 + name.len() + stamp,
        }
    }

    fn stamped(&self) -> bool {
        self.flags & FLAG_SENT_AT != 0
    }
}

/// The send time of a frame of a stamped [`Decoded::Run`] whose payload
/// starts at `start` in `chunk`: the 8 bytes before it.
///
/// # Panics
///
/// If `start` is less than 8 or past `chunk`: not a span of a stamped run.
pub fn sent_at_before(chunk: &[u8], start: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&chunk[start - 8..start]);
    u64::from_le_bytes(word)
}

/// Bytes of header fields at the front of a body whose first bytes (at most the
/// whole body) are `body`; `None` until they are all in. A header running past
/// the body is never all in: `decode` reports it once the body is whole.
fn head_len(body: &[u8]) -> Option<usize> {
    let (code, flags, name_len) = (*body.first()?, *body.get(1)?, *body.get(2)? as usize);
    let mut pos = 3 + name_len;
    if flags & FLAG_ROUTE != 0 {
        pos += Route::wire_len(body.get(pos..)?)?;
    }
    if flags & FLAG_ORIGIN != 0 {
        pos += 8;
    }
    if flags & FLAG_SENT_AT != 0 {
        pos += 8;
    }
    pos += KindCode::from_code(code)?.fields_len();
    (pos <= body.len()).then_some(pos)
}

/// The fields of a frame body before its payload.
struct Head {
    kind: Kind,
    channel: ChannelName,
    route: Option<Route>,
    origin: Option<u64>,
    mirror: bool,
    sent_at: Option<u64>,
    encoding: Encoding,
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
    let origin = optional_u64(body, &mut pos, flags & FLAG_ORIGIN, "origin")?;
    let sent_at = optional_u64(body, &mut pos, flags & FLAG_SENT_AT, "send time")?;
    let code = frame::parse_code(code)?;
    // Checked with the head already; the body's parse does not depend on it.
    let encoding = frame::check_flags(code, flags)?;
    let fields_len = code.fields_len();
    let fields = body
        .get(pos..pos + fields_len)
        .ok_or(DecodeError::Truncated("kind fields"))?;
    Ok(Head {
        kind: Kind::parse(code, fields),
        channel,
        route,
        origin,
        mirror: flags & FLAG_MIRROR != 0,
        sent_at,
        encoding,
        len: pos + fields_len,
    })
}

/// The `u64` at `pos` in `body` if `flag` (a flags bit, masked) is set,
/// moving `pos` past it; `None` if not.
fn optional_u64(
    body: &[u8],
    pos: &mut usize,
    flag: u8,
    field: &'static str,
) -> Result<Option<u64>, DecodeError> {
    if flag == 0 {
        return Ok(None);
    }
    let b = body
        .get(*pos..*pos + 8)
        .ok_or(DecodeError::Truncated(field))?;
    *pos += 8;
    let mut word = [0u8; 8];
    word.copy_from_slice(b);
    Ok(Some(u64::from_le_bytes(word)))
}
