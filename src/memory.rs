//! A handle's memory budget: one count, in bytes, of what peers make it hold
//! (queued and latest messages, outboxes, images being reassembled), against
//! one ceiling ([`HostBuilder::memory_limit`](crate::HostBuilder::memory_limit)).
//!
//! Every holder takes bytes before it keeps them ([`Memory::try_take`]) and
//! gives them back when it lets them go; a [`Held`] does the giving back when
//! dropped. A refusal is the holder's to report: a frame refused, a message
//! dropped and counted, a connection closed with a reason. The count is one
//! atomic, so taking and giving back cost a compare-and-swap each; holders on
//! hot paths take once per batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The budget: bytes in use, and the most that may be.
#[derive(Debug)]
pub(crate) struct Memory {
    limit: usize,
    used: AtomicUsize,
    /// Requests refused for lack of room, for the stats.
    #[allow(dead_code)]
    refused: AtomicU64,
}

// Outboxes and image reassembly take with `try_take`/`try_hold` (landing
// next); until then only the store's `take`/`give_back` are used.
#[allow(dead_code)]
impl Memory {
    /// A budget of `limit` bytes, none in use.
    pub(crate) fn new(limit: usize) -> Arc<Memory> {
        Arc::new(Memory {
            limit,
            used: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        })
    }

    /// Takes `bytes` if they fit under the limit; `false` (and counted) if
    /// not. Nothing fits once [`take`](Self::take) went over the limit.
    pub(crate) fn try_take(&self, bytes: usize) -> bool {
        let fits = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&after| after <= self.limit)
            })
            .is_ok();
        if !fits {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        fits
    }

    /// Takes `bytes` whatever the limit: for what must be kept once it
    /// exists (a frame already read), so that the count stays true and
    /// later requests are refused instead.
    pub(crate) fn take(&self, bytes: usize) {
        self.used.fetch_add(bytes, Ordering::AcqRel);
    }

    /// Gives back `bytes` taken before.
    pub(crate) fn give_back(&self, bytes: usize) {
        let before = self.used.fetch_sub(bytes, Ordering::AcqRel);
        debug_assert!(before >= bytes, "gave back {bytes} of {before}");
    }

    /// Bytes in use.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// The most bytes that may be in use.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Requests refused so far.
    pub(crate) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Takes `bytes` if they fit, as a [`Held`] that gives them back when
    /// dropped.
    pub(crate) fn try_hold(self: &Arc<Self>, bytes: usize) -> Option<Held> {
        self.try_take(bytes).then(|| Held {
            memory: Arc::clone(self),
            bytes,
        })
    }
}

/// Bytes taken from a [`Memory`], given back when dropped.
#[derive(Debug)]
#[allow(dead_code)]
pub(crate) struct Held {
    memory: Arc<Memory>,
    bytes: usize,
}

#[allow(dead_code)]
impl Held {
    /// The bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds `more` bytes besides, if they fit.
    pub(crate) fn try_grow(&mut self, more: usize) -> bool {
        let fits = self.memory.try_take(more);
        if fits {
            self.bytes += more;
        }
        fits
    }

    /// Gives back all but `bytes` (no more than it holds).
    pub(crate) fn shrink_to(&mut self, bytes: usize) {
        let extra = self.bytes.saturating_sub(bytes);
        self.memory.give_back(extra);
        self.bytes -= extra;
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.memory.give_back(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_up_to_the_limit_and_gives_back_when_dropped() {
        let memory = Memory::new(100);
        let mut a = memory.try_hold(60).expect("fits");
        assert!(memory.try_hold(41).is_none(), "61 + 41 > 100");
        assert_eq!(memory.refused(), 1);
        assert!(a.try_grow(40), "exactly the limit");
        assert!(!a.try_grow(1));
        assert_eq!((memory.used(), a.bytes()), (100, 100));
        a.shrink_to(30);
        assert_eq!(memory.used(), 30);
        memory.take(90);
        assert_eq!(memory.used(), 120, "taken whatever the limit");
        assert!(!memory.try_take(0), "over the limit, nothing fits");
        memory.give_back(90);
        drop(a);
        assert_eq!(memory.used(), 0);
        assert!(memory.try_take(0) && memory.try_take(100));
        assert_eq!(memory.limit(), 100);
    }

    #[test]
    fn threads_never_take_more_than_the_limit_together() {
        let memory = Memory::new(1000);
        let taken: usize = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..500).filter(|_| memory.try_take(3)).count() * 3))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("no panic"))
                .sum()
        });
        assert_eq!(taken, memory.used());
        assert!(taken <= 1000 && taken > 1000 - 3, "{taken}");
    }
}
