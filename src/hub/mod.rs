//! The hub: decides what happens to every received frame that is not the
//! engine's own business. The engine keeps plain data, images, pings and pongs
//! and image acknowledgements; routed data, requests, replies, control
//! operations (rooms, subscriptions) and closes come here, one function per
//! kind, and the engine acts on the [`Verdict`] returned.
//!
//! A close ends the connection with its reason. For now the other functions
//! do what the engine did before the hub existed (routed data is stored as if
//! unrouted, the rest is dropped), but say so in one place, so routing and
//! request/reply fill in these functions without touching the engine's read
//! path.
//!
//! # Layering
//!
//! `protocol <- store <- hub <- engine`: the hub may use [`crate::protocol`]
//! (frames), [`crate::store`] (where messages live) and the crate's small shared
//! types ([`crate::ClientId`], [`crate::Error`]); it never uses `crate::engine`,
//! nor the handles above it (`Host`, `Client`). The engine calls the hub and
//! carries out its answer, so the hub decides without sockets or threads and is
//! tested as plain functions.

use crate::protocol::{Frame, Kind, close_message};
use crate::{CloseCode, DisconnectReason};

/// What the engine does with a frame it handed to the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub(crate) enum Verdict {
    /// Store the frame's payload on its channel, as an unrouted data message.
    Store,
    /// Drop the frame: nothing handles its kind yet.
    Drop,
    /// End the connection after this read pass and report `reason` (the
    /// engine decides whether a client redials).
    Disconnect(DisconnectReason),
}

/// A data frame that carries a route.
///
/// To come with the hub (issue: routing): deliver to the route's target.
/// Until then it is stored on the receiver's channel as if it had no route.
pub(crate) fn on_routed(_frame: &Frame) -> Verdict {
    Verdict::Store
}

/// A request, which expects a reply with its id.
///
/// To come with the hub (issue: request-reply). Until then it is dropped.
pub(crate) fn on_request(_frame: &Frame) -> Verdict {
    Verdict::Drop
}

/// A reply to a request.
///
/// To come with the hub (issue: request-reply). Until then it is dropped.
pub(crate) fn on_reply(_frame: &Frame) -> Verdict {
    Verdict::Drop
}

/// A control operation other than an image acknowledgement: joining or
/// leaving a room, subscribing.
///
/// To come with the hub (issue: routing). Until then it is dropped.
pub(crate) fn on_control(_frame: &Frame) -> Verdict {
    Verdict::Drop
}

/// The peer announces it is closing, with a reason: the connection ends, and
/// the reason (its code and at most 1 KiB of message) is reported.
pub(crate) fn on_close(frame: &Frame) -> Verdict {
    let Kind::Close { reason } = frame.kind else {
        return Verdict::Drop;
    };
    let code = CloseCode::from_code(reason);
    Verdict::Disconnect(DisconnectReason::new(code, close_message(&frame.payload)))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::protocol::{ChannelName, Kind, Route};

    fn frame(kind: Kind, route: Option<Route>) -> Frame {
        Frame {
            kind,
            channel: ChannelName::new("c").expect("a valid name"),
            route,
            origin: None,
            mirror: false,
            payload: Bytes::from_static(b"p"),
        }
    }

    #[test]
    fn routed_data_is_stored_a_close_disconnects_and_the_other_kinds_are_dropped() {
        let routed = frame(Kind::Data, Some(Route::All));
        let request = frame(Kind::Request { id: 1 }, None);
        let reply = frame(Kind::Reply { id: 1, status: 0 }, None);
        let control = frame(Kind::Control { op: 2 }, None);
        let close = frame(Kind::Close { reason: 0 }, None);
        let table: [(Verdict, Verdict); 5] = [
            (on_routed(&routed), Verdict::Store),
            (on_request(&request), Verdict::Drop),
            (on_reply(&reply), Verdict::Drop),
            (on_control(&control), Verdict::Drop),
            (
                on_close(&close),
                Verdict::Disconnect(DisconnectReason::new(CloseCode::Normal, "p")),
            ),
        ];
        for (i, (got, want)) in table.into_iter().enumerate() {
            assert_eq!(got, want, "row {i}");
        }
    }

    #[test]
    fn a_close_reports_its_code_and_message() {
        let mut kicked = frame(Kind::Close { reason: 1 }, None);
        kicked.payload = Bytes::from_static(b"go away");
        let mut odd = frame(Kind::Close { reason: 77 }, None);
        odd.payload = Bytes::from(vec![b'x'; 5000]);
        let table = [
            (kicked, CloseCode::Kicked, "go away".to_owned()),
            (odd, CloseCode::Other(77), "x".repeat(1024)),
        ];
        for (frame, code, message) in table {
            let want = Verdict::Disconnect(DisconnectReason::new(code, message));
            assert_eq!(on_close(&frame), want);
        }
    }
}
