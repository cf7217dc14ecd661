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

use std::collections::VecDeque;

use parking_lot::Mutex;

/// Items waiting for one callback.
#[derive(Debug)]
pub(crate) struct Lane<T> {
    state: Mutex<LaneState<T>>,
    capacity: usize,
}

#[derive(Debug)]
struct LaneState<T> {
    items: VecDeque<T>,
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
    /// Items dropped because the lane was full.
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
}

impl<T> Lane<T> {
    /// An empty, idle lane holding at most `capacity` items (at least one).
    pub(crate) fn new(capacity: usize) -> Lane<T> {
        Lane {
            state: Mutex::new(LaneState {
                items: VecDeque::new(),
                busy: false,
                dropped_since: 0,
                closed: false,
            }),
            capacity: capacity.max(1),
        }
    }

    /// Adds `items` in order, without waiting; those beyond the capacity
    /// are dropped and counted. A closed lane takes nothing (and counts
    /// nothing: its callback is gone).
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
            match state.items.len() < self.capacity {
                true => state.items.push_back(item),
                false => dropped += 1,
            }
        }
        state.dropped_since += dropped;
        let start = !state.busy && !state.items.is_empty();
        state.busy |= start;
        Pushed { dropped, start }
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
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        state.closed = true;
        state.items.clear();
    }

    /// Items waiting.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_push_starts_a_job_which_takes_batches_until_the_lane_is_idle() {
        let lane = Lane::new(3);
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
        assert_eq!((Vec::from(batch.items), batch.dropped), (vec![1, 2, 3], 2));
        assert!(!lane.push([6].into_iter()).start, "the job still runs");
        assert!(lane.done(), "6 came meanwhile: the job goes again");
        let batch = lane.take();
        assert_eq!((Vec::from(batch.items), batch.dropped), (vec![6], 0));
        assert!(!lane.done(), "idle");
        assert!(
            lane.push([7].into_iter()).start,
            "an idle lane starts a job"
        );
    }

    #[test]
    fn an_empty_push_starts_nothing_and_a_closed_lane_takes_nothing() {
        let lane = Lane::new(2);
        assert!(!lane.push(std::iter::empty::<u8>()).start);
        assert!(lane.push([1].into_iter()).start);
        lane.close();
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
}
