//! The host: listens, accepts clients, stores what they send, and writes to them.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::SystemTime;

use crate::engine::{self, Engine, Role, Shared, bind_listener};
use crate::handle::Core;
use crate::{
    AdmissionStats, ClientId, ClientInfo, ClockEstimate, ErrorKind, HostBuilder, Inbox, Outgoing,
    Result, Target, To, WriteGuard,
};

/// A running host: one event-loop thread serving every client.
///
/// `Host` is a cheap handle (`Clone`, `Send`, `Sync`); the loop stops when
/// [`close`](Self::close) is called or the last handle is dropped, and both join
/// the thread. It dereferences to its [`Inbox`], the reading side it shares
/// with [`Client`](crate::Client): `get`, `get_all`, `subscribe`, `events`...
///
/// Sending takes a target: [`write`](Self::write) goes to every client,
/// [`to`](Self::to) names others (`host.to(id)`, `host.to("planner")`), and
/// [`to(..).request`](Target::request) asks them. Clients' requests go to
/// the responders of [`on_request`](Self::on_request).
///
/// # Examples
///
/// ```
/// use socketengine::{Client, Host};
///
/// let host = Host::builder().addr("127.0.0.1:0").start()?;
/// let client = Client::builder().addr(host.local_addr().to_string()).name("cam").connect()?;
/// let pose = host.subscribe("pose");
/// client.write_lock("pose", "x=1")?;
/// let msg = pose.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
/// assert_eq!((&msg.payload()[..], msg.from()), (&b"x=1"[..], client.id()));
/// assert_eq!(host.clients()[0].name, "cam");
///
/// host.to(client.id()).write_lock("cmd", "stop")?; // one client
/// assert_eq!(host.write("cmd", "go")?, 1); // every client: how many took it
/// # Ok::<(), socketengine::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

#[derive(Debug)]
struct HostInner {
    core: Core,
    local_addr: SocketAddr,
}

impl Host {
    /// A builder with the defaults (`127.0.0.1:8080`).
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    pub(crate) fn start(builder: HostBuilder) -> Result<Host> {
        let mut listener = bind_listener(&builder.addr)?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(builder.config));
        let engine = Engine::spawn("socketengine-host", Arc::clone(&shared), |_, registry| {
            let interest = mio::Interest::READABLE;
            registry.register(&mut listener, crate::engine::LISTENER, interest)?;
            Ok(Role::Host { listener })
        })?;
        let inner = HostInner {
            core: Core::new(shared, engine, None),
            local_addr,
        };
        Ok(Host {
            inner: Arc::new(inner),
        })
    }

    /// The address the host listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Every client seen, connected or recently disconnected, ordered by id.
    pub fn clients(&self) -> Vec<ClientInfo> {
        crate::engine::client_infos(self.inner.core.shared())
    }

    /// How the host's door has been used: connections in the handshake now,
    /// and those turned away so far, by reason (limits on the
    /// [`HostBuilder`]: `max_connections`, `max_handshakes`,
    /// `max_connections_per_addr`, `handshake_timeout`). Never blocks.
    pub fn admission_stats(&self) -> AdmissionStats {
        self.inner.core.shared().admission.stats()
    }

    /// Sends to `to`: a client id, a name, [`To::All`], a list... See [`Target`]
    /// for its `write`, `write_lock` and `lock`.
    ///
    /// ```
    /// # use socketengine::{Client, Host, To};
    /// # let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// let arm = Client::builder().addr(host.local_addr().to_string()).name("arm").connect()?;
    /// host.to(arm.id()).write_lock("cmd", "stop")?;
    /// host.to("arm").write_lock("cmd", "stop")?; // by name
    /// host.to(To::Clients(vec![arm.id()])).write("cmd", "go")?;
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    pub fn to(&self, to: impl Into<To>) -> Target<'_> {
        Target::new(&self.inner.core, to.into())
    }

    /// Queues `payload` on `channel` to every connected client and returns at
    /// once: [`to(To::All)`](Self::to)[`.write`](Target::write). Returns how
    /// many clients it was queued to; a client whose outbox is over its
    /// budget is skipped and counted in its [`ClientInfo::dropped`].
    ///
    /// # Errors
    ///
    /// `InvalidChannel`, `FrameTooLarge` or `Closed`, with the payload handed back.
    pub fn write(&self, channel: &str, payload: impl Outgoing) -> Result<usize> {
        self.to(To::All).write(channel, payload)
    }

    /// Sends `payload` on `channel` to every connected client and returns once
    /// every copy has been handed to the kernel:
    /// [`to(To::All)`](Self::to)[`.write_lock`](Target::write_lock).
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    ///
    /// # Locking
    ///
    /// Blocks for at most the [write timeout](crate::HostBuilder::write_timeout)
    /// per client; a client that stalls is skipped and counted.
    pub fn write_lock(&self, channel: &str, payload: impl Outgoing) -> Result<usize> {
        self.to(To::All).write_lock(channel, payload)
    }

    /// Starts a batch to every connected client; see [`WriteGuard`].
    pub fn lock(&self) -> WriteGuard<'_> {
        self.to(To::All).lock()
    }

    /// Adds `client` to `room` (made when its first member joins), and tells
    /// the client, whose [`Client::rooms`](crate::Client::rooms) follows.
    /// [`to(To::Room(..))`](To::Room) then reaches it, from the host or from
    /// other clients. Joining a room it is in does nothing.
    ///
    /// A client that chose a name is a member by that name: it keeps its
    /// rooms when it reconnects (so does whoever connects under that name
    /// later). One without a name is a member by id, which a reconnection
    /// does not keep (it comes back with a new id).
    ///
    /// ```
    /// # use socketengine::{Client, Host, To};
    /// # let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// let arm = Client::builder().addr(host.local_addr().to_string()).name("arm").connect()?;
    /// host.join(arm.id(), "motors")?;
    /// assert_eq!((host.rooms(), host.members("motors")), (vec!["motors".to_owned()], vec![arm.id()]));
    /// assert_eq!(host.to(To::Room("motors".into())).write_lock("cmd", "stop")?, 1);
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `UnknownClient` for an id the host does not know (connected or
    /// recently disconnected); `InvalidTarget` for a room name that is empty
    /// or over 255 bytes; `RoomLimit` when the client is in
    /// [`max_rooms_per_client`](HostBuilder::max_rooms_per_client) rooms already.
    pub fn join(&self, client: ClientId, room: &str) -> Result<()> {
        engine::join(self.inner.core.shared(), client, room)
    }

    /// Takes `client` out of `room`, and tells the client; a room whose last
    /// member leaves is gone. Leaving a room it is not in does nothing.
    ///
    /// # Errors
    ///
    /// `UnknownClient`, `InvalidTarget`, as [`join`](Self::join).
    pub fn leave(&self, client: ClientId, room: &str) -> Result<()> {
        engine::leave(self.inner.core.shared(), client, room)
    }

    /// Every room with a member, sorted.
    pub fn rooms(&self) -> Vec<String> {
        self.inner.core.shared().rooms.names()
    }

    /// The members of `room` by id, connected or recently disconnected,
    /// ordered; empty for a room that does not exist.
    pub fn members(&self, room: &str) -> Vec<ClientId> {
        engine::members(self.inner.core.shared(), room)
    }

    crate::send::responder_methods! {
        /// Makes `f` the responder on `channel`: it answers the requests that
        /// clients send this host on that channel
        /// ([`client.request`](crate::Client::request)). `Ok` is the answer (any
        /// [`Outgoing`] byte payload); `Err` is text the requester gets as
        /// [`ErrorKind::Remote`](crate::ErrorKind::Remote). One responder per
        /// channel: registering again replaces it;
        /// [`remove_responder`](Self::remove_responder) removes it, and
        /// requests on a channel with none are answered
        /// [`NoResponder`](crate::ErrorKind::NoResponder). A client's
        /// [permissions](crate::Permissions) must allow it to request the
        /// channel (else `Forbidden`).
        ///
        /// Responders run on this handle's dispatcher thread (started with the
        /// first), one at a time in the order the requests came, never on the
        /// event loop: a slow one delays only the requests queued behind it,
        /// and the connections keep being read, written and pinged. Up to
        /// [`responder_queue`](HostBuilder::responder_queue) requests wait,
        /// their payloads charged to the
        /// [memory limit](HostBuilder::memory_limit) and within
        /// [`responder_queue_bytes`](HostBuilder::responder_queue_bytes)
        /// and, per client,
        /// [`responder_queue_per_client`](HostBuilder::responder_queue_per_client);
        /// beyond any of them a request is answered at once with
        /// [`Busy`](crate::ErrorKind::Busy) (counted in
        /// [`request_stats`](Self::request_stats)). A request whose
        /// requester's connection closed before its turn is not run, and an
        /// answer goes back only on the connection its request came on. A responder that panics is
        /// caught: the requester gets `Remote` with the panic's message, an
        /// [`Event::CallbackPanicked`](crate::Event::CallbackPanicked) reports
        /// it (and the process's panic hook prints it, by default on standard
        /// error), and the dispatcher goes on. A responder that itself waits for
        /// a request this handle's responders would answer waits until that
        /// request's timeout (they run one at a time). An answer too large for a frame is
        /// answered [`ReplyTooLarge`](crate::ErrorKind::ReplyTooLarge) and
        /// reported in an [`Event::ReplyFailed`](crate::Event::ReplyFailed).
        /// [`close`](Self::close) waits for a responder running at that moment
        /// for up to the [write timeout](HostBuilder::write_timeout), and lets
        /// go of the responders. A responder that holds a clone of its own
        /// handle keeps that handle alive: stop it with `close`, as dropping
        /// the other handles does not.
        ///
        /// ```
        /// # use socketengine::{Client, Host};
        /// # use std::time::Duration;
        /// let host = Host::builder().addr("127.0.0.1:0").start()?;
        /// host.on_request("add", |req| {
        ///     let text = std::str::from_utf8(req.payload()).map_err(|e| e.to_string())?;
        ///     let (a, b) = text.split_once('+').ok_or("expected a+b")?;
        ///     let number = |s: &str| s.parse::<i64>().map_err(|e| e.to_string());
        ///     Ok((number(a)? + number(b)?).to_string())
        /// })?;
        /// let client = Client::builder().addr(host.local_addr().to_string()).connect()?;
        /// let reply = client.request("add", "2+3", Duration::from_secs(5))?;
        /// assert_eq!(&reply.payload[..], b"5");
        /// let err = client.request("add", "two", Duration::from_secs(5)).unwrap_err();
        /// assert!(matches!(err.kind(), socketengine::ErrorKind::Remote(why) if why == "expected a+b"));
        /// # Ok::<(), socketengine::Error>(())
        /// ```
        ///
        /// # Errors
        ///
        /// `InvalidChannel` (empty, a pattern, or a `$` channel: those are the
        /// host's services), `Closed`, `Io` when the dispatcher thread cannot
        /// be started.
    }

    crate::on::callback_methods! {}

    /// Waits until everything queued so far to every client has been handed to
    /// the kernel.
    ///
    /// # Errors
    ///
    /// `TimedOut` when a client does not catch up within the write timeout.
    pub fn flush(&self) -> Result<()> {
        self.inner.core.flush()
    }

    /// Disconnects one client, telling it why: a close frame of reason 1
    /// ("kicked") carrying `reason` (cut to 1 KiB), then the connection closes.
    /// The client's [`Event::Disconnected`](crate::Event::Disconnected) and this
    /// host's carry the reason; the client does not redial unless built with
    /// [`redial_after_kick`](crate::ClientBuilder::redial_after_kick). Returns
    /// once the event loop has been asked; the events follow.
    ///
    /// ```
    /// # use socketengine::{Client, CloseCode, Event, Host};
    /// # use std::time::Duration;
    /// let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// let arm = Client::builder().addr(host.local_addr().to_string()).name("arm").connect()?;
    /// let events = arm.events();
    /// host.disconnect(arm.id(), "maintenance")?;
    /// let reason = loop {
    ///     match events.recv_timeout(Duration::from_secs(5)).expect("an event") {
    ///         Event::Disconnected { reason, .. } => break reason.expect("a reason"),
    ///         _ => {}
    ///     }
    /// };
    /// assert_eq!((reason.code, reason.message.as_str()), (CloseCode::Kicked, "maintenance"));
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnknownClient`] when no client with this id is connected;
    /// [`ErrorKind::Closed`] after [`close`](Self::close).
    pub fn disconnect(&self, client: ClientId, reason: impl Into<String>) -> Result<()> {
        let core = &self.inner.core;
        if core.is_stopped() {
            return Err(ErrorKind::Closed.into());
        }
        if core.shared().registry.get(client).is_none() {
            return Err(ErrorKind::UnknownClient(client).into());
        }
        core.disconnect(client, reason.into());
        Ok(())
    }

    /// Stops the host: tells every client (a close frame of reason 3, "host
    /// shutting down"), closes every connection and joins the event loop. Writes
    /// afterwards fail with `Closed`; stored messages stay readable. Idempotent;
    /// dropping the last handle does the same.
    ///
    /// # Blocking
    ///
    /// It waits for the event loop to stop, and for the user code running
    /// on the dispatcher thread, if any (a responder, callback, hook or
    /// command handler), up to the [write timeout](HostBuilder::write_timeout); calls still
    /// queued are dropped unrun. A call that has not returned by then is
    /// left running and its thread is not joined: it ends when the call
    /// returns, so a call that never returns keeps that thread (and what
    /// it holds) for the life of the process. Called from user code on
    /// the dispatcher thread itself, it does not wait for that call.
    pub fn close(&self) {
        self.inner.core.close();
    }
}

/// Time: a host's clock is the one its clients' estimates aim at.
impl Host {
    /// The host's estimate of its own clock: exact (offset 0, uncertainty
    /// 0), so code written for [`Client::clock`](crate::Client::clock)
    /// works on either handle. Never blocks.
    pub fn clock(&self) -> ClockEstimate {
        ClockEstimate::exact()
    }

    /// The host's clock now: the time base of every
    /// [`Message::sent_at`](crate::Message::sent_at) and image capture
    /// time its clients send. Never blocks.
    pub fn host_time(&self) -> SystemTime {
        crate::clock::from_ns(self.inner.core.shared().clock.now_ns())
    }
}

impl Deref for Host {
    type Target = Inbox;

    fn deref(&self) -> &Inbox {
        &self.inner.core
    }
}

impl HostBuilder {
    /// Binds the address and starts the event loop.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AddrInUse`](crate::ErrorKind::AddrInUse) when the address is
    /// taken; [`ErrorKind::Io`](crate::ErrorKind::Io) when it cannot be resolved or bound.
    pub fn start(self) -> Result<Host> {
        Host::start(self)
    }
}
