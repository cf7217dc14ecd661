//! The event loop's half of a connection: the socket, the read buffer, the
//! decoder and the bytes in flight.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use mio::net::TcpStream;

mod heartbeat;
mod reading;
#[cfg(unix)]
pub(crate) mod shm;
mod storing;

use reading::read_open;

use super::image_rx::Images;
use super::read_buf::ReadBuf;
use super::route::{self, Routed};
use super::service;
use super::tls::Session;
use super::turn::{Budget, WRITE_TURN_BYTES};
use super::wire::{self, Source};
use super::{Peer, Shared, would_block};
use crate::hub::{self, Side, Verdict};
use crate::protocol::{
    ChannelName, DecodeError, Decoded, Decoder, Failure, Frame, Header, Kind, OP_IMAGE_ACK,
    OP_JOIN, OP_LEAVE, OP_ROOMS, Outbox, Pattern, Undelivered,
};
#[cfg(unix)]
use crate::protocol::{OP_SHM_ANSWER, OP_SHM_IMAGE, OP_SHM_OFFER, OP_SHM_RELEASE};
use crate::store::{Message, Slot};
use crate::{Action, ClientId, DisconnectReason, Event, Result};

/// The channel image acknowledgements travel on (they never reach the store).
const ACK_CHANNEL: &str = "image";

/// Most `IoSlice`s handed to one `write_vectored`.
const MAX_SLICES: usize = 64;

/// Bytes read at a time while the header of an image frame is incomplete, or
/// right after an image's payload: enough for any unrouted header, and little
/// enough that the payload behind it is read into its image, not here.
const IMAGE_HEAD_READ: usize = 512;

/// Whether a read pass left the connection open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadEnd {
    /// Everything available was read; wait for the next readiness event.
    Drained,
    /// The peer closed its side cleanly, between frames.
    Eof,
    /// The read budget ran out with bytes perhaps still waiting: read again
    /// before waiting for the next readiness event (which may never come).
    More,
    /// An image being received waits for memory: make some, and read again
    /// soon (bytes are waiting, no readiness event will come for them).
    Starved,
}

/// Whether a flush left bytes to write that the socket would still take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlushEnd {
    /// Everything written, or the socket would block (a writable event follows).
    Done,
    /// The write budget ran out: flush again on the next turn.
    More,
}

/// Where a connection is in its life.
#[derive(Debug)]
pub(crate) enum State {
    /// TLS is being set up, before anything else: on a host, the TLS
    /// handshake of an accepted connection (in its handshake slot, under its
    /// deadline), then `Handshake`; on a client, after the TCP connect, then
    /// the hello and `Welcoming`.
    Securing,
    /// Accepted by a host, waiting for the hello (until its deadline in the
    /// loop's handshake queue).
    Handshake,
    /// Accepted by a host that requires credentials: the hello came and was
    /// challenged; waiting for the proof (within the same deadline).
    Proving(super::proving::Proving),
    /// A client's reconnection attempt: the TCP connect is in progress.
    Connecting,
    /// A client's reconnection attempt: the hello is sent, the welcome awaited.
    Welcoming,
    /// Handshake done: frames flow.
    Open(Open),
}

/// An open connection's receive state.
#[derive(Debug)]
pub(crate) struct Open {
    pub(crate) peer: Arc<Peer>,
    decoder: Decoder,
    /// Sender recorded on messages that carry no origin.
    from: ClientId,
    /// Whether an origin field in a frame is believed (a client trusts its host;
    /// a host ignores origins claimed by clients).
    trust_origin: bool,
    /// The channel of the last data frame, so a run of frames on one channel
    /// costs one lookup.
    slot: Option<Arc<Slot>>,
    /// Messages for `slot` not yet stored; stored with one lock per run.
    batch: Vec<Message>,
    /// Images being reassembled.
    images: Images,
    /// Set when an image chunk's payload has just been read: the next read is
    /// small, so the payload of a following chunk is not read into `rbuf`
    /// (and copied out of it).
    after_chunk: bool,
    /// Why the connection is ending, once a close frame came or went: the
    /// loop closes it after this read pass and reports the reason.
    pub(crate) reason: Option<DisconnectReason>,
    /// When the frame being received began to arrive (the read pass that
    /// brought its first byte), for the partial timeout; `None` between frames.
    frame_since: Option<Instant>,
    /// The last channel this peer was found permitted to publish on, so a
    /// run of frames on one channel is checked once.
    may_publish: Option<ChannelName>,
    /// The peer's shared-memory segment, once this end mapped it.
    #[cfg(unix)]
    shm_in: Option<shm::ShmIn>,
    /// Whether the peer offered a segment on this connection (once only).
    #[cfg(unix)]
    shm_offered: bool,
}

impl Open {
    pub(crate) fn new(
        peer: Arc<Peer>,
        max_frame: usize,
        from: ClientId,
        trust_origin: bool,
    ) -> Self {
        Open {
            peer,
            decoder: Decoder::new(max_frame),
            from,
            trust_origin,
            slot: None,
            batch: Vec::new(),
            images: Images::default(),
            after_chunk: false,
            reason: None,
            frame_since: None,
            may_publish: None,
            #[cfg(unix)]
            shm_in: None,
            #[cfg(unix)]
            shm_offered: false,
        }
    }

    /// One decoding step over `buf`; runs are sought on the channel stored to last.
    fn step(&mut self, buf: &mut BytesMut) -> Result<Decoded> {
        let current = self.slot.as_deref().map(Slot::name);
        Ok(self.decoder.step(buf, current)?)
    }

    /// Handles one decoded frame: the engine's own kinds here, the others
    /// by the hub's verdict.
    fn on_frame(
        &mut self,
        frame: Frame,
        rbuf: &mut ReadBuf,
        shared: &Shared,
        now: Instant,
    ) -> Result<()> {
        if frame.kind == Kind::Data && !self.permits_publishing(&frame.channel) {
            return Ok(());
        }
        match frame.kind {
            Kind::Data => match &frame.route {
                Some(route) => {
                    let verdict = hub::on_routed(route, self.side());
                    self.act(verdict, frame, shared, now)?;
                }
                None => self.store_data(frame, shared, now)?,
            },
            Kind::Image(_) | Kind::ImageChunk { .. } => {
                let from = (self.sender(&frame), self.refuses_image(&frame));
                if let Some(image) = self.images.on_frame(frame, from, rbuf, shared, now)? {
                    self.store_image(image, shared, now)?;
                }
            }
            Kind::Ping { sent_ns } => self.on_ping(&frame, sent_ns, shared),
            Kind::Pong {
                ping_sent_ns,
                sent_ns,
            } => self.on_pong(ping_sent_ns, sent_ns, shared),
            Kind::Control { op: OP_IMAGE_ACK } => {
                let total = <[u8; 8]>::try_from(&frame.payload[..])
                    .map_err(|_| DecodeError::Truncated("image acknowledgement"))?;
                self.peer.ack_images(u64::from_le_bytes(total), now);
            }
            #[cfg(unix)]
            Kind::Control {
                op: OP_SHM_OFFER | OP_SHM_ANSWER | OP_SHM_IMAGE | OP_SHM_RELEASE,
            } => self.on_shm(frame, shared, now)?,
            Kind::Control {
                op: OP_JOIN | OP_LEAVE | OP_ROOMS,
            } => {
                let allowed = shared.config.client_rooms;
                let verdict = hub::rooms::on_control(&frame, self.side(), allowed);
                self.act(verdict, frame, shared, now)?;
            }
            Kind::Control { .. } => {
                let verdict = hub::on_control(&frame, self.side());
                self.act(verdict, frame, shared, now)?;
            }
            Kind::Request { .. } => {
                // What came before is stored (or refused, and the notice
                // queued) first: the answer says the host has acted on it.
                self.store_batch();
                let channel = frame.channel_str();
                let verdict = match self.peer.may(Action::Request, channel) {
                    true => hub::on_request(&frame, self.side(), shared.responders.has(channel)),
                    false => Verdict::Reject(Failure::Forbidden(channel.to_owned())),
                };
                self.act(verdict, frame, shared, now)?;
            }
            Kind::Reply { .. } => self.act(hub::on_reply(&frame), frame, shared, now)?,
            Kind::Close { .. } => self.act(hub::on_close(&frame), frame, shared, now)?,
        }
        Ok(())
    }

    /// Carries out the hub's verdict on `frame`.
    fn act(&mut self, verdict: Verdict, frame: Frame, shared: &Shared, now: Instant) -> Result<()> {
        match verdict {
            Verdict::Store => return self.store_data(frame, shared, now),
            Verdict::Deliver => {
                let Some(route) = &frame.route else {
                    return Ok(());
                };
                let routed = Routed {
                    channel: frame.channel_str(),
                    kind: frame.kind,
                    payload: frame.payload.clone(),
                    route,
                    mirror: frame.mirror,
                    encoding: frame.encoding,
                    sent_at: frame.sent_at,
                };
                route::deliver(shared, &self.peer, routed);
            }
            Verdict::Refuse(notice) => route::notify(&self.peer, frame.channel_str(), &notice),
            Verdict::Report(notice) => {
                shared.requests.note(frame.channel_str(), &notice);
                shared.emit(Event::Undelivered {
                    channel: frame.channel_str().to_owned(),
                    error: route::error_of(notice, frame.channel_str()),
                });
            }
            Verdict::Room(op) => super::rooms::act(shared, &self.peer, op),
            Verdict::Serve(service) => service::serve(shared, &self.peer, &frame, &service),
            Verdict::Reject(failure) => service::reject(&self.peer, &frame, &failure),
            Verdict::Complete => {
                if !super::forward::reply(shared, &self.peer, &frame) {
                    // Only a client trusts the origin a reply carries (its
                    // host's word on who answered a forwarded request).
                    let trust = self.side() == Side::Client;
                    shared.requests.complete(self.peer.token(), &frame, trust);
                }
            }
            Verdict::Respond => {
                let host = self.side() == Side::Host;
                super::respond::respond(shared, &self.peer, frame, host);
            }
            Verdict::Forward => super::forward::request(shared, &self.peer, &frame, now),
            Verdict::Drop => {}
            Verdict::Interest(patterns) => {
                let new: Arc<[Pattern]> = patterns.into();
                let old = self.peer.interest();
                self.peer.set_interest(Some(Arc::clone(&new)));
                // The latched values the client did not want before.
                let latched = &shared.config.latched;
                let widened = |c: &str| {
                    hub::latched::newly_wanted(old.as_deref(), &new, c)
                        && self.peer.may(Action::Subscribe, c)
                };
                let values = hub::latched::latest_values(&shared.store, latched, widened);
                self.peer.queue_messages(&values);
            }
            Verdict::Invalid(err) => return Err(err.into()),
            Verdict::Disconnect(reason) => {
                self.reason.get_or_insert(reason);
            }
        }
        Ok(())
    }

    /// Whether this host's client may publish on `channel` (a data frame,
    /// or an image received whole); if not, its sender is told, and the
    /// message goes nowhere.
    fn permits_publishing(&mut self, channel: &ChannelName) -> bool {
        if !self.peer.is_restricted() || self.may_publish.as_ref() == Some(channel) {
            return true;
        }
        if self.peer.may(Action::Publish, channel.as_str()) {
            self.may_publish = Some(channel.clone());
            return true;
        }
        let channel = channel.as_str();
        let forbidden = Undelivered::Forbidden {
            action: Action::Publish.word().to_owned(),
            name: channel.to_owned(),
        };
        route::notify(&self.peer, channel, &forbidden);
        false
    }

    /// Whether `frame` starts an image this host's client may not publish:
    /// its bytes are then read and let go as they come (its sender told at
    /// once), never assembled.
    fn refuses_image(&mut self, frame: &Frame) -> bool {
        matches!(frame.kind, Kind::Image(_)) && !self.permits_publishing(&frame.channel)
    }

    /// Which end of the connection this is, for the hub.
    fn side(&self) -> Side {
        match self.trust_origin {
            true => Side::Client,
            false => Side::Host,
        }
    }

    /// Takes the header and first bytes of an image frame whose payload is
    /// read straight into its image; `Some` ends the read pass.
    fn start_image(
        &mut self,
        frame: Frame,
        payload_len: usize,
        rbuf: &mut ReadBuf,
        shared: &Shared,
        now: Instant,
    ) -> Result<Option<ReadEnd>> {
        self.store_batch();
        let from = self.sender(&frame);
        let refused = self.refuses_image(&frame);
        if let Some(image) =
            self.images
                .start(frame, payload_len, (from, refused), rbuf, shared, now)?
        {
            self.store_image(image, shared, now)?;
        }
        Ok(self.ack_images().then_some(ReadEnd::More))
    }

    /// Acknowledges the image bytes received so far, if a frame's payload came
    /// in since the last time; returns whether it did.
    fn ack_images(&mut self) -> bool {
        let Some(total) = self.images.take_ack() else {
            return false;
        };
        let kind = Kind::Control { op: OP_IMAGE_ACK };
        if let Ok(ack) = Header::new(kind, ACK_CHANNEL).to_bytes(&total.to_le_bytes()) {
            self.peer.queue_ack(ack);
        }
        true
    }

    /// A frame came in whole: the next one's time starts with its first byte.
    fn frame_done(&mut self, rbuf: &mut ReadBuf) {
        self.frame_since = None;
        rbuf.frame_done();
    }

    /// After a read pass: notes when a frame left half received began.
    fn note_partial(&mut self, rbuf: &ReadBuf, now: Instant) {
        let decoder = &self.decoder;
        let partial = !rbuf.buf.is_empty()
            || decoder.frame_len().is_some()
            || decoder.payload_left().is_some();
        self.frame_since = partial.then(|| self.frame_since.unwrap_or(now));
    }

    /// Drops the images in progress past the partial timeout; returns
    /// whether the frame in progress is past it too (then the connection
    /// closes: a body sent slowly on purpose).
    pub(crate) fn expire_partials(&mut self, now: Instant, shared: &Shared) -> bool {
        self.images.expire(now, shared);
        let timeout = shared.config.partial_timeout;
        self.frame_since
            .is_some_and(|since| now.saturating_duration_since(since) >= timeout)
    }
}

/// One socket owned by the event loop.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    /// The TLS session every byte goes through, if the connection speaks
    /// TLS; shared with the peer's write side (see `engine::tls`).
    pub(crate) tls: Option<Arc<Session>>,
    pub(crate) addr: SocketAddr,
    pub(crate) state: State,
    /// Received bytes not yet decoded. Decoded payloads are split off it, so they
    /// share its memory; a large frame gets a fresh buffer of its exact size.
    pub(crate) rbuf: ReadBuf,
    /// Bytes the loop took from the peer's outbox and has not yet written.
    inflight: Outbox,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream, addr: SocketAddr, state: State) -> Conn {
        Conn {
            stream,
            tls: None,
            addr,
            state,
            rbuf: ReadBuf::default(),
            inflight: Outbox::new(),
        }
    }

    /// Reads and stores frames until the socket has nothing more.
    ///
    /// # Errors
    ///
    /// A protocol or I/O error, or `Truncated` when the peer closed mid-frame;
    /// frames decoded before the error are stored.
    pub(crate) fn read_frames(
        &mut self,
        shared: &Shared,
        now: Instant,
        budget: Budget,
    ) -> Result<ReadEnd> {
        let State::Open(open) = &mut self.state else {
            return Ok(ReadEnd::Drained);
        };
        open.peer.touch(now);
        let source = Source {
            stream: &self.stream,
            tls: self.tls.as_deref(),
        };
        let result = read_open(source, &mut self.rbuf, open, shared, now, budget);
        open.store_batch();
        open.note_partial(&self.rbuf, now);
        result
    }

    /// Reads whatever is available into the read buffer (for the handshake);
    /// returns false at end of stream.
    pub(crate) fn read_some(&mut self, limit: usize) -> io::Result<bool> {
        while self.rbuf.buf.len() < limit {
            let want = limit - self.rbuf.buf.len();
            self.rbuf.buf.reserve(want);
            let source = Source {
                stream: &self.stream,
                tls: self.tls.as_deref(),
            };
            match self.rbuf.fill(source, want) {
                Ok(0) => return Ok(false),
                Ok(_) => {}
                Err(e) if would_block(&e) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Writes queued frames until the outbox is empty, the socket would block,
    /// or this turn's budget of [`WRITE_TURN_BYTES`] is spent.
    pub(crate) fn flush(&mut self) -> io::Result<FlushEnd> {
        // Ciphertext a blocked socket left in the TLS session goes first (a
        // writable event may come for it alone); its bytes count as written now.
        let (drained, mut unreported) = self.flush_tls()?;
        let State::Open(open) = &self.state else {
            return Ok(FlushEnd::Done);
        };
        let peer = &open.peer;
        if !drained {
            if unreported > 0 {
                peer.settle(unreported, &mut self.inflight);
            }
            return Ok(FlushEnd::Done);
        }
        let mut written = 0;
        loop {
            if self.inflight.is_empty() || peer.has_waiters() {
                let busy = peer.settle(unreported, &mut self.inflight);
                // A caller waiting for these bytes may run now.
                super::pace::checkpoint();
                unreported = 0;
                if !busy {
                    return Ok(FlushEnd::Done);
                }
                if written >= WRITE_TURN_BYTES {
                    return Ok(FlushEnd::More);
                }
            }
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let count = self.inflight.io_slices(&mut slices);
            match wire::write_vectored(&self.stream, self.tls.as_deref(), &slices[..count]) {
                Ok(wrote) if wrote.taken == 0 => return Err(io::ErrorKind::WriteZero.into()),
                Ok(wrote) => {
                    self.inflight.advance(wrote.taken);
                    unreported += wrote.written;
                    written += wrote.taken;
                }
                Err(e) if would_block(&e) => {
                    if unreported > 0 {
                        peer.settle(unreported, &mut self.inflight);
                    }
                    return Ok(FlushEnd::Done);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}
