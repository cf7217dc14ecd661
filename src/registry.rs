//! Client ids, the host's client list, and connection events.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;

use crate::Error;
use crate::engine::Peer;

/// Identifies a client of a host. Ids start at 1 and are never reused by a host;
/// a client that reconnects under the same name gets its old id back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

impl ClientId {
    /// The host itself, as the sender of the messages a client receives.
    pub const HOST: ClientId = ClientId(0);
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A snapshot of one client, from [`Host::clients`](crate::Host::clients).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The client's id.
    pub id: ClientId,
    /// The name it gave in the handshake (or `client-N` if it gave none).
    pub name: String,
    /// Its address.
    pub addr: SocketAddr,
    /// Whether it is connected now.
    pub connected: bool,
    /// When the host last received bytes from it.
    pub last_seen: Instant,
    /// Bytes queued to it and not yet written.
    pub queued_bytes: usize,
    /// Writes to it given up: unlocked writes refused because its outbox was
    /// full, locked broadcasts that timed out, pongs over the budget.
    pub dropped: u64,
    /// Images to it dropped whole before they were sent: replaced by a newer
    /// image on their channel (conflation), or lost when it disconnected.
    pub images_dropped: u64,
}

/// Something that happened to a connection, from
/// [`events`](crate::Inbox::events) on a host or a client.
///
/// On a client, `client` and `name` are the client's own id and name, and `addr`
/// the host's address.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A peer completed the handshake.
    Connected {
        /// The client's id.
        client: ClientId,
        /// The client's name.
        name: String,
        /// The peer's address.
        addr: SocketAddr,
    },
    /// A connection closed. An [`Event::Error`] precedes it if an error closed it.
    Disconnected {
        /// The client's id.
        client: ClientId,
        /// The client's name.
        name: String,
        /// The peer's address.
        addr: SocketAddr,
    },
    /// A client lost its connection and will try again after `delay` (the
    /// `attempt`-th try since the loss). Followed by [`Event::Connected`] once
    /// it is back, or by an [`Event::Error`] for each failed attempt.
    Reconnecting {
        /// The client's id (from before the loss).
        client: ClientId,
        /// The host's address.
        addr: SocketAddr,
        /// Attempts since the connection was lost, this one included.
        attempt: u32,
        /// How long the client waits before this attempt.
        delay: std::time::Duration,
    },
    /// A connection failed: bad bytes, a handshake that never came, an I/O error.
    /// `client` is `None` when the peer had not completed the handshake.
    Error {
        /// The client, if it had completed the handshake.
        client: Option<ClientId>,
        /// The peer's address.
        addr: SocketAddr,
        /// What went wrong.
        error: Error,
    },
}

/// The host's clients, connected and recently disconnected.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// A `RwLock` because broadcasts and lookups read it on every write, while
    /// it changes only on connect and disconnect.
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: BTreeMap<ClientId, Arc<Peer>>,
    by_name: HashMap<String, ClientId>,
    next: u64,
}

impl Registry {
    /// Registers a client that completed the handshake. A client reconnecting
    /// under a known name keeps its id; if that name is still connected, the old
    /// peer is returned so the caller can close it (the newer connection wins).
    pub(crate) fn admit(
        &self,
        name: &str,
        make: impl FnOnce(ClientId, String) -> Arc<Peer>,
        keep_disconnected: usize,
    ) -> (Arc<Peer>, Option<Arc<Peer>>) {
        let mut inner = self.inner.write();
        let known = (!name.is_empty()).then(|| inner.by_name.get(name).copied());
        let id = match known.flatten() {
            Some(id) => id,
            None => {
                inner.next += 1;
                ClientId(inner.next)
            }
        };
        // Only chosen names are remembered for reconnection: a generated
        // `client-N` must not let another client claim that id by name.
        let name = match name.is_empty() {
            true => format!("client-{}", id.0),
            false => {
                inner.by_name.insert(name.to_owned(), id);
                name.to_owned()
            }
        };
        let peer = make(id, name);
        let old = inner.by_id.insert(id, Arc::clone(&peer));
        inner.evict_disconnected(keep_disconnected);
        (peer, old.filter(|old| old.is_connected()))
    }

    /// Adds a peer under its id (a client's one connection, for the
    /// counters that sum over peers).
    pub(crate) fn insert(&self, peer: Arc<Peer>) {
        self.inner.write().by_id.insert(peer.id(), peer);
    }

    /// The connected peer with this name.
    pub(crate) fn get_by_name(&self, name: &str) -> Option<Arc<Peer>> {
        let inner = self.inner.read();
        let id = inner.by_name.get(name)?;
        inner.by_id.get(id).filter(|p| p.is_connected()).cloned()
    }

    /// The connected peer with this id.
    pub(crate) fn get(&self, id: ClientId) -> Option<Arc<Peer>> {
        let inner = self.inner.read();
        inner.by_id.get(&id).filter(|p| p.is_connected()).cloned()
    }

    /// Calls `f` on every connected peer, under the read lock.
    pub(crate) fn for_each_connected(&self, mut f: impl FnMut(&Arc<Peer>)) {
        let inner = self.inner.read();
        inner
            .by_id
            .values()
            .filter(|p| p.is_connected())
            .for_each(&mut f);
    }

    /// The connected peers.
    pub(crate) fn connected(&self) -> Vec<Arc<Peer>> {
        let mut peers = Vec::new();
        self.for_each_connected(|p| peers.push(Arc::clone(p)));
        peers
    }

    /// Every peer, connected or recently disconnected.
    pub(crate) fn peers(&self) -> Vec<Arc<Peer>> {
        self.inner.read().by_id.values().cloned().collect()
    }

    pub(crate) fn infos(&self) -> Vec<ClientInfo> {
        self.inner.read().by_id.values().map(|p| p.info()).collect()
    }
}

impl Inner {
    /// Forgets the oldest disconnected clients beyond `keep`.
    fn evict_disconnected(&mut self, keep: usize) {
        let gone: Vec<ClientId> = self
            .by_id
            .iter()
            .filter(|(_, p)| !p.is_connected())
            .map(|(id, _)| *id)
            .collect();
        for id in gone.iter().take(gone.len().saturating_sub(keep)) {
            if let Some(peer) = self.by_id.remove(id) {
                // The name may belong to a newer id by now; forget only this one's.
                if self.by_name.get(peer.name()) == Some(id) {
                    self.by_name.remove(peer.name());
                }
            }
        }
    }
}
