//! The receiving half of the image path: reassembling chunked images, each in
//! one buffer that the socket reads into directly.
//!
//! A connection hands every image and image-chunk frame here. A frame that
//! arrived whole in the read buffer is checked and its payload appended (a small
//! image sent in one frame is taken as it is, without a copy). A frame still
//! arriving comes from the decoder as [`Decoded::Large`] once its header is in:
//! [`Images::start`] checks it and the rest of its payload is read by
//! [`Images::fill`] straight into the image's buffer, so a 1080p frame is
//! copied once, by the kernel.
//!
//! An image's buffer grows as its bytes arrive ([`grow`](super::grow)), charged
//! to the handle's memory budget and, with the connection's other images in
//! progress, capped per connection. An image the budget has no room for
//! waits, reading nothing more, while the loop closes the readers that pin
//! memory and read nothing ([`STARVE_LIMIT`]). An image refused room past
//! that wait or by its connection's cap, or not whole within the partial
//! timeout, is dropped: its memory goes back, it is counted
//! ([`Incomplete`]), and the rest of its bytes are read, acknowledged and let
//! go, so its connection carries on.
//!
//! [`Decoded::Large`]: crate::protocol::Decoded::Large

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;

use super::Shared;
use super::grow::{Grant, READ_AHEAD, Refusal, grown, try_grow};
use super::read_buf::ReadBuf;
use super::wire::Source;
use crate::image::Image;
use crate::protocol::{ChannelName, DecodeError, Frame, ImageMeta, Kind, Route};
use crate::{ClientId, ErrorKind, Result};

/// Images one connection may have half received at once (one per channel):
/// as many as a sender may have started.
const MAX_PARTIAL: usize = crate::protocol::MAX_IMAGES_IN_PROGRESS;

/// Image channels whose state (an image in progress, the last sequence
/// number) one connection keeps; past this, a new channel evicts the least
/// recently used idle one, which only resets that channel's count of skipped
/// images. Keeps a
/// peer cycling through channel names from growing the receiver's memory.
const CHANNELS_KEPT: usize = 64;

/// Bytes read at a time from the rest of a dropped image, into a scratch
/// buffer on the stack.
const DISCARD_READ: usize = 32 << 10;

/// How long an image in progress that the memory budget has no room for may
/// wait for some, reading nothing more from its connection, before it is
/// dropped. Meanwhile the loop closes the slow consumers pinning memory
/// ([`EventLoop::relieve`](super::EventLoop::relieve)), so that a camera's
/// frame is not lost to what readers that read nothing hold.
pub(crate) const STARVE_LIMIT: Duration = Duration::from_millis(300);

/// What [`Images::fill`] did.
#[derive(Debug)]
pub(crate) enum Filled {
    /// Read this many bytes (0 at end of stream), finishing an image or not.
    Read(usize, Option<Finished>),
    /// Nothing: the image waits for memory; read again later.
    Starved,
}

/// A whole image, checked against its geometry, ready to be stored.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) channel: ChannelName,
    pub(crate) meta: ImageMeta,
    pub(crate) data: Bytes,
    pub(crate) from: ClientId,
    /// Images the sender skipped before this one (a gap in sequence numbers).
    pub(crate) skipped: u64,
    /// Where its sender routed it, from its first frame.
    pub(crate) route: Option<Route>,
    /// Whether its sender asked to get it back.
    pub(crate) mirror: bool,
    /// The send time its first frame carried (host clock).
    pub(crate) sent_at: Option<u64>,
}

/// Images dropped before they were whole, per channel, for
/// [`ImageStats::incomplete`](crate::ImageStats::incomplete): counted by every
/// connection's [`Images`], read by the inbox; behind a mutex, taken once per
/// dropped image.
#[derive(Debug, Default)]
pub(crate) struct Incomplete(Mutex<HashMap<String, u64>>);

impl Incomplete {
    /// Counts one image dropped on `channel`. At most `max` channels are
    /// counted (as many as the store may hold), so made-up names cannot grow
    /// the map for ever.
    pub(crate) fn count(&self, channel: &str, max: usize) {
        let mut counts = self.0.lock();
        if let Some(n) = counts.get_mut(channel) {
            *n += 1;
        } else if counts.len() < max {
            counts.insert(channel.to_owned(), 1);
        }
    }

    /// Images dropped on `channel` so far.
    pub(crate) fn of(&self, channel: &str) -> u64 {
        self.0.lock().get(channel).copied().unwrap_or(0)
    }
}

/// The image channels of one connection.
#[derive(Debug, Default)]
pub(crate) struct Images {
    channels: Vec<ChannelRx>,
    /// The channel whose payload is being read straight from the socket, while
    /// the decoder waits for that payload.
    sink: Option<usize>,
    /// Image payload bytes received on this connection, acknowledged to the
    /// sender (which sends no more than its window ahead of them).
    received: u64,
    /// Set when a frame's payload is all in: time to acknowledge.
    ack_due: bool,
}

#[derive(Debug)]
struct ChannelRx {
    channel: ChannelName,
    partial: Option<Assembly>,
    last_seq: Option<u64>,
}

/// An image being reassembled.
#[derive(Debug)]
struct Assembly {
    meta: ImageMeta,
    /// Payload bytes received so far: where the next chunk starts.
    received: usize,
    body: Body,
    /// When its first frame was read, for the partial timeout.
    started: Instant,
    /// Since when it waits for memory, if it does.
    starved: Option<Instant>,
    from: ClientId,
    route: Option<Route>,
    mirror: bool,
    sent_at: Option<u64>,
}

/// Where the bytes of an image in progress go.
#[derive(Debug)]
enum Body {
    /// Into a buffer that grows as they arrive.
    Filling {
        buf: BytesMut,
        /// The size of `buf`'s allocation, to recycle it.
        size: usize,
        /// The bytes `buf` may hold, charged to the memory budget.
        grant: Grant,
    },
    /// Nowhere: the image was dropped (refused room, or too slow); the rest
    /// of its bytes are read and let go.
    Dropped,
}

impl Assembly {
    fn total(&self) -> usize {
        // Checked against the maximum frame when it started.
        self.meta.total_len as usize
    }

    /// Bytes its buffer may hold, charged to the memory budget.
    fn held(&self) -> usize {
        match &self.body {
            Body::Filling { grant, .. } => grant.bytes(),
            Body::Dropped => 0,
        }
    }

    /// Makes room in its buffer for `need` more bytes, growing it within the
    /// budget and the connection's cap (its other images holding `others`);
    /// returns the room it has (`need` for a dropped image). Bytes
    /// `in_hand` (read already) are charged whatever the budget, and only
    /// they. A recycled buffer has room for the whole image: its charge
    /// catches up with what arrived at the next call.
    fn make_room(
        &mut self,
        need: usize,
        others: usize,
        rbuf: &mut ReadBuf,
        shared: &Shared,
        in_hand: bool,
    ) -> Result<usize, Refusal> {
        let total = self.total();
        let Body::Filling { buf, size, grant } = &mut self.body else {
            return Ok(need);
        };
        let len = buf.len();
        if grant.bytes() < len + need {
            let target = match in_hand {
                true => len + need,
                false => grown(len, need, total),
            };
            let max = shared.config.max_partial_image_bytes;
            if others > 0 && others.saturating_add(target) > max {
                let wanted = target - grant.bytes();
                return Err(Refusal::Connection { wanted, max });
            }
            if grant.raise_to(target, &shared.memory).is_err() {
                // The store lets go of channels holding more than this
                // image will (a flood's, not a control loop's), then it
                // tries once more.
                let wanted = target - grant.bytes();
                shared.store.make_room(wanted, total);
                match grant.raise_to(target, &shared.memory) {
                    // Bytes in hand exist already: moving them from the
                    // read buffer into the image costs nothing new (those
                    // still to come wait for room).
                    Err(Refusal::Budget { .. }) if in_hand => {
                        grant.force_to(target, &shared.memory);
                    }
                    done => done?,
                }
            }
            if buf.capacity() == 0 {
                // A spent buffer with room for the whole image grows no more.
                if let Some((recycled, recycled_size)) = rbuf.recycled(total) {
                    (*buf, *size) = (recycled, recycled_size);
                }
            }
            try_grow(buf, target)?;
            *size = (*size).max(buf.capacity());
        }
        Ok(buf.capacity().min(total) - len)
    }
}

impl Images {
    /// The total to acknowledge, once per frame whose payload came in.
    pub(crate) fn take_ack(&mut self) -> Option<u64> {
        std::mem::take(&mut self.ack_due).then_some(self.received)
    }

    /// The error for an end of stream while reading into an image.
    pub(crate) fn truncated(&self) -> ErrorKind {
        let image = self.sink.and_then(|i| self.channels[i].partial.as_ref());
        ErrorKind::Truncated {
            received: image.map_or(0, |a| a.received),
            expected: image.map_or(0, Assembly::total),
        }
    }

    /// Bytes the images in progress hold (charged to the memory budget),
    /// but for channel `except`'s.
    fn held_except(&self, except: Option<usize>) -> usize {
        let images = self.channels.iter().enumerate();
        let others = images.filter(|&(i, _)| Some(i) != except);
        others
            .filter_map(|(_, c)| c.partial.as_ref())
            .map(Assembly::held)
            .sum()
    }

    /// Takes an image or image-chunk frame that arrived whole; `from` is
    /// its sender and whether an image it starts is refused (then let go).
    pub(crate) fn on_frame(
        &mut self,
        frame: Frame,
        from: (ClientId, bool),
        rbuf: &mut ReadBuf,
        shared: &Shared,
        now: Instant,
    ) -> Result<Option<Finished>> {
        let len = frame.payload.len();
        let i = self.check(&frame, len, from, shared.config.max_frame, now)?;
        self.received += len as u64;
        self.ack_due = true;
        let image = self.channels[i].partial.as_ref().expect("set by check");
        if image.received == 0 && image.total() == len {
            // The whole image in one frame: its payload as it is.
            return Ok(self.finish(i, Some(frame.payload), rbuf));
        }
        self.append(i, &frame.payload, rbuf, shared, false);
        Ok(self.finish_if_whole(i, rbuf))
    }

    /// Takes the header of an image or chunk frame whose payload is not all
    /// in (the decoder's `Large`): `frame` carries the payload bytes already
    /// received, of `payload_len`; the rest is for [`fill`](Self::fill).
    /// Returns the image it finished, if any.
    pub(crate) fn start(
        &mut self,
        frame: Frame,
        payload_len: usize,
        from: (ClientId, bool),
        rbuf: &mut ReadBuf,
        shared: &Shared,
        now: Instant,
    ) -> Result<Option<Finished>> {
        let i = self.check(&frame, payload_len, from, shared.config.max_frame, now)?;
        self.append(i, &frame.payload, rbuf, shared, true);
        self.received += frame.payload.len() as u64;
        if frame.payload.len() < payload_len {
            self.sink = Some(i);
            return Ok(None);
        }
        self.ack_due = true;
        Ok(self.finish_if_whole(i, rbuf))
    }

    /// Reads at most `left` bytes, the rest of the started payload (and at
    /// most `most` in this read, the turn's share: see `turn::Budget`),
    /// straight into its image (growing its buffer by a read-ahead at a time), or
    /// into nothing for a dropped image. Returns the bytes read (0 at end of
    /// stream) and the image it finished, if any; or that the image waits
    /// for memory, reading nothing (see [`STARVE_LIMIT`]).
    pub(crate) fn fill(
        &mut self,
        source: Source<'_>,
        left: usize,
        most: usize,
        rbuf: &mut ReadBuf,
        shared: &Shared,
        now: Instant,
    ) -> io::Result<Filled> {
        let Some(i) = self.sink else {
            return Ok(Filled::Read(0, None));
        };
        let room = match self.make_room(i, READ_AHEAD.min(left), rbuf, shared, false) {
            Ok(room) => {
                self.channels[i]
                    .partial
                    .as_mut()
                    .expect("in progress")
                    .starved = None;
                room.min(left).min(most)
            }
            Err(Refusal::Budget { .. }) if self.may_wait(i, now) => return Ok(Filled::Starved),
            Err(_) => {
                self.drop_image(i, shared);
                left.min(most)
            }
        };
        let image = self.channels[i]
            .partial
            .as_mut()
            .expect("a sink has an image");
        let n = match &mut image.body {
            Body::Filling { buf, .. } => source.recv_into(buf, room)?,
            Body::Dropped => discard(source, room)?,
        };
        image.received += n;
        self.received += n as u64;
        if n < left {
            return Ok(Filled::Read(n, None));
        }
        self.sink = None;
        self.ack_due = true;
        Ok(Filled::Read(n, self.finish_if_whole(i, rbuf)))
    }

    /// Whether channel `i`'s image, refused room by the memory budget, may
    /// wait for some (its first refusal starts the wait) rather than be
    /// dropped: for at most [`STARVE_LIMIT`].
    fn may_wait(&mut self, i: usize, now: Instant) -> bool {
        let image = self.channels[i].partial.as_mut().expect("in progress");
        let since = *image.starved.get_or_insert(now);
        now.saturating_duration_since(since) < STARVE_LIMIT
    }

    /// Drops the images still in progress that started the partial timeout
    /// or longer before `now`, giving their memory back.
    pub(crate) fn expire(&mut self, now: Instant, shared: &Shared) {
        let timeout = shared.config.partial_timeout;
        for i in 0..self.channels.len() {
            let late = self.channels[i].partial.as_ref().is_some_and(|image| {
                matches!(image.body, Body::Filling { .. })
                    && now.saturating_duration_since(image.started) >= timeout
            });
            if late {
                self.drop_image(i, shared);
            }
        }
    }

    /// Bytes this connection's images in progress hold.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.held_except(None)
    }

    /// Makes room for `need` more bytes in channel `i`'s image (bytes
    /// `in_hand` already, or still to read); see [`Assembly::make_room`].
    fn make_room(
        &mut self,
        i: usize,
        need: usize,
        rbuf: &mut ReadBuf,
        shared: &Shared,
        in_hand: bool,
    ) -> Result<usize, Refusal> {
        let others = self.held_except(Some(i));
        let image = self.channels[i].partial.as_mut().expect("in progress");
        image.make_room(need, others, rbuf, shared, in_hand)
    }

    /// Appends payload bytes to channel `i`'s image, or drops the image if
    /// there is no room for them. The first bytes of a frame still arriving
    /// (one read's worth, at most: `read_ahead`) are taken whatever the
    /// budget, while its bytes still to come may wait for room; a frame that
    /// arrived whole gets no such grace, so that small frames cannot walk an
    /// image past the budget.
    fn append(
        &mut self,
        i: usize,
        bytes: &[u8],
        rbuf: &mut ReadBuf,
        shared: &Shared,
        read_ahead: bool,
    ) {
        if bytes.is_empty() {
            return;
        }
        if self
            .make_room(i, bytes.len(), rbuf, shared, read_ahead)
            .is_err()
        {
            self.drop_image(i, shared);
        }
        let image = self.channels[i].partial.as_mut().expect("in progress");
        image.received += bytes.len();
        if let Body::Filling { buf, .. } = &mut image.body {
            buf.extend_from_slice(bytes);
        }
    }

    /// Lets go of channel `i`'s image in progress (its memory goes back) and
    /// counts it; the rest of its bytes will be read and let go.
    fn drop_image(&mut self, i: usize, shared: &Shared) {
        let rx = &mut self.channels[i];
        let Some(image) = &mut rx.partial else {
            return;
        };
        if let Body::Filling { .. } = image.body {
            image.body = Body::Dropped;
            shared
                .incomplete
                .count(rx.channel.as_str(), shared.config.max_channels);
        }
    }

    /// Checks a frame of `len` payload bytes against the image being received
    /// on its channel, starting one for an image frame (from `from.0`, let
    /// go as it arrives if `from.1`); returns the channel.
    fn check(
        &mut self,
        frame: &Frame,
        len: usize,
        (from, refused): (ClientId, bool),
        max_frame: usize,
        now: Instant,
    ) -> Result<usize> {
        let i = self.channel(&frame.channel);
        let bad = |what| Err(DecodeError::BadChunk(what).into());
        match frame.kind {
            Kind::Image(meta) => {
                if self.channels[i].partial.is_some() {
                    return bad("an image starts before the last one on its channel ended");
                }
                let partial = self.channels.iter().filter(|c| c.partial.is_some());
                if partial.count() >= MAX_PARTIAL {
                    return bad("too many images half received at once");
                }
                if meta.total_len > max_frame as u64 {
                    let too_large = ErrorKind::FrameTooLarge {
                        len: usize::try_from(meta.total_len).unwrap_or(usize::MAX),
                        max: max_frame,
                    };
                    return Err(too_large.into());
                }
                Image::check_meta(&meta)?;
                if len as u64 > meta.total_len {
                    return bad("the first chunk is longer than its image");
                }
                // No memory yet: the buffer grows as the bytes arrive.
                let body = match refused {
                    true => Body::Dropped,
                    false => Body::Filling {
                        buf: BytesMut::new(),
                        size: 0,
                        grant: Grant::default(),
                    },
                };
                self.channels[i].partial = Some(Assembly {
                    meta,
                    received: 0,
                    body,
                    started: now,
                    starved: None,
                    from,
                    route: frame.route.clone(),
                    mirror: frame.mirror,
                    sent_at: frame.sent_at,
                });
            }
            Kind::ImageChunk { seq, offset } => {
                let Some(image) = &self.channels[i].partial else {
                    return bad("a chunk without its image");
                };
                if seq != image.meta.seq || offset != image.received as u64 {
                    return bad("a chunk of another image or at another offset");
                }
                if len > image.total() - image.received {
                    return bad("a chunk past the end of its image");
                }
            }
            _ => return bad("not an image frame"),
        }
        Ok(i)
    }

    fn channel(&mut self, name: &ChannelName) -> usize {
        // Called between frames: no payload is being read into any channel,
        // so indices may move. The channel used goes to the back, so the
        // front holds the least recently used.
        debug_assert!(self.sink.is_none());
        if let Some(i) = self.channels.iter().position(|c| c.channel == *name) {
            let used = self.channels.remove(i);
            self.channels.push(used);
            return self.channels.len() - 1;
        }
        if self.channels.len() >= CHANNELS_KEPT {
            // At most MAX_PARTIAL channels are busy: an idle one exists.
            if let Some(idle) = self.channels.iter().position(|c| c.partial.is_none()) {
                self.channels.remove(idle);
            }
        }
        self.channels.push(ChannelRx {
            channel: name.clone(),
            partial: None,
            last_seq: None,
        });
        self.channels.len() - 1
    }

    fn finish_if_whole(&mut self, i: usize, rbuf: &mut ReadBuf) -> Option<Finished> {
        match &self.channels[i].partial {
            Some(image) if image.received == image.total() => self.finish(i, None, rbuf),
            _ => None,
        }
    }

    /// Hands out the image of channel `i` (whose bytes are `whole`, or its
    /// buffer's); the buffer's handle goes back to `rbuf` for reuse. A
    /// dropped image is only forgotten.
    fn finish(&mut self, i: usize, whole: Option<Bytes>, rbuf: &mut ReadBuf) -> Option<Finished> {
        let rx = &mut self.channels[i];
        let image = rx.partial.take()?;
        let data = match (whole, image.body) {
            (_, Body::Dropped) => {
                // Not a gap in the sender's numbers; the images it skipped
                // before this one still count, with the next image.
                rx.last_seq = match rx.last_seq {
                    Some(last) if image.meta.seq > last => Some(last + 1),
                    _ => Some(image.meta.seq),
                };
                return None;
            }
            (Some(data), _) => data,
            (None, Body::Filling { mut buf, size, .. }) => {
                let data = buf.split().freeze();
                if size > 0 {
                    rbuf.recycle(buf, size);
                }
                data
            }
        };
        // The geometry was checked against the image's length when it started.
        let skipped = match rx.last_seq {
            Some(last) if image.meta.seq > last => image.meta.seq - last - 1,
            _ => 0,
        };
        rx.last_seq = Some(image.meta.seq);
        Some(Finished {
            channel: rx.channel.clone(),
            meta: image.meta,
            data,
            from: image.from,
            skipped,
            route: image.route,
            mirror: image.mirror,
            sent_at: image.sent_at,
        })
    }
}

/// Reads at most `want` bytes from `stream` and lets them go: the rest of a
/// dropped image. 0 means end of stream.
fn discard(source: Source<'_>, want: usize) -> io::Result<usize> {
    let mut scratch = [0u8; DISCARD_READ];
    source.read(&mut scratch[..want.min(DISCARD_READ)])
}

#[cfg(test)]
mod tests;
