//! `Client`: one connection to a host, with the same reading side as the
//! host's; the crate's `Client`, built from keyword options.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use socketengine::{ClientBuilder, ConnectionState, To};

use crate::blocking::blocking;
use crate::callbacks::{self, CallbackId, Hook};
use crate::errors::{closed, to_py};
use crate::handle::{Handle, Side};
use crate::host::unreachable_side;
use crate::info::{ClientInfo, ClockEstimate};
use crate::message::{Reply, unix_seconds};
use crate::wait::{Replies, Step, duration, seconds, wait};

/// A client: connects to the host at `addr` (by default the crate's
/// `DEFAULT_ADDR`, `"127.0.0.1:8080"`) in the constructor (waiting
/// without the GIL; Ctrl-C interrupts it) under `name` (the host's
/// `client-N` if none), and redials if the connection is lost. A plain
/// `write` goes to the host; `to(...)` routes to other clients through it.
/// Options are the crate's `ClientBuilder` setters, by name
/// (`connect_timeout=`, `reconnect=False`, `max_frame=`, ...). A context
/// manager.
#[pyclass(extends = Handle, frozen, module = "socketengine")]
pub(crate) struct Client;

impl Client {
    fn client(slf: &Bound<'_, Self>) -> socketengine::Client {
        match &*slf.as_super().get().side {
            Side::Client(client) => client.clone(),
            Side::Host(_) => unreachable_side(),
        }
    }
}

#[pymethods]
impl Client {
    #[new]
    // The crate's `DEFAULT_ADDR` (a test checks they agree).
    #[pyo3(signature = (addr = "127.0.0.1:8080", name = None, **options))]
    fn py_new(
        py: Python<'_>,
        addr: &str,
        name: Option<&str>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Client>> {
        let builder = crate::options::client(addr, name, options)?;
        let client = connect(py, builder)?;
        Ok(initializer(client))
    }

    /// A client that does not wait for its host (the crate's
    /// `ClientBuilder::start`): returned at once, in state `"connecting"`,
    /// it dials `addr` in the background, again with backoff until the host
    /// answers (`last_error` says what is in the way), and then as a client
    /// made by the constructor. Writes before then raise
    /// `NotConnectedError`; `wait_connected` waits for the connection.
    /// Raises only what fails before any dialing (an address that does not
    /// resolve, a bad option).
    #[staticmethod]
    #[pyo3(signature = (addr = "127.0.0.1:8080", name = None, **options))]
    fn start(
        py: Python<'_>,
        addr: &str,
        name: Option<&str>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<Client>> {
        let builder = crate::options::client(addr, name, options)?;
        let client = py.detach(|| builder.start()).map_err(to_py)?;
        wrap(py, client)
    }

    /// Waits (without the GIL; Ctrl-C interrupts it) until the client is
    /// connected, for at most `timeout` seconds (`None`: as long as it
    /// takes): `True` once connected, `False` at the timeout. Raises
    /// `ClosedError` if it is closed, and the host's refusal
    /// (`RefusedError`, `CredentialError`, ...) if it refused for good.
    #[pyo3(signature = (timeout = None))]
    fn wait_connected(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        timeout: Option<f64>,
    ) -> PyResult<bool> {
        let client = Client::client(slf);
        let watched = client.clone();
        let got = wait(py, seconds(timeout)?, move |slice| settled(&watched, slice))?;
        match got {
            Step::Got(()) => Ok(true),
            Step::Wait => Ok(false),
            Step::Ended => Err(match (client.state(), client.last_error()) {
                (ConnectionState::Refused(_), Some(err)) => to_py(err),
                _ => closed(),
            }),
        }
    }

    /// This client's estimate of its host's clock (a `ClockEstimate`:
    /// offset, uncertainty, conversions), from the handshake and its pings;
    /// `None` before the first connection.
    fn clock(slf: &Bound<'_, Self>) -> Option<ClockEstimate> {
        Client::client(slf).clock().map(ClockEstimate::from)
    }

    /// The id the host gave this client.
    #[getter]
    fn id(slf: &Bound<'_, Self>) -> u64 {
        Client::client(slf).id().0
    }

    /// The name the host knows this client by.
    #[getter]
    fn name(slf: &Bound<'_, Self>) -> String {
        Client::client(slf).name().to_owned()
    }

    /// The host's address, `ip:port`.
    #[getter]
    fn host_addr(slf: &Bound<'_, Self>) -> String {
        Client::client(slf).host_addr().to_string()
    }

    /// Whether the connection is open now.
    #[getter]
    fn is_connected(slf: &Bound<'_, Self>) -> bool {
        Client::client(slf).is_connected()
    }

    /// Where the connection is: `"connecting"`, `"connected"`,
    /// `"reconnecting"`, `"refused"` (for good: its credential or protocol
    /// version) or `"closed"`. Never blocks.
    #[getter]
    fn state(slf: &Bound<'_, Self>) -> &'static str {
        state_name(Client::client(slf).state())
    }

    /// Why the last attempt to reach the host failed (an exception
    /// instance, not raised), until the client connects again; else `None`.
    #[getter]
    fn last_error<'py>(slf: &Bound<'py, Self>) -> Option<Bound<'py, PyAny>> {
        let err = Client::client(slf).last_error()?;
        Some(crate::send::error_object(slf.py(), &err))
    }

    /// The host's clock now, in seconds since the Unix epoch, by this
    /// client's estimate of it (`None` before it has one).
    fn host_time(slf: &Bound<'_, Self>) -> Option<f64> {
        Client::client(slf).host_time().map(unix_seconds)
    }

    /// Asks the host's responder on `channel` and returns its `Reply`
    /// (waiting without the GIL, at most `timeout` seconds, `float("inf")`
    /// for no limit; Ctrl-C
    /// interrupts it), or raises what ended the request (`TimedOutError`,
    /// `NoResponderError`, `RemoteError`, ...).
    #[pyo3(signature = (channel, payload = None, timeout = 5.0))]
    fn request(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        channel: &str,
        payload: Option<&Bound<'_, PyAny>>,
        timeout: f64,
    ) -> PyResult<Reply> {
        let payload = match payload {
            Some(obj) => crate::send::payload(obj)?,
            None => socketengine::Payload::bytes(bytes::Bytes::new()),
        };
        let timeout = duration(timeout)?;
        let replies = Client::client(slf)
            .to(To::Host)
            .request(channel, payload, timeout)
            .map_err(to_py)?;
        Replies::new(replies).one(py)
    }

    /// Joins `room` (the host may refuse: an `"undelivered"` event).
    fn join(slf: &Bound<'_, Self>, py: Python<'_>, room: &str) -> PyResult<()> {
        let (client, room) = (Client::client(slf), room.to_owned());
        blocking(py, move || client.join(&room))?.map_err(to_py)
    }

    /// Leaves `room`.
    fn leave(slf: &Bound<'_, Self>, py: Python<'_>, room: &str) -> PyResult<()> {
        let (client, room) = (Client::client(slf), room.to_owned());
        blocking(py, move || client.leave(&room))?.map_err(to_py)
    }

    /// The rooms this client is in, as far as it knows.
    fn rooms(slf: &Bound<'_, Self>) -> Vec<String> {
        Client::client(slf).rooms()
    }

    /// Tells the host which channels (names or patterns) this client wants:
    /// its broadcasts and relays then skip the others.
    fn interest(slf: &Bound<'_, Self>, py: Python<'_>, patterns: Vec<String>) -> PyResult<()> {
        let client = Client::client(slf);
        blocking(py, move || client.interest(&patterns))?.map_err(to_py)
    }

    /// The host's client list, asked of the host (without the GIL).
    fn clients(slf: &Bound<'_, Self>, py: Python<'_>) -> PyResult<Vec<ClientInfo>> {
        let client = Client::client(slf);
        let list = blocking(py, move || client.clients())?.map_err(to_py)?;
        Ok(list.into_iter().map(ClientInfo::from).collect())
    }

    /// The id of the client connected under `name`, asked of the host;
    /// `None` if none.
    fn lookup(slf: &Bound<'_, Self>, py: Python<'_>, name: &str) -> PyResult<Option<u64>> {
        let (client, name) = (Client::client(slf), name.to_owned());
        let found = blocking(py, move || client.lookup(&name))?.map_err(to_py)?;
        Ok(found.map(|id| id.0))
    }

    /// Calls `func(event)` with every `"reconnecting"` and
    /// `"host_restarted"` event, as the hook `name`.
    fn on_reconnect(slf: &Bound<'_, Self>, name: &str, func: Py<PyAny>) -> PyResult<CallbackId> {
        callbacks::hook(slf.as_super(), Hook::Reconnect, name, func)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let client = Client::client(slf);
        let state = if client.is_closed() {
            "closed"
        } else if client.is_connected() {
            "connected"
        } else {
            "reconnecting"
        };
        format!(
            "Client({:?} #{} to {}, {state})",
            client.name(),
            client.id().0,
            client.host_addr()
        )
    }
}

/// A connection state's name, as Python sees it.
pub(crate) fn state_name(state: ConnectionState) -> &'static str {
    match state {
        ConnectionState::Connecting => "connecting",
        ConnectionState::Connected => "connected",
        ConnectionState::Reconnecting => "reconnecting",
        ConnectionState::Refused(_) => "refused",
        _ => "closed",
    }
}

/// A Python `Client` over `client`.
fn initializer(client: socketengine::Client) -> PyClassInitializer<Client> {
    PyClassInitializer::from(Handle::new(Side::Client(client))).add_subclass(Client)
}

/// `client` as a new Python `Client` (closed when the last reference to it
/// goes).
pub(crate) fn wrap(py: Python<'_>, client: socketengine::Client) -> PyResult<Py<Client>> {
    Py::new(py, initializer(client))
}

/// One slice of `wait_connected`: whether `client` connected, or can no
/// longer, within `slice` (its state read every millisecond: the crate
/// has no wait for it).
fn settled(client: &socketengine::Client, slice: Duration) -> Step<()> {
    let end = Instant::now() + slice;
    loop {
        match client.state() {
            ConnectionState::Connected => return Step::Got(()),
            ConnectionState::Connecting | ConnectionState::Reconnecting => {}
            _ => return Step::Ended,
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Step::Wait;
        }
        std::thread::sleep(left.min(Duration::from_millis(1)));
    }
}

/// Connects on a thread of its own, waiting for it in slices, so Ctrl-C
/// interrupts the wait (the thread then finishes alone and its client,
/// if it connects, is closed as it is dropped).
fn connect(py: Python<'_>, builder: ClientBuilder) -> PyResult<socketengine::Client> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("socketengine-connect".to_owned())
        .spawn(move || {
            let _ = tx.send(builder.connect());
        })
        .map_err(|e| to_py(e.into()))?;
    let got = wait(py, None, move |slice| match rx.recv_timeout(slice) {
        Ok(connected) => Step::Got(connected),
        Err(mpsc::RecvTimeoutError::Timeout) => Step::Wait,
        Err(mpsc::RecvTimeoutError::Disconnected) => Step::Ended,
    })?;
    match got {
        Step::Got(connected) => connected.map_err(to_py),
        _ => Err(to_py(socketengine::ErrorKind::Closed.into())),
    }
}
