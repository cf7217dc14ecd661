//! The confirmed write: a locked write that returns once the host has acted
//! on the message (stored it, delivered it, or refused it), so a writer
//! knows what a crash or a refusal cost it.

use bytes::Bytes;

use super::{Outgoing, Target};
use crate::protocol::SERVICE_SYNC;
use crate::{Error, ErrorKind, Result};

impl Target<'_> {
    /// Sends `payload` on `channel` as [`write_lock`](Self::write_lock)
    /// does, then waits until the host has acted on it: stored it (to the
    /// host), delivered it (a route), or refused it. Returns how many
    /// connections took it (1). Behind it is one request to the host's
    /// `$sync` service, which the host answers after every frame sent
    /// before it, in order: one round trip more than a locked write.
    ///
    /// Use it where a lost message matters: `Ok` means the host has it (or
    /// passed it on); an error means it may not, and says why.
    ///
    /// # Errors
    ///
    /// The errors of [`write_lock`](Self::write_lock); then, once the bytes
    /// are out (the payload is handed back with each):
    /// * what the host said about the message: `HostLimit` (its memory or
    ///   channel limits), `UnknownName` / `UnknownClient` / `UnknownRoom` /
    ///   `UnknownGroup` (a route naming no one), `RouteRefused`;
    /// * `NotConnected` when the connection closed before the host
    ///   answered, `TimedOut` when it did not answer within the
    ///   [write timeout](crate::ClientBuilder::write_timeout): the message
    ///   may or may not have reached it (a host that restarted never had it);
    /// * `Unsupported` from a host, which has no one to confirm to.
    pub fn write_confirmed(&self, channel: &str, payload: impl Outgoing) -> Result<usize> {
        let payload = payload.into_outgoing()?;
        let Some(host) = self.core.upstream() else {
            let why = "a confirmed write from a host (nobody confirms to it)";
            return Err(payload.refused(ErrorKind::Unsupported(why)));
        };
        let bytes = payload.bytes.clone();
        // Every error hands the payload back, whichever step failed (a
        // locked write that lost its connection while its bytes waited
        // says nothing of them).
        let with_payload = |err: Error| match err.payload() {
            Some(_) => err,
            None => err.with_payload(bytes.clone()),
        };
        let requests = &self.core.shared().requests;
        // Watched from before the write: a notice may come at once.
        let watch = requests.watch(channel);
        let written = self.write_lock(channel, payload).and_then(|n| {
            let timeout = self.core.write_timeout();
            let synced = requests.ask(host, SERVICE_SYNC, Bytes::new(), timeout);
            synced.map_err(with_payload).map(|_| n)
        });
        let notices = requests.unwatch(watch);
        let written = written.map_err(with_payload)?;
        match notices.into_iter().next() {
            Some(notice) => Err(with_payload(crate::engine::error_of(notice, channel))),
            None => Ok(written),
        }
    }
}
