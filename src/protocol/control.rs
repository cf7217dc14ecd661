//! Control operations other than the image acknowledgement: what a host tells
//! a client about the frames it routed, and rooms (a client's request to join
//! or leave one, the host's list of its rooms). Pure encode and decode; see
//! the [wire format](super).

use bytes::{BufMut, Bytes, BytesMut};

use super::{DecodeError, Pattern};

/// The control operation a client sends its host to declare which channels
/// it wants from the host's broadcasts and relays: payload `count: u8` (at
/// most [`MAX_INTEREST`]), then per pattern `n: u8` and `n` bytes of UTF-8. It replaces any earlier
/// declaration; a client that declared nothing gets every channel.
pub const OP_INTEREST: u8 = 0x06;

/// Most patterns one interest may hold: a host matches each broadcast's
/// channel against every one of them, per peer.
pub const MAX_INTEREST: usize = 32;

/// The payload of an [`OP_INTEREST`] frame.
///
/// # Errors
///
/// [`DecodeError::FieldTooLong`] for more than [`MAX_INTEREST`] patterns.
pub fn encode_interest(patterns: &[Pattern]) -> Result<Bytes, DecodeError> {
    if patterns.len() > MAX_INTEREST {
        return Err(DecodeError::FieldTooLong {
            field: "pattern list",
            len: patterns.len(),
        });
    }
    let count = patterns.len() as u8;
    let mut out = BytesMut::new();
    out.put_u8(count);
    for pattern in patterns {
        // A pattern is 1..=255 bytes (checked when it was made).
        out.put_u8(pattern.as_str().len() as u8);
        out.put_slice(pattern.as_str().as_bytes());
    }
    Ok(out.freeze())
}

/// Parses an [`OP_INTEREST`] payload.
///
/// # Errors
///
/// [`DecodeError::BadControl`] when it runs short or has bytes left over;
/// a pattern's own error when one is invalid.
pub fn decode_interest(payload: &[u8]) -> Result<Vec<Pattern>, DecodeError> {
    let short = DecodeError::BadControl("interest runs short");
    let (&count, mut rest) = payload.split_first().ok_or(short)?;
    if usize::from(count) > MAX_INTEREST {
        return Err(DecodeError::BadControl(
            "more patterns than an interest holds",
        ));
    }
    let mut patterns = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let (&n, tail) = rest.split_first().ok_or(short)?;
        let text = tail.get(..usize::from(n)).ok_or(short)?;
        let text = std::str::from_utf8(text).map_err(|_| DecodeError::BadUtf8("pattern"))?;
        patterns.push(Pattern::new(text)?);
        rest = &tail[usize::from(n)..];
    }
    match rest.is_empty() {
        true => Ok(patterns),
        false => Err(DecodeError::BadControl("bytes after the interest")),
    }
}

/// The control operation a host sends back to the sender of a routed frame it
/// did not deliver, on that frame's channel. Payload: a reason code `u8`, then
/// UTF-8 detail (the unknown id in decimal, the unknown name, or why).
pub const OP_UNDELIVERED: u8 = 0x02;

/// The control operation a client sends to join a room, on
/// [`ROOMS_CHANNEL`]. Payload: the room's name, 1..=255 bytes of UTF-8.
pub const OP_JOIN: u8 = 0x03;

/// The control operation a client sends to leave a room, on
/// [`ROOMS_CHANNEL`]. Payload: the room's name, as for [`OP_JOIN`].
pub const OP_LEAVE: u8 = 0x04;

/// The control operation a host sends a client, on [`ROOMS_CHANNEL`], with
/// every room the client is in: after each join or leave request it accepts,
/// whenever the host itself changes the client's rooms, and right after the
/// welcome when the client is in any. Payload: zero or more names, each
/// `n: u8` (1..=255) then `n` bytes of UTF-8 ([`encode_rooms`]).
pub const OP_ROOMS: u8 = 0x05;

/// The channel the room operations travel on (they never reach the store).
pub const ROOMS_CHANNEL: &str = "rooms";

/// Checks a room name: 1..=255 bytes of UTF-8.
///
/// # Errors
///
/// [`DecodeError::BadControl`] for an empty name,
/// [`DecodeError::FieldTooLong`] for one over 255 bytes,
/// [`DecodeError::BadUtf8`] for one that is not UTF-8.
pub fn room_name(bytes: &[u8]) -> Result<&str, DecodeError> {
    match bytes.len() {
        0 => Err(DecodeError::BadControl("empty room name")),
        1..=255 => std::str::from_utf8(bytes).map_err(|_| DecodeError::BadUtf8("room")),
        len => Err(DecodeError::FieldTooLong {
            field: "room name",
            len,
        }),
    }
}

/// The payload of an [`OP_ROOMS`] frame. Names that are not valid room
/// names (empty, over 255 bytes) are left out: a host only lists rooms it
/// accepted with [`room_name`].
pub fn encode_rooms(rooms: &[String]) -> Bytes {
    let valid = rooms.iter().filter(|r| (1..=255).contains(&r.len()));
    let mut out = BytesMut::with_capacity(valid.clone().map(|r| 1 + r.len()).sum());
    for room in valid {
        out.put_u8(room.len() as u8);
        out.put_slice(room.as_bytes());
    }
    out.freeze()
}

/// Parses the payload of an [`OP_ROOMS`] frame.
///
/// # Errors
///
/// [`DecodeError::Truncated`] for a name running past the payload; the
/// errors of [`room_name`] for a bad name.
pub fn decode_rooms(mut payload: &[u8]) -> Result<Vec<String>, DecodeError> {
    let mut rooms = Vec::new();
    while let Some((&n, rest)) = payload.split_first() {
        let name = rest
            .get(..usize::from(n))
            .ok_or(DecodeError::Truncated("room list"))?;
        rooms.push(room_name(name)?.to_owned());
        payload = &rest[usize::from(n)..];
    }
    Ok(rooms)
}

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
    /// Code 5: no client is in a room of this name.
    UnknownRoom(String),
    /// Code 6: no connected client's interest overlaps this group (a
    /// channel pattern).
    UnknownGroup(String),
    /// Code 7: the host did not keep the message: a limit of its own (its
    /// memory, its channels); the detail says which.
    OverLimit(String),
    /// Code 8: the sender's permissions do not allow it; the detail is the
    /// action (`publish`, `subscribe`, `request`, `join`), a space, and what
    /// it was tried on (a channel or a room; for `subscribe`, the receiver
    /// that may not have the channel, by name or `#id`).
    Forbidden {
        /// The action's word.
        action: String,
        /// The channel, room or receiver.
        name: String,
    },
}

impl Undelivered {
    /// The control frame's payload.
    pub fn encode(&self) -> Bytes {
        let (code, detail) = match self {
            Undelivered::UnknownClient(id) => (1, id.to_string()),
            Undelivered::UnknownName(name) => (2, name.clone()),
            Undelivered::Refused(why) => (3, why.clone()),
            Undelivered::Unsupported(what) => (4, what.clone()),
            Undelivered::UnknownRoom(room) => (5, room.clone()),
            Undelivered::UnknownGroup(group) => (6, group.clone()),
            Undelivered::OverLimit(why) => (7, why.clone()),
            Undelivered::Forbidden { action, name } => (8, format!("{action} {name}")),
        };
        let detail = super::close::truncate(&detail, super::MAX_FAILURE_TEXT);
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
            5 => Ok(Undelivered::UnknownRoom(detail.to_owned())),
            6 => Ok(Undelivered::UnknownGroup(detail.to_owned())),
            7 => Ok(Undelivered::OverLimit(detail.to_owned())),
            8 => {
                let (action, name) = detail.split_once(' ').unwrap_or((detail, ""));
                let (action, name) = (action.to_owned(), name.to_owned());
                Ok(Undelivered::Forbidden { action, name })
            }
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
    fn the_group_examples_of_the_spec_are_exact() {
        let route = Route::Group(Pattern::new("arm/**").expect("a pattern"));
        let routed = Header {
            route: Some(&route),
            ..Header::data("cmd")
        };
        assert_eq!(
            &routed.to_bytes(b"go").expect("a valid frame")[..],
            b"\x10\x00\x00\x00\x01\x01\x03cmd\x05\x06arm/**go"
        );
        let notice = Undelivered::UnknownGroup("arm/**".into()).encode();
        let kind = Kind::Control { op: OP_UNDELIVERED };
        assert_eq!(
            &Header::new(kind, "cmd")
                .to_bytes(&notice)
                .expect("a valid frame")[..],
            b"\x0e\x00\x00\x00\x08\x00\x03cmd\x02\x06arm/**"
        );
        assert_eq!(
            Undelivered::decode(&notice),
            Ok(Undelivered::UnknownGroup("arm/**".into()))
        );
    }

    /// A control frame on the rooms channel.
    fn room_frame(op: u8, payload: &[u8]) -> Vec<u8> {
        let kind = Kind::Control { op };
        let frame = Header::new(kind, ROOMS_CHANNEL).to_bytes(payload);
        frame.expect("a valid frame").to_vec()
    }

    #[test]
    fn the_room_examples_of_the_spec_are_exact() {
        let route = Route::Room("arm".into());
        let routed = Header {
            route: Some(&route),
            ..Header::data("cmd")
        };
        assert_eq!(
            &routed.to_bytes(b"go").expect("a valid frame")[..],
            b"\x0d\x00\x00\x00\x01\x01\x03cmd\x03\x03armgo"
        );
        assert_eq!(
            room_frame(OP_JOIN, b"arm"),
            b"\x0c\x00\x00\x00\x08\x00\x05rooms\x03arm"
        );
        assert_eq!(
            room_frame(OP_LEAVE, b"arm"),
            b"\x0c\x00\x00\x00\x08\x00\x05rooms\x04arm"
        );
        let list = encode_rooms(&["arm".into(), "cam".into()]);
        assert_eq!(
            room_frame(OP_ROOMS, &list),
            b"\x11\x00\x00\x00\x08\x00\x05rooms\x05\x03arm\x03cam"
        );
        let notice = Undelivered::UnknownRoom("arm".into()).encode();
        assert_eq!(
            Header::new(Kind::Control { op: OP_UNDELIVERED }, "cmd")
                .to_bytes(&notice)
                .expect("a valid frame")[..],
            b"\x0b\x00\x00\x00\x08\x00\x03cmd\x02\x05arm"[..]
        );
    }

    #[test]
    fn room_lists_round_trip_and_bad_ones_are_errors() {
        let long = "r".repeat(255);
        let lists: [Vec<String>; 3] = [vec![], vec!["a".into()], vec!["arm".into(), long]];
        for list in lists {
            assert_eq!(decode_rooms(&encode_rooms(&list)), Ok(list));
        }
        // Invalid names are never listed.
        let skipped = encode_rooms(&[String::new(), "x".repeat(256), "ok".into()]);
        assert_eq!(&skipped[..], b"\x02ok");
        let bad: [(&[u8], DecodeError); 4] = [
            (b"\x03ab", DecodeError::Truncated("room list")),
            (b"\x00", DecodeError::BadControl("empty room name")),
            (b"\x01\xff", DecodeError::BadUtf8("room")),
            (b"\x02ok\x05", DecodeError::Truncated("room list")),
        ];
        for (payload, want) in bad {
            assert_eq!(decode_rooms(payload), Err(want), "{payload:?}");
        }
        let too_long = DecodeError::FieldTooLong {
            field: "room name",
            len: 256,
        };
        assert_eq!(room_name(&[b'x'; 256]), Err(too_long));
        assert_eq!(room_name(b"arm"), Ok("arm"));
    }

    #[test]
    fn the_interest_example_of_the_spec_is_exact() {
        let patterns = ["pose", "arm/**"].map(|p| Pattern::new(p).expect("valid"));
        let payload = encode_interest(&patterns).expect("two patterns");
        let kind = Kind::Control { op: OP_INTEREST };
        let frame = Header::new(kind, "interest")
            .to_bytes(&payload)
            .expect("a frame");
        assert_eq!(
            &frame[..],
            b"\x19\x00\x00\x00\x08\x00\x08interest\x06\x02\x04pose\x06arm/**"
        );
    }

    #[test]
    fn interest_round_trips_and_bad_payloads_are_errors() {
        let patterns: Vec<Pattern> = ["pose", "arm/**"]
            .iter()
            .map(|p| Pattern::new(p).expect("valid"))
            .collect();
        let payload = encode_interest(&patterns).expect("two patterns");
        assert_eq!(&payload[..], b"\x02\x04pose\x06arm/**");
        assert_eq!(decode_interest(&payload), Ok(patterns));
        assert_eq!(decode_interest(b"\x00"), Ok(Vec::new()));
        let short = DecodeError::BadControl("interest runs short");
        let bad: [(&[u8], DecodeError); 5] = [
            (b"", short),
            (b"\x01", short),
            (b"\x01\x05pose", short),
            (
                b"\x01\x04posex",
                DecodeError::BadControl("bytes after the interest"),
            ),
            (
                b"\x01\x04cam*",
                DecodeError::BadPattern("`*` inside a segment"),
            ),
        ];
        for (payload, want) in bad {
            assert_eq!(decode_interest(payload), Err(want), "{payload:?}");
        }
        let many = vec![Pattern::new("a").expect("valid"); MAX_INTEREST + 1];
        assert!(encode_interest(&many).is_err());
        assert_eq!(
            decode_interest(b"\x21"),
            Err(DecodeError::BadControl(
                "more patterns than an interest holds"
            ))
        );
    }

    #[test]
    fn undelivered_notices_round_trip_and_bad_ones_are_errors() {
        let notices = [
            Undelivered::UnknownClient(42),
            Undelivered::UnknownName("planner".into()),
            Undelivered::Refused("not allowed".into()),
            Undelivered::Unsupported("rooms".into()),
            Undelivered::Forbidden {
                action: "publish".into(),
                name: "arm/left joint".into(),
            },
            Undelivered::UnknownName(String::new()),
            Undelivered::UnknownRoom("arm".into()),
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
