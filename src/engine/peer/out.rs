//! A peer's write side as it stands under the lock: the outbox, the image
//! lane and its flow, the byte counts and their share of the handle's
//! memory, and the two states that decide who may write, [`Link`] (is the
//! connection open) and [`Writer`] (who holds the socket's write side). Every
//! method here runs with the lock held.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::drain::Drain;
use super::share::Share;
use crate::engine::wire::Sink;
use crate::protocol::{ImageFlow, ImageLane, Outbox};

/// Image bytes the loop takes into one write at most (whole chunks; at least
/// one): fewer, larger writes than one per chunk, while a control frame queued
/// during them still waits for no more than this.
const IMAGE_BURST: usize = 512 * 1024;

/// Frames up to this size (replies, notices, control messages) may use the
/// memory's reserve for small messages.
const SMALL_FRAME: usize = 4096;

/// Whether the connection is open, and what a write finds when it is not.
#[derive(Debug)]
pub(super) enum Link {
    /// Frames flow. `stream` duplicates the connection's socket (and shares
    /// its TLS session) for direct locked writes (the loop reads and flushes
    /// through its own handle); an `Arc` so a caller can write after
    /// releasing the lock.
    Open { stream: Arc<Sink> },
    /// Lost, and a client is reconnecting: unlocked writes fail at once,
    /// locked ones wait for the reopen.
    Reconnecting,
    /// Lost for good: every write fails.
    Closed,
}

/// Who may write to the socket: one party at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Writer {
    /// Nobody: a locked write may go straight to the kernel.
    Idle,
    /// The event loop: it has bytes in flight, or a flush command is on its
    /// way to it.
    Loop,
    /// A caller writing a locked frame without holding the lock. Frames queued
    /// meanwhile wait in `pending`; the caller hands them to the loop when done.
    /// `link_lost`: the connection closed meanwhile (and may be open again), so
    /// the rest of the caller's frame must not start the next one's stream.
    Caller { link_lost: bool },
}

/// Frames queued by callers and the write-side bookkeeping.
#[derive(Debug)]
pub(super) struct OutState {
    /// Frames not yet taken by the event loop.
    pub(super) pending: Outbox,
    pub(super) link: Link,
    pub(super) writer: Writer,
    /// Bytes the loop took from `pending` and has not yet written.
    pub(super) inflight: usize,
    /// Of `inflight`, the bytes this peer holds alone (not payloads
    /// charged once for many peers).
    inflight_uncharged: usize,
    /// Bytes ever queued or written directly; a locked write waits for
    /// `written` to reach the value this had after its frame.
    pub(super) pushed: u64,
    /// Bytes ever handed to the kernel.
    pub(super) written: u64,
    /// Images waiting to be sent, conflated and chunked; `None` when chunking
    /// is off and images are queued in `pending` like any frame.
    pub(super) images: Option<ImageLane>,
    /// The image window and the locked images' tickets.
    pub(super) flow: ImageFlow,
    /// Acknowledgements, pings and pongs not yet taken into a write: the
    /// newest of each, never refused for a budget (counted all the same).
    pub(super) urgent: Urgent,
    /// Counts the connections this peer has lost: a reply to a request that
    /// came on an earlier one must not go out on this one (see
    /// [`Peer::serial`](super::Peer::serial)).
    pub(super) serial: u64,
    /// What the outbox and `urgent` hold, taken from the handle's memory
    /// budget (images on the lane are charged on their own).
    share: Share,
    /// How far the data written to the peer has gone, for the loop's
    /// checks (see [`stalled_for`](Self::stalled_for)).
    drain: Drain,
    /// This connection's images through shared memory: under this lock,
    /// since a writer takes a slot and queues its frame in one step.
    #[cfg(unix)]
    pub(super) shm: super::shm::ShmOut,
}

/// Frames that go out with the next write whatever the budgets, one of each
/// kind (a newer one replaces the one waiting): they are tiny, and what they
/// say is only ever the newest. A peer that stops reading cannot grow them.
/// With them go the shared-memory releases, coalesced: at most one per slot
/// of the peer's segment.
#[derive(Debug, Default)]
pub(super) struct Urgent {
    /// The newest image acknowledgement: the peer sends no more images until
    /// it arrives.
    pub(super) ack: Option<Bytes>,
    /// The answer to the peer's newest ping, so a receiver under a flood
    /// still shows it is alive.
    pub(super) pong: Option<Bytes>,
    /// This side's newest heartbeat ping.
    pub(super) ping: Option<Bytes>,
    /// Offsets of the peer's shared-memory images this side no longer
    /// holds, sent together with the next write (see
    /// [`Peer::queue_release`](super::Peer::queue_release)).
    #[cfg(unix)]
    pub(super) releases: Vec<u64>,
}

impl Urgent {
    fn len(&self) -> usize {
        self.frames().map(Bytes::len).sum::<usize>() + self.releases_len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.frames().next().is_none() && self.releases_len() == 0
    }

    /// Bytes of the releases waiting (their offsets; the frames' headers
    /// are a few bytes more per 512).
    fn releases_len(&self) -> usize {
        #[cfg(unix)]
        return self.releases.len() * 8;
        #[cfg(not(unix))]
        0
    }

    fn frames(&self) -> impl Iterator<Item = &Bytes> {
        [&self.ack, &self.pong, &self.ping].into_iter().flatten()
    }

    /// Moves every frame into `out`; returns their bytes.
    fn take_into(&mut self, out: &mut Outbox) -> usize {
        let mut moved = 0;
        for frame in [self.ack.take(), self.pong.take(), self.ping.take()]
            .into_iter()
            .flatten()
        {
            moved += frame.len();
            out.push_raw(frame);
        }
        #[cfg(unix)]
        for frame in super::shm::release_frames(&std::mem::take(&mut self.releases)) {
            moved += frame.len();
            out.push_raw(frame);
        }
        moved
    }
}

impl OutState {
    /// An idle connection writing through `stream`; without one (a client
    /// before its first welcome), waiting to be opened as after a loss.
    pub(super) fn new(
        stream: Option<Sink>,
        images: Option<ImageLane>,
        flow: ImageFlow,
        share: Share,
    ) -> OutState {
        let link = match stream {
            Some(stream) => Link::Open {
                stream: Arc::new(stream),
            },
            None => Link::Reconnecting,
        };
        OutState {
            pending: Outbox::new(),
            link,
            writer: Writer::Idle,
            inflight: 0,
            inflight_uncharged: 0,
            pushed: 0,
            written: 0,
            images,
            flow,
            urgent: Urgent::default(),
            serial: 0,
            share,
            drain: Drain::default(),
            #[cfg(unix)]
            shm: super::shm::ShmOut::Off,
        }
    }

    pub(super) fn is_open(&self) -> bool {
        matches!(self.link, Link::Open { .. })
    }

    /// Bytes queued and in flight, images not counted.
    pub(super) fn queued(&self) -> usize {
        self.pending.len() + self.inflight
    }

    /// Bytes held for the peer alone: frames queued and in flight, urgent
    /// frames. What the memory share covers; images on the lane are
    /// [charged](super::share::Charged) on their own.
    pub(super) fn held(&self) -> usize {
        self.pending.uncharged_len() + self.inflight_uncharged + self.urgent.len()
    }

    /// Whether a frame of `len` bytes fits `budget` and the handle's memory,
    /// and if so takes the memory for it. A lone frame fits any `budget`
    /// (frames are never larger than the maximum frame), but not the
    /// handle's memory when that is spent.
    pub(super) fn admit(&mut self, len: usize, budget: usize) -> bool {
        self.admit_charged(len, len, budget)
    }

    /// As [`admit`](Self::admit), for a frame of `len` bytes of which only
    /// `own` are this peer's to hold (the rest a payload charged once).
    pub(super) fn admit_charged(&mut self, len: usize, own: usize, budget: usize) -> bool {
        let queued = self.queued();
        let fits = queued == 0 || queued + len <= budget;
        // A small frame (a reply, a notice, a control message) may use the
        // memory's reserve for small messages.
        let small = len <= SMALL_FRAME;
        fits && self.share.try_cover(self.held() + own, small)
    }

    /// Whether the lane takes new images: not while the peer is stalled. It
    /// holds two images a channel at most (the one being sent and the newest
    /// waiting), and one (the image being sent) for a peer that reads
    /// nothing, which is offered none until it reads again.
    pub(super) fn takes_images(&self) -> bool {
        !self.drain.is_stalled()
    }

    /// After a caller wrote a data frame directly: its bytes count as data,
    /// written as far as they were.
    pub(super) fn note_data_written(&mut self) {
        self.drain.data_until(self.pushed);
        self.drain.on_written(self.written);
    }

    /// Takes memory for bytes that exist already and must be kept (the rest
    /// of a frame half written, a batch, a close frame), whatever the limit.
    pub(super) fn cover(&mut self) {
        self.share.cover(self.held());
    }

    /// Whether data waits for the peer to read it: frames queued or in
    /// flight, images on the lane (urgent frames do not count: a peer that
    /// reads nothing still has room for them in the kernel for a long time).
    fn data_waiting(&self) -> bool {
        !self.pending.is_empty() || self.images_waiting() || self.drain.in_flight(self.written)
    }

    /// How long data has waited for the peer to read it with none written,
    /// as of `now`, as seen by the loop's checks: zero when none waits, or
    /// some was written since the last check (which starts the count again).
    /// Measured at the checks, so the count starts up to a check late. A peer
    /// seen stalled by two checks in a row keeps only the image being sent
    /// to it: the ones waiting are dropped, and new ones refused, until it
    /// reads again.
    pub(super) fn stalled_for(&mut self, now: Instant) -> Duration {
        let waiting = self.is_open() && self.data_waiting();
        let stalled = self.drain.check(waiting, self.written, now);
        if let Some(lane) = self.images.as_mut().filter(|_| self.drain.is_stalled()) {
            // Their memory comes back as they go (see `Charged`).
            lane.drop_waiting();
        }
        stalled
    }

    /// Whether images wait on the lane.
    pub(super) fn images_waiting(&self) -> bool {
        self.images.as_ref().is_some_and(|l| !l.is_empty())
    }

    /// Makes the loop the writer if nobody is; returns whether it must be told
    /// to flush. A writing caller hands over to the loop itself when done.
    pub(super) fn wake_loop(&mut self) -> bool {
        let idle = self.writer == Writer::Idle;
        if idle {
            self.writer = Writer::Loop;
        }
        idle
    }

    /// Takes the write side for a caller's direct write; the socket to write to.
    pub(super) fn take_for_caller(&mut self) -> Option<Arc<Sink>> {
        let Link::Open { stream } = &self.link else {
            return None;
        };
        let stream = Arc::clone(stream);
        self.writer = Writer::Caller { link_lost: false };
        Some(stream)
    }

    /// Ends a caller's direct write; returns whether the connection it wrote
    /// to closed meanwhile.
    pub(super) fn caller_done(&mut self) -> bool {
        let writer = std::mem::replace(&mut self.writer, Writer::Idle);
        writer == Writer::Caller { link_lost: true }
    }

    /// Refills the loop's empty `inflight` with everything pending, the
    /// urgent frames, then image chunks up to a burst while the window allows
    /// (time measured from `epoch`, the clock read once at most). Returns
    /// whether an image writer may go on: a waiting place freed, or a locked
    /// image's last chunk taken.
    pub(super) fn refill(&mut self, inflight: &mut Outbox, epoch: Instant) -> bool {
        std::mem::swap(&mut self.pending, inflight);
        let taking_frames = !inflight.is_empty();
        if taking_frames {
            self.drain.data_until(self.pushed);
        }
        // After the pending frames, which may begin with the rest of a frame
        // a caller half wrote.
        self.pushed += self.urgent.take_into(inflight) as u64;
        let images_waiting = self.images_waiting();
        if !taking_frames && !images_waiting {
            return false;
        }
        let now = epoch.elapsed();
        if taking_frames {
            self.flow.frames_sent(now);
        }
        let window = self.flow.window(now);
        // Image chunks go behind whatever else was pending, so a control frame
        // queued meanwhile waits for this burst at most; each cut to fit the
        // window, so the window bounds what is in flight.
        let mut images_moved = false;
        while images_waiting && inflight.len() < IMAGE_BURST && self.flow.may_send(window) {
            let limit = self.flow.piece_limit(window);
            let lane = self.images.as_mut();
            let Some(chunk) = lane.and_then(|l| l.next_chunk_upto(inflight, limit)) else {
                break;
            };
            images_moved |= chunk.started || chunk.finished.is_some();
            self.flow.record_sent(chunk.payload, now);
            self.pushed += chunk.bytes as u64;
            self.drain.data_until(self.pushed);
            if let Some(ticket) = chunk.finished {
                self.flow.finish(ticket, self.pushed);
            }
        }
        images_moved
    }

    /// Records that the loop holds `inflight` bytes not yet written, and
    /// settles the memory share and the drain with what is held and written
    /// now: once per batch.
    pub(super) fn set_inflight(&mut self, inflight: usize, uncharged: usize) {
        self.inflight = inflight;
        self.inflight_uncharged = uncharged;
        self.share.settle(self.held());
        self.drain.on_written(self.written);
    }

    /// The connection is lost: queued frames and images are dropped, the
    /// tickets not written whole are lost, and a writing caller learns that
    /// its connection is gone. Returns the direct-write socket to shut down.
    pub(super) fn shut(&mut self, reconnecting: bool) -> Option<Arc<Sink>> {
        let next = match reconnecting {
            true => Link::Reconnecting,
            false => Link::Closed,
        };
        self.serial += 1;
        let stream = match std::mem::replace(&mut self.link, next) {
            Link::Open { stream } => Some(stream),
            Link::Reconnecting | Link::Closed => None,
        };
        if let Writer::Caller { link_lost } = &mut self.writer {
            *link_lost = true;
        }
        self.pending = Outbox::new();
        self.urgent = Urgent::default();
        if let Some(lane) = &mut self.images {
            lane.clear();
        }
        self.set_inflight(0, 0);
        self.drain.reset(self.written);
        self.flow.close(self.written);
        // The segment goes with the connection (its name too, if still
        // there); the receiver's mapping lives while it holds images.
        #[cfg(unix)]
        {
            self.shm = super::shm::ShmOut::Off;
        }
        stream
    }

    /// Open again on `stream`; nothing from before the break is resent.
    pub(super) fn reopen(&mut self, stream: Sink) {
        self.link = Link::Open {
            stream: Arc::new(stream),
        };
        // The loop starts the new connection idle; a caller still writing to
        // the old socket hands over itself.
        if self.writer == Writer::Loop {
            self.writer = Writer::Idle;
        }
        self.pending = Outbox::new();
        self.share.settle(self.held());
        self.written = self.pushed;
        self.drain.reset(self.written);
        self.flow.reopen();
    }
}
