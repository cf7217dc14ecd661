//! The receive buffer of one connection: where the kernel copies bytes to, and
//! from which decoded payloads are split off without a copy.

use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use mio::net::TcpStream;
use socket2::SockRef;

use super::grow::{AllocFailed, Grant, READ_AHEAD, grown, try_grow};
use super::wire::Source;
use crate::memory::Memory;

/// Frames larger than this are read into a buffer of their own.
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
    /// Set while `buf` is the buffer of its own of a large frame.
    large: Option<Large>,
    /// Handles on the buffers of recent large frames. Once the application drops
    /// such a frame, its memory is unique again and `try_reclaim` reuses it, so a
    /// stream of camera frames cycles through a few warm buffers instead of
    /// faulting in fresh pages for every frame (and unmapping old ones, which
    /// interrupts the other cores). Each with the size of its allocation,
    /// oldest first; at most [`SPENT_KEPT`] of them, and [`SPENT_IDLE_BYTES`]
    /// of those the application has dropped as of the last [`trim`](Self::trim).
    spent: Vec<(BytesMut, usize)>,
}

/// A large frame being received into a buffer of its own.
#[derive(Debug, Default)]
struct Large {
    /// The size of the buffer's allocation, to recycle it.
    size: usize,
    /// The bytes it may hold so far, charged to the handle's memory budget
    /// until the frame is whole.
    grant: Grant,
}

impl ReadBuf {
    /// Makes room for the next read and returns how many bytes to ask for.
    ///
    /// `frame_len` is the total length of the frame being received, once known.
    /// A large frame goes into a buffer of its own, so its payload is never
    /// copied after the kernel's copy (only the bytes already read move). That
    /// buffer holds what has arrived plus a read-ahead (see
    /// [`grow`](super::grow)), charged to `memory` whatever its limit (the
    /// store decides on the frame once it is whole).
    ///
    /// # Errors
    ///
    /// The allocator refused the room for a large frame.
    pub(crate) fn prepare(
        &mut self,
        frame_len: Option<usize>,
        memory: &Arc<Memory>,
    ) -> Result<usize, AllocFailed> {
        match frame_len {
            Some(total) if total > LARGE_FRAME => self.prepare_large(total, memory),
            _ if self.large.is_some() && self.buf.is_empty() => {
                self.leave_large();
                Ok(AFTER_LARGE)
            }
            _ => {
                // Successive reads share one buffer until it runs low, so a slow
                // trickle of small frames does not pin a fresh buffer per message.
                // (`reserve` starts a new one, moving only a partial frame.)
                if self.buf.capacity() - self.buf.len() < MIN_SPARE {
                    self.buf.reserve(READ_CHUNK);
                }
                Ok(self.buf.capacity() - self.buf.len())
            }
        }
    }

    /// Makes room for the next read of a large frame of `total` bytes, which
    /// is not all in: at least a read-ahead, or up to its end. A recycled
    /// buffer has room for all of it already and is read into as far as the
    /// socket allows (fewer reads); its charge catches up with what arrived
    /// before the next read.
    fn prepare_large(&mut self, total: usize, memory: &Arc<Memory>) -> Result<usize, AllocFailed> {
        let len = self.buf.len();
        let need = READ_AHEAD.min(total - len);
        let granted = self.large.as_ref().map_or(0, |l| l.grant.bytes());
        if granted < len + need {
            let target = grown(len, need, total);
            match self.large.as_mut() {
                Some(large) => {
                    large.grant.force_to(target, memory);
                    try_grow(&mut self.buf, target)?;
                    large.size = large.size.max(self.buf.capacity());
                }
                None => self.start_large(total, target, memory)?,
            }
        }
        Ok(self.buf.capacity().min(total) - len)
    }

    /// Moves the start of a large frame into a buffer of its own with room
    /// for `capacity` bytes: a spent one with room for all `total`, or a new one.
    fn start_large(
        &mut self,
        total: usize,
        capacity: usize,
        memory: &Arc<Memory>,
    ) -> Result<(), AllocFailed> {
        let mut grant = Grant::default();
        grant.force_to(capacity, memory);
        let (mut own, size) = self.recycled(total).unwrap_or_default();
        try_grow(&mut own, capacity)?;
        own.extend_from_slice(&self.buf);
        self.buf = own;
        let size = size.max(self.buf.capacity());
        self.large = Some(Large { size, grant });
        Ok(())
    }

    /// A frame was decoded whole: a large one's memory is the store's now.
    pub(crate) fn frame_done(&mut self) {
        if let Some(large) = &mut self.large {
            large.grant.release();
        }
    }

    /// Bytes charged to the memory budget for a large frame in progress.
    #[cfg(test)]
    fn granted(&self) -> usize {
        self.large.as_ref().map_or(0, |l| l.grant.bytes())
    }

    /// After a large frame: back to a small shared buffer, keeping the large
    /// one's handle for reuse.
    fn leave_large(&mut self) {
        let old = std::mem::replace(&mut self.buf, BytesMut::with_capacity(AFTER_LARGE));
        if let Some(large) = self.large.take() {
            self.recycle(old, large.size);
        }
    }

    /// A spent buffer whose frame is gone with room for `total` bytes, and
    /// the size of its allocation for [`recycle`](Self::recycle); `None` if
    /// there is none (a new buffer is grown as bytes arrive).
    pub(crate) fn recycled(&mut self, total: usize) -> Option<(BytesMut, usize)> {
        let found = self
            .spent
            .iter_mut()
            .position(|(b, len)| *len >= total && b.try_reclaim(total))?;
        // `remove`, not `swap_remove`: the list stays oldest first.
        Some(self.spent.remove(found))
    }

    /// Keeps the handle of a large frame's or an image's buffer whose bytes
    /// have all been split off, so its memory is reused once the application
    /// drops them.
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
        if self.large.is_some() && self.buf.is_empty() {
            self.leave_large();
        }
        if self.buf.capacity() - self.buf.len() < n {
            self.buf.reserve(READ_CHUNK.max(n));
        }
        n
    }

    /// Reads at most `want` bytes onto the end of the buffer; 0 means end of stream.
    pub(crate) fn fill(&mut self, source: Source<'_>, want: usize) -> io::Result<usize> {
        source.recv_into(&mut self.buf, want)
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

    use super::super::grow::MAX_STEP;
    use super::*;

    /// A buffer of `size` filled and split off whole, as an image's bytes
    /// are, then recycled; returns the bytes the application holds.
    fn image(rb: &mut ReadBuf, size: usize) -> Bytes {
        let fresh = || (BytesMut::with_capacity(size), size);
        let (mut buf, len) = rb.recycled(size).unwrap_or_else(fresh);
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
        let (next, _) = rb.recycled(SIZE).expect("a spent buffer");
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

    /// A large frame of `total` bytes whose first `arrived` bytes are in:
    /// returns the read buffer, holding them.
    fn large_frame_started(total: usize, arrived: usize, memory: &Arc<Memory>) -> ReadBuf {
        let mut rb = ReadBuf::default();
        rb.buf.extend_from_slice(&vec![1; arrived]);
        rb.prepare(Some(total), memory).expect("room");
        rb
    }

    #[test]
    fn a_large_frame_announced_holds_what_arrived_and_a_read_ahead() {
        const TOTAL: usize = 64 << 20;
        let memory = Memory::new(1 << 30);
        let mut rb = large_frame_started(TOTAL, 100, &memory);
        assert_eq!(rb.buf.len(), 100, "the bytes in hand move along");
        assert!(rb.buf.capacity() < 2 * READ_AHEAD, "{}", rb.buf.capacity());
        assert_eq!(memory.used(), rb.granted());
        // Bytes arrive: the buffer doubles, never far ahead of them.
        let mut reads = 0;
        while rb.buf.len() < TOTAL {
            let want = rb.prepare(Some(TOTAL), &memory).expect("room");
            assert!(want > 0 && rb.buf.len() + want <= TOTAL);
            let ahead = rb.buf.len().clamp(READ_AHEAD, MAX_STEP);
            assert!(rb.granted() <= rb.buf.len() + ahead, "{}", rb.granted());
            rb.buf.resize(rb.buf.len() + want, 2);
            reads += 1;
        }
        assert!(reads < 40, "{reads} reads");
        assert_eq!(memory.used(), TOTAL, "charged while in progress");
        let payload = rb.buf.split().freeze();
        rb.frame_done();
        assert_eq!(memory.used(), 0, "the store's once whole");
        assert_eq!((payload.len(), payload[99], payload[100]), (TOTAL, 1, 2));
    }

    #[test]
    fn a_large_frame_past_the_memory_limit_is_still_read_and_counted() {
        // The store decides on it once whole; meanwhile the count is true,
        // so other holders are refused.
        let memory = Memory::new(1 << 20);
        let mut rb = large_frame_started(8 << 20, 100, &memory);
        while rb.buf.len() < 8 << 20 {
            let want = rb.prepare(Some(8 << 20), &memory).expect("room");
            rb.buf.resize(rb.buf.len() + want, 0);
        }
        assert_eq!(memory.used(), 8 << 20);
        assert!(!memory.try_take(1));
        drop(rb);
        assert_eq!(memory.used(), 0);
    }

    #[test]
    fn a_large_frame_reuses_a_spent_buffer_without_growing_it() {
        const SIZE: usize = 6 << 20;
        let memory = Memory::new(1 << 30);
        let mut rb = ReadBuf::default();
        let old = image(&mut rb, SIZE);
        let spent = old.as_ptr();
        drop(old);
        rb.buf.extend_from_slice(&[3; 10]);
        let want = rb.prepare(Some(SIZE), &memory).expect("room");
        assert_eq!(rb.buf.as_ptr(), spent, "the spent buffer is reused");
        assert_eq!(memory.used(), rb.granted(), "charged as a new one would be");
        assert!(rb.granted() < SIZE);
        assert_eq!(want, SIZE - 10, "read into as far as the socket allows");
        rb.buf.resize(SIZE / 2, 0);
        rb.prepare(Some(SIZE), &memory).expect("room");
        assert!(rb.granted() >= SIZE / 2, "the charge caught up");
    }
}
