//! The image sender's side of shared memory on a peer: its segment's offer,
//! the answer, images copied into slots, and the receiver's releases
//! (design: `docs/ARCHITECTURE.md`, "Shared-memory images"; wire: the
//! protocol's "Shared-memory images").

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};

use super::Peer;
use super::out::OutState;
use crate::protocol::{
    DecodeError, Header, Kind, MAX_RELEASES, OP_SHM_IMAGE, OP_SHM_OFFER, OP_SHM_RELEASE,
    SHM_CHANNEL, ShmAnswer, ShmImage, ShmStatus, Slots, encode_release,
};
use crate::shm::Segment;
use crate::time::deadline;
use crate::{Error, ErrorKind, Result, SharedMemoryStats};

/// Where a peer's images stand with shared memory.
#[derive(Default)]
pub(super) enum ShmOut {
    /// Images go over the socket: not offered (setting off, a peer not on
    /// loopback, no segment), declined, or not answered in time.
    #[default]
    Off,
    /// The segment is offered; images go over the socket until the answer,
    /// which is awaited until the deadline (`None`: for ever).
    Offered(Segment, Option<Instant>),
    /// The receiver mapped the segment: images go through its slots. The
    /// segment has a lock of its own, so a writer copies an image into the
    /// slot it took without holding the peer's.
    Mapped(Arc<Mutex<Segment>>, Slots),
}

impl std::fmt::Debug for ShmOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShmOut::Off => f.write_str("Off"),
            ShmOut::Offered(_, deadline) => write!(f, "Offered(until {deadline:?})"),
            ShmOut::Mapped(_, slots) => write!(f, "Mapped({} slots in use)", slots.slots()),
        }
    }
}

/// A peer's shared-memory counters, for the stats: written under the
/// peer's lock, read without it.
#[derive(Debug, Default)]
pub(super) struct ShmCounters {
    /// Images sent through the segment.
    sent: AtomicU64,
    /// Unlocked images dropped for want of a free slot.
    full: AtomicU64,
    /// Segments that could not be made, were declined or not answered.
    fallbacks: AtomicU64,
    /// Of the fallbacks, offers not answered by their deadline.
    unanswered: AtomicU64,
}

/// What [`Peer::try_shm`] did with an image.
pub(super) enum ShmTry {
    /// Not for shared memory (none mapped, routed, larger than the segment,
    /// or the connection ended while it was copied): send it over the
    /// socket.
    Socket,
    /// Copied into a slot and its frame queued.
    Sent,
    /// No slot free now.
    Full,
}

/// The release frames for `offsets` (the receiver's, coalesced while they
/// waited for the loop's next write): [`MAX_RELEASES`] offsets a frame.
pub(super) fn release_frames(offsets: &[u64]) -> impl Iterator<Item = Bytes> + '_ {
    let header = Header::new(Kind::Control { op: OP_SHM_RELEASE }, SHM_CHANNEL);
    offsets.chunks(MAX_RELEASES).filter_map(move |chunk| {
        // 1 to MAX_RELEASES offsets: always encodes.
        let payload = encode_release(chunk).ok()?;
        header.to_bytes(&payload).ok()
    })
}

impl Peer {
    /// Offers a new segment of `len` bytes to the peer (on the loop, right
    /// after the welcome), its answer awaited until `deadline`. A segment
    /// that cannot be made leaves images on the socket, counted as a
    /// fallback. Returns whether the offer went.
    pub(crate) fn offer_shm(&self, len: usize, deadline: Option<Instant>) -> bool {
        let mut out = self.out.lock();
        let segment = match Segment::create(len) {
            Ok(segment) => segment,
            Err(_) => {
                self.shm.fallbacks.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        };
        let header = Header::new(Kind::Control { op: OP_SHM_OFFER }, SHM_CHANNEL);
        let offer = segment.offer().encode();
        out.pushed += out.pending.push_valid(&header, offer) as u64;
        out.shm = ShmOut::Offered(segment, deadline);
        self.wake_loop(out);
        true
    }

    /// Withdraws the offer if its deadline is past at `now`: its name goes
    /// from `/dev/shm`, images stay on the socket, counted as a fallback
    /// and as unanswered (an answer that comes later changes nothing).
    /// Returns the deadline of an offer still awaited.
    pub(crate) fn expire_shm_offer(&self, now: Instant) -> Option<Instant> {
        let mut out = self.out.lock();
        let ShmOut::Offered(_, Some(deadline)) = out.shm else {
            return None;
        };
        if deadline > now {
            return Some(deadline);
        }
        // Dropping the segment removes its name.
        out.shm = ShmOut::Off;
        drop(out);
        self.shm.fallbacks.fetch_add(1, Ordering::Relaxed);
        self.shm.unanswered.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// The receiver's answer to the offer: the name goes either way; a
    /// mapped segment takes images from now on. An answer about another
    /// segment, or to an offer withdrawn, changes nothing.
    pub(crate) fn shm_answered(&self, answer: &ShmAnswer) {
        let mut out = self.out.lock();
        let ShmOut::Offered(segment, deadline) = std::mem::take(&mut out.shm) else {
            return;
        };
        if segment.offer().name != answer.name {
            out.shm = ShmOut::Offered(segment, deadline);
            return;
        }
        let mut segment = segment;
        // The name is not needed once answered; an error means it is gone.
        let _ = segment.unlink();
        out.shm = match answer.status {
            ShmStatus::Mapped => {
                let slots = Slots::new(segment.len() as u64);
                ShmOut::Mapped(Arc::new(Mutex::new(segment)), slots)
            }
            _ => {
                self.shm.fallbacks.fetch_add(1, Ordering::Relaxed);
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

    /// Sends `image` through the segment if it may go that way: a free slot
    /// taken under the peer's lock (the slot is this writer's alone until
    /// the receiver releases it, which it cannot before the frame), the
    /// image copied into it with the peer's lock let go (6 MB take about a
    /// millisecond, which neither the loop nor the peer's other writers
    /// wait for; only the segment's own lock is held, by writers to this
    /// peer's segment alone), then its frame queued under the lock again
    /// (after what is pending: data this thread wrote before it is read
    /// before it).
    pub(super) fn try_shm(
        &self,
        out: &mut MutexGuard<'_, OutState>,
        header: &Header<'_>,
        image: &Bytes,
    ) -> ShmTry {
        let ShmOut::Mapped(segment, slots) = &mut out.shm else {
            return ShmTry::Socket;
        };
        let Kind::Image(meta) = header.kind else {
            return ShmTry::Socket;
        };
        let room = slots.len();
        if header.route.is_some() || image.len() as u64 > room || image.is_empty() {
            return ShmTry::Socket;
        }
        let Some(offset) = slots.take(image.len() as u64) else {
            return ShmTry::Full;
        };
        let segment = Arc::clone(segment);
        MutexGuard::unlocked(out, || {
            // The slot lies within the segment (the allocator's length is its).
            let _ = segment.lock().write(offset as usize, image);
        });
        // The connection may have ended meanwhile (its slots with it).
        let same = matches!(&out.shm, ShmOut::Mapped(now, _) if Arc::ptr_eq(now, &segment));
        if !same {
            return ShmTry::Socket;
        }
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
        self.shm.sent.fetch_add(1, Ordering::Relaxed);
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
    /// connections, and a later one has another segment. Never waits: the
    /// offset joins those waiting for the loop's next write, which sends
    /// them all in as few frames as fit ([`release_frames`]), so a burst of
    /// drops wakes the loop once and costs 8 bytes an image. They are at
    /// most `most` (the slots the sender's segment can hold: an honest
    /// sender has no more out); one past that, from a sender that pointed
    /// more images at its segment than it has slots, is dropped and
    /// counted.
    pub(crate) fn queue_release(&self, serial: u64, offset: u64, most: usize) {
        let mut out = self.out.lock();
        if out.serial != serial || !out.is_open() {
            return;
        }
        if out.urgent.releases.len() >= most {
            drop(out);
            return self.count_drop();
        }
        out.urgent.releases.push(offset);
        out.cover();
        self.wake_loop(out);
    }

    /// Counts an unlocked image dropped for want of a free slot.
    pub(super) fn count_shm_full(&self) {
        self.shm.full.fetch_add(1, Ordering::Relaxed);
    }

    /// This peer's part of the handle's [`SharedMemoryStats`].
    pub(crate) fn shm_stats(&self) -> SharedMemoryStats {
        let count = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mapped = matches!(self.out.lock().shm, ShmOut::Mapped(..));
        SharedMemoryStats {
            sent: count(&self.shm.sent),
            full: count(&self.shm.full),
            fallbacks: count(&self.shm.fallbacks),
            unanswered: count(&self.shm.unanswered),
            mapped: usize::from(mapped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Decoded, Decoder, decode_release};

    #[test]
    fn releases_waiting_together_go_in_as_few_frames_as_fit() {
        let offsets: Vec<u64> = (0..1000).map(|i| i * 64).collect();
        let mut wire = bytes::BytesMut::new();
        release_frames(&offsets).for_each(|frame| wire.extend_from_slice(&frame));
        let mut decoder = Decoder::new(1 << 20);
        let mut frames = Vec::new();
        while let Ok(Decoded::Frame(frame)) = decoder.step(&mut wire, None) {
            assert_eq!(frame.kind, Kind::Control { op: OP_SHM_RELEASE });
            frames.push(decode_release(&frame.payload).expect("a release list"));
        }
        let sizes: Vec<usize> = frames.iter().map(Vec::len).collect();
        assert_eq!(sizes, [MAX_RELEASES, 1000 - MAX_RELEASES]);
        assert_eq!(frames.concat(), offsets);
        assert_eq!(release_frames(&[]).count(), 0);
    }
}
