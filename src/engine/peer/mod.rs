//! The shared half of a connection: its outbox and counters, reachable from any
//! thread. The event loop owns the other half ([`Conn`](super::connection::Conn)).
//!
//! Submodules: `out`, the state under the lock and its transitions; `direct`,
//! a locked write from the caller's thread; `images`, image writes and their
//! acknowledgements. This file holds the peer, its queued writes and its waits.
//!
//! # Who writes to the socket
//!
//! At any moment one party at most may write, the [`Writer`]: the event loop
//! ([`Writer::Loop`]), or a caller writing a locked frame directly
//! ([`Writer::Caller`]; it writes without holding the lock, so the loop never
//! waits behind a caller's system call, and a wake-up reaching the loop
//! meanwhile is stale and changes nothing). The caller hands what was queued
//! during its write to the loop when done.
//! Unlocked writes only queue and, on the idle-to-busy edge, ask the loop to flush.
//! Locked writes on an idle connection go straight to the kernel from the caller's
//! thread (no hop through the loop); on a busy one they queue behind everything
//! else and wait for the loop to report their last byte written. While the
//! [`Link`](out::Link) is not open, writes fail, or (locked ones, while a client
//! reconnects) wait for it to reopen.
//!
//! Frames arrive checked: the handles' one check (`send::target::check`) has passed
//! their channel and size before any peer sees them.
//!
//! # Images
//!
//! Images wait on their own [`ImageLane`] (unless chunking is off, when they are
//! ordinary frames in the outbox). Each time the loop's bytes in flight run out it
//! takes everything pending and then one chunk of one image, so control and data
//! frames overtake images chunk by chunk. A chunk's bytes join the `pushed` count
//! when the loop takes it, which keeps `pushed` in wire order. How many image
//! bytes may be unacknowledged, and which locked images are out, is the
//! [`ImageFlow`](crate::protocol::ImageFlow)'s business.

mod direct;
mod drain;
mod images;
mod out;
mod share;
#[cfg(unix)]
mod shm;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::Token;
use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};

pub(crate) use images::LockedImage;
use out::{OutState, Writer};
pub(crate) use share::Charged;
use share::Share;
#[cfg(unix)]
pub(crate) use shm::ShmPlan;

use super::wire::Sink;
use super::{Command, Notifier};
use crate::memory::Memory;
use crate::protocol::{Header, ImageFlow, ImageLane, Kind, Outbox, Pattern};
use crate::time::deadline;
use crate::{Action, ClientId, ClientInfo, Error, ErrorKind, Message, Permissions, Result};

/// One connected peer, shared by the event loop and the public handles.
#[derive(Debug)]
pub(crate) struct Peer {
    /// The client's id; atomic because a client that reconnects to a restarted
    /// host may be given a new one.
    id: AtomicU64,
    /// Set once: at creation on a host, by the first welcome on a client
    /// (whose default name carries the id that welcome gives).
    name: OnceLock<String>,
    addr: SocketAddr,
    token: Token,
    /// Frames queued by callers and the write-side bookkeeping. A mutex, not a
    /// channel, so that many small writes coalesce into one buffer and the budget
    /// check sees every queued byte; held only to push, swap or count.
    out: Mutex<OutState>,
    /// Signalled when a waiter may go on: bytes written while a counted
    /// waiter waits (`waiters`), an image started or finished, a finished
    /// locked image written, the peer closed or reopened.
    written_cv: Condvar,
    notifier: Notifier,
    budget: usize,
    connected: AtomicBool,
    /// Nanoseconds after `epoch` when bytes last arrived; atomic so the loop can
    /// update it without a lock on every read.
    last_seen_ns: AtomicU64,
    /// Nanoseconds after `epoch` when the connection opened; atomic because a
    /// client's peer reopens on every reconnection.
    opened_ns: AtomicU64,
    /// The zero of its clocks (the handle's epoch); also the epoch of the image flow's clock.
    epoch: Instant,
    /// Writes to this peer given up: unlocked ones refused with `Full`, locked
    /// broadcasts that timed out, pings and pongs replaced by newer ones
    /// before they went out.
    dropped: AtomicU64,
    /// Whether images travel on their own lane (chunked, conflated); fixed at
    /// creation, like `OutState::images`.
    image_lane: bool,
    /// The handle's memory budget, which images offered to the lane are
    /// charged to (the outbox's share is under the lock).
    memory: Arc<Memory>,
    /// This peer's shared-memory counters, for the stats.
    #[cfg(unix)]
    shm: shm::ShmCounters,
    /// Callers blocked in `wait_written`, `wait_flushed` or `start_locked`;
    /// while non-zero the loop reports every write at once instead of once per
    /// batch, and wakes them.
    waiters: AtomicUsize,
    /// The channels this peer wants from broadcasts and relays (`None`:
    /// every one): on a host, what the client declared; on a client, what
    /// it declared, to declare again after a reconnection. A lock read on
    /// every broadcast, written only when the client declares.
    interest: RwLock<Option<Interest>>,
    /// What a host's client may do, by its credential (`None`: everything;
    /// always `None` on a client's own peer).
    permissions: Option<Arc<Permissions>>,
}

/// Groups whose membership a peer keeps the answer for.
const GROUP_ANSWERS: usize = 16;

/// A declared interest, and whether it overlaps the groups routed to lately.
#[derive(Debug)]
struct Interest {
    patterns: Arc<[Pattern]>,
    groups: Mutex<VecDeque<(Pattern, bool)>>,
}

impl Interest {
    fn new(patterns: Arc<[Pattern]>) -> Interest {
        Interest {
            patterns,
            groups: Mutex::default(),
        }
    }

    /// Whether a pattern of this interest overlaps `group`: from the kept
    /// answers, or worked out and kept (the oldest answer making way).
    fn overlaps(&self, group: &Pattern) -> bool {
        let mut groups = self.groups.lock();
        if let Some((_, answer)) = groups.iter().find(|(g, _)| g == group) {
            return *answer;
        }
        let answer = self.patterns.iter().any(|p| p.overlaps(group));
        if groups.len() == GROUP_ANSWERS {
            groups.pop_front();
        }
        groups.push_back((group.clone(), answer));
        answer
    }
}

/// Settings and handles a new peer needs.
pub(crate) struct PeerParts {
    pub(crate) addr: SocketAddr,
    pub(crate) token: Token,
    /// The connected socket's write side; `None` for a client's peer before
    /// its first welcome.
    pub(crate) stream: Option<Sink>,
    pub(crate) notifier: Notifier,
    pub(crate) budget: usize,
    /// Payload bytes per image chunk; `None` sends images as ordinary frames.
    pub(crate) image_chunk: Option<usize>,
    /// Image payload bytes that may be unacknowledged by the peer, at most.
    pub(crate) image_window: usize,
    /// The image window's target queueing delay on the link.
    pub(crate) image_queue_delay: Duration,
    pub(crate) epoch: Instant,
    /// Bytes to send before anything else (a host's welcome). Queued before the
    /// peer is shared, so no other thread's frame can overtake them.
    pub(crate) first: Option<Bytes>,
    /// The handle's memory budget, which the peer's outbox and image lane
    /// draw from.
    pub(crate) memory: Arc<Memory>,
    /// What a host's client may do (`None`: everything).
    pub(crate) permissions: Option<Arc<Permissions>>,
}

impl Peer {
    /// A peer; if `parts.first` holds bytes, the loop owns the write side from the
    /// start and must flush the connection.
    pub(crate) fn new(id: ClientId, name: String, parts: PeerParts) -> Peer {
        let last_seen = parts.epoch.elapsed().as_nanos() as u64;
        let lane = parts.image_chunk.map(ImageLane::new);
        let memory = Arc::clone(&parts.memory);
        let share = Share::new(parts.memory);
        let window = parts.image_window as u64;
        let flow = ImageFlow::with_queue_delay(window, parts.image_queue_delay);
        let mut out = OutState::new(parts.stream, lane, flow, share);
        if let Some(first) = parts.first {
            out.pushed = first.len() as u64;
            out.pending.push_raw(first);
            out.cover();
            out.writer = Writer::Loop;
        }
        Peer {
            id: AtomicU64::new(id.0),
            name: OnceLock::from(name),
            addr: parts.addr,
            token: parts.token,
            out: Mutex::new(out),
            written_cv: Condvar::new(),
            notifier: parts.notifier,
            budget: parts.budget,
            connected: AtomicBool::new(true),
            last_seen_ns: AtomicU64::new(last_seen),
            opened_ns: AtomicU64::new(last_seen),
            epoch: parts.epoch,
            dropped: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
            interest: RwLock::new(None),
            permissions: parts.permissions,
            image_lane: parts.image_chunk.is_some(),
            memory,
            #[cfg(unix)]
            shm: shm::ShmCounters::default(),
        }
    }

    /// A client's peer before its first connection: suspended as if
    /// reconnecting, so that the first welcome opens it through
    /// [`reopen`](Self::reopen) like any later one; no id or name until then.
    pub(crate) fn dialing(parts: PeerParts) -> Peer {
        let peer = Peer {
            name: OnceLock::new(),
            ..Peer::new(ClientId::HOST, String::new(), parts)
        };
        peer.suspend();
        peer
    }

    /// Names a dialing peer; a peer keeps its first name.
    pub(crate) fn name_once(&self, name: impl FnOnce() -> String) {
        self.name.get_or_init(name);
    }

    pub(crate) fn id(&self) -> ClientId {
        ClientId(self.id.load(Ordering::Relaxed))
    }

    pub(crate) fn name(&self) -> &str {
        self.name.get().map_or("", String::as_str)
    }

    /// How notices and errors name this peer: its name, or `#id` without one.
    pub(crate) fn label(&self) -> String {
        match self.name() {
            "" => format!("#{}", self.id().0),
            name => name.to_owned(),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn token(&self) -> Token {
        self.token
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Whether this peer wants `channel` from a broadcast or relay: it
    /// declared an interest in it (or none), and may subscribe to it.
    pub(crate) fn wants(&self, channel: &str) -> bool {
        let wanted = match &*self.interest.read() {
            None => true,
            Some(interest) => interest.patterns.iter().any(|p| p.matches(channel)),
        };
        wanted && self.may(Action::Subscribe, channel)
    }

    /// Whether this peer's permissions allow `action` on `name`.
    pub(crate) fn may(&self, action: Action, name: &str) -> bool {
        crate::auth::permits(self.permissions.as_deref(), action, name)
    }

    /// Whether this peer is held to permissions (a host's client that
    /// proved a credential).
    pub(crate) fn is_restricted(&self) -> bool {
        self.permissions.is_some()
    }

    /// Whether this peer declared an interest overlapping `group`: a member
    /// of it. A peer that declared none is in no group. The answer for the
    /// last few groups asked is kept until the interest changes, so routing
    /// to a group costs one pattern comparison per client and frame, not an
    /// overlap test of every pattern.
    pub(crate) fn in_group(&self, group: &Pattern) -> bool {
        match &*self.interest.read() {
            Some(interest) => interest.overlaps(group),
            None => false,
        }
    }

    /// Records the channels this peer wants (`None`: every one).
    pub(crate) fn set_interest(&self, patterns: Option<Arc<[Pattern]>>) {
        *self.interest.write() = patterns.map(Interest::new);
    }

    /// The channels this peer wants, as declared (`None`: every one).
    pub(crate) fn interest(&self) -> Option<Arc<[Pattern]>> {
        let interest = self.interest.read();
        interest.as_ref().map(|i| Arc::clone(&i.patterns))
    }

    /// How long nothing has arrived from this peer, as of `now`.
    pub(crate) fn silent_for(&self, now: Instant) -> Duration {
        let seen = self.epoch + Duration::from_nanos(self.last_seen_ns.load(Ordering::Relaxed));
        now.saturating_duration_since(seen)
    }

    /// Records that bytes arrived at `now`.
    pub(crate) fn touch(&self, now: Instant) {
        let ns = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        self.last_seen_ns.store(ns, Ordering::Relaxed);
    }

    pub(crate) fn info(&self) -> ClientInfo {
        let ns = self.last_seen_ns.load(Ordering::Relaxed);
        let out = self.out.lock();
        ClientInfo {
            id: self.id(),
            name: self.name().to_owned(),
            addr: self.addr,
            connected: self.is_connected(),
            connected_since: self.epoch
                + Duration::from_nanos(self.opened_ns.load(Ordering::Relaxed)),
            last_seen: self.epoch + Duration::from_nanos(ns),
            rooms: Vec::new(),
            queued_bytes: out.queued() + out.images.as_ref().map_or(0, ImageLane::len),
            dropped: self.dropped.load(Ordering::Relaxed),
            images_dropped: out
                .images
                .iter()
                .flat_map(|l| l.all_stats())
                .map(|(_, s)| s.dropped)
                .sum(),
        }
    }

    /// Queues a frame without waiting (an unlocked write).
    ///
    /// Fails with `Full`, handing the payload back, when the outbox already holds
    /// its budget or the handle's memory is spent.
    pub(crate) fn queue(&self, header: &Header<'_>, payload: Bytes) -> Result<()> {
        self.queue_in(self.out.lock(), header, payload)
    }

    /// [`queue`](Self::queue), under the lock already taken.
    fn queue_in(
        &self,
        mut out: MutexGuard<'_, OutState>,
        header: &Header<'_>,
        payload: Bytes,
    ) -> Result<()> {
        if !out.is_open() {
            return Err(Error::new(ErrorKind::NotConnected).with_payload(payload));
        }
        if !out.admit(payload.len(), self.budget) {
            let queued = out.queued();
            drop(out);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            let full = ErrorKind::Full {
                queued,
                budget: self.budget,
            };
            return Err(Error::new(full).with_payload(payload));
        }
        out.pushed += out.pending.push_valid(header, payload) as u64;
        self.wake_loop(out);
        Ok(())
    }

    /// Queues a frame whose payload is [charged](Charged) once for every
    /// peer it goes to (the loop's relay of a large message to many): the
    /// outbox's budget counts it, the memory share does not. A full outbox
    /// drops it and counts the drop.
    pub(crate) fn queue_charged(&self, header: &Header<'_>, payload: &Charged) -> bool {
        let bytes = payload.bytes();
        let mut out = self.out.lock();
        if !out.is_open() || !out.admit_charged(bytes.len(), 0, self.budget) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        out.pushed += out.pending.push_charged(header, bytes) as u64;
        self.wake_loop(out);
        true
    }

    /// Queues an encoded control frame from the event loop thread (a notice,
    /// a service's answer); over the budget it is dropped and counted, so a
    /// peer that asks without reading cannot grow the outbox.
    pub(crate) fn queue_control(&self, frame: Bytes) {
        let mut out = self.out.lock();
        if !out.is_open() || !out.admit(frame.len(), self.budget) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        out.pushed += frame.len() as u64;
        out.pending.push_raw(frame);
        self.wake_loop(out);
    }

    /// Queues a failure reply (small: a status and at most
    /// [`MAX_FAILURE_TEXT`](crate::protocol::MAX_FAILURE_TEXT) bytes of
    /// detail) on the connection `serial` (see [`serial`](Self::serial)),
    /// from any thread: past the outbox's budget by a sixteenth of it, and
    /// into the memory's reserve for small frames, so a requester is told
    /// why it gets no answer rather than left waiting. Beyond that it is
    /// dropped and counted; returns whether it was queued.
    pub(crate) fn queue_failure(&self, serial: u64, header: &Header<'_>, payload: Bytes) -> bool {
        let mut out = self.out.lock();
        let budget = self.budget + self.budget / 16;
        if out.serial != serial || !out.is_open() || !out.admit(payload.len(), budget) {
            drop(out);
            self.count_drop();
            return false;
        }
        out.pushed += out.pending.push_valid(header, payload) as u64;
        self.wake_loop(out);
        true
    }

    /// Which of this peer's connections is open (or was last): a count
    /// of the connections it lost. A request records it, and its reply
    /// goes out only on the same connection: a client keeps one peer
    /// across reconnections, and a host that restarted gives ids again.
    pub(crate) fn serial(&self) -> u64 {
        self.out.lock().serial
    }

    /// Queues a close frame after everything queued, whatever the budgets:
    /// the connection ends next, and the frame says why.
    pub(crate) fn queue_close(&self, frame: Bytes) {
        let mut out = self.out.lock();
        if !out.is_open() {
            return;
        }
        out.pushed += frame.len() as u64;
        out.pending.push_raw(frame);
        out.cover();
        self.wake_loop(out);
    }

    /// Sends a pong (answering the peer's ping) with the next write, whatever
    /// the budgets: a receiver under a flood must still show it is alive. A
    /// newer pong replaces one not yet sent (counted as dropped), so a peer
    /// that pings without reading cannot grow the outbox.
    pub(crate) fn queue_pong(&self, frame: Bytes) {
        self.queue_urgent(frame, |urgent| &mut urgent.pong);
    }

    /// Sends this side's heartbeat ping with the next write, as
    /// [`queue_pong`](Self::queue_pong) sends a pong.
    pub(crate) fn queue_ping(&self, frame: Bytes) {
        self.queue_urgent(frame, |urgent| &mut urgent.ping);
    }

    fn queue_urgent(
        &self,
        frame: Bytes,
        slot: impl FnOnce(&mut out::Urgent) -> &mut Option<Bytes>,
    ) {
        let mut out = self.out.lock();
        if !out.is_open() {
            return;
        }
        if slot(&mut out.urgent).replace(frame).is_some() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        out.cover();
        self.wake_loop(out);
    }

    /// Queues stored messages as they came, each image on the image path:
    /// a host's latched values to a client that joins. One that does not
    /// fit the budget is dropped and counted.
    pub(crate) fn queue_messages(&self, msgs: &[Message]) {
        for msg in msgs {
            let (channel, payload) = (msg.channel(), msg.payload().clone());
            let kind = match msg.image_meta() {
                Some(meta) => Kind::Image(*meta),
                None => Kind::Data,
            };
            // A client's value arrives as from that client.
            let origin = (msg.from() != ClientId::HOST).then_some(msg.from().0);
            let header = Header {
                origin,
                encoding: msg.encoding(),
                sent_at: msg.sent_at_ns(),
                ..Header::new(kind, channel)
            };
            // `queue` counts a refusal for lack of room.
            let _ = match kind {
                Kind::Image(_) => self.queue_image(&header, payload),
                _ => self.queue(&header, payload),
            };
        }
    }

    /// Records an image acknowledgement (`frame`, carrying a cumulative count)
    /// to send from the event loop thread. Only the newest is kept, and it goes
    /// out with the next write whatever the budget: the peer sends no more
    /// images until it arrives, and one pending acknowledgement is all the
    /// memory it takes.
    pub(crate) fn queue_ack(&self, frame: Bytes) {
        let mut out = self.out.lock();
        if !out.is_open() {
            return;
        }
        out.urgent.ack = Some(frame);
        out.cover();
        self.wake_loop(out);
    }

    /// Makes the loop the writer and, if it was not already, tells it to flush.
    ///
    /// While a caller writes directly it does nothing: that caller hands what
    /// was queued meanwhile to the loop when it is done.
    fn wake_loop(&self, mut out: MutexGuard<'_, OutState>) {
        if out.wake_loop() {
            drop(out);
            self.notifier.send(Command::Flush(self.token));
        }
    }
    /// Waits for `written` to move (or the peer to close) until `deadline`;
    /// returns whether it timed out. Counts as a waiter meanwhile, so the loop
    /// reports every write at once.
    fn wait(&self, out: &mut MutexGuard<'_, OutState>, deadline: Option<Instant>) -> bool {
        self.waiters.fetch_add(1, Ordering::AcqRel);
        let timed_out = self.wait_uncounted(out, deadline);
        self.waiters.fetch_sub(1, Ordering::AcqRel);
        timed_out
    }

    /// As [`wait`](Self::wait), without asking the loop to report every write:
    /// for image writers, which the loop wakes only when they may go on (a
    /// waiting place freed, a locked image's last chunk taken, then written),
    /// and each chunk's end is reported anyway (when its bytes in flight run out).
    fn wait_uncounted(
        &self,
        out: &mut MutexGuard<'_, OutState>,
        deadline: Option<Instant>,
    ) -> bool {
        match deadline {
            Some(deadline) => self.written_cv.wait_until(out, deadline).timed_out(),
            None => {
                self.written_cv.wait(out);
                false
            }
        }
    }

    /// Appends a batch of frames atomically; returns the `written` target.
    pub(crate) fn queue_batch(&self, batch: &mut Outbox) -> Result<u64> {
        let mut out = self.out.lock();
        if !out.is_open() {
            return Err(ErrorKind::NotConnected.into());
        }
        out.pushed += batch.len() as u64;
        out.pending.append(batch);
        // A locked batch is the caller's own, built already: counted, not refused.
        out.cover();
        let target = out.pushed;
        self.wake_loop(out);
        Ok(target)
    }

    /// Waits until everything queued so far, images included, has been handed
    /// to the kernel (images not yet taken by the loop have no byte target
    /// yet, so this waits for the lane to empty first).
    pub(crate) fn wait_flushed(&self, timeout: Duration) -> Result<()> {
        let deadline = deadline(timeout);
        let mut out = self.out.lock();
        loop {
            let lane_empty = out.images.as_ref().is_none_or(ImageLane::is_empty);
            if lane_empty && out.written >= out.pushed {
                return Ok(());
            }
            if !out.is_open() {
                return Err(ErrorKind::NotConnected.into());
            }
            if self.wait(&mut out, deadline) {
                return Err(ErrorKind::TimedOut(timeout).into());
            }
        }
    }

    /// Waits until `target` bytes have been handed to the kernel.
    pub(crate) fn wait_written(&self, target: u64, timeout: Duration) -> Result<()> {
        let deadline = deadline(timeout);
        let mut out = self.out.lock();
        loop {
            if out.written >= target {
                return Ok(());
            }
            if !out.is_open() {
                return Err(ErrorKind::NotConnected.into());
            }
            if self.wait(&mut out, deadline) && out.written < target {
                return Err(ErrorKind::TimedOut(timeout).into());
            }
        }
    }

    /// Loop side: reports `written` more bytes handed to the kernel and, when
    /// `inflight` is empty, refills it with everything pending. Returns whether
    /// there is anything to write; when not, the loop gives up the write side.
    ///
    /// The loop calls this once per drained batch (and after each write while a
    /// caller waits), not once per system call: with a writer thread locking the
    /// outbox for every small frame, each extra lock the loop takes risks parking it.
    pub(crate) fn settle(&self, written: usize, inflight: &mut Outbox) -> bool {
        let mut out = self.out.lock();
        out.written += written as u64;
        if let Writer::Caller { .. } = out.writer {
            // A stale wake-up while a caller owns the write side (the loop's
            // `inflight` is empty then); the caller hands over when done.
            return false;
        }
        let images_moved = inflight.is_empty() && out.refill(inflight, self.epoch);
        out.set_inflight(inflight.len(), inflight.uncharged_len());
        let busy = !inflight.is_empty();
        out.writer = if busy { Writer::Loop } else { Writer::Idle };
        let image_written = out.flow.any_written(out.written);
        drop(out);
        // Waking only those who can go on: a camera waiting for its image is
        // not woken by each of its chunks.
        let counted = written > 0 && self.has_waiters();
        if counted || images_moved || (written > 0 && image_written) {
            let woken = self.written_cv.notify_all();
            if counted && woken > 0 {
                // A locked writer or a flush: let it run soon.
                super::pace::woke_a_waiter();
            }
        }
        busy
    }

    /// Loop side: how long data to this peer has waited with none written,
    /// as of `now` (see `OutState::stalled_for`), and the bytes queued to it
    /// (as [`ClientInfo::queued_bytes`]).
    pub(crate) fn write_stall(&self, now: Instant) -> (Duration, usize) {
        let mut out = self.out.lock();
        let lane = out.images.as_ref().map_or(0, ImageLane::len);
        (out.stalled_for(now), out.queued() + lane)
    }

    /// Counts a write to this peer that was given up (shown as `dropped`).
    pub(crate) fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether a locked write or flush is waiting for bytes to be written.
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::Acquire) > 0
    }

    /// Whether the peer is closed for good: no reconnection will reopen it.
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.out.lock().link, out::Link::Closed)
    }

    /// Marks the peer closed: queued frames are dropped and waiting writers fail.
    pub(crate) fn close(&self) {
        self.shut(false);
    }

    /// As `close`, but a reconnection is coming: unlocked writes fail at once,
    /// locked ones wait (within their timeout) for [`reopen`](Self::reopen).
    pub(crate) fn suspend(&self) {
        self.shut(true);
    }

    /// Back on a new connection (after `suspend`): a fresh socket, possibly a
    /// new id; nothing from before the break is resent.
    pub(crate) fn reopen(&self, stream: Sink, id: ClientId, now: Instant) {
        self.id.store(id.0, Ordering::Relaxed);
        self.touch(now);
        let opened = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        self.opened_ns.store(opened, Ordering::Relaxed);
        self.out.lock().reopen(stream);
        self.connected.store(true, Ordering::Release);
        self.written_cv.notify_all();
    }

    fn shut(&self, reconnecting: bool) {
        self.connected.store(false, Ordering::Release);
        let stream = self.out.lock().shut(reconnecting);
        self.written_cv.notify_all();
        // The loop's handle and this one share the socket: shut it down so the
        // peer sees the close, and drop this descriptor.
        if let Some(stream) = stream {
            stream.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(texts: &[&str]) -> Arc<[Pattern]> {
        texts
            .iter()
            .map(|t| Pattern::new(t).expect("valid"))
            .collect()
    }

    #[test]
    fn group_answers_are_kept_for_the_latest_groups_and_agree_with_the_overlap() {
        let interest = Interest::new(patterns(&["arm/*", "cam/**/raw"]));
        let groups: Vec<Pattern> = (0..40)
            .map(|i| match i % 3 {
                0 => Pattern::new(&format!("arm/{i}")),
                1 => Pattern::new(&format!("cam/{i}/**")),
                _ => Pattern::new(&format!("leg/{i}")),
            })
            .map(|p| p.expect("valid"))
            .collect();
        for _ in 0..3 {
            for group in &groups {
                let direct = interest.patterns.iter().any(|p| p.overlaps(group));
                assert_eq!(interest.overlaps(group), direct, "{}", group.as_str());
                assert!(interest.groups.lock().len() <= GROUP_ANSWERS);
            }
        }
        assert_eq!(interest.groups.lock().len(), GROUP_ANSWERS);
    }
}
