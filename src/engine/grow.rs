//! Buffers for large frames and images that grow as their bytes arrive.
//!
//! A peer announces a frame's (or an image's) length before it sends the
//! bytes. Reserving that length up front let a peer that sends headers and
//! nothing else make a host reserve a gigabyte for a few hundred bytes, and
//! abort when the allocator said no. So the buffer of a frame or image in
//! progress holds what has arrived plus a bounded read-ahead: it doubles, by
//! at least what must fit next and at most [`MAX_STEP`] at a time, up to the
//! announced length ([`grown`]). Each growth is charged to the handle's memory
//! budget first ([`Grant`]) and made with `try_reserve_exact`, so running out
//! of either refuses that one frame or image ([`Refusal`]), never the process.
//!
//! The payload still ends up in one contiguous buffer that the kernel copied
//! it into: a buffer recycled from an earlier frame has room for all of it
//! already, and a new one grows by `realloc`, which for large allocations
//! moves pages rather than bytes.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::memory::Memory;
use crate::{Error, ErrorKind};

/// Room made before a read from the socket into a growing buffer, at least
/// (or up to the end of the frame): the read-ahead.
pub(crate) const READ_AHEAD: usize = 64 << 10;

/// Most a buffer grows by at once: past this, growth is in steps of this size
/// rather than doubling, so a buffer never holds more than this (plus the
/// read-ahead) beyond what has arrived.
pub(crate) const MAX_STEP: usize = 4 << 20;

/// The capacity a buffer holding `len` of `total` bytes grows to when `need`
/// more bytes must fit: double (by at most [`MAX_STEP`]), and at least
/// `len + need`, never past `total`.
pub(crate) fn grown(len: usize, need: usize, total: usize) -> usize {
    let doubled = len.saturating_add(len.min(MAX_STEP));
    doubled.max(len.saturating_add(need)).min(total)
}

/// The allocator could not give a buffer of `.0` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AllocFailed(pub(crate) usize);

impl From<AllocFailed> for Error {
    fn from(failed: AllocFailed) -> Error {
        Error::new(ErrorKind::AllocFailed { bytes: failed.0 })
    }
}

/// Why an image's buffer could not grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The handle's memory budget has no room for `wanted` more bytes.
    Budget { wanted: usize, limit: usize },
    /// The connection's images in progress would hold more than `max` bytes.
    Connection { wanted: usize, max: usize },
    /// The allocator refused.
    Alloc(AllocFailed),
}

impl From<AllocFailed> for Refusal {
    fn from(failed: AllocFailed) -> Refusal {
        Refusal::Alloc(failed)
    }
}

/// The bytes a frame or image in progress may fill, charged to the handle's
/// memory budget and given back when dropped (or [released](Self::release)).
#[derive(Debug, Default)]
pub(crate) struct Grant {
    /// The budget charged, once anything is.
    memory: Option<Arc<Memory>>,
    bytes: usize,
}

impl Grant {
    /// The bytes granted.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Grants up to `bytes` in all, if the budget has room for the rest.
    pub(crate) fn raise_to(&mut self, bytes: usize, memory: &Arc<Memory>) -> Result<(), Refusal> {
        let wanted = bytes.saturating_sub(self.bytes);
        if wanted > 0 && !memory.try_take(wanted) {
            let limit = memory.limit();
            return Err(Refusal::Budget { wanted, limit });
        }
        self.add(wanted, memory);
        Ok(())
    }

    /// Grants up to `bytes` in all whatever the budget says: for a plain
    /// frame, whose bytes come anyway and whose fate the store decides once
    /// it is whole (making room, or refusing it with a notice to its
    /// sender). The count stays true, so other holders are refused meanwhile.
    pub(crate) fn force_to(&mut self, bytes: usize, memory: &Arc<Memory>) {
        let wanted = bytes.saturating_sub(self.bytes);
        memory.take(wanted);
        self.add(wanted, memory);
    }

    fn add(&mut self, bytes: usize, memory: &Arc<Memory>) {
        self.memory.get_or_insert_with(|| Arc::clone(memory));
        self.bytes += bytes;
    }

    /// Gives the bytes back: the frame is whole, and its holder now the store.
    pub(crate) fn release(&mut self) {
        if let Some(memory) = &self.memory {
            memory.give_back(std::mem::take(&mut self.bytes));
        }
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        self.release();
    }
}

/// Grows `buf` to a capacity of at least `capacity` bytes, or says the
/// allocator refused. `BytesMut`'s own `reserve` aborts the process on
/// failure, so the growth goes through a `Vec` and back (by way of `Bytes`),
/// which moves no bytes for a buffer not shared with others: each conversion
/// keeps the allocation.
pub(crate) fn try_grow(buf: &mut BytesMut, capacity: usize) -> Result<(), AllocFailed> {
    if buf.capacity() >= capacity {
        return Ok(());
    }
    let mut vec = Vec::from(std::mem::take(buf));
    let grown = vec.try_reserve_exact(capacity - vec.len());
    *buf = BytesMut::from(Bytes::from(vec));
    grown.map_err(|_| AllocFailed(capacity))
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: usize = 1 << 10;
    const M: usize = 1 << 20;

    #[test]
    fn buffers_double_by_at_most_a_step_and_never_past_their_total() {
        // (held, must fit next, total, capacity to grow to)
        let table = [
            (0, 1, 64 * M, 1),
            (0, READ_AHEAD, 64 * M, READ_AHEAD),
            (0, 200, 100, 100),
            (64 * K, 1, 64 * M, 128 * K),
            (64 * K, 512 * K, 64 * M, 576 * K),
            (3 * M, READ_AHEAD, 64 * M, 6 * M),
            (3 * M, READ_AHEAD, 5 * M, 5 * M),
            (40 * M, READ_AHEAD, 64 * M, 44 * M),
            (40 * M, 8 * M, 64 * M, 48 * M),
            (63 * M, READ_AHEAD, 64 * M, 64 * M),
            (usize::MAX - 1, 5, usize::MAX, usize::MAX),
        ];
        for (len, need, total, want) in table {
            assert_eq!(grown(len, need, total), want, "{len} {need} {total}");
            let room = grown(len, need, total) - len;
            assert!(room <= len.min(MAX_STEP).max(need), "{len} {need}");
        }
    }

    #[test]
    fn a_grant_is_charged_to_the_budget_and_given_back_when_dropped() {
        // 150 K of 160 K may be granted (the rest is small messages').
        let memory = Memory::new(160 * K);
        let mut a = Grant::default();
        a.raise_to(90 * K, &memory).expect("fits");
        a.raise_to(10 * K, &memory).expect("never lowers");
        assert_eq!((a.bytes(), memory.used()), (90 * K, 90 * K));
        let mut b = Grant::default();
        let refused = b.raise_to(61 * K, &memory);
        assert_eq!(
            refused,
            Err(Refusal::Budget {
                wanted: 61 * K,
                limit: 160 * K
            })
        );
        b.raise_to(60 * K, &memory).expect("exactly the ceiling");
        a.release();
        assert_eq!(memory.used(), 60 * K);
        b.force_to(200 * K, &memory);
        assert_eq!((b.bytes(), memory.used()), (200 * K, 200 * K));
        drop(b);
        assert_eq!(memory.used(), 0);
    }

    #[test]
    fn growing_keeps_the_bytes_and_their_allocation_when_it_has_room() {
        let mut buf = BytesMut::with_capacity(8);
        buf.extend_from_slice(b"abc");
        let at = buf.as_ptr();
        try_grow(&mut buf, 8).expect("has room");
        assert_eq!(buf.as_ptr(), at, "not moved");
        try_grow(&mut buf, 1 << 20).expect("grows");
        assert!(buf.capacity() >= 1 << 20);
        assert_eq!(&buf[..], b"abc");
        let refused = try_grow(&mut buf, usize::MAX);
        assert_eq!(refused, Err(AllocFailed(usize::MAX)));
        assert_eq!(&buf[..], b"abc", "a refusal keeps the bytes");
    }
}
