//! What [`Host`](crate::Host) and [`Client`](crate::Client) share under their
//! handles: the event loop, the inbox, and a client's connection to its host.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::{Engine, Peer, Shared};
use crate::{ErrorKind, Inbox, Result};

/// The inside of a handle: its event loop, what it received, and (on a
/// client) its one connection.
#[derive(Debug)]
pub(crate) struct Core {
    inbox: Inbox,
    engine: Engine,
    /// A client's connection to its host (the same peer across
    /// reconnections); `None` on a host.
    upstream: Option<Arc<Peer>>,
    /// Whether this handle stamps its messages: the config's, copied here
    /// so a write that does not stamp pays one load of the handle's own.
    stamps: bool,
}

impl Core {
    pub(crate) fn new(shared: Arc<Shared>, engine: Engine, upstream: Option<Arc<Peer>>) -> Core {
        Core {
            stamps: shared.config.stamp_messages,
            inbox: Inbox::new(shared, upstream.is_some()),
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

    /// Whether this handle stamps its messages.
    #[inline]
    pub(crate) fn stamps(&self) -> bool {
        self.stamps
    }

    /// The send time a write carries, if this handle stamps its messages:
    /// on the host's clock (a host's own; a client's by its estimate, none
    /// before it has one).
    pub(crate) fn stamp_ns(&self) -> Option<u64> {
        let shared = self.shared();
        if !self.stamps() {
            return None;
        }
        match self.upstream {
            None => Some(shared.clock.now_ns()),
            Some(_) => shared.clock.host_now_ns(),
        }
    }

    /// A time this handle read from its clock (an image's capture time),
    /// on the host's clock: a host's as it is, a client's by its estimate.
    pub(crate) fn to_host_ns(&self, local_ns: u64) -> u64 {
        match self.upstream {
            None => local_ns,
            Some(_) => self.shared().clock.to_host_ns(local_ns),
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

    /// Asks the loop to kick `client` with `message`; returns at once.
    pub(crate) fn disconnect(&self, client: crate::ClientId, message: String) {
        self.engine.disconnect(client, message);
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
