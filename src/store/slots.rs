//! Who may make channels: a table of at most so many, a quota per client,
//! and the slot of the channel idle longest making way when the table is
//! full. What the registry forgets goes from the channels too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Slot, Store};
use crate::ClientId;
use crate::protocol::ChannelName;

/// Who may make channels in a store: at most `max` in all, at most
/// `per_client` made by one client's frames; a channel idle for `idle`
/// makes way for a new one when the store is full.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChannelRule {
    pub(crate) max: usize,
    pub(crate) per_client: usize,
    pub(crate) idle: Duration,
}

impl Default for ChannelRule {
    fn default() -> ChannelRule {
        ChannelRule {
            max: usize::MAX,
            per_client: usize::MAX,
            idle: Duration::MAX,
        }
    }
}

/// Why a peer's frame found no slot for its new channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoSlot {
    /// The store holds its most channels and none has lain idle long enough.
    Full { max: usize },
    /// The sender made its quota of channels.
    Quota { max: usize },
}

impl Store {
    /// The slot of `name` for a frame from a peer at `now`, made if new:
    /// unless its `maker` (a host's client; `None` on a client, whose host
    /// is not held to a quota) made its quota of channels already, or the
    /// store holds its most and none has lain idle (no arrival, nobody
    /// holding it) long enough to make way.
    pub(crate) fn slot_for_peer(
        &self,
        name: &ChannelName,
        maker: Option<ClientId>,
        now: Instant,
    ) -> Result<Arc<Slot>, NoSlot> {
        if let Some(slot) = self.existing(name.as_str()) {
            return Ok(slot);
        }
        let made = maker.and_then(|m| self.made.lock().get(&m).copied());
        if made.unwrap_or(0) >= self.rule.per_client {
            return Err(NoSlot::Quota {
                max: self.rule.per_client,
            });
        }
        if self.channels.read().len() >= self.rule.max && !self.reclaim(now) {
            return Err(NoSlot::Full { max: self.rule.max });
        }
        let slot = self.slot(name);
        let mut state = slot.state.lock();
        if let (None, Some(maker)) = (state.maker, maker) {
            state.maker = Some(maker);
            *self.made.lock().entry(maker).or_default() += 1;
        }
        drop(state);
        Ok(slot)
    }

    /// Frees the slot of the channel idle longest, if one has lain idle
    /// for the rule's time and nobody holds it (no subscription, callback,
    /// reader or connection on it) and the host never wrote to it itself (a latched
    /// value); returns whether it freed one.
    fn reclaim(&self, now: Instant) -> bool {
        let mut not_before = self.no_reclaim_before.lock();
        if not_before.is_some_and(|t| now < t) {
            return false;
        }
        let mut channels = self.channels.write();
        let mut oldest: Option<(Instant, Arc<str>)> = None;
        let mut next: Option<Instant> = None;
        for (name, slot) in channels.iter() {
            if Arc::strong_count(slot) > 1 {
                continue;
            }
            // A subscription or callback on this very channel holds the
            // slot (counted above); one on a pattern is attached again if
            // the channel comes back, and a dropped one is only an unused
            // sender.
            let state = slot.state.lock();
            if state.own {
                continue;
            }
            let Some(free_at) = state.touched.checked_add(self.rule.idle) else {
                continue;
            };
            if free_at > now {
                next = Some(next.map_or(free_at, |n| n.min(free_at)));
            } else if oldest.as_ref().is_none_or(|(t, _)| state.touched < *t) {
                oldest = Some((state.touched, Arc::clone(name)));
            }
        }
        let Some((_, name)) = oldest else {
            // Nothing before the first idle one comes due; with none coming
            // due, nothing for an idle time (or an hour, if that is longer).
            let later = now.checked_add(self.rule.idle.min(Duration::from_secs(3600)));
            *not_before = next.or(later);
            return false;
        };
        let Some(slot) = channels.remove(&name) else {
            return false;
        };
        drop(channels);
        let maker = slot.state.lock().maker;
        if let Some(maker) = maker {
            let mut made = self.made.lock();
            if let Some(n) = made.get_mut(&maker) {
                *n = n.saturating_sub(1);
            }
        }
        // Dropping it gives what it held back to the budget.
        drop(slot);
        true
    }

    /// Forgets what `clients` sent as their latest on each channel, and
    /// the count of channels they made: the registry forgot them, and
    /// nobody can ask for them by id any more.
    pub(crate) fn forget_senders(&self, clients: &[ClientId]) {
        if clients.is_empty() {
            return;
        }
        self.made.lock().retain(|id, _| !clients.contains(id));
        for slot in self.channels.read().values() {
            let mut state = slot.state.lock();
            for id in clients {
                if let Some(old) = state.by_client.remove(id) {
                    state.by_client_bytes -= old.payload.len();
                }
            }
            slot.settle(&mut state);
        }
    }
}
