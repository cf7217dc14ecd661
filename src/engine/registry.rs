//! The host's client list: peers by id and by name. On a client it holds
//! the one connection to the host, for the counters that sum over peers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::RwLock;

use super::Peer;
use crate::config::NamePolicy;
use crate::hub::rooms::Member;
use crate::protocol::{Hello, ResumeToken};
use crate::{ClientId, ClientInfo};

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
    /// The token of each client's latest welcome: what proves a connection
    /// asking for a connected name is that client back.
    tokens: HashMap<ClientId, ResumeToken>,
    next: u64,
}

/// The registry's answer to a hello.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Registered: the new peer, the connected one it replaces (to close),
    /// and the disconnected clients forgotten to make room, each with who
    /// it was as a room member (their rooms and stored latest messages go
    /// with them, before another hello can take their names).
    Admitted {
        peer: Arc<Peer>,
        replaced: Option<Arc<Peer>>,
        forgotten: Vec<(ClientId, Member)>,
    },
    /// The name is connected and the hello did not prove it is that client.
    NameTaken,
}

impl Registry {
    /// Registers a client that completed the handshake, under `token` for
    /// its next resumption. A client reconnecting under a known name keeps its
    /// id. If that name is still connected, the hello must present the
    /// holder's token (under [`NamePolicy::RefuseTaken`]) or is refused; when
    /// admitted, the old peer is returned so the caller can close it.
    pub(crate) fn admit(
        &self,
        hello: &Hello,
        policy: NamePolicy,
        token: ResumeToken,
        make: impl FnOnce(ClientId, String) -> Arc<Peer>,
        keep_disconnected: usize,
    ) -> Admission {
        let name = hello.name.as_str();
        let mut inner = self.inner.write();
        let known = (!name.is_empty()).then(|| inner.by_name.get(name).copied());
        let id = match known.flatten() {
            Some(id) if !inner.may_take(id, hello, policy) => return Admission::NameTaken,
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
        // Every admission issues a new token: an older one proves nothing now.
        inner.tokens.insert(id, token);
        let forgotten = inner.evict_disconnected(keep_disconnected);
        let replaced = old.filter(|old| old.is_connected());
        Admission::Admitted {
            peer,
            replaced,
            forgotten,
        }
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

    /// Who a known client (connected or recently disconnected) is as a room
    /// member: its chosen name, or its id if it chose none.
    pub(crate) fn member(&self, id: ClientId) -> Option<Member> {
        let inner = self.inner.read();
        let peer = inner.by_id.get(&id)?;
        Some(match inner.by_name.get(peer.name()) == Some(&id) {
            true => Member::Name(peer.name().to_owned()),
            false => Member::Id(id),
        })
    }

    /// The id of a room member the registry knows, connected or not.
    pub(crate) fn id_of(&self, member: &Member) -> Option<ClientId> {
        let inner = self.inner.read();
        match member {
            Member::Name(name) => inner.by_name.get(name).copied(),
            Member::Id(id) => inner.by_id.contains_key(id).then_some(*id),
        }
    }
}

impl Inner {
    /// Whether `hello` may have the name of client `id`: it is free, the policy
    /// lets the newer connection win, or the hello presents `id`'s token.
    fn may_take(&self, id: ClientId, hello: &Hello, policy: NamePolicy) -> bool {
        let held = self.by_id.get(&id).is_some_and(|p| p.is_connected());
        let proven = hello.resume.is_some() && hello.resume.as_ref() == self.tokens.get(&id);
        !held || policy == NamePolicy::ReplaceOld || proven
    }

    /// Forgets the oldest disconnected clients beyond `keep`; returns them,
    /// each with who it was as a room member.
    fn evict_disconnected(&mut self, keep: usize) -> Vec<(ClientId, Member)> {
        let gone: Vec<ClientId> = self
            .by_id
            .iter()
            .filter(|(_, p)| !p.is_connected())
            .map(|(id, _)| *id)
            .collect();
        let mut forgotten = Vec::new();
        for id in gone.iter().take(gone.len().saturating_sub(keep)) {
            self.tokens.remove(id);
            if let Some(peer) = self.by_id.remove(id) {
                // The name may belong to a newer id by now; forget only this one's.
                let member = match self.by_name.get(peer.name()) == Some(id) {
                    true => {
                        self.by_name.remove(peer.name());
                        Member::Name(peer.name().to_owned())
                    }
                    false => Member::Id(*id),
                };
                forgotten.push((*id, member));
            }
        }
        forgotten
    }
}
