//! The image lane: per channel, the image being sent and the newest one waiting,
//! cut into chunks that take turns with other frames.
//!
//! A sender keeps one lane per peer beside its [`Outbox`]. Whenever the bytes in
//! flight run out, it moves everything queued in the outbox (control and data
//! frames) and then chunks of images into the next write (the engine takes up
//! to 512 KiB of them), so a small frame written during a camera frame waits for
//! that much at most, not the whole frame.
//! Channels take turns chunk by chunk (several cameras on one connection).
//!
//! Conflation: a channel holds at most two images, the one being sent and one
//! waiting. A newer image replaces the waiting one, which is dropped whole and
//! counted; an image that has started is always finished, so no receiver ever
//! sees a torn frame. Locked images (back-pressure writes) are never replaced:
//! a locked offer replaces an unlocked waiting image or waits behind a locked
//! one, and an unlocked image arriving behind a locked one is the one dropped.

use std::collections::VecDeque;

use bytes::Bytes;

use super::{ChannelName, Header, ImageMeta, Kind, Outbox, Route};

/// Default payload bytes per chunk: small enough that a control frame queued
/// behind a chunk waits tens of microseconds on loopback, large enough that a
/// 1080p frame costs a few dozen writes.
pub const DEFAULT_CHUNK: usize = 256 * 1024;

/// What [`ImageLane::offer`] did with an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offer {
    /// Queued; nothing was dropped.
    Queued,
    /// Queued in place of an older image that had not started; its payload.
    Replaced(Bytes),
    /// Not queued, the payload handed back: a locked image waits on the channel.
    /// A locked offer should wait for [`ImageLane::next_chunk`] to take it and
    /// retry; an unlocked one has been counted as dropped.
    Busy(Bytes),
}

/// Frames sent and dropped on one channel of a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LaneStats {
    /// Images whose last chunk has been queued for writing.
    pub sent: u64,
    /// Images dropped whole: replaced by a newer one, refused behind a locked
    /// one, or cleared when the connection closed.
    pub dropped: u64,
}

/// Most images a sender has started and not finished at once, over all
/// channels of a connection; a receiver may refuse more (it holds a buffer for
/// each). See the [wire format](super).
pub const MAX_IMAGES_IN_PROGRESS: usize = 16;

/// The control operation acknowledging image bytes: its payload is the total
/// of image and image-chunk payload bytes received on the connection so far,
/// as a little-endian `u64`. See the [wire format](super).
pub const OP_IMAGE_ACK: u8 = 0x01;

/// A chunk moved into the outbox by [`ImageLane::next_chunk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Bytes it added to the outbox, header included.
    pub bytes: usize,
    /// Payload bytes it carries.
    pub payload: usize,
    /// Whether this was the image's first chunk: its channel's waiting place
    /// is free again (a locked offer refused with [`Offer::Busy`] may retry).
    pub started: bool,
    /// When this was the image's last chunk and the image was locked: its ticket.
    pub finished: Option<u64>,
}

/// An image queued on a lane.
#[derive(Debug)]
struct Queued {
    meta: ImageMeta,
    route: Option<Route>,
    origin: Option<u64>,
    mirror: bool,
    sent_at: Option<u64>,
    payload: Bytes,
    /// Payload bytes already moved into the outbox.
    sent: usize,
    /// A locked image's ticket.
    ticket: Option<u64>,
}

#[derive(Debug)]
struct Slot {
    channel: ChannelName,
    sending: Option<Queued>,
    waiting: Option<Queued>,
    stats: LaneStats,
}

/// Conflating, chunking queue of image frames for one peer. Sans-IO: it fills an
/// [`Outbox`] one chunk at a time.
///
/// A sender keeps one lane per peer beside its outbox. Whenever the bytes in
/// flight run out, it moves everything queued in the outbox (control and data
/// frames) and then image chunks into the next write (the engine takes up to
/// 512 KiB of them), so a small frame written during a camera frame waits for
/// no more than that. Channels take turns chunk by chunk; at most
/// [`MAX_IMAGES_IN_PROGRESS`] images are started and unfinished at once. The first chunk of an image is an image frame
/// (its geometry, and `total_len` the whole payload's length); the rest are
/// image-chunk frames (sequence number and offset) on the same channel.
///
/// Conflation: a channel holds at most two images, the one being sent and one
/// waiting. A newer image replaces the waiting one, which is dropped whole and
/// counted; an image that has started is always finished, so no receiver sees a
/// torn image. Locked images (back-pressure writes) are never replaced: a
/// locked offer replaces an unlocked waiting image (counted) or waits for the
/// channel's waiting place behind a locked one, and an unlocked image arriving
/// behind a locked one is the one dropped.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use socketengine::protocol::{Header, ImageLane, ImageMeta, Kind, Offer, Outbox};
///
/// let meta = |seq| ImageMeta { width: 4, height: 4, format: 1, stride: 4, seq,
///                              timestamp_ns: 0, total_len: 16 };
/// let mut lane = ImageLane::new(8); // 8-byte chunks
/// let frame = |seq| Header::new(Kind::Image(meta(seq)), "cam");
/// assert_eq!(lane.offer(&frame(1), Bytes::from(vec![1; 16]), None), Offer::Queued);
/// // A newer image replaces the one that has not started.
/// assert!(matches!(lane.offer(&frame(2), Bytes::from(vec![2; 16]), None), Offer::Replaced(_)));
///
/// let mut out = Outbox::new();
/// lane.next_chunk(&mut out).unwrap(); // image 2, bytes 0..8
/// lane.next_chunk(&mut out).unwrap(); // image 2, bytes 8..16
/// assert!(lane.next_chunk(&mut out).is_none());
/// let stats = lane.stats("cam").unwrap();
/// assert_eq!((stats.sent, stats.dropped), (1, 1));
/// ```
#[derive(Debug)]
pub struct ImageLane {
    chunk: usize,
    /// One per channel ever offered, in first-offer order; the front is next.
    slots: VecDeque<Slot>,
    /// Payload bytes queued and not yet moved into an outbox.
    len: usize,
}

impl ImageLane {
    /// A lane cutting images into chunks of at most `chunk` payload bytes
    /// (`usize::MAX`: whole images, still conflated and after other frames).
    pub fn new(chunk: usize) -> ImageLane {
        ImageLane {
            chunk: chunk.max(1),
            slots: VecDeque::new(),
            len: 0,
        }
    }

    /// Payload bytes queued and not yet moved into an outbox.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no image is queued.
    pub fn is_empty(&self) -> bool {
        self.slots
            .iter()
            .all(|s| s.sending.is_none() && s.waiting.is_none())
    }

    /// Counters of one channel; `None` if no image was offered on it.
    pub fn stats(&self, channel: &str) -> Option<LaneStats> {
        let slot = self.slots.iter().find(|s| s.channel.as_str() == channel)?;
        Some(slot.stats)
    }

    /// Payload bytes of the image waiting on `channel` (not yet started),
    /// which an unlocked offer there would replace; 0 if none.
    pub fn waiting_len(&self, channel: &str) -> usize {
        let slot = self.slots.iter().find(|s| s.channel.as_str() == channel);
        let waiting = slot.and_then(|s| s.waiting.as_ref());
        waiting.map_or(0, |image| image.payload.len())
    }

    /// Whether `channel` has an image being sent or waiting: a newer one
    /// must then follow it through the lane (an image sent another way
    /// could arrive before it, and the older one would then be the latest).
    pub fn is_busy(&self, channel: &str) -> bool {
        let slot = self.slots.iter().find(|s| s.channel.as_str() == channel);
        slot.is_some_and(|s| s.sending.is_some() || s.waiting.is_some())
    }

    /// Counts an image on `channel` dropped before it was offered (the
    /// sender had no room for it), as one replaced or refused is.
    pub fn count_dropped(&mut self, channel: &str) {
        self.slot(channel).stats.dropped += 1;
    }

    /// Counts an image on `channel` sent outside the lane (through shared
    /// memory), as one whose last chunk was taken is.
    pub fn count_sent(&mut self, channel: &str) {
        self.slot(channel).stats.sent += 1;
    }

    /// Drops the unlocked images waiting on every channel (not yet started;
    /// locked ones stay, their writers wait for them), counting each: for a
    /// receiver that reads nothing, which is offered newer ones when it does.
    /// The images being sent stay, so none is torn. Returns their payload bytes.
    pub fn drop_waiting(&mut self) -> usize {
        let mut dropped = 0;
        for slot in &mut self.slots {
            if slot.waiting.as_ref().is_some_and(|w| w.ticket.is_none()) {
                dropped += slot.waiting.take().map_or(0, |image| image.payload.len());
                slot.stats.dropped += 1;
            }
        }
        self.len -= dropped;
        dropped
    }

    /// Channels with their counters.
    pub fn all_stats(&self) -> impl Iterator<Item = (&str, LaneStats)> {
        self.slots.iter().map(|s| (s.channel.as_str(), s.stats))
    }

    /// Offers an image. `header` must be a valid image header (kind
    /// [`Kind::Image`], whose `total_len` is ignored: the payload's length is
    /// sent); `ticket` marks a locked image. See [`ImageLane`] for what is
    /// replaced and when.
    ///
    /// # Panics
    ///
    /// If `header` is not an image header.
    pub fn offer(&mut self, header: &Header<'_>, payload: Bytes, ticket: Option<u64>) -> Offer {
        let Kind::Image(meta) = header.kind else {
            panic!(
                "ImageLane::offer takes image headers, not {:?}",
                header.kind
            );
        };
        let slot = self.slot(header.channel);
        // A locked image is never replaced; it replaces an unlocked one.
        let waiting_locked = slot.waiting.as_ref().is_some_and(|w| w.ticket.is_some());
        if waiting_locked {
            if ticket.is_none() {
                slot.stats.dropped += 1;
            }
            return Offer::Busy(payload);
        }
        let added = payload.len();
        let image = Queued {
            meta: ImageMeta {
                total_len: added as u64,
                ..meta
            },
            route: header.route.cloned(),
            origin: header.origin,
            mirror: header.mirror,
            sent_at: header.sent_at,
            payload,
            sent: 0,
            ticket,
        };
        let replaced = slot.waiting.replace(image).map(|old| old.payload);
        if replaced.is_some() {
            slot.stats.dropped += 1;
        }
        self.len += added;
        match replaced {
            None => Offer::Queued,
            Some(old) => {
                self.len -= old.len();
                Offer::Replaced(old)
            }
        }
    }

    /// Moves the next chunk, taking turns between channels, into `out`; `None`
    /// when no image is queued.
    pub fn next_chunk(&mut self, out: &mut Outbox) -> Option<Chunk> {
        self.next_chunk_upto(out, usize::MAX)
    }

    /// As [`next_chunk`](Self::next_chunk), the chunk carrying at most
    /// `limit` payload bytes (at least one): a piece cut to fit a window.
    /// Chunks may be of any size on the wire.
    pub fn next_chunk_upto(&mut self, out: &mut Outbox, limit: usize) -> Option<Chunk> {
        // At most MAX_IMAGES_IN_PROGRESS images are started and unfinished at
        // once (a receiver holds a buffer for each); other channels wait.
        let started = self.slots.iter().filter(|s| s.sending.is_some()).count();
        let may_start = started < MAX_IMAGES_IN_PROGRESS;
        let turn = self
            .slots
            .iter()
            .position(|s| s.sending.is_some() || (may_start && s.waiting.is_some()))?;
        // The channel served goes to the back: channels take turns.
        self.slots.rotate_left(turn);
        let mut slot = self.slots.pop_front()?;
        let image = match &mut slot.sending {
            Some(image) => image,
            none => none.insert(slot.waiting.take()?),
        };
        let total = image.payload.len();
        let end = total.min(image.sent.saturating_add(self.chunk.min(limit.max(1))));
        let header = match image.sent {
            0 => Header {
                route: image.route.as_ref(),
                origin: image.origin,
                mirror: image.mirror,
                sent_at: image.sent_at,
                ..Header::new(Kind::Image(image.meta), slot.channel.as_str())
            },
            offset => Header::new(
                Kind::ImageChunk {
                    seq: image.meta.seq,
                    offset: offset as u64,
                },
                slot.channel.as_str(),
            ),
        };
        let started = image.sent == 0;
        let piece = image.payload.slice(image.sent..end);
        let moved = piece.len();
        let bytes = out.push_valid(&header, piece);
        image.sent = end;
        self.len -= moved;
        let mut finished = None;
        if end == total {
            finished = slot.sending.take().and_then(|done| done.ticket);
            slot.stats.sent += 1;
        }
        self.slots.push_back(slot);
        Some(Chunk {
            bytes,
            payload: moved,
            started,
            finished,
        })
    }

    /// Drops every queued image (the connection closed), counting each; an
    /// image partly sent is dropped too. Returns the tickets of locked ones.
    pub fn clear(&mut self) -> Vec<u64> {
        let mut tickets = Vec::new();
        for slot in &mut self.slots {
            for image in [slot.sending.take(), slot.waiting.take()]
                .into_iter()
                .flatten()
            {
                slot.stats.dropped += 1;
                tickets.extend(image.ticket);
            }
        }
        self.len = 0;
        tickets
    }

    fn slot(&mut self, channel: &str) -> &mut Slot {
        let i = match self
            .slots
            .iter()
            .position(|s| s.channel.as_str() == channel)
        {
            Some(i) => i,
            None => {
                let channel = ChannelName::new(channel).expect("a validated image header");
                self.slots.push_back(Slot {
                    channel,
                    sending: None,
                    waiting: None,
                    stats: LaneStats::default(),
                });
                self.slots.len() - 1
            }
        };
        &mut self.slots[i]
    }
}
