//! Control operations other than the image acknowledgement: what a host tells
//! a client about the frames it routed. Pure encode and decode; see the
//! [wire format](super).

use bytes::{BufMut, Bytes, BytesMut};

use super::DecodeError;

/// The control operation a host sends back to the sender of a routed frame it
/// did not deliver, on that frame's channel. Payload: a reason code `u8`, then
/// UTF-8 detail (the unknown id in decimal, the unknown name, or why).
pub const OP_UNDELIVERED: u8 = 0x02;

/// Why a host did not deliver a routed frame (or some of its targets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undelivered {
    /// Code 1: no connected client has this id.
    UnknownClient(u64),
    /// Code 2: no connected client has this name.
    UnknownName(String),
    /// Code 3: the host's policy refused the route; the detail says why.
    Refused(String),
    /// Code 4: the host does not support this route (yet); the detail says which.
    Unsupported(String),
}

impl Undelivered {
    /// The control frame's payload.
    pub fn encode(&self) -> Bytes {
        let (code, detail) = match self {
            Undelivered::UnknownClient(id) => (1, id.to_string()),
            Undelivered::UnknownName(name) => (2, name.clone()),
            Undelivered::Refused(why) => (3, why.clone()),
            Undelivered::Unsupported(what) => (4, what.clone()),
        };
        let mut out = BytesMut::with_capacity(1 + detail.len());
        out.put_u8(code);
        out.put_slice(detail.as_bytes());
        out.freeze()
    }

    /// Parses a control frame's payload.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadControl`] for an empty payload, an unknown code or a
    /// bad id; [`DecodeError::BadUtf8`] for a detail that is not UTF-8.
    pub fn decode(payload: &[u8]) -> Result<Undelivered, DecodeError> {
        let (&code, detail) = payload
            .split_first()
            .ok_or(DecodeError::BadControl("empty undelivered notice"))?;
        let detail = std::str::from_utf8(detail).map_err(|_| DecodeError::BadUtf8("detail"))?;
        match code {
            1 => detail
                .parse()
                .map(Undelivered::UnknownClient)
                .map_err(|_| DecodeError::BadControl("client id")),
            2 => Ok(Undelivered::UnknownName(detail.to_owned())),
            3 => Ok(Undelivered::Refused(detail.to_owned())),
            4 => Ok(Undelivered::Unsupported(detail.to_owned())),
            _ => Err(DecodeError::BadControl("unknown undelivered code")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Header, Kind, Route};

    #[test]
    fn the_routing_examples_of_the_spec_are_exact() {
        let route = Route::Names(vec!["arm".into()]);
        let routed = Header {
            route: Some(&route),
            ..Header::data("cmd")
        };
        assert_eq!(
            &routed.to_bytes(b"go").expect("a valid frame")[..],
            b"\x0e\x00\x00\x00\x01\x01\x03cmd\x04\x01\x03armgo"
        );
        let notice = Undelivered::UnknownName("arm".into()).encode();
        let kind = Kind::Control { op: OP_UNDELIVERED };
        assert_eq!(
            &Header::new(kind, "cmd")
                .to_bytes(&notice)
                .expect("a valid frame")[..],
            b"\x0b\x00\x00\x00\x08\x00\x03cmd\x02\x02arm"
        );
    }

    #[test]
    fn undelivered_notices_round_trip_and_bad_ones_are_errors() {
        let notices = [
            Undelivered::UnknownClient(42),
            Undelivered::UnknownName("planner".into()),
            Undelivered::Refused("not allowed".into()),
            Undelivered::Unsupported("rooms".into()),
            Undelivered::UnknownName(String::new()),
        ];
        for notice in notices {
            assert_eq!(Undelivered::decode(&notice.encode()), Ok(notice));
        }
        assert_eq!(
            &Undelivered::UnknownName("ab".into()).encode()[..],
            b"\x02ab"
        );
        let bad: [(&[u8], DecodeError); 4] = [
            (b"", DecodeError::BadControl("empty undelivered notice")),
            (
                b"\x09x",
                DecodeError::BadControl("unknown undelivered code"),
            ),
            (b"\x01x1", DecodeError::BadControl("client id")),
            (b"\x02\xff", DecodeError::BadUtf8("detail")),
        ];
        for (payload, want) in bad {
            assert_eq!(Undelivered::decode(payload), Err(want), "{payload:?}");
        }
    }
}
