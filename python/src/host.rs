//! `Host`: listens, accepts clients, stores what they send and writes to
//! them; the crate's `Host`, built from keyword options.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use socketengine::ClientId;

use crate::errors::to_py;
use crate::handle::{Handle, Side};
use crate::info::ClientInfo;
use crate::message::unix_seconds;

/// A host: listens on `addr` (by default the crate's `DEFAULT_ADDR`,
/// `"127.0.0.1:8080"`; `"127.0.0.1:0"`: any free port, see `local_addr`),
/// accepts clients, stores what they send per channel (the
/// latest value and a bounded queue) and writes to them (a plain `write`
/// goes to every client; `to(...)` names others). Options are the crate's
/// `HostBuilder` setters, by name (`max_frame=`, `memory_limit=`,
/// `relay="others"`, `heartbeat=None`, ...). A context manager.
#[pyclass(extends = Handle, frozen, module = "socketengine")]
pub(crate) struct Host;

impl Host {
    fn host(slf: &Bound<'_, Self>) -> socketengine::Host {
        match &*slf.as_super().get().side {
            Side::Host(host) => host.clone(),
            Side::Client(_) => unreachable_side(),
        }
    }
}

#[pymethods]
impl Host {
    #[new]
    // The crate's `DEFAULT_ADDR` (a test checks they agree).
    #[pyo3(signature = (addr = "127.0.0.1:8080", **options))]
    fn py_new(
        py: Python<'_>,
        addr: &str,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyClassInitializer<Host>> {
        let builder = crate::options::host(addr, options)?;
        let host = py.detach(|| builder.start()).map_err(to_py)?;
        Ok(PyClassInitializer::from(Handle::new(Side::Host(host))).add_subclass(Host))
    }

    /// The address it listens on, `ip:port` (the port chosen for port 0).
    #[getter]
    fn local_addr(slf: &Bound<'_, Self>) -> String {
        Host::host(slf).local_addr().to_string()
    }

    /// The port it listens on.
    #[getter]
    fn port(slf: &Bound<'_, Self>) -> u16 {
        Host::host(slf).local_addr().port()
    }

    /// The host's clock now, in seconds since the Unix epoch: the time base
    /// of its clients' `Message.sent_at`.
    fn host_time(slf: &Bound<'_, Self>) -> f64 {
        unix_seconds(Host::host(slf).host_time())
    }

    /// Every client known: connected, or disconnected lately.
    fn clients(slf: &Bound<'_, Self>) -> Vec<ClientInfo> {
        Host::host(slf)
            .clients()
            .into_iter()
            .map(ClientInfo::from)
            .collect()
    }

    /// Puts client `client` (an id) in `room`.
    fn join(slf: &Bound<'_, Self>, client: u64, room: &str) -> PyResult<()> {
        Host::host(slf).join(ClientId(client), room).map_err(to_py)
    }

    /// Takes client `client` out of `room`.
    fn leave(slf: &Bound<'_, Self>, client: u64, room: &str) -> PyResult<()> {
        Host::host(slf).leave(ClientId(client), room).map_err(to_py)
    }

    /// The rooms that have members, sorted.
    fn rooms(slf: &Bound<'_, Self>) -> Vec<String> {
        Host::host(slf).rooms()
    }

    /// The ids of `room`'s members.
    fn members(slf: &Bound<'_, Self>, room: &str) -> Vec<u64> {
        Host::host(slf)
            .members(room)
            .into_iter()
            .map(|id| id.0)
            .collect()
    }

    /// Closes client `client`'s connection, telling it `reason`.
    #[pyo3(signature = (client, reason = ""))]
    fn disconnect(slf: &Bound<'_, Self>, client: u64, reason: &str) -> PyResult<()> {
        Host::host(slf)
            .disconnect(ClientId(client), reason)
            .map_err(to_py)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> String {
        let host = Host::host(slf);
        let state = if host.is_closed() { ", closed" } else { "" };
        format!("Host({}{state})", host.local_addr())
    }
}

/// A `Host` always holds a host and a `Client` a client: their
/// constructors are the only ones that make their handles.
pub(crate) fn unreachable_side() -> ! {
    unreachable!("a handle of the other kind")
}
