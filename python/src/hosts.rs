//! `Hosts`: one client side connected to several hosts at once, each under
//! a key (the crate's `Hosts`): writes to all of them, reads merged across
//! them (`HostsSubscription`), a `Client` per host for the rest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use socketengine::{ConnectionState, HostResults};

use crate::blocking::{blocking, sized};
use crate::client::{Client, state_name, wrap};
use crate::errors::{closed, to_py};
use crate::message::Message;
use crate::send::error_object;
use crate::wait::{Step, seconds, wait};

/// A client side connected to many hosts: `Hosts(["10.0.0.2:7000", ...])`
/// (each keyed by its address) or `Hosts({"arm": "10.0.0.2:7000", ...})`,
/// one client per host built from `name` and the `Client` options. Each
/// host is dialled without waiting and again with backoff until it
/// answers, so one that is down holds up nobody (`states()`,
/// `wait_connected`). `write` / `write_lock` send one payload to every
/// host; `subscribe` merges every host's messages with their host's key;
/// `client(key)` is a host's `Client` for the rest. Hosts can be added and
/// removed while running. A context manager.
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct Hosts {
    hosts: socketengine::Hosts,
    /// The `Client`s handed out, one per key, kept so that a reference
    /// dropped by the application does not close its host's connection.
    clients: Mutex<HashMap<String, Py<Client>>>,
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let hosts = &self.hosts;
        if Python::try_attach(|py| py.detach(|| hosts.close())).is_none() {
            hosts.close();
        }
    }
}

#[pymethods]
impl Hosts {
    #[new]
    #[pyo3(signature = (hosts = None, name = None, **options))]
    fn py_new(
        py: Python<'_>,
        hosts: Option<&Bound<'_, PyAny>>,
        name: Option<&str>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Hosts> {
        let pairs = match hosts {
            None => Vec::new(),
            Some(hosts) => keyed(hosts)?,
        };
        // The template's address is each host's own: "" until added.
        let template = crate::options::client("", name, options)?;
        let made = py
            .detach(|| socketengine::Hosts::from_map(template, pairs))
            .map_err(to_py)?;
        Ok(Hosts {
            hosts: made,
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// Adds the host at `addr` under `key` and starts dialling it;
    /// `DuplicateHostError` if the key is taken.
    fn add(&self, py: Python<'_>, key: &str, addr: &str) -> PyResult<()> {
        py.detach(|| self.hosts.add(key, addr)).map_err(to_py)
    }

    /// Removes the host under `key` and closes its client;
    /// `UnknownHostError` if none.
    fn remove(&self, py: Python<'_>, key: &str) -> PyResult<()> {
        py.detach(|| self.hosts.remove(key)).map_err(to_py)?;
        self.cache()?.remove(key);
        Ok(())
    }

    /// The hosts' keys, in the order they were added.
    fn keys(&self) -> Vec<String> {
        self.hosts.keys()
    }

    fn __len__(&self) -> usize {
        self.hosts.len()
    }

    fn __contains__(&self, key: &str) -> bool {
        self.hosts.client(key).is_some()
    }

    /// The `Client` of the host under `key` (its events, requests, clock,
    /// callbacks...), or `None`: the same object each time, closed with
    /// its host.
    fn client(&self, py: Python<'_>, key: &str) -> PyResult<Option<Py<Client>>> {
        let Some(client) = self.hosts.client(key) else {
            return Ok(None);
        };
        let mut cache = self.cache()?;
        if let Some(known) = cache.get(key) {
            return Ok(Some(known.clone_ref(py)));
        }
        let made = wrap(py, client)?;
        cache.insert(key.to_owned(), made.clone_ref(py));
        Ok(Some(made))
    }

    /// Where the host under `key` is (`"connecting"`, `"connected"`, ...,
    /// as `Client.state`), or `None` if no host has that key.
    fn state(&self, key: &str) -> Option<&'static str> {
        self.hosts.state(key).map(state_name)
    }

    /// Every host's state, by key.
    fn states(&self) -> Vec<(String, &'static str)> {
        self.hosts
            .states()
            .into_iter()
            .map(|(key, state)| (key, state_name(state)))
            .collect()
    }

    /// Why the last attempt to reach the host under `key` failed (an
    /// exception instance, not raised), until it connects; else `None`.
    fn last_error<'py>(&self, py: Python<'py>, key: &str) -> Option<Bound<'py, PyAny>> {
        let err = self.hosts.last_error(key)?;
        Some(error_object(py, &err))
    }

    /// Waits (without the GIL; Ctrl-C interrupts it) until every host is
    /// connected, for at most `timeout` seconds (`None`: as long as it
    /// takes); whether they all are.
    #[pyo3(signature = (timeout = None))]
    fn wait_connected(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let hosts = self.hosts.clone();
        let got = wait(py, seconds(timeout)?, move |slice| {
            all_connected(&hosts, slice)
        })?;
        Ok(matches!(got, Step::Got(())))
    }

    /// Queues `payload` on `channel` to every host (the bytes shared, not
    /// copied); returns `{key: None or the exception}` (not raised): a
    /// host that is not connected is a `NotConnectedError` there.
    fn write<'py>(
        &self,
        py: Python<'py>,
        channel: &str,
        payload: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let results = self
            .hosts
            .write(channel, crate::send::payload(payload)?)
            .map_err(to_py)?;
        by_key(py, results)
    }

    /// As `write`, locked: returns once every connected host's kernel has
    /// it (each within the write timeout), without the GIL; Ctrl-C
    /// interrupts the wait of a payload of 64 KiB or more (the writes go
    /// on), as `Client.write_lock`.
    fn write_lock<'py>(
        &self,
        py: Python<'py>,
        channel: &str,
        payload: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (hosts, channel, payload) = (
            self.hosts.clone(),
            channel.to_owned(),
            crate::send::payload(payload)?,
        );
        let len = payload.len();
        let results =
            sized(py, len, move || hosts.write_lock(&channel, payload))?.map_err(to_py)?;
        by_key(py, results)
    }

    /// The latest message on `channel` from the host under `key`, or `None`.
    fn get(&self, key: &str, channel: &str) -> Option<Message> {
        self.hosts.get(key, channel).map(Message::new)
    }

    /// The latest message on `channel` from each host that has one, as
    /// `(key, Message)` pairs.
    fn latest(&self, channel: &str) -> Vec<(String, Message)> {
        self.hosts
            .latest(channel)
            .into_iter()
            .map(|(key, msg)| (key, Message::new(msg)))
            .collect()
    }

    /// Every message on `channel` (or a pattern) from every host, now and
    /// to come, as `(key, Message)` pairs: a `HostsSubscription`.
    fn subscribe(&self, channel: &str) -> HostsSubscription {
        HostsSubscription {
            sub: self.hosts.subscribe(channel),
        }
    }

    /// Closes every host's client (without the GIL). Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let hosts = self.hosts.clone();
        blocking(py, move || hosts.close())?;
        self.cache()?.clear();
        Ok(())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("Hosts({:?})", self.hosts.keys())
    }
}

impl Hosts {
    fn cache(&self) -> PyResult<std::sync::MutexGuard<'_, HashMap<String, Py<Client>>>> {
        self.clients
            .lock()
            .map_err(|_| PyRuntimeError::new_err("a thread panicked holding the hosts' clients"))
    }
}

/// Every message on a channel from every host of a `Hosts`, with its
/// host's key: `recv(timeout)`, `try_recv()`, or iterate (each item a
/// `(key, Message)` pair; iteration ends once the `Hosts` is closed).
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct HostsSubscription {
    sub: socketengine::HostsSubscription,
}

#[pymethods]
impl HostsSubscription {
    /// The next `(key, Message)`, waiting up to `timeout` seconds (`None`:
    /// as long as it takes; Ctrl-C interrupts it); `None` if none came in
    /// time. `ClosedError` once the `Hosts` is closed and nothing is left.
    #[pyo3(signature = (timeout = None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<(String, Message)>> {
        match self.next_within(py, seconds(timeout)?)? {
            Step::Got(item) => Ok(Some(item)),
            Step::Wait => Ok(None),
            Step::Ended => Err(closed()),
        }
    }

    /// The next `(key, Message)` if one is waiting; else `None`.
    fn try_recv(&self) -> Option<(String, Message)> {
        let (key, msg) = self.sub.try_recv().ok()?;
        Some((key, Message::new(msg)))
    }

    /// The keys of the hosts it takes messages from.
    fn hosts(&self) -> Vec<String> {
        self.sub.hosts()
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<(String, Message)>> {
        Ok(match self.next_within(py, None)? {
            Step::Got(item) => Some(item),
            _ => None,
        })
    }
}

impl HostsSubscription {
    fn next_within(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
    ) -> PyResult<Step<(String, Message)>> {
        let sub = &self.sub;
        wait(py, timeout, |slice| match sub.recv_timeout(slice) {
            Ok((key, msg)) => Step::Got((key, Message::new(msg))),
            Err(socketengine::RecvTimeoutError::Timeout) => Step::Wait,
            Err(_) => Step::Ended,
        })
    }
}

/// `(key, addr)` pairs from a list of addresses (each its own key) or a
/// `{key: addr}` dict.
fn keyed(hosts: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    if let Ok(map) = hosts.cast::<PyDict>() {
        return map
            .iter()
            .map(|(k, a)| Ok((k.extract()?, a.extract()?)))
            .collect();
    }
    if hosts.is_instance_of::<PyString>()
        || !hosts.is_instance_of::<PyList>() && hosts.try_iter().is_err()
    {
        return Err(PyTypeError::new_err(
            "hosts are a list of addresses or a {key: address} dict",
        ));
    }
    let addrs: Vec<String> = hosts
        .try_iter()?
        .map(|a| a?.extract())
        .collect::<PyResult<_>>()?;
    Ok(addrs.into_iter().map(|a| (a.clone(), a)).collect())
}

/// Each host's result as `{key: None or the exception}`.
fn by_key(py: Python<'_>, results: HostResults) -> PyResult<Bound<'_, PyDict>> {
    let dict = PyDict::new(py);
    for (key, result) in results {
        match result {
            Ok(()) => dict.set_item(key, py.None())?,
            Err(err) => dict.set_item(key, error_object(py, &err))?,
        }
    }
    Ok(dict)
}

/// One slice of `wait_connected`: whether every host is connected within
/// `slice` (their states read every millisecond).
fn all_connected(hosts: &socketengine::Hosts, slice: Duration) -> Step<()> {
    let end = Instant::now() + slice;
    loop {
        let states = hosts.states();
        if states.iter().all(|(_, s)| *s == ConnectionState::Connected) {
            return Step::Got(());
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Step::Wait;
        }
        std::thread::sleep(left.min(Duration::from_millis(1)));
    }
}
