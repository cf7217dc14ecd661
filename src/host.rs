//! The host: listens, accepts clients, stores what they send, and writes to them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::Receiver;

use crate::engine::{Engine, Peer, Role, Shared, bind_listener};
use crate::error::check_channel;
use crate::protocol::{Header, Kind};
use crate::readers::store_readers;
use crate::{
    ChannelStats, ClientId, ClientInfo, Error, ErrorKind, Event, HostBuilder, Image, ImageStats,
    Message, Result, Subscription,
};

/// A running host: one event-loop thread serving every client.
///
/// `Host` is a cheap handle (`Clone`, `Send`, `Sync`); the loop stops when
/// [`close`](Self::close) is called or the last handle is dropped, and both join
/// the thread.
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
/// # Ok::<(), socketengine::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

#[derive(Debug)]
struct HostInner {
    shared: Arc<Shared>,
    engine: Engine,
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
            shared,
            engine,
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
        self.inner.shared.registry.infos()
    }

    /// Checks a write before any peer sees it: open host, valid channel, size.
    fn check(&self, channel: &str, payload: &Bytes) -> Result<()> {
        let hand_back = |kind: ErrorKind| Err(Error::new(kind).with_payload(payload.clone()));
        if self.inner.engine.is_stopped() {
            return hand_back(ErrorKind::Closed);
        }
        check_channel(channel).map_err(|e| e.with_payload(payload.clone()))?;
        let len = Header::data(channel).body_prefix_len() + payload.len();
        let max = self.inner.shared.config.max_frame;
        match len > max {
            true => hand_back(ErrorKind::FrameTooLarge { len, max }),
            false => Ok(()),
        }
    }

    fn peer(&self, client: ClientId, payload: &Bytes) -> Result<Arc<Peer>> {
        let peer = self.inner.shared.registry.get(client);
        peer.ok_or_else(|| {
            Error::new(ErrorKind::UnknownClient(client)).with_payload(payload.clone())
        })
    }

    /// Queues `payload` on `channel` to every connected client and returns at
    /// once; the payload buffer is shared, not copied per client. Returns how
    /// many clients it was queued to: a client whose outbox is over its budget is
    /// skipped, and the skip is counted in its [`ClientInfo::dropped`].
    ///
    /// # Errors
    ///
    /// `InvalidChannel`, `FrameTooLarge` or `Closed`, with the payload handed back.
    pub fn write_all(&self, channel: &str, payload: impl Into<Bytes>) -> Result<usize> {
        let payload = payload.into();
        self.check(channel, &payload)?;
        let header = Header::data(channel);
        let mut queued = 0;
        self.inner.shared.registry.for_each_connected(|peer| {
            // A full or closing peer is skipped; `queue` counts the skip.
            if peer.queue(&header, payload.clone()).is_ok() {
                queued += 1;
            }
        });
        Ok(queued)
    }

    /// Sends `payload` on `channel` to every connected client and returns once
    /// every copy has been handed to the kernel. Returns how many clients
    /// received it: a client that cannot take the frame within the
    /// [write timeout](crate::HostBuilder::write_timeout) (its outbox stays over
    /// budget, or the kernel does not take the bytes) is skipped, and the skip
    /// is counted in its [`ClientInfo::dropped`]; one stalled client never keeps
    /// the frame from the others.
    ///
    /// # Locking
    ///
    /// Blocks until each client's frame is written, in order with everything
    /// queued to that client before; at most the write timeout per client.
    ///
    /// # Errors
    ///
    /// `InvalidChannel`, `FrameTooLarge` or `Closed`, with the payload handed back.
    pub fn write_lock_all(&self, channel: &str, payload: impl Into<Bytes>) -> Result<usize> {
        let payload = payload.into();
        self.check(channel, &payload)?;
        let header = Header::data(channel);
        let timeout = self.inner.shared.config.write_timeout;
        Ok(self.lock_all(
            |peer| peer.start_locked(&header, payload.clone(), timeout),
            |peer, target| peer.wait_written(target, timeout),
        ))
    }

    /// Queues `payload` on `channel` to one client and returns at once.
    ///
    /// # Errors
    ///
    /// `Full` when the client's outbox is over its budget, `UnknownClient` when it
    /// is not connected, and the errors of [`write_all`](Self::write_all); each
    /// hands the payload back ([`Error::into_payload`]).
    pub fn write_to(
        &self,
        client: ClientId,
        channel: &str,
        payload: impl Into<Bytes>,
    ) -> Result<()> {
        let payload = payload.into();
        self.check(channel, &payload)?;
        self.peer(client, &payload)?
            .queue(&Header::data(channel), payload)
    }

    /// Sends `payload` on `channel` to one client and returns once it has been
    /// handed to the kernel.
    ///
    /// # Locking
    ///
    /// Blocks until the frame is written, in order with everything queued to that
    /// client before, for at most the [write timeout](crate::HostBuilder::write_timeout).
    ///
    /// # Errors
    ///
    /// As [`write_to`](Self::write_to) (except `Full`), and `TimedOut`.
    pub fn write_lock_to(
        &self,
        client: ClientId,
        channel: &str,
        payload: impl Into<Bytes>,
    ) -> Result<()> {
        let payload = payload.into();
        self.check(channel, &payload)?;
        let peer = self.peer(client, &payload)?;
        let timeout = self.inner.shared.config.write_timeout;
        let target = peer.start_locked(&Header::data(channel), payload, timeout)?;
        peer.wait_written(target, timeout)
    }

    /// Waits until everything queued so far to every client has been handed to
    /// the kernel.
    ///
    /// # Errors
    ///
    /// `TimedOut` when a client does not catch up within the write timeout.
    pub fn flush(&self) -> Result<()> {
        let timeout = self.inner.shared.config.write_timeout;
        for peer in self.inner.shared.registry.connected() {
            match peer.wait_flushed(timeout) {
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut(_)) => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Queues `image` on `channel` to every connected client and returns at
    /// once, never blocking. The pixels are shared by every client's queue, not
    /// copied.
    ///
    /// Images are conflated per client and channel: if the previous image to a
    /// client has not started going out, this one replaces it (counted in
    /// [`ImageStats::dropped`] and [`ClientInfo::images_dropped`]); so a slow
    /// client gets the newest image, never a backlog. Large images go out in
    /// [chunks](crate::HostBuilder::image_chunk), with other frames to the same
    /// client going out between them and first. Returns how many clients it was
    /// queued to.
    ///
    /// # Errors
    ///
    /// `InvalidChannel`, `FrameTooLarge` or `Closed`, with the pixels handed back.
    pub fn write_image_all(&self, channel: &str, image: &Image) -> Result<usize> {
        let payload = image.data().clone();
        self.check(channel, &payload)?;
        let header = Header::new(Kind::Image(image.meta()), channel);
        let mut queued = 0;
        self.inner.shared.registry.for_each_connected(|peer| {
            if peer.queue_image(&header, payload.clone()).is_ok() {
                queued += 1;
            }
        });
        Ok(queued)
    }

    /// Sends `image` on `channel` to every connected client and returns once
    /// every copy has been handed to the kernel: the back-pressure variant of
    /// [`write_image_all`](Self::write_image_all). A locked image is never
    /// replaced by a newer one; it waits for its turn instead. A client that
    /// cannot take it within the [write timeout](crate::HostBuilder::write_timeout)
    /// is skipped and counted in [`ClientInfo::dropped`]. Returns how many
    /// clients received it.
    ///
    /// # Locking
    ///
    /// Blocks for at most the write timeout per client.
    ///
    /// # Errors
    ///
    /// As [`write_image_all`](Self::write_image_all).
    pub fn write_image_lock_all(&self, channel: &str, image: &Image) -> Result<usize> {
        let payload = image.data().clone();
        self.check(channel, &payload)?;
        let header = Header::new(Kind::Image(image.meta()), channel);
        let timeout = self.inner.shared.config.write_timeout;
        Ok(self.lock_all(
            |peer| peer.start_image_locked(&header, payload.clone(), timeout),
            |peer, started| peer.wait_image(started, timeout),
        ))
    }

    /// A locked broadcast: `start` on every connected peer, then `wait` on
    /// each that started; returns how many finished. A peer that times out
    /// either way is counted in its `dropped`; one that closes meanwhile is
    /// skipped.
    fn lock_all<T>(
        &self,
        start: impl Fn(&Peer) -> Result<T>,
        wait: impl Fn(&Peer, T) -> Result<()>,
    ) -> usize {
        let timed_out = |e: &Error| matches!(e.kind(), ErrorKind::TimedOut(_));
        let peers = self.inner.shared.registry.connected();
        let mut started = Vec::with_capacity(peers.len());
        for peer in &peers {
            match start(peer) {
                Ok(token) => started.push((peer, token)),
                Err(e) if timed_out(&e) => peer.count_drop(),
                Err(_) => {}
            }
        }
        let mut delivered = 0;
        for (peer, token) in started {
            match wait(peer, token) {
                Ok(()) => delivered += 1,
                Err(e) if timed_out(&e) => peer.count_drop(),
                Err(_) => {}
            }
        }
        delivered
    }

    /// Queues `image` on `channel` to one client and returns at once, conflated
    /// and chunked as with [`write_image_all`](Self::write_image_all).
    ///
    /// # Errors
    ///
    /// `UnknownClient` when it is not connected, and the errors of
    /// `write_image_all`; each hands the pixels back.
    pub fn write_image_to(&self, client: ClientId, channel: &str, image: &Image) -> Result<()> {
        let payload = image.data().clone();
        self.check(channel, &payload)?;
        let header = Header::new(Kind::Image(image.meta()), channel);
        self.peer(client, &payload)?.queue_image(&header, payload)
    }

    /// Image counters of `channel`: images sent to and dropped for every client
    /// seen (connected or recently disconnected), images received from all.
    pub fn image_stats(&self, channel: &str) -> ImageStats {
        let (received, skipped) = self.inner.shared.store.image_counts(channel);
        let mut stats = ImageStats {
            received,
            skipped,
            ..ImageStats::default()
        };
        for peer in self.inner.shared.registry.peers() {
            let lane = peer.image_stats(channel);
            stats.sent += lane.sent;
            stats.dropped += lane.dropped;
        }
        stats
    }

    store_readers!();

    /// Stops the host: closes every connection and joins the event loop. Writes
    /// afterwards fail with `Closed`; stored messages stay readable. Idempotent;
    /// dropping the last handle does the same.
    pub fn close(&self) {
        self.inner.engine.shutdown();
    }
}
