//! Identifiers: who is who on a connection.

use std::fmt;

/// Identifies a client of a host. Ids start at 1 and are never reused by a host;
/// a client that reconnects under the same name gets its old id back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

impl ClientId {
    /// The host itself, as the sender of the messages a client receives.
    pub const HOST: ClientId = ClientId(0);
}

/// Identifies a message callback or hook on its handle, as registered
/// ([`Host::on`](crate::Host::on), [`Host::on_connect`](crate::Host::on_connect),
/// ...), for [`off`](crate::Host::off). Ids are never reused by a handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallbackId(pub(crate) u64);

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
