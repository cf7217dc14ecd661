//! Requests for this handle's responders: the loop hands each to the
//! responder registered on its channel as a job on the handle's dispatcher
//! thread (never running it itself), or answers at once when there is none
//! or the dispatcher's queue is full. The job answers through its
//! [`Incoming`]. Layouts in the [wire format](crate::protocol#requests-and-replies).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::RwLock;

use super::{Emitter, Peer, Shared};
use crate::dispatch::{Counts, Dispatcher, Job};
use crate::protocol::{ChannelName, Encoding, Failure, Frame, Header, Kind};
use crate::{ClientId, Error, ErrorKind, Event, Result};

/// A responder as the engine holds it: called on the dispatcher thread
/// with the request and what its answer needs (the handles wrap the
/// application's function in one).
pub(crate) type Respond = Arc<dyn Fn(Incoming) + Send + Sync>;

/// A handle's responders, one per channel, and the thread they run on.
pub(crate) struct Responders {
    /// Read by the loop for every request, written when the application
    /// registers or removes a responder.
    table: RwLock<HashMap<String, Respond>>,
    /// Shared with the callbacks, which run on the same thread.
    dispatcher: Arc<Dispatcher>,
}

impl std::fmt::Debug for Responders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let channels: Vec<String> = self.table.read().keys().cloned().collect();
        f.debug_struct("Responders")
            .field("channels", &channels)
            .field("dispatcher", &self.dispatcher)
            .finish()
    }
}

impl Responders {
    /// No responders; they will run on `dispatcher`, its thread started
    /// with the first responder (or callback).
    pub(crate) fn new(dispatcher: Arc<Dispatcher>) -> Responders {
        Responders {
            table: RwLock::default(),
            dispatcher,
        }
    }

    /// Makes `respond` the responder on `channel`, replacing any before it.
    ///
    /// # Errors
    ///
    /// `Io` when the dispatcher thread cannot be started.
    pub(crate) fn set(&self, channel: &str, respond: Respond) -> Result<()> {
        self.dispatcher.start()?;
        self.table.write().insert(channel.to_owned(), respond);
        Ok(())
    }

    /// Removes the responder on `channel`; returns whether there was one.
    pub(crate) fn remove(&self, channel: &str) -> bool {
        self.table.write().remove(channel).is_some()
    }

    /// Whether a responder is registered on `channel`.
    pub(crate) fn has(&self, channel: &str) -> bool {
        self.table.read().contains_key(channel)
    }

    /// The dispatcher's counts.
    pub(crate) fn counts(&self) -> Counts {
        self.dispatcher.counts()
    }

    /// Stops the dispatcher (see [`Dispatcher::shutdown`]) and lets go of
    /// the responders (and whatever they hold).
    pub(crate) fn shutdown(&self, grace: Duration) {
        self.dispatcher.shutdown(grace);
        self.table.write().clear();
    }
}

/// A request handed to a responder, with what its answer needs.
pub(crate) struct Incoming {
    id: u64,
    channel: ChannelName,
    payload: Bytes,
    /// How the payload is encoded, as its frame declares.
    encoding: Encoding,
    /// The requester: at a host, its client; at a client, the host, or the
    /// client whose request the host forwarded.
    from: ClientId,
    /// The requester's name, where this side knows it (a host's client).
    name: Option<String>,
    /// The connection the answer goes back on.
    peer: Arc<Peer>,
    max_frame: usize,
    events: Emitter,
    /// The dispatcher's count of panics, which [`panicked`](Self::panicked) adds to.
    panics: Arc<AtomicU64>,
}

/// The request, not the connection it came on.
impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("id", &self.id)
            .field("channel", &self.channel())
            .field("encoding", &self.encoding)
            .field("from", &self.from)
            .field("name", &self.name)
            .field("payload", &format_args!("{} bytes", self.payload.len()))
            .finish()
    }
}

impl Incoming {
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn channel(&self) -> &str {
        self.channel.as_str()
    }

    pub(crate) fn payload(&self) -> &Bytes {
        &self.payload
    }

    pub(crate) fn encoding(&self) -> Encoding {
        self.encoding
    }

    pub(crate) fn from(&self) -> ClientId {
        self.from
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Sends the answer: `header` (a reply of status 0 to this request)
    /// and `payload`. One over the maximum frame is answered
    /// `ReplyTooLarge` instead; an answer that cannot go back is reported
    /// in an [`Event::ReplyFailed`].
    pub(crate) fn answer(&self, header: &Header<'_>, payload: Bytes) {
        let (len, max) = (header.body_prefix_len() + payload.len(), self.max_frame);
        if len > max {
            let (wire_len, wire_max) = (len as u64, max as u64);
            self.fail(&Failure::TooLarge {
                len: wire_len,
                max: wire_max,
            });
            return self.report(ErrorKind::ReplyTooLarge { len, max }.into());
        }
        if let Err(err) = self.peer.send_now(header, payload) {
            self.report(err);
        }
    }

    /// Answers with `failure`.
    pub(crate) fn fail(&self, failure: &Failure) {
        let kind = Kind::Reply {
            id: self.id,
            status: failure.status(),
        };
        let header = Header::new(kind, self.channel());
        if let Err(err) = self.peer.send_now(&header, failure.encode()) {
            self.report(err);
        }
    }

    /// The responder's answer could not be sent as it was (`error`): the
    /// requester is told (a `Remote` failure with its text), and the
    /// responder's handle, in an [`Event::ReplyFailed`].
    pub(crate) fn fail_reported(&self, error: Error) {
        self.fail(&Failure::Failed(error.to_string()));
        self.report(error);
    }

    /// The responder panicked with `message`: counted and reported, and
    /// the requester told (a `Remote` failure).
    pub(crate) fn panicked(&self, message: String) {
        self.panics.fetch_add(1, Ordering::Relaxed);
        self.fail(&Failure::Failed(format!(
            "the responder panicked: {message}"
        )));
        self.events.emit(Event::CallbackPanicked {
            callback: format!("responder on {:?}", self.channel()),
            message,
        });
    }

    fn report(&self, error: Error) {
        self.events.emit(Event::ReplyFailed {
            channel: self.channel().to_owned(),
            client: self.from,
            error: Error::new(error.into_kind()),
        });
    }
}

/// Loop side: hands `frame`, a request from `peer`, to the responder on its
/// channel as a job on the dispatcher; with no responder (removed since the
/// verdict) or the queue full, answers at once.
pub(super) fn respond(shared: &Shared, peer: &Arc<Peer>, frame: Frame, host: bool) {
    let Kind::Request { id } = frame.kind else {
        return;
    };
    let channel = frame.channel.clone();
    let respond = shared
        .responders
        .table
        .read()
        .get(channel.as_str())
        .cloned();
    let Some(respond) = respond else {
        let failure = Failure::NoResponder(channel.as_str().to_owned());
        return fail(peer, id, &channel, &failure);
    };
    let (from, name) = match host {
        true => (peer.id(), Some(peer.name().to_owned())),
        false => (frame.origin.map_or(ClientId::HOST, ClientId), None),
    };
    let incoming = Incoming {
        id,
        channel: frame.channel,
        payload: frame.payload,
        encoding: frame.encoding,
        from,
        name,
        peer: Arc::clone(peer),
        max_frame: shared.config.max_frame,
        events: shared.emitter(),
        panics: shared.responders.dispatcher.panic_counter(),
    };
    let job: Job = Box::new(move || respond(incoming));
    if shared.responders.dispatcher.submit(job).is_err() {
        fail(
            peer,
            id,
            &channel,
            &Failure::Busy(channel.as_str().to_owned()),
        );
    }
}

/// Loop side: answers request `id` on `channel` from `peer` with `failure`,
/// queued as a control frame (dropped and counted over the outbox budget).
pub(super) fn fail(peer: &Peer, id: u64, channel: &str, failure: &Failure) {
    fail_from(peer, id, channel, failure, None);
}

/// As [`fail`], the reply carrying `origin`: the client that was asked.
pub(super) fn fail_from(
    peer: &Peer,
    id: u64,
    channel: &str,
    failure: &Failure,
    origin: Option<ClientId>,
) {
    let header = Header {
        origin: origin.map(|id| id.0),
        ..Header::new(
            Kind::Reply {
                id,
                status: failure.status(),
            },
            channel,
        )
    };
    if let Ok(frame) = header.to_bytes(&failure.encode()) {
        peer.queue_control(frame);
    }
}
