//! The dispatcher: the one thread of a handle that runs user code (request
//! responders, message callbacks, connection hooks, command handlers), so
//! the event loop never does.
//!
//! Jobs wait in a bounded queue and run one at a time, in the order they
//! were queued. A job that panics is caught ([`guarded`]) and the thread
//! goes on; a job that never returns holds up only the jobs queued behind
//! it (the loop keeps reading, writing and answering pings), and once the
//! queue is full, [`submit`](Dispatcher::submit) refuses more at once so
//! the caller can say so (a responder's requester gets a "busy" reply).
//! Callbacks queue their calls in a [`Lane`] of their own instead, whose one
//! job at a time is never refused ([`submit_lane`](Dispatcher::submit_lane)).

mod lane;

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

pub(crate) use lane::{Item, Lane};

/// A call to make on the dispatcher thread.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// A bounded queue whose taker sleeps as soon as it finds it empty (no
/// spinning: on two cores a spinning taker holds up the very thread that
/// would fill it), and whose giver tells the loop's pacing it woke someone.
/// The dispatcher's jobs go through one; so do a request's answers.
pub(crate) struct Queue<T> {
    state: Mutex<QueueState<T>>,
    /// Signalled on every push and on close.
    ready: Condvar,
    /// Most items [`push`](Self::push)ed and not yet taken.
    capacity: usize,
}

struct QueueState<T> {
    /// Each with whether it counts against the capacity.
    items: VecDeque<(T, bool)>,
    /// Items waiting that count against the capacity.
    counted: usize,
    closed: bool,
}

impl<T> std::fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<T> Queue<T> {
    /// An empty queue of at most `capacity` items (at least one).
    pub(crate) fn new(capacity: usize) -> Queue<T> {
        Queue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                counted: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    /// Adds `item` without waiting; hands it back, with whether the queue
    /// was full (else closed), when it does not take it.
    pub(crate) fn push(&self, item: T) -> Result<(), (T, bool)> {
        self.push_counted(item, true)
    }

    /// As [`push`](Self::push), beside the capacity: the item is neither
    /// refused for want of room nor counted against it. Hands it back when
    /// the queue is closed.
    fn push_beside(&self, item: T) -> Result<(), T> {
        self.push_counted(item, false).map_err(|(item, _)| item)
    }

    fn push_counted(&self, item: T, counted: bool) -> Result<(), (T, bool)> {
        let mut state = self.state.lock();
        if state.closed || (counted && state.counted >= self.capacity) {
            let full = !state.closed;
            return Err((item, full));
        }
        state.counted += usize::from(counted);
        state.items.push_back((item, counted));
        drop(state);
        if self.ready.notify_one() {
            crate::pace::woke_a_waiter();
        }
        Ok(())
    }

    /// The oldest item, waiting for one until `deadline` (`None`: for as
    /// long as it takes); `None` when the deadline passed, or the queue is
    /// closed and empty.
    pub(crate) fn pop(&self, deadline: Option<Instant>) -> Option<T> {
        let mut state = self.state.lock();
        loop {
            if let Some(item) = state.pop_front() {
                return Some(item);
            }
            if state.closed {
                return None;
            }
            match deadline {
                Some(deadline) if self.ready.wait_until(&mut state, deadline).timed_out() => {
                    return state.pop_front();
                }
                Some(_) => {}
                None => self.ready.wait(&mut state),
            }
        }
    }

    /// Refuses further items and wakes every taker; returns what was queued.
    pub(crate) fn close(&self) -> Vec<T> {
        let mut state = self.state.lock();
        state.closed = true;
        state.counted = 0;
        let left = std::mem::take(&mut state.items);
        drop(state);
        self.ready.notify_all();
        left.into_iter().map(|(item, _)| item).collect()
    }

    /// Items waiting, those beside the capacity included.
    pub(crate) fn len(&self) -> usize {
        self.state.lock().items.len()
    }

    /// Items waiting that count against the capacity.
    fn counted(&self) -> usize {
        self.state.lock().counted
    }

    /// Whether [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.state.lock().closed
    }
}

impl<T> QueueState<T> {
    fn pop_front(&mut self) -> Option<T> {
        let (item, counted) = self.items.pop_front()?;
        self.counted -= usize::from(counted);
        Some(item)
    }
}

/// One thread and its bounded queue of jobs, started by the first
/// [`start`](Self::start).
pub(crate) struct Dispatcher {
    /// The thread's name.
    name: &'static str,
    /// Jobs waiting (the one running not counted); shared with the thread.
    queue: Arc<Queue<Job>>,
    /// The thread and the flag it sets when it ends; taken by the first
    /// `shutdown`.
    thread: Mutex<Option<Running>>,
    /// Set by `shutdown`: the dispatcher does not start again.
    stopped: AtomicBool,
    /// Jobs refused because the queue was full.
    refused: AtomicU64,
    /// Jobs whose user code panicked: counted by the jobs, which catch it,
    /// through a clone ([`panic_counter`](Self::panic_counter)).
    panicked: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Running {
    handle: JoinHandle<()>,
    /// Closed when the thread ends, so `shutdown` can wait a bounded time.
    ended: Arc<Queue<()>>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("name", &self.name)
            .field("counts", &self.counts())
            .finish()
    }
}

/// What a dispatcher has done, for a handle's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Jobs [`submit`](Dispatcher::submit)ted and waiting (the lanes' not
    /// counted).
    pub(crate) queued: usize,
    pub(crate) refused: u64,
    pub(crate) panicked: u64,
}

impl Dispatcher {
    /// A dispatcher whose thread is called `name` and whose queue holds at
    /// most `capacity` jobs (at least one); no thread until [`start`](Self::start).
    pub(crate) fn new(name: &'static str, capacity: usize) -> Dispatcher {
        Dispatcher {
            name,
            queue: Arc::new(Queue::new(capacity)),
            thread: Mutex::new(None),
            stopped: AtomicBool::new(false),
            refused: AtomicU64::new(0),
            panicked: Arc::default(),
        }
    }

    /// Starts the thread if it is not running; a dispatcher shut down stays so.
    ///
    /// # Errors
    ///
    /// The operating system's, when it cannot spawn the thread.
    pub(crate) fn start(&self) -> std::io::Result<()> {
        let mut thread = self.thread.lock();
        if thread.is_some() || self.stopped.load(Ordering::Acquire) {
            return Ok(());
        }
        let (queue, ended) = (Arc::clone(&self.queue), Arc::new(Queue::new(1)));
        let on_exit = Arc::clone(&ended);
        let handle = std::thread::Builder::new()
            .name(self.name.to_owned())
            .spawn(move || {
                while let Some(job) = queue.pop(None) {
                    // Jobs catch their user code's panics and report them;
                    // this one is the last guard, so the thread goes on.
                    let _ = guarded(job);
                }
                on_exit.close();
            })?;
        *thread = Some(Running { handle, ended });
        Ok(())
    }

    /// Queues `job` without waiting (it runs once the thread is started);
    /// hands it back when the queue is full (counted) or the dispatcher is
    /// shut down.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Job> {
        self.queue.push(job).map_err(|(job, full)| {
            if full {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
            job
        })
    }

    /// Queues a lane's job (see [`Lane`]) without waiting, whatever the
    /// queue holds, and beside its capacity (so lanes' jobs never make
    /// [`submit`](Self::submit) refuse): a lane has one job at a time, so
    /// these are bounded by the callbacks registered. Hands it back once
    /// the dispatcher is shut down.
    pub(crate) fn submit_lane(&self, job: Job) -> Result<(), Job> {
        self.queue.push_beside(job)
    }

    /// Counts a job its caller refused before submitting it (no room for
    /// it by the caller's own bounds), as a full queue's are counted.
    pub(crate) fn count_refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The count of jobs whose user code panicked, for a job to add to.
    pub(crate) fn panic_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.panicked)
    }

    pub(crate) fn counts(&self) -> Counts {
        Counts {
            queued: self.queue.counted(),
            refused: self.refused.load(Ordering::Relaxed),
            panicked: self.panicked.load(Ordering::Relaxed),
        }
    }

    /// Stops the thread: jobs still queued are dropped unrun, the one
    /// running is waited for up to `grace`, and the thread joined if it
    /// ended (else left to end when its job returns). Idempotent; from the
    /// dispatcher thread itself (a job closing its handle) it does not wait,
    /// and leaves the thread to be joined by a shutdown from elsewhere (a
    /// `close` on another thread, or the last handle's drop).
    pub(crate) fn shutdown(&self, grace: Duration) {
        self.stopped.store(true, Ordering::Release);
        // Dropped here, on the caller's thread, not run.
        drop(self.queue.close());
        let running = {
            let mut thread = self.thread.lock();
            match &*thread {
                Some(running) if running.handle.thread().id() == std::thread::current().id() => {
                    return;
                }
                _ => thread.take(),
            }
        };
        let Some(running) = running else {
            return;
        };
        // Nothing is ever pushed: `pop` returns once the thread closed it.
        let deadline = Instant::now().checked_add(grace);
        running.ended.pop(deadline);
        // Closed, the thread has only to return: joined, it is gone.
        if running.ended.is_closed() || running.handle.is_finished() {
            let _ = running.handle.join();
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.shutdown(Duration::ZERO);
    }
}

/// Runs `f`, catching a panic; returns its message if it panicked.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| panic_message(&*panic))
}

/// A panic's message: its `&str` or `String` payload.
fn panic_message(panic: &(dyn Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(text), _) => (*text).to_owned(),
        (None, Some(text)) => text.clone(),
        (None, None) => "a panic without a message".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(30);

    fn wait(queue: &Queue<u32>) -> u32 {
        let deadline = Instant::now() + WAIT;
        queue.pop(Some(deadline)).expect("the job ran")
    }

    #[test]
    fn a_queue_is_bounded_and_its_taker_wakes_for_an_item_or_its_close() {
        let queue = Arc::new(Queue::new(2));
        assert_eq!(queue.push(1), Ok(()));
        assert_eq!(queue.push(2), Ok(()));
        assert_eq!(queue.push(3), Err((3, true)));
        assert_eq!((queue.len(), wait(&queue), wait(&queue)), (2, 1, 2));
        assert_eq!(queue.pop(Some(Instant::now())), None, "the deadline passed");
        let taker = {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || (queue.pop(None), queue.pop(None)))
        };
        queue.push(4).expect("room");
        queue.close();
        assert_eq!(queue.push(5), Err((5, false)));
        let taken = taker.join().expect("the taker returns");
        assert!(matches!(taken, (Some(4), None) | (None, None)), "{taken:?}");
    }

    #[test]
    fn jobs_run_in_order_and_a_panicking_one_does_not_stop_the_thread() {
        let dispatcher = Dispatcher::new("test-dispatch", 8);
        let ran = Arc::new(Queue::new(8));
        for i in 0..3 {
            let ran = Arc::clone(&ran);
            let job: Job = Box::new(move || {
                if i == 1 {
                    panic!("job {i} fails");
                }
                ran.push(i).expect("room");
            });
            dispatcher.submit(job).map_err(drop).expect("room");
        }
        // Queued before the thread starts, run once it does.
        dispatcher.start().expect("a thread");
        assert_eq!((wait(&ran), wait(&ran)), (0, 2));
        dispatcher.shutdown(WAIT);
        assert!(dispatcher.submit(Box::new(|| {})).is_err(), "stopped");
        dispatcher.start().expect("stays stopped");
        assert!(dispatcher.thread.lock().is_none());
    }

    #[test]
    fn a_full_queue_refuses_and_counts_and_shutdown_drops_what_waits() {
        let dispatcher = Dispatcher::new("test-dispatch", 2);
        dispatcher.start().expect("a thread");
        let (started, release) = (Arc::new(Queue::new(1)), Arc::new(Queue::<u32>::new(1)));
        let blocker: Job = {
            let (started, release) = (Arc::clone(&started), Arc::clone(&release));
            Box::new(move || {
                started.push(0).expect("room");
                release.pop(Some(Instant::now() + WAIT));
            })
        };
        dispatcher.submit(blocker).map_err(drop).expect("room");
        assert_eq!(wait(&started), 0);
        let ran = Arc::new(Queue::new(8));
        for i in 1..=2 {
            let ran = Arc::clone(&ran);
            let job: Job = Box::new(move || ran.push(i).expect("room"));
            dispatcher.submit(job).map_err(drop).expect("room");
        }
        assert!(dispatcher.submit(Box::new(|| {})).is_err(), "full");
        let counts = dispatcher.counts();
        assert_eq!((counts.refused, counts.queued), (1, 2));
        // Shutting down, the two waiting are dropped unrun (closing the
        // queue is its first step) and the running one is waited for.
        assert_eq!(dispatcher.queue.close().len(), 2);
        release.push(0).expect("room");
        dispatcher.shutdown(WAIT);
        assert_eq!((ran.len(), dispatcher.counts().queued), (0, 0));
        assert!(dispatcher.thread.lock().is_none());
    }

    #[test]
    fn lanes_jobs_take_no_room_from_submitted_ones() {
        // Not started: every job waits.
        let dispatcher = Dispatcher::new("test-dispatch", 2);
        let nothing = || -> Job { Box::new(|| {}) };
        let lanes = (0..5).filter(|_| dispatcher.submit_lane(nothing()).is_ok());
        assert_eq!(lanes.count(), 5, "never full");
        let submitted = (0..3).filter(|_| dispatcher.submit(nothing()).is_ok());
        assert_eq!(submitted.count(), 2, "room beside the lanes', then full");
        let counts = dispatcher.counts();
        assert_eq!((counts.queued, counts.refused), (2, 1));
        assert_eq!(dispatcher.queue.len(), 7);
        // Run, they give their room back: a lane's job queued last runs
        // once all of them have.
        dispatcher.start().expect("a thread");
        let ran = Arc::new(Queue::new(2));
        let job = |i| -> Job {
            let ran = Arc::clone(&ran);
            Box::new(move || ran.push(i).expect("room"))
        };
        dispatcher
            .submit_lane(job(1))
            .map_err(drop)
            .expect("never full");
        assert_eq!(wait(&ran), 1);
        assert_eq!(dispatcher.counts().queued, 0);
        dispatcher.submit(job(2)).map_err(drop).expect("room again");
        assert_eq!(wait(&ran), 2);
        dispatcher.shutdown(WAIT);
        assert!(
            dispatcher.submit_lane(Box::new(|| {})).is_err(),
            "shut down"
        );
    }

    #[test]
    fn a_panic_message_is_kept() {
        assert_eq!(guarded(|| 5), Ok(5));
        assert_eq!(
            guarded(|| panic!("oops {}", 1)),
            Err::<(), _>("oops 1".into())
        );
        let literal: Result<(), String> = guarded(|| std::panic::panic_any("plain"));
        assert_eq!(literal, Err("plain".into()));
        let other: Result<(), String> = guarded(|| std::panic::panic_any(7));
        assert_eq!(other, Err("a panic without a message".into()));
    }
}
