//! What `Host` and `Client` share: [`Side`] (the crate's handle, one or the
//! other) and [`Handle`], their Python base class, with the reading side
//! (the crate's `Inbox`), the sending methods, targets, callbacks and
//! closing.
//!
//! Closing never holds the GIL: the crate joins its threads, and its
//! dispatcher may be waiting for the GIL to run a Python callback. A handle
//! left open is closed when its last reference goes, or at exit (a hook
//! closes every open handle before the interpreter joins its threads and
//! shuts down, and waits for running callbacks: see `inflight`).
//!
//! A handle one of its own callbacks refers to
//! (`h.on("x", lambda m: h.write("y", m))`) is collected as any cycle is:
//! the handle holds its callbacks' functions where the cycle collector
//! sees them (see `held`).

use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use pyo3::PyTraverseError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::PyList;
use socketengine::{Inbox, To};

use crate::blocking::blocking;
use crate::buffer::untracked;
use crate::callbacks::{self, CallbackId, Hook};
use crate::errors::to_py;
use crate::held::Held;
use crate::image::Image;
use crate::info::{CallbackStats, ChannelStats, ImageStats, SharedMemoryStats};
use crate::message::Message;
use crate::send::{Dest, sending_methods};
use crate::target::{Target, parse_to};
use crate::value::decode_py;
use crate::wait::{Events, Step, Subscription, seconds, wait};

/// The crate's handle behind a Python one.
pub(crate) enum Side {
    Host(socketengine::Host),
    Client(socketengine::Client),
}

/// Every handle made, to close those still open at exit.
static LIVE: Mutex<Vec<Weak<Side>>> = Mutex::new(Vec::new());

impl Side {
    /// `side`, shared, and remembered for the exit hook.
    pub(crate) fn keep(side: Side) -> Arc<Side> {
        let side = Arc::new(side);
        let mut live = LIVE.lock().unwrap_or_else(PoisonError::into_inner);
        live.retain(|weak| weak.strong_count() > 0);
        live.push(Arc::downgrade(&side));
        drop(live);
        side
    }

    pub(crate) fn inbox(&self) -> &Inbox {
        match self {
            Side::Host(h) => h.deref(),
            Side::Client(c) => c.deref(),
        }
    }

    pub(crate) fn to(&self, to: To) -> socketengine::Target<'_> {
        match self {
            Side::Host(h) => h.to(to),
            Side::Client(c) => c.to(to),
        }
    }

    /// Where a plain write goes: a host's to every client, a client's to
    /// its host.
    pub(crate) fn default_to(&self) -> To {
        match self {
            Side::Host(_) => To::All,
            Side::Client(_) => To::Host,
        }
    }

    pub(crate) fn close(&self) {
        match self {
            Side::Host(h) => h.close(),
            Side::Client(c) => c.close(),
        }
    }

    fn flush(&self) -> socketengine::Result<()> {
        match self {
            Side::Host(h) => h.flush(),
            Side::Client(c) => c.flush(),
        }
    }
}

impl Drop for Side {
    /// Closes the handle without the GIL, even one closed already: a handle
    /// closed from its own callback has left its dispatcher thread to be
    /// joined here, and that thread, ending, takes the GIL to release its
    /// thread state (see `inflight`): joined with the GIL held, it would
    /// never end. Closing again joins it and returns once it has. A thread
    /// without the GIL closes as it is: taking the GIL only to let it go
    /// could meet an interpreter finalising.
    fn drop(&mut self) {
        let this = &*self;
        let released = crate::inflight::holds_gil()
            && Python::try_attach(|py| py.detach(|| this.close())).is_some();
        if !released {
            this.close();
        }
    }
}

/// Closes every handle still open (the exit hook), refusing new Python
/// callbacks first and then waiting for the running ones to return (see
/// `inflight`). Ctrl-C interrupts the wait (the handles are closed
/// already; their threads finish alone).
#[pyfunction]
pub(crate) fn _close_all(py: Python<'_>) -> PyResult<()> {
    crate::inflight::close();
    // A poisoned list is still the list (a push or retain never leaves it
    // half done).
    let live: Vec<Arc<Side>> = LIVE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    blocking(py, move || {
        live.iter().for_each(|side| side.close());
        crate::inflight::drain();
    })
}

/// In a child made by `fork()`, forgets the handles it inherited: their
/// threads were not copied into it, so closing one would join threads that
/// are not there, and a callback running in the parent at the fork would
/// be waited for for ever. The child's inherited handles are left as they
/// are (never closed, never dropped); a child makes handles of its own.
#[pyfunction]
pub(crate) fn _after_fork_in_child() {
    let inherited = std::mem::take(&mut *LIVE.lock().unwrap_or_else(PoisonError::into_inner));
    for side in inherited.iter().filter_map(Weak::upgrade) {
        std::mem::forget(side);
    }
    crate::inflight::forked();
}

/// What a `Host` and a `Client` share: reading (`get`, `get_all`,
/// `get_all_timeout`, `get_image`, `subscribe`, `events`, ...), sending
/// (`write`, `write_lock`, `write_many`, `write_json`, `write_image`, ...,
/// to a host's clients or a client's host; `to(...)` names another
/// target), callbacks (`on`, `on_request`, hooks) and `close()`. A handle
/// is a context manager that closes on exit. A handle is closed when it is
/// collected: when its last reference goes, or, if its own callback refers
/// to it, when the cycle collector finds the cycle unreachable.
#[pyclass(subclass, frozen, weakref, module = "socketengine")]
pub(crate) struct Handle {
    pub(crate) side: Arc<Side>,
    /// The functions of its callbacks (see `held`).
    pub(crate) held: Held,
}

impl Drop for Handle {
    /// Its functions go with it, before its crate handle is closed (which
    /// lets go of the GIL): nothing the collector counted as the handle's
    /// outlives it.
    fn drop(&mut self) {
        self.held.clear();
    }
}

impl Handle {
    /// A handle over `side`.
    pub(crate) fn new(side: Side) -> Handle {
        Handle {
            side: Side::keep(side),
            held: Held::default(),
        }
    }

    fn dest(&self) -> Dest<'_> {
        Dest {
            side: &self.side,
            to: self.side.default_to(),
            mirror: false,
        }
    }
}

sending_methods! { Handle;
    /// The latest message on `channel`, without consuming it (`None` if
    /// nothing arrived on it yet). Never blocks.
    fn get(&self, channel: &str) -> Option<Message> {
        self.side.inbox().get(channel).map(Message::new)
    }

    /// Every message queued on `channel` (or a pattern's channels) since
    /// the last call, oldest first; the queue is empty afterwards. Never
    /// blocks: the batch path for reading many small messages.
    fn get_all<'py>(&self, py: Python<'py>, channel: &str) -> PyResult<Bound<'py, PyList>> {
        messages(py, self.side.inbox().get_all(channel))
    }

    /// As `get_all`, but when nothing is queued waits up to `timeout`
    /// seconds (`float("inf")`: as long as it takes) for the next batch
    /// (without the GIL; Ctrl-C interrupts it);
    /// `[]` if none came, or at once if the handle is closed.
    fn get_all_timeout<'py>(&self, py: Python<'py>, channel: &str, timeout: f64) -> PyResult<Bound<'py, PyList>> {
        let inbox = self.side.inbox();
        let got = wait(py, seconds(Some(timeout))?, |slice| {
            let batch = inbox.get_all_timeout(channel, slice);
            match (batch.is_empty(), inbox.is_closed()) {
                (false, _) => Step::Got(batch),
                (true, true) => Step::Ended,
                (true, false) => Step::Wait,
            }
        })?;
        messages(py, match got { Step::Got(batch) => batch, _ => Vec::new() })
    }

    /// The newest image received whole on `channel` (default `"image"`),
    /// without consuming it; `None` if none. Its pixels are where the
    /// socket put them: `numpy.asarray(img)` copies nothing.
    #[pyo3(signature = (channel = "image"))]
    fn get_image(&self, channel: &str) -> Option<Image> {
        self.side.inbox().get_image(channel).map(Image::new)
    }

    /// The latest message on `channel` read as Python values (JSON or
    /// MessagePack, by its declared encoding); `None` if nothing arrived.
    fn get_json<'py>(&self, py: Python<'py>, channel: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(msg) = self.side.inbox().get(channel) else { return Ok(None) };
        decode_py(py, msg.encoding(), msg.payload(), msg.channel()).map(Some)
    }

    /// The channel's history (see the `history_depth` option), oldest first.
    fn history<'py>(&self, py: Python<'py>, channel: &str) -> PyResult<Bound<'py, PyList>> {
        messages(py, self.side.inbox().history(channel))
    }

    /// The latest message on `channel` from each sender, by sender id.
    fn get_by_client<'py>(&self, py: Python<'py>, channel: &str) -> PyResult<Bound<'py, PyList>> {
        messages(py, self.side.inbox().get_by_client(channel))
    }

    /// Every message arriving on `channel` (or a pattern: `arm/*`, `arm/**`)
    /// from now on, as a `Subscription` to iterate or `recv` from.
    fn subscribe(&self, channel: &str) -> Subscription {
        Subscription::new(self.side.inbox().subscribe(channel))
    }

    /// The handle's connection events, as `Events` to iterate or `recv` from.
    fn events(&self) -> Events {
        Events::new(self.side.inbox().events())
    }

    /// Counters of `channel`; `None` if nothing arrived on it.
    fn channel_stats(&self, channel: &str) -> Option<ChannelStats> {
        self.side.inbox().channel_stats(channel).map(ChannelStats::from)
    }

    /// Image counters of `channel` (default `"image"`).
    #[pyo3(signature = (channel = "image"))]
    fn image_stats(&self, channel: &str) -> ImageStats {
        self.side.inbox().image_stats(channel).into()
    }

    /// This handle's images through shared memory (`shared_memory_images`):
    /// peers that mapped its segment, images sent through it, sent over the
    /// socket for want of a free slot, fallbacks, unanswered offers, and
    /// peers' offers refused.
    fn shared_memory_stats(&self) -> SharedMemoryStats {
        self.side.inbox().shared_memory_stats().into()
    }

    /// Names of the channels that received messages or subscribers, sorted.
    fn channels(&self) -> Vec<String> {
        self.side.inbox().channels()
    }

    /// Bytes peers make this handle hold now (against `memory_limit`).
    fn memory_used(&self) -> usize {
        self.side.inbox().memory_used()
    }

    /// A target for the sending methods: a client id (`int`), a name
    /// (`str`), a list of ids or of names, or `room=` / `group=` (a channel
    /// pattern: the clients interested in it). From a client, every target
    /// but its host is routed through the host.
    #[pyo3(signature = (target = None, *, room = None, group = None))]
    fn to(slf: &Bound<'_, Self>, target: Option<&Bound<'_, PyAny>>, room: Option<String>, group: Option<String>) -> PyResult<Target> {
        Ok(Target::new(slf, parse_to(target, room, group)?))
    }

    /// A target of every client (from a client: every other client).
    fn to_all(slf: &Bound<'_, Self>) -> Target {
        Target::new(slf, To::All)
    }

    /// A target of the host (a client's plain writes go there already).
    fn to_host(slf: &Bound<'_, Self>) -> Target {
        Target::new(slf, To::Host)
    }

    /// Calls `func(message)` with every message on `channel` (or a
    /// pattern) from now on, in order, on the handle's dispatcher thread;
    /// with `name`, registering that name again replaces it. An exception
    /// is reported (`sys.unraisablehook`, an event) and the callback kept.
    #[pyo3(signature = (channel, func, *, name = None))]
    fn on(slf: &Bound<'_, Self>, channel: &str, func: Py<PyAny>, name: Option<&str>) -> PyResult<CallbackId> {
        callbacks::on(slf, name, channel, func)
    }

    /// Removes a callback or hook; whether it was registered.
    fn off(&self, id: &CallbackId) -> bool {
        match &*self.side {
            Side::Host(h) => h.off(id.id),
            Side::Client(c) => c.off(id.id),
        }
    }

    /// Removes every callback and hook named `name`; how many there were.
    fn off_named(&self, name: &str) -> usize {
        match &*self.side {
            Side::Host(h) => h.off_named(name),
            Side::Client(c) => c.off_named(name),
        }
    }

    /// Calls `func(event)` with every `"connected"` event, as the hook `name`.
    fn on_connect(slf: &Bound<'_, Self>, name: &str, func: Py<PyAny>) -> PyResult<CallbackId> {
        callbacks::hook(slf, Hook::Connect, name, func)
    }

    /// Calls `func(event)` with every `"disconnected"` event (its `reason`).
    fn on_disconnect(slf: &Bound<'_, Self>, name: &str, func: Py<PyAny>) -> PyResult<CallbackId> {
        callbacks::hook(slf, Hook::Disconnect, name, func)
    }

    /// Calls `func(event)` with every event that reports a failure.
    fn on_error(slf: &Bound<'_, Self>, name: &str, func: Py<PyAny>) -> PyResult<CallbackId> {
        callbacks::hook(slf, Hook::Error, name, func)
    }

    /// Makes `func(request)` the responder on `channel`: it returns the
    /// answer (bytes-like, `str`, `Json(v)`, a dict or list as JSON, or
    /// `None`), or raises to fail the request (`RemoteError` to refuse it
    /// without a report).
    fn on_request(slf: &Bound<'_, Self>, channel: &str, func: Py<PyAny>) -> PyResult<()> {
        callbacks::on_request(slf, channel, func)
    }

    /// Removes the responder on `channel`; whether there was one.
    fn remove_responder(&self, channel: &str) -> bool {
        match &*self.side {
            Side::Host(h) => h.remove_responder(channel),
            Side::Client(c) => c.remove_responder(channel),
        }
    }

    /// Makes `func(*args, **kwargs)` the handler of the commands named
    /// `name` (on the `cmd` channel); it returns a JSON-able answer.
    fn on_command(slf: &Bound<'_, Self>, name: &str, func: Py<PyAny>) -> PyResult<()> {
        callbacks::on_command(slf, name, func)
    }

    /// The callbacks' counts (registered, queued, dropped, raised).
    fn callback_stats(&self) -> CallbackStats {
        match &*self.side {
            Side::Host(h) => h.callback_stats().into(),
            Side::Client(c) => c.callback_stats().into(),
        }
    }

    /// Waits (without the GIL) until everything queued so far is in the
    /// kernel, for at most the write timeout. Ctrl-C interrupts the wait
    /// (what is queued is still sent).
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let side = Arc::clone(&self.side);
        blocking(py, move || side.flush())?.map_err(to_py)
    }

    /// Stops the handle and joins its threads (without the GIL).
    /// Idempotent. Writes then raise `ClosedError`; reads return what is
    /// left and never wait. Ctrl-C interrupts the wait for the threads
    /// (the handle is closed already; they finish alone).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let side = Arc::clone(&self.side);
        blocking(py, move || side.close())
    }

    /// Whether the handle is closed.
    #[getter]
    fn closed(&self) -> bool {
        self.side.inbox().is_closed()
    }

    /// Reports its callbacks' functions to the cycle collector.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        self.held.traverse(&visit)
    }

    /// Drops its callbacks' functions (the collector breaking a cycle).
    fn __clear__(&self) {
        self.held.clear();
    }

    /// The handle itself, for `with Host(...) as host:`.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the handle (an exception in the block goes on).
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}

/// `msgs` as a list of `Message`s.
fn messages(py: Python<'_>, msgs: Vec<socketengine::Message>) -> PyResult<Bound<'_, PyList>> {
    let items = msgs
        .into_iter()
        .map(|m| Bound::new(py, Message::new(m)).map(untracked))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}
