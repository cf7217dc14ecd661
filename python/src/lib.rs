//! The Python package `socketengine`: the crate's API bound one-to-one with
//! PyO3 as the extension module `socketengine._native`, which the package's
//! `__init__` re-exports.
//!
//! * `handle` (the `Handle` base), `host`, `client`, `target`: the handles
//!   and where they send; `hosts`: a client side of many hosts; `options`: their keyword options.
//! * `send`: what Python objects become on the wire, and the writes;
//!   `pin`: sending a Python buffer without a copy.
//! * `buffer`, `image`, `message`, `event`, `info`: what arrives, shared
//!   with the socket's buffers through the buffer protocol.
//! * `wait`: blocking calls (without the GIL, interruptible), and the
//!   iterators built on them; `blocking`: calls that block inside the
//!   crate, made interruptible; `callbacks`: Python functions the crate's
//!   dispatcher thread calls, `held` where the handle keeps them;
//!   `errors`: the exception classes; `value`: JSON and MessagePack
//!   values.

mod blocking;
#[allow(unsafe_code)]
mod buffer;
mod callbacks;
mod client;
mod errors;
mod event;
mod handle;
mod held;
mod host;
mod hosts;
#[allow(unsafe_code)]
mod image;
#[allow(unsafe_code)]
mod inflight;
mod info;
mod message;
mod options;
#[allow(unsafe_code)]
mod pin;
mod send;
mod target;
mod value;
mod wait;

use pyo3::prelude::*;

/// The module: its classes, its exceptions, and an `atexit` hook that
/// closes the handles still open.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<handle::Handle>()?;
    m.add_class::<host::Host>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<hosts::Hosts>()?;
    m.add_class::<hosts::HostsSubscription>()?;
    m.add_class::<target::Target>()?;
    m.add_class::<message::Message>()?;
    m.add_class::<message::Reply>()?;
    m.add_class::<message::Request>()?;
    m.add_class::<buffer::Buffer>()?;
    m.add_class::<image::Image>()?;
    m.add_class::<event::Event>()?;
    m.add_class::<wait::Subscription>()?;
    m.add_class::<wait::Events>()?;
    m.add_class::<wait::Replies>()?;
    m.add_class::<wait::Until>()?;
    m.add_class::<send::Json>()?;
    m.add_class::<send::MsgPack>()?;
    m.add_class::<callbacks::CallbackId>()?;
    m.add_class::<info::ChannelStats>()?;
    m.add_class::<info::ImageStats>()?;
    m.add_class::<info::SharedMemoryStats>()?;
    m.add_class::<info::ClientInfo>()?;
    m.add_class::<info::CallbackStats>()?;
    m.add_class::<info::ClockEstimate>()?;
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(handle::_close_all, m)?)?;
    m.add_function(wrap_pyfunction!(handle::_after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(pin::_last_lent_address, m)?)?;
    m.add("DEFAULT_ADDR", socketengine::DEFAULT_ADDR)?;
    m.add("IMAGE_CHANNEL", socketengine::IMAGE_CHANNEL)?;
    m.add("COMMAND_CHANNEL", socketengine::COMMAND_CHANNEL)?;
    m.add("HOST_ID", socketengine::ClientId::HOST.0)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let close_all = m.getattr("_close_all")?;
    // `threading._register_atexit` runs before the interpreter joins its
    // non-daemon threads (as `concurrent.futures` does), so a thread
    // iterating a subscription sees it closed and ends; `atexit` runs
    // after that join, for handles made meanwhile. Closing twice is a
    // no-op.
    let threading = m.py().import("threading")?;
    if let Ok(register) = threading.getattr("_register_atexit") {
        register.call1((close_all.clone(),))?;
    }
    m.py()
        .import("atexit")?
        .call_method1("register", (close_all,))?;
    // A handle does not cross `fork()` (see `_after_fork_in_child`).
    let after_fork = m.getattr("_after_fork_in_child")?;
    let kwargs = pyo3::types::PyDict::new(m.py());
    kwargs.set_item("after_in_child", after_fork)?;
    m.py()
        .import("os")?
        .call_method("register_at_fork", (), Some(&kwargs))?;
    Ok(())
}
