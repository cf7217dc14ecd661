//! The loop's side of shared-memory offers (design: `docs/ARCHITECTURE.md`,
//! "Shared-memory images"): each allowed right after the welcome and made
//! at the first image for the peer (on a thread of its own), with a
//! deadline for the peer's answer from when it is offered; one unanswered by then is withdrawn (its
//! file closed, images on the socket, counted), so a peer that never
//! answers (an older build, a broken one) holds no memory of ours for the
//! rest of its connection.

use std::sync::Arc;
use std::time::Instant;

use super::Peer;
use super::connection::{Conn, State};
use super::event_loop::EventLoop;

impl EventLoop {
    /// Lets this end offer `peer` a segment for its images, if this handle
    /// has shared-memory images on and the peer is on a loopback address:
    /// made off the loop at the first image for the peer
    /// ([`Peer::allow_shm`]), its expiry timed once offered
    /// ([`take_shm_offers_due`](Self::take_shm_offers_due)).
    pub(super) fn offer_shm(&mut self, peer: &Arc<Peer>) {
        let config = &self.shared.config;
        // An IPv4 peer of a dual-stack listener shows as `::ffff:127.0.0.1`.
        // A segment of no bytes would hold no image: none is offered (the
        // peer's own offer is still answered).
        let local = peer.addr().ip().to_canonical().is_loopback();
        if !config.shm_images || config.shm_segment == 0 || !local {
            return;
        }
        peer.allow_shm(&self.shared.shm_plan);
    }

    /// Times the expiry of the offers made since the last look (each turn).
    pub(super) fn take_shm_offers_due(&mut self) {
        let made = self.shared.shm_plan.due.lock().take();
        self.shm_offer_due = [self.shm_offer_due, made].into_iter().flatten().min();
    }

    /// Withdraws the offers past their deadline at `now`; schedules the
    /// next expiry, of the offers still awaited.
    pub(super) fn expire_shm_offers(&mut self, now: Instant) {
        let open = self.conns.iter().flatten().filter_map(|conn| match conn {
            Conn {
                state: State::Open(open),
                ..
            } => Some(open),
            _ => None,
        });
        self.shm_offer_due = open
            .filter_map(|open| open.peer.expire_shm_offer(now))
            .min();
    }
}
