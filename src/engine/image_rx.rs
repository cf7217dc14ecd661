//! The receiving half of the image path: reassembling chunked images, each in
//! one buffer of its exact size that the socket reads into directly.
//!
//! A connection hands every image and image-chunk frame here. A frame that
//! arrived whole in the read buffer is checked and its payload appended (a small
//! image sent in one frame is taken as it is, without a copy). A frame still
//! arriving comes from the decoder as [`Decoded::Large`] once its header is in:
//! [`Images::start`] checks it and the rest of its payload is read by
//! [`Images::fill`] straight into the image's buffer, so a 1080p frame is
//! copied once, by the kernel.
//!
//! [`Decoded::Large`]: crate::protocol::Decoded::Large

use std::io;

use bytes::{Bytes, BytesMut};
use mio::net::TcpStream;

use super::read_buf::{ReadBuf, recv_into};
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
    buf: BytesMut,
    /// The size of `buf`'s allocation, to recycle it.
    size: usize,
    from: ClientId,
    route: Option<Route>,
    mirror: bool,
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
            received: image.map_or(0, |a| a.buf.len()),
            expected: image.map_or(0, |a| a.meta.total_len as usize),
        }
    }

    /// Takes an image or image-chunk frame that arrived whole.
    pub(crate) fn on_frame(
        &mut self,
        frame: Frame,
        from: ClientId,
        rbuf: &mut ReadBuf,
        max_frame: usize,
    ) -> Result<Option<Finished>> {
        let i = self.check(&frame, frame.payload.len(), true, from, rbuf, max_frame)?;
        self.received += frame.payload.len() as u64;
        self.ack_due = true;
        let image = self.channels[i].partial.as_mut().expect("set by check");
        if image.buf.is_empty() && image.meta.total_len == frame.payload.len() as u64 {
            // The whole image in one frame: its payload as it is.
            return Ok(self.finish(i, Some(frame.payload), rbuf));
        }
        image.buf.extend_from_slice(&frame.payload);
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
        from: ClientId,
        rbuf: &mut ReadBuf,
        max_frame: usize,
    ) -> Result<Option<Finished>> {
        let i = self.check(&frame, payload_len, false, from, rbuf, max_frame)?;
        let image = self.channels[i].partial.as_mut().expect("set by check");
        image.buf.extend_from_slice(&frame.payload);
        self.received += frame.payload.len() as u64;
        if frame.payload.len() < payload_len {
            self.sink = Some(i);
            return Ok(None);
        }
        self.ack_due = true;
        Ok(self.finish_if_whole(i, rbuf))
    }

    /// Reads at most `left` bytes, the rest of the started payload, straight
    /// into its image. Returns the bytes read (0 at end of stream) and the
    /// image it finished, if any.
    pub(crate) fn fill(
        &mut self,
        stream: &TcpStream,
        left: usize,
        rbuf: &mut ReadBuf,
    ) -> io::Result<(usize, Option<Finished>)> {
        let Some(i) = self.sink else {
            return Ok((0, None));
        };
        let image = self.channels[i]
            .partial
            .as_mut()
            .expect("a sink has an image");
        let n = recv_into(stream, &mut image.buf, left)?;
        self.received += n as u64;
        if n < left {
            return Ok((n, None));
        }
        self.sink = None;
        self.ack_due = true;
        Ok((n, self.finish_if_whole(i, rbuf)))
    }

    /// Checks a frame of `len` payload bytes against the image being received
    /// on its channel, starting one for an image frame; returns the channel.
    /// `in_hand`: the frame's payload is all in the read buffer already.
    fn check(
        &mut self,
        frame: &Frame,
        len: usize,
        in_hand: bool,
        from: ClientId,
        rbuf: &mut ReadBuf,
        max_frame: usize,
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
                let total = meta.total_len as usize;
                // An image whose one frame is in hand keeps that frame's buffer;
                // any other gets a buffer of its exact size, recycled from
                // earlier images, for its payload to be read or copied into.
                let (buf, size) = match in_hand && total == len {
                    true => (BytesMut::new(), 0),
                    false => rbuf.exact(total),
                };
                self.channels[i].partial = Some(Assembly {
                    meta,
                    buf,
                    size,
                    from,
                    route: frame.route.clone(),
                    mirror: frame.mirror,
                });
            }
            Kind::ImageChunk { seq, offset } => {
                let Some(image) = &self.channels[i].partial else {
                    return bad("a chunk without its image");
                };
                if seq != image.meta.seq || offset != image.buf.len() as u64 {
                    return bad("a chunk of another image or at another offset");
                }
                if len > image.meta.total_len as usize - image.buf.len() {
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
            Some(image) if image.buf.len() as u64 == image.meta.total_len => {
                self.finish(i, None, rbuf)
            }
            _ => None,
        }
    }

    /// Hands out the image of channel `i` (whose bytes are `whole`, or its
    /// buffer's); the buffer's handle goes back to `rbuf` for reuse.
    fn finish(&mut self, i: usize, whole: Option<Bytes>, rbuf: &mut ReadBuf) -> Option<Finished> {
        let rx = &mut self.channels[i];
        let mut image = rx.partial.take()?;
        let data = match whole {
            Some(data) => data,
            None => image.buf.split().freeze(),
        };
        if image.size > 0 {
            rbuf.recycle(image.buf, image.size);
        }
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
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::protocol::{Decoder, Header};

    /// A whole 1×1 Gray8 image frame with sequence number `seq` on `channel`.
    fn frame(channel: &str, seq: u64) -> Frame {
        let meta = ImageMeta {
            width: 1,
            height: 1,
            format: 1,
            stride: 1,
            seq,
            timestamp_ns: 0,
            total_len: 1,
        };
        let wire = Header::new(Kind::Image(meta), channel)
            .to_bytes(&[seq as u8])
            .expect("a valid frame");
        let mut buf = BytesMut::from(&wire[..]);
        Decoder::new(1 << 20)
            .decode(&mut buf)
            .expect("decodes")
            .expect("whole")
    }

    #[test]
    fn a_peer_cycling_through_channel_names_does_not_grow_the_receiver() {
        let (mut images, mut rbuf) = (Images::default(), ReadBuf::default());
        let mut take = |channel: &str, seq| {
            let done = images.on_frame(frame(channel, seq), ClientId(1), &mut rbuf, 1 << 20);
            done.expect("a good frame").expect("a whole image")
        };
        for i in 0..1000 {
            take("steady", i);
            take(&format!("cam{i}"), 0);
        }
        // Channels in use are remembered, the least recently used forgotten:
        // a gap is counted on the steady channel and the newest one, not on
        // one a thousand channels ago.
        assert_eq!(take("steady", 1001).skipped, 1);
        assert_eq!(take("cam999", 3).skipped, 2);
        assert_eq!(take("cam0", 3).skipped, 0);
        assert_eq!(images.channels.len(), CHANNELS_KEPT);
    }
}
