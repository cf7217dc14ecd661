//! The dispatcher: the one thread of a handle that runs user code (request
//! responders today; message callbacks and connection hooks can queue their
//! calls the same way), so the event loop never does.
//!
//! Jobs wait in a bounded queue and run one at a time, in the order they
//! were queued. A job that panics is caught ([`guarded`]) and the thread
//! goes on; a job that never returns holds up only the jobs queued behind
//! it (the loop keeps reading, writing and answering pings), and once the
//! queue is full, [`submit`](Dispatcher::submit) refuses more at once so
//! the caller can say so (a responder's requester gets a "busy" reply).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::{Mutex, RwLock};

/// A call to make on the dispatcher thread.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// One thread and its bounded queue of jobs, started by the first
/// [`start`](Self::start).
#[derive(Debug)]
pub(crate) struct Dispatcher {
    /// The thread's name.
    name: &'static str,
    /// Most jobs waiting (the one running not counted).
    capacity: usize,
    /// The queue's sending side while the thread runs: read on every
    /// submit (from the event loop), written once to start and once to stop.
    queue: RwLock<Option<Sender<Job>>>,
    /// The thread and the channel that closes when it ends; taken by the
    /// first `shutdown`.
    thread: Mutex<Option<Running>>,
    /// Shared with the thread: once set, queued jobs are dropped unrun.
    stopping: Arc<AtomicBool>,
    /// Jobs refused because the queue was full.
    refused: AtomicU64,
    /// Jobs whose user code panicked: counted by the jobs, which catch it,
    /// through a clone ([`panic_counter`](Self::panic_counter)).
    panicked: Arc<AtomicU64>,
}

#[derive(Debug)]
struct Running {
    handle: JoinHandle<()>,
    /// Disconnects when the thread ends, so `shutdown` can wait a bounded time.
    ended: Receiver<()>,
}

/// What a dispatcher has done, for a handle's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
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
            capacity: capacity.max(1),
            queue: RwLock::new(None),
            thread: Mutex::new(None),
            stopping: Arc::new(AtomicBool::new(false)),
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
        if thread.is_some() || self.stopping.load(Ordering::Acquire) {
            return Ok(());
        }
        let (tx, rx) = crossbeam_channel::bounded::<Job>(self.capacity);
        let (ended_tx, ended) = crossbeam_channel::bounded::<()>(0);
        let stopping = Arc::clone(&self.stopping);
        let handle = std::thread::Builder::new()
            .name(self.name.to_owned())
            .spawn(move || {
                let _ended = ended_tx;
                for job in rx {
                    if stopping.load(Ordering::Acquire) {
                        continue;
                    }
                    // Jobs catch their user code's panics and report them;
                    // this one is the last guard, so the thread goes on.
                    let _ = guarded(job);
                }
            })?;
        *self.queue.write() = Some(tx);
        *thread = Some(Running { handle, ended });
        Ok(())
    }

    /// Queues `job` without waiting; hands it back when the queue is full
    /// (counted) or the thread is not running.
    pub(crate) fn submit(&self, job: Job) -> Result<(), Job> {
        let queue = self.queue.read();
        let Some(tx) = queue.as_ref() else {
            return Err(job);
        };
        match tx.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(job)) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(job)
            }
            Err(TrySendError::Disconnected(job)) => Err(job),
        }
    }

    /// The count of jobs whose user code panicked, for a job to add to.
    pub(crate) fn panic_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.panicked)
    }

    pub(crate) fn counts(&self) -> Counts {
        Counts {
            queued: self.queue.read().as_ref().map_or(0, Sender::len),
            refused: self.refused.load(Ordering::Relaxed),
            panicked: self.panicked.load(Ordering::Relaxed),
        }
    }

    /// Stops the thread: jobs still queued are dropped unrun, the one
    /// running is waited for up to `grace`, and the thread joined if it
    /// ended (else left to end when its job returns). Idempotent; from the
    /// dispatcher thread itself (a job closing its handle) it does not wait.
    pub(crate) fn shutdown(&self, grace: Duration) {
        self.stopping.store(true, Ordering::Release);
        // Dropping the sender ends the thread's loop once the queue is drained.
        self.queue.write().take();
        let Some(running) = self.thread.lock().take() else {
            return;
        };
        if running.handle.thread().id() == std::thread::current().id() {
            return;
        }
        // Nothing is ever sent: the channel only disconnects when the thread ends.
        if let Err(RecvTimeoutError::Disconnected) = running.ended.recv_timeout(grace) {
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

    fn wait(rx: &Receiver<u32>) -> u32 {
        rx.recv_timeout(Duration::from_secs(30))
            .expect("the job ran")
    }

    #[test]
    fn jobs_run_in_order_and_a_panicking_one_does_not_stop_the_thread() {
        let dispatcher = Dispatcher::new("test-dispatch", 8);
        assert!(dispatcher.submit(Box::new(|| {})).is_err(), "not started");
        dispatcher.start().expect("a thread");
        let (tx, rx) = crossbeam_channel::unbounded();
        for i in 0..3 {
            let tx = tx.clone();
            dispatcher
                .submit(Box::new(move || {
                    if i == 1 {
                        panic!("job {i} fails");
                    }
                    tx.send(i).expect("the test waits");
                }))
                .map_err(drop)
                .expect("room");
        }
        assert_eq!((wait(&rx), wait(&rx)), (0, 2));
        dispatcher.shutdown(Duration::from_secs(30));
        assert!(dispatcher.submit(Box::new(|| {})).is_err(), "stopped");
    }

    #[test]
    fn a_full_queue_refuses_and_counts_and_shutdown_drops_what_waits() {
        let dispatcher = Dispatcher::new("test-dispatch", 2);
        dispatcher.start().expect("a thread");
        let (release, held) = crossbeam_channel::bounded::<()>(0);
        let (ran_tx, ran) = crossbeam_channel::unbounded();
        let (started_tx, started) = crossbeam_channel::bounded(1);
        let blocker: Job = Box::new(move || {
            started_tx.send(0).expect("the test waits");
            let _ = held.recv_timeout(Duration::from_secs(30));
        });
        dispatcher.submit(blocker).map_err(drop).expect("room");
        assert_eq!(wait(&started), 0);
        for i in 1..=2 {
            let ran_tx = ran_tx.clone();
            let job: Job = Box::new(move || ran_tx.send(i).expect("kept"));
            dispatcher.submit(job).map_err(drop).expect("room");
        }
        assert!(dispatcher.submit(Box::new(|| {})).is_err(), "full");
        assert_eq!(dispatcher.counts().refused, 1);
        assert_eq!(dispatcher.counts().queued, 2);
        // Stopping first: the two queued jobs are dropped once the blocker returns.
        dispatcher.stopping.store(true, Ordering::Release);
        release.send(()).expect("the blocker waits");
        dispatcher.shutdown(Duration::from_secs(30));
        drop(ran_tx);
        assert!(ran.recv_timeout(Duration::from_secs(30)).is_err());
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
