//! The client: one connection to a host, with the same store as the host.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::Receiver;

use crate::engine::{Dial, Engine, Peer, Role, Shared, Target, resolve};
use crate::error::check_channel;
use crate::protocol::{DecodeError, Header, Kind, Outbox};
use crate::readers::store_readers;
use crate::{
    ChannelStats, ClientBuilder, ClientId, Error, ErrorKind, Event, Image, ImageStats, Message,
    Result, Subscription,
};

/// A client connected to a host.
///
/// `Client` is a cheap handle (`Clone`, `Send`, `Sync`); the connection closes
/// when [`close`](Self::close) is called or the last handle is dropped, and both
/// join the event-loop thread.
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
/// host.write_lock_to(client.id(), "cmd", "stop")?;
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
    shared: Arc<Shared>,
    engine: Engine,
    /// The connection to the host; its outbox takes every write. The same peer
    /// serves every reconnection, and holds the client's current id.
    host: Arc<Peer>,
    name: String,
}

impl Client {
    /// A builder with the defaults (host `127.0.0.1:8080`, no name).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    pub(crate) fn connect(builder: ClientBuilder) -> Result<Client> {
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
        let target = Target {
            addr: resolve(&builder.addr).map_err(connect_err)?,
            name: builder.name.clone(),
            timeout: builder.connect_timeout,
            reconnect: builder.reconnect,
        };
        let shared = Arc::new(Shared::new(builder.config));
        let (first_tx, first) = crossbeam_channel::bounded(1);
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
        let opened = first
            .recv()
            .unwrap_or_else(|_| Err(ErrorKind::Closed.into()));
        if let Err(err) = opened {
            engine.shutdown();
            return Err(match err.into_kind() {
                ErrorKind::Io(source) => connect_err(source),
                kind => Error::new(kind),
            });
        }
        let inner = ClientInner {
            shared,
            engine,
            name: host.name().to_owned(),
            host,
        };
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    /// The id the host gave this client.
    pub fn id(&self) -> ClientId {
        self.inner.host.id()
    }

    /// The name the host lists this client under.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The host's address.
    pub fn host_addr(&self) -> SocketAddr {
        self.inner.host.addr()
    }

    /// Whether the connection to the host is open.
    pub fn is_connected(&self) -> bool {
        self.inner.host.is_connected()
    }

    fn check(&self, channel: &str, payload: &Bytes) -> Result<()> {
        if self.inner.engine.is_stopped() {
            return Err(Error::new(ErrorKind::Closed).with_payload(payload.clone()));
        }
        check_channel(channel).map_err(|e| e.with_payload(payload.clone()))
    }

    /// Queues `payload` on `channel` to the host and returns at once (an unlocked
    /// write). Small frames written in a burst are coalesced into one system call.
    ///
    /// # Errors
    ///
    /// `Full` when the outbox already holds its
    /// [budget](crate::ClientBuilder::outbox_budget) (back off, or
    /// [`flush`](Self::flush), and retry), `NotConnected`, `Closed`,
    /// `InvalidChannel` or `FrameTooLarge`. Each hands the payload back
    /// ([`Error::into_payload`]); nothing is dropped silently.
    pub fn write(&self, channel: &str, payload: impl Into<Bytes>) -> Result<()> {
        let payload = payload.into();
        self.check(channel, &payload)?;
        self.inner.host.queue(&Header::data(channel), payload)
    }

    /// Sends `payload` on `channel` and returns once it has been handed to the
    /// kernel. On an idle connection the caller's thread writes it directly, so a
    /// locked write costs one system call and no thread hop.
    ///
    /// # Locking
    ///
    /// Blocks until the frame is written, in order with every write made before
    /// it, for at most the [write timeout](crate::ClientBuilder::write_timeout).
    /// Where an unlocked write would fail with `Full`, a locked write waits for
    /// room instead, so the outbox never grows past its budget.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write) (except `Full`), and `TimedOut`: if it timed out
    /// waiting for room, nothing was queued and the payload is handed back; if
    /// it timed out waiting for the kernel, the frame stays queued and is still
    /// sent.
    pub fn write_lock(&self, channel: &str, payload: impl Into<Bytes>) -> Result<()> {
        let payload = payload.into();
        self.check(channel, &payload)?;
        let host = &self.inner.host;
        let timeout = self.inner.shared.config.write_timeout;
        let target = host.start_locked(&Header::data(channel), payload, timeout)?;
        host.wait_written(target, timeout)
    }

    /// Queues `image` on `channel` to the host and returns at once, never
    /// blocking: the camera's write. The pixels are not copied.
    ///
    /// Images are conflated per channel: if the previous image has not started
    /// going out, this one replaces it (counted in [`ImageStats::dropped`]), so
    /// a slow link carries the newest image, never a backlog. Large images go
    /// out in [chunks](crate::ClientBuilder::image_chunk), with other frames
    /// going out between them and first, so a control message is never stuck
    /// behind a frame.
    ///
    /// # Errors
    ///
    /// `NotConnected`, `Closed`, `InvalidChannel` or `FrameTooLarge`, with the
    /// pixels handed back. (With chunking off, also `Full`, as [`write`](Self::write).)
    pub fn write_image(&self, channel: &str, image: &Image) -> Result<()> {
        let payload = image.data().clone();
        self.check(channel, &payload)?;
        let header = Header::new(Kind::Image(image.meta()), channel);
        self.inner.host.queue_image(&header, payload)
    }

    /// Sends `image` on `channel` and returns once it has been handed to the
    /// kernel: the back-pressure variant of [`write_image`](Self::write_image).
    /// A locked image is never replaced by a newer one; the call waits for its
    /// turn instead.
    ///
    /// # Locking
    ///
    /// Blocks for at most the [write timeout](crate::ClientBuilder::write_timeout).
    ///
    /// # Errors
    ///
    /// As [`write_image`](Self::write_image), and `TimedOut`.
    pub fn write_image_lock(&self, channel: &str, image: &Image) -> Result<()> {
        let payload = image.data().clone();
        self.check(channel, &payload)?;
        let header = Header::new(Kind::Image(image.meta()), channel);
        let host = &self.inner.host;
        let timeout = self.inner.shared.config.write_timeout;
        let started = host.start_image_locked(&header, payload, timeout)?;
        crate::host::wait_image(host, started, timeout)
    }

    /// Image counters of `channel`: images sent to and dropped for the host,
    /// images received from it.
    pub fn image_stats(&self, channel: &str) -> ImageStats {
        let (received, skipped) = self.inner.shared.store.image_counts(channel);
        let lane = self.inner.host.image_stats(channel);
        ImageStats {
            sent: lane.sent,
            dropped: lane.dropped,
            received,
            skipped,
        }
    }

    /// Starts a batch of writes that go out together, in order, with no other
    /// write between them; see [`WriteGuard`].
    pub fn lock(&self) -> WriteGuard<'_> {
        WriteGuard {
            client: self,
            batch: Outbox::new(),
        }
    }

    /// Waits until everything queued so far has been handed to the kernel,
    /// images included (and images queued while it waits).
    ///
    /// # Errors
    ///
    /// `TimedOut` after the write timeout; `NotConnected` if the connection closed.
    pub fn flush(&self) -> Result<()> {
        let host = &self.inner.host;
        host.wait_flushed(self.inner.shared.config.write_timeout)
    }

    store_readers!();

    /// Closes the connection and joins the event loop. Writes afterwards fail with
    /// `Closed`; stored messages stay readable. Idempotent; dropping the last
    /// handle does the same.
    pub fn close(&self) {
        self.inner.engine.shutdown();
    }
}

/// A batch of writes from [`Client::lock`], sent as one unit.
///
/// Frames written to the guard are encoded into a private buffer; no lock is held
/// meanwhile. [`finish`](Self::finish) appends the whole batch to the connection
/// at once (so no other thread's frame lands inside it) and waits until it has
/// been handed to the kernel. Dropping an unfinished guard finishes it and
/// ignores the result.
///
/// # Examples
///
/// ```
/// # use socketengine::{Client, Host};
/// # let host = Host::builder().addr("127.0.0.1:0").start()?;
/// # let client = Client::builder().addr(host.local_addr().to_string()).connect()?;
/// let mut batch = client.lock();
/// batch.write("arm", "lift")?;
/// batch.write("gripper", "open")?;
/// batch.finish()?;
/// # Ok::<(), socketengine::Error>(())
/// ```
///
/// # Locking
///
/// `finish` blocks like [`Client::write_lock`].
#[derive(Debug)]
#[must_use = "a batch is sent when finished or dropped"]
pub struct WriteGuard<'a> {
    client: &'a Client,
    batch: Outbox,
}

impl WriteGuard<'_> {
    /// Adds a frame to the batch.
    ///
    /// # Errors
    ///
    /// `InvalidChannel` or `FrameTooLarge`, with the payload handed back.
    pub fn write(&mut self, channel: &str, payload: impl Into<Bytes>) -> Result<()> {
        let payload = payload.into();
        self.client.check(channel, &payload)?;
        let max = self.client.inner.shared.config.max_frame;
        let header = Header::data(channel);
        let len = header.body_prefix_len() + payload.len();
        if len > max {
            return Err(Error::new(ErrorKind::FrameTooLarge { len, max }).with_payload(payload));
        }
        self.batch.push_valid(&header, payload);
        Ok(())
    }

    /// Sends the batch and waits until it has been handed to the kernel.
    ///
    /// # Errors
    ///
    /// `NotConnected`, `Closed` or `TimedOut`.
    pub fn finish(mut self) -> Result<()> {
        self.send()
    }

    fn send(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let inner = &self.client.inner;
        let target = inner.host.queue_batch(&mut self.batch)?;
        inner
            .host
            .wait_written(target, inner.shared.config.write_timeout)
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        let _ = self.send();
    }
}
