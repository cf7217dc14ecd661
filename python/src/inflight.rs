//! The Python calls the engine's dispatcher threads are making, counted,
//! so that interpreter exit waits for them: CPython 3.11-3.13 end a thread
//! that takes the GIL during finalisation with `pthread_exit`, whose forced
//! unwind through a callback's frames would abort the process. At exit
//! ([`close`]), new calls are refused (the callback is skipped, a responder
//! answers that the interpreter is shutting down) and the exit hook waits,
//! without the GIL and interruptible by Ctrl-C, for the running ones.

use std::sync::{Condvar, Mutex};

use pyo3::prelude::*;

/// Calls running or waiting for the GIL, and whether exit has begun.
static FLIGHT: Mutex<(usize, bool)> = Mutex::new((0, false));
/// Signalled when a call ends.
static LANDED: Condvar = Condvar::new();

/// Runs `f` with the GIL, counted; `None` once exit has begun (or if the
/// interpreter is not there to attach to).
pub(crate) fn attach<R>(f: impl FnOnce(Python<'_>) -> R) -> Option<R> {
    {
        let mut flight = FLIGHT.lock().ok()?;
        if flight.1 {
            return None;
        }
        flight.0 += 1;
    }
    let _landing = Landing;
    Python::try_attach(f)
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
