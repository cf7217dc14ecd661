//! A lane: one callback's own bounded queue of calls to make on the
//! dispatcher, with at most one job queued or running for it at a time.
//!
//! The event loop pushes items without waiting (a full lane drops the new
//! ones and counts them); the first push into an idle lane tells the pusher
//! to queue a job, which takes the lane's items as a batch, runs them in
//! order and, if more arrived meanwhile, queues itself again behind the
//! dispatcher's other jobs. So a callback's calls keep their order, a busy
//! callback holds at most its lane's capacity, and it takes turns with the
//! responders and the other callbacks instead of starving them.
//!
//! A lane may also be bounded in bytes ([`Lane::bounded`]): what its items
//! hold waits within a byte cap, and each item's bytes are charged to the
//! handle's memory budget from its push until it is dropped (after its
//! call, or unrun), so what waits for a slow callback counts against the
//! same ceiling as what the store keeps.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::memory::{Held, Memory};

/// What a lane asks of its items.
pub(crate) trait Item {
    /// The bytes it holds, charged while it waits in a bounded lane.
    fn bytes(&self) -> usize;

    /// Whether it takes the place of `older`, waiting before it in the
    /// same lane (a newer image of the same channel: a callback wants the
    /// newest frame, not a backlog).
    fn replaces(&self, older: &Self) -> bool;
}

/// Items waiting for one callback.
#[derive(Debug)]
pub(crate) struct Lane<T> {
    state: Mutex<LaneState<T>>,
    capacity: usize,
    /// The byte cap and the budget of a bounded lane; `None`: unbounded.
    budget: Option<Budget>,
}

#[derive(Debug)]
struct Budget {
    /// Most bytes waiting (a lone item is taken whatever its size).
    max_bytes: usize,
    memory: Arc<Memory>,
}

#[derive(Debug)]
struct LaneState<T> {
    items: VecDeque<Waiting<T>>,
    /// What `items` hold.
    bytes: usize,
    /// Whether a job for this lane is queued on the dispatcher or running.
    busy: bool,
    /// Items dropped since the job last took a batch.
    dropped_since: u64,
    /// Set by [`Lane::close`]: nothing is taken any more.
    closed: bool,
}

/// An item and its charge to the memory budget, given back when it is
/// dropped.
#[derive(Debug)]
pub(crate) struct Waiting<T> {
    pub(crate) item: T,
    bytes: usize,
    _held: Option<Held>,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// Items dropped: the lane was full, or an item was replaced.
    pub(crate) dropped: u64,
    /// Whether the lane was idle: the pusher must queue a job to drain it.
    pub(crate) start: bool,
}

/// A batch a lane's job takes.
#[derive(Debug)]
pub(crate) struct Batch<T> {
    /// Each item with its charge, given back as it is dropped.
    pub(crate) items: VecDeque<Waiting<T>>,
    /// Items dropped since the previous batch was taken.
    pub(crate) dropped: u64,
}

impl<T: Item> Lane<T> {
    /// An empty, idle lane holding at most `capacity` items (at least one),
    /// without a byte cap.
    pub(crate) fn new(capacity: usize) -> Lane<T> {
        Lane {
            state: Mutex::new(LaneState {
                items: VecDeque::new(),
                bytes: 0,
                busy: false,
                dropped_since: 0,
                closed: false,
            }),
            capacity: capacity.max(1),
            budget: None,
        }
    }

    /// Caps what waits at `max_bytes` (a lone item passes whatever its
    /// size) and charges it to `memory`.
    pub(crate) fn bounded(mut self, max_bytes: usize, memory: Arc<Memory>) -> Lane<T> {
        self.budget = Some(Budget { max_bytes, memory });
        self
    }

    /// Adds `items` in order, without waiting; one that replaces an item
    /// waiting takes its place at the back, and those beyond the capacity,
    /// the byte cap or the memory budget are dropped; all counted. A closed
    /// lane takes nothing (and counts nothing: its callback is gone).
    pub(crate) fn push(&self, items: impl Iterator<Item = T>) -> Pushed {
        let mut state = self.state.lock();
        if state.closed {
            return Pushed {
                dropped: 0,
                start: false,
            };
        }
        let mut dropped = 0;
        for item in items {
            if let Some(i) = state.items.iter().rposition(|w| item.replaces(&w.item)) {
                let old = state.items.remove(i).map_or(0, |old| old.bytes);
                state.bytes -= old;
                dropped += 1;
            }
            match self.admit(&state, item) {
                Some(waiting) => {
                    state.bytes += waiting.bytes;
                    state.items.push_back(waiting);
                }
                None => dropped += 1,
            }
        }
        state.dropped_since += dropped;
        let start = !state.busy && !state.items.is_empty();
        state.busy |= start;
        Pushed { dropped, start }
    }

    /// `item` ready to wait, charged; `None` when there is no room for it.
    fn admit(&self, state: &LaneState<T>, item: T) -> Option<Waiting<T>> {
        if state.items.len() >= self.capacity {
            return None;
        }
        let Some(budget) = &self.budget else {
            return Some(Waiting {
                item,
                bytes: 0,
                _held: None,
            });
        };
        let bytes = item.bytes();
        let lone = state.items.is_empty();
        if !lone && state.bytes.saturating_add(bytes) > budget.max_bytes {
            return None;
        }
        let held = budget.memory.try_hold_message(bytes)?;
        Some(Waiting {
            item,
            bytes,
            _held: Some(held),
        })
    }

    /// Counts `n` items dropped elsewhere (a replaced callback's), to
    /// report with the next batch.
    pub(crate) fn count_dropped(&self, n: u64) {
        self.state.lock().dropped_since += n;
    }

    /// Takes every item waiting, and the count dropped since the last take
    /// (for the job to report).
    pub(crate) fn take(&self) -> Batch<T> {
        let mut state = self.state.lock();
        let dropped = std::mem::take(&mut state.dropped_since);
        let items = match state.closed {
            true => VecDeque::new(),
            false => std::mem::take(&mut state.items),
        };
        state.bytes = 0;
        Batch { items, dropped }
    }

    /// The job is done with its batch: returns whether items arrived
    /// meanwhile (the job must queue itself again); else the lane is idle,
    /// and the next push starts a job.
    pub(crate) fn done(&self) -> bool {
        let mut state = self.state.lock();
        let more = !state.items.is_empty() && !state.closed;
        state.busy = more;
        more
    }

    /// Forgets what waits and takes nothing more: its callback was removed.
    /// Returns how many items it forgot.
    pub(crate) fn close(&self) -> usize {
        let mut state = self.state.lock();
        state.closed = true;
        state.bytes = 0;
        let forgotten = std::mem::take(&mut state.items);
        drop(state);
        // Their charges are given back here, outside the lock.
        forgotten.len()
    }

    /// Items waiting.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test item: its bytes, and a key (an "image channel") under which
    /// a newer one replaces an older.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct It(usize, Option<char>);

    impl Item for It {
        fn bytes(&self) -> usize {
            self.0
        }

        fn replaces(&self, older: &Self) -> bool {
            self.1.is_some() && self.1 == older.1
        }
    }

    impl Item for u8 {
        fn bytes(&self) -> usize {
            0
        }

        fn replaces(&self, _: &Self) -> bool {
            false
        }
    }

    fn items<T: Copy>(batch: Batch<T>) -> Vec<T> {
        batch.items.iter().map(|w| w.item).collect()
    }

    #[test]
    fn the_first_push_starts_a_job_which_takes_batches_until_the_lane_is_idle() {
        let lane = Lane::<u8>::new(3);
        assert_eq!(
            lane.push([1, 2].into_iter()),
            Pushed {
                dropped: 0,
                start: true
            }
        );
        // A job is on its way: later pushes do not start another.
        let pushed = lane.push([3, 4, 5].into_iter());
        assert_eq!((pushed.start, pushed.dropped, lane.len()), (false, 2, 3));
        let batch = lane.take();
        assert_eq!(batch.dropped, 2);
        assert_eq!(items(batch), [1, 2, 3]);
        assert!(!lane.push([6].into_iter()).start, "the job still runs");
        assert!(lane.done(), "6 came meanwhile: the job goes again");
        let batch = lane.take();
        assert_eq!((batch.dropped, items(batch)), (0, vec![6]));
        assert!(!lane.done(), "idle");
        assert!(
            lane.push([7].into_iter()).start,
            "an idle lane starts a job"
        );
    }

    #[test]
    fn an_empty_push_starts_nothing_and_a_closed_lane_takes_nothing() {
        let lane = Lane::<u8>::new(2);
        assert!(!lane.push(std::iter::empty()).start);
        assert!(lane.push([1].into_iter()).start);
        assert_eq!(lane.close(), 1);
        assert_eq!(
            lane.push([2, 3, 4].into_iter()),
            Pushed {
                dropped: 0,
                start: false
            }
        );
        assert!(lane.take().items.is_empty());
        assert!(!lane.done());
        assert_eq!(lane.len(), 0);
    }

    #[test]
    fn a_bounded_lane_caps_its_bytes_and_charges_them_until_dropped() {
        let memory = Memory::new(1 << 20);
        let lane = Lane::new(100).bounded(1000, Arc::clone(&memory));
        // A lone item passes whatever its size; then the cap holds.
        let pushed = lane.push([It(5000, None), It(10, None)].into_iter());
        assert_eq!((pushed.dropped, lane.len(), memory.used()), (1, 1, 5000));
        let batch = lane.take();
        assert_eq!(memory.used(), 5000, "charged while the batch runs");
        let pushed = lane.push([400, 400, 400].map(|n| It(n, None)).into_iter());
        assert_eq!((pushed.dropped, memory.used()), (1, 5800));
        drop(batch);
        assert_eq!(memory.used(), 800);
        assert_eq!(lane.take().dropped, 1);
        assert_eq!(memory.used(), 0, "dropped with the batch");
        // What the budget refuses is dropped and counted.
        memory.take(memory.limit());
        let pushed = lane.push([It(10, None)].into_iter());
        assert_eq!((pushed.dropped, lane.len()), (1, 0));
        memory.give_back(memory.limit());
        lane.push([It(300, None)].into_iter());
        assert_eq!((lane.close(), memory.used()), (1, 0));
    }

    #[test]
    fn a_newer_item_takes_the_place_of_the_older_it_replaces() {
        let memory = Memory::new(1 << 20);
        let lane = Lane::new(3).bounded(usize::MAX, Arc::clone(&memory));
        let a = |n| It(n, Some('a'));
        let pushed = lane.push([a(100), It(1, None), a(200)].into_iter());
        assert_eq!(pushed.dropped, 1, "the first image of a is replaced");
        lane.push([It(2, None), It(300, Some('b')), a(400)].into_iter());
        assert_eq!(memory.used(), 403);
        let batch = lane.take();
        assert_eq!(
            batch.dropped, 3,
            "a's two older images replaced, b's dropped as full"
        );
        assert_eq!(items(batch), [It(1, None), It(2, None), a(400)]);
    }
}
