//! The Python calls the engine's dispatcher threads are making, counted,
//! so that interpreter exit waits for them: CPython 3.11-3.13 end a thread
//! that takes the GIL during finalisation with `pthread_exit`, whose forced
//! unwind through a callback's frames would abort the process. At exit
//! ([`close`]), new calls are refused (the callback is skipped, a responder
//! answers that the interpreter is shutting down) and the exit hook waits,
//! without the GIL and interruptible by Ctrl-C, for the running ones.
//!
//! A dispatcher thread keeps one Python thread state for its life
//! ([`Kept`]): made at its first call, it is what every later call
//! attaches to, so `threading.local()` and the thread's context persist
//! from one callback to the next, and no call pays for making and
//! clearing a thread state. (PyO3 attaches a thread without one through
//! `PyGILState_Ensure`, and its `PyGILState_Release` would clear the
//! thread state after each call; holding one more `Ensure` for the
//! thread's life keeps it.) The thread state is released when the thread
//! ends (the handle's close joins it, without the GIL), as a counted call:
//! once exit has begun it is left to the interpreter, which deletes the
//! thread states left at finalisation, so a thread ending later never
//! touches an interpreter that is going away.

use std::cell::Cell;
use std::sync::{Condvar, Mutex, PoisonError};

use pyo3::ffi;
use pyo3::prelude::*;

/// Calls running or waiting for the GIL, and whether exit has begun.
static FLIGHT: Mutex<(usize, bool)> = Mutex::new((0, false));
/// Signalled when a call ends.
static LANDED: Condvar = Condvar::new();

/// Runs `f` with the GIL, counted; `None` once exit has begun (or if the
/// interpreter is not there to attach to).
pub(crate) fn attach<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    let _landing = board()?;
    // Not while the thread's locals are being destroyed: a call then attaches
    // as PyO3 does.
    let _ = KEPT.try_with(Kept::keep);
    Python::try_attach(f)
}

/// Counts a call in, unless exit has begun.
fn board() -> Option<Landing> {
    let mut flight = FLIGHT.lock().ok()?;
    if flight.1 {
        return None;
    }
    flight.0 += 1;
    Some(Landing)
}

thread_local! {
    /// The thread state this thread keeps for its life, if it made one.
    static KEPT: Kept = const { Kept(Cell::new(None)) };
}

/// A thread state made for a thread Python did not start, kept until the
/// thread ends: the `PyGILState_Ensure` that made it, and the thread
/// state, detached (the GIL released).
struct Kept(Cell<Option<(ffi::PyGILState_STATE, *mut ffi::PyThreadState)>>);

impl Kept {
    /// Makes this thread's thread state, unless it has one (its own, or
    /// one Python made: a Python thread's).
    fn keep(&self) {
        if self.0.get().is_some() {
            return;
        }
        // SAFETY: `Py_IsInitialized` and `PyGILState_GetThisThreadState`
        // may be called without the GIL. `PyGILState_Ensure` makes a
        // thread state for this thread (which has none) and takes the GIL;
        // `PyEval_SaveThread` releases the GIL and keeps the thread state,
        // as the GIL is released between calls. The caller is a counted
        // call (`attach`), so exit waits for this.
        unsafe {
            if ffi::Py_IsInitialized() == 0 || !ffi::PyGILState_GetThisThreadState().is_null() {
                return;
            }
            let ensured = ffi::PyGILState_Ensure();
            let state = ffi::PyEval_SaveThread();
            self.0.set(Some((ensured, state)));
        }
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        let Some((ensured, state)) = self.0.take() else {
            return;
        };
        // Once exit has begun the interpreter may be finalising: the
        // thread state is left to it.
        let Some(_landing) = board() else {
            return;
        };
        // SAFETY: `state` is this thread's thread state, detached by
        // `keep`; restoring it takes the GIL, and releasing the `Ensure`
        // that made it clears and deletes it and releases the GIL. The
        // interpreter is there: this is a counted call, and exit waits for
        // it before finalising.
        unsafe {
            ffi::PyEval_RestoreThread(state);
            ffi::PyGILState_Release(ensured);
        }
    }
}

/// Counts a call out when it ends, however it ends (an exception unwinds
/// through `attach`).
struct Landing;

impl Drop for Landing {
    fn drop(&mut self) {
        if let Ok(mut flight) = FLIGHT.lock() {
            flight.0 -= 1;
            LANDED.notify_all();
        }
    }
}

/// In a child made by `fork()`: the calls counted were the parent's
/// threads', which the child does not have.
pub(crate) fn forked() {
    let mut flight = FLIGHT.lock().unwrap_or_else(PoisonError::into_inner);
    flight.0 = 0;
}

/// Refuses every new call; for the exit hook, before it closes the handles.
pub(crate) fn close() {
    if let Ok(mut flight) = FLIGHT.lock() {
        flight.1 = true;
    }
}

/// Waits, without the GIL (call it off it), until no call is running.
pub(crate) fn drain() {
    let Ok(mut flight) = FLIGHT.lock() else {
        return;
    };
    while flight.0 > 0 {
        flight = match LANDED.wait(flight) {
            Ok(flight) => flight,
            Err(_) => return,
        };
    }
}

unsafe extern "C" {
    /// CPython's own (since 3.4; outside the limited API's headers, but
    /// every CPython this module loads into exports it).
    fn PyGILState_Check() -> std::ffi::c_int;
}

/// Whether this thread holds the GIL now.
pub(crate) fn holds_gil() -> bool {
    // SAFETY: `PyGILState_Check` may be called from any thread, with or
    // without the GIL, and reads only this thread's state (it returns 1
    // before the interpreter is initialised, so a caller still attaches
    // with `Python::try_attach`, which checks that).
    unsafe { PyGILState_Check() == 1 }
}
