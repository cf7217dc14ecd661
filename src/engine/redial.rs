//! The client side of reconnection, run by the event loop: a non-blocking
//! connect, the hello, the welcome, then the same peer reopened on the new
//! socket. Nothing here blocks the loop.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Buf;
use mio::net::TcpStream;
use mio::{Interest, Token};
use socket2::SockRef;

use super::connection::{Conn, Open, State};
use super::event_loop::{EventLoop, FIRST_CONN};
use super::{configure_stream, would_block};
use crate::protocol::{Hello, WELCOME_LEN, Welcome, WelcomeStatus};
use crate::{ClientId, Error, ErrorKind, Event};

/// A client has exactly one connection, always in the first slot.
const CLIENT_TOKEN: Token = Token(FIRST_CONN);

impl EventLoop {
    /// Plans the next attempt and reports it.
    pub(super) fn schedule_redial(&mut self, now: Instant) {
        let Some(reconnect) = &mut self.reconnect else {
            return;
        };
        let delay = reconnect.schedule(now);
        let (attempt, addr) = (reconnect.attempts, reconnect.addr);
        if let Some(peer) = &self.client {
            let client = peer.id();
            self.shared.emit(Event::Reconnecting {
                client,
                addr,
                attempt,
                delay,
            });
        }
    }

    /// Starts a due attempt, or fails one that ran out of time.
    pub(super) fn redial_timers(&mut self, now: Instant) {
        let Some(reconnect) = &self.reconnect else {
            return;
        };
        if reconnect.attempt_deadline.is_some_and(|d| d <= now) {
            let timeout = reconnect.attempt_timeout;
            let error = Error::new(ErrorKind::TimedOut(timeout));
            return self.close(CLIENT_TOKEN, Some(error));
        }
        if reconnect.next_try.is_some_and(|t| t <= now) {
            self.start_attempt(now);
        }
    }

    /// Opens a non-blocking connection to the host in the client's slot.
    fn start_attempt(&mut self, now: Instant) {
        let Some(reconnect) = &mut self.reconnect else {
            return;
        };
        reconnect.start(now);
        let addr = reconnect.addr;
        let mut stream = match TcpStream::connect(addr) {
            Ok(stream) => stream,
            Err(err) => return self.attempt_failed(addr, Some(err.into())),
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(err) = self
            .poll
            .registry()
            .register(&mut stream, CLIENT_TOKEN, interest)
        {
            return self.attempt_failed(addr, Some(err.into()));
        }
        self.conns.resize_with(self.conns.len().max(1), || None);
        self.conns[0] = Some(Conn::new(stream, addr, State::Connecting));
    }

    /// The connect finished (or failed): on success, send the hello.
    pub(super) fn finish_connect(&mut self, token: Token, _now: Instant) {
        let name = self
            .reconnect
            .as_ref()
            .map(|r| r.name.clone())
            .unwrap_or_default();
        let config = self.shared.config.clone();
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        if let Ok(Some(err)) | Err(err) = conn.stream.take_error() {
            return self.close(token, Some(err.into()));
        }
        match conn.stream.peer_addr() {
            Ok(_) => {}
            // Not connected yet: a spurious wake-up; wait for the next one.
            Err(err) if err.kind() == io::ErrorKind::NotConnected || would_block(&err) => return,
            Err(err) => return self.close(token, Some(err.into())),
        }
        let mut hello = Vec::new();
        let sent = Hello::new(name)
            .encode(&mut hello)
            .map_err(Error::from)
            .and_then(|()| {
                configure_stream(SockRef::from(&conn.stream), &config).map_err(Error::from)
            })
            .and_then(|()| send_all(&mut conn.stream, &hello));
        match sent {
            Ok(()) => conn.state = State::Welcoming,
            Err(err) => self.close(token, Some(err)),
        }
    }

    /// Reads the welcome; on acceptance the client's peer goes live again.
    pub(super) fn read_welcome(&mut self, token: Token, now: Instant) {
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        let open = match conn.read_some(WELCOME_LEN) {
            Ok(open) => open,
            Err(err) => return self.close(token, Some(err.into())),
        };
        let welcome = match Welcome::decode(&conn.rbuf.buf) {
            Ok(Some(welcome)) => welcome,
            Ok(None) if open => return,
            Ok(None) => return self.close(token, Some(ErrorKind::NotConnected.into())),
            Err(err) => return self.close(token, Some(err.into())),
        };
        conn.rbuf.buf.advance(WELCOME_LEN);
        if welcome.status != WelcomeStatus::Accepted {
            let refused = ErrorKind::Refused(format!("{:?}", welcome.status));
            return self.close(token, Some(refused.into()));
        }
        self.reopen(token, ClientId(welcome.client_id), now);
    }

    /// Puts the client's peer on the new socket and resumes normal service.
    fn reopen(&mut self, token: Token, id: ClientId, now: Instant) {
        let Some(peer) = self.client.clone() else {
            return;
        };
        let max_frame = self.shared.config.max_frame;
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        let dup = match SockRef::from(&conn.stream).try_clone() {
            Ok(socket) => std::net::TcpStream::from(socket),
            Err(err) => return self.close(token, Some(err.into())),
        };
        peer.reopen(dup, id, now);
        conn.state = State::Open(Open::new(peer.clone(), max_frame, ClientId::HOST, true));
        let addr = conn.addr;
        self.open_count += 1;
        if let Some(reconnect) = &mut self.reconnect {
            reconnect.succeeded();
        }
        let name = peer.name().to_owned();
        self.shared.emit(Event::Connected {
            client: id,
            name,
            addr,
        });
        // Frames may have followed the welcome.
        self.read(token, now);
    }

    /// A failed attempt: report it and plan the next (unless shutting down).
    pub(super) fn attempt_failed(&mut self, addr: SocketAddr, error: Option<Error>) {
        let client = self.client.as_ref().map(|p| p.id());
        if let Some(error) = error {
            self.shared.emit(Event::Error {
                client,
                addr,
                error,
            });
        }
        if !self.is_stopping() {
            self.schedule_redial(Instant::now());
        }
    }
}

/// Writes all of `bytes` to a fresh non-blocking socket (a hello fits its
/// empty send buffer; not taking it all is treated as a failed attempt).
fn send_all(stream: &mut TcpStream, bytes: &[u8]) -> crate::Result<()> {
    match stream.write(bytes) {
        Ok(n) if n == bytes.len() => Ok(()),
        Ok(_) => Err(io::Error::from(io::ErrorKind::WriteZero).into()),
        Err(err) => Err(err.into()),
    }
}
