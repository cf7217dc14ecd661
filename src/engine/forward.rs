//! A host forwarding a client's request to another client, and the reply
//! back: the request goes to the responder under an id of the host's
//! (recorded in the [table](crate::hub::forward)) with the requester as its
//! origin; the reply goes back under the requester's id with the responder
//! as its origin. Every way it can fail is a reply to the requester, at
//! once. Layouts in the [wire format](crate::protocol#requests-and-replies).

use std::sync::Arc;
use std::time::Instant;

use super::respond::{fail, fail_from};
use super::{Peer, Shared};
use crate::hub::forward::Forward;
use crate::protocol::{Failure, Frame, Header, Kind, Route, Undelivered};
use crate::{Action, ClientId, ErrorKind};

/// Forwards `frame`, a request `sender` routed to one client.
pub(super) fn request(shared: &Shared, sender: &Arc<Peer>, frame: &Frame, now: Instant) {
    let (Kind::Request { id: original }, Some(route)) = (frame.kind, &frame.route) else {
        return;
    };
    let channel = frame.channel_str();
    let target = match responder(shared, sender, channel, route) {
        Ok(target) => target,
        Err(failure) => return fail(sender, original, channel, &failure),
    };
    let id = shared.requests.next_id();
    let forward = Forward {
        requester: (sender.token(), Arc::clone(sender)),
        original,
        channel: frame.channel.clone(),
        responder: target.token(),
        since: now,
    };
    if let Err(full) = shared.forwards.lock().insert(id, forward) {
        let max = full.max as u64;
        return fail(sender, original, channel, &Failure::TooMany { max });
    }
    let header = Header {
        origin: Some(sender.id().0),
        ..Header::new(Kind::Request { id }, channel).with_encoding(frame.encoding)
    };
    // Unlocked, as the loop never waits.
    if let Err(err) = target.queue(&header, frame.payload.clone()) {
        shared.forwards.lock().remove(id);
        let failure = match err.kind() {
            ErrorKind::NotConnected => Failure::Gone(target.label()),
            _ => Failure::Busy(channel.to_owned()),
        };
        fail_from(sender, original, channel, &failure, Some(target.id()));
    }
}

/// The one client `route` names, if `sender` may ask it on `channel`: the
/// route policy lets it, it is connected, and it may receive the channel.
fn responder(
    shared: &Shared,
    sender: &Peer,
    channel: &str,
    route: &Route,
) -> Result<Arc<Peer>, Failure> {
    let policy = shared.config.route_policy.as_ref();
    crate::hub::admit(policy, sender.id(), channel, route).map_err(Failure::Undelivered)?;
    let registry = &shared.registry;
    let target = match route {
        Route::Clients(ids) if ids.len() == 1 => registry
            .get(ClientId(ids[0]))
            .ok_or(Undelivered::UnknownClient(ids[0])),
        Route::Names(names) if names.len() == 1 => registry
            .get_by_name(&names[0])
            .ok_or_else(|| Undelivered::UnknownName(names[0].clone())),
        _ => Err(Undelivered::Unsupported(
            "a request to more than one client".to_owned(),
        )),
    };
    let target = target.map_err(Failure::Undelivered)?;
    if !target.may(Action::Subscribe, channel) {
        let action = Action::Subscribe.word().to_owned();
        let name = target.label();
        return Err(Failure::Undelivered(Undelivered::Forbidden {
            action,
            name,
        }));
    }
    Ok(target)
}

/// A reply from `responder`: if it answers a request the host forwarded,
/// it goes back to the requester (unlocked: a full outbox drops it, and
/// counts the drop); returns whether it did.
pub(super) fn reply(shared: &Shared, responder: &Peer, frame: &Frame) -> bool {
    let Kind::Reply { id, status } = frame.kind else {
        return false;
    };
    let Some(forward) = shared.forwards.lock().complete(id, responder.token()) else {
        return false;
    };
    let (requester, original) = (&forward.requester.1, forward.original);
    let (channel, origin) = (frame.channel_str(), Some(responder.id()));
    let kind = Kind::Reply {
        id: original,
        status,
    };
    let header = Header {
        origin: origin.map(|id| id.0),
        ..Header::new(kind, channel).with_encoding(frame.encoding)
    };
    // The origin makes the frame 8 bytes longer than the one that came.
    let (len, max) = (
        header.body_prefix_len() + frame.payload.len(),
        shared.config.max_frame,
    );
    if len > max {
        let (len, max) = (len as u64, max as u64);
        fail_from(
            requester,
            original,
            channel,
            &Failure::TooLarge { len, max },
            origin,
        );
        return true;
    }
    let _ = requester.queue(&header, frame.payload.clone());
    true
}

/// The connection of `peer` closed: the requests it was asked and had not
/// answered fail at once ("gone"), and those it asked are forgotten.
pub(super) fn peer_closed(shared: &Shared, peer: &Peer) {
    let orphans = shared.forwards.lock().peer_closed(peer.token());
    for forward in orphans {
        let (requester, id) = (&forward.requester.1, forward.original);
        let failure = Failure::Gone(peer.label());
        fail_from(requester, id, &forward.channel, &failure, Some(peer.id()));
    }
}
