//! Requests and replies: which of a host's services a request asks for, and
//! what a reply completes. Layouts in the [wire format](crate::protocol#services).

use super::{Side, Verdict};
use crate::protocol::{
    Failure, Frame, Kind, SERVICE_CHANNELS, SERVICE_CLIENTS, SERVICE_LOOKUP, SERVICE_SYNC,
    is_system,
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

/// At a host, a request on one of its service channels is served, and any
/// other is answered "no responder" (there are no user responders yet), as
/// is a request a host sends a client. A malformed one is answered as such.
pub(crate) fn on_request(frame: &Frame, side: Side) -> Verdict {
    let channel = frame.channel_str();
    if side == Side::Client || !is_system(channel) {
        return Verdict::Reject(Failure::NoResponder(channel.to_owned()));
    }
    match channel {
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

/// A reply completes the client's request of the same id; a host, which
/// sends no requests, drops replies.
pub(crate) fn on_reply(frame: &Frame, side: Side) -> Verdict {
    match (side, frame.kind) {
        (Side::Client, Kind::Reply { .. }) => Verdict::Complete,
        _ => Verdict::Drop,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::protocol::ChannelName;

    fn request(channel: &str, payload: &'static [u8]) -> Frame {
        Frame {
            kind: Kind::Request { id: 1 },
            channel: ChannelName::new(channel).expect("a valid name"),
            route: None,
            origin: None,
            mirror: false,
            sent_at: None,
            encoding: crate::protocol::Encoding::Bytes,
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn a_host_serves_its_channels_and_rejects_the_rest() {
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
            ("pose", b"", Side::Host, no("pose")),
            ("$clients", b"", Side::Client, no("$clients")),
        ];
        for (i, (channel, payload, side, want)) in table.into_iter().enumerate() {
            assert_eq!(
                on_request(&request(channel, payload), side),
                want,
                "row {i}"
            );
        }
    }

    #[test]
    fn a_client_completes_replies_and_a_host_drops_them() {
        let mut reply = request("$clients", b"");
        reply.kind = Kind::Reply { id: 1, status: 0 };
        assert_eq!(on_reply(&reply, Side::Client), Verdict::Complete);
        assert_eq!(on_reply(&reply, Side::Host), Verdict::Drop);
    }
}
