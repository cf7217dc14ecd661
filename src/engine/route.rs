//! Delivery of what a client routes through its host: to the peers the route
//! names, each copy marked with the sender as its origin, with the same
//! back-pressure as any host write (a full outbox drops the copy and counts
//! it). What the host cannot deliver goes back to the sender as a notice:
//! names that name no client, receivers it may not reach, and a copy that
//! its origin would take past the maximum frame.

use std::sync::Arc;

use bytes::Bytes;

use super::{Charged, Peer, Registry, Shared};
use crate::protocol::{
    DEFAULT_COALESCE, Encoding, Header, Kind, OP_UNDELIVERED, Pattern, Route, Undelivered,
};
use crate::{Action, ClientId, Error, ErrorKind};

/// A message a client routed: a data frame, or an image received whole.
pub(super) struct Routed<'a> {
    pub(super) channel: &'a str,
    /// `Kind::Data`, or `Kind::Image` with the image's fields.
    pub(super) kind: Kind,
    pub(super) payload: Bytes,
    pub(super) route: &'a Route,
    /// Whether the sender also gets it back.
    pub(super) mirror: bool,
    /// The payload's encoding, as the sender's frame declared it: every
    /// copy keeps it.
    pub(super) encoding: Encoding,
    /// The send time its frame carried (host clock), kept on every copy.
    pub(super) sent_at: Option<u64>,
}

/// Delivers `routed` from `sender` to the peers its route names; tells the
/// sender about each id or name that names no connected client.
pub(super) fn deliver(shared: &Shared, sender: &Arc<Peer>, routed: Routed<'_>) {
    let origin = sender.id();
    let policy = shared.config.route_policy.as_ref();
    if let Err(notice) = crate::hub::admit(policy, origin, routed.channel, routed.route) {
        return notify(sender, routed.channel, &notice);
    }
    relay(shared, sender, routed);
}

/// Delivers `routed` from `sender` as it is, without asking the route
/// policy: a host's relay of unrouted messages, or a route the policy let
/// through.
pub(super) fn relay(shared: &Shared, sender: &Arc<Peer>, routed: Routed<'_>) {
    let origin = sender.id();
    let header = Header {
        origin: Some(origin.0),
        encoding: routed.encoding,
        sent_at: routed.sent_at,
        ..Header::new(routed.kind, routed.channel)
    };
    // The origin (8 bytes) can make a copy longer than the frame that came
    // (an unrouted one gains it; a short route gives way to it): a frame
    // over the maximum would close its receiver's connection. Images on
    // the lanes go in chunks.
    let whole = !matches!(routed.kind, Kind::Image(_)) || shared.config.image_chunk.is_none();
    let (len, max) = (
        header.body_prefix_len() + routed.payload.len(),
        shared.config.max_frame,
    );
    if whole && len > max {
        let why = format!("a copy of {len} bytes with its origin, over the maximum frame of {max}");
        return notify(sender, routed.channel, &Undelivered::OverLimit(why));
    }
    // An image on the lanes, and a large message, is charged to the memory
    // once, for every copy (or, if it does not fit, sent to no one).
    let shared_copy = match routed.kind {
        Kind::Image(_) if shared.config.image_chunk.is_some() => {
            Some(Charged::new(&shared.memory, &routed.payload))
        }
        Kind::Data if routed.payload.len() > DEFAULT_COALESCE => {
            Some(Charged::new(&shared.memory, &routed.payload))
        }
        _ => None,
    };
    // Unlocked, as the loop never waits: a full outbox drops the copy and
    // the peer counts the drop.
    let send = |peer: &Peer| {
        let _ = match (&shared_copy, routed.kind) {
            (Some(image), Kind::Image(_)) => peer.offer_image(&header, image.as_ref()),
            (Some(Some(data)), _) => peer.queue_charged(&header, data),
            (Some(None), _) => {
                peer.count_drop();
                false
            }
            (None, _) => peer.queue(&header, routed.payload.clone()).is_ok(),
        };
    };
    // A receiver that may not subscribe to the channel is skipped; one
    // named by the route is reported to the sender.
    let channel = routed.channel;
    let may = |peer: &Arc<Peer>| peer.may(Action::Subscribe, channel);
    let mut reached_sender = false;
    let mut forbidden = Vec::new();
    let mut each = |peer: &Arc<Peer>| {
        reached_sender |= Arc::ptr_eq(peer, sender);
        match may(peer) {
            true => send(peer),
            false => forbidden.push(Undelivered::Forbidden {
                action: Action::Subscribe.word().to_owned(),
                name: peer.label(),
            }),
        }
    };
    let missing = match routed.route {
        Route::All => {
            // Every other client that wants the channel.
            let others = |peer: &Arc<Peer>| {
                if !Arc::ptr_eq(peer, sender) && peer.wants(routed.channel) {
                    send(peer);
                }
            };
            shared.registry.for_each_connected(others);
            Vec::new()
        }
        Route::Clients(ids) => visit(
            &shared.registry,
            ids.iter().map(|&id| Key::Id(id)),
            &mut each,
        ),
        Route::Names(names) => visit(
            &shared.registry,
            names.iter().map(|n| Key::Name(n)),
            &mut each,
        ),
        Route::Room(room) => match super::rooms::connected_members(shared, room) {
            Some(members) => {
                let others = members.iter().filter(|p| !Arc::ptr_eq(p, sender) && may(p));
                others.for_each(|peer| send(peer));
                Vec::new()
            }
            None => vec![Undelivered::UnknownRoom(room.clone())],
        },
        Route::Group(group) => {
            let members = group_members(&shared.registry, group);
            let others = members.iter().filter(|p| !Arc::ptr_eq(p, sender) && may(p));
            others.for_each(|peer| send(peer));
            match members.is_empty() {
                true => vec![Undelivered::UnknownGroup(group.as_str().to_owned())],
                false => Vec::new(),
            }
        }
        // The hub stores these; nothing to deliver.
        Route::Host => Vec::new(),
    };
    if routed.mirror && !reached_sender && may(sender) {
        send(sender);
    }
    for notice in missing.into_iter().chain(forbidden) {
        notify(sender, routed.channel, &notice);
    }
}

/// The connected clients whose declared interest overlaps `group`, by id.
/// A client that declared none is in no group (it still receives every
/// broadcast).
pub(crate) fn group_members(registry: &Registry, group: &Pattern) -> Vec<Arc<Peer>> {
    let mut members = Vec::new();
    registry.for_each_connected(|peer| {
        if peer.in_group(group) {
            members.push(Arc::clone(peer));
        }
    });
    members.sort_by_key(|peer| peer.id());
    members
}

/// A client named in a route.
enum Key<'a> {
    Id(u64),
    Name(&'a str),
}

/// Calls `each` once per connected client the keys name (a client named
/// twice gets one copy); returns a notice for each key naming none.
fn visit<'a>(
    registry: &Registry,
    keys: impl Iterator<Item = Key<'a>>,
    each: &mut impl FnMut(&Arc<Peer>),
) -> Vec<Undelivered> {
    let mut reached: Vec<ClientId> = Vec::new();
    let mut missing = Vec::new();
    for key in keys {
        let peer = match key {
            Key::Id(id) => registry
                .get(ClientId(id))
                .ok_or(Undelivered::UnknownClient(id)),
            Key::Name(name) => registry
                .get_by_name(name)
                .ok_or_else(|| Undelivered::UnknownName(name.to_owned())),
        };
        match peer {
            Ok(peer) if !reached.contains(&peer.id()) => {
                reached.push(peer.id());
                each(&peer);
            }
            Ok(_) => {}
            Err(notice) => missing.push(notice),
        }
    }
    missing
}

/// Tells `sender` that a frame it routed on `channel` was not delivered.
pub(super) fn notify(sender: &Peer, channel: &str, notice: &Undelivered) {
    let kind = Kind::Control { op: OP_UNDELIVERED };
    if let Ok(frame) = Header::new(kind, channel).to_bytes(&notice.encode()) {
        sender.queue_control(frame);
    }
}

/// The error a client reports for its host's notice about what it sent on
/// `channel`.
pub(crate) fn error_of(notice: Undelivered, channel: &str) -> Error {
    let kind = match notice {
        Undelivered::UnknownClient(id) => ErrorKind::UnknownClient(ClientId(id)),
        Undelivered::UnknownName(name) => ErrorKind::UnknownName(name),
        Undelivered::UnknownRoom(room) => ErrorKind::UnknownRoom(room),
        Undelivered::UnknownGroup(group) => ErrorKind::UnknownGroup(group),
        Undelivered::OverLimit(why) => ErrorKind::HostLimit(why),
        Undelivered::Refused(why) | Undelivered::Unsupported(why) => ErrorKind::RouteRefused(why),
        Undelivered::Forbidden { action, name } => match Action::from_word(&action) {
            // The receiver named may not have the notice's channel.
            Some(Action::Subscribe) => ErrorKind::Forbidden {
                action: Action::Subscribe,
                channel: channel.to_owned(),
                client: Some(name),
            },
            Some(action) => ErrorKind::Forbidden {
                action,
                channel: name,
                client: None,
            },
            None => ErrorKind::RouteRefused(format!("{action} {name}")),
        },
    };
    Error::new(kind)
}
