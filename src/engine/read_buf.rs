//! The receive buffer of one connection: where the kernel copies bytes to, and
//! from which decoded payloads are split off without a copy.

use std::io;

use bytes::BytesMut;
use mio::net::TcpStream;
use socket2::SockRef;

/// Frames larger than this are read into a buffer of their exact size.
pub(crate) const LARGE_FRAME: usize = 64 * 1024;

/// Room reserved for small frames each time the free room runs low.
const READ_CHUNK: usize = 64 * 1024;

/// Free room below which a new buffer is started before a read.
const MIN_SPARE: usize = 8 * 1024;

/// Bytes asked for right after a large frame: enough for the next frame's head
/// without pulling the start of another large payload into a small buffer.
const AFTER_LARGE: usize = 512;

/// Buffers of past large frames kept for reuse, at most. More than an image
/// channel's queue holds (8 by default, plus the one being received), or a
/// reader that leaves the queue full would never free one in time to reuse it.
const SPENT_KEPT: usize = 32;

/// Bytes of past large-frame buffers kept for reuse that the application no
/// longer holds, at most (what it still holds is its memory, not ours).
const SPENT_IDLE_BYTES: usize = 64 << 20;

/// A read buffer that hands out its bytes as `Bytes` and sizes itself by frame.
#[derive(Debug, Default)]
pub(crate) struct ReadBuf {
    /// Received bytes not yet decoded.
    pub(crate) buf: BytesMut,
    /// Whether `buf` is the exact-size buffer of a large frame, and its size.
    large: bool,
    large_len: usize,
    /// Handles on the buffers of recent large frames. Once the application drops
    /// such a frame, its memory is unique again and `try_reclaim` reuses it, so a
    /// stream of camera frames cycles through a few warm buffers instead of
    /// faulting in fresh pages for every frame (and unmapping old ones, which
    /// interrupts the other cores). Each with the size of its allocation,
    /// oldest first; at most [`SPENT_KEPT`] of them, and [`SPENT_IDLE_BYTES`]
    /// of those the application has dropped as of the last [`trim`](Self::trim).
    spent: Vec<(BytesMut, usize)>,
}

impl ReadBuf {
    /// Makes room for the next read and returns how many bytes to ask for.
    ///
    /// `frame_len` is the total length of the frame being received, once known.
    /// The rest of a large frame goes into a buffer of exactly its size, so its
    /// payload is never copied after the kernel's copy (only the bytes already
    /// read move).
    pub(crate) fn prepare(&mut self, frame_len: Option<usize>) -> usize {
        match frame_len {
            Some(total) if total > LARGE_FRAME => {
                if self.buf.capacity() < total {
                    let (mut exact, size) = self.reuse(total);
                    exact.extend_from_slice(&self.buf);
                    let old = std::mem::replace(&mut self.buf, exact);
                    self.retire(old);
                    self.large = true;
                    self.large_len = size;
                }
                total - self.buf.len()
            }
            _ if self.large && self.buf.is_empty() => {
                let old = std::mem::replace(&mut self.buf, BytesMut::with_capacity(AFTER_LARGE));
                self.retire(old);
                self.large = false;
                AFTER_LARGE
            }
            _ => {
                // Successive reads share one buffer until it runs low, so a slow
                // trickle of small frames does not pin a fresh buffer per message.
                // (`reserve` starts a new one, moving only a partial frame.)
                if self.buf.capacity() - self.buf.len() < MIN_SPARE {
                    self.buf.reserve(READ_CHUNK);
                }
                self.buf.capacity() - self.buf.len()
            }
        }
    }

    /// A buffer with room for `total` bytes, and the size of its allocation: a
    /// spent one whose frame is gone, or a new one.
    fn reuse(&mut self, total: usize) -> (BytesMut, usize) {
        let found = self
            .spent
            .iter_mut()
            .position(|(b, len)| *len >= total && b.try_reclaim(total));
        match found {
            // `remove`, not `swap_remove`: the list stays oldest first.
            Some(i) => self.spent.remove(i),
            None => (BytesMut::with_capacity(total), total),
        }
    }

    /// Keeps the handle of a finished large-frame buffer for reuse.
    fn retire(&mut self, old: BytesMut) {
        if self.large {
            self.recycle(old, self.large_len);
        }
    }

    /// An empty buffer with room for `total` bytes (an image being
    /// reassembled), and the size of its allocation for [`recycle`](Self::recycle).
    pub(crate) fn exact(&mut self, total: usize) -> (BytesMut, usize) {
        self.reuse(total)
    }

    /// Keeps the handle of an exact-size buffer whose bytes have all been split
    /// off, so its memory is reused once the application drops them.
    pub(crate) fn recycle(&mut self, handle: BytesMut, size: usize) {
        if !handle.is_empty() {
            return;
        }
        self.spent.push((handle, size));
        if self.spent.len() > SPENT_KEPT {
            self.spent.remove(0);
        }
        self.trim();
    }

    /// Lets go of the oldest buffers the application no longer holds past
    /// [`SPENT_IDLE_BYTES`]; one still in use costs nothing to keep. Called
    /// on each recycle, and by the loop's heartbeat for a stream that stopped.
    pub(crate) fn trim(&mut self) {
        let mut idle = 0;
        for i in (0..self.spent.len()).rev() {
            let (buf, len) = &mut self.spent[i];
            if !buf.try_reclaim(*len) {
                continue;
            }
            match idle + *len <= SPENT_IDLE_BYTES {
                true => idle += *len,
                false => {
                    self.spent.remove(i);
                }
            }
        }
    }

    /// Makes room for a read of `n` bytes, no more: the head of a frame whose
    /// payload will be read elsewhere (an image chunk), so that the payload
    /// does not land here first.
    pub(crate) fn prepare_small(&mut self, n: usize) -> usize {
        if self.large && self.buf.is_empty() {
            let old = std::mem::replace(&mut self.buf, BytesMut::with_capacity(AFTER_LARGE));
            self.retire(old);
            self.large = false;
        }
        if self.buf.capacity() - self.buf.len() < n {
            self.buf.reserve(READ_CHUNK.max(n));
        }
        n
    }

    /// Reads at most `want` bytes onto the end of the buffer; 0 means end of stream.
    pub(crate) fn fill(&mut self, stream: &TcpStream, want: usize) -> io::Result<usize> {
        recv_into(stream, &mut self.buf, want)
    }
}

/// Reads at most `want` bytes onto the end of `buf`, within its capacity; 0
/// means end of stream.
///
/// The bytes land in the buffer's spare capacity without being zeroed first:
/// zeroing is a full memory pass per large frame and showed in the event
/// loop's profile of a 64-byte message stream (`docs/PERFORMANCE.md`).
#[allow(unsafe_code)]
pub(crate) fn recv_into(stream: &TcpStream, buf: &mut BytesMut, want: usize) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    let want = want.min(spare.len());
    debug_assert!(
        want > 0,
        "a read into no room would look like end of stream"
    );
    // socket2's `recv` takes possibly uninitialised memory and initialises the
    // prefix it reports.
    let n = SockRef::from(stream).recv(&mut spare[..want])?;
    // SAFETY: `recv` initialised the first `n` bytes of the spare capacity,
    // which directly follow the current length, and `n <= want <= spare.len()`.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use bytes::Bytes;

    use super::*;

    /// An exact buffer of `size` filled and split off whole, as an image's
    /// bytes are, then recycled; returns the bytes the application holds.
    fn image(rb: &mut ReadBuf, size: usize) -> Bytes {
        let (mut buf, len) = rb.exact(size);
        buf.resize(size, 7);
        let bytes = buf.split().freeze();
        rb.recycle(buf, len);
        bytes
    }

    #[test]
    fn a_dropped_image_buffer_is_reused_while_the_application_holds_a_full_queue() {
        const SIZE: usize = 1 << 20;
        let mut rb = ReadBuf::default();
        // Ten images held (a full image queue and more), then the oldest dropped.
        let mut held: VecDeque<Bytes> = (0..10).map(|_| image(&mut rb, SIZE)).collect();
        let oldest = held.pop_front().expect("ten images");
        let memory = oldest.as_ptr();
        drop(oldest);
        let (next, _) = rb.exact(SIZE);
        assert_eq!(
            next.as_ptr(),
            memory,
            "the dropped image's memory is reused"
        );
    }

    #[test]
    fn idle_buffers_past_the_limit_are_let_go_and_those_in_use_kept() {
        let size = SPENT_IDLE_BYTES / 4;
        let mut rb = ReadBuf::default();
        let held: Vec<Bytes> = (0..8).map(|_| image(&mut rb, size)).collect();
        assert_eq!(rb.spent.len(), 8, "in use, all kept");
        drop(held);
        // One more image reuses an idle buffer; recycling it lets go of the
        // idle ones past the limit: four of 16 MiB stay, with the one in use.
        let in_use = image(&mut rb, size);
        assert_eq!(rb.spent.len(), 5);
        assert!(rb.spent.iter().any(|(b, _)| b.capacity() == 0));
        // The stream stops and the application lets go of the last one: the
        // next trim (the heartbeat's) keeps four idle buffers.
        drop(in_use);
        rb.trim();
        assert_eq!(rb.spent.len(), 4);
    }
}
