//! The hub: decides what happens to every received frame that is not the
//! engine's own business. The engine keeps plain data, images, pings and pongs
//! and image acknowledgements; routed data, requests, replies, control
//! operations (rooms, subscriptions) and closes come here, one function per
//! kind, and the engine acts on the [`Verdict`] returned.
//!
//! Routing is here: a host delivers what a client routes (`on_routed`), and a
//! client learns what its host could not deliver (`on_control`); a close ends
//! the connection with its reason (`on_close`); rooms, their table and their
//! control operations, are in [`rooms`]; a request asks a host's service, a
//! responder, or (at a host) is forwarded to another client, and a reply
//! completes a request (`service`); the host's table of forwarded requests
//! is [`forward`].
//!
//! # Layering
//!
//! `protocol <- store <- hub <- engine`: the hub may use [`crate::protocol`]
//! (frames), [`crate::store`] (where messages live) and the crate's small shared
//! types ([`crate::ClientId`], [`crate::Error`]); it never uses `crate::engine`,
//! nor the handles above it (`Host`, `Client`). The engine calls the hub and
//! carries out its answer, so the hub decides without sockets or threads and is
//! tested as plain functions.

pub(crate) mod forward;
pub(crate) mod latched;
pub(crate) mod rooms;
mod service;

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::config::{Relay, RoutePolicy};
pub(crate) use service::Service;

use crate::protocol::{
    DecodeError, Failure, Frame, Kind, OP_INTEREST, OP_UNDELIVERED, Pattern, Route, Undelivered,
    close_message, decode_interest,
};
use crate::{ClientId, CloseCode, DisconnectReason, RouteRequest, To};

/// What the engine does with a frame it handed to the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub(crate) enum Verdict {
    /// Store the frame's payload on its channel, as an unrouted data message.
    Store,
    /// Deliver it to the clients its route names, with its sender as origin
    /// (and back to the sender too if it asked, with the mirror flag).
    Deliver,
    /// Tell the sender its frame was not delivered, and why.
    Refuse(Undelivered),
    /// Report to the application that the host did not deliver something
    /// this client routed.
    Report(Undelivered),
    /// Carry out a room operation (a client's request at a host; the host's
    /// list of the client's rooms at a client).
    Room(rooms::RoomOp),
    /// Drop the frame: nothing on this side acts on it.
    Drop,
    /// The client declared the channels it wants from broadcasts and relays.
    Interest(Vec<Pattern>),
    /// The frame breaks the protocol: close the connection with this error.
    Invalid(DecodeError),
    /// Answer the request with what this host service says.
    Serve(Service),
    /// Answer the request with a failure status and its detail.
    Reject(Failure),
    /// Complete the request of the reply's id: this side's own, or one a
    /// host forwarded.
    Complete,
    /// Hand the request to this side's responder on its channel.
    Respond,
    /// Forward the request to the one client its route names (a host).
    Forward,
    /// End the connection after this read pass and report `reason` (the
    /// engine decides whether a client redials).
    Disconnect(DisconnectReason),
}

/// Which end of a connection a frame arrived at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// A host: clients route through it.
    Host,
    /// A client: what its host sends is final (a route on it means nothing).
    Client,
}

/// A data frame, or the first frame of an image, that carries a route.
///
/// At a host: a route to the host itself is stored like an unrouted frame;
/// one naming clients, a room or all of them is delivered. At a client:
/// stored.
pub(crate) fn on_routed(route: &Route, side: Side) -> Verdict {
    match (side, route) {
        (Side::Client, _) | (Side::Host, Route::Host) => Verdict::Store,
        (
            Side::Host,
            Route::All | Route::Clients(_) | Route::Names(_) | Route::Room(_) | Route::Group(_),
        ) => Verdict::Deliver,
    }
}

/// Whether the host's route policy lets `from` route a message on `channel`
/// by `route`. A policy that panics refuses (and the loop carries on).
pub(crate) fn admit(
    policy: Option<&RoutePolicy>,
    from: ClientId,
    channel: &str,
    route: &Route,
) -> Result<(), Undelivered> {
    let Some(RoutePolicy(policy)) = policy else {
        return Ok(());
    };
    let to = To::from(route);
    let request = RouteRequest { from, channel, to };
    match catch_unwind(AssertUnwindSafe(|| policy(&request))) {
        Ok(verdict) => verdict.map_err(Undelivered::Refused),
        Err(_) => Err(Undelivered::Refused(
            "the host's route policy failed".to_owned(),
        )),
    }
}

/// Where a host relays a client's unrouted message, if it does: every
/// other client, and whether the sender gets it back.
pub(crate) fn relay_route(relay: Relay) -> Option<(Route, bool)> {
    match relay {
        Relay::Off => None,
        Relay::Others => Some((Route::All, false)),
        Relay::Echo => Some((Route::Clients(Vec::new()), true)),
        Relay::OthersAndEcho => Some((Route::All, true)),
    }
}

/// A request, which expects a reply with its id: a host serves its `$`
/// channels, forwards a request routed to one client, and hands any other
/// to its `responder` on the channel if it has one; see
/// [`service::on_request`].
pub(crate) fn on_request(frame: &Frame, side: Side, responder: bool) -> Verdict {
    service::on_request(frame, side, responder)
}

/// A reply to a request: it completes the request of that id.
pub(crate) fn on_reply(frame: &Frame) -> Verdict {
    service::on_reply(frame)
}

/// A control operation other than an image acknowledgement.
///
/// At a client, a host's notice that it did not deliver a routed frame is
/// reported; a malformed one is reported as refused, with the decoder's
/// words, rather than closing the connection. Room operations go to
/// [`rooms::on_control`]; at a host, a client's interest is recorded (a
/// malformed one closes its connection); any other operation is dropped.
pub(crate) fn on_control(frame: &Frame, side: Side) -> Verdict {
    match (side, frame.kind) {
        (Side::Host, Kind::Control { op: OP_INTEREST }) => match decode_interest(&frame.payload) {
            Ok(patterns) => Verdict::Interest(patterns),
            Err(err) => Verdict::Invalid(err),
        },
        (Side::Client, Kind::Control { op: OP_UNDELIVERED }) => {
            match Undelivered::decode(&frame.payload) {
                Ok(notice) => Verdict::Report(notice),
                Err(err) => Verdict::Report(Undelivered::Refused(err.to_string())),
            }
        }
        _ => Verdict::Drop,
    }
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
            sent_at: None,
            encoding: crate::protocol::Encoding::Bytes,
            payload: Bytes::from_static(b"p"),
        }
    }

    #[test]
    fn a_host_delivers_routes_to_clients_and_stores_routes_to_itself() {
        let table = [
            (Route::Host, Side::Host, Verdict::Store),
            (Route::All, Side::Host, Verdict::Deliver),
            (Route::Clients(vec![1]), Side::Host, Verdict::Deliver),
            (Route::Names(vec!["a".into()]), Side::Host, Verdict::Deliver),
            (Route::Room("arm".into()), Side::Host, Verdict::Deliver),
            (Route::All, Side::Client, Verdict::Store),
            (Route::Names(vec!["a".into()]), Side::Client, Verdict::Store),
        ];
        for (i, (route, side, want)) in table.into_iter().enumerate() {
            assert_eq!(on_routed(&route, side), want, "row {i}");
        }
    }

    #[test]
    fn a_route_policy_refuses_with_its_text_and_a_panicking_one_refuses_too() {
        let policy = RoutePolicy(std::sync::Arc::new(|req: &RouteRequest<'_>| {
            match (&req.to, req.channel) {
                (To::All, "cmd") => Err("not to all".to_owned()),
                (To::Names(names), _) if names.is_empty() => panic!("a bug in the policy"),
                _ => Ok(()),
            }
        }));
        let from = ClientId(7);
        let table = [
            (
                Route::All,
                "cmd",
                Err(Undelivered::Refused("not to all".into())),
            ),
            (Route::All, "pose", Ok(())),
            (Route::Clients(vec![1]), "cmd", Ok(())),
            (
                Route::Names(vec![]),
                "x",
                Err(Undelivered::Refused(
                    "the host's route policy failed".into(),
                )),
            ),
        ];
        for (i, (route, channel, want)) in table.into_iter().enumerate() {
            assert_eq!(admit(Some(&policy), from, channel, &route), want, "row {i}");
            assert_eq!(admit(None, from, channel, &route), Ok(()), "row {i}");
        }
    }

    #[test]
    fn a_client_reports_undelivered_notices_and_a_host_ignores_them() {
        let notice = Undelivered::UnknownName("planner".into());
        let mut control = frame(Kind::Control { op: OP_UNDELIVERED }, None);
        control.payload = notice.encode();
        assert_eq!(on_control(&control, Side::Client), Verdict::Report(notice));
        assert_eq!(on_control(&control, Side::Host), Verdict::Drop);
        control.payload = Bytes::from_static(b"\x09");
        let Verdict::Report(Undelivered::Refused(why)) = on_control(&control, Side::Client) else {
            panic!("a malformed notice is reported as refused");
        };
        assert!(why.contains("unknown undelivered code"), "{why}");
    }

    #[test]
    fn requests_replies_rooms_and_closes_reach_their_handlers() {
        let request = frame(Kind::Request { id: 1 }, None);
        let reply = frame(Kind::Reply { id: 1, status: 0 }, None);
        let control = frame(Kind::Control { op: 0x20 }, None);
        let close = frame(Kind::Close { reason: 0 }, None);
        let table: [(Verdict, Verdict); 4] = [
            (
                on_request(&request, Side::Host, false),
                Verdict::Reject(Failure::NoResponder("c".into())),
            ),
            (on_reply(&reply), Verdict::Complete),
            (on_control(&control, Side::Client), Verdict::Drop),
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
