//! A client's connection to its host, made by the event loop: a non-blocking
//! connect, the hello, the welcome, then the client's one peer opened on the
//! new socket. The first connection and every reconnection take this path;
//! nothing here blocks the loop.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Buf;
use crossbeam_channel::Sender;
use mio::net::TcpStream;
use mio::{Interest, Token};
use socket2::SockRef;

use super::connection::{Conn, Open, State};
use super::dial_state::final_refusal;
use super::event_loop::{EventLoop, FIRST_CONN};
use super::reconnect::Reconnect;
use super::{INTEREST_CHANNEL, Notifier, Peer, PeerParts, Shared, configure_stream, would_block};
use crate::protocol::{
    Answer, AuthMethod, DecodeError, Header, Hello, Kind, OP_INTEREST, ResumeToken, WELCOME_LEN,
    WelcomeStatus, encode_interest,
};
use crate::{ClientId, CloseCode, DisconnectReason, Error, ErrorKind, Event, Refusal, Result};

/// A client has exactly one connection, always in the first slot.
const CLIENT_TOKEN: Token = Token(FIRST_CONN);

/// What a client dials, as `connect` resolved and configured it.
#[derive(Debug)]
pub(crate) struct DialTarget {
    /// The host's address, resolved once, for every attempt.
    pub(crate) addr: SocketAddr,
    /// The name given in every hello, so the host knows the client again.
    pub(crate) name: String,
    /// How long one attempt (connect, hello, welcome) may take.
    pub(crate) timeout: Duration,
    /// The first and the longest delay between reconnection attempts; `None`
    /// turns reconnection off.
    pub(crate) reconnect: Option<(Duration, Duration)>,
    /// Whether to redial after the host kicked the client.
    pub(crate) redial_after_kick: bool,
}

/// A client's side of the loop: its one peer and its attempts to reach the host.
#[derive(Debug)]
pub(crate) struct Dial {
    target: DialTarget,
    /// Kept across connections; suspended until the first welcome opens it.
    peer: Arc<Peer>,
    /// When to start the next attempt.
    next_try: Option<Instant>,
    /// When the attempt in progress fails, if it has not succeeded.
    attempt_deadline: Option<Instant>,
    reconnect: Option<Reconnect>,
    /// The token of the last welcome, presented in the next hello so the
    /// host lets this client take its name back from a connection it still
    /// thinks is open.
    resume: Option<ResumeToken>,
    /// The epoch of the host's last welcome: another one on a reconnection
    /// means the host restarted.
    host_epoch: Option<u64>,
    /// Whether the attempt in progress has answered a challenge: a host
    /// challenges once, and a second challenge is a protocol error (no
    /// proofs of nonces a peer chooses, one after another).
    challenged: bool,
    /// Where the first attempt's outcome goes (`connect` waits for it); taken
    /// when sent, so only later attempts are retried. `None` for a client
    /// started without waiting: every failed attempt is retried.
    first: Option<Sender<Result<()>>>,
}

impl Dial {
    /// A client that dials `target` as soon as its loop runs, and reports the
    /// first attempt's outcome on `first` (if given; if not, it redials
    /// until an attempt succeeds, as after a lost connection).
    pub(crate) fn new(
        target: DialTarget,
        shared: &Shared,
        notifier: &Notifier,
        first: Option<Sender<Result<()>>>,
    ) -> Dial {
        let config = &shared.config;
        let parts = PeerParts {
            addr: target.addr,
            token: CLIENT_TOKEN,
            stream: None,
            notifier: notifier.clone(),
            budget: config.outbox_budget,
            image_chunk: config.image_chunk,
            image_window: config.image_window,
            image_queue_delay: config.image_queue_delay,
            epoch: shared.epoch,
            first: None,
            memory: Arc::clone(&shared.memory),
            permissions: None,
        };
        let seed = u64::from(target.addr.port());
        let reconnect = target
            .reconnect
            .map(|(min, max)| Reconnect::new(min, max, seed));
        Dial {
            target,
            peer: Arc::new(Peer::dialing(parts)),
            next_try: Some(Instant::now()),
            attempt_deadline: None,
            reconnect,
            resume: None,
            host_epoch: None,
            challenged: false,
            first,
        }
    }

    /// The client's peer; on a client, events name the client itself (see `Event`).
    pub(crate) fn peer(&self) -> &Arc<Peer> {
        &self.peer
    }

    /// Whether a lost connection is dialled again.
    pub(super) fn reconnects(&self) -> bool {
        self.reconnect.is_some()
    }

    /// Whether a connection that ended for `reason` is dialled again: with
    /// reconnection on, unless the host kicked the client (and it is not to
    /// redial after a kick) or another connection took its name over.
    pub(super) fn redials_after(&self, reason: Option<&DisconnectReason>) -> bool {
        let code = reason.map(|r| r.code);
        let allowed = match code {
            Some(CloseCode::Kicked) => self.target.redial_after_kick,
            Some(CloseCode::Replaced) => false,
            _ => true,
        };
        self.reconnects() && allowed
    }

    /// The earlier of the next try and the attempt deadline.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        [self.next_try, self.attempt_deadline]
            .into_iter()
            .flatten()
            .min()
    }
}

impl EventLoop {
    /// Plans the next attempt (with reconnection on) and reports it.
    pub(super) fn schedule_redial(&mut self, now: Instant) {
        let Some(dial) = &mut self.client else {
            return;
        };
        let Some(reconnect) = &mut dial.reconnect else {
            return;
        };
        let delay = reconnect.next_delay(now);
        dial.next_try = now.checked_add(delay);
        self.shared.emit(Event::Reconnecting {
            client: dial.peer.id(),
            addr: dial.target.addr,
            attempt: reconnect.attempts,
            delay,
        });
    }

    /// Starts a due attempt, or fails one that ran out of time.
    pub(super) fn redial_timers(&mut self, now: Instant) {
        let Some(dial) = &mut self.client else {
            return;
        };
        if dial.attempt_deadline.is_some_and(|d| d <= now) {
            dial.attempt_deadline = None;
            let error = self.attempt_timed_out();
            return self.close(CLIENT_TOKEN, Some(error));
        }
        if dial.next_try.is_some_and(|t| t <= now) {
            self.start_attempt(now);
        }
    }

    /// Why an attempt ran out of time: the TCP connect did not finish (an I/O
    /// error, as the system's own connect timeout), or the host never answered
    /// the hello.
    fn attempt_timed_out(&mut self) -> Error {
        let timeout = self
            .client
            .as_ref()
            .map_or(Duration::ZERO, |d| d.target.timeout);
        match self.conn_mut(CLIENT_TOKEN).map(|c| &c.state) {
            Some(State::Securing | State::Welcoming) => ErrorKind::HandshakeTimeout(timeout).into(),
            _ => io::Error::new(io::ErrorKind::TimedOut, "connect timed out").into(),
        }
    }

    /// Opens a non-blocking connection to the host in the client's slot.
    fn start_attempt(&mut self, now: Instant) {
        let Some(dial) = &mut self.client else {
            return;
        };
        dial.next_try = None;
        dial.attempt_deadline = now.checked_add(dial.target.timeout);
        let addr = dial.target.addr;
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
        if let Some(dial) = &mut self.client {
            dial.challenged = false;
        }
    }

    /// The connect finished (or failed): on success, send the hello.
    pub(super) fn finish_connect(&mut self, token: Token, _now: Instant) {
        let (name, resume) = self
            .client
            .as_ref()
            .map(|d| (d.target.name.clone(), d.resume))
            .unwrap_or_default();
        let auth = self.shared.config.credential.as_ref().map(|c| c.method());
        let config = self.shared.config.clone();
        if !self.connect_done(token) {
            return;
        }
        // Before it leaves: the welcome's exchange starts here.
        self.shared.clock.hello_sent();
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        let mut hello = Vec::new();
        let sent = Hello::new(name)
            .with_resume(resume)
            .with_auth(auth.unwrap_or(AuthMethod::None))
            .encode(&mut hello)
            .map_err(Error::from)
            .and_then(|()| {
                configure_stream(SockRef::from(&conn.stream), &config).map_err(Error::from)
            })
            .and_then(|()| conn.send_all(&hello));
        match sent {
            Ok(()) => conn.state = State::Welcoming,
            Err(err) => self.close(token, Some(err)),
        }
    }

    /// Reads the welcome; on acceptance the client's peer goes live. Bytes
    /// that are not a welcome fail at once (the decoder checks the magic as
    /// it arrives), however few of them came.
    pub(super) fn read_welcome(&mut self, token: Token, now: Instant) {
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        let open = match conn.read_some(WELCOME_LEN) {
            Ok(open) => open,
            Err(err) => return self.close(token, Some(err.into())),
        };
        let welcome = match Answer::decode(&conn.rbuf.buf) {
            Ok(Some((Answer::Welcome(welcome), used))) => {
                conn.rbuf.buf.advance(used);
                welcome
            }
            Ok(Some((Answer::Challenge(challenge), used))) => {
                conn.rbuf.buf.advance(used);
                let again = self
                    .client
                    .as_mut()
                    .map(|d| std::mem::replace(&mut d.challenged, true));
                if again == Some(true) {
                    let twice = DecodeError::BadControl("a second challenge");
                    return self.close(token, Some(twice.into()));
                }
                self.answer_challenge(token, &challenge);
                // The welcome may be in already (it is not, from this build's
                // host, which waits for the proof).
                if self.conn_mut(token).is_some_and(|c| !c.rbuf.buf.is_empty()) {
                    self.read_welcome(token, now);
                }
                return;
            }
            Ok(None) if open => return,
            Ok(None) => {
                let eof = io::Error::new(io::ErrorKind::UnexpectedEof, "closed before the welcome");
                return self.close(token, Some(eof.into()));
            }
            Err(err) => {
                let err = super::secure::not_a_welcome(err, &conn.rbuf.buf);
                return self.close(token, Some(err));
            }
        };
        let refused = match welcome.status {
            WelcomeStatus::Accepted => None,
            WelcomeStatus::NameTaken => Some(ErrorKind::NameTaken {
                name: self.client_name(),
            }),
            status => Refusal::from_status(status).map(ErrorKind::Refused),
        };
        if let Some(refused) = refused {
            return self.close(token, Some(refused.into()));
        }
        let mut restarted = false;
        if let Some(dial) = &mut self.client {
            dial.resume = Some(welcome.resume);
            let before = dial.host_epoch.replace(welcome.epoch);
            restarted = before.is_some_and(|epoch| epoch != welcome.epoch);
        }
        let (client, addr) = (
            ClientId(welcome.client_id),
            self.conn_mut(token).map(|c| c.addr),
        );
        // Without heartbeats a client sends no pings: the welcome's exchange
        // is all its estimate has.
        let quick_ping = self.shared.clock.welcomed(welcome.host_time_ns)
            && self.shared.config.heartbeat.is_some();
        self.reopen(token, client, now);
        if quick_ping {
            self.ping_host(token);
        }
        if let (true, Some(dial)) = (restarted, &self.client) {
            self.shared.republish.send_all(&dial.peer);
        }
        if let (true, Some(addr)) = (restarted, addr) {
            self.shared.emit(Event::HostRestarted { client, addr });
        }
    }

    /// Puts the client's peer on the new socket and starts (or resumes) service.
    fn reopen(&mut self, token: Token, id: ClientId, now: Instant) {
        let max_frame = self.shared.config.max_frame;
        let Some(dial) = &mut self.client else {
            return;
        };
        let peer = Arc::clone(&dial.peer);
        // Unnamed, the host lists the client as `client-N`; it keeps the first.
        peer.name_once(|| match dial.target.name.is_empty() {
            true => format!("client-{}", id.0),
            false => dial.target.name.clone(),
        });
        // The host lists the client's rooms after the welcome, if any.
        self.shared.rooms.forget_mine();
        // Before the peer reads as connected: a connected client has no
        // failure to report (a failure of this last step is kept again).
        self.shared.dial.connected();
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        let dup = match conn.sink() {
            Ok(sink) => sink,
            Err(err) => return self.close(token, Some(err.into())),
        };
        peer.reopen(dup, id, now);
        declare_interest(&peer);
        conn.state = State::Open(Open::new(peer.clone(), max_frame, ClientId::HOST, true));
        let addr = conn.addr;
        #[cfg(unix)]
        self.offer_shm(&peer);
        self.open_count += 1;
        let name = peer.name().to_owned();
        self.shared.emit(Event::Connected {
            client: id,
            name,
            addr,
        });
        if let Some(dial) = &mut self.client {
            dial.attempt_deadline = None;
            if let Some(reconnect) = &mut dial.reconnect {
                reconnect.succeeded(now);
            }
            if let Some(first) = dial.first.take() {
                // `connect` may have gone (a panic); then nobody needs to know.
                let _ = first.send(Ok(()));
            }
        }
        // Frames may have followed the welcome.
        self.read(token, now);
    }

    /// A failed attempt: the first one's error goes to `connect`; later ones
    /// are reported and kept for the handle, and the next is planned
    /// (unless shutting down), except after a refusal that trying again
    /// will not change: then the client stops, closed for good.
    pub(super) fn attempt_failed(&mut self, addr: SocketAddr, error: Option<Error>) {
        let Some(dial) = &mut self.client else {
            return;
        };
        dial.attempt_deadline = None;
        if let Some(first) = dial.first.take() {
            let error = error.unwrap_or_else(|| ErrorKind::Closed.into());
            let _ = first.send(Err(error));
            return;
        }
        let (peer, client) = (Arc::clone(&dial.peer), dial.peer.id());
        let refused = error.as_ref().and_then(final_refusal);
        if let Some(error) = error {
            self.shared.dial.failed(&error);
            let client = Some(client);
            self.shared.emit(Event::Error {
                client,
                addr,
                error,
            });
        }
        if let Some(refusal) = refused {
            self.shared.dial.gave_up(refusal);
            peer.close();
            return self.shared.emit(Event::Refused {
                client,
                addr,
                refusal,
            });
        }
        if !self.is_stopping() {
            self.schedule_redial(Instant::now());
        }
    }
}

impl EventLoop {
    /// Pings the host now, if the connection at `token` is open: the first
    /// quick ping of the clock estimate, right after the welcome.
    fn ping_host(&mut self, token: Token) {
        let shared = Arc::clone(&self.shared);
        if let Some(Conn {
            state: State::Open(open),
            ..
        }) = self.conn_mut(token)
        {
            open.ping(&shared);
        }
    }

    /// Whether the client's TCP connect at `token` is done: on an error the
    /// attempt is closed with it; not yet (a spurious wake-up) waits for the
    /// next one.
    pub(super) fn connect_done(&mut self, token: Token) -> bool {
        let Some(conn) = self.conn_mut(token) else {
            return false;
        };
        if let Ok(Some(err)) | Err(err) = conn.stream.take_error() {
            self.close(token, Some(err.into()));
            return false;
        }
        match conn.stream.peer_addr() {
            Ok(_) => true,
            Err(err) if err.kind() == io::ErrorKind::NotConnected || would_block(&err) => false,
            Err(err) => {
                self.close(token, Some(err.into()));
                false
            }
        }
    }

    /// The name a client asks for in its hello (empty on a host).
    pub(super) fn client_name(&self) -> String {
        self.client
            .as_ref()
            .map(|d| d.target.name.clone())
            .unwrap_or_default()
    }
}

/// Declares again, on a new connection, the channels the client wants (the
/// host forgets with the old connection); the fresh outbox has room for it.
fn declare_interest(peer: &Peer) {
    let Some(patterns) = peer.interest() else {
        return;
    };
    let kind = Kind::Control { op: OP_INTEREST };
    let frame = encode_interest(&patterns)
        .and_then(|payload| Header::new(kind, INTEREST_CHANNEL).to_bytes(&payload));
    if let Ok(frame) = frame {
        peer.queue_control(frame);
    }
}
