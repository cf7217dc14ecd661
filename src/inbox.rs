//! The reading side, one type for both handles: what arrived, per channel,
//! and the connection events.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use crate::engine::Shared;
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::{ChannelStats, Event, Image, ImageStats, Message, SharedMemoryStats, Subscription};

/// What a handle has received: per channel the latest message, a bounded
/// queue, the latest per sender, subscriptions, and connection events.
///
/// [`Host`](crate::Host) and [`Client`](crate::Client) both dereference to
/// their `Inbox`, so these are called on the handle: `host.get("pose")`,
/// `client.get_all("cmd")`. Code that only reads can take an `&Inbox` and
/// serve either.
///
/// Nothing here blocks on the network: `get`, `get_all`, `get_by_client` and
/// `get_image` take the channel's lock for a clone or a swap; only
/// `get_all_timeout`, a [`Subscription`]'s `recv` and [`Events::recv`] wait,
/// and they say for how long.
pub struct Inbox {
    /// Shared with the event loop, which stores into it.
    shared: Arc<Shared>,
    /// Whether this is a client's (its host's clock is an estimate).
    client: bool,
}

impl Inbox {
    pub(crate) fn new(shared: Arc<Shared>, client: bool) -> Inbox {
        Inbox { shared, client }
    }

    /// The host's clock now (a client's estimate of it; `None` before one).
    fn host_now_ns(&self) -> Option<u64> {
        match self.client {
            true => self.shared.clock.host_now_ns(),
            false => Some(self.shared.clock.now_ns()),
        }
    }

    /// Records the ages of the images among `messages`, got now (their
    /// capture times are on the host's clock), each on its own channel.
    fn record_ages(&self, messages: &[Message]) {
        let mut images = messages
            .iter()
            .filter(|m| m.image_meta().is_some())
            .peekable();
        if images.peek().is_none() {
            return;
        }
        let Some(now) = self.host_now_ns() else {
            return;
        };
        for message in images {
            let captured = message.image_meta().map_or(now, |m| m.timestamp_ns);
            let age = now.saturating_sub(captured);
            self.shared.store.record_ages(message.channel(), [age]);
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The latest message on `channel`, without consuming it: calling again
    /// returns the same message until a newer one arrives. `None` if nothing
    /// has arrived on it yet.
    pub fn get(&self, channel: &str) -> Option<Message> {
        self.shared.store.get(channel)
    }

    /// The newest image received whole on `channel`, without consuming it
    /// (as [`get`](Self::get)). `None` if no image has arrived on it. A torn
    /// image is never returned: an image is stored only once its last byte
    /// is in. Its pixels point into the buffer the socket read them into.
    pub fn get_image(&self, channel: &str) -> Option<Image> {
        let image = self.shared.store.get_image(channel)?;
        if let Some(now) = self.host_now_ns() {
            let age = now.saturating_sub(image.timestamp_ns());
            self.shared.store.record_ages(channel, [age]);
        }
        Some(image)
    }

    /// Every message queued on `channel` since the last call, oldest first;
    /// afterwards the queue is empty. `channel` may be a pattern (`arm/*`,
    /// `arm/**`: see [`subscribe`](Self::subscribe)): then every matching
    /// channel's queue, channel by channel in name order. On an image channel these are the
    /// images in order ([`Message::image`]). The queue holds at most the
    /// channel's [capacity](crate::HostBuilder::queue_capacity); older
    /// messages were dropped and counted in [`ChannelStats::dropped`].
    pub fn get_all(&self, channel: &str) -> Vec<Message> {
        let messages = self.shared.store.get_all(channel);
        self.record_ages(&messages);
        messages
    }

    /// As [`get_all`](Self::get_all), but when nothing is queued waits up to
    /// `timeout` for the next batch instead of returning at once; returns an
    /// empty `Vec` if none arrives, or at once if this handle is closed. For
    /// a consumer that wants every message without spinning.
    pub fn get_all_timeout(&self, channel: &str, timeout: Duration) -> Vec<Message> {
        let messages = self.shared.store.get_all_timeout(channel, timeout);
        self.record_ages(&messages);
        messages
    }

    /// The last messages stored on `channel`, oldest first, without consuming
    /// them: the channel's history, kept apart from the queue, so neither this
    /// nor [`get_all`](Self::get_all) disturbs the other. Empty unless a
    /// history depth is configured
    /// ([`HostBuilder::history_depth`](crate::HostBuilder::history_depth),
    /// [`channel_history`](crate::HostBuilder::channel_history), and the same
    /// on [`ClientBuilder`](crate::ClientBuilder)). The messages share their
    /// payloads with what `get_all` returns; on an image channel they are
    /// images ([`Message::image`]). On a host, its own writes on a
    /// [latched](crate::HostBuilder::latched) channel are part of it.
    pub fn history(&self, channel: &str) -> Vec<Message> {
        self.shared.store.history(channel)
    }

    /// The latest message on `channel` from each sender, ordered by sender id.
    pub fn get_by_client(&self, channel: &str) -> Vec<Message> {
        self.shared.store.get_by_client(channel)
    }

    /// A [`Subscription`]: every message arriving on `channel` from now
    /// on, for a thread that prefers to block (`recv`, `recv_timeout`).
    /// It buffers as many messages as the channel's queue capacity (at
    /// least one); when it is full, further messages skip it and are
    /// counted as dropped. Dropping it unsubscribes; closing this handle
    /// ends it.
    ///
    /// `channel` may be a pattern over hierarchical names, as Zenoh's key
    /// expressions: a `*` segment matches one segment (`arm/*`: `arm/left`,
    /// not `arm/left/joint3`), a `**` segment any number, none included
    /// (`arm/**`: `arm`, `arm/left/joint3`). Such a subscription takes every
    /// matching channel's messages, on channels that exist now and those to
    /// come; it buffers the default queue capacity and, fed by many channels,
    /// waits on its buffer rather than on one channel's signal. (Names with a
    /// `*` or `**` segment are patterns, never channels: writes to them are
    /// refused with `InvalidChannel`.)
    pub fn subscribe(&self, channel: &str) -> Subscription {
        self.shared.store.subscribe(channel)
    }

    /// Counters of `channel`, or `None` if nothing has arrived on it.
    pub fn channel_stats(&self, channel: &str) -> Option<ChannelStats> {
        self.shared.store.stats(channel)
    }

    /// Bytes peers make this handle hold now, against its
    /// [memory limit](crate::HostBuilder::memory_limit): what the channels
    /// hold (queues, latest values, history, each sender's latest), images
    /// and large frames being received, and what is queued to peers (a
    /// frame queued to several clients once per client; an image relayed to
    /// several once, its buffer being shared). An upper bound of the memory
    /// they take.
    pub fn memory_used(&self) -> usize {
        self.shared.memory.used()
    }

    /// Names of the channels that have received messages or subscribers, sorted.
    pub fn channels(&self) -> Vec<String> {
        self.shared.store.channels()
    }

    /// Image counters of `channel`: images sent and dropped (summed over
    /// every connection, connected or recently disconnected), images
    /// received, skipped and dropped incomplete.
    pub fn image_stats(&self, channel: &str) -> ImageStats {
        let (received, skipped) = self.shared.store.image_counts(channel);
        let ages = self.shared.store.age_percentiles(channel);
        let mut stats = ImageStats {
            received,
            skipped,
            age_p50: ages.map(|(p50, _)| p50),
            age_p99: ages.map(|(_, p99)| p99),
            incomplete: self.shared.incomplete.of(channel),
            ..ImageStats::default()
        };
        for peer in self.shared.registry.peers() {
            let lane = peer.image_stats(channel);
            stats.sent += lane.sent;
            stats.dropped += lane.dropped;
        }
        stats
    }

    /// This handle's images through shared memory: peers that map its
    /// segment, images sent, sent over the socket for want of a free slot,
    /// connections that fell back to the socket, and peers' offers refused.
    pub fn shared_memory_stats(&self) -> SharedMemoryStats {
        let mut stats = SharedMemoryStats::default();
        #[cfg(unix)]
        for peer in self.shared.registry.peers() {
            let peer = peer.shm_stats();
            stats.sent += peer.sent;
            stats.full += peer.full;
            stats.fallbacks += peer.fallbacks;
            stats.unanswered += peer.unanswered;
            stats.refused += peer.refused;
            stats.mapped += peer.mapped;
        }
        stats
    }

    /// Connection events (connected, disconnected, errors). All clones of
    /// the handle share one stream: each event goes to one receiver. Up to
    /// 4096 undelivered events are kept; later ones are dropped and counted
    /// in [`events_dropped`](Self::events_dropped).
    pub fn events(&self) -> Events {
        Events {
            rx: self.shared.events(),
        }
    }

    /// Events dropped because nobody drained [`events`](Self::events).
    pub fn events_dropped(&self) -> u64 {
        self.shared.events_dropped()
    }

    /// Whether this handle is closed (its `close` was called, or its last
    /// clone dropped): its reads then return what is left and never wait,
    /// and its writes fail with [`Closed`](crate::ErrorKind::Closed). For
    /// a caller that waits in slices (`get_all_timeout` in a loop) and must
    /// tell "nothing yet" from "nothing ever".
    pub fn is_closed(&self) -> bool {
        self.shared.is_stopped()
    }
}

/// Reading messages as types (feature `serde`): each decodes by the
/// [`Encoding`](crate::Encoding) its frame declared ([`Message::decode`]).
#[cfg(feature = "serde")]
impl Inbox {
    /// The latest message on `channel` read as a `T`, without consuming it
    /// (as [`get`](Self::get)); `Ok(None)` if nothing has arrived on it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Decode`](crate::ErrorKind::Decode) when the latest
    /// message is not a `T`; it stays the latest, for [`get`](Self::get).
    ///
    /// # Examples
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use socketengine::{Client, Host, MsgPack};
    /// # use std::time::{Duration, Instant};
    ///
    /// #[derive(Serialize, Deserialize, Debug, PartialEq)]
    /// struct Pose { x: f64, y: f64, yaw: f64 }
    ///
    /// let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// let planner = Client::builder().addr(host.local_addr().to_string()).connect()?;
    /// planner.write_confirmed("pose", MsgPack(&Pose { x: 1.0, y: 0.5, yaw: 0.1 }))?;
    /// let pose: Option<Pose> = host.get_as("pose")?;
    /// assert_eq!(pose, Some(Pose { x: 1.0, y: 0.5, yaw: 0.1 }));
    /// assert_eq!(host.get_as::<Pose>("elsewhere")?, None);
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    pub fn get_as<T: serde::de::DeserializeOwned>(
        &self,
        channel: &str,
    ) -> crate::Result<Option<T>> {
        self.get(channel).map(|msg| msg.decode()).transpose()
    }

    /// Every message queued on `channel` since the last call, oldest first,
    /// each read as a `T` (as [`get_all`](Self::get_all), which drains the
    /// queue). A message that is not a `T` is an `Err` item,
    /// [`ErrorKind::Decode`](crate::ErrorKind::Decode), that hands the
    /// message back ([`Error::into_message`](crate::Error::into_message):
    /// its payload, sender, time and image fields): nothing is lost, and
    /// the others are read.
    pub fn get_all_as<T: serde::de::DeserializeOwned>(
        &self,
        channel: &str,
    ) -> Vec<crate::Result<T>> {
        let msgs = self.get_all(channel);
        msgs.into_iter().map(Message::decode_or_hand_back).collect()
    }

    /// A [`TypedSubscription`](crate::TypedSubscription): every message
    /// arriving on `channel` from now on, read as a `T`; as
    /// [`subscribe`](Self::subscribe) otherwise (`channel` may be a pattern).
    pub fn subscribe_as<T: serde::de::DeserializeOwned>(
        &self,
        channel: &str,
    ) -> crate::TypedSubscription<T> {
        crate::TypedSubscription::new(self.subscribe(channel))
    }
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

/// A handle's stream of connection [`Event`]s, from
/// [`Inbox::events`]. Clones share the stream: each event goes to one of them.
#[derive(Debug, Clone)]
pub struct Events {
    rx: Receiver<Event>,
}

impl Events {
    /// The next event, waiting as long as it takes.
    pub fn recv(&self) -> Result<Event, RecvError> {
        self.rx.recv().map_err(|_| RecvError)
    }

    /// The next event, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        match crate::time::deadline(timeout) {
            Some(deadline) => self.recv_deadline(deadline),
            // Too far to represent: wait as long as it takes.
            None => self.recv().map_err(|_| RecvTimeoutError::Disconnected),
        }
    }

    /// The next event, waiting until `deadline` at the latest.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<Event, RecvTimeoutError> {
        self.rx.recv_deadline(deadline).map_err(|err| match err {
            crossbeam_channel::RecvTimeoutError::Timeout => RecvTimeoutError::Timeout,
            crossbeam_channel::RecvTimeoutError::Disconnected => RecvTimeoutError::Disconnected,
        })
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_recv(&self) -> Result<Event, TryRecvError> {
        self.rx.try_recv().map_err(|err| match err {
            crossbeam_channel::TryRecvError::Empty => TryRecvError::Empty,
            crossbeam_channel::TryRecvError::Disconnected => TryRecvError::Disconnected,
        })
    }

    /// Every waiting event, oldest first, without waiting.
    pub fn try_iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.rx.try_iter()
    }

    /// How many events are waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether no event is waiting.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}
