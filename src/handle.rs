//! What [`Host`](crate::Host) and [`Client`](crate::Client) share under their
//! handles: the event loop, the inbox, and turning a [`To`] into peers.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{Engine, Peer, Registry, Shared};
use crate::{ErrorKind, Inbox, Result, To};

/// The inside of a handle: its event loop, what it received, and (on a
/// client) its one connection.
#[derive(Debug)]
pub(crate) struct Core {
    inbox: Inbox,
    engine: Engine,
    /// A client's connection to its host (the same peer across
    /// reconnections); `None` on a host.
    upstream: Option<Arc<Peer>>,
}

/// The connections a target names.
pub(crate) enum Peers<'a> {
    One(Arc<Peer>),
    Many(Vec<Arc<Peer>>),
    /// Every connected client, visited under the registry's read lock.
    All(&'a Registry),
}

impl Peers<'_> {
    /// Calls `f` on each peer; for `All` under the registry's read lock, so
    /// `f` must not block.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Arc<Peer>)) {
        match self {
            Peers::One(peer) => f(peer),
            Peers::Many(peers) => peers.iter().for_each(f),
            Peers::All(registry) => registry.for_each_connected(f),
        }
    }

    /// The peers, for a caller that may block on each.
    pub(crate) fn into_vec(self) -> Vec<Arc<Peer>> {
        match self {
            Peers::One(peer) => vec![peer],
            Peers::Many(peers) => peers,
            Peers::All(registry) => registry.connected(),
        }
    }
}

impl Core {
    pub(crate) fn new(shared: Arc<Shared>, engine: Engine, upstream: Option<Arc<Peer>>) -> Core {
        Core {
            inbox: Inbox::new(shared),
            engine,
            upstream,
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        self.inbox.shared()
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.engine.is_stopped()
    }

    pub(crate) fn max_frame(&self) -> usize {
        self.shared().config.max_frame
    }

    pub(crate) fn write_timeout(&self) -> Duration {
        self.shared().config.write_timeout
    }

    /// A client's connection to its host.
    pub(crate) fn upstream(&self) -> Option<&Arc<Peer>> {
        self.upstream.as_ref()
    }

    /// The connections `to` names, or why it names none.
    pub(crate) fn resolve(&self, to: &To) -> Result<Peers<'_>, ErrorKind> {
        let registry = &self.shared().registry;
        let by_id = |id| registry.get(id).ok_or(ErrorKind::UnknownClient(id));
        let by_name = |name: &String| {
            let peer = registry.get_by_name(name);
            peer.ok_or_else(|| ErrorKind::UnknownName(name.clone()))
        };
        match (&self.upstream, to) {
            (Some(host), To::Host) => Ok(Peers::One(Arc::clone(host))),
            (Some(_), _) => Err(ErrorKind::Unsupported(
                "a client sends to the host only (routing through it comes with the hub)",
            )),
            (None, To::Host) => Err(ErrorKind::Unsupported("a host sending to itself")),
            (None, To::All) => Ok(Peers::All(registry)),
            (None, To::Client(id)) => by_id(*id).map(Peers::One),
            (None, To::Name(name)) => by_name(name).map(Peers::One),
            (None, To::Clients(ids)) => ids
                .iter()
                .map(|&id| by_id(id))
                .collect::<Result<_, _>>()
                .map(Peers::Many),
            (None, To::Names(names)) => names
                .iter()
                .map(by_name)
                .collect::<Result<_, _>>()
                .map(Peers::Many),
            (None, To::Room(_) | To::Group(_)) => Err(ErrorKind::Unsupported(
                "rooms and groups (they come with the hub)",
            )),
        }
    }

    /// Waits until everything queued so far to every connection has been
    /// handed to the kernel. A client reports a closed connection; a host
    /// skips clients that leave meanwhile.
    pub(crate) fn flush(&self) -> Result<()> {
        let timeout = self.write_timeout();
        if let Some(host) = &self.upstream {
            return host.wait_flushed(timeout);
        }
        for peer in self.shared().registry.connected() {
            match peer.wait_flushed(timeout) {
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut(_)) => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Stops the event loop and joins it. Idempotent.
    pub(crate) fn close(&self) {
        self.engine.shutdown();
    }
}

impl Deref for Core {
    type Target = Inbox;

    fn deref(&self) -> &Inbox {
        &self.inbox
    }
}
