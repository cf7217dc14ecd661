//! Requests for this handle's responders: the loop hands each to the
//! responder registered on its channel as a job on the handle's dispatcher
//! thread (never running it itself), or answers at once when there is none
//! or no room for it. The job answers through its [`Incoming`]. Layouts in
//! the [wire format](crate::protocol#requests-and-replies).
//!
//! Room: a request waiting (or running) holds a [`Ticket`]: its payload
//! charged to the handle's memory budget, counted against the queue's
//! byte cap, and, on a host, against its client's share of the queue; any
//! of them full, the request is answered busy (status 6) at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

use super::reply::Reply;
use super::{Emitter, Peer, Shared};
use crate::dispatch::{Counts, Dispatcher, Job};
use crate::memory::{Held, Memory};
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
    /// What the requests waiting and running hold, shared with their tickets.
    room: Arc<Room>,
}

/// The bounds of what requests for responders may hold, and what they hold.
#[derive(Debug)]
pub(crate) struct Room {
    /// Payload bytes held by requests waiting or running.
    bytes: AtomicUsize,
    /// The most `bytes` may be (a lone request passes whatever its size).
    max_bytes: usize,
    /// On a host, the most requests one client may hold.
    per_client: usize,
    /// Requests held per connection (a host's), by its token: touched once
    /// when a request is queued and once when its ticket goes.
    by_peer: Mutex<HashMap<mio::Token, usize>>,
}

/// What one request for a responder holds while it waits and runs, given
/// back when its [`Incoming`] is dropped (answered, or dropped unrun).
#[derive(Debug)]
struct Ticket {
    room: Arc<Room>,
    /// Its payload's charge to the memory budget.
    _held: Held,
    bytes: usize,
    /// The connection whose share it counts in (a host's client).
    peer: Option<mio::Token>,
}

impl Room {
    /// A ticket for a request of `bytes` from `peer` (counted per
    /// connection on a host), its payload charged to `memory`; `None` when
    /// any bound is reached.
    fn admit(
        self: &Arc<Self>,
        peer: Option<mio::Token>,
        bytes: usize,
        memory: &Arc<Memory>,
    ) -> Option<Ticket> {
        let before = self.bytes.fetch_add(bytes, Ordering::AcqRel);
        let ticket = |held| Ticket {
            room: Arc::clone(self),
            _held: held,
            bytes,
            peer: None,
        };
        let fits = before == 0 || before + bytes <= self.max_bytes;
        // Refused, the ticket's drop gives the bytes back.
        let mut ticket = match (fits, memory.try_hold_message(bytes)) {
            (true, Some(held)) => ticket(held),
            (_, held) => {
                drop(held);
                self.bytes.fetch_sub(bytes, Ordering::AcqRel);
                return None;
            }
        };
        if let Some(token) = peer {
            let mut by_peer = self.by_peer.lock();
            let held = by_peer.entry(token).or_default();
            if *held >= self.per_client {
                return None;
            }
            *held += 1;
            ticket.peer = Some(token);
        }
        Some(ticket)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.room.bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        if let Some(token) = self.peer {
            let mut by_peer = self.room.by_peer.lock();
            if let Some(held) = by_peer.get_mut(&token) {
                *held -= 1;
                if *held == 0 {
                    by_peer.remove(&token);
                }
            }
        }
    }
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
    /// with the first responder (or callback); requests holding at most
    /// `max_bytes` of payload, and at most `per_client` each from a host's client.
    pub(crate) fn new(
        dispatcher: Arc<Dispatcher>,
        max_bytes: usize,
        per_client: usize,
    ) -> Responders {
        let room = Room {
            bytes: AtomicUsize::new(0),
            max_bytes,
            per_client,
            by_peer: Mutex::default(),
        };
        Responders {
            table: RwLock::default(),
            dispatcher,
            room: Arc::new(room),
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
    /// Which of `peer`'s connections the request came on: the answer goes
    /// on that one only ([`Peer::serial`]).
    serial: u64,
    max_frame: usize,
    events: Emitter,
    /// The dispatcher's count of panics, which [`panicked`](Self::panicked) adds to.
    panics: Arc<AtomicU64>,
    /// What the request holds of the room for requests, until it is dropped.
    _ticket: Ticket,
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

    /// Whether the connection the request came on is still open: if not,
    /// nobody waits for the answer (a requester at a host is gone; a
    /// client's host failed its requests when the connection dropped).
    pub(crate) fn is_current(&self) -> bool {
        self.peer.is_connected() && self.peer.serial() == self.serial
    }

    fn reply(&self) -> Reply<'_> {
        Reply {
            id: self.id,
            channel: self.channel(),
            serial: self.serial,
            origin: None,
        }
    }

    /// The header of the answer (status 0) of `len` bytes in `encoding`,
    /// or `None` when the frame would be over the maximum: then the
    /// requester is told (status 8) and the responder's handle too, in an
    /// [`Event::ReplyFailed`].
    pub(crate) fn answer_header(&self, encoding: Encoding, len: usize) -> Option<Header<'_>> {
        let too_large = match self.reply().answer(encoding, len, self.max_frame) {
            Ok(header) => return Some(header),
            Err(too_large) => too_large,
        };
        self.fail(&too_large);
        if let Failure::TooLarge { len, max } = too_large {
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            let max = usize::try_from(max).unwrap_or(usize::MAX);
            self.report(ErrorKind::ReplyTooLarge { len, max }.into());
        }
        None
    }

    /// Sends the answer: `header` (from [`answer_header`](Self::answer_header))
    /// and `payload`, on the connection the request came on (after a drop
    /// it is dropped). An answer that cannot go back is reported in an
    /// [`Event::ReplyFailed`] (the outbox full: the requester is told busy).
    pub(crate) fn answer(&self, header: &Header<'_>, payload: Bytes) {
        if let Err(err) = self.reply().send(&self.peer, header, payload) {
            self.report(err);
        }
    }

    /// Answers with `failure`.
    pub(crate) fn fail(&self, failure: &Failure) {
        if let Err(err) = self.reply().send_failure(&self.peer, failure) {
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
        // An answer for a connection since lost has nobody to go to.
        if let ErrorKind::NotConnected = error.kind() {
            if !self.is_current() {
                return;
            }
        }
        self.events.emit(Event::ReplyFailed {
            channel: self.channel().to_owned(),
            client: self.from,
            error: Error::new(error.into_kind()),
        });
    }
}

/// Loop side: hands `frame`, a request from `peer`, to the responder on its
/// channel as a job on the dispatcher; with no responder (removed since the
/// verdict), or no room for it (the queue, its bytes, the memory, or on a
/// host its client's share), answers at once. The job is skipped if the
/// connection it came on is gone by the time it would run.
pub(super) fn respond(shared: &Shared, peer: &Arc<Peer>, frame: Frame, host: bool) {
    let Kind::Request { id } = frame.kind else {
        return;
    };
    let channel = frame.channel.clone();
    let reply = Reply::to(peer, id, channel.as_str());
    let responders = &shared.responders;
    let respond = responders.table.read().get(channel.as_str()).cloned();
    let Some(respond) = respond else {
        reply.fail(peer, &Failure::NoResponder(channel.as_str().to_owned()));
        return;
    };
    let busy = || reply.fail(peer, &Failure::Busy(channel.as_str().to_owned()));
    let counted = host.then(|| peer.token());
    let len = frame.payload.len();
    let Some(ticket) = responders.room.admit(counted, len, &shared.memory) else {
        responders.dispatcher.count_refused();
        busy();
        return;
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
        serial: reply.serial,
        max_frame: shared.config.max_frame,
        events: shared.emitter(),
        panics: responders.dispatcher.panic_counter(),
        _ticket: ticket,
    };
    let job: Job = Box::new(move || {
        if incoming.is_current() {
            respond(incoming);
        }
    });
    if responders.dispatcher.submit(job).is_err() {
        busy();
    }
}
