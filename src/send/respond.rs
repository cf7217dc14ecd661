//! Responders: the application's functions that answer requests on a
//! channel ([`Host::on_request`](crate::Host::on_request),
//! [`Client::on_request`](crate::Client::on_request)), wrapped for the
//! engine, which runs them on the handle's dispatcher thread.

use std::sync::Arc;

use bytes::Bytes;

use super::Outgoing;
use super::target::check_channel;
use crate::dispatch::guarded;
use crate::engine::{Incoming, Respond};
use crate::handle::Core;
use crate::protocol::{Encoding, Failure};
use crate::{ClientId, ErrorKind, RequestStats, Result};

/// A request as its responder sees it: the channel, the payload, and who
/// asked. Its `Debug` shows the payload's length, not its bytes.
pub struct Request {
    incoming: Incoming,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.incoming.fmt(f)
    }
}

impl Request {
    /// The channel it was asked on.
    pub fn channel(&self) -> &str {
        self.incoming.channel()
    }

    /// Its payload (sharing the buffer it was received into).
    pub fn payload(&self) -> &Bytes {
        self.incoming.payload()
    }

    /// How the payload is encoded, as its frame declares (a requester's
    /// `Json(&v)` is JSON).
    pub fn encoding(&self) -> Encoding {
        self.incoming.encoding()
    }

    /// Reads the payload as a `T`, as [`Message::decode`](crate::Message::decode)
    /// reads a message (feature `serde`); a responder that fails on it
    /// can hand the error's text back with `map_err(|e| e.to_string())?`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Decode`] with the channel, the encoding and the
    /// decoder's words.
    #[cfg(feature = "serde")]
    pub fn decode<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T> {
        crate::typed::decode(self.encoding(), self.payload(), self.channel())
    }

    /// Who asked: on a host, its client; on a client, [`ClientId::HOST`]
    /// for the host, or the client whose request the host forwarded.
    pub fn from(&self) -> ClientId {
        self.incoming.from()
    }

    /// The requester's name, where this side knows it: on a host, its
    /// client's name; on a client, `None`.
    pub fn name(&self) -> Option<&str> {
        self.incoming.name()
    }
}

/// Makes `f` the responder on `channel` of the handle `core`, replacing any
/// responder there before.
///
/// # Errors
///
/// `Closed`, `InvalidChannel` (empty, a pattern, a `$` channel), `Io` when
/// the dispatcher thread cannot be started.
pub(crate) fn register<F, R>(core: &Core, channel: &str, f: F) -> Result<()>
where
    F: Fn(&Request) -> Result<R, String> + Send + Sync + 'static,
    R: Outgoing,
{
    register_failing(core, channel, move |request| {
        f(request).map_err(Failure::Failed)
    })
}

/// As [`register`], for a responder of the crate's own (the commands')
/// that fails with any reply status.
pub(crate) fn register_failing<F, R>(core: &Core, channel: &str, f: F) -> Result<()>
where
    F: Fn(&Request) -> Result<R, Failure> + Send + Sync + 'static,
    R: Outgoing,
{
    if core.is_stopped() {
        return Err(ErrorKind::Closed.into());
    }
    check_channel(channel)?;
    let respond: Respond = Arc::new(move |incoming| answer(&f, Request { incoming }));
    core.shared().responders.set(channel, respond)
}

/// Runs the responder `f` on `request` and sends what it says: its answer,
/// its failure, or its panic's message.
fn answer<F, R>(f: &F, request: Request)
where
    F: Fn(&Request) -> Result<R, Failure>,
    R: Outgoing,
{
    let outcome = guarded(|| f(&request).map(Outgoing::into_outgoing));
    let incoming = &request.incoming;
    let payload = match outcome {
        Ok(Ok(Ok(payload))) => payload,
        Ok(Ok(Err(err))) => return incoming.fail_reported(err),
        Ok(Err(failure)) => return incoming.fail(&failure),
        Err(message) => return incoming.panicked(message),
    };
    if payload.is_image() {
        let why = "an image as an answer (a reply carries bytes)";
        return incoming.fail_reported(ErrorKind::Unsupported(why).into());
    }
    // Over the maximum frame, the requester is told instead (status 8).
    if let Some(header) = incoming.answer_header(payload.encoding(), payload.len()) {
        incoming.answer(&header, payload.bytes);
    }
}

/// The requests and responders of the handle `core`.
pub(crate) fn stats(core: &Core) -> RequestStats {
    let shared = core.shared();
    let counts = shared.responders.counts();
    RequestStats {
        in_flight: shared.requests.pending(),
        forwarded: shared.forwards.lock().len(),
        queued: counts.queued,
        busy: counts.refused,
        panicked: counts.panicked,
    }
}

/// The responder methods of [`Host`](crate::Host) and
/// [`Client`](crate::Client), written once; the caller gives
/// `on_request`'s doc.
macro_rules! responder_methods {
    ($(#[$doc:meta])*) => {
        $(#[$doc])*
        pub fn on_request<F, R>(&self, channel: &str, f: F) -> $crate::Result<()>
        where
            F: Fn(&$crate::Request) -> std::result::Result<R, String> + Send + Sync + 'static,
            R: $crate::Outgoing,
        {
            $crate::send::register(&self.inner.core, channel, f)
        }

        /// Removes the responder on `channel`; returns whether there was
        /// one. Requests that arrive afterwards are answered
        /// [`NoResponder`](crate::ErrorKind::NoResponder); those queued for
        /// it already still run it.
        pub fn remove_responder(&self, channel: &str) -> bool {
            self.inner.core.shared().responders.remove(channel)
        }

        /// This handle's requests in flight, those a host forwards between
        /// its clients (none on a client), and its responders' queue and
        /// counts. Never blocks.
        pub fn request_stats(&self) -> $crate::RequestStats {
            $crate::send::request_stats(&self.inner.core)
        }
    };
}

pub(crate) use responder_methods;
