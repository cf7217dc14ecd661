//! The payload's encoding: bits 4–5 of a frame's flags (see the
//! [wire format](super#frames)).

use std::fmt;

use super::{DecodeError, KindCode};

/// The flags bits that hold a frame's payload [`Encoding`] (`0x30`).
pub const FLAG_ENCODING: u8 = 0x30;

/// Where the encoding's two bits start in the flags byte.
const SHIFT: u32 = FLAG_ENCODING.trailing_zeros();

/// How a message's payload is encoded, as its frame declares it.
///
/// Travels in bits 4–5 of the frame's flags (see the wire format in
/// `src/protocol/mod.rs`): `0` bytes (nothing declared: the payload is
/// whatever the application makes of it), `1` JSON, `2` MessagePack, `3`
/// reserved (a frame with it is malformed and closes its connection). Data,
/// request and reply frames may carry it; every other kind carries `0`.
///
/// # Examples
///
/// ```
/// use socketengine::Encoding;
///
/// assert_eq!(Encoding::Json.code(), 1);
/// assert_eq!(Encoding::from_code(2), Some(Encoding::MsgPack));
/// assert_eq!(Encoding::from_code(3), None); // reserved
/// assert_eq!(Encoding::default(), Encoding::Bytes);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Encoding {
    /// No declared encoding: plain bytes (every frame before typed messages).
    #[default]
    Bytes,
    /// JSON (UTF-8): a Python or JavaScript peer reads it with its standard
    /// library.
    Json,
    /// MessagePack: compact binary, self-describing, read without a schema
    /// (`msgpack` in Python, `@msgpack/msgpack` in JavaScript).
    MsgPack,
}

impl Encoding {
    /// The encoding's two-bit code on the wire (0, 1 or 2).
    pub const fn code(self) -> u8 {
        match self {
            Encoding::Bytes => 0,
            Encoding::Json => 1,
            Encoding::MsgPack => 2,
        }
    }

    /// The encoding of wire code `code`; `None` for the reserved 3 and
    /// anything wider than two bits.
    pub const fn from_code(code: u8) -> Option<Encoding> {
        match code {
            0 => Some(Encoding::Bytes),
            1 => Some(Encoding::Json),
            2 => Some(Encoding::MsgPack),
            _ => None,
        }
    }

    /// Its name: `bytes`, `json` or `msgpack`.
    pub const fn name(self) -> &'static str {
        match self {
            Encoding::Bytes => "bytes",
            Encoding::Json => "json",
            Encoding::MsgPack => "msgpack",
        }
    }

    /// Its bits in a frame's flags byte.
    pub(crate) const fn flag_bits(self) -> u8 {
        self.code() << SHIFT
    }

    /// Whether frames of `kind` may declare an encoding: data, request
    /// and reply frames, whose payloads are the application's.
    pub const fn carried_by(kind: KindCode) -> bool {
        matches!(kind, KindCode::Data | KindCode::Request | KindCode::Reply)
    }

    /// The encoding a frame of `kind` with `flags` declares, or the
    /// decoder's error: the reserved code, or a code other than 0 on a
    /// kind that carries none.
    pub(crate) fn from_flags(kind: KindCode, flags: u8) -> Result<Encoding, DecodeError> {
        let code = (flags & FLAG_ENCODING) >> SHIFT;
        match Encoding::from_code(code) {
            None => Err(DecodeError::UnknownEncoding(code)),
            Some(Encoding::Bytes) => Ok(Encoding::Bytes),
            Some(_) if !Encoding::carried_by(kind) => {
                Err(DecodeError::EncodingNotCarried(kind.code()))
            }
            Some(encoding) => Ok(encoding),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::protocol::{Decoder, FLAG_ROUTE, Header, Kind, Route};

    #[test]
    fn flags_decode_by_table() {
        use DecodeError::*;
        let table = [
            (KindCode::Data, 0x00, Ok(Encoding::Bytes)),
            (KindCode::Data, 0x10, Ok(Encoding::Json)),
            (KindCode::Data, 0x23, Ok(Encoding::MsgPack)),
            (KindCode::Request, 0x10, Ok(Encoding::Json)),
            (KindCode::Reply, 0x25, Ok(Encoding::MsgPack)),
            (KindCode::Data, 0x30, Err(UnknownEncoding(3))),
            (KindCode::Ping, 0x30, Err(UnknownEncoding(3))),
            (KindCode::Image, 0x10, Err(EncodingNotCarried(0x02))),
            (KindCode::Control, 0x20, Err(EncodingNotCarried(0x08))),
            (KindCode::Close, 0x00, Ok(Encoding::Bytes)),
        ];
        for (kind, flags, expected) in table {
            assert_eq!(
                Encoding::from_flags(kind, flags),
                expected,
                "{kind:?} {flags:#x}"
            );
        }
    }

    #[test]
    fn codes_round_trip_through_the_flags() {
        for encoding in [Encoding::Bytes, Encoding::Json, Encoding::MsgPack] {
            assert_eq!(Encoding::from_code(encoding.code()), Some(encoding));
            let flags = encoding.flag_bits() | 0x07;
            assert_eq!(Encoding::from_flags(KindCode::Data, flags), Ok(encoding));
        }
        assert_eq!(Encoding::from_code(4), None);
    }

    #[test]
    fn encodings_round_trip_on_the_kinds_that_carry_them() {
        let kinds = [
            Kind::Data,
            Kind::Request { id: 7 },
            Kind::Reply { id: 7, status: 0 },
        ];
        for kind in kinds {
            for encoding in [Encoding::Bytes, Encoding::Json, Encoding::MsgPack] {
                let header = Header {
                    route: Some(&Route::All),
                    ..Header::new(kind, "c").with_encoding(encoding)
                };
                let wire = header.to_bytes(b"{}").unwrap();
                assert_eq!(
                    wire[5],
                    encoding.code() << 4 | FLAG_ROUTE,
                    "{kind:?} {encoding}"
                );
                let mut buf = BytesMut::from(&wire[..]);
                let frame = Decoder::new(1 << 10).decode(&mut buf).unwrap().unwrap();
                assert_eq!((frame.header(), &frame.payload[..]), (header, &b"{}"[..]));
            }
        }
    }
}
