//! Calls that block inside the crate for as long as its write timeout
//! (locked writes, confirmed writes, `flush`, `close`), made interruptible:
//! [`blocking`] runs the call on a helper thread and waits for its answer
//! in the slices of [`wait`](crate::wait::wait), so Ctrl-C raises
//! `KeyboardInterrupt` within 50 ms.
//!
//! The hand-off costs two thread wake-ups: 25–60 µs a call on the 2-core
//! development machine, where a locked 64-byte write takes 5–12 µs inline
//! (docs/PERFORMANCE.md). So a write of less than [`HAND_OFF_FROM`] bytes
//! runs inline ([`sized`]): it blocks only while its peer reads nothing,
//! for at most the write timeout, and sees Ctrl-C when it returns. Larger
//! writes (images, bulk data), which fill the kernel's buffers and wait as
//! a matter of course, pay the hand-off, a few percent of their time.
//!
//! An interrupted call is not undone: it goes on alone on its helper
//! thread and ends as the crate ends it (a write reaches the kernel or
//! times out, a close finishes joining its threads); its result is
//! dropped. That is the only sound choice, since the crate's wait cannot
//! be cancelled from outside, and it is what an interrupted `sendall` in
//! Python's `socket` module does too (the bytes already handed over stay
//! sent). The call owns everything it uses (the handle's `Arc`, the
//! payload, the channel's name), so nothing it touches goes away under it.
//!
//! Only the main thread sees signals (Python runs its handlers there), so
//! on any other thread (a callback's, a worker's) the call runs where it
//! is, without the GIL, as a plain blocking call: no hand-off, and a
//! handle closed from its own callback is not waited for from elsewhere.
//!
//! The helper threads are kept: a call takes an idle one (a hand-off
//! through a channel, a few microseconds) or starts a new one, and at most
//! [`KEEP`] idle threads wait for the next call.

use std::sync::Mutex;
use std::sync::mpsc::{self, Sender, SyncSender};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::errors::{closed, to_py};
use crate::wait::{Step, wait};

/// A call for a helper thread.
type Job = Box<dyn FnOnce() + Send>;

/// How many idle helper threads are kept for later calls.
const KEEP: usize = 4;

/// The idle helper threads, each by the sending end of its job channel.
static IDLE: Mutex<Vec<Sender<Job>>> = Mutex::new(Vec::new());

/// The size from which a locked or confirmed write is made interruptible.
pub(crate) const HAND_OFF_FROM: usize = 64 * 1024;

/// A write of `bytes` bytes: through [`blocking`] from [`HAND_OFF_FROM`]
/// bytes on, else inline without the GIL.
pub(crate) fn sized<T: Send + 'static>(
    py: Python<'_>,
    bytes: usize,
    call: impl FnOnce() -> T + Send + 'static,
) -> PyResult<T> {
    if bytes < HAND_OFF_FROM {
        return Ok(py.detach(call));
    }
    blocking(py, call)
}

/// `_thread.get_ident` and the main thread's ident.
static MAIN: PyOnceLock<(Py<PyAny>, u64)> = PyOnceLock::new();

/// Whether this is Python's main thread (where signal handlers run).
fn on_main_thread(py: Python<'_>) -> PyResult<bool> {
    let (get_ident, main) = MAIN.get_or_try_init(py, || -> PyResult<_> {
        let main = py.import("threading")?.call_method0("main_thread")?;
        let get_ident = py.import("_thread")?.getattr("get_ident")?;
        Ok((get_ident.unbind(), main.getattr("ident")?.extract()?))
    })?;
    Ok(get_ident.bind(py).call0()?.extract::<u64>()? == *main)
}

/// On the main thread, runs `call` on a helper thread and waits for its
/// result without the GIL, checking for signals every 50 ms; on another
/// thread, runs it there without the GIL.
///
/// # Errors
///
/// What a signal handler raised (`KeyboardInterrupt`; `call` then goes on
/// alone, its result dropped); `IoError` if no helper thread could start.
pub(crate) fn blocking<T: Send + 'static>(
    py: Python<'_>,
    call: impl FnOnce() -> T + Send + 'static,
) -> PyResult<T> {
    if !on_main_thread(py)? {
        return Ok(py.detach(call));
    }
    let (tx, rx) = mpsc::sync_channel(1);
    run(answering(tx, call))?;
    match wait(py, None, move |slice| match rx.recv_timeout(slice) {
        Ok(answer) => Step::Got(answer),
        Err(mpsc::RecvTimeoutError::Timeout) => Step::Wait,
        Err(mpsc::RecvTimeoutError::Disconnected) => Step::Ended,
    })? {
        Step::Got(answer) => Ok(answer),
        // The helper thread died without answering: only a panic in the
        // crate does that, and the handle is of no more use then.
        _ => Err(closed()),
    }
}

/// `call` as a job that sends its result on `tx`.
fn answering<T: Send + 'static>(
    tx: SyncSender<T>,
    call: impl FnOnce() -> T + Send + 'static,
) -> Job {
    Box::new(move || {
        // The waiter is gone if it was interrupted: the result is dropped.
        let _ = tx.send(call());
    })
}

/// Hands `job` to an idle helper thread, or to a new one.
fn run(job: Job) -> PyResult<()> {
    let idle = IDLE.lock().ok().and_then(|mut idle| idle.pop());
    let job = match idle {
        Some(helper) => match helper.send(job) {
            Ok(()) => return Ok(()),
            Err(mpsc::SendError(job)) => job,
        },
        None => job,
    };
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("socketengine-blocking".to_owned())
        .spawn(move || {
            let mut next = Some(job);
            while let Some(job) = next.take() {
                job();
                let kept = IDLE.lock().ok().is_some_and(|mut idle| {
                    let keep = idle.len() < KEEP;
                    if keep {
                        idle.push(tx.clone());
                    }
                    keep
                });
                if kept {
                    next = rx.recv().ok();
                }
            }
        })
        .map(drop)
        .map_err(|e| to_py(e.into()))
}
