//! The image sender's side of shared memory on a peer: its segment's offer,
//! the answer, images copied into slots, and the receiver's releases
//! (design: `docs/ARCHITECTURE.md`, "Shared-memory images"; wire: the
//! protocol's "Shared-memory images").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};

use super::Peer;
use super::out::OutState;
use crate::SharedMemoryStats;
use crate::protocol::{
    DecodeError, Header, Kind, MAX_RELEASES, OP_SHM_IMAGE, OP_SHM_OFFER, OP_SHM_RELEASE,
    SHM_CHANNEL, ShmAnswer, ShmImage, ShmStatus, Slots, encode_release,
};
use crate::shm::{Budget, CreateError, Segment};

/// Where a peer's images stand with shared memory.
#[derive(Default)]
pub(super) enum ShmOut {
    /// Images go over the socket: not offered (setting off, a peer not on
    /// loopback, no segment), declined, or not answered in time.
    #[default]
    Off,
    /// A segment may be offered: it is, at this end's first image for the
    /// peer (which goes over the socket meanwhile), so a peer that gets no
    /// images (a control loop, a viewer's own connection back) holds no
    /// memory of this handle's.
    Ready(ShmReady),
    /// The first image came: the segment is being made on a thread of its
    /// own, then offered.
    Making,
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
            ShmOut::Ready(ready) => write!(f, "Ready(after {:?})", ready.after),
            ShmOut::Making => f.write_str("Making"),
            ShmOut::Offered(_, deadline) => write!(f, "Offered(until {deadline:?})"),
            ShmOut::Mapped(_, slots) => write!(f, "Mapped({} slots in use)", slots.slots()),
        }
    }
}

/// What a segment offered to a peer will be, and where its offer is
/// accounted: the handle's settings and budget, shared by its peers.
#[derive(Debug)]
pub(crate) struct ShmPlan {
    /// The segment's length in bytes (`shared_memory_segment`).
    pub(crate) len: usize,
    /// How long the peer's answer is awaited (`shared_memory_answer_timeout`).
    pub(crate) timeout: Duration,
    /// The earliest deadline of the offers made since the loop last looked.
    pub(crate) due: Arc<Mutex<Option<Instant>>>,
    /// The bytes of the segments this handle makes (`shared_memory_limit`).
    pub(crate) budget: Arc<Budget>,
}

/// A peer that may be offered a segment ([`ShmOut::Ready`]).
pub(super) struct ShmReady {
    plan: Arc<ShmPlan>,
    /// The peer itself, weakly, for the thread that makes the segment.
    peer: Weak<Peer>,
    /// `None`: not tried on this connection. `Some(n)`: a segment found no
    /// room in the handle's limit when its budget had given back `n`
    /// charges; tried again at the first image after it gave back another
    /// (a peer's connection ended, a segment made for a connection that
    /// ended meanwhile was dropped) and the room is there, and never
    /// counted as a fallback twice.
    after: Option<u64>,
}

impl ShmReady {
    /// Whether an image now may start making the segment (no thread is
    /// started for a segment sure to find no room).
    fn due(&self) -> bool {
        let budget = &self.plan.budget;
        self.after
            .is_none_or(|seen| budget.releases() != seen && budget.has_room(self.plan.len))
    }
}

/// A peer's shared-memory counters, for the stats: written under the
/// peer's lock, read without it.
#[derive(Debug, Default)]
pub(super) struct ShmCounters {
    /// Images sent through the segment.
    sent: AtomicU64,
    /// Images sent over the socket for want of a free slot, or behind one
    /// of their channel still in the lane.
    full: AtomicU64,
    /// Segments that could not be made, were declined or not answered.
    fallbacks: AtomicU64,
    /// Of the fallbacks, offers not answered by their deadline.
    unanswered: AtomicU64,
    /// The peer's offers this end refused: out of reach, not a sealed
    /// memory file, too short, or not the segment offered.
    refused: AtomicU64,
}

/// What [`Peer::try_shm`] did with an image.
pub(super) enum ShmTry {
    /// Not for shared memory (none mapped, routed, larger than the segment,
    /// no slot free (counted), an image of its channel still in the lane,
    /// or the connection ended while it was copied): send it over the
    /// socket, where the lane keeps the newest.
    Socket,
    /// Copied into a slot and its frame queued.
    Sent,
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
    /// Lets this end offer the peer a segment (called on the loop, right
    /// after the welcome, for a peer on loopback): it is made and offered
    /// at the first image written to the peer ([`start_offer`](Self::start_offer)).
    pub(crate) fn allow_shm(self: &Arc<Self>, plan: &Arc<ShmPlan>) {
        let mut out = self.out.lock();
        if out.is_open() && matches!(out.shm, ShmOut::Off) {
            out.shm = ShmOut::Ready(ShmReady {
                plan: Arc::clone(plan),
                peer: Arc::downgrade(self),
                after: None,
            });
        }
    }

    /// The first image for the peer came: makes the segment on a thread
    /// of its own, since reserving its pages takes milliseconds (about 14
    /// for 64 MiB), which neither the loop nor this peer's writers wait for
    /// (images go over the socket meanwhile; on the loop, which relays
    /// images, only the thread's start). Once made, the offer is queued
    /// and its answer awaited for the plan's timeout, the deadline noted
    /// for the loop, which is woken. A segment that cannot be made leaves
    /// images on the socket, counted as a fallback (once a connection):
    /// for want of room in the handle's limit, until room comes back
    /// ([`ShmReady::after`]); refused by the system (no memory for its
    /// pages, no memory files), or a thread that cannot start, for the
    /// connection's life, so no image retries a reservation the system
    /// just refused. One made after the connection ended is dropped.
    fn start_offer(&self, out: &mut MutexGuard<'_, OutState>) {
        let ShmOut::Ready(ready) = std::mem::replace(&mut out.shm, ShmOut::Making) else {
            return;
        };
        let Some(peer) = ready.peer.upgrade() else {
            // The peer is going (its caller held the last reference).
            out.shm = ShmOut::Off;
            return;
        };
        let (serial, retry) = (out.serial, ready.after.is_some());
        let plan = ready.plan;
        let started = MutexGuard::unlocked(out, || {
            std::thread::Builder::new()
                .name("socketengine-shm".into())
                .spawn(move || {
                    if peer.out.lock().serial != serial {
                        return; // The connection ended: nothing to make.
                    }
                    let seen = plan.budget.releases();
                    match Segment::create(plan.len, &plan.budget) {
                        Ok(segment) => peer.make_offer(serial, segment, plan.timeout, &plan.due),
                        Err(err) => peer.offer_failed(serial, &err, seen, retry, plan),
                    }
                })
        });
        if started.is_err() && out.serial == serial && matches!(out.shm, ShmOut::Making) {
            out.shm = ShmOut::Off;
            if !retry {
                self.shm.fallbacks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// [`start_offer`](Self::start_offer)'s thread, no segment made: for
    /// want of room in the handle's limit, the peer is ready again once the
    /// budget gives back a charge after the `seen`th; refused by the
    /// system, images stay on the socket. Counted as a fallback unless this
    /// was a `retry`, and only while the connection lasts.
    fn offer_failed(
        self: &Arc<Self>,
        serial: u64,
        err: &CreateError,
        seen: u64,
        retry: bool,
        plan: Arc<ShmPlan>,
    ) {
        let mut out = self.out.lock();
        if out.serial != serial || !matches!(out.shm, ShmOut::Making) {
            return;
        }
        out.shm = match err {
            CreateError::NoRoom => ShmOut::Ready(ShmReady {
                plan,
                peer: Arc::downgrade(self),
                after: Some(seen),
            }),
            CreateError::System => ShmOut::Off,
        };
        if !retry {
            self.shm.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// [`start_offer`](Self::start_offer)'s thread, the segment made:
    /// offers it on connection `serial`, if still open.
    fn make_offer(
        &self,
        serial: u64,
        segment: Segment,
        timeout: Duration,
        due: &Mutex<Option<Instant>>,
    ) {
        let mut out = self.out.lock();
        if out.serial != serial || !out.is_open() || !matches!(out.shm, ShmOut::Making) {
            return;
        }
        let deadline = Instant::now().checked_add(timeout);
        let header = Header::new(Kind::Control { op: OP_SHM_OFFER }, SHM_CHANNEL);
        let offer = segment.offer().encode();
        out.pushed += out.pending.push_valid(&header, offer) as u64;
        out.shm = ShmOut::Offered(segment, deadline);
        if let Some(deadline) = deadline {
            let mut due = due.lock();
            *due = [*due, Some(deadline)].into_iter().flatten().min();
        }
        self.wake_loop(out);
    }

    /// Withdraws the offer if its deadline is past at `now`: its file is
    /// closed (the peer can no longer open it), images stay on the socket, counted as a fallback
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
        // Dropping the segment closes its file and unmaps it.
        out.shm = ShmOut::Off;
        drop(out);
        self.shm.fallbacks.fetch_add(1, Ordering::Relaxed);
        self.shm.unanswered.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// The receiver's answer to the offer: a mapped segment takes images
    /// from now on (its file kept open for the connection's life), another
    /// answer closes it. An answer about another segment, or to an offer
    /// withdrawn, changes nothing.
    pub(crate) fn shm_answered(&self, answer: &ShmAnswer) {
        let mut out = self.out.lock();
        let ShmOut::Offered(segment, deadline) = std::mem::take(&mut out.shm) else {
            return;
        };
        if segment.offer().name != answer.name {
            out.shm = ShmOut::Offered(segment, deadline);
            return;
        }
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
    /// are free again for the next images.
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
        Ok(())
    }

    /// Sends `image` through the segment if it may go that way (else, and
    /// when no slot is free, counted, it goes over the socket, so the lane
    /// keeps the newest of its channel and a locked image never waits for a
    /// slot; and while an image of its channel is in the lane, so none
    /// overtakes it): a free slot
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
        let Kind::Image(meta) = header.kind else {
            return ShmTry::Socket;
        };
        let room = match &out.shm {
            ShmOut::Mapped(_, slots) => slots.len(),
            ShmOut::Ready(ready) if ready.due() => ready.plan.len as u64,
            ShmOut::Ready(_) | ShmOut::Off | ShmOut::Offered(..) | ShmOut::Making => {
                return ShmTry::Socket;
            }
        };
        if header.route.is_some() || image.len() as u64 > room || image.is_empty() {
            return ShmTry::Socket;
        }
        if matches!(out.shm, ShmOut::Ready(..)) {
            // The first image that could go through a segment: it goes over
            // the socket while the segment is made and offered.
            self.start_offer(out);
            return ShmTry::Socket;
        }
        if out
            .images
            .as_ref()
            .is_some_and(|lane| lane.is_busy(header.channel))
        {
            self.shm.full.fetch_add(1, Ordering::Relaxed);
            return ShmTry::Socket;
        }
        let ShmOut::Mapped(segment, slots) = &mut out.shm else {
            return ShmTry::Socket;
        };
        let Some(offset) = slots.take(image.len() as u64) else {
            self.shm.full.fetch_add(1, Ordering::Relaxed);
            return ShmTry::Socket;
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

    /// A locked image through the segment: `None` if it goes over the
    /// socket instead (no slot free included: it never waits for one), else
    /// the byte count its frame is out at.
    pub(super) fn shm_locked(&self, header: &Header<'_>, image: &Bytes) -> Option<u64> {
        let mut out = self.out.lock();
        match self.try_shm(&mut out, header, image) {
            ShmTry::Socket => None,
            ShmTry::Sent => {
                let target = out.pushed;
                self.wake_loop(out);
                Some(target)
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

    /// Counts an offer of the peer's this end refused.
    pub(crate) fn count_shm_refused(&self) {
        self.shm.refused.fetch_add(1, Ordering::Relaxed);
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
            refused: count(&self.shm.refused),
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
