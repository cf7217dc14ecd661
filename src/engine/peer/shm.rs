//! The image sender's side of shared memory on a peer: its segment's offer,
//! the answer, images copied into slots, and the receiver's releases
//! (design: `docs/ARCHITECTURE.md`, "Shared-memory images"; wire: the
//! protocol's "Shared-memory images").

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::Peer;
use super::out::OutState;
use crate::protocol::{
    DecodeError, Header, Kind, OP_SHM_IMAGE, OP_SHM_OFFER, OP_SHM_RELEASE, SHM_CHANNEL, ShmAnswer,
    ShmImage, ShmStatus, Slots, encode_release,
};
use crate::shm::Segment;
use crate::time::deadline;
use crate::{Error, ErrorKind, Result, SharedMemoryStats};

/// Where a peer's images stand with shared memory.
#[derive(Default)]
pub(super) enum ShmOut {
    /// Images go over the socket: not offered (setting off, a peer not on
    /// loopback, no segment), or declined.
    #[default]
    Off,
    /// The segment is offered; images go over the socket until the answer.
    Offered(Segment),
    /// The receiver mapped the segment: images go through its slots.
    Mapped(Segment, Slots),
}

impl std::fmt::Debug for ShmOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShmOut::Off => f.write_str("Off"),
            ShmOut::Offered(_) => f.write_str("Offered"),
            ShmOut::Mapped(_, slots) => write!(f, "Mapped({} slots in use)", slots.slots()),
        }
    }
}

/// What [`Peer::try_shm`] did with an image.
pub(super) enum ShmTry {
    /// Not for shared memory (none mapped, routed, larger than the segment):
    /// send it over the socket.
    Socket,
    /// Copied into a slot and its frame queued.
    Sent,
    /// No slot free now.
    Full,
}

impl Peer {
    /// Offers a new segment of `len` bytes to the peer (on the loop, right
    /// after the welcome). A segment that cannot be made leaves images on
    /// the socket, counted as a fallback.
    pub(crate) fn offer_shm(&self, len: usize) {
        let mut out = self.out.lock();
        let segment = match Segment::create(len) {
            Ok(segment) => segment,
            Err(_) => {
                self.shm_fallbacks.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let header = Header::new(Kind::Control { op: OP_SHM_OFFER }, SHM_CHANNEL);
        let offer = segment.offer().encode();
        out.pushed += out.pending.push_valid(&header, offer) as u64;
        out.shm = ShmOut::Offered(segment);
        self.wake_loop(out);
    }

    /// The receiver's answer to the offer: the name goes either way; a
    /// mapped segment takes images from now on. An answer about another
    /// segment changes nothing.
    pub(crate) fn shm_answered(&self, answer: &ShmAnswer) {
        let mut out = self.out.lock();
        let ShmOut::Offered(segment) = std::mem::take(&mut out.shm) else {
            return;
        };
        if segment.offer().name != answer.name {
            out.shm = ShmOut::Offered(segment);
            return;
        }
        let mut segment = segment;
        // The name is not needed once answered; an error means it is gone.
        let _ = segment.unlink();
        out.shm = match answer.status {
            ShmStatus::Mapped => {
                let slots = Slots::new(segment.len() as u64);
                ShmOut::Mapped(segment, slots)
            }
            _ => {
                self.shm_fallbacks.fetch_add(1, Ordering::Relaxed);
                ShmOut::Off
            }
        };
    }

    /// The receiver no longer holds the images at `offsets`: their slots
    /// are free again, and a locked image waiting for one may go.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadShm`] for an offset that starts no slot in use (or
    /// a release while nothing is mapped).
    pub(crate) fn shm_released(&self, offsets: &[u64]) -> std::result::Result<(), DecodeError> {
        let mut out = self.out.lock();
        let ShmOut::Mapped(_, slots) = &mut out.shm else {
            return Err(DecodeError::BadShm("release without a mapped segment"));
        };
        for &offset in offsets {
            slots
                .release(offset)
                .map_err(|_| DecodeError::BadShm("release of a slot not in use"))?;
        }
        drop(out);
        self.written_cv.notify_all();
        Ok(())
    }

    /// Sends `image` through the segment if it may go that way: copied into
    /// a free slot (under the lock: the slot is this writer's alone), its
    /// frame queued (after what is pending: data written before it is read
    /// before it).
    pub(super) fn try_shm(&self, out: &mut OutState, header: &Header<'_>, image: &Bytes) -> ShmTry {
        let ShmOut::Mapped(segment, slots) = &mut out.shm else {
            return ShmTry::Socket;
        };
        let Kind::Image(meta) = header.kind else {
            return ShmTry::Socket;
        };
        if header.route.is_some() || image.len() > segment.len() || image.is_empty() {
            return ShmTry::Socket;
        }
        let Some(offset) = slots.take(image.len() as u64) else {
            return ShmTry::Full;
        };
        // The slot lies within the segment (the allocator's length is its).
        let _ = segment.write(offset as usize, image);
        let frame = ShmImage {
            meta,
            offset,
            sent_at: header.sent_at,
        };
        let control = Header {
            origin: header.origin,
            ..Header::new(Kind::Control { op: OP_SHM_IMAGE }, header.channel)
        };
        out.pushed += out.pending.push_valid(&control, frame.encode()) as u64;
        if let Some(lane) = &mut out.images {
            lane.count_sent(header.channel);
        }
        self.shm_sent.fetch_add(1, Ordering::Relaxed);
        ShmTry::Sent
    }

    /// A locked image through the segment: waits, up to `timeout`, for a
    /// slot; `None` if the image goes over the socket instead, else the byte
    /// count its frame is out at.
    pub(super) fn shm_locked(
        &self,
        header: &Header<'_>,
        image: &Bytes,
        timeout: Duration,
    ) -> Option<Result<u64>> {
        let deadline = deadline(timeout);
        let mut out = self.out.lock();
        loop {
            match self.try_shm(&mut out, header, image) {
                ShmTry::Socket => return None,
                ShmTry::Sent => {
                    let target = out.pushed;
                    self.wake_loop(out);
                    return Some(Ok(target));
                }
                ShmTry::Full => {}
            }
            if self.wait_uncounted(&mut out, deadline) {
                let timed_out = Error::new(ErrorKind::TimedOut(timeout));
                return Some(Err(timed_out.with_payload(image.clone())));
            }
            if !out.is_open() {
                let gone = Error::new(ErrorKind::NotConnected);
                return Some(Err(gone.with_payload(image.clone())));
            }
        }
    }

    /// Tells the peer, from any thread, that the image at `offset` of its
    /// segment is no longer held here, if the connection `serial` (the one
    /// that mapped it) is still open: a client's peer outlives its
    /// connections, and a later one has another segment. Never waits for
    /// room: past the outbox's budget, as a failure reply is, and beyond
    /// that dropped and counted (the slot stays the sender's until the
    /// connection ends).
    pub(crate) fn queue_release(&self, serial: u64, offset: u64) {
        let header = Header::new(Kind::Control { op: OP_SHM_RELEASE }, SHM_CHANNEL);
        let Ok(payload) = encode_release(&[offset]) else {
            return;
        };
        let mut out = self.out.lock();
        let budget = self.budget + self.budget / 16;
        if out.serial != serial || !out.is_open() {
            return;
        }
        if !out.admit(payload.len(), budget) {
            drop(out);
            return self.count_drop();
        }
        out.pushed += out.pending.push_valid(&header, payload) as u64;
        self.wake_loop(out);
    }

    /// Counts an unlocked image dropped for want of a free slot.
    pub(super) fn count_shm_full(&self) {
        self.shm_full.fetch_add(1, Ordering::Relaxed);
    }

    /// This peer's part of the handle's [`SharedMemoryStats`].
    pub(crate) fn shm_stats(&self) -> SharedMemoryStats {
        let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let mapped = matches!(self.out.lock().shm, ShmOut::Mapped(..));
        SharedMemoryStats {
            sent: count(&self.shm_sent),
            full: count(&self.shm_full),
            fallbacks: count(&self.shm_fallbacks),
            mapped: usize::from(mapped),
        }
    }
}
