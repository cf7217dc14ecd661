//! A message callback's feed: the store hands it a channel's messages on
//! the event loop ([`Feed::offer`], which never waits), and its lane's job
//! runs the callback on them, in order, on the dispatcher.
//!
//! What waits in the lane is bounded in messages and bytes and charged to
//! the handle's memory budget (`dispatch::lane`); a payload that may share
//! a receive buffer with other messages (one of [`LARGE_FRAME`] or less) is
//! copied out of it first, so a waiting message holds its own bytes only;
//! and a newer image on a channel replaces the one of that channel still
//! waiting: a callback on a camera gets the newest frame, not a backlog.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use super::Counters;
use crate::Event;
use crate::dispatch::{Dispatcher, Item, Lane, guarded};
use crate::engine::Emitter;
use crate::engine::read_buf::LARGE_FRAME;
use crate::memory::Memory;
use crate::store::{Feed, Message};

/// A message callback as the engine holds it.
pub(crate) type OnMessage = Arc<dyn Fn(&Message) + Send + Sync>;

/// One message callback: its function, its queue, and what its job needs.
pub(crate) struct MessageFeed {
    /// Names it in events: `callback "log" on "pose"`.
    label: String,
    f: OnMessage,
    lane: Lane<Message>,
    /// Cleared when it is removed: the store forgets it, its job stops.
    alive: AtomicBool,
    /// Itself, for the jobs it queues.
    me: Weak<MessageFeed>,
    dispatcher: Arc<Dispatcher>,
    emitter: Emitter,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for MessageFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageFeed")
            .field("label", &self.label)
            .field("queued", &self.lane.len())
            .finish_non_exhaustive()
    }
}

/// What a new feed is made of.
pub(super) struct Parts {
    pub(super) label: String,
    pub(super) f: OnMessage,
    pub(super) capacity: usize,
    /// Most payload bytes waiting.
    pub(super) max_bytes: usize,
    /// What waiting messages are charged to.
    pub(super) memory: Arc<Memory>,
    pub(super) dispatcher: Arc<Dispatcher>,
    pub(super) emitter: Emitter,
    pub(super) counters: Arc<Counters>,
}

impl MessageFeed {
    pub(super) fn new(parts: Parts) -> Arc<MessageFeed> {
        Arc::new_cyclic(|me| MessageFeed {
            label: parts.label,
            f: parts.f,
            lane: Lane::new(parts.capacity).bounded(parts.max_bytes, parts.memory),
            alive: AtomicBool::new(true),
            me: me.clone(),
            dispatcher: parts.dispatcher,
            emitter: parts.emitter,
            counters: parts.counters,
        })
    }

    /// Stops it: what waits is forgotten (returns how many messages),
    /// nothing more is taken, and a batch being run stops before its next
    /// call.
    pub(super) fn close(&self) -> usize {
        self.alive.store(false, Ordering::Release);
        self.lane.close()
    }

    /// Takes on `messages` that the callback it replaces had waiting and
    /// forgot: counted as dropped, and reported with its next batch.
    pub(super) fn inherit_dropped(&self, messages: usize) {
        let messages = messages as u64;
        self.counters.dropped(messages);
        self.lane.count_dropped(messages);
    }

    /// Messages waiting.
    pub(super) fn queued(&self) -> usize {
        self.lane.len()
    }

    /// Queues the job that drains the lane; a dispatcher shut down runs
    /// nothing any more, so a refusal is the end of it.
    fn schedule(&self) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let _ = self.dispatcher.submit_lane(Box::new(move || me.drain()));
    }

    /// On the dispatcher: reports what was dropped, runs the callback on
    /// each message waiting, and goes again (behind the dispatcher's other
    /// jobs) if more came meanwhile.
    fn drain(&self) {
        let batch = self.lane.take();
        if batch.dropped > 0 {
            self.emitter.emit(Event::CallbackDropped {
                callback: self.label.clone(),
                dropped: batch.dropped,
            });
        }
        for msg in batch.items {
            if !self.is_alive() {
                break;
            }
            if let Err(message) = guarded(|| (self.f)(&msg.item)) {
                self.counters.panicked();
                self.emitter.emit(Event::CallbackPanicked {
                    callback: self.label.clone(),
                    message,
                });
            }
        }
        if self.lane.done() {
            self.schedule();
        }
    }
}

impl Feed for MessageFeed {
    fn offer(&self, msgs: &mut dyn Iterator<Item = Message>) -> u64 {
        let pushed = self.lane.push(msgs.map(|msg| msg.compacted(LARGE_FRAME)));
        self.counters.dropped(pushed.dropped);
        if pushed.start {
            self.schedule();
        }
        pushed.dropped
    }

    fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }
}

impl Item for Message {
    fn bytes(&self) -> usize {
        self.payload().len()
    }

    /// A newer image replaces an older one of its channel.
    fn replaces(&self, older: &Message) -> bool {
        let images = self.image_meta().is_some() && older.image_meta().is_some();
        images && self.channel() == older.channel()
    }
}
