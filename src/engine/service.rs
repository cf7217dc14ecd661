//! A host's services: the answers to requests on its `$` channels, built from
//! the registry and the store and queued to the asking client without
//! waiting. Layouts in the [wire format](crate::protocol#services).

use std::time::Instant;

use bytes::Bytes;

use super::reply::Reply;
use super::{Peer, Shared};
use crate::hub::Service;
use crate::protocol::{
    ChannelEntry, ClientEntry, DecodeError, Encoding, Failure, Frame, Kind, encode_channels,
    encode_clients, encode_lookup,
};
use crate::{ClientInfo, Result};

/// Answers `request` from `peer` with what `service` says.
pub(super) fn serve(shared: &Shared, peer: &Peer, request: &Frame, service: &Service) {
    let answer = match service {
        Service::Clients => client_list(shared),
        Service::Lookup(name) => Ok(encode_lookup(
            shared.registry.get_by_name(name).map(|p| p.id().0),
        )),
        Service::Channels => channel_list(shared),
        Service::Sync => Ok(Bytes::new()),
    };
    let Some(reply) = reply_to(peer, request) else {
        return;
    };
    match answer {
        // Queued like a pong, without waiting: see `Reply::queue`.
        Ok(answer) => reply.queue(peer, Encoding::Bytes, answer, shared.config.max_frame),
        Err(err) => reply.fail(peer, &Failure::Failed(err.to_string())),
    }
}

/// Answers `request` from `peer` with a failure status and its detail.
pub(super) fn reject(peer: &Peer, request: &Frame, failure: &Failure) {
    if let Some(reply) = reply_to(peer, request) {
        reply.fail(peer, failure);
    }
}

/// The reply to `request`, if it is one, from `peer`.
fn reply_to<'a>(peer: &Peer, request: &'a Frame) -> Option<Reply<'a>> {
    let Kind::Request { id } = request.kind else {
        return None;
    };
    Some(Reply::to(peer, id, request.channel_str()))
}

fn client_list(shared: &Shared) -> Result<Bytes, DecodeError> {
    let now = Instant::now();
    let entries: Vec<ClientEntry> = super::client_infos(shared)
        .into_iter()
        .map(|info| entry(info, now))
        .collect();
    encode_clients(&entries)
}

fn entry(info: ClientInfo, now: Instant) -> ClientEntry {
    let ms = |t: Instant| now.saturating_duration_since(t).as_millis() as u64;
    ClientEntry {
        id: info.id.0,
        connected: info.connected,
        since_ms: ms(info.connected_since),
        seen_ms: ms(info.last_seen),
        name: info.name,
        addr: info.addr.to_string(),
        rooms: info.rooms,
        dropped: info.dropped,
    }
}

fn channel_list(shared: &Shared) -> Result<Bytes, DecodeError> {
    let store = &shared.store;
    let entries: Vec<ChannelEntry> = store
        .channels()
        .into_iter()
        .filter_map(|name| {
            let stats = store.stats(&name)?;
            Some(ChannelEntry {
                name,
                received: stats.received,
                bytes: stats.bytes,
                dropped: stats.dropped,
                queued: stats.queued.try_into().unwrap_or(u32::MAX),
                capacity: stats.capacity.try_into().unwrap_or(u32::MAX),
            })
        })
        .collect();
    encode_channels(&entries)
}
