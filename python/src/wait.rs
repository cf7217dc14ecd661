//! Blocking calls: every wait here releases the GIL and waits in slices
//! of 50 ms, checking for signals between them, so another Python thread
//! runs meanwhile and Ctrl-C interrupts the wait (as `KeyboardInterrupt`).
//! [`Subscription`], [`Events`] and [`Replies`] are the iterators built on
//! it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use socketengine::{ErrorKind, RecvTimeoutError};

use crate::errors::{closed, to_py};
use crate::event::Event;
use crate::message::{Message, Reply};
use crate::send::error_object;

/// How long one wait without the GIL lasts at most: how late Ctrl-C may
/// be noticed.
const SLICE: Duration = Duration::from_millis(50);

/// What one slice of a wait found.
pub(crate) enum Step<T> {
    /// The thing waited for.
    Got(T),
    /// Nothing yet (and, returned by [`wait`], nothing in time).
    Wait,
    /// Nothing will come: the handle is closed.
    Ended,
}

/// Waits up to `timeout` (`None`, or one too long for the clock, such as
/// `Duration::MAX`: as long as it takes) for `step`, which
/// waits at most the duration it is given; between slices it checks for
/// signals (raising what a handler raised, such as `KeyboardInterrupt`).
pub(crate) fn wait<T: Send>(
    py: Python<'_>,
    timeout: Option<Duration>,
    mut step: impl FnMut(Duration) -> Step<T> + Send,
) -> PyResult<Step<T>> {
    let deadline = timeout.map(|t| Instant::now().checked_add(t));
    loop {
        let left = match deadline {
            Some(Some(deadline)) => deadline.saturating_duration_since(Instant::now()),
            _ => SLICE,
        };
        match py.detach(|| step(left.min(SLICE))) {
            Step::Wait => {}
            done => return Ok(done),
        }
        py.check_signals()?;
        if matches!(deadline, Some(Some(deadline)) if Instant::now() >= deadline) {
            return Ok(Step::Wait);
        }
    }
}

/// A number of seconds as a `Duration`: `float("inf")` is no limit
/// (`Duration::MAX`, which [`wait`] waits for ever, in slices, and the
/// crate cuts to a year).
///
/// # Errors
///
/// `ValueError` for a negative or not-a-number duration.
pub(crate) fn duration(secs: f64) -> PyResult<Duration> {
    if secs == f64::INFINITY {
        return Ok(Duration::MAX);
    }
    Duration::try_from_secs_f64(secs).map_err(|_| {
        PyValueError::new_err(format!(
            "a duration is a number of seconds >= 0 (float(\"inf\") for none), not {secs}"
        ))
    })
}

/// A timeout in seconds as a `Duration`; `None` stays `None` and
/// `float("inf")` is `Duration::MAX`: no limit either way.
///
/// # Errors
///
/// `ValueError` for a negative or not-a-number timeout.
pub(crate) fn seconds(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    timeout.map(duration).transpose()
}

/// What a receive found, as the crate's receivers report it.
fn step<T>(received: Result<T, RecvTimeoutError>) -> Step<T> {
    match received {
        Ok(item) => Step::Got(item),
        Err(RecvTimeoutError::Timeout) => Step::Wait,
        Err(_) => Step::Ended,
    }
}

/// The reading methods of `Subscription` and `Events`, over their own
/// `next_within` (a wait in slices), `try_next` and `waiting`.
macro_rules! receiving_methods {
    ($class:ident, $item:ty, $source:ident) => {
        #[pymethods]
        impl $class {
            /// The next one, waiting up to `timeout` seconds (`None` or
            /// `float("inf")`: as long as it takes); `None` if none came in time. Raises `ClosedError`
            /// once the handle is closed and nothing is left.
            #[pyo3(signature = (timeout = None))]
            fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<$item>> {
                finish(self.next_within(py, seconds(timeout)?)?)
            }

            /// The next one if it is waiting already; else `None`.
            fn try_recv(&self, py: Python<'_>) -> Option<$item> {
                self.try_next(py)
            }

            /// Each as it comes, stopping after `timeout` seconds without one
            /// (or once the handle is closed).
            fn iter(slf: Py<Self>, timeout: f64) -> PyResult<Until> {
                let timeout = seconds(Some(timeout))?;
                Ok(Until {
                    source: Source::$source(slf),
                    timeout,
                })
            }

            /// How many are waiting.
            fn __len__(&self) -> usize {
                self.waiting()
            }

            /// Always true (a reader is not empty because nothing waits in
            /// it yet).
            fn __bool__(&self) -> bool {
                true
            }

            fn __iter__(slf: Py<Self>) -> Py<Self> {
                slf
            }

            fn __next__(&self, py: Python<'_>) -> PyResult<Option<$item>> {
                Ok(got(self.next_within(py, None)?))
            }
        }
    };
}

/// Every message arriving on a channel (or a pattern's channels) from the
/// moment of `subscribe`, for a thread that prefers to block. Iterating
/// waits for each message and ends once the handle is closed; `recv`
/// takes a timeout. Each message goes to one reader of the subscription.
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct Subscription {
    sub: socketengine::Subscription,
}

impl Subscription {
    pub(crate) fn new(sub: socketengine::Subscription) -> Subscription {
        Subscription { sub }
    }

    fn next_within(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<Step<Message>> {
        let got = wait(py, timeout, |slice| step(self.sub.recv_timeout(slice)))?;
        Ok(map(got, Message::new))
    }

    fn try_next(&self, _py: Python<'_>) -> Option<Message> {
        self.sub.try_recv().ok().map(Message::new)
    }

    fn waiting(&self) -> usize {
        self.sub.len()
    }
}

receiving_methods!(Subscription, Message, Subscription);

/// The handle's connection events (`Event`s: connected, disconnected,
/// errors, ...), read as a `Subscription` reads messages. Every `events()`
/// of a handle shares one stream: each event goes to one reader.
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct Events {
    events: socketengine::Events,
}

impl Events {
    pub(crate) fn new(events: socketengine::Events) -> Events {
        Events { events }
    }

    fn next_within(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<Step<Event>> {
        let got = wait(py, timeout, |slice| step(self.events.recv_timeout(slice)))?;
        Ok(map(got, |event| Event::new(py, &event)))
    }

    fn try_next(&self, py: Python<'_>) -> Option<Event> {
        self.events.try_recv().ok().map(|e| Event::new(py, &e))
    }

    fn waiting(&self) -> usize {
        self.events.len()
    }
}

receiving_methods!(Events, Event, Events);

/// The answers to a request (from `to(...).request(...)`): iterating
/// yields `(client_id, answer)` for each peer asked, in the order they
/// answer, where `answer` is a `Reply` or the exception that ended that
/// peer's request (`TimedOutError` at the deadline, `NoResponderError`,
/// `RemoteError`, ...). Every peer asked appears once; `len()` says how many
/// are left. `one()` is the first answer, raised if it is an error.
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct Replies {
    /// Iterating takes `&mut`; one reader at a time.
    replies: Mutex<socketengine::Replies>,
}

impl Replies {
    pub(crate) fn new(replies: socketengine::Replies) -> Replies {
        Replies {
            replies: Mutex::new(replies),
        }
    }

    fn next_answer(
        &self,
        py: Python<'_>,
    ) -> PyResult<Option<(u64, socketengine::Result<socketengine::Reply>)>> {
        let got = wait(py, None, |slice| {
            let Ok(mut replies) = self.replies.lock() else {
                return Step::Ended;
            };
            step(replies.recv_timeout(slice))
        })?;
        Ok(match got {
            Step::Got((from, answer)) => Some((from.0, answer)),
            _ => None,
        })
    }
}

#[pymethods]
impl Replies {
    /// The first answer: its `Reply`, or its error raised (`NotConnectedError`
    /// if the request went to nobody).
    pub(crate) fn one(&self, py: Python<'_>) -> PyResult<Reply> {
        match self.next_answer(py)? {
            Some((_, answer)) => answer.map(Reply::new).map_err(to_py),
            None => Err(to_py(ErrorKind::NotConnected.into())),
        }
    }

    /// How many peers have not appeared yet. Waits for the lock without
    /// the GIL: another thread may hold it inside a wait of up to a slice.
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let replies = &self.replies;
        py.detach(|| replies.lock().map(|replies| replies.len()).map_err(drop))
            .map_err(|_| PyRuntimeError::new_err("a reader panicked"))
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<(u64, Bound<'py, PyAny>)>> {
        let Some((from, answer)) = self.next_answer(py)? else {
            return Ok(None);
        };
        let answer = match answer {
            Ok(reply) => Bound::new(py, Reply::new(reply))?.into_any(),
            Err(err) => error_object(py, &err),
        };
        Ok(Some((from, answer)))
    }
}

/// Where an `Until` reads from.
enum Source {
    Subscription(Py<Subscription>),
    Events(Py<Events>),
}

/// A subscription's or events' items until none comes within a timeout:
/// from `iter(timeout)`.
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct Until {
    source: Source,
    timeout: Option<Duration>,
}

#[pymethods]
impl Until {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        Ok(match &self.source {
            Source::Subscription(sub) => got(sub.get().next_within(py, self.timeout)?)
                .map(|m| Bound::new(py, m))
                .transpose()?
                .map(Bound::into_any),
            Source::Events(events) => got(events.get().next_within(py, self.timeout)?)
                .map(|e| Bound::new(py, e))
                .transpose()?
                .map(Bound::into_any),
        })
    }
}

fn map<T, U>(step: Step<T>, f: impl FnOnce(T) -> U) -> Step<U> {
    match step {
        Step::Got(item) => Step::Got(f(item)),
        Step::Wait => Step::Wait,
        Step::Ended => Step::Ended,
    }
}

/// A `recv`'s answer: the item, `None` for nothing in time, `ClosedError`
/// for a closed handle.
fn finish<T>(step: Step<T>) -> PyResult<Option<T>> {
    match step {
        Step::Got(item) => Ok(Some(item)),
        Step::Wait => Ok(None),
        Step::Ended => Err(closed()),
    }
}

/// An iterator's next item: `None` (the end) when nothing came.
fn got<T>(step: Step<T>) -> Option<T> {
    match step {
        Step::Got(item) => Some(item),
        _ => None,
    }
}
