//! Where a channel's messages go besides its queue: the buffers of
//! [`Subscription`](super::Subscription)s, and feeds (a handle's message
//! callbacks). A channel with neither pays nothing for them: its slot
//! checks one `Vec` for emptiness per batch.

use std::fmt;
use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};

use super::{Message, PatternSub, Store};
use crate::protocol::{ChannelName, Pattern};

/// Takes a channel's messages as they are stored (a callback's queue).
pub(crate) trait Feed: Send + Sync {
    /// Takes `msgs`, in the order they arrived; returns how many it
    /// dropped. Called on the event loop under the channel's lock: it must
    /// not wait.
    fn offer(&self, msgs: &mut dyn Iterator<Item = Message>) -> u64;

    /// Whether it still takes messages; a channel forgets one that does not.
    fn is_alive(&self) -> bool;
}

/// One taker of a channel's messages.
#[derive(Clone)]
pub(super) enum Subscriber {
    /// A subscription's buffer.
    Buffer(Sender<Message>),
    /// A callback's feed.
    Feed(Arc<dyn Feed>),
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subscriber::Buffer(tx) => write!(f, "Buffer({} buffered)", tx.len()),
            Subscriber::Feed(_) => f.write_str("Feed"),
        }
    }
}

impl Subscriber {
    /// Offers `msgs`: returns how many it dropped (full), or `None` once it
    /// is gone (a dropped subscription, a removed callback).
    pub(super) fn offer(&self, mut msgs: impl Iterator<Item = Message>) -> Option<u64> {
        match self {
            Subscriber::Buffer(tx) => {
                let mut dropped = 0;
                for msg in msgs {
                    match tx.try_send(msg) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => dropped += 1,
                        Err(TrySendError::Disconnected(_)) => return None,
                    }
                }
                Some(dropped)
            }
            Subscriber::Feed(feed) if feed.is_alive() => Some(feed.offer(&mut msgs)),
            Subscriber::Feed(_) => None,
        }
    }

    /// Whether this is `feed`.
    fn is(&self, feed: &Arc<dyn Feed>) -> bool {
        matches!(self, Subscriber::Feed(mine) if Arc::ptr_eq(mine, feed))
    }
}

/// Invalid name or pattern given to [`Store::attach`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoChannel;

impl Store {
    /// Feeds `feed` every message stored from now on on `channel`, or on
    /// every channel the pattern `channel` names (those to come included).
    /// On a closed store it is fed nothing.
    ///
    /// # Errors
    ///
    /// `NoChannel` when `channel` is neither a valid name nor a pattern.
    pub(crate) fn attach(&self, channel: &str, feed: Arc<dyn Feed>) -> Result<(), NoChannel> {
        let to = Subscriber::Feed(feed);
        if Pattern::is_pattern(channel) {
            let pattern = Pattern::new(channel).map_err(|_| NoChannel)?;
            self.add_pattern(pattern, to, None);
            return Ok(());
        }
        let name = ChannelName::new(channel).map_err(|_| NoChannel)?;
        if let Some(slot) = self.slot_to_wait_on(name.as_str()) {
            let mut state = slot.state.lock();
            if !state.closed {
                state.subscribers.push(to);
            }
        }
        Ok(())
    }

    /// Stops feeding `feed`, on every channel and pattern, so the store
    /// holds it no more.
    pub(crate) fn detach(&self, feed: &Arc<dyn Feed>) {
        {
            // As `close`: under `channels`, so a channel made meanwhile
            // either is visited below or never gets it.
            let _channels = self.channels.write();
            self.patterns.lock().retain(|sub| !sub.to.is(feed));
        }
        for slot in self.channels.read().values() {
            slot.state.lock().subscribers.retain(|to| !to.is(feed));
        }
    }
}

impl PatternSub {
    /// Whether its subscription or feed still takes messages.
    pub(super) fn is_alive(&self) -> bool {
        match (&self.to, &self.alive) {
            (Subscriber::Feed(feed), _) => feed.is_alive(),
            (Subscriber::Buffer(_), Some(alive)) => alive.strong_count() > 0,
            (Subscriber::Buffer(_), None) => false,
        }
    }
}
