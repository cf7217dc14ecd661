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
/// [`to`](Self::to) names others (`host.to(id)`, `host.to("planner")`).
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
