//! The reference decoder, [`spec_decode`]: written from the wire format in
//! `socketengine::protocol`, not from the decoder, so the fuzz targets can
//! compare the two.

use bytes::Bytes;
use socketengine::protocol::{
    ChannelName, DecodeError, Encoding, FLAG_ENCODING, FLAG_MIRROR, FLAG_ORIGIN, FLAG_ROUTE,
    FLAG_SENT_AT, Frame, ImageMeta, Kind, KindCode, LEN_PREFIX, Pattern, Route,
};

use crate::{HEAD_LEN, MIN_BODY, Outcome};

/// Reads the fields of one frame body in order, naming the field that runs out.
struct Body<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Body<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos + n;
        let taken = self
            .bytes
            .get(self.pos..end)
            .ok_or(DecodeError::Truncated(field))?;
        self.pos = end;
        Ok(taken)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, field)?[0])
    }

    fn le(&mut self, n: usize, field: &'static str) -> Result<u64, DecodeError> {
        let b = self.take(n, field)?;
        Ok(b.iter().rev().fold(0, |acc, &x| (acc << 8) | u64::from(x)))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(self.le(4, field)? as u32)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.le(8, field)
    }
}

fn utf8<'a>(b: &'a [u8], field: &'static str) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(b).map_err(|_| DecodeError::BadUtf8(field))
}

/// Parses one whole frame body (everything after the length prefix) by the spec.
fn spec_frame(body: &[u8]) -> Result<Frame, DecodeError> {
    let mut b = Body {
        bytes: body,
        pos: 0,
    };
    let code = b.u8("kind")?;
    let flags = b.u8("flags")?;
    let n = b.u8("channel")?;
    let name = utf8(b.take(usize::from(n), "channel")?, "channel")?;
    if name.is_empty() {
        return Err(DecodeError::EmptyChannel);
    }
    let channel = ChannelName::new(name).expect("1..=255 bytes of UTF-8");
    let route = match flags & FLAG_ROUTE {
        0 => None,
        _ => Some(match b.u8("route")? {
            0 => Route::Host,
            1 => Route::All,
            2 => {
                let count = b.u8("route")?;
                let ids = (0..count).map(|_| b.u64("route"));
                Route::Clients(ids.collect::<Result<_, _>>()?)
            }
            3 => {
                let n = b.u8("route")?;
                Route::Room(utf8(b.take(usize::from(n), "route")?, "room")?.to_owned())
            }
            4 => {
                let count = b.u8("route")?;
                let mut names = Vec::with_capacity(usize::from(count));
                for _ in 0..count {
                    let n = b.u8("route")?;
                    let name = utf8(b.take(usize::from(n), "route")?, "client name")?;
                    if name.is_empty() {
                        return Err(DecodeError::EmptyName);
                    }
                    names.push(name.to_owned());
                }
                Route::Names(names)
            }
            5 => {
                let n = b.u8("route")?;
                let text = utf8(b.take(usize::from(n), "route")?, "group")?;
                // A pattern: `*` only as a whole segment, or `**`.
                let starred = |part: &str| part != "*" && part != "**" && part.contains('*');
                if text.is_empty() {
                    return Err(DecodeError::BadPattern("an empty group"));
                }
                if text.split('/').any(starred) {
                    return Err(DecodeError::BadPattern("`*` inside a segment"));
                }
                Route::Group(Pattern::new(text).expect("checked by the spec's rules"))
            }
            tag => return Err(DecodeError::BadRoute(tag)),
        }),
    };
    let origin = match flags & FLAG_ORIGIN {
        0 => None,
        _ => Some(b.u64("origin")?),
    };
    let sent_at = match flags & FLAG_SENT_AT {
        0 => None,
        _ => Some(b.u64("send time")?),
    };
    let f = "kind fields";
    let Some(code) = KindCode::from_code(code) else {
        return Err(DecodeError::UnknownKind(code));
    };
    let kind = match code {
        KindCode::Data => Kind::Data,
        KindCode::Image => Kind::Image(ImageMeta {
            width: b.u32(f)?,
            height: b.u32(f)?,
            format: b.u8(f)?,
            stride: b.u32(f)?,
            seq: b.u64(f)?,
            timestamp_ns: b.u64(f)?,
            total_len: b.u64(f)?,
        }),
        KindCode::ImageChunk => Kind::ImageChunk {
            seq: b.u64(f)?,
            offset: b.u64(f)?,
        },
        KindCode::Request => Kind::Request { id: b.u64(f)? },
        KindCode::Reply => Kind::Reply {
            id: b.u64(f)?,
            status: b.u8(f)?,
        },
        KindCode::Ping => Kind::Ping { sent_ns: b.u64(f)? },
        KindCode::Pong => Kind::Pong {
            ping_sent_ns: b.u64(f)?,
            sent_ns: b.u64(f)?,
        },
        KindCode::Control => Kind::Control { op: b.u8(f)? },
        KindCode::Close => Kind::Close { reason: b.u8(f)? },
    };
    Ok(Frame {
        kind,
        channel,
        route,
        origin,
        mirror: flags & FLAG_MIRROR != 0,
        sent_at,
        encoding: spec_encoding(code, flags)?,
        payload: Bytes::copy_from_slice(&body[b.pos..]),
    })
}

/// The payload encoding in bits 4-5 of `flags`, by the spec: 0 bytes, 1
/// JSON, 2 MessagePack, 3 reserved; other than 0 only on data, request and
/// reply frames.
fn spec_encoding(code: KindCode, flags: u8) -> Result<Encoding, DecodeError> {
    let bits = (flags & FLAG_ENCODING) >> 4;
    let carries = matches!(code, KindCode::Data | KindCode::Request | KindCode::Reply);
    match bits {
        0 => Ok(Encoding::Bytes),
        3 => Err(DecodeError::UnknownEncoding(3)),
        _ if !carries => Err(DecodeError::EncodingNotCarried(code.code())),
        1 => Ok(Encoding::Json),
        _ => Ok(Encoding::MsgPack),
    }
}

/// Whether frames of kind `code` may carry a send time, by the spec: data
/// and image frames.
pub(crate) fn spec_sent_at(code: KindCode, flags: u8) -> Result<(), DecodeError> {
    let carries = matches!(code, KindCode::Data | KindCode::Image);
    match flags & FLAG_SENT_AT {
        0 => Ok(()),
        _ if carries => Ok(()),
        _ => Err(DecodeError::SentAtNotCarried(code.code())),
    }
}

/// The reference decoder: what the wire format says `stream` holds, for a
/// receiver limited to `max`. Frames are judged on their first six bytes (length
/// within `1..=max` and at least the smallest body, a known kind, no reserved
/// flag), then on their whole body, field by field in wire order.
pub fn spec_decode(stream: &[u8], max: usize) -> Outcome {
    let mut frames = Vec::new();
    let mut pos = 0;
    let max64 = u64::try_from(max).unwrap_or(u64::MAX);
    let end = loop {
        let rest = &stream[pos..];
        if rest.len() < HEAD_LEN {
            break Ok(None);
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let (kind, flags) = (rest[4], rest[5]);
        if u64::from(len) > max64 {
            break Err(DecodeError::FrameTooLarge {
                len: u64::from(len),
                max: max64,
            });
        }
        if (len as usize) < MIN_BODY {
            break Err(DecodeError::FrameTooShort { len });
        }
        if KindCode::from_code(kind).is_none() {
            break Err(DecodeError::UnknownKind(kind));
        }
        let known = FLAG_ROUTE | FLAG_ORIGIN | FLAG_MIRROR | FLAG_SENT_AT | FLAG_ENCODING;
        if flags & !known != 0 {
            break Err(DecodeError::UnknownFlags(flags));
        }
        let code = KindCode::from_code(kind).expect("known");
        if let Err(err) = spec_sent_at(code, flags).and_then(|()| spec_encoding(code, flags)) {
            break Err(err);
        }
        let total = LEN_PREFIX + len as usize;
        let Some(body) = rest.get(LEN_PREFIX..total) else {
            break Ok(Some(total));
        };
        match spec_frame(body) {
            Ok(frame) => frames.push(frame),
            Err(err) => break Err(err),
        }
        pos += total;
    };
    Outcome {
        frames,
        frame_len: end.ok().flatten(),
        end: end.map(|_| ()),
        consumed: pos,
    }
}
