//! Connection events as Python objects: one class, `Event`, whose `kind`
//! names the crate's variant and whose other attributes are its fields
//! (`None` where the variant has no such field).

use pyo3::prelude::*;
use socketengine::{CloseCode, Event as RustEvent};

use crate::send::error_object;

/// Something that happened to a connection or a callback. `kind` is one of
/// `"connected"`, `"disconnected"`, `"reconnecting"`, `"refused"` (a client
/// the host refused for good), `"host_restarted"`,
/// `"undelivered"`, `"error"`, `"callback_panicked"` (a callback raised),
/// `"callback_dropped"`, `"command_failed"`, `"reply_failed"`; the other
/// attributes are that kind's fields, `None` elsewhere.
#[pyclass(frozen, get_all, module = "socketengine")]
pub(crate) struct Event {
    /// Which event.
    kind: String,
    /// The client it is about (on a client: its own id; for a failed
    /// command, its sender; for a failed reply, its requester).
    client: Option<u64>,
    /// The client's name (connected, disconnected).
    name: Option<String>,
    /// The peer's address.
    addr: Option<String>,
    /// Why a connection closed, when a side said so: `"normal"`,
    /// `"kicked"`, `"replaced"`, `"shutting_down"`, `"slow_consumer"` or
    /// `"other"`.
    reason: Option<String>,
    /// Words: a close reason's, a refusal's, or a callback's exception.
    message: Option<String>,
    /// Reconnection attempts since the loss (reconnecting).
    attempt: Option<u32>,
    /// Seconds before that attempt (reconnecting).
    delay: Option<f64>,
    /// The channel (undelivered, reply_failed).
    channel: Option<String>,
    /// The exception the event reports (undelivered, error, command_failed,
    /// reply_failed), an instance of a `socketengine.Error` class.
    error: Option<Py<PyAny>>,
    /// Which callback (callback_panicked, callback_dropped).
    callback: Option<String>,
    /// Messages or events a callback missed (callback_dropped).
    dropped: Option<u64>,
}

impl Event {
    pub(crate) fn new(py: Python<'_>, event: &RustEvent) -> Event {
        let mut out = Event::of("other");
        out.client = event.client().map(|c| c.0);
        out.error = event.error().map(|e| error_object(py, e).unbind());
        match event {
            RustEvent::Connected { name, addr, .. } => {
                out.kind = "connected".into();
                (out.name, out.addr) = (Some(name.clone()), Some(addr.to_string()));
            }
            RustEvent::Disconnected {
                name, addr, reason, ..
            } => {
                out.kind = "disconnected".into();
                (out.name, out.addr) = (Some(name.clone()), Some(addr.to_string()));
                out.reason = reason.as_ref().map(|r| close_name(r.code).to_owned());
                out.message = reason.as_ref().map(|r| r.message.clone());
            }
            RustEvent::Reconnecting {
                addr,
                attempt,
                delay,
                ..
            } => {
                out.kind = "reconnecting".into();
                (out.addr, out.attempt) = (Some(addr.to_string()), Some(*attempt));
                out.delay = Some(delay.as_secs_f64());
            }
            RustEvent::Refused { addr, refusal, .. } => {
                out.kind = "refused".into();
                (out.addr, out.message) = (Some(addr.to_string()), Some(refusal.to_string()));
            }
            RustEvent::HostRestarted { addr, .. } => {
                out.kind = "host_restarted".into();
                out.addr = Some(addr.to_string());
            }
            RustEvent::Undelivered { channel, .. } => {
                out.kind = "undelivered".into();
                out.channel = Some(channel.clone());
            }
            RustEvent::Error { addr, .. } => {
                out.kind = "error".into();
                out.addr = Some(addr.to_string());
            }
            RustEvent::CallbackPanicked { callback, message } => {
                out.kind = "callback_panicked".into();
                (out.callback, out.message) = (Some(callback.clone()), Some(message.clone()));
            }
            RustEvent::CallbackDropped { callback, dropped } => {
                out.kind = "callback_dropped".into();
                (out.callback, out.dropped) = (Some(callback.clone()), Some(*dropped));
            }
            RustEvent::CommandFailed { .. } => out.kind = "command_failed".into(),
            RustEvent::ReplyFailed { channel, .. } => {
                out.kind = "reply_failed".into();
                out.channel = Some(channel.clone());
            }
            _ => {}
        }
        out
    }

    fn of(kind: &str) -> Event {
        Event {
            kind: kind.to_owned(),
            client: None,
            name: None,
            addr: None,
            reason: None,
            message: None,
            attempt: None,
            delay: None,
            channel: None,
            error: None,
            callback: None,
            dropped: None,
        }
    }
}

#[pymethods]
impl Event {
    fn __repr__(&self) -> String {
        let mut parts = vec![self.kind.clone()];
        if let Some(client) = self.client {
            parts.push(format!("client={client}"));
        }
        let texts = [
            ("name", &self.name),
            ("reason", &self.reason),
            ("channel", &self.channel),
        ];
        for (field, value) in texts {
            if let Some(value) = value {
                parts.push(format!("{field}={value:?}"));
            }
        }
        format!("Event({})", parts.join(", "))
    }
}

fn close_name(code: CloseCode) -> &'static str {
    match code {
        CloseCode::Normal => "normal",
        CloseCode::Kicked => "kicked",
        CloseCode::Replaced => "replaced",
        CloseCode::ShuttingDown => "shutting_down",
        CloseCode::SlowConsumer => "slow_consumer",
        _ => "other",
    }
}
