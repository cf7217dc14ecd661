//! The image sender's allocator of its shared-memory segment: which ranges
//! hold images a receiver may still read, and which are free to write.
//!
//! Pure bookkeeping over offsets: first fit over the free ranges (kept
//! merged with their neighbours), each slot rounded up to [`SLOT_ALIGN`]. A
//! slot is taken when an image is written into it and given back when the
//! receiver releases its offset ([`super::OP_SHM_RELEASE`]); nothing is
//! reused before that, so a receiver never reads bytes being rewritten
//! unless a peer misbehaves.

use std::collections::BTreeMap;

/// Every slot starts on a multiple of this (a cache line), so pixels the
/// receiver reads through numpy start aligned.
pub const SLOT_ALIGN: u64 = 64;

/// Why a release was refused: the offset starts no slot in use. A peer that
/// releases what it was never given is broken or hostile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInUse(pub u64);

/// The slots of one segment ([module docs](self)).
///
/// # Examples
///
/// ```
/// use socketengine::protocol::Slots;
///
/// let mut slots = Slots::new(1024);
/// let a = slots.take(500).unwrap(); // 512 bytes at 0
/// let b = slots.take(500).unwrap(); // 512 bytes at 512
/// assert_eq!((a, b), (0, 512));
/// assert_eq!(slots.take(1), None); // full
/// slots.release(a).unwrap();
/// assert_eq!(slots.take(100), Some(0)); // reused
/// ```
#[derive(Debug, Clone)]
pub struct Slots {
    len: u64,
    /// Free ranges by start, never two adjacent ones (they are merged).
    free: BTreeMap<u64, u64>,
    /// Slots in use by start, with their (rounded) lengths.
    used: BTreeMap<u64, u64>,
}

impl Slots {
    /// All of a segment of `len` bytes free (its end rounded down to
    /// [`SLOT_ALIGN`]).
    pub fn new(len: u64) -> Slots {
        let len = len - len % SLOT_ALIGN;
        let free = match len {
            0 => BTreeMap::new(),
            _ => BTreeMap::from([(0, len)]),
        };
        Slots {
            len,
            free,
            used: BTreeMap::new(),
        }
    }

    /// The usable length of the segment.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the segment has no usable byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A slot of at least `want` bytes: its offset, or `None` when no free
    /// range is that long (or `want` is 0).
    pub fn take(&mut self, want: u64) -> Option<u64> {
        let need = want.checked_next_multiple_of(SLOT_ALIGN)?;
        if need == 0 {
            return None;
        }
        let (&start, &len) = self.free.iter().find(|&(_, &len)| len >= need)?;
        self.free.remove(&start);
        if len > need {
            self.free.insert(start + need, len - need);
        }
        self.used.insert(start, need);
        Some(start)
    }

    /// Gives the slot at `offset` back, merged with free neighbours.
    ///
    /// # Errors
    ///
    /// [`NotInUse`] when no slot in use starts at `offset`.
    pub fn release(&mut self, offset: u64) -> Result<(), NotInUse> {
        let mut len = self.used.remove(&offset).ok_or(NotInUse(offset))?;
        let mut start = offset;
        if let Some(next) = self.free.remove(&(start + len)) {
            len += next;
        }
        let before = self.free.range(..start).next_back().map(|(&s, &l)| (s, l));
        if let Some((s, l)) = before.filter(|&(s, l)| s + l == start) {
            self.free.remove(&s);
            start = s;
            len += l;
        }
        self.free.insert(start, len);
        Ok(())
    }

    /// Bytes in slots in use.
    pub fn in_use(&self) -> u64 {
        self.used.values().sum()
    }

    /// Slots in use.
    pub fn slots(&self) -> usize {
        self.used.len()
    }

    /// Every slot in use is free again (the receiver went away).
    pub fn reset(&mut self) {
        *self = Slots::new(self.len);
    }
}
