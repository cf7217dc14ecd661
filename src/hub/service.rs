//! Requests and replies: which of a host's services a request asks for, and
//! what a reply completes. Layouts in the [wire format](crate::protocol#services).

use super::{Side, Verdict};
use crate::protocol::{
    Failure, Frame, Kind, Route, SERVICE_CHANNELS, SERVICE_CLIENTS, SERVICE_LOOKUP, SERVICE_SYNC,
    Undelivered, is_system,
};

/// A host service a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Service {
    /// The client list.
    Clients,
    /// The id of the connected client with this name.
    Lookup(String),
    /// The host's channels and their counters.
    Channels,
    /// Nothing: the answer itself is the point (see [`SERVICE_SYNC`]).
    Sync,
}

/// A request on a `$` channel asks one of a host's services (a client has
/// none). Any other is for a responder: at a host, one routed to a client
/// (by one id or name) is forwarded to it, and one for the host itself is
/// this side's responder's, if it registered one on the channel
/// (`responder`); so is one a host sends a client. A route to more than
/// one client is refused: a request expects one answer.
pub(crate) fn on_request(frame: &Frame, side: Side, responder: bool) -> Verdict {
    let channel = frame.channel_str();
    if is_system(channel) {
        return match side {
            Side::Host => serve(frame),
            Side::Client => Verdict::Reject(Failure::NoResponder(channel.to_owned())),
        };
    }
    match (side, &frame.route) {
        (Side::Host, Some(Route::Clients(ids))) if ids.len() == 1 => Verdict::Forward,
        (Side::Host, Some(Route::Names(names))) if names.len() == 1 => Verdict::Forward,
        (Side::Host, Some(route)) if *route != Route::Host => {
            let why = "a request to more than one client".to_owned();
            Verdict::Reject(Failure::Undelivered(Undelivered::Unsupported(why)))
        }
        _ if responder => Verdict::Respond,
        _ => Verdict::Reject(Failure::NoResponder(channel.to_owned())),
    }
}

/// The service a request on a host's `$` channel asks for.
fn serve(frame: &Frame) -> Verdict {
    match frame.channel_str() {
        SERVICE_CLIENTS => Verdict::Serve(Service::Clients),
        SERVICE_CHANNELS => Verdict::Serve(Service::Channels),
        SERVICE_SYNC => Verdict::Serve(Service::Sync),
        SERVICE_LOOKUP => match std::str::from_utf8(&frame.payload) {
            Ok(name) => Verdict::Serve(Service::Lookup(name.to_owned())),
            Err(_) => Verdict::Reject(Failure::BadRequest("the name is not UTF-8".to_owned())),
        },
        other => Verdict::Reject(Failure::NoResponder(other.to_owned())),
    }
}

/// A reply completes a request this side sent, or one a host forwarded.
pub(crate) fn on_reply(frame: &Frame) -> Verdict {
    match frame.kind {
        Kind::Reply { .. } => Verdict::Complete,
        _ => Verdict::Drop,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::protocol::ChannelName;

    fn request(channel: &str, payload: &'static [u8], route: Option<Route>) -> Frame {
        Frame {
            kind: Kind::Request { id: 1 },
            channel: ChannelName::new(channel).expect("a valid name"),
            route,
            origin: None,
            mirror: false,
            sent_at: None,
            encoding: crate::protocol::Encoding::Bytes,
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn a_host_serves_its_channels_whatever_its_responders() {
        let no = |c: &str| Verdict::Reject(Failure::NoResponder(c.to_owned()));
        let table = [
            (
                "$clients",
                &b""[..],
                Side::Host,
                Verdict::Serve(Service::Clients),
            ),
            ("$sync", b"", Side::Host, Verdict::Serve(Service::Sync)),
            (
                "$channels",
                b"",
                Side::Host,
                Verdict::Serve(Service::Channels),
            ),
            (
                "$lookup",
                b"arm",
                Side::Host,
                Verdict::Serve(Service::Lookup("arm".into())),
            ),
            (
                "$lookup",
                b"\xff",
                Side::Host,
                Verdict::Reject(Failure::BadRequest("the name is not UTF-8".into())),
            ),
            ("$time", b"", Side::Host, no("$time")),
            ("$clients", b"", Side::Client, no("$clients")),
        ];
        for (i, (channel, payload, side, want)) in table.into_iter().enumerate() {
            for responder in [false, true] {
                let got = on_request(&request(channel, payload, None), side, responder);
                assert_eq!(got, want, "row {i}");
            }
        }
    }

    #[test]
    fn a_request_goes_to_a_responder_or_is_forwarded_to_one_client() {
        let many = Failure::Undelivered(Undelivered::Unsupported(
            "a request to more than one client".into(),
        ));
        let none = Verdict::Reject(Failure::NoResponder("grip".into()));
        let table = [
            (None, Side::Host, false, none.clone()),
            (None, Side::Client, false, none),
            (None, Side::Host, true, Verdict::Respond),
            (Some(Route::Host), Side::Host, true, Verdict::Respond),
            (None, Side::Client, true, Verdict::Respond),
            (Some(Route::All), Side::Client, true, Verdict::Respond),
            (
                Some(Route::Clients(vec![3])),
                Side::Host,
                false,
                Verdict::Forward,
            ),
            (
                Some(Route::Names(vec!["arm".into()])),
                Side::Host,
                true,
                Verdict::Forward,
            ),
            (
                Some(Route::Clients(vec![3, 4])),
                Side::Host,
                true,
                Verdict::Reject(many.clone()),
            ),
            (
                Some(Route::All),
                Side::Host,
                false,
                Verdict::Reject(many.clone()),
            ),
            (
                Some(Route::Room("r".into())),
                Side::Host,
                true,
                Verdict::Reject(many),
            ),
        ];
        for (i, (route, side, responder, want)) in table.into_iter().enumerate() {
            let got = on_request(&request("grip", b"", route), side, responder);
            assert_eq!(got, want, "row {i}");
        }
    }

    #[test]
    fn replies_complete_on_either_side() {
        let mut reply = request("grip", b"", None);
        reply.kind = Kind::Reply { id: 1, status: 0 };
        assert_eq!(on_reply(&reply), Verdict::Complete);
        assert_eq!(on_reply(&request("grip", b"", None)), Verdict::Drop);
    }
}
