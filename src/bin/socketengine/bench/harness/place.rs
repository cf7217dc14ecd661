//! Where the listening side of every pair lives: loopback in this process's
//! network namespace by default; for a shaped link, another namespace and an
//! address on it, set once by the CLI ([`set_far`]), so that every byte
//! between the two sides crosses the link.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;
use std::thread;

/// The far side: where listeners bind, and how a thread gets there.
pub(crate) struct Far {
    /// Address the listeners bind to (port 0), and the near side dials.
    pub(crate) ip: IpAddr,
    /// Moves the calling thread into the far side's network namespace;
    /// sockets it creates afterwards, and threads it spawns, live there.
    pub(crate) enter: Box<dyn Fn() -> io::Result<()> + Send + Sync>,
}

/// Set at most once, before any pair starts; read by every listener.
static FAR: OnceLock<Far> = OnceLock::new();

/// Puts the listening side of every pair started from now on at `far`.
///
/// # Errors
///
/// `AlreadyExists` if a far side was set before.
#[allow(
    dead_code,
    reason = "the CLI places the far side; the criterion benches do not"
)]
pub(crate) fn set_far(far: Far) -> io::Result<()> {
    FAR.set(far)
        .map_err(|_| io::Error::new(io::ErrorKind::AlreadyExists, "the far side is set once"))
}

/// Runs `f` with the address to listen on: on the calling thread with
/// 127.0.0.1, or, with a far side set, on a thread of its own in the far
/// namespace with its address (a host started there runs its event loop
/// there, and a listener bound there accepts connections there).
pub(crate) fn listen<T: Send>(f: impl FnOnce(IpAddr) -> io::Result<T> + Send) -> io::Result<T> {
    let Some(far) = FAR.get() else {
        return f(IpAddr::V4(Ipv4Addr::LOCALHOST));
    };
    thread::scope(|s| {
        let listener = s.spawn(|| {
            (far.enter)()?;
            f(far.ip)
        });
        listener
            .join()
            .map_err(|_| io::Error::other("the far side's thread panicked"))?
    })
}
