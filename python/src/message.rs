//! What arrives: a [`Message`] (from the store), a [`Reply`] (to a request)
//! and a [`Request`] (as its responder sees it). Their payloads are
//! `Buffer`s over the bytes the socket read into.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use socketengine::{ClientId, Encoding};

use crate::buffer::Buffer;
use crate::image::Image;
use crate::value::decode_py;

/// One received message: its channel, payload (a `Buffer`, shared with the
/// socket's buffer), the encoding its sender declared, who sent it, and,
/// for an image, the image. Sending a `Message` on sends it as it came (an
/// image stays an image, an encoding stays declared).
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct Message {
    msg: socketengine::Message,
}

impl Message {
    pub(crate) fn new(msg: socketengine::Message) -> Message {
        Message { msg }
    }

    pub(crate) fn inner(&self) -> &socketengine::Message {
        &self.msg
    }
}

#[pymethods]
impl Message {
    /// The channel it arrived on.
    #[getter]
    fn channel(&self) -> &str {
        self.msg.channel()
    }

    /// The payload, without a copy.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, Buffer>> {
        Buffer::object(py, self.msg.payload().clone())
    }

    /// How the payload is encoded, as its sender declared: `"bytes"`
    /// (nothing declared), `"json"` or `"msgpack"`.
    #[getter]
    fn encoding(&self) -> &'static str {
        self.msg.encoding().name()
    }

    /// Who sent it: a client id on a host; on a client, 0 (the host) unless
    /// the host relayed or routed it from another client.
    #[getter(from_id)]
    fn sender(&self) -> u64 {
        self.msg.from().0
    }

    /// Seconds since the event loop read it off the socket.
    #[getter]
    fn age(&self) -> f64 {
        self.msg.received().elapsed().as_secs_f64()
    }

    /// When it was sent, on the host's clock, in seconds since the Unix
    /// epoch (as `time.time()`), if its sender stamps its messages (the
    /// `stamp_messages=True` option); else `None`.
    #[getter]
    fn sent_at(&self) -> Option<f64> {
        self.msg.sent_at().map(unix_seconds)
    }

    /// The image it carries, if it arrived as one (its pixels are the
    /// payload, not copied); else `None`.
    #[getter]
    fn image(&self) -> Option<Image> {
        self.msg.image().map(Image::new)
    }

    /// The payload read as Python values by its declared encoding (JSON,
    /// MessagePack; plain bytes are read as JSON). Raises `DecodeError`.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decode_py(
            py,
            self.msg.encoding(),
            self.msg.payload(),
            self.msg.channel(),
        )
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.msg.payload())
    }

    fn __len__(&self) -> usize {
        self.msg.payload().len()
    }

    /// Always true: a message is there even when its payload is empty, so
    /// `if (m := h.get("trigger")):` sees a `b""` trigger.
    fn __bool__(&self) -> bool {
        true
    }

    fn __repr__(&self) -> String {
        let kind = if self.msg.image().is_some() {
            "image"
        } else {
            self.msg.encoding().name()
        };
        let (channel, len, from) = (
            self.msg.channel(),
            self.msg.payload().len(),
            self.msg.from().0,
        );
        format!("Message({channel:?}, {len} bytes of {kind}, from {from})")
    }
}

/// `time` in seconds since the Unix epoch (negative before it).
pub(crate) fn unix_seconds(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// An answer to a request: who answered (`from_id`, 0 for the host), the
/// payload and its encoding, and the channel asked.
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct Reply {
    reply: socketengine::Reply,
}

impl Reply {
    pub(crate) fn new(reply: socketengine::Reply) -> Reply {
        Reply { reply }
    }
}

#[pymethods]
impl Reply {
    /// The client that answered, or 0 for the host.
    #[getter(from_id)]
    fn sender(&self) -> u64 {
        self.reply.from.0
    }

    /// The answer, without a copy.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, Buffer>> {
        Buffer::object(py, self.reply.payload.clone())
    }

    /// How the answer is encoded: `"bytes"`, `"json"` or `"msgpack"`.
    #[getter]
    fn encoding(&self) -> &'static str {
        self.reply.encoding.name()
    }

    /// The channel the request was asked on.
    #[getter]
    fn channel(&self) -> &str {
        self.reply.channel()
    }

    /// The answer read as Python values (see `Message.json`).
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decode_py(
            py,
            self.reply.encoding,
            &self.reply.payload,
            self.reply.channel(),
        )
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.reply.payload)
    }

    fn __repr__(&self) -> String {
        let (from, len) = (self.reply.from.0, self.reply.payload.len());
        format!(
            "Reply(from {from}, {len} bytes of {})",
            self.reply.encoding.name()
        )
    }
}

/// A request, as its responder (`on_request`) sees it.
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct Request {
    channel: String,
    payload: Bytes,
    encoding: Encoding,
    from: ClientId,
    name: Option<String>,
}

impl Request {
    pub(crate) fn new(request: &socketengine::Request) -> Request {
        Request {
            channel: request.channel().to_owned(),
            payload: request.payload().clone(),
            encoding: request.encoding(),
            from: request.from(),
            name: request.name().map(str::to_owned),
        }
    }
}

#[pymethods]
impl Request {
    /// The channel it was asked on.
    #[getter]
    fn channel(&self) -> &str {
        &self.channel
    }

    /// Its payload, without a copy.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, Buffer>> {
        Buffer::object(py, self.payload.clone())
    }

    /// How the payload is encoded: `"bytes"`, `"json"` or `"msgpack"`.
    #[getter]
    fn encoding(&self) -> &'static str {
        self.encoding.name()
    }

    /// Who asked: on a host, its client's id; on a client, 0 for the host
    /// or the client whose request the host forwarded.
    #[getter(from_id)]
    fn sender(&self) -> u64 {
        self.from.0
    }

    /// The requester's name, where this side knows it (on a host).
    #[getter]
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The payload read as Python values (see `Message.json`).
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decode_py(py, self.encoding, &self.payload, &self.channel)
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.payload)
    }

    fn __repr__(&self) -> String {
        format!(
            "Request({:?}, {} bytes, from {})",
            self.channel,
            self.payload.len(),
            self.from.0
        )
    }
}
