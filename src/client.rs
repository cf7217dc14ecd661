//! The client: one connection to a host, with the same store as the host.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::engine::{
    Dial, DialTarget, Engine, INTEREST_CHANNEL, Peer, Role, Shared, request_room, resolve,
};
use crate::handle::Core;
use crate::protocol::{
    ChannelEntry, ClientEntry, DecodeError, Header, Kind, OP_INTEREST, Pattern, SERVICE_CHANNELS,
    SERVICE_CLIENTS, SERVICE_LOOKUP, SERVICE_SYNC, decode_channels, decode_clients, decode_lookup,
    encode_interest,
};
use crate::{
    ChannelInfo, ChannelStats, ClientBuilder, ClientId, ClientInfo, ClockEstimate, ConnectionState,
    Error, ErrorKind, Inbox, Outgoing, Reply, Result, Target, To, WriteGuard,
};

/// A client connected to a host.
///
/// `Client` is a cheap handle (`Clone`, `Send`, `Sync`); the connection closes
/// when [`close`](Self::close) is called or the last handle is dropped, and both
/// join the event-loop thread. It dereferences to its [`Inbox`], the reading
/// side it shares with [`Host`](crate::Host): `get`, `get_all`, `subscribe`,
/// `events`...
///
/// [`write`](Self::write) and [`write_lock`](Self::write_lock) send to the
/// host; [`to`](Self::to) names another target.
///
/// # Examples
///
/// ```
/// use socketengine::{Client, Host};
/// use std::time::Duration;
///
/// let host = Host::builder().addr("127.0.0.1:0").start()?;
/// let client = Client::builder().addr(host.local_addr().to_string()).connect()?;
/// let cmd = client.subscribe("cmd");
/// host.to(client.id()).write_lock("cmd", "stop")?;
/// assert_eq!(&cmd.recv_timeout(Duration::from_secs(5)).unwrap().payload()[..], b"stop");
/// assert_eq!(client.get("cmd").map(|m| m.into_payload()), Some("stop".into()));
/// # Ok::<(), socketengine::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

#[derive(Debug)]
struct ClientInner {
    /// Its upstream is the connection to the host, whose outbox takes every
    /// write: the same peer serves every reconnection, and holds the
    /// client's current id.
    core: Core,
}

impl Client {
    /// A builder with the defaults (host `127.0.0.1:8080`, no name).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Starts a client on `builder`: `wait`, for its first connection
    /// (whose failure is the error); or not, redialing until the host answers.
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    fn dial(mut builder: ClientBuilder, wait: bool) -> Result<Client> {
        // The host's certificate must be valid for the host part of the
        // address as given (unless a server name was set).
        #[cfg(feature = "tls")]
        if let Some(crate::tls::Tls::Client(tls)) = &mut builder.config.tls {
            tls.name_from(&builder.addr)?;
        }
        if builder.name.len() > 255 {
            let len = builder.name.len();
            return Err(DecodeError::FieldTooLong {
                field: "client name",
                len,
            }
            .into());
        }
        let connect_err = |source| {
            Error::new(ErrorKind::Connect {
                addr: builder.addr.clone(),
                source,
            })
        };
        let target = DialTarget {
            addr: resolve(&builder.addr).map_err(connect_err)?,
            name: builder.name.clone(),
            timeout: builder.connect_timeout,
            reconnect: match wait {
                true => builder.reconnect,
                false => builder.reconnect.or(ClientBuilder::default().reconnect),
            },
            redial_after_kick: builder.redial_after_kick,
        };
        let shared = Arc::new(Shared::new(builder.config));
        let (first_tx, first) = crossbeam_channel::bounded(1);
        let first_tx = wait.then_some(first_tx);
        let mut host = None;
        let engine = Engine::spawn("socketengine-client", Arc::clone(&shared), |notifier, _| {
            let dial = Dial::new(target, &shared, notifier, first_tx);
            host = Some(Arc::clone(dial.peer()));
            Ok(Role::Client {
                dial: Box::new(dial),
            })
        })?;
        let host = host.ok_or(ErrorKind::Closed)?;
        // The loop fails the attempt at its deadline, and drops the sender if
        // it stops, so this wait is bounded by the connect timeout.
        let opened = match wait {
            true => first
                .recv()
                .unwrap_or_else(|_| Err(ErrorKind::Closed.into())),
            false => Ok(()),
        };
        if let Err(err) = opened {
            engine.shutdown();
            return Err(match err.into_kind() {
                ErrorKind::Io(source) => connect_err(source),
                kind => Error::new(kind),
            });
        }
        // For the counters that sum over connections.
        shared.registry.insert(Arc::clone(&host));
        let inner = ClientInner {
            core: Core::new(shared, engine, Some(host)),
        };
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    /// The connection to the host.
    fn host(&self) -> &Peer {
        self.inner
            .core
            .upstream()
            .expect("a client has an upstream")
    }

    /// The id the host gave this client.
    pub fn id(&self) -> ClientId {
        self.host().id()
    }

    /// The name this client connected under: the one it chose, or, if it
    /// chose none, `client-N` with the id of its first connection (after a
    /// reconnection the host may list it under a new id and name).
    pub fn name(&self) -> &str {
        self.host().name()
    }

    /// The host's address.
    pub fn host_addr(&self) -> SocketAddr {
        self.host().addr()
    }

    /// Whether the connection to the host is open.
    pub fn is_connected(&self) -> bool {
        self.host().is_connected()
    }

    /// Sends to `to` through the host, which routes the message on to the
    /// clients it names (by id, by name, a list, or all the others), with
    /// this client as the sender they see; see [`Target`] and [`To`].
    ///
    /// The call's count is 1 (the host took it); an id or name the host does
    /// not know comes back later as an
    /// [`Event::Undelivered`](crate::Event::Undelivered), and the other
    /// targets of the same message still get it.
    ///
    /// ```
    /// # use socketengine::{Client, Host};
    /// # let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// # let addr = host.local_addr().to_string();
    /// let arm = Client::builder().addr(&addr).name("arm").connect()?;
    /// let planner = Client::builder().addr(&addr).name("planner").connect()?;
    /// let cmds = arm.subscribe("cmd");
    /// planner.to("arm").write_lock("cmd", "lift")?;
    /// let msg = cmds.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    /// assert_eq!(msg.from(), planner.id()); // the sender, not the host
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    pub fn to(&self, to: impl Into<To>) -> Target<'_> {
        Target::new(&self.inner.core, to.into())
    }

    /// Queues `payload` on `channel` to the host and returns at once (an
    /// unlocked write); see [`Target::write`]. An [`Image`](crate::Image)
    /// goes on the image path: chunked so control frames overtake it, and
    /// replaced by a newer one if it has not started going out.
    ///
    /// # Errors
    ///
    /// `Full` when the outbox already holds its
    /// [budget](crate::ClientBuilder::outbox_budget) (back off, or
    /// [`flush`](Self::flush), and retry), `NotConnected`, `Closed`,
    /// `InvalidChannel` or `FrameTooLarge`. Each hands the payload back
    /// ([`Error::into_payload`]); nothing is dropped silently.
    pub fn write(&self, channel: &str, payload: impl Outgoing) -> Result<()> {
        self.to(To::Host).write(channel, payload).map(drop)
    }

    /// Sends `payload` on `channel` to the host and returns once it has been
    /// handed to the kernel (a locked write); see [`Target::write_lock`].
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write) (except `Full`), and `TimedOut`.
    ///
    /// # Locking
    ///
    /// Blocks until the frame is written, in order with every write made
    /// before it, for at most the [write timeout](crate::ClientBuilder::write_timeout).
    pub fn write_lock(&self, channel: &str, payload: impl Outgoing) -> Result<()> {
        self.to(To::Host).write_lock(channel, payload).map(drop)
    }

    /// Sends `payload` on `channel` to the host and returns once the host
    /// has stored it: a [confirmed write](crate::Target::write_confirmed).
    ///
    /// # Errors
    ///
    /// As [`write_lock`](Self::write_lock), and what the host said about the
    /// message (`HostLimit`); `NotConnected` or `TimedOut` when it may not
    /// have it. Each hands the payload back.
    ///
    /// # Locking
    ///
    /// As [`write_lock`](Self::write_lock), then one round trip to the host.
    pub fn write_confirmed(&self, channel: &str, payload: impl Outgoing) -> Result<()> {
        self.to(To::Host)
            .write_confirmed(channel, payload)
            .map(drop)
    }

    /// Asks the host's responder on `channel` (its
    /// [`on_request`](crate::Host::on_request)) with `payload`, and waits up
    /// to `timeout` for the answer: [`to(To::Host)`](Self::to)[`.request`](Target::request)
    /// and [`Replies::one`](crate::Replies::one). `to("arm").request(..)`
    /// asks another client through the host.
    ///
    /// ```
    /// # use socketengine::{Client, Host};
    /// # use std::time::Duration;
    /// # let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// host.on_request("time", |_| Ok("12:00"))?;
    /// let client = Client::builder().addr(host.local_addr().to_string()).connect()?;
    /// assert_eq!(&client.request("time", "", Duration::from_secs(5))?.payload[..], b"12:00");
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Those of [`Target::request`] and of the answer
    /// ([`Replies`](crate::Replies)): `NoResponder`, `Remote`, `Busy`,
    /// `Forbidden`, `ReplyTooLarge`, `NotConnected` (the connection closed
    /// before the answer), `TimedOut`...
    ///
    /// # Locking
    ///
    /// Blocks until the answer comes, for at most `timeout`.
    pub fn request(
        &self,
        channel: &str,
        payload: impl Outgoing,
        timeout: Duration,
    ) -> Result<Reply> {
        self.to(To::Host).request(channel, payload, timeout)?.one()
    }

    crate::send::responder_methods! {
        /// Makes `f` the responder on `channel`: it answers the requests the
        /// host sends this client on that channel
        /// ([`host.to(..).request`](Target::request)), and those other clients
        /// send it through the host; as [`Host::on_request`](crate::Host::on_request)
        /// (which says which thread runs it, and what a slow or panicking
        /// responder does). [`Request::from`](crate::Request::from) is the
        /// host ([`ClientId::HOST`]) or the client that asked.
        ///
        /// # Errors
        ///
        /// As [`Host::on_request`](crate::Host::on_request).
    }

    crate::on::callback_methods! {}
    crate::on::reconnect_method! {}

    /// Starts a batch of writes to the host that go out together, in order,
    /// with no other write between them; see [`WriteGuard`].
    pub fn lock(&self) -> WriteGuard<'_> {
        self.to(To::Host).lock()
    }

    /// Tells the host which channels this client wants from its broadcasts
    /// and relays (`host.write` to every client, a relay, a route to all):
    /// patterns as [`subscribe`](crate::Inbox::subscribe) takes them (`pose`,
    /// `arm/*`, `arm/**`). The host then skips this client for every other
    /// channel, so a client that wants `pose` stops paying for 1080p frames
    /// it never reads. Messages sent to this client by id, name or room, and
    /// a host's batches (`host.lock()`), are not filtered. It replaces any earlier declaration; `["**"]` wants
    /// everything again, as a client that declared nothing does. The
    /// declaration is made again after a reconnection.
    ///
    /// # Errors
    ///
    /// `InvalidChannel` for a malformed pattern, `InvalidTarget` for more than
    /// 32 patterns, and the errors of a locked write.
    ///
    /// # Locking
    ///
    /// Returns once the declaration is handed to the kernel, as
    /// [`write_lock`](Self::write_lock); the host applies it to what it sends
    /// after it reads it.
    pub fn interest<S: AsRef<str>>(&self, patterns: impl IntoIterator<Item = S>) -> Result<()> {
        let patterns = patterns
            .into_iter()
            .map(|p| {
                Pattern::new(p.as_ref())
                    .map_err(|err| crate::error::invalid_pattern(p.as_ref(), &err))
            })
            .collect::<Result<Vec<_>>>()?;
        let payload = encode_interest(&patterns)
            .map_err(|err| Error::new(ErrorKind::InvalidTarget(err.to_string())))?;
        let host = self.host();
        host.set_interest(Some(patterns.into()));
        let header = Header::new(Kind::Control { op: OP_INTEREST }, INTEREST_CHANNEL);
        let timeout = self.inner.core.write_timeout();
        let written = host.start_locked(&header, payload, timeout)?;
        host.wait_written(written, timeout)
    }

    /// Asks the host to put this client in `room` (an unlocked control
    /// write): once the host has, [`rooms`](Self::rooms) lists it, and
    /// messages to the room ([`To::Room`]) reach this client. A host that
    /// refuses (its [policy](crate::HostBuilder::client_rooms), its
    /// [limit](crate::HostBuilder::max_rooms_per_client)) answers with an
    /// [`Event::Undelivered`](crate::Event::Undelivered) on the `rooms`
    /// channel. Membership follows the client's name across reconnections;
    /// see [`Host::join`](crate::Host::join).
    ///
    /// ```
    /// # use socketengine::{Client, Host, To};
    /// # use std::time::{Duration, Instant};
    /// # let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// # let addr = host.local_addr().to_string();
    /// let arm = Client::builder().addr(&addr).name("arm").connect()?;
    /// arm.join("motors")?;
    /// # let deadline = Instant::now() + Duration::from_secs(5);
    /// while arm.rooms().is_empty() && Instant::now() < deadline {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(arm.rooms(), ["motors"]);
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `InvalidTarget` for a room name that is empty or over 255 bytes;
    /// `Full`, `NotConnected`, `Closed` as [`write`](Self::write).
    pub fn join(&self, room: &str) -> Result<()> {
        self.room_request(true, room)
    }

    /// Asks the host to take this client out of `room`; as [`join`](Self::join).
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    pub fn leave(&self, room: &str) -> Result<()> {
        self.room_request(false, room)
    }

    /// The rooms this client is in, sorted, as its host last said: after
    /// each join or leave it accepts, each change the host makes, and each
    /// (re)connection. Never blocks.
    pub fn rooms(&self) -> Vec<String> {
        self.inner.core.shared().rooms.mine()
    }

    fn room_request(&self, join: bool, room: &str) -> Result<()> {
        if self.inner.core.is_stopped() {
            return Err(ErrorKind::Closed.into());
        }
        request_room(self.host(), join, room)
    }

    /// Waits until everything queued so far has been handed to the kernel,
    /// images included (and images queued while it waits).
    ///
    /// # Errors
    ///
    /// `TimedOut` after the write timeout; `NotConnected` if the connection closed.
    pub fn flush(&self) -> Result<()> {
        self.inner.core.flush()
    }

    /// Waits until the host has acted on everything this client sent before
    /// the call: stored it, delivered it, or sent its notice about it (an
    /// [`Event::Undelivered`](crate::Event::Undelivered), in the
    /// [events](crate::Inbox::events) by the time this returns). One round
    /// trip to the host's `$sync` service, which every client may ask
    /// whatever its permissions; [`write_confirmed`](Self::write_confirmed)
    /// is a write and a sync that reports the notice as its error.
    ///
    /// # Errors
    ///
    /// As [`clients`](Self::clients).
    ///
    /// # Locking
    ///
    /// As [`clients`](Self::clients).
    pub fn sync(&self) -> Result<()> {
        self.ask(SERVICE_SYNC, Bytes::new()).map(drop)
    }

    /// The host's client list, as the host sees it: every connected client
    /// (this one included) and those recently gone, with their names,
    /// addresses, when they connected and were last heard from, their rooms
    /// and how many writes to them the host gave up. `queued_bytes` and
    /// `images_dropped` are not carried and read 0; the times are the host's
    /// "milliseconds ago" applied to this client's clock.
    ///
    /// # Examples
    ///
    /// ```
    /// # use socketengine::{Client, Host};
    /// # let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// # let addr = host.local_addr().to_string();
    /// let arm = Client::builder().addr(&addr).name("arm").connect()?;
    /// let planner = Client::builder().addr(&addr).name("planner").connect()?;
    /// let names: Vec<String> = planner.clients()?.into_iter().map(|c| c.name).collect();
    /// assert_eq!(names, ["arm", "planner"]);
    /// assert_eq!(planner.lookup("arm")?, Some(arm.id()));
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `NotConnected` at once while the connection is down (or when it drops
    /// before the answer), `Closed`, `TimedOut`, `Full` when the outbox
    /// holds its budget, `Protocol` for an answer that does not decode.
    ///
    /// # Locking
    ///
    /// Sends a request and blocks until the host's reply arrives, for at most
    /// the [write timeout](crate::ClientBuilder::write_timeout).
    pub fn clients(&self) -> Result<Vec<ClientInfo>> {
        let answer = self.ask(SERVICE_CLIENTS, Bytes::new())?;
        let now = Instant::now();
        decode_clients(&answer)?
            .into_iter()
            .map(|entry| client_info(entry, now))
            .collect()
    }

    /// The id of the client connected to the host under `name`, or `None`
    /// if no connected client has it.
    ///
    /// # Errors
    ///
    /// As [`clients`](Self::clients).
    ///
    /// # Locking
    ///
    /// As [`clients`](Self::clients).
    pub fn lookup(&self, name: &str) -> Result<Option<ClientId>> {
        let answer = self.ask(SERVICE_LOOKUP, Bytes::copy_from_slice(name.as_bytes()))?;
        Ok(decode_lookup(&answer)?.map(ClientId))
    }

    /// The host's channels, sorted by name, with the host's counters: what
    /// every client sent it, not only what reached this client.
    ///
    /// # Errors
    ///
    /// As [`clients`](Self::clients).
    ///
    /// # Locking
    ///
    /// As [`clients`](Self::clients).
    pub fn host_channels(&self) -> Result<Vec<ChannelInfo>> {
        let answer = self.ask(SERVICE_CHANNELS, Bytes::new())?;
        Ok(decode_channels(&answer)?
            .into_iter()
            .map(channel_info)
            .collect())
    }

    /// Sends a request on a host service's channel and waits for the answer.
    fn ask(&self, service: &str, payload: Bytes) -> Result<Bytes> {
        let core = &self.inner.core;
        if core.is_stopped() {
            return Err(ErrorKind::Closed.into());
        }
        let requests = &core.shared().requests;
        requests.ask(self.host(), service, payload, core.write_timeout())
    }

    /// Closes the connection and joins the event loop; the host is told first,
    /// with a close frame of reason 0 ("closing"), which its
    /// [`Event::Disconnected`](crate::Event::Disconnected) reports. Writes afterwards fail with
    /// `Closed`; stored messages stay readable. Idempotent; dropping the last
    /// handle does the same.
    ///
    /// # Blocking
    ///
    /// It waits for the event loop to stop, and for the user code running
    /// on the dispatcher thread, if any (a responder, callback, hook or
    /// command handler), up to the [write timeout](crate::ClientBuilder::write_timeout); calls still
    /// queued are dropped unrun. A call that has not returned by then is
    /// left running and its thread is not joined: it ends when the call
    /// returns, so a call that never returns keeps that thread (and what
    /// it holds) for the life of the process. Called from user code on
    /// the dispatcher thread itself, it does not wait for that call.
    pub fn close(&self) {
        self.inner.core.close();
    }
}

/// A client of the host's list, with its times on this client's clock.
fn client_info(entry: ClientEntry, now: Instant) -> Result<ClientInfo> {
    let ago = |ms: u64| now.checked_sub(Duration::from_millis(ms)).unwrap_or(now);
    let addr = entry
        .addr
        .parse()
        .map_err(|_| DecodeError::BadControl("client address"))?;
    Ok(ClientInfo {
        id: ClientId(entry.id),
        name: entry.name,
        addr,
        connected: entry.connected,
        connected_since: ago(entry.since_ms),
        last_seen: ago(entry.seen_ms),
        rooms: entry.rooms,
        queued_bytes: 0,
        dropped: entry.dropped,
        images_dropped: 0,
    })
}

fn channel_info(entry: ChannelEntry) -> ChannelInfo {
    ChannelInfo {
        name: entry.name,
        stats: ChannelStats {
            received: entry.received,
            bytes: entry.bytes,
            dropped: entry.dropped,
            queued: entry.queued as usize,
            capacity: entry.capacity as usize,
        },
    }
}

impl ClientBuilder {
    /// Starts the event loop, which connects and completes the handshake, and
    /// waits for that first attempt. Blocks for at most the
    /// [connect timeout](Self::connect_timeout). A failed first attempt is
    /// returned, not retried, even with [reconnection](Self::reconnect) on;
    /// the loop is stopped and joined before the error is.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Connect`](crate::ErrorKind::Connect) when the host cannot be
    /// reached (refused, unreachable, the TCP connect not done in time) or
    /// closes before its welcome;
    /// [`ErrorKind::HandshakeTimeout`](crate::ErrorKind::HandshakeTimeout) when it
    /// does not answer the hello within the connect timeout;
    /// [`ErrorKind::Protocol`](crate::ErrorKind::Protocol) when it answers with
    /// something other than a welcome (it is not a socketengine host);
    /// [`ErrorKind::NameTaken`](crate::ErrorKind::NameTaken) when another
    /// connected client holds its [name](Self::name);
    /// [`ErrorKind::Refused`](crate::ErrorKind::Refused) when it turns the client
    /// away for another reason: its client slots are full, this address has
    /// its share, its handshake slots were needed for newer connections
    /// (worth trying again), or another protocol version ([`Refusal`](crate::Refusal)).
    pub fn connect(self) -> Result<Client> {
        Client::connect(self)
    }
}

/// Starting without waiting, and the connection's state (for [`Hosts`](crate::Hosts)).
impl Client {
    pub(crate) fn connect(builder: ClientBuilder) -> Result<Client> {
        Client::dial(builder, true)
    }

    /// Where the connection to the host is. Never blocks. While the client
    /// is connecting or reconnecting, [`last_error`](Self::last_error)
    /// says why its last attempt failed.
    ///
    /// ```
    /// # use socketengine::{Client, ConnectionState, Host};
    /// # let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// let client = Client::builder().addr(host.local_addr().to_string()).connect()?;
    /// assert_eq!(client.state(), ConnectionState::Connected);
    /// client.close();
    /// assert_eq!(client.state(), ConnectionState::Closed);
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    pub fn state(&self) -> ConnectionState {
        let host = self.host();
        if self.inner.core.is_stopped() {
            return ConnectionState::Closed;
        }
        if let Some(refusal) = self.inner.core.shared().dial.refused() {
            return ConnectionState::Refused(refusal);
        }
        if host.is_closed() {
            return ConnectionState::Closed;
        }
        match (host.is_connected(), host.id()) {
            (true, _) => ConnectionState::Connected,
            // The first welcome gives the client its id.
            (false, ClientId::HOST) => ConnectionState::Connecting,
            (false, _) => ConnectionState::Reconnecting,
        }
    }

    /// Why the last attempt to reach the host failed (nothing listening,
    /// no answer in time, a refusal such as
    /// [`NameTaken`](crate::ErrorKind::NameTaken) while another connection
    /// holds the name), kept until the client next connects: `None` once
    /// connected, or before any attempt failed. The first attempt of a
    /// client that [connects](ClientBuilder::connect) and waits is its
    /// `connect`'s error instead. Each failure is an
    /// [`Event::Error`](crate::Event::Error) too. Never blocks.
    ///
    /// ```
    /// # use socketengine::{Client, ErrorKind};
    /// # use std::time::{Duration, Instant};
    /// let nowhere = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    /// let client = Client::builder().addr(nowhere.to_string()).start()?;
    /// # let deadline = Instant::now() + Duration::from_secs(5);
    /// # while client.last_error().is_none() && Instant::now() < deadline {
    /// #     std::thread::yield_now();
    /// # }
    /// // Nothing listens there: refused by the system, tried again.
    /// assert!(matches!(client.last_error().unwrap().kind(), ErrorKind::Io(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn last_error(&self) -> Option<Error> {
        self.inner.core.shared().dial.last_error()
    }
}

impl ClientBuilder {
    /// Starts the client without waiting for its host: the event loop
    /// dials at once and, whatever fails (nothing listening, no answer
    /// within the [connect timeout](Self::connect_timeout), a refusal that
    /// may clear: a full host, a name another connection still holds),
    /// tries again with the [reconnection](Self::reconnect) backoff
    /// (reconnection is on for such a client, with the default backoff if
    /// it was turned off) until the host answers; the last failure is
    /// [`Client::last_error`]. A refusal that trying again will not change
    /// (a credential the host does not accept, another protocol version)
    /// stops it for good: [`ConnectionState::Refused`] and an
    /// [`Event::Refused`](crate::Event::Refused). The address is resolved
    /// here, once, and every attempt dials what it resolved to. Returns at
    /// once. Until
    /// the first welcome the client's [`state`](Client::state) is
    /// [`Connecting`](ConnectionState::Connecting), its
    /// [`id`](Client::id) is [`ClientId::HOST`] (the host has not given it
    /// one yet), unlocked writes fail with `NotConnected` and locked ones
    /// wait for the connection within their timeout; each failed attempt
    /// is an [`Event::Error`](crate::Event::Error), each wait an
    /// [`Event::Reconnecting`](crate::Event::Reconnecting). This is how
    /// [`Hosts`](crate::Hosts) starts each of its clients.
    ///
    /// # Examples
    ///
    /// ```
    /// use socketengine::{Client, ConnectionState};
    ///
    /// // Nothing listens there yet: the client keeps trying.
    /// let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    /// let client = Client::builder().addr(format!("127.0.0.1:{port}")).start()?;
    /// assert_eq!(client.state(), ConnectionState::Connecting);
    /// assert!(client.write("pose", "x").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// What fails before any dialing: an address that does not resolve
    /// ([`ErrorKind::Connect`](crate::ErrorKind::Connect)), a name over 255
    /// bytes, TLS settings that do not fit the address.
    pub fn start(self) -> Result<Client> {
        Client::dial(self, false)
    }
}

/// Time: the client's estimate of its host's clock.
impl Client {
    /// This client's estimate of its host's clock (see [`ClockEstimate`]):
    /// from the welcome's exchange, then its pings' (four quick ones after
    /// each welcome, then one per heartbeat). `None` before the first
    /// welcome. Never blocks.
    ///
    /// ```
    /// # use socketengine::{Client, Host};
    /// # let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// let client = Client::builder().addr(host.local_addr().to_string()).connect()?;
    /// let clock = client.clock().unwrap();
    /// println!("host {} ns ahead, ± {:?}", clock.offset_ns(), clock.uncertainty());
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    pub fn clock(&self) -> Option<ClockEstimate> {
        let estimate = self.inner.core.shared().clock.estimate()?;
        Some(ClockEstimate::new(estimate))
    }

    /// The host's clock now, by this client's [estimate](Self::clock),
    /// within its uncertainty: the time base of
    /// [`Message::sent_at`](crate::Message::sent_at) and of the capture
    /// times of images clients send (a client moves its own images'
    /// capture times to the host's clock before they leave). `None`
    /// before the first welcome. Never blocks.
    pub fn host_time(&self) -> Option<SystemTime> {
        let now = self.inner.core.shared().clock.host_now_ns()?;
        Some(crate::clock::from_ns(now))
    }
}

impl Deref for Client {
    type Target = Inbox;

    fn deref(&self) -> &Inbox {
        &self.inner.core
    }
}
