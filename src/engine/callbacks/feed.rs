//! A message callback's feed: the store hands it a channel's messages on
//! the event loop ([`Feed::offer`], which never waits), and its lane's job
//! runs the callback on them, in order, on the dispatcher.
//!
//! What waits in the lane is bounded in messages and bytes and charged to
//! the handle's memory budget (`dispatch::lane`); the payloads a push keeps
//! that may share a receive buffer with other messages (data of
//! [`LARGE_FRAME`] or less) are copied out of it, together into one buffer
//! of their own, so what waits holds what it is charged for and no more;
//! and a newer image on a channel replaces the one of that channel still
//! waiting: a callback on a camera gets the newest frame, not a backlog.

use std::collections::vec_deque::IterMut;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use bytes::BytesMut;

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
        // By reference: the batch, and its charge, go after the last call.
        for msg in &batch.items {
            if !self.is_alive() {
                break;
            }
            if let Err(message) = guarded(|| (self.f)(msg)) {
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
        let pushed = self.lane.push(msgs);
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

    /// An image may replace one waiting: an older one of its channel.
    fn may_replace(&self) -> bool {
        self.image_meta().is_some()
    }

    fn replaces(&self, older: &Message) -> bool {
        older.image_meta().is_some() && self.channel() == older.channel()
    }

    /// Copies the payloads that may be spans of a shared receive buffer
    /// (data, not images, of [`LARGE_FRAME`] or less) into one buffer of
    /// their own: one allocation per push, and what waits pins nothing more.
    /// Images have buffers of their own already, and are the only messages
    /// replaced while they wait.
    fn settle(fresh: IterMut<'_, Message>) {
        let mut shared: Vec<&mut Message> = fresh
            .filter(|msg| msg.image_meta().is_none() && msg.payload.len() <= LARGE_FRAME)
            .collect();
        let total = shared.iter().map(|msg| msg.payload.len()).sum();
        if total == 0 {
            return;
        }
        let mut own = BytesMut::with_capacity(total);
        shared
            .iter()
            .for_each(|msg| own.extend_from_slice(&msg.payload));
        let mut own = own.freeze();
        for msg in &mut shared {
            msg.payload = own.split_to(msg.payload.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::Instant;

    use bytes::Bytes;

    use super::*;
    use crate::ClientId;
    use crate::protocol::{ChannelName, ImageMeta};

    #[test]
    fn settling_copies_small_data_into_one_buffer_and_leaves_images_and_large_ones() {
        let chunk = Bytes::from(
            (0..=255u8)
                .cycle()
                .take(4 * LARGE_FRAME)
                .collect::<Vec<_>>(),
        );
        let at = |range: std::ops::Range<usize>| {
            let name = ChannelName::new("ch").expect("a name");
            Message::new(name, chunk.slice(range), ClientId(1), Instant::now())
        };
        let meta = ImageMeta {
            width: 1,
            height: 1,
            format: 0,
            stride: 3,
            seq: 0,
            timestamp_ns: 0,
            total_len: 3,
        };
        let mut msgs = VecDeque::from([
            at(0..10),
            at(10..13).with_image(meta),
            at(20..30),
            at(0..LARGE_FRAME + 1),
        ]);
        let before: Vec<Bytes> = msgs.iter().map(|m| m.payload().clone()).collect();
        Message::settle(msgs.range_mut(..));
        let within = |msg: &Message| chunk.as_ptr_range().contains(&msg.payload().as_ptr());
        let moved: Vec<bool> = msgs.iter().map(|m| !within(m)).collect();
        assert_eq!(moved, [true, false, true, false]);
        let after: Vec<Bytes> = msgs.iter().map(|m| m.payload().clone()).collect();
        assert_eq!(after, before, "the same bytes");
        // One buffer for the two copied: the second follows the first.
        let (first, second) = (&msgs[0].payload()[..], &msgs[2].payload()[..]);
        assert_eq!(first.as_ptr_range().end, second.as_ptr());
    }
}
