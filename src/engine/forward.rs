//! A host forwarding a client's request to another client, and the reply
//! back: the request goes to the responder under an id of the host's
//! (recorded in the [table](crate::hub::forward)) with the requester as its
//! origin; the reply goes back under the requester's id with the responder
//! as its origin. Every way it can fail is a reply to the requester, at
//! once: the table full, the forwarded frame over the maximum (the origin
//! in place of the route can make it longer), the responder gone, or not
//! answering within the forward timeout. Layouts in the
//! [wire format](crate::protocol#requests-and-replies).

use std::sync::Arc;
use std::time::Instant;

use mio::Token;

use super::reply::Reply;
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
    let reply = Reply::to(sender, original, channel);
    let target = match responder(shared, sender, channel, route) {
        Ok(target) => target,
        Err(failure) => return reply.fail(sender, &failure),
    };
    let id = shared.requests.next_id();
    let header = Header {
        origin: Some(sender.id().0),
        ..Header::new(Kind::Request { id }, channel).with_encoding(frame.encoding)
    };
    // The origin (8 bytes) takes the route's place: a short route makes the
    // frame longer than the one that came, and the target's decoder would
    // close its connection over it.
    let (len, max) = (
        header.body_prefix_len() + frame.payload.len(),
        shared.config.max_frame,
    );
    if len > max {
        let (len, max) = (len as u64, max as u64);
        return reply.fail(sender, &Failure::TooLarge { len, max });
    }
    expire(shared, now);
    let forward = Forward {
        requester: (sender.token(), Arc::clone(sender)),
        original,
        channel: frame.channel.clone(),
        responder: target.token(),
        since: now,
    };
    if let Err(full) = shared.forwards.lock().insert(id, forward) {
        let max = full.max as u64;
        return reply.fail(sender, &Failure::TooMany { max });
    }
    // Unlocked, as the loop never waits.
    if let Err(err) = target.queue(&header, frame.payload.clone()) {
        shared.forwards.lock().remove(id);
        let failure = match err.kind() {
            ErrorKind::NotConnected => Failure::Gone(target.label()),
            _ => Failure::Busy(channel.to_owned()),
        };
        reply.from(target.id()).fail(sender, &failure);
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
/// it goes back to the requester (unlocked: over the maximum frame, or with
/// no room in the requester's outbox, a failure goes in its place); returns
/// whether it did.
pub(super) fn reply(shared: &Shared, responder: &Peer, frame: &Frame) -> bool {
    let Kind::Reply { id, status } = frame.kind else {
        return false;
    };
    let Some(forward) = shared.forwards.lock().complete(id, responder.token()) else {
        return false;
    };
    let (requester, channel) = (&forward.requester.1, frame.channel_str());
    let reply = Reply::to(requester, forward.original, channel).from(responder.id());
    let max = shared.config.max_frame;
    match status {
        0 => reply.queue(requester, frame.encoding, frame.payload.clone(), max),
        // A failure passed on keeps its status; its text is cut as any is.
        _ => reply.fail(requester, &Failure::from_reply(status, &frame.payload)),
    }
    true
}

/// The connection of `peer` closed: the requests it was asked and had not
/// answered fail at once ("gone"), and those it asked are forgotten.
pub(super) fn peer_closed(shared: &Shared, peer: &Peer) {
    let orphans = shared.forwards.lock().peer_closed(peer.token());
    let failure = Failure::Gone(peer.label());
    for forward in orphans {
        tell(&forward, Some(peer.id()), &failure);
    }
}

/// Tells the requesters of the forwarded requests older than the forward
/// timeout that the host stopped waiting (status 10), and forgets them;
/// returns when the next one will be that old. The loop calls it on every
/// turn, and before a new request is recorded.
pub(super) fn expire(shared: &Shared, now: Instant) -> Option<Instant> {
    let (expired, next) = {
        let mut forwards = shared.forwards.lock();
        (forwards.expire(now), forwards.next_expiry())
    };
    let ms = shared.config.forward_timeout.as_millis();
    let failure = Failure::TimedOut {
        ms: u64::try_from(ms).unwrap_or(u64::MAX),
    };
    for forward in expired {
        tell(&forward, None, &failure);
    }
    next
}

/// Tells `forward`'s requester `failure`, as from `origin`.
fn tell(forward: &Forward<Token, Arc<Peer>>, origin: Option<ClientId>, failure: &Failure) {
    let requester = &forward.requester.1;
    let reply = Reply {
        origin,
        ..Reply::to(requester, forward.original, forward.channel.as_str())
    };
    reply.fail(requester, failure);
}
