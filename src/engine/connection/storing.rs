//! An open connection's storing: data frames and whole images into the
//! store (runs with one lock), a host's relay of what it stores, and the
//! notices to a sender whose messages the host would not keep.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::super::Shared;
use super::super::image_rx::Finished;
use super::super::route::{self, Routed};
use super::Open;
use crate::hub::{self, Side, Verdict};
use crate::protocol::{Encoding, Frame, Kind, Route, Undelivered, sent_at_before};
use crate::store::{Message, NoSlot, Run};
use crate::{ClientId, ErrorKind, Relay, Result};

impl Open {
    /// Stores a run of plain data frames on the current channel, all of
    /// one `encoding`, and all with a send time or none (`stamped`): the
    /// messages are built when read, on the reader's thread.
    pub(super) fn store_run(
        &mut self,
        chunk: Bytes,
        spans: Vec<(u32, u32)>,
        (encoding, stamped): (Encoding, bool),
        shared: &Shared,
        now: Instant,
    ) {
        // The decoder only finds runs on the current channel.
        let Some(slot) = &self.slot else { return };
        if self.relays(shared) {
            let channel = slot.name().as_str();
            for &(start, end) in &spans {
                let payload = chunk.slice(start as usize..end as usize);
                let sent_at = stamped.then(|| sent_at_before(&chunk, start as usize));
                self.relay(shared, channel, Kind::Data, (encoding, sent_at), &payload);
            }
        }
        // Messages decoded one by one before this run go first.
        let mut refused = slot.push_batch(&mut self.batch);
        refused += slot.push_run(Run {
            chunk,
            spans,
            channel: slot.name().clone(),
            from: self.from,
            received: now,
            encoding,
            stamped,
        });
        let slot = Arc::clone(slot);
        self.refused(slot.name().as_str(), refused);
    }

    /// Whether this host relays its clients' unrouted messages.
    pub(super) fn relays(&self, shared: &Shared) -> bool {
        self.side() == Side::Host && shared.config.relay != Relay::Off
    }

    /// A host's relay of a client's unrouted message (of `encoding`, sent
    /// at `sent_at`, both kept on every copy), if it relays.
    pub(super) fn relay(
        &self,
        shared: &Shared,
        channel: &str,
        kind: Kind,
        (encoding, sent_at): (Encoding, Option<u64>),
        payload: &Bytes,
    ) {
        if !self.relays(shared) {
            return;
        }
        let Some((route, mirror)) = hub::relay_route(shared.config.relay) else {
            return;
        };
        // Relayed to everyone, a message is judged as a route to all would be.
        if route == Route::All {
            let policy = shared.config.route_policy.as_ref();
            if let Err(notice) = hub::admit(policy, self.peer.id(), channel, &route) {
                return route::notify(&self.peer, channel, &notice);
            }
        }
        let routed = Routed {
            channel,
            kind,
            payload: payload.clone(),
            route: &route,
            mirror,
            encoding,
            sent_at,
        };
        route::relay(shared, &self.peer, routed);
    }

    /// Stores a frame's payload as a data message on its channel.
    pub(super) fn store_data(&mut self, frame: Frame, shared: &Shared, now: Instant) -> Result<()> {
        let (channel, marks) = (frame.channel_str(), (frame.encoding, frame.sent_at));
        self.relay(shared, channel, Kind::Data, marks, &frame.payload);
        let from = self.sender(&frame);
        let msg = Message::new(frame.channel, frame.payload, from, now)
            .with_encoding(marks.0)
            .with_sent_at(marks.1);
        self.store(msg, shared)
    }

    /// The sender a message is recorded from.
    pub(super) fn sender(&self, frame: &Frame) -> ClientId {
        match (self.trust_origin, frame.origin) {
            (true, Some(origin)) => ClientId(origin),
            _ => self.from,
        }
    }

    /// Queues a message for its channel's slot, storing the previous channel's
    /// messages first when the channel changes. A message on a new channel
    /// the store has no slot for (its sender's quota, or a full store) is
    /// dropped and its sender told.
    pub(super) fn store(&mut self, msg: Message, shared: &Shared) -> Result<()> {
        let same = self
            .slot
            .as_ref()
            .is_some_and(|s| s.name() == msg.channel_name());
        if !same {
            self.store_batch();
            let store = &shared.store;
            // A host holds its clients to their quota of new channels.
            let maker = (self.side() == Side::Host).then(|| msg.from());
            match store.slot_for_peer(msg.channel_name(), maker, msg.received()) {
                Ok(slot) => self.slot = Some(slot),
                Err(no_slot) => {
                    let error = match no_slot {
                        NoSlot::Full { max } => ErrorKind::ChannelLimit { max },
                        NoSlot::Quota { max } => ErrorKind::ChannelQuota { max },
                    };
                    self.refuse(msg.channel(), &error.to_string());
                    return Ok(());
                }
            }
        }
        self.batch.push(msg);
        Ok(())
    }

    pub(super) fn store_image(
        &mut self,
        image: Finished,
        shared: &Shared,
        now: Instant,
    ) -> Result<()> {
        self.store_image_from(image, shared, now, false)
    }

    /// Stores an image in the peer's shared memory as [`store_image`]
    /// does, except that a host relays a copy of its bytes of its own: what
    /// waits for a relay's receivers must not hold the sender's slot.
    ///
    /// [`store_image`]: Self::store_image
    #[cfg(unix)]
    pub(super) fn store_shared_image(
        &mut self,
        image: Finished,
        shared: &Shared,
        now: Instant,
    ) -> Result<()> {
        self.store_image_from(image, shared, now, true)
    }

    fn store_image_from(
        &mut self,
        mut image: Finished,
        shared: &Shared,
        now: Instant,
        in_shared_memory: bool,
    ) -> Result<()> {
        if let Some(route) = image.route.take() {
            match hub::on_routed(&route, self.side()) {
                Verdict::Store => {}
                Verdict::Deliver => {
                    let routed = Routed {
                        channel: image.channel.as_str(),
                        kind: Kind::Image(image.meta),
                        payload: image.data,
                        route: &route,
                        mirror: image.mirror,
                        encoding: Encoding::Bytes,
                        sent_at: image.sent_at,
                    };
                    route::deliver(shared, &self.peer, routed);
                    return Ok(());
                }
                Verdict::Refuse(notice) => {
                    route::notify(&self.peer, image.channel.as_str(), &notice);
                    return Ok(());
                }
                _ => return Ok(()),
            }
        }
        // Stored before it is relayed: the memory its buffer held while it
        // arrived has just gone back, and the store gets the first claim
        // on it (a relay refused room only misses a reader, counted).
        let (channel, kind) = (image.channel.clone(), Kind::Image(image.meta));
        let msg = Message::new(image.channel, image.data.clone(), image.from, now)
            .with_sent_at(image.sent_at);
        self.store(msg.with_image(image.meta), shared)?;
        self.store_batch();
        let marks = (Encoding::Bytes, image.sent_at);
        let relayed = match in_shared_memory && self.relays(shared) {
            true => Bytes::copy_from_slice(&image.data),
            false => image.data,
        };
        self.relay(shared, channel.as_str(), kind, marks, &relayed);
        if let (Some(slot), 1..) = (&self.slot, image.skipped) {
            slot.count_skipped(image.skipped);
        }
        Ok(())
    }

    /// Stores the pending run of messages.
    pub(super) fn store_batch(&mut self) {
        if let Some(slot) = &self.slot {
            let refused = slot.push_batch(&mut self.batch);
            self.refused(slot.name().as_str(), refused);
        }
    }

    /// Tells the sender that `messages` it sent on `channel` were refused
    /// for want of memory.
    pub(super) fn refused(&self, channel: &str, messages: usize) {
        if messages > 0 {
            self.refuse(
                channel,
                &format!("{messages} message(s) over its memory limit"),
            );
        }
    }

    /// Tells a host's client that the host did not keep what it sent on
    /// `channel`, and `why` (a client's host is not told: it only counts).
    pub(super) fn refuse(&self, channel: &str, why: &str) {
        if self.side() == Side::Host {
            route::notify(&self.peer, channel, &Undelivered::OverLimit(why.to_owned()));
        }
    }
}
