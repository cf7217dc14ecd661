//! What peers hold, in the handle's memory budget ([`Memory`]): each peer's
//! share for its outbox, taken ahead by a grain so that a run of small frames
//! costs one atomic per grain and given back once per written batch; and the
//! images on the lanes, each charged once however many lanes hold it.

use std::sync::Arc;

use bytes::Bytes;

use crate::memory::{Held, Memory};

/// An image's payload whose bytes are taken from the handle's memory budget
/// once, however many peers' image lanes hold it, and given back when the
/// last of them lets it go (its last chunk written, replaced by a newer
/// image, dropped, or its connection closed): a relay's copy of a frame to
/// every client counts once, as it is held once.
#[derive(Debug, Clone)]
pub(crate) struct Charged(Bytes);

impl Charged {
    /// `payload` charged to `memory`; `None` if it does not fit.
    pub(crate) fn new(memory: &Arc<Memory>, payload: &Bytes) -> Option<Charged> {
        let held = memory.try_hold(payload.len())?;
        let owner = Owner {
            bytes: payload.clone(),
            _held: held,
        };
        // The same bytes, not a copy: only the handle that frees them changes.
        Some(Charged(Bytes::from_owner(owner)))
    }

    /// The payload, keeping the charge while any clone of it lives.
    pub(crate) fn bytes(&self) -> Bytes {
        self.0.clone()
    }
}

/// A charged payload's owner: its bytes and the memory taken for them,
/// given back when the last `Bytes` made from it is dropped.
struct Owner {
    bytes: Bytes,
    _held: Held,
}

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Bytes a share takes ahead of need, and keeps beyond it, so that a peer
/// queueing small frames touches the handle's count once per grain.
const GRAIN: usize = 64 << 10;

/// Bytes taken from the handle's budget for one peer. Every method runs
/// under the peer's lock, so a plain count; the budget itself is shared.
#[derive(Debug)]
pub(super) struct Share {
    memory: Arc<Memory>,
    /// Bytes taken: at least what the peer holds after each call.
    reserved: usize,
}

impl Share {
    pub(super) fn new(memory: Arc<Memory>) -> Share {
        Share {
            memory,
            reserved: 0,
        }
    }

    /// Covers `held` bytes, taking what is missing if the budget has room
    /// for it (for a `small` frame, its reserve too); `false` (nothing
    /// taken) if not.
    pub(super) fn try_cover(&mut self, held: usize, small: bool) -> bool {
        let missing = held.saturating_sub(self.reserved);
        if missing == 0 {
            return true;
        }
        let memory = &self.memory;
        let ceiling = if small {
            memory.limit()
        } else {
            memory.ceiling()
        };
        // A grain ahead, unless only the bytes themselves still fit.
        let ahead = missing.max(GRAIN);
        let room = ceiling.saturating_sub(memory.used());
        let take = if ahead <= room { ahead } else { missing };
        let taken = match small {
            true => memory.try_take_small(take),
            false => memory.try_take(take),
        };
        if !taken {
            return false;
        }
        self.reserved += take;
        true
    }

    /// Covers `held` bytes whatever the limit: bytes that exist already (the
    /// rest of a frame half written, chunk headers, acknowledgements), so that
    /// the count stays true and later requests are refused instead.
    pub(super) fn cover(&mut self, held: usize) {
        if held > self.reserved {
            self.memory.take(held - self.reserved);
            self.reserved = held;
        }
    }

    /// Covers `held` bytes and gives back what is beyond a grain of it (all
    /// of it once nothing is held): the batch's accounting, once per batch.
    pub(super) fn settle(&mut self, held: usize) {
        self.cover(held);
        let keep = match held {
            0 => 0,
            _ if self.reserved <= held + 2 * GRAIN => return,
            _ => held + GRAIN,
        };
        self.memory.give_back(self.reserved - keep);
        self.reserved = keep;
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.memory.give_back(self.reserved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charged_payload_counts_once_until_its_last_clone_goes() {
        let memory = Memory::new(100);
        let payload = Bytes::from(vec![7u8; 60]);
        let image = Charged::new(&memory, &payload).expect("fits");
        assert_eq!(image.bytes().as_ptr(), payload.as_ptr(), "not copied");
        let (a, b) = (image.bytes(), image.bytes().slice(10..20));
        drop(image);
        assert!(Charged::new(&memory, &payload).is_none(), "60 + 60 > 100");
        drop(a);
        assert_eq!(memory.used(), 60, "a slice keeps it");
        drop(b);
        assert_eq!(memory.used(), 0);
    }

    #[test]
    fn takes_a_grain_ahead_gives_back_per_batch_and_refuses_past_the_limit() {
        let memory = Memory::new(4 * GRAIN);
        let mut share = Share::new(Arc::clone(&memory));
        assert!(share.try_cover(64, true));
        assert_eq!(memory.used(), GRAIN, "a grain ahead");
        assert!(
            share.try_cover(GRAIN, true),
            "within the grain: no new take"
        );
        assert_eq!(memory.used(), GRAIN);
        assert!(share.try_cover(3 * GRAIN + 1, true));
        assert_eq!(
            memory.used(),
            3 * GRAIN + 1,
            "only what fits, not a grain more"
        );
        assert!(!share.try_cover(4 * GRAIN + 1, true), "past the limit");
        // A large frame stops a sixteenth short of the limit, at the ceiling.
        let mut large = Share::new(Arc::clone(&memory));
        assert!(!large.try_cover(GRAIN, false), "past the ceiling");
        assert!(
            large.try_cover(GRAIN / 2, true),
            "a small one fits the reserve"
        );
        large.settle(0);
        share.cover(4 * GRAIN + 10);
        assert_eq!(memory.used(), 4 * GRAIN + 10, "what exists is counted");
        share.settle(100);
        assert_eq!(
            memory.used(),
            100 + GRAIN,
            "a grain kept beyond what is held"
        );
        share.settle(150);
        assert_eq!(memory.used(), 100 + GRAIN, "within the slack: no atomic");
        share.settle(0);
        assert_eq!(memory.used(), 0, "idle peers hold nothing");
        assert!(share.try_cover(10, true));
        drop(share);
        assert_eq!(memory.used(), 0);
    }
}
