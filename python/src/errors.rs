//! The exceptions: `socketengine.Error` and, below it, one class per
//! variant of the crate's `ErrorKind` (`FullError`, `ClosedError`, ...),
//! raised with the crate's message. A write that was refused hands its
//! payload back on the exception (`err.payload`, a `Buffer`); the variant's
//! data are attributes too (`err.max`, `err.channel`, ...).
//!
//! Classes whose meaning Python already has also derive from the built-in
//! one (`TimedOutError` is a `TimeoutError`, `InvalidChannelError` a
//! `ValueError`), so `except TimeoutError:` works as it reads.

use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use socketengine::{Error, ErrorKind};

use crate::buffer::Buffer;

/// Declares the classes, in one table: each variant, its class's name,
/// the built-in class it also derives from, and its docstring.
macro_rules! classes {
    ($($variant:ident => $name:literal, $builtin:literal, $doc:literal;)*) => {
        /// Every class below `Error`: its name, its built-in base (or `""`)
        /// and its docstring.
        const CLASSES: &[(&str, &str, &str)] = &[$(($name, $builtin, $doc)),*];

        /// The name of the class of `kind`; a variant this module does not
        /// know yet (the enum is non-exhaustive) is a plain `Error`.
        fn class_name(kind: &ErrorKind) -> &'static str {
            match kind {
                $(ErrorKind::$variant { .. } => $name,)*
                _ => "Error",
            }
        }
    };
}

classes! {
    Full => "FullError", "", "The connection's outbox holds its budget, or the memory limit is reached: back off and retry (`err.payload` is the refused payload).";
    NotConnected => "NotConnectedError", "ConnectionError", "The connection is not (or no longer) open.";
    Closed => "ClosedError", "", "The host or client was closed.";
    TimedOut => "TimedOutError", "TimeoutError", "Something did not happen in time (`err.timeout`, seconds).";
    AddrInUse => "AddrInUseError", "OSError", "The listening address is taken by another socket.";
    Connect => "ConnectError", "ConnectionError", "Connecting to a host failed.";
    Refused => "RefusedError", "ConnectionRefusedError", "The host turned the connection away before admitting it.";
    NameTaken => "NameTakenError", "", "A connected client holds this name.";
    UnknownClient => "UnknownClientError", "", "No client with this id is connected.";
    UnknownName => "UnknownNameError", "", "No connected client has this name.";
    UnknownRoom => "UnknownRoomError", "", "No client is in a room of this name.";
    UnknownGroup => "UnknownGroupError", "", "No connected client declared an interest overlapping this group.";
    HostLimit => "HostLimitError", "", "The host did not keep a message (a limit of its own).";
    RoomLimit => "RoomLimitError", "", "A client is in its maximum number of rooms already.";
    RouteRefused => "RouteRefusedError", "", "The host did not deliver a routed message, or refused a room request.";
    NoResponder => "NoResponderError", "", "Nothing answers requests on this channel there.";
    Remote => "RemoteError", "", "The peer could not answer a request: its words. A responder raises it to fail a request without a traceback.";
    InvalidTarget => "InvalidTargetError", "ValueError", "A target that cannot go on the wire as given.";
    Unsupported => "UnsupportedError", "", "A target or feature that is not built yet, or makes no sense from this side.";
    InvalidChannel => "InvalidChannelError", "ValueError", "A channel name that is empty, too long, a pattern where a name is needed, or `$`.";
    FrameTooLarge => "FrameTooLargeError", "ValueError", "A payload exceeds the maximum frame (`err.len`, `err.max`).";
    Protocol => "ProtocolError", "", "The peer broke the wire format; that connection was closed.";
    ChannelLimit => "ChannelLimitError", "", "The store holds its most channels.";
    ChannelQuota => "ChannelQuotaError", "", "A client made its quota of channels already.";
    HandshakeTimeout => "HandshakeTimeoutError", "TimeoutError", "The peer did not finish the handshake in time.";
    Truncated => "TruncatedError", "", "The peer closed the connection in the middle of a frame.";
    FrameTimeout => "FrameTimeoutError", "TimeoutError", "A frame did not arrive whole in time.";
    AllocFailed => "AllocFailedError", "MemoryError", "The allocator could not give a buffer for a frame.";
    Image => "ImageError", "ValueError", "An image does not fit its geometry.";
    Forbidden => "ForbiddenError", "PermissionError", "The host's permissions do not allow this action on this channel.";
    Credential => "CredentialError", "", "A credential, key file or auth file could not be used.";
    Tls => "TlsError", "", "TLS failed.";
    Io => "IoError", "OSError", "An operating-system I/O error.";
    Encode => "EncodeError", "ValueError", "A value could not be serialised (JSON, MessagePack).";
    Decode => "DecodeError", "ValueError", "A payload does not decode as asked (not JSON or MessagePack).";
    UnknownCommand => "UnknownCommandError", "", "A command names no handler.";
    CommandFailed => "CommandFailedError", "", "A command's handler failed.";
    TooManyRequests => "TooManyRequestsError", "", "Too many requests in flight.";
    Busy => "BusyError", "", "The responder did not take the request: its queue is full.";
    ResponderGone => "ResponderGoneError", "", "The client a request was forwarded to disconnected before it answered.";
    ReplyTooLarge => "ReplyTooLargeError", "", "An answer exceeds the maximum frame.";
    DuplicateHost => "DuplicateHostError", "", "A set of hosts has one under this key already.";
    UnknownHost => "UnknownHostError", "", "A set of hosts has none under this key.";
}

/// The classes, made once per interpreter: `Error` first, then `CLASSES`'s.
static MADE: PyOnceLock<Vec<(&'static str, Py<PyType>)>> = PyOnceLock::new();

/// Makes the classes and adds them to `module`.
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let made = MADE.get_or_try_init(py, || make(py))?;
    for (name, class) in made {
        module.add(*name, class.bind(py))?;
    }
    Ok(())
}

fn make(py: Python<'_>) -> PyResult<Vec<(&'static str, Py<PyType>)>> {
    let doc = "What went wrong in socketengine: the base of its exceptions.";
    let base = new_class(py, "Error", &[py.get_type::<PyException>().into_any()], doc)?;
    let builtins = py.import("builtins")?;
    let mut made = vec![("Error", base.clone().unbind())];
    for &(name, builtin, doc) in CLASSES {
        let mut bases = vec![base.clone().into_any()];
        if !builtin.is_empty() {
            bases.push(builtins.getattr(builtin)?);
        }
        made.push((name, new_class(py, name, &bases, doc)?.unbind()));
    }
    Ok(made)
}

/// `type(name, bases, {...})`, in this module.
fn new_class<'py>(
    py: Python<'py>,
    name: &str,
    bases: &[Bound<'py, PyAny>],
    doc: &str,
) -> PyResult<Bound<'py, PyType>> {
    let attrs = PyDict::new(py);
    attrs.set_item("__doc__", doc)?;
    attrs.set_item("__module__", "socketengine")?;
    let bases = PyTuple::new(py, bases)?;
    let class = py.get_type::<PyType>().call1((name, bases, attrs))?;
    Ok(class.cast_into::<PyType>()?)
}

/// The class named `name`.
fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    let made = MADE.get_or_try_init(py, || make(py))?;
    let found = made.iter().find(|(n, _)| *n == name).unwrap_or(&made[0]);
    Ok(found.1.bind(py).clone())
}

/// The exception for `err`: an instance of its kind's class, with the
/// message, the handed-back payload and the variant's data.
pub(crate) fn instance<'py>(py: Python<'py>, err: &Error) -> PyResult<Bound<'py, PyAny>> {
    let exc = class(py, class_name(err.kind()))?.call1((err.to_string(),))?;
    let payload = err.payload().map(|p| Buffer::new(p.clone()));
    exc.setattr("payload", payload)?;
    for (name, value) in details(py, err.kind())? {
        exc.setattr(name, value)?;
    }
    Ok(exc)
}

/// `err` as a Python exception to raise.
pub(crate) fn to_py(err: Error) -> PyErr {
    Python::attach(|py| match instance(py, &err) {
        Ok(exc) => PyErr::from_value(exc),
        Err(failed) => failed,
    })
}

/// A `ClosedError`, for a handle that knows it is closed before asking the
/// engine.
pub(crate) fn closed() -> PyErr {
    to_py(Error::from(ErrorKind::Closed))
}

/// The data of `kind` that a handler may want, as attributes.
fn details<'py>(
    py: Python<'py>,
    kind: &ErrorKind,
) -> PyResult<Vec<(&'static str, Bound<'py, PyAny>)>> {
    let mut out = Vec::new();
    let mut put = |name, value: Bound<'py, PyAny>| out.push((name, value));
    match kind {
        ErrorKind::Full { queued, budget } => {
            put("queued", queued.into_pyobject(py)?.into_any());
            put("budget", budget.into_pyobject(py)?.into_any());
        }
        ErrorKind::TimedOut(t) | ErrorKind::HandshakeTimeout(t) | ErrorKind::FrameTimeout(t) => {
            put("timeout", t.as_secs_f64().into_pyobject(py)?.into_any());
        }
        ErrorKind::FrameTooLarge { len, max } | ErrorKind::ReplyTooLarge { len, max } => {
            put("len", len.into_pyobject(py)?.into_any());
            put("max", max.into_pyobject(py)?.into_any());
        }
        ErrorKind::RoomLimit { max }
        | ErrorKind::ChannelLimit { max }
        | ErrorKind::ChannelQuota { max }
        | ErrorKind::TooManyRequests { max } => put("max", max.into_pyobject(py)?.into_any()),
        ErrorKind::UnknownClient(id) => put("client", id.0.into_pyobject(py)?.into_any()),
        ErrorKind::UnknownName(name)
        | ErrorKind::NameTaken { name }
        | ErrorKind::UnknownCommand(name) => {
            put("name", name.into_pyobject(py)?.into_any());
        }
        ErrorKind::UnknownRoom(room) => put("room", room.into_pyobject(py)?.into_any()),
        ErrorKind::UnknownGroup(group) => put("group", group.into_pyobject(py)?.into_any()),
        ErrorKind::DuplicateHost(key) | ErrorKind::UnknownHost(key) => {
            put("key", key.into_pyobject(py)?.into_any());
        }
        ErrorKind::NoResponder(channel) | ErrorKind::Busy(channel) => {
            put("channel", channel.into_pyobject(py)?.into_any());
        }
        ErrorKind::InvalidChannel { name, reason } => {
            put("channel", name.into_pyobject(py)?.into_any());
            put("reason", reason.into_pyobject(py)?.into_any());
        }
        ErrorKind::Decode {
            channel, encoding, ..
        } => {
            put("channel", channel.into_pyobject(py)?.into_any());
            put("encoding", encoding.name().into_pyobject(py)?.into_any());
        }
        ErrorKind::Forbidden {
            action,
            channel,
            client,
        } => {
            put("action", action.word().into_pyobject(py)?.into_any());
            put("channel", channel.into_pyobject(py)?.into_any());
            put("client", client.into_pyobject(py)?.into_any());
        }
        ErrorKind::Connect { addr, .. } => put("addr", addr.into_pyobject(py)?.into_any()),
        ErrorKind::AddrInUse { addr } => {
            put("addr", addr.to_string().into_pyobject(py)?.into_any())
        }
        _ => {}
    }
    Ok(out)
}

/// Whether `err` is a `RemoteError` (a responder's refusal on purpose).
pub(crate) fn is_remote(py: Python<'_>, err: &PyErr) -> bool {
    class(py, "RemoteError").is_ok_and(|remote| err.is_instance(py, remote.as_any()))
}
