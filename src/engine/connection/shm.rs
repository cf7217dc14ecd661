//! Shared-memory operations on an open connection: the peer's offer (this
//! end maps its segment and answers), its answer to ours, its releases of
//! our slots, and its images in its segment, stored as any image is (wire:
//! the protocol's "Shared-memory images").

use std::sync::Arc;
use std::time::Instant;

use super::Open;
use crate::Result;
use crate::engine::image_rx::Finished;
use crate::engine::{Peer, Shared};
use crate::image::Image;
use crate::protocol::{
    DecodeError, Frame, Header, Kind, OP_SHM_ANSWER, OP_SHM_IMAGE, OP_SHM_OFFER, OP_SHM_RELEASE,
    SHM_CHANNEL, SLOT_ALIGN, ShmAnswer, ShmImage, ShmOffer, ShmStatus, decode_release,
};
use crate::shm::{Mapped, Release};

/// The peer's segment as this end mapped it, and what its images call when
/// dropped.
pub(super) struct ShmIn {
    mapped: Arc<Mapped>,
    release: Release,
}

impl std::fmt::Debug for ShmIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShmIn({} bytes)", self.mapped.len())
    }
}

impl Open {
    /// One shared-memory operation (`frame` is a control frame of one).
    pub(super) fn on_shm(&mut self, frame: Frame, shared: &Shared, now: Instant) -> Result<()> {
        let Kind::Control { op } = frame.kind else {
            return Ok(());
        };
        match op {
            OP_SHM_OFFER => self.on_offer(&frame, shared),
            OP_SHM_ANSWER => {
                self.peer.shm_answered(&ShmAnswer::decode(&frame.payload)?);
                Ok(())
            }
            OP_SHM_RELEASE => Ok(self.peer.shm_released(&decode_release(&frame.payload)?)?),
            OP_SHM_IMAGE => self.on_shm_image(frame, shared, now),
            _ => Ok(()),
        }
    }

    /// Maps the peer's segment if this end may, and answers. An offer of
    /// another version is dropped unanswered, as an older peer drops it; a
    /// second offer on the connection is [`DecodeError::BadShm`] (its
    /// releases could not tell the segments apart). A segment refused
    /// ([`Mapped::open`]'s checks) is answered unavailable and counted.
    fn on_offer(&mut self, frame: &Frame, shared: &Shared) -> Result<()> {
        let Some(offer) = ShmOffer::decode(&frame.payload)? else {
            return Ok(());
        };
        if std::mem::replace(&mut self.shm_offered, true) {
            return Err(DecodeError::BadShm("a second offer").into());
        }
        let status = match () {
            _ if !shared.config.shm_images => ShmStatus::Off,
            _ if !self.peer.addr().ip().to_canonical().is_loopback() => ShmStatus::NotLocal,
            _ => match Mapped::open(&offer, &shared.shm_mapped_budget) {
                Ok(mapped) => {
                    self.shm_in = Some(ShmIn {
                        release: releaser(Arc::clone(&self.peer), &mapped),
                        mapped,
                    });
                    ShmStatus::Mapped
                }
                Err(_) => {
                    self.peer.count_shm_refused();
                    ShmStatus::Unavailable
                }
            },
        };
        let answer = ShmAnswer {
            status,
            name: offer.name,
        };
        let header = Header::new(Kind::Control { op: OP_SHM_ANSWER }, SHM_CHANNEL);
        self.peer.queue_control(header.to_bytes(&answer.encode())?);
        Ok(())
    }

    /// An image in the peer's segment: stored as a received image is, its
    /// bytes in place.
    fn on_shm_image(&mut self, frame: Frame, shared: &Shared, now: Instant) -> Result<()> {
        let Some(shm) = &self.shm_in else {
            return Err(DecodeError::BadShm("image without a mapped segment").into());
        };
        if frame.route.is_some() {
            return Err(DecodeError::BadShm("a routed image").into());
        }
        let image = ShmImage::decode(&frame.payload)?;
        Image::check_meta(&image.meta)?;
        // Checked against the mapping before anything is kept; dropped at
        // once (released) if this peer may not publish on the channel.
        let data = shm.mapped.view(&image, Arc::clone(&shm.release))?;
        if !self.permits_publishing(&frame.channel) {
            return Ok(());
        }
        let finished = Finished {
            from: self.sender(&frame),
            channel: frame.channel,
            meta: image.meta,
            data,
            skipped: 0,
            route: None,
            mirror: false,
            sent_at: image.sent_at,
        };
        self.store_shared_image(finished, shared, now)
    }
}

/// What this connection's images from the peer's segment (`mapped`) call
/// when their last clone drops: a release to the peer, queued from whatever
/// thread drops it (it never waits; coalesced with the others waiting for
/// the loop's next write, at most one per slot the segment holds), on this
/// connection only: a client's peer outlives its connections, and a later
/// one has another segment.
fn releaser(peer: Arc<Peer>, mapped: &Mapped) -> Release {
    let serial = peer.serial();
    let most = usize::try_from(mapped.len() / SLOT_ALIGN).unwrap_or(usize::MAX);
    Arc::new(move |offset| peer.queue_release(serial, offset, most))
}
