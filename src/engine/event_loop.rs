//! The event loop: accepts, reads, flushes and runs commands until shut down.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use crossbeam_channel::Receiver;
use mio::net::TcpListener;
use mio::{Events, Poll, Token};

use super::connection::{Conn, FlushEnd, Open, ReadEnd, State};
use super::gate::{Gate, Turned};
use super::pace;
use super::redial::Dial;
use super::registry::Admission;
use super::token::fresh_token;
use super::turn::Budget;
use super::{Command, Notifier, Peer, PeerParts, Shared};
use crate::protocol::{DecodeError, Hello, MAX_HELLO, VERSION, Welcome, WelcomeStatus};
use crate::{
    Action, ClientId, CloseCode, DisconnectReason, Error, ErrorKind, Event, NamePolicy, Permissions,
};

/// Token of the host's listening socket.
pub(crate) const LISTENER: Token = Token(0);
/// Token of the waker that other threads use to interrupt `poll`.
pub(crate) const WAKER: Token = Token(1);
/// Connection `i` has token `FIRST_CONN + i`.
pub(crate) const FIRST_CONN: usize = 2;

/// Readiness events taken from one `poll`.
const EVENTS_CAPACITY: usize = 1024;

/// What the loop serves.
#[derive(Debug)]
pub(crate) enum Role {
    /// Accept clients on the listener.
    Host {
        /// The bound, registered listener.
        listener: TcpListener,
    },
    /// Serve one connection to a host (token [`FIRST_CONN`]), which the loop
    /// dials at once and, if so configured, again whenever it is lost.
    Client {
        /// The host, the client's peer, and the attempts to reach it (boxed:
        /// a role is built once, and a host's is small).
        dial: Box<Dial>,
    },
}

/// The loop's state, owned by its thread.
pub(crate) struct EventLoop {
    pub(super) poll: Poll,
    commands: Receiver<Command>,
    notifier: Notifier,
    pub(super) shared: Arc<Shared>,
    pub(super) listener: Option<TcpListener>,
    /// Connections by token index; `None` marks a free slot.
    pub(super) conns: Vec<Option<Conn>>,
    pub(super) free: Vec<usize>,
    /// A host's handshake slots and per-address counts.
    pub(super) gate: Gate,
    pub(super) open_count: usize,
    /// When to call `accept` again: after it failed for lack of resources,
    /// or when a handshake slot may be had.
    pub(super) accept_retry: Option<Instant>,
    /// When to next check open connections for silence (with heartbeats on).
    next_heartbeat: Option<Instant>,
    /// When to next look for slow consumers (with a write deadline).
    pub(super) next_write_check: Option<Instant>,
    /// A client's one peer and its dialling (`None` on a host).
    pub(super) client: Option<Dial>,
    /// Set while shutting down: a lost connection is not redialled.
    pub(super) stopping: bool,
    /// Connections that used up a turn's budget reading (or writing) with
    /// bytes perhaps left: served again before the loop waits for events.
    pub(super) more_reads: Vec<Token>,
    pub(super) more_writes: Vec<Token>,
    /// Connections whose image in progress waits for memory, read again at
    /// `starved_retry` (soon, not at once: the loop does not spin).
    pub(super) starved: Vec<Token>,
    pub(super) starved_retry: Option<Instant>,
    /// When the loop last closed slow consumers to relieve the memory.
    pub(super) last_relief: Option<Instant>,
    /// When to next look for frames and images past the partial timeout.
    pub(super) next_partial_check: Option<Instant>,
    /// When the oldest request a host forwarded reaches the forward timeout.
    forward_due: Option<Instant>,
    /// When the first shared-memory offer awaiting its answer expires.
    pub(super) shm_offer_due: Option<Instant>,
}

impl EventLoop {
    pub(crate) fn new(
        poll: Poll,
        commands: Receiver<Command>,
        notifier: Notifier,
        shared: Arc<Shared>,
        role: Role,
    ) -> EventLoop {
        let gate = Gate::new(&shared.config, Arc::clone(&shared.admission));
        let mut event_loop = EventLoop {
            poll,
            commands,
            notifier,
            shared,
            listener: None,
            conns: Vec::new(),
            free: Vec::new(),
            gate,
            open_count: 0,
            accept_retry: None,
            next_heartbeat: None,
            next_write_check: None,
            client: None,
            stopping: false,
            more_reads: Vec::new(),
            more_writes: Vec::new(),
            starved: Vec::new(),
            starved_retry: None,
            last_relief: None,
            next_partial_check: None,
            forward_due: None,
            shm_offer_due: None,
        };
        event_loop.schedule_partial_check(Instant::now());
        event_loop.next_heartbeat = event_loop
            .shared
            .config
            .heartbeat
            .and_then(|i| Instant::now().checked_add(i));
        event_loop.next_write_check = event_loop.first_write_check(Instant::now());
        match role {
            Role::Host { listener } => event_loop.listener = Some(listener),
            // The first attempt is due at once (see `Dial::new`).
            Role::Client { dial } => event_loop.client = Some(*dial),
        }
        event_loop
    }

    /// Runs until a shutdown command (or a fatal poll error), then closes every
    /// connection.
    pub(crate) fn run(&mut self) {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        self.notifier.enter_loop();
        loop {
            // Commands the loop sent itself came without a wake-up.
            let busy = !self.more_reads.is_empty()
                || !self.more_writes.is_empty()
                || !self.commands.is_empty();
            let polled = Instant::now();
            let timeout = match busy {
                true => Some(Duration::ZERO),
                false => self
                    .next_deadline()
                    .map(|d| d.saturating_duration_since(Instant::now())),
            };
            if let Err(err) = self.poll.poll(&mut events, timeout) {
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            let now = Instant::now();
            pace::after_poll(polled, now);
            self.on_events(&events, now);
            self.run_commands();
            self.next_turn(&mut events, now);
            if self.stopping {
                break;
            }
            let now = Instant::now();
            self.relieve(now);
            self.expire_handshakes(now);
            if self.accept_retry.is_some_and(|at| at <= now) {
                self.accept_retry = None;
                self.accept_all(now);
            }
            if self.next_heartbeat.is_some_and(|at| at <= now) {
                self.heartbeat(now);
            }
            if self.next_write_check.is_some_and(|at| at <= now) {
                self.check_writes(now);
            }
            self.redial_timers(now);
            // Every turn: a forward recorded in it sets the next deadline.
            self.forward_due = super::forward::expire(&self.shared, now);
            if self.next_partial_check.is_some_and(|at| at <= now) {
                self.expire_partials(now);
            }
            #[cfg(unix)]
            self.take_shm_offers_due();
            #[cfg(unix)]
            if self.shm_offer_due.is_some_and(|at| at <= now) {
                self.expire_shm_offers(now);
            }
            if self.starved_retry.is_some_and(|at| at <= now) {
                self.starved_retry = None;
                for token in std::mem::take(&mut self.starved) {
                    self.read_with(token, now, Budget::long(now));
                }
            }
        }
        self.close_all();
    }

    /// The earliest timer: a handshake deadline, an accept retry, a heartbeat,
    /// a client's next attempt or its deadline, a look for late frames.
    fn next_deadline(&self) -> Option<Instant> {
        let handshake = self.gate.next_deadline();
        let redial = self.client.as_ref().and_then(Dial::next_deadline);
        [handshake, self.accept_retry, self.next_heartbeat, redial]
            .into_iter()
            .chain([self.next_partial_check, self.next_write_check])
            .chain([self.starved_retry, self.forward_due, self.shm_offer_due])
            .flatten()
            .min()
    }

    /// Pings connections silent for a heartbeat interval (a client its host
    /// every interval: its clock estimate rides on the pongs) and closes
    /// those silent for the idle timeout.
    fn heartbeat(&mut self, now: Instant) {
        let Some(interval) = self.shared.config.heartbeat else {
            return;
        };
        self.next_heartbeat = now.checked_add(interval);
        let idle_timeout = self.shared.config.idle_timeout;
        let mut dead = Vec::new();
        for (index, conn) in self.conns.iter_mut().enumerate() {
            let Some(Conn {
                state: State::Open(open),
                rbuf,
                ..
            }) = conn
            else {
                continue;
            };
            // Image buffers the application has let go of since the last
            // image arrived (a stream that stopped) are not kept for ever.
            rbuf.trim();
            let silent = open.peer.silent_for(now);
            if silent >= idle_timeout {
                dead.push(Token(FIRST_CONN + index));
            } else {
                open.heartbeat(silent >= interval, &self.shared);
            }
        }
        for token in dead {
            self.close(token, Some(ErrorKind::TimedOut(idle_timeout).into()));
        }
    }

    pub(super) fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Runs queued commands, until a shutdown (which sets `stopping`).
    pub(super) fn run_commands(&mut self) {
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Flush(token) => self.flush(token),
                Command::Shutdown => {
                    self.stopping = true;
                    return;
                }
                Command::Disconnect { client, message } => self.kick(client, message),
            }
        }
    }

    pub(super) fn conn_mut(&mut self, token: Token) -> Option<&mut Conn> {
        let index = token.0.checked_sub(FIRST_CONN)?;
        self.conns.get_mut(index)?.as_mut()
    }

    /// Reads what `token`'s connection has: a first turn's worth (see
    /// [`turn`](super::turn)); a connection with more is read again.
    pub(super) fn read(&mut self, token: Token, now: Instant) {
        self.read_with(token, now, Budget::FIRST);
    }

    pub(super) fn read_with(&mut self, token: Token, now: Instant, budget: Budget) {
        let shared = Arc::clone(&self.shared);
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        let result = match conn.state {
            State::Securing => return self.secure(token, now),
            State::Handshake => return self.read_hello(token, now),
            State::Proving(_) => return self.read_proof(token, now),
            State::Connecting => return self.connected(token, now),
            State::Welcoming => return self.read_welcome(token, now),
            State::Open(_) => conn.read_frames(&shared, now, budget),
        };
        match result {
            // The peer said goodbye: what it sent before is stored; end it now.
            Ok(ReadEnd::Drained | ReadEnd::More) if self.is_ending(token) => {
                self.close(token, None)
            }
            Ok(ReadEnd::Drained) => {}
            Ok(ReadEnd::More) if !self.more_reads.contains(&token) => self.more_reads.push(token),
            Ok(ReadEnd::More) => {}
            Ok(ReadEnd::Starved) => self.starve(token, now),
            Ok(ReadEnd::Eof) => self.close(token, None),
            Err(err) => self.close(token, Some(err)),
        }
        pace::checkpoint();
    }

    pub(super) fn flush(&mut self, token: Token) {
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        match conn.flush() {
            Ok(FlushEnd::Done) => {}
            Ok(FlushEnd::More) if !self.more_writes.contains(&token) => {
                self.more_writes.push(token);
            }
            Ok(FlushEnd::More) => {}
            Err(err) => self.close(token, Some(err.into())),
        }
        pace::checkpoint();
    }

    pub(super) fn next_token(&mut self) -> Token {
        let index = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        Token(FIRST_CONN + index)
    }

    /// Reads a hello; on success registers the client and answers with a welcome.
    fn read_hello(&mut self, token: Token, now: Instant) {
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        let open = match conn.read_some(MAX_HELLO) {
            Ok(open) => open,
            Err(err) => return self.close(token, Some(err.into())),
        };
        match Hello::decode(&conn.rbuf.buf) {
            Ok(Some((hello, used))) => {
                conn.rbuf.buf.advance(used);
                self.greet(token, hello, now);
            }
            Ok(None) if open => {}
            Ok(None) => self.close(token, None),
            Err(err) => {
                let status = match err {
                    DecodeError::UnsupportedVersion(_) => Some(WelcomeStatus::VersionMismatch),
                    _ => None,
                };
                self.turn_back(token, Turned::BadHello, status, err.into());
            }
        }
    }

    /// Admits a client whose hello (and proof, if the host asked for one)
    /// came: registers it and answers with a welcome. `permissions` are what
    /// its credential allows (`None` on a host without auth: everything).
    pub(super) fn open(
        &mut self,
        token: Token,
        hello: Hello,
        permissions: Option<Arc<Permissions>>,
        now: Instant,
    ) {
        let shared = Arc::clone(&self.shared);
        let notifier = self.notifier.clone();
        if let Err(refusal) = self.vet(&hello) {
            let (turned, status) = (Turned::Refused(refusal), Some(refusal.status()));
            return self.turn_back(token, turned, status, ErrorKind::Refused(refusal).into());
        }
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        let stream = match conn.sink() {
            Ok(sink) => sink,
            Err(err) => return self.close(token, Some(err.into())),
        };
        let parts = PeerParts {
            addr: conn.addr,
            token,
            stream: Some(stream),
            notifier,
            budget: shared.config.outbox_budget,
            image_chunk: shared.config.image_chunk,
            image_window: shared.config.image_window,
            image_queue_delay: shared.config.image_queue_delay,
            epoch: shared.epoch,
            first: None,
            memory: Arc::clone(&shared.memory),
            permissions,
        };
        let keep = shared.config.max_connections;
        // A client that proved its credential is the name's holder: it takes
        // the name over from a connection the host still thinks is open.
        let policy = match parts.permissions {
            Some(_) => NamePolicy::ReplaceOld,
            None => shared.config.name_policy,
        };
        let resume = fresh_token();
        // The welcome is queued before the registry shares the peer, so no
        // broadcast from another thread can reach the client ahead of it.
        let make = |id: ClientId, name| {
            let welcome = Welcome {
                version: VERSION,
                status: WelcomeStatus::Accepted,
                client_id: id.0,
                // The clock its pongs and stamps read: one time base.
                host_time_ns: shared.clock.now_ns(),
                resume,
                epoch: shared.host_epoch,
            };
            let first = Some(Bytes::copy_from_slice(&welcome.encode()));
            let peer = Arc::new(Peer::new(id, name, PeerParts { first, ..parts }));
            // Read under the registry's lock: a latched write the host makes
            // meanwhile is either in this snapshot or sees this peer.
            let latched = &shared.config.latched;
            let permitted = |c: &str| peer.may(Action::Subscribe, c);
            let latched = crate::hub::latched::latest_values(&shared.store, latched, permitted);
            peer.queue_messages(&latched);
            peer
        };
        let admission = shared.registry.admit(&hello, policy, resume, make, keep);
        let (peer, replaced) = match admission {
            Admission::Admitted {
                peer,
                replaced,
                forgotten,
            } => {
                let (ids, members): (Vec<ClientId>, Vec<_>) = forgotten.into_iter().unzip();
                super::rooms::forget(&shared, &members);
                shared.store.forget_senders(&ids);
                (peer, replaced)
            }
            Admission::NameTaken => {
                let error = ErrorKind::NameTaken { name: hello.name }.into();
                let status = Some(WelcomeStatus::NameTaken);
                return self.turn_back(token, Turned::NameTaken, status, error);
            }
        };
        let max_frame = shared.config.max_frame;
        conn.state = State::Open(Open::new(Arc::clone(&peer), max_frame, peer.id(), false));
        #[cfg(unix)]
        self.offer_shm(&peer);
        self.gate.finish(token);
        self.open_count += 1;
        if let Some(old) = replaced {
            let why = "another connection proved it is this client";
            self.hang_up(old.token(), DisconnectReason::new(CloseCode::Replaced, why));
        }
        super::rooms::on_admit(&shared, &peer);
        let (client, name, addr) = (peer.id(), peer.name().to_owned(), peer.addr());
        shared.emit(Event::Connected { client, name, addr });
        self.flush(token);
        // Frames may have followed the hello in the same read.
        self.read(token, now);
    }

    /// Closes one connection, reporting `error` first if there is one.
    pub(super) fn close(&mut self, token: Token, error: Option<Error>) {
        let Some(index) = token.0.checked_sub(FIRST_CONN) else {
            return;
        };
        let Some(mut conn) = self.conns.get_mut(index).and_then(Option::take) else {
            return;
        };
        self.free.push(index);
        let _ = self.poll.registry().deregister(&mut conn.stream);
        conn.close_notify();
        let _ = conn.stream.shutdown(std::net::Shutdown::Both);
        let addr = conn.addr;
        if self.client.is_none() {
            // Every connection of a host came through its gate.
            self.gate.leave(token, addr.ip());
        }
        match conn.state {
            State::Securing if self.client.is_some() => self.attempt_failed(addr, error),
            State::Handshake | State::Securing | State::Proving(_) => {
                if let Some(error) = error {
                    self.shared.emit(Event::Error {
                        client: None,
                        addr,
                        error,
                    });
                }
            }
            State::Open(open) => {
                self.open_count -= 1;
                let (peer, reason) = (&open.peer, open.reason);
                let redial = self
                    .client
                    .as_ref()
                    .is_some_and(|dial| dial.redials_after(reason.as_ref()))
                    && !self.stopping;
                match redial {
                    true => peer.suspend(),
                    false => peer.close(),
                }
                self.shared.requests.fail_peer(peer.token());
                super::forward::peer_closed(&self.shared, peer);
                if let Some(error) = error {
                    self.shared.emit(Event::Error {
                        client: Some(peer.id()),
                        addr,
                        error,
                    });
                }
                let (client, name) = (peer.id(), peer.name().to_owned());
                self.shared.emit(Event::Disconnected {
                    client,
                    name,
                    addr,
                    reason,
                });
                if redial {
                    self.schedule_redial(Instant::now());
                }
            }
            State::Connecting | State::Welcoming => self.attempt_failed(addr, error),
        }
    }

    /// Shutdown: pushes out what can go without blocking, then closes everything.
    fn close_all(&mut self) {
        self.stopping = true;
        if let Some(dial) = self.client.as_ref().filter(|_| self.open_count == 0) {
            // Between attempts: nothing to close but the waiting writers.
            dial.peer().close();
        }
        let reason = self.stop_reason();
        for index in 0..self.conns.len() {
            let token = Token(FIRST_CONN + index);
            match self.conn_mut(token).map(|c| &c.state) {
                Some(State::Open(_)) => self.hang_up(token, reason.clone()),
                _ => self.close(token, None),
            }
        }
    }
}

impl Drop for EventLoop {
    /// Runs on every exit, a panic included: marks the engine stopped, fails
    /// every waiting writer and ends every subscription, so no handle is left
    /// looking alive.
    fn drop(&mut self) {
        self.shared.mark_stopped();
        self.shared.store.close();
        self.shared.requests.fail_all();
        for conn in self.conns.iter().flatten() {
            if let State::Open(open) = &conn.state {
                open.peer.close();
            }
        }
        // A client's peer may have no open connection (between attempts).
        if let Some(dial) = &self.client {
            dial.peer().close();
        }
    }
}
