//! A channel's history: the last messages it stored, kept apart from the
//! queue that `get_all` drains, for readers that want to look back without
//! consuming (a late reader's catch-up, a command hub's past commands).
//!
//! Off (depth 0) by default: then a history holds nothing and is never
//! allocated, and the store's hot paths pay one comparison per batch.

use std::collections::{HashMap, VecDeque};

use super::Message;

/// How deep each channel's history is: a default, per-channel overrides, and
/// a byte cap per channel.
#[derive(Debug, Clone, Default)]
pub(crate) struct HistoryRule {
    /// Messages kept per channel unless the channel has its own depth; 0 is off.
    pub(crate) depth: usize,
    /// Depths of named channels, overriding `depth`.
    pub(crate) depths: HashMap<String, usize>,
    /// Most payload bytes one channel's history holds (its newest message is
    /// kept whatever its size).
    pub(crate) max_bytes: usize,
}

impl HistoryRule {
    /// An empty history for `channel` under this rule.
    pub(crate) fn history_of(&self, channel: &str) -> History {
        let depth = self.depths.get(channel).copied().unwrap_or(self.depth);
        History {
            depth,
            max_bytes: self.max_bytes,
            msgs: VecDeque::new(),
            bytes: 0,
        }
    }
}

/// The last messages of one channel, oldest first, at most `depth` of them
/// and (beyond the newest) at most `max_bytes` of payload. The messages share
/// their payload buffers with the queue and the subscribers: nothing is copied.
#[derive(Debug, Default)]
pub(crate) struct History {
    depth: usize,
    max_bytes: usize,
    /// Empty, and unallocated, while the depth is 0.
    msgs: VecDeque<Message>,
    /// Payload bytes of `msgs`.
    bytes: usize,
}

impl History {
    /// Whether this channel keeps a history at all.
    pub(crate) fn is_on(&self) -> bool {
        self.depth > 0
    }

    /// How many of `len` messages stored together can stay: the older ones
    /// would be pushed out by the batch itself, so they are never cloned.
    pub(crate) fn keeps_of(&self, len: usize) -> usize {
        len.min(self.depth)
    }

    /// Appends messages (oldest first), then forgets the oldest beyond the
    /// depth or the byte cap.
    pub(crate) fn extend(&mut self, msgs: impl Iterator<Item = Message>) {
        for msg in msgs {
            self.bytes += msg.payload.len();
            self.msgs.push_back(msg);
        }
        while self.msgs.len() > self.depth || (self.bytes > self.max_bytes && self.msgs.len() > 1) {
            let Some(old) = self.msgs.pop_front() else {
                break;
            };
            self.bytes -= old.payload.len();
        }
    }

    /// Payload bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Forgets the oldest message; whether there was one.
    pub(crate) fn forget_oldest(&mut self) -> bool {
        let Some(old) = self.msgs.pop_front() else {
            return false;
        };
        self.bytes -= old.payload.len();
        true
    }

    /// The messages, oldest first, without removing them.
    pub(crate) fn to_vec(&self) -> Vec<Message> {
        self.msgs.iter().cloned().collect()
    }
}
