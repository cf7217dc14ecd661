//! Rooms at work: a host's table ([`Rooms`], defined by the hub) changed by
//! the host's application and by its clients' requests and read by every
//! send to a room; on a client, the host's last list of the client's rooms.
//! A client hears of each change to its rooms as an `OP_ROOMS` frame (see
//! the [wire format](crate::protocol)).

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use super::route::notify;
use super::{Peer, Registry, Shared};
use crate::hub::rooms::{Member, RoomOp, Rooms};
use crate::protocol::{
    Header, Kind, OP_JOIN, OP_LEAVE, OP_ROOMS, ROOMS_CHANNEL, Undelivered, encode_rooms, room_name,
};
use crate::{Action, ClientId, ClientInfo, ErrorKind, Result};

/// The rooms of a handle: a host's table, or a client's own list.
#[derive(Debug, Default)]
pub(crate) struct RoomState {
    /// A `RwLock`: every send to a room reads it, only joins and leaves
    /// write it. Never held while the registry's lock is taken, nor the
    /// other way round, so the two cannot deadlock.
    table: RwLock<Rooms>,
    /// A client's rooms as its host last listed them: written by the loop,
    /// read by `Client::rooms`; a `Mutex`, as both are rare.
    mine: Mutex<Vec<String>>,
}

impl RoomState {
    /// Every room with a member, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        self.table.read().names()
    }

    /// A client's rooms, as its host last listed them.
    pub(crate) fn mine(&self) -> Vec<String> {
        self.mine.lock().clone()
    }

    /// The rooms `member` is in, sorted.
    fn rooms_of(&self, member: &Member) -> Vec<String> {
        self.table.read().rooms_of(member)
    }

    /// A client's connection (re)opened: its host lists its rooms anew.
    pub(crate) fn forget_mine(&self) {
        self.mine.lock().clear();
    }
}

/// The host's client list, each with its rooms.
pub(crate) fn client_infos(shared: &Shared) -> Vec<ClientInfo> {
    let mut infos = shared.registry.infos();
    for info in &mut infos {
        // The registry's lock is let go before the table's is taken.
        if let Some(member) = shared.registry.member(info.id) {
            info.rooms = shared.rooms.rooms_of(&member);
        }
    }
    infos
}

/// The host adds `client` to `room`, and tells the client if it changed.
pub(crate) fn join(shared: &Shared, client: ClientId, room: &str) -> Result<()> {
    change(shared, client, room, true)
}

/// The host takes `client` out of `room`, and tells the client if it changed.
pub(crate) fn leave(shared: &Shared, client: ClientId, room: &str) -> Result<()> {
    change(shared, client, room, false)
}

fn change(shared: &Shared, client: ClientId, room: &str, join: bool) -> Result<()> {
    let room = checked(room)?;
    let member = shared.registry.member(client);
    let member = member.ok_or(ErrorKind::UnknownClient(client))?;
    if apply(shared, &member, room, join)? {
        if let Some(peer) = connected(&shared.registry, &member) {
            send_list(shared, &peer, &member);
        }
    }
    Ok(())
}

/// The members of `room` the registry knows (connected or not), by id.
pub(crate) fn members(shared: &Shared, room: &str) -> Vec<ClientId> {
    let members = shared.rooms.table.read().members(room).unwrap_or_default();
    let mut ids: Vec<ClientId> = members
        .iter()
        .filter_map(|m| shared.registry.id_of(m))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The connected members of `room`, ordered by id; `None` if it has no
/// members at all (it does not exist).
pub(crate) fn connected_members(shared: &Shared, room: &str) -> Option<Vec<Arc<Peer>>> {
    let members = shared.rooms.table.read().members(room)?;
    let mut peers: Vec<Arc<Peer>> = members
        .iter()
        .filter_map(|m| connected(&shared.registry, m))
        .collect();
    peers.sort_by_key(|p| p.id());
    peers.dedup_by_key(|p| p.id());
    Some(peers)
}

/// A client asks its host to join (`join`) or leave `room`: an unlocked
/// control write on `peer`, its connection to the host.
pub(crate) fn request_room(peer: &Peer, join: bool, room: &str) -> Result<()> {
    let room = checked(room)?;
    let op = if join { OP_JOIN } else { OP_LEAVE };
    let header = Header::new(Kind::Control { op }, ROOMS_CHANNEL);
    peer.queue(&header, Bytes::copy_from_slice(room.as_bytes()))
}

/// Carries out the hub's verdict on a room operation that came from `peer`.
pub(super) fn act(shared: &Shared, peer: &Peer, op: RoomOp) {
    let (room, join) = match op {
        RoomOp::Join(room) => (room, true),
        RoomOp::Leave(room) => (room, false),
        RoomOp::Mine(rooms) => {
            *shared.rooms.mine.lock() = rooms;
            return;
        }
    };
    if join && !peer.may(Action::Join, &room) {
        let forbidden = Undelivered::Forbidden {
            action: Action::Join.word().to_owned(),
            name: room,
        };
        return notify(peer, ROOMS_CHANNEL, &forbidden);
    }
    let Some(member) = shared.registry.member(peer.id()) else {
        return;
    };
    match apply(shared, &member, &room, join) {
        // Accepted, changed or not: the list is the answer.
        Ok(_) => send_list(shared, peer, &member),
        Err(err) => notify(peer, ROOMS_CHANNEL, &refusal(&err, &room)),
    }
}

/// A client (re)connected: if it is in any room, tells it which.
pub(super) fn on_admit(shared: &Shared, peer: &Peer) {
    let Some(member) = shared.registry.member(peer.id()) else {
        return;
    };
    if !shared.rooms.table.read().rooms_of(&member).is_empty() {
        send_list(shared, peer, &member);
    }
}

/// A join or a leave; returns whether it changed the table.
fn apply(shared: &Shared, member: &Member, room: &str, join: bool) -> Result<bool, ErrorKind> {
    if !join {
        return Ok(shared.rooms.table.write().leave(member, room));
    }
    let max = shared.config.max_rooms_per_client;
    let joined = shared.rooms.table.write().join(member, room, max);
    joined.map_err(|limit| ErrorKind::RoomLimit { max: limit.max })
}

/// Takes the clients the registry has just forgotten (`gone`: a name it no
/// longer remembers, an id it evicted) out of their rooms: the table never
/// holds more than the registry keeps (a peer cycling through fresh names
/// cannot grow it), and a name that comes back later as a new client
/// starts in no room. Called by the loop on the admission that forgot
/// them, before another hello can take their names.
pub(super) fn forget(shared: &Shared, gone: &[Member]) {
    if !gone.is_empty() {
        shared.rooms.table.write().forget(|m| gone.contains(m));
    }
}

/// The connected client a member is.
fn connected(registry: &Registry, member: &Member) -> Option<Arc<Peer>> {
    match member {
        Member::Name(name) => registry.get_by_name(name),
        Member::Id(id) => registry.get(*id),
    }
}

/// Sends `peer` the list of its rooms.
fn send_list(shared: &Shared, peer: &Peer, member: &Member) {
    let rooms = shared.rooms.table.read().rooms_of(member);
    let kind = Kind::Control { op: OP_ROOMS };
    if let Ok(frame) = Header::new(kind, ROOMS_CHANNEL).to_bytes(&encode_rooms(&rooms)) {
        peer.queue_control(frame);
    }
}

/// The notice for a client's join the host refused.
fn refusal(err: &ErrorKind, room: &str) -> Undelivered {
    Undelivered::Refused(format!("{err}: cannot join {room:?}"))
}

/// A room name given to a public method: 1..=255 bytes.
fn checked(room: &str) -> Result<&str, ErrorKind> {
    room_name(room.as_bytes()).map_err(|err| ErrorKind::InvalidTarget(err.to_string()))
}
