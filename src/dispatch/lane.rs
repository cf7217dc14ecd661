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
//! hold waits within a byte cap, and is charged to the handle's memory
//! budget from its push (one compare-and-swap per item, on the pusher's
//! thread) until the batch it is taken in is dropped (given back once per
//! batch), so what waits for a slow callback counts against the same
//! ceiling as what the store keeps.

use std::collections::VecDeque;
use std::collections::vec_deque::IterMut;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::memory::{Held, Memory};

/// What a lane asks of its items.
pub(crate) trait Item: Sized {
    /// The bytes it holds, charged while it waits in a bounded lane.
    fn bytes(&self) -> usize;

    /// Whether it may take the place of an item waiting (a newer image: a
    /// callback wants the newest frame, not a backlog): only then is the
    /// lane searched for one it [`replaces`](Self::replaces). Not by default.
    fn may_replace(&self) -> bool {
        false
    }

    /// Whether it takes the place of `older`, waiting before it in the
    /// same lane (an image of the same channel).
    fn replaces(&self, _older: &Self) -> bool {
        false
    }

    /// Called, under the lane's lock, with the items one push added and
    /// kept: lets them let go of what they share with others (a receive
    /// buffer) without changing their [`bytes`](Self::bytes). Nothing by
    /// default.
    fn settle(_fresh: IterMut<'_, Self>) {}
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
    items: VecDeque<T>,
    /// What `items` hold: in a bounded lane, charged to the budget.
    bytes: usize,
    /// Whether a job for this lane is queued on the dispatcher or running.
    busy: bool,
    /// Items dropped since the job last took a batch.
    dropped_since: u64,
    /// Set by [`Lane::close`]: nothing is taken any more.
    closed: bool,
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
    pub(crate) items: VecDeque<T>,
    /// Items dropped since the previous batch was taken.
    pub(crate) dropped: u64,
    /// The items' charge to the memory budget, given back when the batch
    /// is dropped (after its last call: keep it until then).
    _held: Option<Held>,
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
        let (mut dropped, mut fresh) = (0, 0);
        for item in items {
            let replaced = match item.may_replace() {
                true => state.items.iter().rposition(|old| item.replaces(old)),
                false => None,
            };
            if let Some(i) = replaced {
                fresh -= usize::from(i >= state.items.len() - fresh);
                if let Some(old) = state.items.remove(i) {
                    self.release(&mut state, old.bytes());
                }
                dropped += 1;
            }
            if self.admit(&state, &item) {
                state.bytes += item.bytes();
                state.items.push_back(item);
                fresh += 1;
            } else {
                dropped += 1;
            }
        }
        let kept = state.items.len() - fresh;
        T::settle(state.items.range_mut(kept..));
        state.dropped_since += dropped;
        let start = !state.busy && !state.items.is_empty();
        state.busy |= start;
        Pushed { dropped, start }
    }

    /// Whether `item` may wait: charged if so.
    fn admit(&self, state: &LaneState<T>, item: &T) -> bool {
        if state.items.len() >= self.capacity {
            return false;
        }
        let Some(budget) = &self.budget else {
            return true;
        };
        let bytes = item.bytes();
        let lone = state.items.is_empty();
        let fits = lone || state.bytes.saturating_add(bytes) <= budget.max_bytes;
        fits && budget.memory.try_take_message(bytes)
    }

    /// Gives back `bytes` of what waits (an item let go).
    fn release(&self, state: &mut LaneState<T>, bytes: usize) {
        state.bytes -= bytes;
        if let Some(budget) = &self.budget {
            budget.memory.give_back(bytes);
        }
    }

    /// Counts `n` items dropped elsewhere (a replaced callback's), to
    /// report with the next batch.
    pub(crate) fn count_dropped(&self, n: u64) {
        self.state.lock().dropped_since += n;
    }

    /// Takes every item waiting, with their charge, and the count dropped
    /// since the last take (for the job to report).
    pub(crate) fn take(&self) -> Batch<T> {
        let mut state = self.state.lock();
        let dropped = std::mem::take(&mut state.dropped_since);
        let items = std::mem::take(&mut state.items);
        let bytes = std::mem::take(&mut state.bytes);
        let budget = self.budget.as_ref();
        let held = budget.map(|budget| budget.memory.held(bytes));
        Batch {
            items,
            dropped,
            _held: held,
        }
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
        let bytes = state.bytes;
        self.release(&mut state, bytes);
        let forgotten = std::mem::take(&mut state.items);
        drop(state);
        // Dropped here, outside the lock.
        forgotten.len()
    }

    /// Items waiting.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().items.len()
    }
}

impl<T> Drop for Lane<T> {
    /// Gives back the charge of what still waits.
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.memory.give_back(self.state.get_mut().bytes);
        }
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

        fn may_replace(&self) -> bool {
            self.1.is_some()
        }

        fn replaces(&self, older: &Self) -> bool {
            self.1 == older.1
        }
    }

    impl Item for u8 {
        fn bytes(&self) -> usize {
            0
        }
    }

    fn items<T: Copy>(batch: Batch<T>) -> Vec<T> {
        batch.items.iter().copied().collect()
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

    /// An item whose `settle` flips its flag, so one settled twice shows;
    /// those of 100 and more replace their equals, as images do.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Flip(u8, bool);

    impl Item for Flip {
        fn bytes(&self) -> usize {
            1
        }

        fn may_replace(&self) -> bool {
            self.0 >= 100
        }

        fn replaces(&self, older: &Self) -> bool {
            self.0 == older.0
        }

        fn settle(fresh: IterMut<'_, Self>) {
            fresh.for_each(|item| item.1 = !item.1);
        }
    }

    #[test]
    fn each_item_kept_is_settled_once_by_the_push_that_added_it() {
        let lane = Lane::new(3);
        let f = |n| Flip(n, false);
        lane.push([f(1), f(100), f(100)].into_iter());
        lane.push([f(2), f(100), f(3)].into_iter());
        let batch = lane.take();
        assert_eq!(batch.dropped, 3, "two images replaced, one item over");
        assert_eq!(
            items(batch),
            [Flip(1, true), Flip(2, true), Flip(100, true)]
        );
    }
}
