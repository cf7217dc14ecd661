//! The Python functions a handle's callbacks call, held where the cycle
//! collector sees them.
//!
//! The crate keeps a handle's callbacks, and a callback that refers to its
//! own handle (`h.on("x", lambda m: h.write("y", m))`) makes a cycle: the
//! function, its handle, the crate's callback table, the function. The
//! collector would never see the last link, so such a handle would stay
//! open, with its threads and its port, until exit. So the crate's closure
//! does not own the function: it holds a [`Func`], a shared [`Slot`] the
//! handle holds too ([`Held`]), and the handle reports each slot's function
//! to the collector (`__traverse__`) and empties the slots when the
//! collector breaks the cycle (`__clear__`). The function's one reference
//! is the slot's, reported by one object, as the collector requires. A
//! collected handle is then closed as it is dropped.
//!
//! A `Target` holds the Python handle and reports it, so a callback that
//! refers only to a target of its own handle makes a cycle the collector
//! finds too.
//!
//! The crate's dispatcher thread reaches a slot without going through the
//! handle, whenever the GIL is free, and the collector lets go of the GIL
//! while it frees things (closing a collected handle does). So a [`Func`]
//! also holds a weak reference to its handle and calls nothing once that
//! is dead: the collector clears weak references to everything it will
//! free before it clears or frees any of it, so a handle being collected
//! never has its functions called half cleared. And a handle empties its
//! slots as it goes (its `Drop`), before its crate handle is closed.
//!
//! When the crate drops a callback (`off`, a responder replaced, the
//! handle closed), its [`Func`] empties the slot, and the handle forgets
//! empty slots at its next registration.

use std::sync::{Arc, Mutex};

use pyo3::PyTraverseError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyWeakrefReference;

/// One registered function: `None` once the crate dropped its callback or
/// the collector cleared the handle.
struct Slot(Mutex<Option<Py<PyAny>>>);

/// The slots of a handle's registered functions.
#[derive(Default)]
pub(crate) struct Held {
    slots: Mutex<Vec<Arc<Slot>>>,
}

impl Held {
    /// Holds `func` for a callback the crate is given: the callback calls
    /// it through the returned [`Func`].
    pub(crate) fn hold(&self, owner: &Bound<'_, PyAny>, func: Py<PyAny>) -> PyResult<Func> {
        let owner = PyWeakrefReference::new(owner)?.unbind();
        let slot = Arc::new(Slot(Mutex::new(Some(func))));
        if let Ok(mut slots) = self.slots.lock() {
            slots.retain(|slot| slot.0.lock().is_ok_and(|func| func.is_some()));
            slots.push(Arc::clone(&slot));
        }
        Ok(Func(slot, owner))
    }

    /// Reports each function held to the collector. A slot another thread
    /// has locked (for an instant, emptying it) is skipped: the function
    /// then only seems reachable, until the next collection. A slot
    /// emptied without the GIL while the collector runs (the crate
    /// dropping a callback on its own thread) does not upset the
    /// collector's counts: without the GIL, PyO3 defers the reference's
    /// release until a thread holds it, so the count the collector saw
    /// reported stays true for this collection.
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        let Ok(slots) = self.slots.try_lock() else {
            return Ok(());
        };
        for slot in slots.iter() {
            if let Ok(func) = slot.0.try_lock() {
                visit.call(func.as_ref())?;
            }
        }
        Ok(())
    }

    /// Drops every function held (the collector breaking a cycle): the
    /// callbacks then do nothing, and the handle goes.
    pub(crate) fn clear(&self) {
        let slots = match self.slots.lock() {
            Ok(mut slots) => std::mem::take(&mut *slots),
            Err(_) => return,
        };
        for slot in slots {
            let func = slot.0.lock().ok().and_then(|mut func| func.take());
            drop(func);
        }
    }
}

/// What the crate's callback holds: the function's slot, emptied when the
/// crate drops the callback, and a weak reference to the handle.
pub(crate) struct Func(Arc<Slot>, Py<PyWeakrefReference>);

impl Func {
    /// The function, while it is held.
    pub(crate) fn get(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        // The collector clears weak references to what it will free before it
        // clears anything: a handle being collected calls nothing.
        self.1.bind(py).upgrade()?;
        let func = self.0.0.lock().ok()?;
        func.as_ref().map(|func| func.clone_ref(py))
    }
}

impl Drop for Func {
    fn drop(&mut self) {
        // Taken out under the lock, dropped after it (without the GIL, PyO3
        // defers the release).
        let func = self.0.0.lock().ok().and_then(|mut func| func.take());
        drop(func);
    }
}
