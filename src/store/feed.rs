//! Where a channel's messages go besides its queue: the buffers of
//! [`Subscription`](super::Subscription)s, and feeds (a handle's message
//! callbacks). A channel with neither pays nothing for them: its slot
//! checks one `Vec` for emptiness per batch.

use std::fmt;
use std::sync::Arc;

use crossbeam_channel::Sender;

use super::buffer::BufferAccount;
use super::{Message, PatternSub, Slot, Store};
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
    /// A subscription's buffer, and what it holds.
    Buffer(Sender<Message>, Arc<BufferAccount>),
    /// A callback's feed.
    Feed(Arc<dyn Feed>),
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subscriber::Buffer(tx, _) => write!(f, "Buffer({} buffered)", tx.len()),
            Subscriber::Feed(_) => f.write_str("Feed"),
        }
    }
}

impl Subscriber {
    /// Offers `msgs`: returns how many it dropped (full), or `None` once it
    /// is gone (a dropped subscription, a removed callback).
    pub(super) fn offer(&self, mut msgs: impl Iterator<Item = Message>) -> Option<u64> {
        match self {
            Subscriber::Buffer(tx, account) => account.offer(tx, msgs),
            Subscriber::Feed(feed) if feed.is_alive() => Some(feed.offer(&mut msgs)),
            Subscriber::Feed(_) => None,
        }
    }

    /// Whether this is `feed`.
    fn is(&self, feed: &Arc<dyn Feed>) -> bool {
        matches!(self, Subscriber::Feed(mine) if Arc::ptr_eq(mine, feed))
    }
}

/// Invalid name or pattern given to [`Source::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoChannel;

/// Where a feed takes its messages from: one channel, or every channel a
/// pattern names (those to come included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Channel(ChannelName),
    Pattern(Pattern),
}

impl Source {
    /// `channel` read as a pattern if it is one, else as a name.
    ///
    /// # Errors
    ///
    /// `NoChannel` when it is neither a valid name nor a valid pattern.
    pub(crate) fn parse(channel: &str) -> Result<Source, NoChannel> {
        match Pattern::is_pattern(channel) {
            true => Pattern::new(channel).map(Source::Pattern),
            false => ChannelName::new(channel).map(Source::Channel),
        }
        .map_err(|_| NoChannel)
    }
}

impl Store {
    /// Feeds `feed` every message stored from now on on `source`; on a
    /// closed store it is fed nothing. For one channel, returns its slot:
    /// held, it keeps the channel from being [reclaimed](Self::slot_for_peer)
    /// (and the feed with it) while the feed is attached, as a
    /// [`Subscription`](super::Subscription) does; a pattern's feed is
    /// attached again to a channel made anew.
    pub(crate) fn attach(&self, source: &Source, feed: Arc<dyn Feed>) -> Option<Arc<Slot>> {
        let to = Subscriber::Feed(feed);
        let name = match source {
            Source::Pattern(pattern) => {
                self.add_pattern(pattern.clone(), to, None);
                return None;
            }
            Source::Channel(name) => name,
        };
        let slot = self.slot_to_wait_on(name.as_str())?;
        let mut state = slot.state.lock();
        if !state.closed {
            state.subscribers.push(to);
        }
        drop(state);
        Some(slot)
    }

    /// Puts `new` in the place of `old` wherever `old` is attached, so each
    /// batch goes to one of them, never both nor neither: for a callback
    /// replaced by one on the same channel.
    pub(crate) fn replace(&self, old: &Arc<dyn Feed>, new: Arc<dyn Feed>) {
        let new = Subscriber::Feed(new);
        let swap = |to: &mut Subscriber| {
            if to.is(old) {
                *to = new.clone();
            }
        };
        {
            // As `detach`: a channel made meanwhile gets one or the other.
            let _channels = self.channels.write();
            self.patterns
                .lock()
                .iter_mut()
                .for_each(|sub| swap(&mut sub.to));
        }
        for slot in self.channels.read().values() {
            slot.state.lock().subscribers.iter_mut().for_each(swap);
        }
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
            (Subscriber::Buffer(..), Some(alive)) => alive.strong_count() > 0,
            (Subscriber::Buffer(..), None) => false,
        }
    }
}
