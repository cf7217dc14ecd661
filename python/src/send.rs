//! Sending, written once for the handles and their targets: what a Python
//! object becomes on the wire ([`payload`]), the typed wrappers
//! [`Json`] and [`MsgPack`], and the writes themselves, over a [`Dest`]
//! (a handle, a target, a mirror flag). The `sending_methods!` macro gives
//! `Host`, `Client` and `Target` the same methods over them.
//!
//! Unlocked writes never block, so they keep the GIL (releasing it would
//! cost more than they take); locked writes, confirmed writes and locked
//! batches release it while they wait, those of 64 KiB or more on a
//! helper thread so Ctrl-C interrupts the wait (`blocking::sized`).

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use serde_json::Value;
use socketengine::{Encoding, Outgoing, Payload, To};

use crate::blocking::sized;
use crate::errors::{instance, to_py};
use crate::handle::Side;
use crate::image::{Image, image_of, stamped};
use crate::message::Message;
use crate::pin::lend;
use crate::value::to_value;

/// Where a write goes: a handle, a target of it, and whether a client's
/// routed message comes back to it too.
pub(crate) struct Dest<'a> {
    pub(crate) side: &'a Arc<Side>,
    pub(crate) to: To,
    pub(crate) mirror: bool,
}

impl<'a> Dest<'a> {
    pub(crate) fn target(&self) -> socketengine::Target<'a> {
        target(self.side, &self.to, self.mirror)
    }

    /// The same destination, owned: for a call on a helper thread.
    fn owned(&self) -> OwnedDest {
        OwnedDest {
            side: Arc::clone(self.side),
            to: self.to.clone(),
            mirror: self.mirror,
        }
    }
}

/// A [`Dest`] that owns its handle, for calls on a helper thread
/// ([`sized`]).
struct OwnedDest {
    side: Arc<Side>,
    to: To,
    mirror: bool,
}

impl OwnedDest {
    fn target(&self) -> socketengine::Target<'_> {
        target(&self.side, &self.to, self.mirror)
    }
}

fn target<'a>(side: &'a Side, to: &To, mirror: bool) -> socketengine::Target<'a> {
    let target = side.to(to.clone());
    if mirror { target.mirror() } else { target }
}

/// A value sent as JSON, its frame declaring it (as the crate's `Json`):
/// `host.write("pose", Json({"x": 1.0}))`. Made of dicts (str keys), lists,
/// tuples, str, int, float, bool and None, checked when made.
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct Json {
    value: Value,
}

#[pymethods]
impl Json {
    #[new]
    fn py_new(value: &Bound<'_, PyAny>) -> PyResult<Json> {
        Ok(Json {
            value: to_value(value)?,
        })
    }
}

/// A value sent as MessagePack (with field names, as the crate's
/// `MsgPack`), its frame declaring it; as `Json` otherwise.
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct MsgPack {
    value: Value,
}

#[pymethods]
impl MsgPack {
    #[new]
    fn py_new(value: &Bound<'_, PyAny>) -> PyResult<MsgPack> {
        Ok(MsgPack {
            value: to_value(value)?,
        })
    }
}

/// What `obj` is on the wire: bytes (a `bytes`, `bytearray`, `memoryview`,
/// numpy array or other buffer, lent without a copy when read-only, else
/// copied once; a `str` as UTF-8), an
/// `Image` (on the image path), a received `Message` (as it came), or a
/// `Json` / `MsgPack` value (encoded here, declared in the frame).
///
/// # Errors
///
/// `TypeError` for anything else (a `dict` or `list` must be asked for:
/// `Json(value)`); `ValueError` for a buffer that is not C-contiguous;
/// the crate's `EncodeError`.
pub(crate) fn payload(obj: &Bound<'_, PyAny>) -> PyResult<Payload> {
    // `bytes` first: the common case of the batch path, one type check
    // instead of seven.
    if obj.is_exact_instance_of::<PyBytes>() {
        return Ok(Payload::bytes(lend(obj)?.bytes));
    }
    let outgoing = if let Ok(s) = obj.cast::<PyString>() {
        Ok(Payload::bytes(s.to_str()?.to_owned()))
    } else if let Ok(msg) = obj.cast::<Message>() {
        msg.get().inner().into_outgoing()
    } else if let Ok(image) = obj.cast::<Image>() {
        image.get().inner().into_outgoing()
    } else if let Ok(json) = obj.cast::<Json>() {
        socketengine::Json(&json.get().value).into_outgoing()
    } else if let Ok(packed) = obj.cast::<MsgPack>() {
        socketengine::MsgPack(&packed.get().value).into_outgoing()
    } else if obj.is_instance_of::<PyDict>() || obj.is_instance_of::<PyList>() {
        return Err(PyTypeError::new_err(
            "a dict or list is sent as JSON when asked: Json(value) or write_json",
        ));
    } else {
        return Ok(Payload::bytes(lend(obj)?.bytes));
    };
    outgoing.map_err(to_py)
}

/// An unlocked write: queues and returns how many connections took it.
pub(crate) fn write(dest: &Dest<'_>, channel: &str, obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    dest.target().write(channel, payload(obj)?).map_err(to_py)
}

/// A locked write, without the GIL while it waits (interruptible from
/// 64 KiB on: see [`sized`]).
pub(crate) fn write_lock(
    py: Python<'_>,
    dest: &Dest<'_>,
    channel: &str,
    payload: Payload,
) -> PyResult<usize> {
    let (dest, channel, len) = (dest.owned(), channel.to_owned(), payload.len());
    sized(py, len, move || dest.target().write_lock(&channel, payload))?.map_err(to_py)
}

/// A confirmed write (returns once the host stored it), without the GIL
/// (interruptible from 64 KiB on: see [`sized`]).
pub(crate) fn write_confirmed(
    py: Python<'_>,
    dest: &Dest<'_>,
    channel: &str,
    obj: &Bound<'_, PyAny>,
) -> PyResult<usize> {
    let payload = payload(obj)?;
    let (dest, channel, len) = (dest.owned(), channel.to_owned(), payload.len());
    sized(py, len, move || {
        dest.target().write_confirmed(&channel, payload)
    })?
    .map_err(to_py)
}

/// Unlocked writes of `(channel, payload)` pairs, in order, through one
/// target; returns how many connections took the last. On a failure the
/// exception says how many were queued before it (`err.written`).
pub(crate) fn write_many(dest: &Dest<'_>, items: &Bound<'_, PyAny>) -> PyResult<usize> {
    let target = dest.target();
    let mut taken = 0;
    for (written, item) in items.try_iter()?.enumerate() {
        let item = item?;
        let (channel, obj) = pair(&item)?;
        let sent = payload(&obj).and_then(|p| target.write(channel.to_str()?, p).map_err(to_py));
        taken = sent.inspect_err(|err| mark_written(item.py(), err, written))?;
    }
    Ok(taken)
}

/// `(channel, payload)` pairs as one locked batch (the crate's `lock()`:
/// no other write between them), without the GIL while it is sent. A
/// failing pair ends the batch; the pairs before it are still sent.
pub(crate) fn write_many_lock(
    py: Python<'_>,
    dest: &Dest<'_>,
    items: &Bound<'_, PyAny>,
) -> PyResult<usize> {
    let mut batch = Vec::new();
    for item in items.try_iter()? {
        let item = item?;
        let (channel, obj) = pair(&item)?;
        batch.push((channel.to_str()?.to_owned(), payload(&obj)?));
    }
    let (dest, len) = (dest.owned(), batch.iter().map(|(_, p)| p.len()).sum());
    let sent = sized(py, len, move || {
        let mut guard = dest.target().lock();
        for (channel, payload) in batch {
            guard.write(&channel, payload)?;
        }
        guard.finish()
    })?;
    sent.map_err(to_py)
}

/// `value` encoded as `encoding` (declared in the frame), written locked
/// or not.
pub(crate) fn write_typed(
    py: Python<'_>,
    dest: &Dest<'_>,
    channel: &str,
    value: &Bound<'_, PyAny>,
    encoding: Encoding,
    locked: bool,
) -> PyResult<usize> {
    let bytes = socketengine::encode(encoding, &to_value(value)?).map_err(to_py)?;
    send(py, dest, channel, Payload::encoded(bytes, encoding), locked)
}

/// An image write, from an `Image` or an array (see `Image`): locked or not.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_image(
    py: Python<'_>,
    dest: &Dest<'_>,
    channel: &str,
    array: &Bound<'_, PyAny>,
    seq: Option<u64>,
    format: Option<&str>,
    timestamp_ns: Option<u64>,
    locked: bool,
) -> PyResult<usize> {
    let mut image = image_of(array, format)?;
    if seq.is_some() || timestamp_ns.is_some() {
        image = stamped(image.clone(), seq.unwrap_or(image.seq()), timestamp_ns);
    }
    let payload = image.into_outgoing().map_err(to_py)?;
    send(py, dest, channel, payload, locked)
}

/// A write of a payload made already: locked (without the GIL) or not.
fn send(
    py: Python<'_>,
    dest: &Dest<'_>,
    channel: &str,
    payload: Payload,
    locked: bool,
) -> PyResult<usize> {
    match locked {
        true => write_lock(py, dest, channel, payload),
        false => dest.target().write(channel, payload).map_err(to_py),
    }
}

/// The channel and payload of one item of a batch.
fn pair<'py>(item: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyString>, Bound<'py, PyAny>)> {
    let tuple = item.cast::<PyTuple>().ok().filter(|t| t.len() == 2);
    let Some(tuple) = tuple else {
        return Err(PyTypeError::new_err(
            "a batch holds (channel, payload) pairs",
        ));
    };
    let channel = tuple.get_item(0)?;
    let channel = channel
        .cast_into::<PyString>()
        .map_err(|_| PyTypeError::new_err("a channel is a str"))?;
    Ok((channel, tuple.get_item(1)?))
}

/// Tells a batch's exception how many of its items went before it.
fn mark_written(py: Python<'_>, err: &PyErr, written: usize) {
    // Best effort: an exception that takes no attributes still says what failed.
    let _ = err.value(py).setattr("written", written);
}

/// An exception instance for a crate error (for events and replies).
pub(crate) fn error_object<'py>(py: Python<'py>, err: &socketengine::Error) -> Bound<'py, PyAny> {
    instance(py, err).unwrap_or_else(|failed| failed.into_value(py).into_bound(py).into_any())
}

/// The sending methods of a class whose `dest()` says where they send:
/// `Host`, `Client`, `Target`. `$rest` is the class's other methods (one
/// `#[pymethods]` block per class).
macro_rules! sending_methods {
    ($class:ident; $($rest:tt)*) => {
        #[pymethods]
        impl $class {
            /// Queues `payload` on `channel` and returns at once (an unlocked
            /// write): bytes-like objects are sent from where they are (no
            /// copy), a `str` as UTF-8, an `Image` on the image path (newest
            /// frame wins), a `Message` as it came, `Json(v)` / `MsgPack(v)`
            /// typed. Returns how many connections took it. Raises
            /// `FullError` (`err.payload`) when the outbox holds its budget.
            fn write(&self, channel: &str, payload: &Bound<'_, PyAny>) -> PyResult<usize> {
                $crate::send::write(&self.dest(), channel, payload)
            }

            /// Sends `payload` on `channel` and returns once the kernel has
            /// it (a locked write), without the GIL while it waits (at most
            /// the write timeout, 5 s by default). Ctrl-C interrupts the
            /// wait of a payload of 64 KiB or more (the write then goes on
            /// alone); a smaller one sees it when it returns. Returns how
            /// many connections took it.
            fn write_lock(&self, py: Python<'_>, channel: &str, payload: &Bound<'_, PyAny>) -> PyResult<usize> {
                let payload = $crate::send::payload(payload)?;
                $crate::send::write_lock(py, &self.dest(), channel, payload)
            }

            /// Sends `payload` and returns once the host stored it (or
            /// refused it: the error says why), without the GIL.
            fn write_confirmed(&self, py: Python<'_>, channel: &str, payload: &Bound<'_, PyAny>) -> PyResult<usize> {
                $crate::send::write_confirmed(py, &self.dest(), channel, payload)
            }

            /// Queues each `(channel, payload)` pair of `items`, in order: the
            /// batch path for small messages (one call for many). Returns how
            /// many connections took the last; a failure says how many pairs
            /// went before it (`err.written`).
            fn write_many(&self, items: &Bound<'_, PyAny>) -> PyResult<usize> {
                $crate::send::write_many(&self.dest(), items)
            }

            /// Sends `(channel, payload)` pairs as one locked batch: in order,
            /// with no other write between them, returning once the kernel has
            /// them all (without the GIL meanwhile).
            fn write_many_lock(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<usize> {
                $crate::send::write_many_lock(py, &self.dest(), items)
            }

            /// Queues `value` (dicts, lists, str, numbers, bool, None) as JSON,
            /// declared in the frame; `lock=True` waits for the kernel.
            #[pyo3(signature = (channel, value, lock = false))]
            fn write_json(&self, py: Python<'_>, channel: &str, value: &Bound<'_, PyAny>, lock: bool) -> PyResult<usize> {
                $crate::send::write_typed(py, &self.dest(), channel, value, socketengine::Encoding::Json, lock)
            }

            /// As `write_json`, in MessagePack (with field names).
            #[pyo3(signature = (channel, value, lock = false))]
            fn write_msgpack(&self, py: Python<'_>, channel: &str, value: &Bound<'_, PyAny>, lock: bool) -> PyResult<usize> {
                $crate::send::write_typed(py, &self.dest(), channel, value, socketengine::Encoding::MsgPack, lock)
            }

            /// Queues an image (unlocked: a newer one on the channel replaces
            /// it while it waits): an `Image`, or a C-contiguous numpy array
            /// (without a copy if read-only: `(h, w, 3)` uint8 is rgb8, or `format=
            /// "bgr8"`; `(h, w)` gray8, uint16 gray16; `(h, w, 4)` rgba8).
            #[pyo3(signature = (channel, image, seq = None, format = None, timestamp_ns = None))]
            fn write_image(&self, py: Python<'_>, channel: &str, image: &Bound<'_, PyAny>, seq: Option<u64>, format: Option<&str>, timestamp_ns: Option<u64>) -> PyResult<usize> {
                $crate::send::write_image(py, &self.dest(), channel, image, seq, format, timestamp_ns, false)
            }

            /// As `write_image`, locked: waits (without the GIL) until the
            /// kernel has the image; never replaced by a newer one.
            #[pyo3(signature = (channel, image, seq = None, format = None, timestamp_ns = None))]
            fn write_image_lock(&self, py: Python<'_>, channel: &str, image: &Bound<'_, PyAny>, seq: Option<u64>, format: Option<&str>, timestamp_ns: Option<u64>) -> PyResult<usize> {
                $crate::send::write_image(py, &self.dest(), channel, image, seq, format, timestamp_ns, true)
            }

            $($rest)*
        }
    };
}

pub(crate) use sending_methods;
