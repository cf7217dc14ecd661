//! Builder options as keyword arguments: `Host(addr, **options)` and
//! `Client(addr, name, **options)` set the crate's `HostBuilder` and
//! `ClientBuilder` by the setters' names, with the same defaults. Durations
//! are seconds (`float("inf")` for none), sizes are bytes or counts, and an
//! option that can be off takes `None`. An unknown option is a `TypeError`,
//! a value of the wrong type too, and an out-of-range one a `ValueError`.
//! TLS (`tls=`) takes a dict of PEM file paths.

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString};
use socketengine::{
    Auth, ClientBuilder, Credential, HostBuilder, NamePolicy, Relay, TlsClient, TlsServer,
};

use crate::errors::to_py;

/// The options every handle takes: the setters both builders share.
macro_rules! common_option {
    ($b:ident, $key:expr, $v:expr, $class:literal) => {
        match $key {
            "memory_limit" => $b.memory_limit(size($v)?),
            "max_frame" => $b.max_frame(size($v)?),
            "queue_capacity" => $b.queue_capacity(size($v)?),
            "queue_bytes" => $b.queue_bytes(size($v)?),
            "image_queue_capacity" => $b.image_queue_capacity(size($v)?),
            "history_depth" => $b.history_depth(size($v)?),
            "history_bytes" => $b.history_bytes(size($v)?),
            "outbox_budget" => $b.outbox_budget(size($v)?),
            "write_timeout" => $b.write_timeout(secs($v)?),
            "max_channels" => $b.max_channels(size($v)?),
            "max_channels_per_client" => $b.max_channels_per_client(size($v)?),
            "channel_idle" => $b.channel_idle(secs($v)?),
            "nodelay" => $b.nodelay(boolean($v)?),
            "send_buffer" => $b.send_buffer(size($v)?),
            "recv_buffer" => $b.recv_buffer(size($v)?),
            "heartbeat" => $b.heartbeat(maybe($v, secs)?),
            "idle_timeout" => $b.idle_timeout(secs($v)?),
            "image_chunk" => $b.image_chunk(maybe($v, size)?),
            "image_window" => $b.image_window(size($v)?),
            "notsent_lowat" => $b.notsent_lowat(maybe($v, |v| v.extract::<u32>())?),
            "keepalive" => $b.keepalive(maybe($v, secs)?),
            "partial_timeout" => $b.partial_timeout(secs($v)?),
            "max_partial_image_bytes" => $b.max_partial_image_bytes(size($v)?),
            "max_requests" => $b.max_requests(size($v)?),
            "responder_queue" => $b.responder_queue(size($v)?),
            "responder_queue_bytes" => $b.responder_queue_bytes(size($v)?),
            "callback_queue" => $b.callback_queue(size($v)?),
            "callback_queue_bytes" => $b.callback_queue_bytes(size($v)?),
            "write_deadline" => $b.write_deadline(maybe($v, secs)?),
            "stamp_messages" => $b.stamp_messages(boolean($v)?),
            "shared_memory_images" => $b.shared_memory_images(boolean($v)?),
            "shared_memory_segment" => $b.shared_memory_segment(size($v)?),
            "shared_memory_limit" => $b.shared_memory_limit(size($v)?),
            "shared_memory_answer_timeout" => $b.shared_memory_answer_timeout(secs($v)?),
            "channel_capacity" => {
                let mut b = $b;
                for (channel, n) in per_channel($v)? {
                    b = b.channel_capacity(channel, n);
                }
                b
            }
            "channel_history" => {
                let mut b = $b;
                for (channel, n) in per_channel($v)? {
                    b = b.channel_history(channel, n);
                }
                b
            }
            other => {
                return Err(PyTypeError::new_err(format!(
                    "{}() got an unexpected option {other:?}",
                    $class
                )));
            }
        }
    };
}

/// A `HostBuilder` listening on `addr`, with `options` set.
pub(crate) fn host(addr: &str, options: Option<&Bound<'_, PyDict>>) -> PyResult<HostBuilder> {
    apply(HostBuilder::default().addr(addr), options, host_option)
}

fn host_option(b: HostBuilder, key: &str, v: &Bound<'_, PyAny>) -> PyResult<HostBuilder> {
    Ok(match key {
        "handshake_timeout" => b.handshake_timeout(secs(v)?),
        "max_connections" => b.max_connections(size(v)?),
        "relay" => b.relay(relay(v)?),
        "latched" => names(v)?.into_iter().fold(b, HostBuilder::latched),
        "name_policy" => b.name_policy(name_policy(v)?),
        "client_rooms" => b.client_rooms(boolean(v)?),
        "auth" => b.auth(Auth::parse(v.extract::<&str>()?).map_err(to_py)?),
        "auth_file" => b.auth(Auth::from_file(v.extract::<std::path::PathBuf>()?).map_err(to_py)?),
        "max_rooms_per_client" => b.max_rooms_per_client(size(v)?),
        "responder_queue_per_client" => b.responder_queue_per_client(size(v)?),
        "max_forwards_per_client" => b.max_forwards_per_client(size(v)?),
        "forward_timeout" => b.forward_timeout(secs(v)?),
        "max_handshakes" => b.max_handshakes(size(v)?),
        "max_connections_per_addr" => b.max_connections_per_addr(size(v)?),
        "max_connections_per_loopback_addr" => b.max_connections_per_loopback_addr(size(v)?),
        "tls" => b.tls(tls_server(v)?),
        _ => common_option!(b, key, v, "Host"),
    })
}

/// A `ClientBuilder` for the host at `addr`, named `name`, with `options`.
pub(crate) fn client(
    addr: &str,
    name: Option<&str>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<ClientBuilder> {
    let builder = ClientBuilder::default().addr(addr);
    let builder = match name {
        Some(name) => builder.name(name),
        None => builder,
    };
    apply(builder, options, client_option)
}

/// `builder` with each of `options` set by `set`.
fn apply<B>(
    mut builder: B,
    options: Option<&Bound<'_, PyDict>>,
    set: fn(B, &str, &Bound<'_, PyAny>) -> PyResult<B>,
) -> PyResult<B> {
    for (key, value) in options.into_iter().flat_map(|d| d.iter()) {
        builder = set(builder, key.cast::<PyString>()?.to_str()?, &value)?;
    }
    Ok(builder)
}

fn client_option(b: ClientBuilder, key: &str, v: &Bound<'_, PyAny>) -> PyResult<ClientBuilder> {
    Ok(match key {
        "connect_timeout" => b.connect_timeout(secs(v)?),
        "reconnect" => b.reconnect(boolean(v)?),
        "redial_after_kick" => b.redial_after_kick(boolean(v)?),
        "reconnect_backoff" => {
            let (first, cap): (Bound<'_, PyAny>, Bound<'_, PyAny>) = v.extract()?;
            b.reconnect_backoff(secs(&first)?, secs(&cap)?)
        }
        "republish" => names(v)?.into_iter().fold(b, ClientBuilder::republish),
        "credential" => b.credential(Credential::parse(v.extract::<&str>()?).map_err(to_py)?),
        "credential_file" => {
            b.credential(Credential::from_file(v.extract::<std::path::PathBuf>()?).map_err(to_py)?)
        }
        "tls" => b.tls(tls_client(v)?),
        _ => common_option!(b, key, v, "Client"),
    })
}

/// A count or a number of bytes.
fn size(v: &Bound<'_, PyAny>) -> PyResult<usize> {
    v.extract::<usize>()
}

/// A duration in seconds: a non-negative number, `float("inf")` for none.
pub(crate) fn secs(v: &Bound<'_, PyAny>) -> PyResult<Duration> {
    crate::wait::duration(v.extract()?)
}

/// `None`, or what `parse` makes of `v`.
fn maybe<T>(
    v: &Bound<'_, PyAny>,
    parse: impl Fn(&Bound<'_, PyAny>) -> PyResult<T>,
) -> PyResult<Option<T>> {
    if v.is_none() {
        Ok(None)
    } else {
        parse(v).map(Some)
    }
}

/// A `bool`, and only a `bool` (not any truthy value).
fn boolean(v: &Bound<'_, PyAny>) -> PyResult<bool> {
    v.cast::<PyBool>()
        .map(|b| b.is_true())
        .map_err(|_| PyTypeError::new_err("expected True or False"))
}

/// A name, or a list of them.
fn names(v: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(one) = v.cast::<PyString>() {
        return Ok(vec![one.to_str()?.to_owned()]);
    }
    v.extract()
}

/// A `{channel: count}` dict.
fn per_channel(v: &Bound<'_, PyAny>) -> PyResult<Vec<(String, usize)>> {
    let dict = v
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("expected a {channel: count} dict"))?;
    dict.iter()
        .map(|(k, n)| Ok((k.extract()?, size(&n)?)))
        .collect()
}

fn relay(v: &Bound<'_, PyAny>) -> PyResult<Relay> {
    Ok(match v.extract::<&str>()? {
        "off" => Relay::Off,
        "others" => Relay::Others,
        "echo" => Relay::Echo,
        "all" | "others_and_echo" => Relay::OthersAndEcho,
        other => {
            return Err(PyValueError::new_err(format!(
                "relay is \"off\", \"others\", \"echo\" or \"all\", not {other:?}"
            )));
        }
    })
}

fn name_policy(v: &Bound<'_, PyAny>) -> PyResult<NamePolicy> {
    Ok(match v.extract::<&str>()? {
        "refuse_taken" => NamePolicy::RefuseTaken,
        "replace_old" => NamePolicy::ReplaceOld,
        other => {
            return Err(PyValueError::new_err(format!(
                "name_policy is \"refuse_taken\" or \"replace_old\", not {other:?}"
            )));
        }
    })
}

/// The `{key: value}` pairs of a `tls=` dict, each key one of `known`.
fn tls_fields(v: &Bound<'_, PyAny>, known: &[&str]) -> PyResult<Vec<(String, String)>> {
    let dict = v
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("tls= is a dict of PEM file paths"))?;
    let mut fields = Vec::new();
    for (key, value) in dict.iter() {
        let key: String = key.extract()?;
        if !known.contains(&key.as_str()) {
            return Err(PyTypeError::new_err(format!(
                "tls= takes {known:?}, not {key:?}"
            )));
        }
        let value = match value.extract::<std::path::PathBuf>() {
            Ok(path) => path.to_string_lossy().into_owned(),
            Err(_) => value.extract()?,
        };
        fields.push((key, value));
    }
    Ok(fields)
}

/// The field `key` of `fields`, if given.
fn field<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// A host's TLS: `{"cert": chain.pem, "key": key.pem}`, and
/// `"client_ca": ca.pem` to require client certificates (mutual TLS).
fn tls_server(v: &Bound<'_, PyAny>) -> PyResult<TlsServer> {
    let fields = tls_fields(v, &["cert", "key", "client_ca"])?;
    let (Some(cert), Some(key)) = (field(&fields, "cert"), field(&fields, "key")) else {
        return Err(PyTypeError::new_err(
            "a host's tls= needs \"cert\" and \"key\"",
        ));
    };
    let server = TlsServer::from_pem_files(cert, key).map_err(|e| to_py(e.into()))?;
    match field(&fields, "client_ca") {
        Some(ca) => server.require_client_certs(ca).map_err(|e| to_py(e.into())),
        None => Ok(server),
    }
}

/// A client's TLS: `{"ca": ca.pem}` (the authorities it trusts), with
/// `"server_name"` when the certificate names the host otherwise than its
/// address, and `"cert"` + `"key"` for a client certificate.
fn tls_client(v: &Bound<'_, PyAny>) -> PyResult<TlsClient> {
    let fields = tls_fields(v, &["ca", "server_name", "cert", "key"])?;
    let Some(ca) = field(&fields, "ca") else {
        return Err(PyTypeError::new_err("a client's tls= needs \"ca\""));
    };
    let tls = |e: socketengine::TlsError| to_py(e.into());
    let mut client = TlsClient::from_ca_file(ca).map_err(tls)?;
    if let Some(name) = field(&fields, "server_name") {
        client = client.server_name(name).map_err(tls)?;
    }
    match (field(&fields, "cert"), field(&fields, "key")) {
        (Some(cert), Some(key)) => client.client_cert(cert, key).map_err(tls),
        (None, None) => Ok(client),
        _ => Err(PyTypeError::new_err(
            "a client certificate needs both \"cert\" and \"key\"",
        )),
    }
}
