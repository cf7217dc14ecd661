//! Reading many channels at once: `get_all` and subscriptions over a
//! channel pattern, now and to come.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{Buffer, BufferAccount, Message, PatternSub, Slot, Store, Subscriber, Subscription};
use crate::protocol::Pattern;

impl Store {
    /// As `get_all_matching`, but when nothing is queued waits up to
    /// `timeout` for a batch on any channel, then looks again. A malformed
    /// pattern names no channel: nothing, at once, as for a malformed name.
    pub(super) fn get_all_matching_timeout(
        &self,
        pattern: &str,
        timeout: Duration,
    ) -> Vec<Message> {
        let Ok(pattern) = Pattern::new(pattern) else {
            return Vec::new();
        };
        let pattern = &pattern;
        let deadline = crate::time::deadline(timeout);
        let any = &self.any;
        // Counted before the first look, so a batch stored after it signals.
        any.waiters.fetch_add(1, Ordering::SeqCst);
        let mut held = any.lock.lock();
        let found = loop {
            let found = self.get_all_matching(pattern);
            if !found.is_empty() || self.closed.load(Ordering::SeqCst) {
                break found;
            }
            let timed_out = match deadline {
                Some(deadline) => any.arrived.wait_until(&mut held, deadline).timed_out(),
                None => {
                    any.arrived.wait(&mut held);
                    false
                }
            };
            if timed_out {
                break self.get_all_matching(pattern);
            }
        };
        drop(held);
        any.waiters.fetch_sub(1, Ordering::SeqCst);
        found
    }

    /// `get_all` of every channel `pattern` names, channel by channel in
    /// name order.
    pub(super) fn get_all_matching(&self, pattern: &Pattern) -> Vec<Message> {
        let mut slots: Vec<Arc<Slot>> = self
            .channels
            .read()
            .iter()
            .filter(|(name, _)| pattern.matches(name))
            .map(|(_, slot)| Arc::clone(slot))
            .collect();
        slots.sort_by(|a, b| a.name().as_str().cmp(b.name().as_str()));
        let queues = slots.iter().map(|slot| slot.take_queue());
        queues.flat_map(|queue| queue.into_messages()).collect()
    }

    /// A subscription to every channel `pattern` names, now and to come;
    /// for an invalid pattern or a closed store, one that reports
    /// disconnection once empty.
    pub(super) fn subscribe_pattern(&self, pattern: &str) -> Subscription {
        let (tx, rx) = crossbeam_channel::bounded(self.default_capacity.max(1));
        let account = BufferAccount::new(self.queue_bytes, Arc::clone(&self.memory));
        let (rx, alive) = (Buffer::new(rx, Arc::clone(&account)), Arc::new(()));
        let Ok(pattern) = Pattern::new(pattern) else {
            return Subscription::pattern(rx, alive);
        };
        let to = Subscriber::Buffer(tx, account);
        self.add_pattern(pattern, to, Some(Arc::downgrade(&alive)));
        Subscription::pattern(rx, alive)
    }

    /// Gives `to` the messages of every channel `pattern` names, now and to
    /// come (nothing once the store is closed).
    pub(super) fn add_pattern(&self, pattern: Pattern, to: Subscriber, alive: Option<Weak<()>>) {
        // `channels` before `patterns`, as `slot` takes them: a channel made
        // meanwhile is attached once, by one or the other.
        let channels = self.channels.read();
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        for (name, slot) in channels.iter() {
            if pattern.matches(name) {
                slot.state.lock().subscribers.push(to.clone());
            }
        }
        let mut patterns = self.patterns.lock();
        patterns.retain(PatternSub::is_alive);
        patterns.push(PatternSub { pattern, to, alive });
    }
}
