//! The channel store: per channel, the latest message, a bounded queue, the latest
//! message from each client, subscribers, and (if configured) a history.
//!
//! The event loop inserts whole batches under one short lock; readers (`get`,
//! `get_all`) take the same lock for a pointer swap or a clone and never wait on
//! the network.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};

mod ages;
mod budget;
mod buffer;
mod feed;
mod history;
mod matching;
mod message;
mod queue;
mod slots;
mod subscription;
use buffer::{Buffer, BufferAccount};
#[cfg(feature = "serde")]
mod typed;

use crate::ChannelStats;
use crate::ClientId;
use crate::image::Image;
use crate::memory::Memory;
pub(crate) use crate::message::Message;
use crate::protocol::{ChannelName, Pattern};
use budget::copies;
use feed::Subscriber;
pub(crate) use feed::{Feed, NoChannel, Source};
use history::History;
pub(crate) use history::HistoryRule;
pub(crate) use queue::Run;
use queue::{Limits, Queue};
pub(crate) use slots::{ChannelRule, NoSlot};
pub use subscription::Subscription;
#[cfg(feature = "serde")]
pub use typed::TypedSubscription;

/// A subscription or feed on a pattern, kept to attach to channels made later.
#[derive(Debug)]
struct PatternSub {
    pattern: Pattern,
    to: Subscriber,
    /// A subscription's: gone once every clone of it is dropped.
    alive: Option<std::sync::Weak<()>>,
}

/// Name to slot, shared with the slots (weakly) so that one short of
/// memory can let go of what the others hold.
type Channels = RwLock<HashMap<Arc<str>, Arc<Slot>>>;

/// All channels of one host or client.
#[derive(Debug)]
pub(crate) struct Store {
    /// Name to slot. A `RwLock` because lookups (a connection's first frame on a
    /// channel, every `get`) far outnumber the creation of channels.
    channels: Arc<Channels>,
    /// Subscriptions to patterns, attached to each matching channel as it is
    /// made. Locked after `channels`, never before.
    patterns: Mutex<Vec<PatternSub>>,
    /// Signalled by every slot's batches while a pattern's reader waits.
    any: Arc<AnyArrival>,
    default_capacity: usize,
    capacities: HashMap<String, usize>,
    /// Who may make channels, and when an idle one makes way.
    rule: ChannelRule,
    /// Channels each client made, against its quota.
    made: Mutex<HashMap<ClientId, usize>>,
    /// No slot can be reclaimed before this (the last search found none
    /// idle long enough): spares a full table a search per frame.
    no_reclaim_before: Mutex<Option<Instant>>,
    /// Queue capacity of a channel once images arrive on it, unless the
    /// channel has a capacity of its own.
    image_capacity: usize,
    /// How deep each channel's history is (off unless configured).
    history: HistoryRule,
    /// Most payload bytes one channel's queue holds beyond its newest message.
    queue_bytes: usize,
    /// The handle's memory budget: every slot charges what it holds.
    memory: Arc<Memory>,
    /// What all slots hold together (their share of `memory`).
    held: Arc<AtomicUsize>,
    /// Set by [`close`](Self::close); channels made afterwards start closed.
    closed: AtomicBool,
}

impl Store {
    pub(crate) fn new(default_capacity: usize, capacities: HashMap<String, usize>) -> Store {
        Store {
            channels: Arc::default(),
            patterns: Mutex::default(),
            any: Arc::default(),
            default_capacity,
            capacities,
            rule: ChannelRule::default(),
            made: Mutex::default(),
            no_reclaim_before: Mutex::default(),
            image_capacity: usize::MAX,
            history: HistoryRule::default(),
            queue_bytes: usize::MAX,
            memory: Memory::new(usize::MAX),
            held: Arc::default(),
            closed: AtomicBool::new(false),
        }
    }

    /// Charges what the channels hold to `memory`, and caps each channel's
    /// queue at `queue_bytes` of payload (beyond its newest message).
    pub(crate) fn hold_in(mut self, memory: Arc<Memory>, queue_bytes: usize) -> Store {
        self.memory = memory;
        self.queue_bytes = queue_bytes;
        self
    }

    /// Keeps a history per channel under `rule`.
    pub(crate) fn keep_history(mut self, rule: HistoryRule) -> Store {
        self.history = rule;
        self
    }

    /// Caps the queue of channels that carry images at `capacity` messages.
    pub(crate) fn limit_images(mut self, capacity: usize) -> Store {
        self.image_capacity = capacity;
        self
    }

    /// Limits how many channels peers' frames may create.
    pub(crate) fn limit_channels(mut self, rule: ChannelRule) -> Store {
        self.rule = rule;
        self
    }

    /// The slot of `name`, created on first use.
    pub(crate) fn slot(&self, name: &ChannelName) -> Arc<Slot> {
        if let Some(slot) = self.channels.read().get(name.as_str()) {
            return Arc::clone(slot);
        }
        let own = self.capacities.get(name.as_str()).copied();
        let capacity = own.unwrap_or(self.default_capacity);
        let image_capacity = match own {
            Some(own) => own,
            None => capacity.min(self.image_capacity),
        };
        let mut channels = self.channels.write();
        let slot = channels.entry(Arc::from(name.as_str())).or_insert_with(|| {
            // Read under the write lock: `close` sets the flag before it
            // visits the channels, so a slot is either visited or born closed.
            let history = self.history.history_of(name.as_str());
            let keeps_history = history.is_on();
            let mut state = SlotState::new(capacity, image_capacity, history);
            state.queue_bytes = self.queue_bytes;
            state.closed = self.closed.load(Ordering::SeqCst);
            let mut patterns = self.patterns.lock();
            patterns.retain(PatternSub::is_alive);
            let matching = patterns
                .iter()
                .filter(|sub| sub.pattern.matches(name.as_str()));
            state.subscribers.extend(matching.map(|sub| sub.to.clone()));
            Arc::new(Slot {
                name: name.clone(),
                state: Mutex::new(state),
                arrived: Condvar::new(),
                any: Arc::clone(&self.any),
                memory: Arc::clone(&self.memory),
                held: Arc::clone(&self.held),
                charged: AtomicUsize::new(0),
                channels: Arc::downgrade(&self.channels),
                keeps_history,
            })
        });
        Arc::clone(slot)
    }

    /// The slot a reader may wait on for `name`; `None` where nothing can
    /// ever arrive: an invalid name, or a new one once the store is closed.
    fn slot_to_wait_on(&self, name: &str) -> Option<Arc<Slot>> {
        let name = ChannelName::new(name).ok()?;
        match self.closed.load(Ordering::SeqCst) {
            true => self.existing(name.as_str()),
            false => Some(self.slot(&name)),
        }
    }

    fn existing(&self, name: &str) -> Option<Arc<Slot>> {
        self.channels.read().get(name).cloned()
    }

    pub(crate) fn get(&self, channel: &str) -> Option<Message> {
        self.existing(channel)?.state.lock().latest.clone()
    }

    pub(crate) fn get_image(&self, channel: &str) -> Option<Image> {
        let slot = self.existing(channel)?;
        let state = slot.state.lock();
        state.latest_image.as_ref()?.image()
    }

    /// Images received and skipped on `channel`: `(received, skipped)`.
    pub(crate) fn image_counts(&self, channel: &str) -> (u64, u64) {
        let Some(slot) = self.existing(channel) else {
            return (0, 0);
        };
        let state = slot.state.lock();
        (state.images, state.images_skipped)
    }

    pub(crate) fn get_all(&self, channel: &str) -> Vec<Message> {
        if Pattern::is_pattern(channel) {
            // A malformed pattern names no channel.
            let Ok(pattern) = Pattern::new(channel) else {
                return Vec::new();
            };
            return self.get_all_matching(&pattern);
        }
        let Some(slot) = self.existing(channel) else {
            return Vec::new();
        };
        slot.take_queue().into_messages()
    }

    /// As `get_all`, but waits up to `timeout` for a first message when the queue
    /// is empty.
    pub(crate) fn get_all_timeout(&self, channel: &str, timeout: Duration) -> Vec<Message> {
        if Pattern::is_pattern(channel) {
            return self.get_all_matching_timeout(channel, timeout);
        }
        let Some(slot) = self.slot_to_wait_on(channel) else {
            return Vec::new();
        };
        let deadline = crate::time::deadline(timeout);
        let mut state = slot.state.lock();
        while state.queue.is_empty() && !state.closed {
            if slot.sleep(&mut state, deadline) {
                break;
            }
        }
        let queue = state.queue.take();
        slot.settle(&mut state);
        drop(state);
        queue.into_messages()
    }

    /// The channel's history, oldest first, left in place.
    pub(crate) fn history(&self, channel: &str) -> Vec<Message> {
        let Some(slot) = self.existing(channel) else {
            return Vec::new();
        };
        let state = slot.state.lock();
        state.history.to_vec()
    }

    pub(crate) fn get_by_client(&self, channel: &str) -> Vec<Message> {
        let Some(slot) = self.existing(channel) else {
            return Vec::new();
        };
        let state = slot.state.lock();
        state.by_client.values().cloned().collect()
    }

    /// A subscription; on an invalid name (where nothing can arrive) or a
    /// closed store, one that reports disconnection at once.
    pub(crate) fn subscribe(&self, channel: &str) -> Subscription {
        if Pattern::is_pattern(channel) {
            return self.subscribe_pattern(channel);
        }
        let Some(slot) = self.slot_to_wait_on(channel) else {
            return Subscription::new(Buffer::unfed(), None);
        };
        let mut state = slot.state.lock();
        let (tx, rx) = crossbeam_channel::bounded(state.capacity.max(1));
        let account = BufferAccount::new(state.queue_bytes, Arc::clone(&self.memory));
        if !state.closed {
            state
                .subscribers
                .push(Subscriber::Buffer(tx, Arc::clone(&account)));
        }
        drop(state);
        Subscription::new(Buffer::new(rx, account), Some(slot))
    }

    /// Ends every subscription (each returns what it buffered, then reports
    /// disconnection) and wakes every waiting reader: nothing will arrive
    /// any more. For the event loop's exit.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        {
            // Under `channels`, as `subscribe_pattern` reads the flag: a
            // pattern subscribed meanwhile is dropped here or never added.
            let _channels = self.channels.write();
            self.patterns.lock().clear();
        }
        {
            let _held = self.any.lock.lock();
            self.any.arrived.notify_all();
        }
        for slot in self.channels.read().values() {
            let mut state = slot.state.lock();
            state.closed = true;
            state.subscribers.clear();
            drop(state);
            slot.arrived.notify_all();
        }
    }

    pub(crate) fn stats(&self, channel: &str) -> Option<ChannelStats> {
        let slot = self.existing(channel)?;
        let state = slot.state.lock();
        Some(ChannelStats {
            received: state.received,
            bytes: state.bytes,
            dropped: state.dropped,
            queued: state.queue.len(),
            capacity: state.capacity,
        })
    }

    pub(crate) fn channels(&self) -> Vec<String> {
        let mut names: Vec<String> = self.channels.read().keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    }
}

/// Senders whose latest message one channel remembers, at most.
const BY_CLIENT_MAX: usize = 4096;

/// Payloads up to this size are copied when kept as a latest value.
const COMPACT_MAX: usize = 4096;

/// A message to keep for a long time (a latest value): a small payload is copied
/// out of its receive buffer, so it does not pin a whole shared buffer.
fn compact(msg: Message) -> Message {
    msg.compacted(COMPACT_MAX)
}

/// One channel.
#[derive(Debug)]
pub(crate) struct Slot {
    name: ChannelName,
    /// Held only to push a batch or to swap or clone out; never across I/O.
    state: Mutex<SlotState>,
    /// Signalled after every batch and on close, for `get_all_timeout` and
    /// [`Subscription`]s.
    arrived: Condvar,
    /// The store's signal for readers waiting on a pattern.
    any: Arc<AnyArrival>,
    /// The handle's memory budget, charged with what this slot holds.
    memory: Arc<Memory>,
    /// What all the store's slots hold together.
    held: Arc<AtomicUsize>,
    /// Bytes charged to `memory` now: what the state held when last
    /// settled. Readable without the lock, to pick whom to shed from.
    charged: AtomicUsize,
    /// Every slot of the store, this one included.
    channels: std::sync::Weak<Channels>,
    /// Whether the channel keeps a history (its bytes count apart).
    keeps_history: bool,
}

/// A store-wide signal for readers waiting on several channels (a pattern's
/// `get_all_timeout`): every batch on any channel signals it, but only while
/// such a reader waits, so other stores pay one atomic load per batch.
#[derive(Debug, Default)]
struct AnyArrival {
    waiters: AtomicUsize,
    lock: Mutex<()>,
    arrived: Condvar,
}

impl AnyArrival {
    /// After a batch was stored (and its slot's lock let go).
    fn signal(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _held = self.lock.lock();
            self.arrived.notify_all();
        }
    }
}

impl Slot {
    pub(crate) fn name(&self) -> &ChannelName {
        &self.name
    }

    /// Sleeps until the slot is signalled (a batch stored, or the store
    /// closed) or `deadline` passes (`None`: no deadline); returns whether
    /// it timed out. The lock is released meanwhile.
    fn sleep(&self, state: &mut MutexGuard<'_, SlotState>, deadline: Option<Instant>) -> bool {
        #[cfg(test)]
        {
            state.sleepers += 1;
        }
        let timed_out = match deadline {
            None => {
                self.arrived.wait(state);
                false
            }
            Some(deadline) => self.arrived.wait_until(state, deadline).timed_out(),
        };
        #[cfg(test)]
        {
            state.sleepers -= 1;
        }
        timed_out
    }

    /// Stores a batch of messages received in order, emptying `batch`;
    /// returns how many it refused (all or none) for want of memory, after
    /// [making room](Self::make_room), counted as dropped.
    pub(crate) fn push_batch(&self, batch: &mut Vec<Message>) -> usize {
        let Some(last) = batch.last() else {
            return 0;
        };
        let bytes = batch.iter().map(|m| m.payload.len()).sum::<usize>();
        if !self.make_room(self.held_for(bytes) + copies(last.payload.len())) {
            let refused = batch.len();
            batch.clear();
            self.count_refused(refused);
            return refused;
        }
        let latest = compact(last.clone());
        let mut state = self.state.lock();
        state.touched = last.received;
        state.latest = Some(latest);
        // The last message of each run of one sender is that sender's latest so far.
        let mut msgs = batch.iter().peekable();
        let mut latest_image = None;
        while let Some(msg) = msgs.next() {
            if msgs.peek().is_none_or(|next| next.from != msg.from) {
                state.set_by_client(compact(msg.clone()));
            }
            if msg.image_meta().is_some() {
                state.images += 1;
                latest_image = Some(msg);
            }
            state.received += 1;
            state.bytes += msg.payload.len() as u64;
        }
        if let Some(image) = latest_image {
            state.capacity = state.image_capacity;
            state.latest_image = Some(compact(image.clone()));
        }
        // The subscribers' copies after the queue's bytes are charged, so
        // they take only what the budget has left.
        let for_subscribers = (!state.subscribers.is_empty()).then(|| batch.clone());
        if state.history.is_on() {
            let skip = batch.len() - state.history.keeps_of(batch.len());
            state.history.extend(batch[skip..].iter().cloned());
        }
        let limits = state.limits();
        state.dropped += state.queue.push_messages(batch, limits);
        self.settle(&mut state);
        if let Some(msgs) = for_subscribers {
            state.notify(msgs.into_iter());
        }
        drop(state);
        self.wake_readers();
        0
    }

    /// Wakes the threads waiting for this batch (in `get_all_timeout` or a
    /// [`Subscription`]); if there were any, lets the loop hand them its core
    /// soon.
    fn wake_readers(&self) {
        if self.arrived.notify_all() > 0 {
            crate::pace::woke_a_waiter();
        }
        self.any.signal();
    }

    /// Counts `messages` refused for want of memory as dropped.
    pub(crate) fn count_refused(&self, messages: usize) {
        self.state.lock().dropped += messages as u64;
    }

    /// Records a message this side wrote itself (a host's write on a latched
    /// channel), so that it is the channel's latest value (and latest image)
    /// and joins its history. The queue, the subscribers, the per-sender
    /// latest and the counters are left alone: they are what arrived.
    pub(crate) fn record_own(&self, msg: Message) {
        let mut state = self.state.lock();
        state.own = true;
        if msg.image_meta().is_some() {
            state.latest_image = Some(compact(msg.clone()));
        }
        if state.history.is_on() {
            state.history.extend(std::iter::once(msg.clone()));
        }
        state.latest = Some(compact(msg));
        self.settle(&mut state);
    }

    /// Counts images a sender skipped (a gap in its sequence numbers).
    pub(crate) fn count_skipped(&self, images: u64) {
        self.state.lock().images_skipped += images;
    }

    /// Stores a run of payloads received together from one sender; as
    /// [`push_batch`](Self::push_batch), returns how many it refused.
    pub(crate) fn push_run(&self, run: Run) -> usize {
        let Some(last) = run.spans.len().checked_sub(1) else {
            return 0;
        };
        let bytes = run.bytes();
        let (start, end) = run.spans[last];
        if !self.make_room(self.held_for(bytes as usize) + copies((end - start) as usize)) {
            self.count_refused(run.spans.len());
            return run.spans.len();
        }
        let latest = compact(run.message(last));
        let mut state = self.state.lock();
        state.touched = run.received;
        state.set_by_client(latest.clone());
        state.latest = Some(latest);
        state.received += run.spans.len() as u64;
        state.bytes += bytes;
        let len = run.spans.len();
        // As in `push_batch`: the subscribers' copies after the queue's.
        let for_subscribers = (!state.subscribers.is_empty()).then(|| run.clone());
        if state.history.is_on() {
            let skip = len - state.history.keeps_of(len);
            state.history.extend((skip..len).map(|i| run.message(i)));
        }
        let limits = state.limits();
        state.dropped += state.queue.push_run(run, limits);
        self.settle(&mut state);
        if let Some(run) = for_subscribers {
            state.notify((0..len).map(|i| run.message(i)));
        }
        drop(state);
        self.wake_readers();
        0
    }
}

#[derive(Debug)]
struct SlotState {
    latest: Option<Message>,
    /// The latest image, kept apart so data messages on an image channel do
    /// not hide it from `get_image`.
    latest_image: Option<Message>,
    /// The queue's capacity once images arrive.
    image_capacity: usize,
    /// Images received whole.
    images: u64,
    /// Images the senders skipped: gaps in their sequence numbers.
    images_skipped: u64,
    /// How old images were when readers got them; boxed, as most channels
    /// carry no images.
    ages: Option<Box<ages::FrameAges>>,
    queue: Queue,
    capacity: usize,
    /// The queue's byte cap (see [`Store::hold_in`]).
    queue_bytes: usize,
    /// Payload bytes of `by_client`.
    by_client_bytes: usize,
    /// When the last message arrived (or the slot was made).
    touched: Instant,
    /// Whether this side wrote to it itself (a host's latched value): never
    /// reclaimed.
    own: bool,
    /// The client whose frame made it, charged against its quota.
    maker: Option<ClientId>,
    /// The last messages, apart from the queue; empty while off.
    history: History,
    by_client: BTreeMap<ClientId, Message>,
    /// Subscriptions' buffers and callbacks' feeds.
    subscribers: Vec<Subscriber>,
    /// Set when the store closes: no subscriber is added any more and no
    /// reader waits.
    closed: bool,
    /// Threads asleep in [`Slot::sleep`], for tests that must act while a
    /// reader sleeps.
    #[cfg(test)]
    sleepers: usize,
    received: u64,
    bytes: u64,
    dropped: u64,
}

impl SlotState {
    fn new(capacity: usize, image_capacity: usize, history: History) -> SlotState {
        SlotState {
            latest: None,
            latest_image: None,
            image_capacity,
            images: 0,
            images_skipped: 0,
            ages: None,
            queue: Queue::default(),
            capacity,
            queue_bytes: usize::MAX,
            by_client_bytes: 0,
            touched: Instant::now(),
            own: false,
            maker: None,
            history,
            by_client: BTreeMap::new(),
            subscribers: Vec::new(),
            closed: false,
            #[cfg(test)]
            sleepers: 0,
            received: 0,
            bytes: 0,
            dropped: 0,
        }
    }

    /// Records `msg` as its sender's latest, forgetting the lowest (oldest)
    /// sender ids beyond [`BY_CLIENT_MAX`].
    fn set_by_client(&mut self, msg: Message) {
        self.by_client_bytes += msg.payload.len();
        if let Some(old) = self.by_client.insert(msg.from, msg) {
            self.by_client_bytes -= old.payload.len();
        }
        while self.by_client.len() > BY_CLIENT_MAX {
            self.forget_oldest_sender();
        }
    }

    /// Forgets the lowest (oldest) sender id's latest message.
    fn forget_oldest_sender(&mut self) -> Option<Message> {
        let (_, old) = self.by_client.pop_first()?;
        self.by_client_bytes -= old.payload.len();
        Some(old)
    }

    /// What the queue may hold.
    fn limits(&self) -> Limits {
        Limits {
            messages: self.capacity,
            bytes: self.queue_bytes,
        }
    }

    /// Offers every message to every subscriber; a full subscriber misses it and
    /// the miss is counted; one that is gone is forgotten.
    fn notify(&mut self, msgs: impl Iterator<Item = Message> + Clone) {
        let mut dropped = 0;
        self.subscribers
            .retain(|to| to.offer(msgs.clone()).map(|n| dropped += n).is_some());
        self.dropped += dropped;
    }
}

#[cfg(test)]
mod tests;
