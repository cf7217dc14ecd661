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
//!
//! The last sixteenth of the limit is kept for small messages: what
//! [`try_take`](Memory::try_take) grants (outboxes, images, large frames)
//! stops short of it, and only small messages stored on a channel and small
//! frames queued to a peer (4 KiB or less: a control loop's, replies,
//! notices; [`try_take_small`](Memory::try_take_small)) may use it, so a
//! budget filled by large data still has room for control.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Messages and frames of this size or less are small: they may use the
/// reserve (see the module docs).
pub(crate) const SMALL: usize = 4096;

/// The budget: bytes in use, and the most that may be.
#[derive(Debug)]
pub(crate) struct Memory {
    limit: usize,
    /// Kept for small messages (see the module docs): a sixteenth of `limit`.
    reserve: usize,
    used: AtomicUsize,
    /// Set when a holder was refused room; the event loop answers by
    /// closing slow consumers (see [`wants_relief`](Self::wants_relief)).
    short: AtomicBool,
}

impl Memory {
    /// A budget of `limit` bytes, none in use.
    pub(crate) fn new(limit: usize) -> Arc<Memory> {
        Arc::new(Memory {
            limit,
            reserve: limit / 16,
            used: AtomicUsize::new(0),
            short: AtomicBool::new(false),
        })
    }

    /// Takes `bytes` if they fit under the [ceiling](Self::ceiling); `false`
    /// if not. Nothing fits once [`take`](Self::take) went over it.
    pub(crate) fn try_take(&self, bytes: usize) -> bool {
        self.try_take_under(bytes, self.ceiling())
    }

    /// Takes `bytes` for a small frame or message (4 KiB or less), which may
    /// use the reserve: up to the limit itself.
    pub(crate) fn try_take_small(&self, bytes: usize) -> bool {
        self.try_take_under(bytes, self.limit)
    }

    fn try_take_under(&self, bytes: usize, ceiling: usize) -> bool {
        let taken = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&after| after <= ceiling)
            })
            .is_ok();
        if !taken {
            self.ran_short();
        }
        taken
    }

    /// Notes that a holder was refused room.
    pub(crate) fn ran_short(&self) {
        self.short.store(true, Ordering::Release);
    }

    /// Whether a holder was refused room since the last call: the event
    /// loop then closes the readers that pin memory and read nothing.
    pub(crate) fn wants_relief(&self) -> bool {
        self.short.swap(false, Ordering::AcqRel)
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

    /// The most bytes [`try_take`](Self::try_take) lets be in use: the limit
    /// less the small messages' reserve.
    pub(crate) fn ceiling(&self) -> usize {
        self.limit - self.reserve
    }

    /// Takes `bytes` if they fit, as a [`Held`] that gives them back when
    /// dropped.
    pub(crate) fn try_hold(self: &Arc<Self>, bytes: usize) -> Option<Held> {
        self.try_take(bytes).then(|| self.held(bytes))
    }

    /// Takes `bytes` for one message: with
    /// [`try_take_small`](Self::try_take_small) if it is [`SMALL`] (it may
    /// use the reserve), else with [`try_take`](Self::try_take).
    pub(crate) fn try_take_message(&self, bytes: usize) -> bool {
        match bytes <= SMALL {
            true => self.try_take_small(bytes),
            false => self.try_take(bytes),
        }
    }

    /// As [`try_take_message`](Self::try_take_message), as a [`Held`].
    pub(crate) fn try_hold_message(self: &Arc<Self>, bytes: usize) -> Option<Held> {
        self.try_take_message(bytes).then(|| self.held(bytes))
    }

    /// `bytes` taken already (by one or more `try_take`s), as a [`Held`]
    /// that gives them back when dropped.
    pub(crate) fn held(self: &Arc<Self>, bytes: usize) -> Held {
        Held {
            memory: Arc::clone(self),
            bytes,
        }
    }
}

/// Bytes taken from a [`Memory`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Held {
    memory: Arc<Memory>,
    bytes: usize,
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
        // A limit of 160 keeps 10 for small messages: 150 may be taken.
        let memory = Memory::new(160);
        assert_eq!((memory.limit(), memory.ceiling()), (160, 150));
        let held = memory.try_hold(90).expect("fits");
        assert!(memory.try_hold(61).is_none(), "90 + 61 > 150");
        assert!(memory.try_take(60), "exactly the ceiling");
        assert!(!memory.try_take(1));
        assert_eq!(memory.used(), 150);
        memory.give_back(60);
        memory.take(150);
        assert_eq!(memory.used(), 240, "taken whatever the limit");
        assert!(!memory.try_take(0), "over the limit, nothing fits");
        memory.give_back(150);
        drop(held);
        assert_eq!(memory.used(), 0);
        assert!(memory.try_take(0) && memory.try_take(150));
    }

    #[test]
    fn threads_never_take_more_than_the_limit_together() {
        let memory = Memory::new(1600);
        let taken: usize = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..600).filter(|_| memory.try_take(3)).count() * 3))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("no panic"))
                .sum()
        });
        assert_eq!(taken, memory.used());
        assert!(taken <= 1500 && taken > 1500 - 3, "{taken}");
    }
}
