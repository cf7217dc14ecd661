//! Reply statuses: what a reply frame's status byte says, and the payload
//! a failure carries ([`Failure`]). Layouts in the
//! [wire format](super#requests-and-replies).

use bytes::{BufMut, Bytes, BytesMut};

use super::Undelivered;
use super::close::truncate;

/// Longest text a failure reply carries (its detail, or an undelivered
/// notice's), in bytes: a longer one (a responder's error text, a route
/// policy's reason) is cut at a character boundary, as close messages are,
/// so a reply fits any peer's maximum frame.
pub const MAX_FAILURE_TEXT: usize = 1024;

/// Reply status: answered; the payload is the answer.
pub const STATUS_OK: u8 = 0;
/// Reply status: nothing answers requests on that channel.
pub const STATUS_NO_RESPONDER: u8 = 1;
/// Reply status: the request was malformed.
pub const STATUS_BAD_REQUEST: u8 = 2;
/// Reply status: the responder could not answer: its own error text (or
/// a panic's message).
pub const STATUS_FAILED: u8 = 3;
/// Reply status: the requester's permissions do not allow the request; the
/// payload is the channel asked.
pub const STATUS_FORBIDDEN: u8 = 4;
/// Reply status: the host could not forward the request to the client its
/// route names; the payload is an [`Undelivered`] notice's.
pub const STATUS_UNDELIVERED: u8 = 5;
/// Reply status: the responder's queue is full; the payload is the channel.
pub const STATUS_BUSY: u8 = 6;
/// Reply status: the responder disconnected before it answered; the
/// payload is its name (or `#id`).
pub const STATUS_GONE: u8 = 7;
/// Reply status: the answer would not fit a frame; the payload is its
/// length and the maximum, two `u64`.
pub const STATUS_TOO_LARGE: u8 = 8;
/// Reply status: the host holds its most forwarded requests in flight (in
/// all, or for this requester); the payload is that limit, a `u64`.
pub const STATUS_TOO_MANY: u8 = 9;
/// Reply status: the host forwarded the request and stopped waiting for its
/// answer (its forward timeout); the payload is that timeout in
/// milliseconds, a `u64`.
pub const STATUS_TIMED_OUT: u8 = 10;
/// Reply status: a command (a request on the command channel) names no
/// handler; the payload is the name.
pub const STATUS_UNKNOWN_COMMAND: u8 = 11;

/// Why a request got no answer: a reply's non-zero status and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Status 1: no responder; the detail is the channel asked.
    NoResponder(String),
    /// Status 2: a malformed request; the detail says what is wrong.
    BadRequest(String),
    /// Status 3, or a status this build does not know (or one whose payload
    /// it cannot read): the responder failed; its words.
    Failed(String),
    /// Status 4: the requester may not ask this channel; the detail is the channel.
    Forbidden(String),
    /// Status 5: the host could not forward the request.
    Undelivered(Undelivered),
    /// Status 6: the responder's queue is full; the detail is the channel.
    Busy(String),
    /// Status 7: the responder left before answering; the detail names it.
    Gone(String),
    /// Status 8: the answer of `len` bytes would not fit a frame of `max`.
    TooLarge {
        /// The frame's body length with the answer.
        len: u64,
        /// The largest frame body the responder sends.
        max: u64,
    },
    /// Status 9: the host holds `max` forwarded requests already.
    TooMany {
        /// The host's limit.
        max: u64,
    },
    /// Status 10: the host stopped waiting for the answer after `ms`
    /// milliseconds.
    TimedOut {
        /// The host's forward timeout, in milliseconds.
        ms: u64,
    },
    /// Status 11: the command asked for has no handler; the detail is its name.
    UnknownCommand(String),
}

impl Failure {
    /// The reply's status byte.
    pub fn status(&self) -> u8 {
        match self {
            Failure::NoResponder(_) => STATUS_NO_RESPONDER,
            Failure::BadRequest(_) => STATUS_BAD_REQUEST,
            Failure::Failed(_) => STATUS_FAILED,
            Failure::Forbidden(_) => STATUS_FORBIDDEN,
            Failure::Undelivered(_) => STATUS_UNDELIVERED,
            Failure::Busy(_) => STATUS_BUSY,
            Failure::Gone(_) => STATUS_GONE,
            Failure::TooLarge { .. } => STATUS_TOO_LARGE,
            Failure::TooMany { .. } => STATUS_TOO_MANY,
            Failure::TimedOut { .. } => STATUS_TIMED_OUT,
            Failure::UnknownCommand(_) => STATUS_UNKNOWN_COMMAND,
        }
    }

    /// The reply's payload; a text longer than [`MAX_FAILURE_TEXT`] is cut
    /// at a character boundary.
    pub fn encode(&self) -> Bytes {
        match self {
            Failure::NoResponder(s)
            | Failure::BadRequest(s)
            | Failure::Failed(s)
            | Failure::Forbidden(s)
            | Failure::Busy(s)
            | Failure::Gone(s)
            | Failure::UnknownCommand(s) => {
                Bytes::copy_from_slice(truncate(s, MAX_FAILURE_TEXT).as_bytes())
            }
            Failure::Undelivered(notice) => notice.encode(),
            Failure::TooLarge { len, max } => {
                let mut out = BytesMut::with_capacity(16);
                out.put_u64_le(*len);
                out.put_u64_le(*max);
                out.freeze()
            }
            Failure::TooMany { max: n } | Failure::TimedOut { ms: n } => {
                Bytes::copy_from_slice(&n.to_le_bytes())
            }
        }
    }

    /// The failure a reply of non-zero `status` reports (invalid UTF-8
    /// replaced, a text cut to [`MAX_FAILURE_TEXT`] bytes; a payload that
    /// does not fit its status, as `Failed`).
    pub fn from_reply(status: u8, payload: &[u8]) -> Failure {
        let detail = || {
            let cut = &payload[..payload.len().min(MAX_FAILURE_TEXT)];
            String::from_utf8_lossy(cut).into_owned()
        };
        let u64_at = |at: usize| {
            let bytes = payload.get(at..at + 8)?;
            Some(u64::from_le_bytes(bytes.try_into().ok()?))
        };
        let malformed = || Failure::Failed(format!("a malformed reply of status {status}"));
        match status {
            STATUS_NO_RESPONDER => Failure::NoResponder(detail()),
            STATUS_BAD_REQUEST => Failure::BadRequest(detail()),
            STATUS_FORBIDDEN => Failure::Forbidden(detail()),
            STATUS_UNDELIVERED => match Undelivered::decode(payload) {
                Ok(notice) => Failure::Undelivered(notice),
                Err(_) => malformed(),
            },
            STATUS_BUSY => Failure::Busy(detail()),
            STATUS_GONE => Failure::Gone(detail()),
            STATUS_UNKNOWN_COMMAND => Failure::UnknownCommand(detail()),
            STATUS_TOO_LARGE if payload.len() == 16 => match (u64_at(0), u64_at(8)) {
                (Some(len), Some(max)) => Failure::TooLarge { len, max },
                _ => malformed(),
            },
            STATUS_TOO_MANY if payload.len() == 8 => match u64_at(0) {
                Some(max) => Failure::TooMany { max },
                None => malformed(),
            },
            STATUS_TIMED_OUT if payload.len() == 8 => match u64_at(0) {
                Some(ms) => Failure::TimedOut { ms },
                None => malformed(),
            },
            STATUS_TOO_LARGE | STATUS_TOO_MANY | STATUS_TIMED_OUT => malformed(),
            _ => Failure::Failed(detail()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Header, Kind, Route};

    #[test]
    fn every_failure_comes_back_from_its_status_and_payload() {
        let table = [
            (Failure::NoResponder("$time".into()), 1),
            (Failure::BadRequest("name".into()), 2),
            (Failure::Failed("no such pose".into()), 3),
            (Failure::Forbidden("grip".into()), 4),
            (
                Failure::Undelivered(Undelivered::UnknownName("arm".into())),
                5,
            ),
            (Failure::Busy("grip".into()), 6),
            (Failure::Gone("arm".into()), 7),
            (Failure::TooLarge { len: 20, max: 16 }, 8),
            (Failure::TooMany { max: 65_536 }, 9),
            (Failure::TimedOut { ms: 60_000 }, 10),
            (Failure::UnknownCommand("dance".into()), 11),
        ];
        for (failure, status) in table {
            assert_eq!(failure.status(), status);
            assert_eq!(Failure::from_reply(status, &failure.encode()), failure);
        }
    }

    #[test]
    fn failure_texts_are_cut_at_a_character_boundary_within_the_limit() {
        let long = "é".repeat(MAX_FAILURE_TEXT);
        let refused = Undelivered::Refused("x".repeat(5 * MAX_FAILURE_TEXT));
        for failure in [
            Failure::Failed(long.clone()),
            Failure::Busy(long.clone()),
            Failure::Undelivered(refused),
        ] {
            let payload = failure.encode();
            assert!(payload.len() <= MAX_FAILURE_TEXT + 1, "{}", payload.len());
            let back = Failure::from_reply(failure.status(), &payload);
            assert_eq!(back.status(), failure.status(), "{back:?}");
        }
        let cut = Failure::from_reply(STATUS_FAILED, &Failure::Failed(long.clone()).encode());
        assert_eq!(cut, Failure::Failed(long[..MAX_FAILURE_TEXT].to_owned()));
        // A peer that sends more is read up to the limit.
        let sent = Failure::from_reply(STATUS_FAILED, &[b'a'; 3 * MAX_FAILURE_TEXT]);
        assert_eq!(sent, Failure::Failed("a".repeat(MAX_FAILURE_TEXT)));
    }

    #[test]
    fn unknown_statuses_and_malformed_payloads_read_as_failed() {
        let table: [(u8, &[u8], Failure); 5] = [
            (99, b"x", Failure::Failed("x".into())),
            (3, b"\xff", Failure::Failed("\u{fffd}".into())),
            (
                5,
                b"",
                Failure::Failed("a malformed reply of status 5".into()),
            ),
            (
                8,
                b"\x01",
                Failure::Failed("a malformed reply of status 8".into()),
            ),
            (
                9,
                &[0; 9],
                Failure::Failed("a malformed reply of status 9".into()),
            ),
        ];
        for (status, payload, want) in table {
            assert_eq!(Failure::from_reply(status, payload), want, "{status}");
        }
    }

    /// The exchange of the wire format's "Requests and replies" section.
    #[test]
    fn the_forwarding_example_of_the_spec_is_exact() {
        let route = Route::Names(vec!["arm".into()]);
        let asked = Header {
            route: Some(&route),
            ..Header::new(Kind::Request { id: 7 }, "grip")
        };
        let forwarded = Header {
            origin: Some(2),
            ..Header::new(Kind::Request { id: 12 }, "grip")
        };
        let answered = Header::new(Kind::Reply { id: 12, status: 0 }, "grip");
        let passed_on = Header {
            origin: Some(3),
            ..Header::new(Kind::Reply { id: 7, status: 0 }, "grip")
        };
        let gone = Header {
            origin: Some(3),
            ..Header::new(Kind::Reply { id: 7, status: 7 }, "grip")
        };
        let expired = Header::new(Kind::Reply { id: 7, status: 10 }, "grip");
        let after = Failure::TimedOut { ms: 60_000 }.encode();
        let table: [(Header<'_>, &[u8], &[u8]); 6] = [
            (
                asked,
                b"open",
                b"\x19\0\0\0\x04\x01\x04grip\x04\x01\x03arm\x07\0\0\0\0\0\0\0open",
            ),
            (
                forwarded,
                b"open",
                b"\x1b\0\0\0\x04\x02\x04grip\x02\0\0\0\0\0\0\0\x0c\0\0\0\0\0\0\0open",
            ),
            (
                answered,
                b"ok",
                b"\x12\0\0\0\x05\x00\x04grip\x0c\0\0\0\0\0\0\0\x00ok",
            ),
            (
                passed_on,
                b"ok",
                b"\x1a\0\0\0\x05\x02\x04grip\x03\0\0\0\0\0\0\0\x07\0\0\0\0\0\0\0\x00ok",
            ),
            (
                gone,
                b"arm",
                b"\x1b\0\0\0\x05\x02\x04grip\x03\0\0\0\0\0\0\0\x07\0\0\0\0\0\0\0\x07arm",
            ),
            (
                expired,
                &after,
                b"\x18\0\0\0\x05\x00\x04grip\x07\0\0\0\0\0\0\0\x0a\x60\xea\0\0\0\0\0\0",
            ),
        ];
        for (i, (header, payload, want)) in table.into_iter().enumerate() {
            let wire = header.to_bytes(payload).expect("a valid frame");
            assert_eq!(&wire[..], want, "frame {i}");
        }
    }
}
