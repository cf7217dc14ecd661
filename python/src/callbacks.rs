//! The application's Python functions on a handle: message callbacks
//! (`on`), hooks (`on_connect`, ...), responders (`on_request`) and
//! command handlers (`on_command`). The crate runs them on the handle's
//! dispatcher thread, never its event loop; each call takes the GIL, on
//! the one Python thread state the dispatcher keeps for its life (see
//! `inflight`).
//!
//! An exception in a callback or hook is reported, not swallowed, and
//! never stops the handle: it goes to `sys.unraisablehook` (by default a
//! traceback on stderr) and to the crate's own report, as a panic in a
//! Rust callback does (an `Event` of kind `"callback_panicked"` with the
//! exception's text, counted in `callback_stats().panicked`); the
//! callback stays registered. In a responder, the exception fails that
//! request with its text (`RemoteError` at the requester) and is reported
//! to `sys.unraisablehook`, unless it is a `RemoteError`: raising one is
//! how a responder refuses a request on purpose.

use std::panic::resume_unwind;

use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use serde_json::{Map, Value};
use socketengine::{Outgoing, Payload};

use crate::errors::is_remote;
use crate::event::Event;
use crate::handle::{Handle, Side};
use crate::held::Func;
use crate::message::{Message, Request};
use crate::value::{to_py_value, to_value};

/// A registered message callback or hook, for `off`.
#[pyclass(frozen, eq, hash, module = "socketengine")]
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct CallbackId {
    pub(crate) id: socketengine::CallbackId,
}

#[pymethods]
impl CallbackId {
    fn __repr__(&self) -> String {
        format!("{:?}", self.id)
    }
}

/// Which hook: the crate's `on_connect`, `on_disconnect`, `on_error`,
/// `on_reconnect`.
#[derive(Clone, Copy)]
pub(crate) enum Hook {
    Connect,
    Disconnect,
    Error,
    Reconnect,
}

/// Calls `func` with every message on `channel` (a name or a pattern),
/// named `name` if given.
pub(crate) fn on(
    handle: &Bound<'_, Handle>,
    name: Option<&str>,
    channel: &str,
    func: Py<PyAny>,
) -> PyResult<CallbackId> {
    let func = held(handle, func)?;
    let f = move |msg: &socketengine::Message| {
        call(&func, |py| {
            Ok(Bound::new(py, Message::new(msg.clone()))?.into_any())
        })
    };
    let id = match (&*handle.get().side, name) {
        (Side::Host(h), None) => h.on(channel, f),
        (Side::Host(h), Some(name)) => h.on_named(name, channel, f),
        (Side::Client(c), None) => c.on(channel, f),
        (Side::Client(c), Some(name)) => c.on_named(name, channel, f),
    };
    id.map(|id| CallbackId { id }).map_err(crate::errors::to_py)
}

/// Calls `func` with every event of `hook`'s kind, as the hook `name`.
pub(crate) fn hook(
    handle: &Bound<'_, Handle>,
    hook: Hook,
    name: &str,
    func: Py<PyAny>,
) -> PyResult<CallbackId> {
    let func = held(handle, func)?;
    let f = move |event: &socketengine::Event| {
        call(&func, |py| {
            Ok(Bound::new(py, Event::new(py, event))?.into_any())
        })
    };
    let id = match (&*handle.get().side, hook) {
        (Side::Host(h), Hook::Connect) => h.on_connect(name, f),
        (Side::Host(h), Hook::Disconnect) => h.on_disconnect(name, f),
        (Side::Host(h), Hook::Error) => h.on_error(name, f),
        (Side::Host(_), Hook::Reconnect) => {
            return Err(PyTypeError::new_err(
                "a host does not reconnect: on_reconnect is a client's",
            ));
        }
        (Side::Client(c), Hook::Connect) => c.on_connect(name, f),
        (Side::Client(c), Hook::Disconnect) => c.on_disconnect(name, f),
        (Side::Client(c), Hook::Error) => c.on_error(name, f),
        (Side::Client(c), Hook::Reconnect) => c.on_reconnect(name, f),
    };
    id.map(|id| CallbackId { id }).map_err(crate::errors::to_py)
}

/// Makes `func` the responder on `channel`: it is called with a `Request`
/// and returns the answer (bytes-like, `str`, `Json(v)` / `MsgPack(v)`, a
/// `dict` or `list` as JSON, or `None` for an empty answer).
pub(crate) fn on_request(
    handle: &Bound<'_, Handle>,
    channel: &str,
    func: Py<PyAny>,
) -> PyResult<()> {
    let func = held(handle, func)?;
    let f = move |request: &socketengine::Request| -> Result<Payload, String> {
        let answered = crate::inflight::attach(|py| {
            let func = func.get(py).ok_or_else(gone)?;
            let asked = func.call1(py, (Request::new(request),));
            asked
                .and_then(|answer| answer_payload(answer.bind(py)))
                .map_err(|err| failure(py, err, &func))
        });
        answered.unwrap_or_else(|| Err(shutting_down()))
    };
    let registered = match &*handle.get().side {
        Side::Host(h) => h.on_request(channel, f),
        Side::Client(c) => c.on_request(channel, f),
    };
    registered.map_err(crate::errors::to_py)
}

/// Makes `func` the handler of the commands named `name`: called as
/// `func(*args, **kwargs)` with the command's arguments, it returns a
/// JSON-able answer.
pub(crate) fn on_command(handle: &Bound<'_, Handle>, name: &str, func: Py<PyAny>) -> PyResult<()> {
    let func = held(handle, func)?;
    let f = move |args: &[Value], kwargs: &Map<String, Value>| -> Result<Value, String> {
        let ran = crate::inflight::attach(|py| {
            let func = func.get(py).ok_or_else(gone)?;
            let called = command_args(py, args, kwargs).and_then(|(args, kwargs)| {
                let answer = func.call(py, args, Some(&kwargs))?;
                to_value(answer.bind(py))
            });
            called.map_err(|err| failure(py, err, &func))
        });
        ran.unwrap_or_else(|| Err(shutting_down()))
    };
    let registered = match &*handle.get().side {
        Side::Host(h) => h.on_command(name, f),
        Side::Client(c) => c.on_command(name, f),
    };
    registered.map_err(crate::errors::to_py)
}

/// Calls `func` with the argument `arg` makes. An exception is written to
/// `sys.unraisablehook`, then handed to the crate's report of a callback
/// that failed (unwinding with its text, which the dispatcher catches: no
/// panic hook runs, nothing is printed twice).
/// Nothing happens once the function is gone (see `held`).
fn call(func: &Func, arg: impl for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>>) {
    let failed = crate::inflight::attach(|py| {
        let func = func.get(py)?;
        let called = arg(py).and_then(|arg| func.call1(py, (arg,)));
        called.err().map(|err| {
            let text = describe(py, &err);
            err.write_unraisable(py, Some(func.bind(py)));
            text
        })
    });
    if let Some(text) = failed.flatten() {
        resume_unwind(Box::new(text));
    }
}

/// The text a failed responder or command answers with; reported to
/// `sys.unraisablehook` unless it is a `RemoteError`.
fn failure(py: Python<'_>, err: PyErr, func: &Py<PyAny>) -> String {
    if is_remote(py, &err) {
        return err
            .value(py)
            .str()
            .map_or_else(|_| "refused".to_owned(), |s| s.to_string());
    }
    let text = describe(py, &err);
    err.write_unraisable(py, Some(func.bind(py)));
    text
}

/// `TypeName: message`, as a traceback's last line says it.
fn describe(py: Python<'_>, err: &PyErr) -> String {
    let kind = err
        .get_type(py)
        .name()
        .map_or_else(|_| "Exception".to_owned(), |n| n.to_string());
    match err.value(py).str() {
        Ok(text) if !text.is_empty().unwrap_or(true) => format!("{kind}: {text}"),
        _ => kind,
    }
}

/// What a responder's return value is on the wire.
fn answer_payload(answer: &Bound<'_, PyAny>) -> PyResult<Payload> {
    if answer.is_none() {
        return Ok(Payload::bytes(Bytes::new()));
    }
    if answer.is_instance_of::<PyDict>() || answer.is_instance_of::<PyList>() {
        let value = to_value(answer)?;
        return socketengine::Json(&value)
            .into_outgoing()
            .map_err(crate::errors::to_py);
    }
    crate::send::payload(answer)
}

/// A command's arguments as Python's `*args` and `**kwargs`.
fn command_args<'py>(
    py: Python<'py>,
    args: &[Value],
    kwargs: &Map<String, Value>,
) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
    let args = args
        .iter()
        .map(|v| to_py_value(py, v))
        .collect::<PyResult<Vec<_>>>()?;
    let named = PyDict::new(py);
    for (key, value) in kwargs {
        named.set_item(key, to_py_value(py, value)?)?;
    }
    Ok((PyTuple::new(py, args)?, named))
}

/// `func`, held by `handle` for a callback (see `held`).
///
/// # Errors
///
/// `TypeError` unless `func` can be called.
fn held(handle: &Bound<'_, Handle>, func: Py<PyAny>) -> PyResult<Func> {
    let callable = Python::attach(|py| func.bind(py).is_callable());
    if !callable {
        return Err(PyTypeError::new_err("a callback must be callable"));
    }
    handle.get().held.hold(handle.as_any(), func)
}

/// A responder's or command handler's answer once exit has begun.
fn shutting_down() -> String {
    "the Python interpreter is shutting down".to_owned()
}

/// A responder's or command handler's answer once its handle was
/// collected (its functions dropped) while a request was on its way.
fn gone() -> String {
    "the handle's responder was dropped".to_owned()
}
