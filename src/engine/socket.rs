//! Socket set-up through socket2: listener options and per-connection options.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use mio::net::TcpListener;
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use crate::config::Config;
use crate::{Error, ErrorKind, Result};

/// Backlog of connections waiting to be accepted.
const LISTEN_BACKLOG: i32 = 1024;

/// Resolves `addr` (`host:port`) to its first socket address.
pub(crate) fn resolve(addr: &str) -> io::Result<SocketAddr> {
    addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{addr} resolves to no address"),
        )
    })
}

/// Binds a non-blocking listener with `SO_REUSEADDR`, so a restarted host can
/// take its port back while old connections linger in `TIME_WAIT`.
pub(crate) fn bind_listener(addr: &str) -> Result<TcpListener> {
    let addr = resolve(addr)?;
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into()).map_err(|err| match err.kind() {
        io::ErrorKind::AddrInUse => Error::new(ErrorKind::AddrInUse { addr }),
        _ => Error::from(err),
    })?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Applies the per-connection options of `config` to a connected socket.
pub(crate) fn configure_stream(socket: SockRef<'_>, config: &Config) -> io::Result<()> {
    socket.set_tcp_nodelay(config.nodelay)?;
    if let Some(bytes) = config.send_buffer {
        socket.set_send_buffer_size(bytes)?;
    }
    if let Some(bytes) = config.recv_buffer {
        socket.set_recv_buffer_size(bytes)?;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(bytes) = config.notsent_lowat {
        socket.set_tcp_notsent_lowat(bytes)?;
    }
    match config.keepalive {
        Some(idle) => socket.set_tcp_keepalive(&TcpKeepalive::new().with_time(idle)),
        None => socket.set_keepalive(false),
    }
}
