//! The channels in the memory budget: what a slot holds (counted once
//! where its holders share a buffer), how it charges and gives back, and how
//! a channel short of room makes it by shedding the fullest channels' oldest.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use super::queue::{Limits, Queue};
use super::{COMPACT_MAX, Channels, Message, Slot, SlotState};
use crate::memory::Memory;

/// The bytes of the copies a channel keeps of the newest payload of a batch
/// (`len` bytes) as its latest and its sender's latest: none for a large
/// payload, which they share.
pub(super) fn copies(len: usize) -> usize {
    match len {
        ..=COMPACT_MAX => 2 * len,
        _ => 0,
    }
}

impl Drop for Slot {
    /// Gives what the slot held back to the budget: a reclaimed slot, or
    /// the store's end.
    fn drop(&mut self) {
        let charged = *self.charged.get_mut();
        self.memory.give_back(charged);
        self.held.fetch_sub(charged, Ordering::AcqRel);
    }
}

impl Slot {
    /// Charges the memory budget with what the state holds now, or gives
    /// back what it no longer holds. Under the state's lock, after every
    /// change.
    pub(super) fn settle(&self, state: &mut SlotState) {
        let now = state.retained();
        let before = self.charged.swap(now, Ordering::AcqRel);
        match now.cmp(&before) {
            std::cmp::Ordering::Greater => {
                self.memory.take(now - before);
                self.held.fetch_add(now - before, Ordering::AcqRel);
            }
            std::cmp::Ordering::Less => {
                self.memory.give_back(before - now);
                self.held.fetch_sub(before - now, Ordering::AcqRel);
            }
            std::cmp::Ordering::Equal => {}
        }
    }

    /// Whether `bytes` more fit the memory budget (all of it for a small
    /// message, short of its reserve otherwise), after letting go of what
    /// the channels hold if they do not (and only if they could): the
    /// channel holding most first (of equals, the one idle longest), its
    /// oldest first (queued messages, history, other senders' latest
    /// messages, then its latest values, which this channel, about to
    /// store, and latched channels keep), until there is room. Only
    /// channels that hold at least as much as this one will once the
    /// message is in give way (and this one's own oldest): a message never
    /// costs a smaller channel anything. So a flood of large messages pushes out
    /// large messages, and a control loop's small channel loses nothing to
    /// it; if that is not room enough (what fills the budget is elsewhere),
    /// the message is refused, and its sender told. What goes is counted as
    /// dropped on its channel; nothing goes for a message larger than the
    /// whole budget. Takes no lock when they fit; never holds two slots'
    /// locks at once.
    pub(super) fn make_room(&self, bytes: usize) -> bool {
        let mine = self.charged.load(Ordering::Acquire).saturating_add(bytes);
        let holders = Holders {
            channels: &self.channels,
            memory: &self.memory,
            held: &self.held,
        };
        holders.make_room(bytes, mine, Some(self))
    }

    /// The bytes `payload` bytes arriving make this channel hold: once in
    /// the queue, and once more in a history, which is counted apart.
    pub(super) fn held_for(&self, payload: usize) -> usize {
        match self.keeps_history {
            true => 2 * payload,
            false => payload,
        }
    }

    /// Empties the queue (`get_all`), giving back its bytes.
    pub(super) fn take_queue(&self) -> Queue {
        let mut state = self.state.lock();
        let queue = state.queue.take();
        self.settle(&mut state);
        queue
    }
}

impl super::Store {
    /// Lets go of what the channels hold, the fullest first, until `bytes`
    /// more fit the memory budget, for something outside any channel that
    /// will hold `holds` bytes (an image being received): only channels
    /// that hold at least that give way. Whether they fit now.
    pub(crate) fn make_room(&self, bytes: usize, holds: usize) -> bool {
        let channels = Arc::downgrade(&self.channels);
        let holders = Holders {
            channels: &channels,
            memory: &self.memory,
            held: &self.held,
        };
        holders.make_room(bytes, holds, None)
    }
}

/// What the store's channels hold, against the memory budget.
pub(super) struct Holders<'a> {
    pub(super) channels: &'a Weak<Channels>,
    pub(super) memory: &'a Memory,
    pub(super) held: &'a AtomicUsize,
}

impl Holders<'_> {
    /// Lets go of what the channels hold until `bytes` more fit (see
    /// [`Slot::make_room`]): only channels holding at least `mine` give
    /// way, and `requester`, the channel about to store if any, only its
    /// oldest.
    pub(super) fn make_room(&self, bytes: usize, mine: usize, requester: Option<&Slot>) -> bool {
        let memory = self.memory;
        // A small message (a control loop's) may use the memory's reserve.
        let ceiling = match (bytes <= COMPACT_MAX, requester) {
            (true, Some(_)) => memory.limit(),
            _ => memory.ceiling(),
        };
        let over = || (memory.used().saturating_add(bytes)).saturating_sub(ceiling);
        if over() == 0 {
            return true;
        }
        if bytes > memory.limit() || over() > self.held.load(Ordering::Acquire) {
            // Nothing the channels hold could make room (what fills the
            // budget is elsewhere: outboxes, frames arriving): keep it all,
            // and ask the loop to close readers pinning outboxes.
            memory.ran_short();
            return false;
        }
        let Some(channels) = self.channels.upgrade() else {
            return false;
        };
        let is_requester = |slot: &Slot| requester.is_some_and(|r| std::ptr::eq(slot, r));
        // The fullest first; of equals, the one idle longest; only those
        // holding at least what the requester will.
        let slots: Vec<Arc<Slot>> = channels.read().values().cloned().collect();
        let mut slots: Vec<(std::cmp::Reverse<usize>, Instant, Arc<Slot>)> = slots
            .into_iter()
            .filter(|slot| slot.charged.load(Ordering::Acquire) >= mine || is_requester(slot))
            .map(|slot| {
                let touched = slot.state.lock().touched;
                let charged = slot.charged.load(Ordering::Acquire);
                (std::cmp::Reverse(charged), touched, slot)
            })
            .collect();
        slots.sort_by_key(|(charged, touched, _)| (*charged, *touched));
        for (_, _, slot) in slots {
            let want = over();
            if want == 0 {
                return true;
            }
            let mut state = slot.state.lock();
            // The requester keeps its latest values, and so do channels the
            // host wrote itself (latched values).
            let latest = !is_requester(&slot) && !state.own;
            state.shed(want, latest);
            slot.settle(&mut state);
        }
        let made = over() == 0;
        if !made {
            memory.ran_short();
        }
        made
    }
}

impl SlotState {
    /// Payload bytes this channel holds: queue, history, each sender's
    /// latest and its own latest values. A large payload is not copied for
    /// the latest values, so one buffer is often the queue's newest message,
    /// its sender's latest and the channel's latest at once: it is counted
    /// once. The queue and the history are counted apart, though they may
    /// share: an upper bound.
    pub(super) fn retained(&self) -> usize {
        let same = |a: &[u8], b: &[u8]| a.as_ptr() == b.as_ptr() && a.len() == b.len();
        let newest = self.queue.newest();
        let queued = |m: &Message| newest.is_some_and(|n| same(n, &m.payload));
        let senders = |m: &Message| {
            let theirs = self.by_client.get(&m.from);
            theirs.is_some_and(|t| same(&t.payload, &m.payload))
        };
        let mut by_client = self.by_client_bytes;
        let mut latest = 0;
        if let Some(m) = &self.latest {
            match (queued(m), senders(m)) {
                // The sender's latest is the queue's newest.
                (true, true) => by_client -= m.payload.len(),
                (false, false) => latest = m.payload.len(),
                _ => {}
            }
        }
        let image = self.latest_image.as_ref().map_or(0, |m| {
            let with_latest = self
                .latest
                .as_ref()
                .is_some_and(|l| same(&l.payload, &m.payload));
            match with_latest || queued(m) || senders(m) {
                true => 0,
                false => m.payload.len(),
            }
        });
        self.queue.bytes() + self.history.bytes() + by_client + latest + image
    }

    /// Lets go of up to `want` bytes, oldest first: queued messages (counted
    /// as dropped), then history, then other senders' latest messages, and
    /// with `latest` the channel's latest values too. Returns what it let go.
    pub(super) fn shed(&mut self, want: usize, latest: bool) -> usize {
        let before = self.retained();
        let target = before.saturating_sub(want);
        while self.retained() > target && !self.queue.is_empty() {
            let keep = Limits {
                messages: self.queue.len() - 1,
                bytes: usize::MAX,
            };
            self.dropped += self.queue.trim(keep);
        }
        while self.retained() > target && self.history.forget_oldest() {}
        while self.retained() > target && self.forget_oldest_sender().is_some() {}
        if latest && self.retained() > target {
            self.latest_image = None;
            if self.retained() > target {
                self.latest = None;
            }
        }
        before - self.retained()
    }
}
