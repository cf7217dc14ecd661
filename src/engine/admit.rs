//! A host's door, the loop's half: accepting connections into handshake
//! slots, making way when they are full, the handshake deadline, and
//! turning connections away with a typed reason (a welcome where one can be
//! sent, an `Event::Error` on the host, a count in `AdmissionStats`). The
//! bookkeeping is the pure [`Gate`](super::gate::Gate).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Token};
use socket2::SockRef;

use super::connection::{Conn, State};
use super::event_loop::{EventLoop, FIRST_CONN};
use super::gate::{Room, Turned};
use super::{configure_stream, would_block};
use crate::protocol::{Hello, ResumeToken, VERSION, WELCOME_LEN, Welcome, WelcomeStatus};
use crate::time::unix_ns;
use crate::{Error, ErrorKind, Event, Refusal};

/// Pause before accepting again after running out of descriptors or memory.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Most connections accepted in one go: a flood of them in the backlog
/// waits for the loop's next pass rather than holding up everyone else's
/// reads (accepting 1,000 took the soak's loop 9 ms).
const ACCEPT_BATCH: usize = 32;

impl EventLoop {
    /// Accepts waiting connections that can have a handshake slot, up to
    /// [`ACCEPT_BATCH`] of them.
    pub(super) fn accept_all(&mut self, now: Instant) {
        for _ in 0..ACCEPT_BATCH {
            let room = self.gate.room(now);
            if let Room::WaitUntil(at) = room {
                // The rest wait in the backlog: for a slot to free, or for
                // the oldest handshake's grace to end.
                self.accept_retry = Some(self.accept_retry.map_or(at, |t| t.min(at)));
                return;
            }
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((stream, addr)) => self.admit_stream(stream, addr, room, now),
                Err(e) if would_block(&e) => return self.gate.drained(),
                // The connection died in the backlog, or a signal interrupted:
                // the next one may be fine.
                Err(e) if is_transient_accept_error(&e) => {}
                // Out of descriptors or memory: the readiness edge is spent, so
                // try again shortly instead of waiting for a new connection.
                Err(_) => {
                    self.accept_retry = Some(now + ACCEPT_RETRY);
                    return;
                }
            }
        }
        // More may wait: accept again after the others' turn (the readiness
        // edge is spent).
        self.accept_retry = Some(self.accept_retry.map_or(now, |t| t.min(now)));
    }

    /// Gives a new connection a handshake slot (`room` says whether one is
    /// free), or turns it away.
    fn admit_stream(&mut self, mut stream: TcpStream, addr: SocketAddr, room: Room, now: Instant) {
        if let Err(refusal) = self.gate.check(addr.ip(), self.open_count) {
            return self.turn_away(&mut stream, addr, refusal);
        }
        if let Room::Evict(oldest) = room {
            self.make_way(oldest, now);
        }
        let config = &self.shared.config;
        if let Err(err) = configure_stream(SockRef::from(&stream), config) {
            return self.report(addr, err.into());
        }
        // With TLS, its handshake comes first, in the same slot and time.
        let tls = match super::tls::accepted(config) {
            Ok(tls) => tls,
            Err(err) => return self.report(addr, err),
        };
        let token = self.next_token();
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(err) = self.poll.registry().register(&mut stream, token, interest) {
            self.free.push(token.0 - FIRST_CONN);
            return self.report(addr, err.into());
        }
        let state = match tls {
            Some(_) => State::Securing,
            None => State::Handshake,
        };
        let mut conn = Conn::new(stream, addr, state);
        conn.tls = tls;
        self.conns[token.0 - FIRST_CONN] = Some(conn);
        self.gate.enter(token, addr.ip(), now);
    }

    /// Frees the handshake slot of `oldest`. A flood of accepts comes before
    /// any read, so its hello may be waiting unread: it gets a last read,
    /// and makes way only if it is still not done.
    fn make_way(&mut self, oldest: Token, now: Instant) {
        self.read(oldest, now);
        if !self.gate.is_handshaking(oldest) {
            return;
        }
        let evicted = Refusal::Evicted;
        let status = Some(evicted.status());
        self.turn_back(
            oldest,
            Turned::Refused(evicted),
            status,
            ErrorKind::Refused(evicted).into(),
        );
    }

    /// Ends a connection in the handshake that will not be a client: counts
    /// it, tells it `status` if it has one, and closes it, reporting `error`.
    /// Counted first, so whoever hears of it sees the count.
    pub(super) fn turn_back(
        &mut self,
        token: Token,
        turned: Turned,
        status: Option<WelcomeStatus>,
        error: Error,
    ) {
        self.gate.count(turned);
        if let (Some(status), Some(conn)) = (status, self.conn_mut(token)) {
            conn.send_best_effort(&welcome(status));
        }
        self.close(token, Some(error));
    }

    /// Whether a completed hello (proven, on a host with auth) may have a
    /// client slot: the one place where a connection passes from the
    /// handshake's slots to the clients'. Unproven handshakes only ever take
    /// handshake slots, and a challenged one makes way only after every
    /// silent one, with a grace counted from its challenge (`Gate::room`).
    pub(super) fn vet(&self, _hello: &Hello) -> Result<(), Refusal> {
        self.gate.check_clients(self.open_count)
    }

    /// Refuses a connection that has no slot: tells it why, reports and counts it.
    fn turn_away(&mut self, stream: &mut TcpStream, addr: SocketAddr, refusal: Refusal) {
        self.gate.count(Turned::Refused(refusal));
        let _ = stream.write(&welcome(refusal.status()));
        self.report(addr, ErrorKind::Refused(refusal).into());
    }

    /// Reports an error of a connection that is not a client.
    fn report(&self, addr: SocketAddr, error: Error) {
        self.shared.emit(Event::Error {
            client: None,
            addr,
            error,
        });
    }

    /// Drops connections whose hello did not arrive in time; then, if
    /// connections wait in the backlog and a slot is free, takes them in.
    pub(super) fn expire_handshakes(&mut self, now: Instant) {
        while let Some(token) = self.gate.expired(now) {
            self.gate.count(Turned::TimedOut);
            let timeout = self.gate.timeout();
            self.close(token, Some(ErrorKind::HandshakeTimeout(timeout).into()));
        }
        if self.gate.may_accept_again() {
            self.accept_all(now);
        }
    }
}

/// Accept errors that concern one connection, not the listener.
fn is_transient_accept_error(err: &io::Error) -> bool {
    use io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted, PermissionDenied};
    matches!(
        err.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | PermissionDenied
    ) || err.raw_os_error() == Some(PROTOCOL_ERROR)
}

/// `EPROTO` on Linux: a protocol error on a connection in the backlog.
const PROTOCOL_ERROR: i32 = 71;

/// A welcome telling a client why it is turned away, sent best effort: 47
/// bytes on a fresh socket fit its send buffer (and, with TLS, its
/// session's), and the connection closes next anyway. Before a TLS
/// handshake it goes plain; a TLS client looks for it (`engine::secure`).
fn welcome(status: WelcomeStatus) -> [u8; WELCOME_LEN] {
    let welcome = Welcome {
        version: VERSION,
        status,
        client_id: 0,
        host_time_ns: unix_ns(),
        resume: ResumeToken::NONE,
        epoch: 0,
    };
    welcome.encode()
}
