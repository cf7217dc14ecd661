//! The shared half of a connection: its outbox and counters, reachable from any
//! thread. The event loop owns the other half ([`Conn`](super::connection::Conn)).
//!
//! # Who writes to the socket
//!
//! At any moment exactly one party may write: the event loop while
//! [`OutState::loop_writing`] is set, or a caller that set
//! [`OutState::caller_writing`] (it writes without holding the lock, so the
//! loop never waits behind a caller's system call).
//! Unlocked writes only queue and, on the idle-to-busy edge, ask the loop to flush.
//! Locked writes on an idle connection go straight to the kernel from the caller's
//! thread (no hop through the loop); on a busy one they queue behind everything
//! else and wait for the loop to report their last byte written.
//!
//! # Images
//!
//! Images wait on their own [`ImageLane`] (unless chunking is off, when they are
//! ordinary frames in the outbox). Each time the loop's bytes in flight run out it
//! takes everything pending and then one chunk of one image, so control and data
//! frames overtake images chunk by chunk. A chunk's bytes join the `pushed` count
//! when the loop takes it, which keeps `pushed` in wire order.

use std::io::{self, IoSlice, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mio::Token;
use parking_lot::{Condvar, Mutex, MutexGuard};

use super::{Command, Notifier};
use crate::protocol::{Header, ImageLane, LaneStats, Offer, Outbox};
use crate::time::deadline;
use crate::{ClientId, ClientInfo, Error, ErrorKind, Result};

/// Image bytes the loop takes into one write at most (whole chunks; at least
/// one): fewer, larger writes than one per chunk, while a control frame queued
/// during them still waits for no more than this.
const IMAGE_BURST: usize = 512 * 1024;

/// How long after the last control or data frame the image lane keeps to
/// half its window (see [`OutState::frames_sent_at`]).
const FRAMES_LINGER: Duration = Duration::from_millis(100);

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
    max_frame: usize,
    connected: AtomicBool,
    /// Nanoseconds after `epoch` when bytes last arrived; atomic so the loop can
    /// update it without a lock on every read.
    last_seen_ns: AtomicU64,
    epoch: Instant,
    /// Writes to this peer given up: unlocked ones refused with `Full`, locked
    /// broadcasts that timed out, pongs over the budget.
    dropped: AtomicU64,
    /// Whether images travel on their own lane (chunked, conflated); fixed at
    /// creation, like `OutState::images`.
    image_lane: bool,
    /// Callers blocked in `wait_written`, `wait_flushed` or `start_locked`;
    /// while non-zero the loop reports every write at once instead of once per
    /// batch, and wakes them.
    waiters: AtomicUsize,
}

#[derive(Debug, Default)]
struct OutState {
    /// Frames not yet taken by the event loop.
    pending: Outbox,
    /// Set while the event loop owns the write side: it has bytes in flight, or a
    /// flush command is on its way to it.
    loop_writing: bool,
    /// Bytes the loop took from `pending` and has not yet written.
    inflight: usize,
    /// Bytes ever queued or written directly; a locked write waits for
    /// `written` to reach the value this had after its frame.
    pushed: u64,
    /// Bytes ever handed to the kernel.
    written: u64,
    closed: bool,
    /// Closed, but a client is reconnecting: locked writes wait for `reopen`.
    reconnecting: bool,
    /// Set while a caller writes a locked frame straight to the socket. Frames
    /// queued meanwhile wait in `pending`; the caller wakes the loop for them.
    caller_writing: bool,
    /// Images waiting to be sent, conflated and chunked; `None` when chunking
    /// is off and images are queued in `pending` like any frame.
    images: Option<ImageLane>,
    /// Locked images whose last chunk the loop has taken: ticket and the
    /// `written` target covering it.
    images_done: Vec<(u64, u64)>,
    /// The next locked image's ticket.
    next_ticket: u64,
    /// Tickets below this were issued before the connection last closed: an
    /// image of theirs not in `images_done` by then was dropped.
    tickets_lost_below: u64,
    /// Tickets of locked image writes that gave up waiting (timed out) before
    /// their last chunk was taken: not recorded in `images_done` then.
    tickets_abandoned: Vec<u64>,
    /// The newest image acknowledgement not yet taken into a write.
    ack: Option<Bytes>,
    /// Counts closes: a direct write that finds it moved wrote to a
    /// connection that is gone.
    generation: u64,
    /// Image payload bytes taken from the lane on this connection, and the
    /// most the peer has acknowledged; the lane waits while the difference is
    /// `window` or more.
    image_sent: u64,
    image_acked: u64,
    image_window: u64,
    /// When the loop last took control or data frames to write, or a caller
    /// wrote one directly. For
    /// [`FRAMES_LINGER`] after that, images may have only half the window
    /// unacknowledged: a frame queued behind them finds half as much image
    /// data ahead of it in the kernels' buffers (p99 of the loaded ping-pong
    /// bench ~0.75 ms instead of ~1.2 ms), while a stream of images alone
    /// keeps the whole window and its throughput (half of it cost a quarter).
    frames_sent_at: Option<Instant>,
    /// A duplicate of the connection's socket for direct locked writes (the loop
    /// reads and flushes through its own handle). An `Arc` so a caller can write
    /// after releasing the lock; taken, and shut down, when the peer closes.
    stream: Option<Arc<TcpStream>>,
}

impl OutState {
    /// The image window in force, noting whether the loop is taking control
    /// or data frames now (see [`frames_sent_at`](Self::frames_sent_at)).
    fn window_now(&mut self, taking_frames: bool) -> u64 {
        if !taking_frames && self.frames_sent_at.is_none() {
            return self.image_window;
        }
        let now = Instant::now();
        if taking_frames {
            self.frames_sent_at = Some(now);
        }
        let since = self
            .frames_sent_at
            .map(|at| now.saturating_duration_since(at));
        if since.is_some_and(|s| s >= FRAMES_LINGER) {
            self.frames_sent_at = None;
        }
        image_window(self.image_window, since)
    }
}

/// The image window for a full window of `full` bytes, `since` the loop last
/// took control or data frames: half of it within [`FRAMES_LINGER`].
fn image_window(full: u64, since: Option<Duration>) -> u64 {
    match since {
        Some(since) if since < FRAMES_LINGER => (full / 2).max(1),
        _ => full,
    }
}

/// Settings and handles a new peer needs.
pub(crate) struct PeerParts {
    pub(crate) addr: SocketAddr,
    pub(crate) token: Token,
    /// The connected socket; `None` for a client's peer before its first welcome.
    pub(crate) stream: Option<TcpStream>,
    pub(crate) notifier: Notifier,
    pub(crate) budget: usize,
    pub(crate) max_frame: usize,
    /// Payload bytes per image chunk; `None` sends images as ordinary frames.
    pub(crate) image_chunk: Option<usize>,
    /// Image payload bytes that may be unacknowledged by the peer.
    pub(crate) image_window: usize,
    pub(crate) epoch: Instant,
    /// Bytes to send before anything else (a host's welcome). Queued before the
    /// peer is shared, so no other thread's frame can overtake them.
    pub(crate) first: Option<Bytes>,
}

impl Peer {
    /// A peer; if `parts.first` holds bytes, the loop owns the write side from the
    /// start and must flush the connection.
    pub(crate) fn new(id: ClientId, name: String, parts: PeerParts) -> Peer {
        let last_seen = parts.epoch.elapsed().as_nanos() as u64;
        let mut out = OutState {
            stream: parts.stream.map(Arc::new),
            images: parts.image_chunk.map(ImageLane::new),
            image_window: parts.image_window as u64,
            ..OutState::default()
        };
        if let Some(first) = parts.first {
            out.pushed = first.len() as u64;
            out.pending.push_raw(first);
            out.loop_writing = true;
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
            max_frame: parts.max_frame,
            connected: AtomicBool::new(true),
            last_seen_ns: AtomicU64::new(last_seen),
            epoch: parts.epoch,
            dropped: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
            image_lane: parts.image_chunk.is_some(),
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

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn token(&self) -> Token {
        self.token
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
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
            last_seen: self.epoch + Duration::from_nanos(ns),
            queued_bytes: out.pending.len()
                + out.inflight
                + out.images.as_ref().map_or(0, ImageLane::len),
            dropped: self.dropped.load(Ordering::Relaxed),
            images_dropped: out
                .images
                .iter()
                .flat_map(|l| l.all_stats())
                .map(|(_, s)| s.dropped)
                .sum(),
        }
    }

    /// Images sent and dropped on `channel` (zero when chunking is off: the
    /// outbox counts those frames as any other).
    pub(crate) fn image_stats(&self, channel: &str) -> LaneStats {
        let out = self.out.lock();
        let lane = out.images.as_ref().and_then(|l| l.stats(channel));
        lane.unwrap_or_default()
    }

    /// Offers an image to the lane without waiting (an unlocked image write):
    /// it replaces the channel's waiting image, if any, and never fails for lack
    /// of room. Without a lane, queues it as [`queue`](Self::queue) does.
    pub(crate) fn queue_image(&self, header: &Header<'_>, payload: Bytes) -> Result<()> {
        if !self.image_lane {
            return self.queue(header, payload);
        }
        let payload = self.check(header, payload)?;
        let mut out = self.out.lock();
        if out.closed {
            return Err(Error::new(ErrorKind::NotConnected).with_payload(payload));
        }
        if let Some(lane) = &mut out.images {
            // Replaced or refused images are counted by the lane.
            let _ = lane.offer(header, payload, None);
        }
        self.wake_loop(out);
        Ok(())
    }

    /// Offers a locked image: waits, up to `timeout`, for the channel's waiting
    /// place (a locked image is never replaced), then returns a ticket for
    /// [`wait_image`](Self::wait_image). Without a lane, writes it as a locked
    /// frame and returns the `written` target instead (`Err` of the ticket).
    pub(crate) fn start_image_locked(
        &self,
        header: &Header<'_>,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<std::result::Result<u64, u64>> {
        if !self.image_lane {
            return self.start_locked(header, payload, timeout).map(Err);
        }
        let mut payload = self.check(header, payload)?;
        let deadline = deadline(timeout);
        let mut out = self.out.lock();
        loop {
            if out.closed && !out.reconnecting {
                return Err(Error::new(ErrorKind::NotConnected).with_payload(payload));
            }
            let ticket = out.next_ticket;
            if let (false, Some(lane)) = (out.closed, out.images.as_mut()) {
                match lane.offer(header, payload, Some(ticket)) {
                    Offer::Busy(back) => payload = back,
                    _ => {
                        out.next_ticket += 1;
                        self.wake_loop(out);
                        return Ok(Ok(ticket));
                    }
                }
            }
            if self.wait_uncounted(&mut out, deadline) {
                let timed_out = Error::new(ErrorKind::TimedOut(timeout));
                return Err(timed_out.with_payload(payload));
            }
        }
    }

    /// Waits until the locked image with `ticket` has been handed to the kernel.
    pub(crate) fn wait_image(&self, ticket: u64, timeout: Duration) -> Result<()> {
        let deadline = deadline(timeout);
        let mut out = self.out.lock();
        loop {
            let done = out.images_done.iter().position(|&(t, _)| t == ticket);
            if let Some(i) = done {
                if out.written >= out.images_done[i].1 {
                    out.images_done.swap_remove(i);
                    return Ok(());
                }
            } else if ticket < out.tickets_lost_below {
                // Dropped with the connection it was queued on.
                return Err(ErrorKind::NotConnected.into());
            }
            if out.closed && !out.reconnecting {
                return Err(ErrorKind::NotConnected.into());
            }
            if self.wait_uncounted(&mut out, deadline) {
                // Give up the ticket: its entry, or its entry to come.
                match out.images_done.iter().position(|&(t, _)| t == ticket) {
                    Some(i) => {
                        out.images_done.swap_remove(i);
                    }
                    None => out.tickets_abandoned.push(ticket),
                }
                return Err(ErrorKind::TimedOut(timeout).into());
            }
        }
    }

    /// Checks a frame before it is queued: the header's limits and the maximum
    /// frame size (which the builders keep within the `u32` length prefix).
    /// Hands the payload back inside the error.
    fn check(&self, header: &Header<'_>, payload: Bytes) -> Result<Bytes> {
        if let Err(err) = header.validate() {
            return Err(Error::from(err).with_payload(payload));
        }
        let len = header.body_prefix_len() + payload.len();
        if len > self.max_frame {
            let too_large = ErrorKind::FrameTooLarge {
                len,
                max: self.max_frame,
            };
            return Err(Error::new(too_large).with_payload(payload));
        }
        Ok(payload)
    }

    /// Queues a frame without waiting (an unlocked write).
    ///
    /// Fails with `Full`, handing the payload back, when the outbox already holds
    /// its budget.
    pub(crate) fn queue(&self, header: &Header<'_>, payload: Bytes) -> Result<()> {
        let payload = self.check(header, payload)?;
        let mut out = self.out.lock();
        if out.closed {
            return Err(Error::new(ErrorKind::NotConnected).with_payload(payload));
        }
        if !self.has_room(&out, payload.len()) {
            let queued = out.pending.len() + out.inflight;
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

    /// Queues an encoded control frame from the event loop thread (a pong); over
    /// the budget it is dropped and counted, so a peer that pings without reading
    /// cannot grow the outbox.
    pub(crate) fn queue_control(&self, frame: Bytes) {
        let mut out = self.out.lock();
        if out.closed || !self.has_room(&out, frame.len()) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        out.pushed += frame.len() as u64;
        out.pending.push_raw(frame);
        self.wake_loop(out);
    }

    /// Records an image acknowledgement (`frame`, carrying a cumulative count)
    /// to send from the event loop thread. Only the newest is kept, and it goes
    /// out with the next write whatever the budget: the peer sends no more
    /// images until it arrives, and one pending acknowledgement is all the
    /// memory it takes.
    pub(crate) fn queue_ack(&self, frame: Bytes) {
        let mut out = self.out.lock();
        if out.closed {
            return;
        }
        out.ack = Some(frame);
        self.wake_loop(out);
    }

    /// Whether `len` more bytes fit the budget (a lone frame always fits).
    fn has_room(&self, out: &OutState, len: usize) -> bool {
        let queued = out.pending.len() + out.inflight;
        queued == 0 || queued + len <= self.budget
    }

    /// Marks the loop as the writer and, if it was not already, tells it to flush.
    ///
    /// While a caller writes directly it does nothing: that caller hands what
    /// was queued meanwhile to the loop when it is done.
    fn wake_loop(&self, mut out: MutexGuard<'_, OutState>) {
        if !out.loop_writing && !out.caller_writing {
            out.loop_writing = true;
            drop(out);
            self.notifier.send(Command::Flush(self.token));
        }
    }

    /// Queues a frame, or writes it straight to the kernel when the connection is
    /// idle; returns the byte count `written` must reach for the frame to be out.
    ///
    /// On a busy connection over its budget it waits, up to `timeout`, for room:
    /// locked writes are the back-pressure path and never grow the outbox past
    /// its budget (a lone frame always fits).
    pub(crate) fn start_locked(
        &self,
        header: &Header<'_>,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<u64> {
        let payload = self.check(header, payload)?;
        let deadline = deadline(timeout);
        let mut out = self.out.lock();
        loop {
            if out.closed && !out.reconnecting {
                return Err(Error::new(ErrorKind::NotConnected).with_payload(payload));
            }
            if out.closed {
                // Reconnecting: wait for `reopen` (which signals the condvar).
            } else if !out.loop_writing && !out.caller_writing {
                return self.write_now(out, header, payload);
            } else if self.has_room(&out, payload.len()) {
                out.pushed += out.pending.push_valid(header, payload) as u64;
                return Ok(out.pushed);
            }
            if self.wait(&mut out, deadline) {
                let timed_out = Error::new(ErrorKind::TimedOut(timeout));
                return Err(timed_out.with_payload(payload));
            }
        }
    }

    /// Writes a frame on an idle connection from the caller's thread; whatever
    /// the socket does not take goes to the loop.
    fn write_now(
        &self,
        mut out: MutexGuard<'_, OutState>,
        header: &Header<'_>,
        payload: Bytes,
    ) -> Result<u64> {
        let mut head = Vec::with_capacity(header.body_prefix_len() + 4);
        header.encode_valid(payload.len(), &mut head);
        let total = head.len() + payload.len();
        let Some(stream) = out.stream.clone() else {
            let closed = Error::new(ErrorKind::NotConnected);
            return Err(closed.with_payload(payload));
        };
        // Take the write side and let go of the lock for the system call.
        out.caller_writing = true;
        let generation = out.generation;
        drop(out);
        let (n, failed) = write_direct(&stream, &head, &payload);
        let mut out = self.out.lock();
        out.caller_writing = false;
        if out.generation != generation {
            // The connection closed meanwhile (and may be open again): the rest
            // of this frame must not start the next connection's stream.
            let gone = Error::new(ErrorKind::NotConnected);
            return Err(if n == 0 {
                gone.with_payload(payload)
            } else {
                gone
            });
        }
        match failed {
            // Nothing went out: the frame was not delivered, hand it back.
            Some(err) if n == 0 => {
                self.wake_loop(out);
                return Err(Error::from(err).with_payload(payload));
            }
            // Part of the frame went out on a broken socket; the loop sees the
            // error too and closes the connection.
            Some(err) => {
                self.wake_loop(out);
                return Err(err.into());
            }
            None => {}
        }
        // A frame went out: images keep to half their window for a while.
        out.frames_sent_at = Some(Instant::now());
        // The rest of this frame goes before anything queued during the call.
        out.pushed += total as u64;
        out.written += n as u64;
        let target = out.pushed;
        if n < total {
            let head_rest = head.get(n..).unwrap_or_default();
            out.pending
                .push_front_raw(payload.slice(n.saturating_sub(head.len())..));
            out.pending
                .push_front_raw(Bytes::copy_from_slice(head_rest));
        }
        let images = out.images.as_ref().is_some_and(|l| !l.is_empty());
        if !out.pending.is_empty() || images || out.ack.is_some() {
            self.wake_loop(out);
        }
        Ok(target)
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
        if out.closed {
            return Err(ErrorKind::NotConnected.into());
        }
        out.pushed += batch.len() as u64;
        out.pending.append(batch);
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
            if out.closed {
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
            if out.closed {
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
        if out.caller_writing {
            // A stale wake-up while a caller owns the write side (the loop's
            // `inflight` is empty then); the caller hands over when done.
            out.loop_writing = false;
            return false;
        }
        // Whether an image writer may go on: a waiting place freed, or a
        // locked image's last chunk taken.
        let mut images_moved = false;
        if inflight.is_empty() {
            std::mem::swap(&mut out.pending, inflight);
            let window = out.window_now(!inflight.is_empty());
            if let Some(ack) = out.ack.take() {
                out.pushed += ack.len() as u64;
                inflight.push_raw(ack);
            }
            // Then image chunks, behind whatever else was pending, up to a
            // burst, while the peer has acknowledged enough of the earlier ones.
            // A control frame queued meanwhile waits for this burst at most.
            while inflight.len() < IMAGE_BURST && out.image_sent - out.image_acked < window {
                let Some(chunk) = out.images.as_mut().and_then(|l| l.next_chunk(inflight)) else {
                    break;
                };
                images_moved |= chunk.started || chunk.finished.is_some();
                out.image_sent += chunk.payload as u64;
                out.pushed += chunk.bytes as u64;
                let Some(ticket) = chunk.finished else {
                    continue;
                };
                match out.tickets_abandoned.iter().position(|&t| t == ticket) {
                    Some(i) => {
                        out.tickets_abandoned.swap_remove(i);
                    }
                    None => {
                        let target = out.pushed;
                        out.images_done.push((ticket, target));
                    }
                }
            }
        }
        out.inflight = inflight.len();
        let busy = !inflight.is_empty();
        out.loop_writing = busy;
        let image_written = out.images_done.iter().any(|&(_, end)| end <= out.written);
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

    /// Records the peer's acknowledgement of `total` image payload bytes (on
    /// the loop thread) and wakes the loop if images wait for the window.
    pub(crate) fn ack_images(&self, total: u64) {
        let mut out = self.out.lock();
        // Never more than was sent: a lying peer cannot open the window wider.
        out.image_acked = total.clamp(out.image_acked, out.image_sent);
        if out.images.as_ref().is_some_and(|l| !l.is_empty()) {
            self.wake_loop(out);
        }
    }

    /// Counts a write to this peer that was given up (shown as `dropped`).
    pub(crate) fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether a locked write or flush is waiting for bytes to be written.
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::Acquire) > 0
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
    pub(crate) fn reopen(&self, stream: TcpStream, id: ClientId, now: Instant) {
        self.id.store(id.0, Ordering::Relaxed);
        self.touch(now);
        let mut out = self.out.lock();
        out.closed = false;
        out.reconnecting = false;
        out.stream = Some(Arc::new(stream));
        out.loop_writing = false;
        out.pending = Outbox::new();
        out.written = out.pushed;
        (out.image_sent, out.image_acked) = (0, 0);
        drop(out);
        self.connected.store(true, Ordering::Release);
        self.written_cv.notify_all();
    }

    fn shut(&self, reconnecting: bool) {
        self.connected.store(false, Ordering::Release);
        let mut out = self.out.lock();
        out.closed = true;
        out.reconnecting = reconnecting;
        out.pending = Outbox::new();
        out.inflight = 0;
        out.generation += 1;
        out.ack = None;
        if let Some(lane) = &mut out.images {
            lane.clear();
        }
        // Locked images written whole before the close still count as sent;
        // the waiters of the rest learn that theirs were dropped.
        let written = out.written;
        out.images_done.retain(|&(_, target)| target <= written);
        out.tickets_lost_below = out.next_ticket;
        out.tickets_abandoned.clear();
        let stream = out.stream.take();
        drop(out);
        self.written_cv.notify_all();
        // The loop's handle and this one share the socket: shut it down so the
        // peer sees the close, and drop this descriptor.
        if let Some(stream) = stream {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// Writes `head` then `payload` until done or the socket would block; returns
/// the bytes written and the error that stopped it, if any.
fn write_direct(stream: &TcpStream, head: &[u8], payload: &[u8]) -> (usize, Option<io::Error>) {
    let total = head.len() + payload.len();
    let mut done = 0;
    while done < total {
        let slices = [
            IoSlice::new(head.get(done..).unwrap_or_default()),
            IoSlice::new(
                payload
                    .get(done.saturating_sub(head.len())..)
                    .unwrap_or_default(),
            ),
        ];
        match (&*stream).write_vectored(&slices) {
            Ok(0) => return (done, Some(io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_window_halves_while_frames_flow() {
        let ms = Duration::from_millis;
        let cases = [
            (1 << 20, None, 1 << 20),
            (1 << 20, Some(ms(0)), 1 << 19),
            (1 << 20, Some(FRAMES_LINGER - ms(1)), 1 << 19),
            (1 << 20, Some(FRAMES_LINGER), 1 << 20),
            (1 << 20, Some(ms(10_000)), 1 << 20),
            // Never shut: a window of one byte stays one byte.
            (1, Some(ms(0)), 1),
        ];
        for (full, since, want) in cases {
            assert_eq!(image_window(full, since), want, "{full} {since:?}");
        }
    }
}
