//! The image lane's side of a peer: unlocked and locked image writes, the
//! wait for a locked image, and the peer's acknowledgements that open the
//! window again.

use std::time::{Duration, Instant};

use bytes::Bytes;

use parking_lot::MutexGuard;

use super::out::{Link, OutState};
#[cfg(unix)]
use super::shm::ShmTry;
use super::{Charged, Peer};
use crate::protocol::{Header, LaneStats, Offer, TicketStatus};
use crate::time::deadline;
use crate::{Error, ErrorKind, Result};

/// A locked image write once started: what its writer waits for, with
/// [`Peer::wait_image`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LockedImage {
    /// Offered to the image lane under this ticket: out once the loop has
    /// taken its last chunk and written it.
    Ticket(u64),
    /// Sent as an ordinary locked frame (chunking off): out once `written`
    /// bytes of the stream are.
    Frame { written: u64 },
}

impl Peer {
    /// Images sent and dropped on `channel` (zero when chunking is off: the
    /// outbox counts those frames as any other).
    pub(crate) fn image_stats(&self, channel: &str) -> LaneStats {
        let out = self.out.lock();
        let lane = out.images.as_ref().and_then(|l| l.stats(channel));
        lane.unwrap_or_default()
    }

    /// Offers an image to the lane without waiting (an unlocked image write):
    /// it replaces the channel's waiting image, if any, and never fails for
    /// lack of room: an image that does not fit the handle's memory, or is
    /// offered to a peer that reads nothing, is dropped and counted, as a
    /// replaced one is. Without a lane, queues it as [`queue`](Self::queue) does.
    pub(crate) fn queue_image(&self, header: &Header<'_>, payload: Bytes) -> Result<()> {
        if !self.image_lane {
            return self.queue(header, payload);
        }
        let out = self.out.lock();
        if !out.is_open() {
            return Err(Error::new(ErrorKind::NotConnected).with_payload(payload));
        }
        if self.shm_or_socket(out, header, &payload).is_ok() {
            return Ok(());
        }
        let image = Charged::new(&self.memory, &payload);
        self.offer_to_lane(header, image.as_ref(), false);
        Ok(())
    }

    /// Offers an image charged to the handle's memory once for all its
    /// receivers (a relayed frame, a write to several), as
    /// [`queue_image`](Self::queue_image) does; `None`, an image that did not
    /// fit, is counted as dropped. Returns whether the lane took it (a
    /// replaced or refused one is counted there). Without a lane, or closed,
    /// it does nothing.
    pub(crate) fn offer_image(&self, header: &Header<'_>, image: Option<&Charged>) -> bool {
        self.offer_to_lane(header, image, true)
    }

    /// [`offer_image`](Self::offer_image), through shared memory first if
    /// `shm` (not when the caller just tried).
    fn offer_to_lane(&self, header: &Header<'_>, image: Option<&Charged>, shm: bool) -> bool {
        let mut out = self.out.lock();
        if !out.is_open() {
            return false;
        }
        let image = image.filter(|_| out.takes_images());
        if let Some(image) = image.filter(|_| shm) {
            let serial = out.serial;
            out = match self.shm_or_socket(out, header, &image.bytes()) {
                Ok(()) => return true,
                Err(out) => out,
            };
            // The lock was let go (a copy into a slot, a segment's thread
            // started): the connection may have ended, or another begun,
            // meanwhile; its lane is not this image's.
            if out.serial != serial || !out.is_open() {
                return false;
            }
        }
        let Some(lane) = &mut out.images else {
            return false;
        };
        let offered = image.is_some();
        match image {
            Some(image) => drop(lane.offer(header, image.bytes(), None)),
            None => lane.count_dropped(header.channel),
        }
        self.wake_loop(out);
        offered
    }

    /// Sends an unlocked image through shared memory when it may go that
    /// way: `Ok` when sent, else the lock back for the socket's path (no
    /// slot free included: the lane then keeps the newest image, as for a
    /// full window).
    fn shm_or_socket<'a>(
        &self,
        mut out: MutexGuard<'a, OutState>,
        header: &Header<'_>,
        image: &Bytes,
    ) -> std::result::Result<(), MutexGuard<'a, OutState>> {
        #[cfg(unix)]
        match self.try_shm(&mut out, header, image) {
            ShmTry::Socket => {}
            ShmTry::Sent => {
                self.wake_loop(out);
                return Ok(());
            }
        }
        #[cfg(not(unix))]
        let _ = (header, image, &mut out);
        Err(out)
    }

    /// Offers a locked image: waits, up to `timeout`, for the channel's waiting
    /// place (a locked image is never replaced), for room in the handle's
    /// memory and, for a peer that reads nothing, until it reads again; then
    /// returns its ticket. `charged`: the payload charged already, once for
    /// several peers. Without a lane, writes it as a locked frame (see
    /// [`start_locked`](Self::start_locked)). Either way, the writer then
    /// waits with [`wait_image`](Self::wait_image).
    pub(crate) fn start_image_locked(
        &self,
        header: &Header<'_>,
        payload: Bytes,
        charged: Option<&Charged>,
        timeout: Duration,
    ) -> Result<LockedImage> {
        if !self.image_lane {
            let written = self.start_locked(header, payload, timeout)?;
            return Ok(LockedImage::Frame { written });
        }
        #[cfg(unix)]
        if let Some(written) = self.shm_locked(header, &payload) {
            return Ok(LockedImage::Frame { written });
        }
        let deadline = deadline(timeout);
        // Charged once (by the caller, for several peers), or on the first
        // try with room.
        let mut image = charged.cloned();
        let mut out = self.out.lock();
        loop {
            match out.link {
                Link::Closed => {
                    return Err(Error::new(ErrorKind::NotConnected).with_payload(payload));
                }
                // Wait for `reopen` (which signals the condvar).
                Link::Reconnecting => {}
                Link::Open { .. } if out.takes_images() => {
                    // Without room in the memory, wait for some.
                    if image.is_none() {
                        image = Charged::new(&self.memory, &payload);
                    }
                    let ticket = out.flow.next_ticket();
                    if let (Some(lane), Some(charged)) = (&mut out.images, &image) {
                        match lane.offer(header, charged.bytes(), Some(ticket)) {
                            Offer::Busy(_) => {}
                            Offer::Queued | Offer::Replaced(_) => {
                                out.flow.issue_ticket();
                                self.wake_loop(out);
                                return Ok(LockedImage::Ticket(ticket));
                            }
                        }
                    }
                }
                // Wait until it reads again.
                Link::Open { .. } => {}
            }
            if self.wait_uncounted(&mut out, deadline) {
                let timed_out = Error::new(ErrorKind::TimedOut(timeout));
                return Err(timed_out.with_payload(payload));
            }
        }
    }

    /// Waits until the locked image `started` has been handed to the kernel.
    pub(crate) fn wait_image(&self, started: LockedImage, timeout: Duration) -> Result<()> {
        match started {
            LockedImage::Ticket(ticket) => self.wait_ticket(ticket, timeout),
            LockedImage::Frame { written } => self.wait_written(written, timeout),
        }
    }

    /// Waits until the locked image with `ticket` has been handed to the
    /// kernel; gives the ticket up when it times out.
    fn wait_ticket(&self, ticket: u64, timeout: Duration) -> Result<()> {
        let deadline = deadline(timeout);
        let mut out = self.out.lock();
        loop {
            let written = out.written;
            match out.flow.poll_ticket(ticket, written) {
                TicketStatus::Written => return Ok(()),
                // Dropped with the connection it was queued on.
                TicketStatus::Lost => return Err(ErrorKind::NotConnected.into()),
                TicketStatus::Pending => {}
            }
            if let Link::Closed = out.link {
                return Err(ErrorKind::NotConnected.into());
            }
            if self.wait_uncounted(&mut out, deadline) {
                out.flow.abandon(ticket);
                return Err(ErrorKind::TimedOut(timeout).into());
            }
        }
    }

    /// Records the peer's acknowledgement of `total` image payload bytes,
    /// read at `now` (on the loop thread), and wakes the loop if images wait
    /// for the window.
    pub(crate) fn ack_images(&self, total: u64, now: Instant) {
        let now = now.saturating_duration_since(self.epoch);
        let mut out = self.out.lock();
        out.flow.ack(total, now);
        if out.images_waiting() {
            self.wake_loop(out);
        }
    }
}
