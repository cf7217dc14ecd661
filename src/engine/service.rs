//! A host's services: the answers to requests on its `$` channels, built from
//! the registry and the store and queued to the asking client without
//! waiting. Layouts in the [wire format](crate::protocol#services).

use std::time::Instant;

use bytes::Bytes;

use super::{Peer, Shared};
use crate::hub::Service;
use crate::protocol::{
    ChannelEntry, ClientEntry, DecodeError, Failure, Frame, Header, Kind, STATUS_OK,
    encode_channels, encode_clients, encode_lookup,
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
    match answer {
        Ok(answer) => reply(shared, peer, request, STATUS_OK, &answer),
        Err(err) => reject(shared, peer, request, &Failure::Failed(err.to_string())),
    }
}

/// Answers `request` from `peer` with a failure status and its detail.
pub(super) fn reject(shared: &Shared, peer: &Peer, request: &Frame, failure: &Failure) {
    reply(shared, peer, request, failure.status(), &failure.encode());
}

/// Queues the reply; an answer over the maximum frame fails instead. Queued
/// like a pong: without waiting, dropped and counted over the outbox budget.
fn reply(shared: &Shared, peer: &Peer, request: &Frame, status: u8, answer: &[u8]) {
    let Kind::Request { id } = request.kind else {
        return;
    };
    let channel = request.channel_str();
    let header = Header::new(Kind::Reply { id, status }, channel);
    let (len, max) = (
        header.body_prefix_len() + answer.len(),
        shared.config.max_frame,
    );
    let frame = match len > max {
        false => header.to_bytes(answer),
        true => {
            let too_large = Failure::TooLarge {
                len: len as u64,
                max: max as u64,
            };
            let status = too_large.status();
            Header::new(Kind::Reply { id, status }, channel).to_bytes(&too_large.encode())
        }
    };
    if let Ok(frame) = frame {
        peer.queue_control(frame);
    }
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
