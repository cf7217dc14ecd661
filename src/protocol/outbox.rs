//! The outbox: frames waiting to be written, presented as `IoSlice`s for one
//! `write_vectored` call.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use super::{DecodeError, Header};

/// Payloads up to this many bytes are copied next to their header; larger ones
/// are sent from their own buffer.
pub const DEFAULT_COALESCE: usize = 4096;

/// Room reserved in the coalescing buffer each time it runs out.
const TAIL_CHUNK: usize = 64 * 1024;

/// A FIFO of encoded frames.
///
/// Headers, and payloads no larger than the coalescing limit, are written into one
/// growing buffer, so a burst of small frames becomes one contiguous slice. A large
/// payload stays in its own `Bytes` and is sent from there, so it is never copied in
/// user space (and a broadcast shares it between outboxes).
///
/// [`io_slices`](Self::io_slices) lends the queued bytes in order;
/// [`advance`](Self::advance) drops what the socket took, even mid-frame.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use std::io::IoSlice;
/// use socketengine::protocol::{Header, Outbox};
///
/// let mut outbox = Outbox::new();
/// outbox.push(&Header::data("cam"), Bytes::from(vec![7u8; 100_000])).unwrap();
/// let mut slices = [IoSlice::new(&[]); 8];
/// assert_eq!(outbox.io_slices(&mut slices), 2); // header, then the payload itself
/// outbox.advance(10);
/// assert_eq!(outbox.len(), 10 + 100_000 - 10); // a 10-byte header, 10 bytes taken
/// ```
#[derive(Debug, Default, Clone)]
pub struct Outbox {
    /// Frozen buffers, oldest first, each with whether its memory is
    /// counted elsewhere; `tail` follows them.
    segments: VecDeque<(Bytes, bool)>,
    /// Coalescing buffer for headers and small payloads; the newest bytes.
    tail: BytesMut,
    /// Bytes in `segments` and `tail` together.
    len: usize,
    /// Bytes of segments whose memory is counted elsewhere (a payload
    /// shared by many outboxes, charged once).
    charged: usize,
    coalesce: usize,
}

impl Outbox {
    /// An empty outbox with the [default coalescing limit](DEFAULT_COALESCE).
    pub fn new() -> Outbox {
        Outbox::with_coalesce(DEFAULT_COALESCE)
    }

    /// An empty outbox that copies payloads of at most `coalesce` bytes.
    pub fn with_coalesce(coalesce: usize) -> Outbox {
        Outbox {
            coalesce,
            ..Outbox::default()
        }
    }

    /// Bytes queued and not yet written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes queued whose memory this outbox holds alone: all but the
    /// payloads [pushed as charged](Self::push_charged).
    pub fn uncharged_len(&self) -> usize {
        self.len - self.charged
    }

    /// Queues one frame; returns its size on the wire.
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when the header is invalid; nothing is queued then.
    pub fn push(&mut self, header: &Header<'_>, payload: Bytes) -> Result<usize, DecodeError> {
        header.check(payload.len())?;
        Ok(self.push_valid(header, payload))
    }

    /// [`push`](Self::push) for a header that passed [`Header::validate`] and a body
    /// known to fit the `u32` length prefix; returns the frame's size on the wire.
    pub(crate) fn push_valid(&mut self, header: &Header<'_>, payload: Bytes) -> usize {
        let before = self.tail.len();
        let room = header.body_prefix_len() + 4 + payload.len().min(self.coalesce);
        if self.tail.capacity() - self.tail.len() < room {
            self.tail.reserve(room.max(TAIL_CHUNK));
        }
        header.encode_valid(payload.len(), &mut self.tail);
        let size = self.tail.len() - before + payload.len();
        self.len += size;
        if payload.len() <= self.coalesce {
            self.tail.extend_from_slice(&payload);
        } else {
            self.segments.push_back((self.tail.split().freeze(), false));
            self.segments.push_back((payload, false));
        }
        size
    }

    /// [`push_valid`](Self::push_valid) for a payload whose memory is
    /// counted elsewhere (shared by many outboxes, charged once): it is
    /// kept in its own buffer, whatever its size, and left out of
    /// [`uncharged_len`](Self::uncharged_len).
    pub(crate) fn push_charged(&mut self, header: &Header<'_>, payload: Bytes) -> usize {
        let before = self.tail.len();
        let room = header.body_prefix_len() + 4;
        if self.tail.capacity() - self.tail.len() < room {
            self.tail.reserve(room.max(TAIL_CHUNK));
        }
        header.encode_valid(payload.len(), &mut self.tail);
        let size = self.tail.len() - before + payload.len();
        self.len += size;
        self.charged += payload.len();
        self.segments.push_back((self.tail.split().freeze(), false));
        self.segments.push_back((payload, true));
        size
    }

    /// Queues bytes that are already encoded (such as the rest of a partly written frame).
    pub fn push_raw(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.seal_tail();
        self.len += bytes.len();
        self.segments.push_back((bytes, false));
    }

    /// Puts already-encoded bytes before everything queued (the rest of a frame
    /// that was being written when other frames were queued).
    pub fn push_front_raw(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        self.segments.push_front((bytes, false));
    }

    /// Moves everything queued in `other` to the back of this outbox.
    pub fn append(&mut self, other: &mut Outbox) {
        other.seal_tail();
        self.seal_tail();
        self.len += other.len;
        self.charged += other.charged;
        (other.len, other.charged) = (0, 0);
        self.segments.append(&mut other.segments);
    }

    /// Freezes what is queued into shared segments, so that a clone shares
    /// its buffers instead of copying them.
    pub(crate) fn seal(&mut self) {
        self.seal_tail();
    }

    /// Freezes the coalescing buffer into a segment, keeping its spare capacity.
    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.segments.push_back((self.tail.split().freeze(), false));
        }
    }

    /// Fills `dst` with the queued bytes in order; returns how many slices it used.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let tail = (!self.tail.is_empty()).then_some(&self.tail[..]);
        let chunks = self.segments.iter().map(|(s, _)| &s[..]).chain(tail);
        let mut n = 0;
        for (slot, chunk) in dst.iter_mut().zip(chunks) {
            *slot = IoSlice::new(chunk);
            n += 1;
        }
        n
    }

    /// Drops the first `n` queued bytes, which the socket has taken.
    ///
    /// # Panics
    ///
    /// If `n` exceeds [`len`](Self::len).
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advance past the end of the outbox");
        self.len -= n;
        while n > 0 {
            let Some((front, charged)) = self.segments.front_mut() else {
                self.tail.advance(n);
                return;
            };
            let taken = n.min(front.len());
            if *charged {
                self.charged -= taken;
            }
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= taken;
            self.segments.pop_front();
        }
    }
}
