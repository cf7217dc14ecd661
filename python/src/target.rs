//! Targets: `handle.to(...)`, where the sending methods send instead of
//! the handle's default (a host's clients, a client's host), as the crate's
//! `To`: a client id, a name, a list of either, a room, a group, every
//! client, the host.

use std::sync::Arc;

use pyo3::PyTraverseError;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList, PyString, PyTuple};
use socketengine::{ClientId, To};

use crate::errors::to_py;
use crate::handle::{Handle, Side};
use crate::send::{Dest, sending_methods};
use crate::wait::{Replies, duration};

/// Where the sending methods send: from `handle.to(...)`, `to_all()` or
/// `to_host()`. A client's target other than its host is routed through
/// the host, with the client as the sender.
///
/// A target keeps its handle: the handle, and its callbacks, stay while
/// a target of it is in use (a callback holding a target of its own
/// handle is a cycle the collector finds, as one holding the handle is).
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct Target {
    /// The Python handle, reported to the collector (see `held`).
    handle: Py<Handle>,
    side: Arc<Side>,
    to: To,
    mirror: bool,
}

impl Target {
    pub(crate) fn new(handle: &Bound<'_, Handle>, to: To) -> Target {
        Target {
            handle: handle.clone().unbind(),
            side: Arc::clone(&handle.get().side),
            to,
            mirror: false,
        }
    }

    fn dest(&self) -> Dest<'_> {
        Dest {
            side: &self.side,
            to: self.to.clone(),
            mirror: self.mirror,
        }
    }
}

sending_methods! { Target;
    /// The same target, and the host delivers this client's routed
    /// messages back to it too (a client's route to other clients only).
    fn mirror(&self, py: Python<'_>) -> Target {
        Target {
            handle: self.handle.clone_ref(py),
            side: Arc::clone(&self.side),
            to: self.to.clone(),
            mirror: true,
        }
    }

    /// Reports its handle to the cycle collector (a target only refers to
    /// its handle; the handle clears the cycle, see `held`).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.handle)
    }

    /// Sends a request carrying `payload` on `channel` to each peer this
    /// target names and returns at once with their `Replies` (iterate for
    /// `(client_id, reply_or_error)` as they come, or `.one()`); each has
    /// `timeout` seconds to answer (`float("inf")`: no limit).
    #[pyo3(signature = (channel, payload = None, timeout = 5.0))]
    fn request(&self, channel: &str, payload: Option<&Bound<'_, PyAny>>, timeout: f64) -> PyResult<Replies> {
        let payload = match payload {
            Some(obj) => crate::send::payload(obj)?,
            None => socketengine::Payload::bytes(bytes::Bytes::new()),
        };
        let timeout = duration(timeout)?;
        let target = self.dest().target();
        target.request(channel, payload, timeout).map(Replies::new).map_err(to_py)
    }

    fn __repr__(&self) -> String {
        let mirror = if self.mirror { ", mirror" } else { "" };
        format!("Target({:?}{mirror})", self.to)
    }
}

/// The `To` of `handle.to(target, room=..., group=...)`.
///
/// # Errors
///
/// `TypeError` for a target of another type, or none of the three given,
/// or more than one; `ValueError` for an empty list.
pub(crate) fn parse_to(
    target: Option<&Bound<'_, PyAny>>,
    room: Option<String>,
    group: Option<String>,
) -> PyResult<To> {
    let to = match (target, room, group) {
        (Some(target), None, None) => one_or_many(target)?,
        (None, Some(room), None) => To::Room(room),
        (None, None, Some(group)) => To::Group(group),
        _ => {
            return Err(PyTypeError::new_err(
                "to() takes a client id, a name or a list of them, or room= or group=",
            ));
        }
    };
    Ok(to)
}

fn one_or_many(target: &Bound<'_, PyAny>) -> PyResult<To> {
    if let Ok(name) = target.cast::<PyString>() {
        return Ok(To::Name(name.to_str()?.to_owned()));
    }
    if target.is_instance_of::<PyInt>() {
        return Ok(To::Client(ClientId(target.extract()?)));
    }
    if !(target.is_instance_of::<PyList>() || target.is_instance_of::<PyTuple>()) {
        let kind = target.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "a target is a client id, a name or a list of them, not {kind}"
        )));
    }
    let items: Vec<Bound<'_, PyAny>> = target.extract()?;
    let Some(first) = items.first() else {
        return Err(PyValueError::new_err("an empty list of targets"));
    };
    if first.is_instance_of::<PyString>() {
        return Ok(To::Names(target.extract()?));
    }
    let ids: Vec<u64> = target
        .extract()
        .map_err(|_| PyTypeError::new_err("a list of targets is all client ids or all names"))?;
    Ok(To::Clients(ids.into_iter().map(ClientId).collect()))
}
