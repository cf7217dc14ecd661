//! Builders for [`Host`](crate::Host) and [`Client`](crate::Client). Every setter states its default.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::RouteRequest;
use crate::auth::{Auth, Credential};
use crate::protocol::Pattern;

mod images;

pub(crate) use images::{
    DEFAULT_IMAGE_WINDOW, DEFAULT_MAX_PARTIAL_IMAGE_BYTES, DEFAULT_PARTIAL_TIMEOUT,
    DEFAULT_SHM_ANSWER_TIMEOUT, DEFAULT_SHM_LIMIT, DEFAULT_SHM_SEGMENT,
};

/// Default address of a host, and of the host a client connects to.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

/// Settings shared by hosts and clients.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_frame: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) channel_capacity: HashMap<String, usize>,
    pub(crate) outbox_budget: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_channels: usize,
    pub(crate) nodelay: bool,
    pub(crate) send_buffer: Option<usize>,
    pub(crate) recv_buffer: Option<usize>,
    pub(crate) keepalive: Option<Duration>,
    pub(crate) heartbeat: Option<Duration>,
    pub(crate) idle_timeout: Duration,
    pub(crate) image_chunk: Option<usize>,
    pub(crate) notsent_lowat: Option<u32>,
    pub(crate) image_window: usize,
    /// The image window's target queueing delay.
    pub(crate) image_queue_delay: Duration,
    pub(crate) image_queue_capacity: usize,
    pub(crate) history_depth: usize,
    pub(crate) channel_history: HashMap<String, usize>,
    pub(crate) history_bytes: usize,
    /// A host's latched channels (see [`HostBuilder::latched`]); empty on a client.
    pub(crate) latched: Vec<Pattern>,
    /// What a host does with its clients' unrouted messages besides storing them.
    pub(crate) relay: Relay,
    /// Decides what a host's clients may route; `None` allows everything.
    pub(crate) route_policy: Option<RoutePolicy>,
    /// A host's answer to a second connection claiming a connected name.
    pub(crate) name_policy: NamePolicy,
    /// Whether a host's clients may join and leave rooms themselves.
    pub(crate) client_rooms: bool,
    /// Most rooms one client (one identity) may be in on a host.
    pub(crate) max_rooms_per_client: usize,
    /// The ceiling of the bytes peers may make this handle hold (see
    /// [`crate::memory`]).
    pub(crate) memory_limit: usize,
    /// Most payload bytes in one channel's queue (beyond its newest).
    pub(crate) queue_bytes: usize,
    /// Most channels one peer's frames may create.
    pub(crate) max_channels_per_client: usize,
    /// How long a channel lies idle before its slot may be reclaimed.
    pub(crate) channel_idle: Duration,
    /// A host's limits on connections that are not clients yet.
    pub(crate) admission: AdmissionLimits,
    /// How long a frame, or an image across its chunks, may take to arrive
    /// whole (see [`HostBuilder::partial_timeout`]).
    pub(crate) partial_timeout: Duration,
    /// Most bytes one connection's images in progress may hold together
    /// (see [`HostBuilder::max_partial_image_bytes`]).
    pub(crate) max_partial_image_bytes: usize,
    /// How long bytes may wait unwritten before their peer is closed as a
    /// slow consumer; `None`: for ever.
    pub(crate) write_deadline: Option<Duration>,
    /// Who a host admits and what each may do; `None` admits everyone with
    /// every permission.
    pub(crate) auth: Option<Arc<Auth>>,
    /// What a client proves its name with, when the host asks.
    pub(crate) credential: Option<Credential>,
    /// The channels whose own latest write a client sends again to a host
    /// that restarted.
    pub(crate) republish: Vec<Pattern>,
    /// TLS below the handshake: a host's server side, a client's client
    /// side; `None`: plain TCP.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::Tls>,
    /// Most requests this handle's callers may have waiting for replies at
    /// once; on a host, also most requests it forwards between clients.
    pub(crate) max_requests: usize,
    /// Most requests waiting for this handle's responders (its dispatcher's queue).
    pub(crate) responder_queue: usize,
    /// Most payload bytes of the requests waiting for this handle's responders.
    pub(crate) responder_queue_bytes: usize,
    /// On a host, most requests of one client waiting for its responders.
    pub(crate) responder_queue_per_client: usize,
    /// On a host, most requests one client has it forward at once.
    pub(crate) max_forwards_per_client: usize,
    /// Most messages waiting for one callback; most events for the hooks.
    pub(crate) callback_queue: usize,
    /// Most payload bytes waiting for one callback.
    pub(crate) callback_queue_bytes: usize,
    /// How long a host keeps a request it forwarded between clients
    /// waiting for its reply.
    pub(crate) forward_timeout: Duration,
    /// Whether every message written carries its send time (host clock).
    pub(crate) stamp_messages: bool,
    /// Whether images to and from a peer on this machine may go through
    /// shared memory (both ends must say so).
    pub(crate) shm_images: bool,
    /// Bytes of the segment this handle offers each such peer.
    pub(crate) shm_segment: usize,
    /// Most bytes of all this handle's segments at once.
    pub(crate) shm_limit: usize,
    /// How long an offer of a segment waits for the peer's answer.
    pub(crate) shm_answer_timeout: Duration,
    /// Added to the handle's every reading of the system clock (tests only).
    pub(crate) clock_skew_ns: i64,
}

/// What a host does with the unrouted messages its clients send, besides
/// storing them: [`HostBuilder::relay`]. Relayed copies are delivered as
/// routed ones are: with the sender as origin, images as images, a full
/// outbox dropping the copy (counted in [`ClientInfo::dropped`](crate::ClientInfo::dropped)).
/// Images conflate per receiver and channel, whoever sent them: two cameras
/// relayed on one channel replace each other's waiting frames at a slow
/// receiver, so give each camera its own channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Relay {
    /// Store only (the default): clients reach each other by routing.
    #[default]
    Off,
    /// Also deliver each message to every other connected client.
    Others,
    /// Also send each message back to its sender.
    Echo,
    /// Both: every other client, and the sender.
    OthersAndEcho,
}

/// The function behind a route policy.
type PolicyFn = dyn Fn(&RouteRequest<'_>) -> Result<(), String> + Send + Sync;

/// A host's route policy: see [`HostBuilder::route_policy`].
#[derive(Clone)]
pub(crate) struct RoutePolicy(
    /// Shared by the builder's clones and the loop; called on the loop.
    pub(crate) Arc<PolicyFn>,
);

impl fmt::Debug for RoutePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RoutePolicy(..)")
    }
}

/// What a host does when a connection asks for a name a connected client holds;
/// from [`HostBuilder::name_policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum NamePolicy {
    /// Refuse it ([`ErrorKind::NameTaken`](crate::ErrorKind::NameTaken) on its
    /// `connect`), unless it presents the resume token the holder was given:
    /// then it is the same client back, and its old connection is closed as
    /// replaced. Two clients sharing a name cannot knock each other off.
    #[default]
    RefuseTaken,
    /// Let the newer connection take the name and close the older one as
    /// replaced (the behaviour before names were identities).
    ///
    /// On a host with [auth](HostBuilder::auth), a client that proves its
    /// name always takes it over this way, whatever the policy: it is the
    /// name's holder, token or not.
    ReplaceOld,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_frame: 64 << 20,
            queue_capacity: 1024,
            channel_capacity: HashMap::new(),
            outbox_budget: 16 << 20,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            write_timeout: Duration::from_secs(5),
            max_connections: 1024,
            max_channels: 4096,
            nodelay: true,
            send_buffer: None,
            recv_buffer: None,
            keepalive: Some(Duration::from_secs(10)),
            heartbeat: Some(Duration::from_secs(1)),
            idle_timeout: Duration::from_secs(5),
            image_chunk: Some(crate::protocol::DEFAULT_CHUNK),
            notsent_lowat: None,
            image_window: DEFAULT_IMAGE_WINDOW,
            image_queue_delay: crate::protocol::DEFAULT_QUEUE_DELAY,
            image_queue_capacity: 8,
            history_depth: 0,
            channel_history: HashMap::new(),
            history_bytes: DEFAULT_HISTORY_BYTES,
            latched: Vec::new(),
            relay: Relay::Off,
            route_policy: None,
            name_policy: NamePolicy::RefuseTaken,
            client_rooms: true,
            max_rooms_per_client: DEFAULT_MAX_ROOMS_PER_CLIENT,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            queue_bytes: 64 << 20,
            max_channels_per_client: 1024,
            channel_idle: Duration::from_secs(60),
            admission: AdmissionLimits::default(),
            partial_timeout: DEFAULT_PARTIAL_TIMEOUT,
            max_partial_image_bytes: DEFAULT_MAX_PARTIAL_IMAGE_BYTES,
            write_deadline: Some(DEFAULT_WRITE_DEADLINE),
            auth: None,
            credential: None,
            republish: Vec::new(),
            #[cfg(feature = "tls")]
            tls: None,
            max_requests: DEFAULT_MAX_REQUESTS,
            responder_queue: DEFAULT_RESPONDER_QUEUE,
            responder_queue_bytes: DEFAULT_RESPONDER_QUEUE_BYTES,
            responder_queue_per_client: DEFAULT_RESPONDER_QUEUE / 2,
            max_forwards_per_client: DEFAULT_MAX_REQUESTS / 16,
            callback_queue: DEFAULT_CALLBACK_QUEUE,
            callback_queue_bytes: DEFAULT_CALLBACK_QUEUE_BYTES,
            forward_timeout: DEFAULT_FORWARD_TIMEOUT,
            stamp_messages: false,
            shm_images: false,
            shm_segment: DEFAULT_SHM_SEGMENT,
            shm_limit: DEFAULT_SHM_LIMIT,
            shm_answer_timeout: DEFAULT_SHM_ANSWER_TIMEOUT,
            clock_skew_ns: 0,
        }
    }
}

/// Default most requests in flight per handle.
pub(crate) const DEFAULT_MAX_REQUESTS: usize = 65_536;

/// Default most requests waiting for a handle's responders.
pub(crate) const DEFAULT_RESPONDER_QUEUE: usize = 1024;

/// Default most payload bytes waiting for a handle's responders.
pub(crate) const DEFAULT_RESPONDER_QUEUE_BYTES: usize = 64 << 20;
/// Default most messages waiting for one callback.
pub(crate) const DEFAULT_CALLBACK_QUEUE: usize = 1024;

/// Default most payload bytes waiting for one callback.
pub(crate) const DEFAULT_CALLBACK_QUEUE_BYTES: usize = 16 << 20;

/// Default time a host keeps a forwarded request waiting for its reply.
pub(crate) const DEFAULT_FORWARD_TIMEOUT: Duration = Duration::from_secs(60);

/// Default time a new connection has to send its hello.
pub(crate) const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Default ceiling of the bytes peers may make a handle hold.
pub(crate) const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

/// Default write deadline: how long bytes may wait unwritten before their
/// peer is closed as a slow consumer.
pub(crate) const DEFAULT_WRITE_DEADLINE: Duration = Duration::from_secs(5);

/// Default most rooms one client may be in.
pub(crate) const DEFAULT_MAX_ROOMS_PER_CLIENT: usize = 256;

/// Default byte cap of one channel's history.
pub(crate) const DEFAULT_HISTORY_BYTES: usize = 64 << 20;

/// Setters common to both builders, written once.
macro_rules! common_setters {
    () => {
        /// The most bytes peers may make this handle hold at once, all of
        /// them together: messages queued and latest (with history and each
        /// sender's latest), images and large frames being received, and
        /// (as it lands) outboxes. A message that would go over it first
        /// makes room, if what the channels hold could: the channel holding
        /// most loses its oldest first (queued messages, history, other
        /// senders' latest messages, then its latest values), then the next
        /// fullest, and so on; the channel about to store and channels the
        /// host wrote itself (latched) keep their latest values. So a flood
        /// of large messages pushes out large messages, and a control loop's
        /// small channel is the last to lose anything. What goes is counted
        /// as dropped. A message there is no room for even so is refused,
        /// counted as dropped, and its sender told (an
        /// [`Event::Undelivered`](crate::Event::Undelivered) with
        /// [`ErrorKind::HostLimit`](crate::ErrorKind::HostLimit)). A large
        /// buffer that a channel's queue, latest value and sender's latest
        /// share is counted once; the queue and the history, and several
        /// senders' latest, are counted apart: an upper bound. Default: 1 GiB.
        pub fn memory_limit(mut self, bytes: usize) -> Self {
            self.config.memory_limit = bytes;
            self
        }

        /// Largest frame body accepted or sent, in bytes. A peer declaring a larger
        /// frame is disconnected before any memory is reserved for it; a larger
        /// write fails with [`ErrorKind::FrameTooLarge`](crate::ErrorKind::FrameTooLarge).
        /// Values above `u32::MAX` (the length prefix's limit) are clamped to it.
        /// Default: 64 MiB.
        pub fn max_frame(mut self, bytes: usize) -> Self {
            self.config.max_frame = bytes.min(u32::MAX as usize);
            self
        }

        /// Messages each channel's queue holds for `get_all` before the oldest is
        /// dropped (and counted). 0 keeps only the latest value. Default: 1024.
        pub fn queue_capacity(mut self, messages: usize) -> Self {
            self.config.queue_capacity = messages;
            self
        }

        /// Payload bytes each channel's queue holds for `get_all` beyond its
        /// newest message, whatever their count: the oldest beyond it are
        /// dropped (and counted). A [`Subscription`](crate::Subscription)
        /// buffers as many beyond one message; what it holds is charged to
        /// the memory limit until taken. Default: 64 MiB (eight 1080p RGB
        /// frames fit; a 4K one always does).
        pub fn queue_bytes(mut self, bytes: usize) -> Self {
            self.config.queue_bytes = bytes;
            self
        }

        /// Queue capacity of one channel, overriding
        /// [`queue_capacity`](Self::queue_capacity). Default: none.
        pub fn channel_capacity(mut self, channel: impl Into<String>, messages: usize) -> Self {
            self.config
                .channel_capacity
                .insert(channel.into(), messages);
            self
        }

        /// Messages each channel keeps in its history, read with
        /// [`Inbox::history`](crate::Inbox::history): the last ones stored,
        /// apart from the queue, so `get_all` does not drain them. 0 turns
        /// history off (no memory is spent on it). Image channels keep their
        /// history too, images counting as messages, within
        /// [`history_bytes`](Self::history_bytes). Default: 0 (off).
        pub fn history_depth(mut self, messages: usize) -> Self {
            self.config.history_depth = messages;
            self
        }

        /// History depth of one channel, overriding
        /// [`history_depth`](Self::history_depth) (0 turns it off for this
        /// channel). Default: none.
        pub fn channel_history(mut self, channel: impl Into<String>, messages: usize) -> Self {
            self.config.channel_history.insert(channel.into(), messages);
            self
        }

        /// Most payload bytes one channel's history holds: beyond it the oldest
        /// messages are forgotten, though the newest is always kept. This bounds
        /// an image channel's history (64 MiB is ten 1080p RGB frames), whatever
        /// its depth. Default: 64 MiB.
        pub fn history_bytes(mut self, bytes: usize) -> Self {
            self.config.history_bytes = bytes;
            self
        }

        /// Bytes that unlocked writes may queue per connection before they fail
        /// with [`ErrorKind::Full`](crate::ErrorKind::Full) (writes the host
        /// relays or routes are dropped and counted instead). A single frame
        /// larger than the budget, up to the [maximum frame](Self::max_frame),
        /// is accepted when nothing else is queued. Images on their lane are
        /// not counted here: they conflate, two per channel at most (see
        /// [`image_chunk`](Self::image_chunk)). Everything queued, images
        /// included, also counts against the [memory limit](Self::memory_limit)
        /// (an image that does not fit it is dropped and counted, as a
        /// replaced one is; an image relayed to many clients counts once);
        /// pings, pongs and image acknowledgements are exempt (one of each at
        /// most waits). Default: 16 MiB.
        pub fn outbox_budget(mut self, bytes: usize) -> Self {
            self.config.outbox_budget = bytes;
            self
        }

        /// How long locked writes and flushes wait for the kernel to take their
        /// bytes before failing with [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut);
        /// also how long `close` waits for a responder or callback running
        /// on the dispatcher thread. Default: 5 s.
        pub fn write_timeout(mut self, timeout: Duration) -> Self {
            self.config.write_timeout = timeout;
            self
        }

        /// Most channels the peers' frames may create in this handle's store.
        /// When it holds that many, a frame on a new channel takes the slot
        /// of the channel idle longest, if one has had no message for
        /// [`channel_idle`](Self::channel_idle), has no subscription,
        /// [callback](crate::Host::on) or waiting reader and was never
        /// written by this side itself (a latched value); its latest value and counters go with it. Failing
        /// that, the frame is dropped and its sender told
        /// ([`ErrorKind::ChannelLimit`](crate::ErrorKind::ChannelLimit) in the
        /// text of an [`Event::Undelivered`](crate::Event::Undelivered)'s
        /// [`HostLimit`](crate::ErrorKind::HostLimit)); the connection stays.
        /// Default: 4096.
        pub fn max_channels(mut self, channels: usize) -> Self {
            self.config.max_channels = channels;
            self
        }

        /// Most channels one peer's frames may create (counted by sender id;
        /// a reclaimed channel counts no more). Beyond it a frame on a new
        /// channel is dropped and its sender told
        /// ([`ErrorKind::ChannelQuota`](crate::ErrorKind::ChannelQuota)), so
        /// one peer inventing names cannot take every slot. Default: 1024.
        pub fn max_channels_per_client(mut self, channels: usize) -> Self {
            self.config.max_channels_per_client = channels;
            self
        }

        /// How long a channel must have had no message before, with the
        /// store full ([`max_channels`](Self::max_channels)), its slot may
        /// go to a new channel. Default: 60 s.
        pub fn channel_idle(mut self, idle: Duration) -> Self {
            self.config.channel_idle = idle;
            self
        }

        /// Whether to set `TCP_NODELAY` (disable Nagle's algorithm). Default: true.
        pub fn nodelay(mut self, on: bool) -> Self {
            self.config.nodelay = on;
            self
        }

        /// Kernel send buffer size (`SO_SNDBUF`) per connection. Default: the
        /// system's (auto-tuned).
        pub fn send_buffer(mut self, bytes: usize) -> Self {
            self.config.send_buffer = Some(bytes);
            self
        }

        /// Kernel receive buffer size (`SO_RCVBUF`) per connection. Default: the
        /// system's (auto-tuned).
        pub fn recv_buffer(mut self, bytes: usize) -> Self {
            self.config.recv_buffer = Some(bytes);
            self
        }

        /// How long a connection may be silent before this side sends a ping, or
        /// `None` to send none. The peer answers with a pong, so a live but idle
        /// connection always carries a little traffic. Default: 1 s.
        pub fn heartbeat(mut self, interval: Option<Duration>) -> Self {
            self.config.heartbeat = interval;
            self
        }

        /// How long a connection may stay silent (nothing received, not even a
        /// pong) before it is closed with an [`Event::Error`](crate::Event::Error)
        /// of kind [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut): a peer that
        /// lost power or network is noticed in seconds, not in TCP's hours. Only
        /// checked while [`heartbeat`](Self::heartbeat) is on; keep it a few
        /// heartbeats long. Default: 5 s.
        pub fn idle_timeout(mut self, timeout: Duration) -> Self {
            self.config.idle_timeout = timeout;
            self
        }

        /// `TCP_NOTSENT_LOWAT` (Linux and Android): how many bytes written but not
        /// yet sent the kernel may hold per connection, or `None` for the system's
        /// default (no limit). The [image window](Self::image_window) already
        /// bounds image data in the kernels' buffers (send and receive), so this
        /// is off by default: on loopback a limit cost image throughput (figures
        /// in `docs/PERFORMANCE.md`). For links where other bulk data shares
        /// the connection. Default: `None`.
        pub fn notsent_lowat(mut self, bytes: Option<u32>) -> Self {
            self.config.notsent_lowat = bytes;
            self
        }

        /// TCP keepalive idle time, or `None` to turn keepalive off. Default: 10 s.
        pub fn keepalive(mut self, idle: Option<Duration>) -> Self {
            self.config.keepalive = idle;
            self
        }

        /// Most requests this handle's callers may have waiting for their
        /// replies at once (a request to several clients counts one per
        /// client); one beyond it fails at once with
        /// [`ErrorKind::TooManyRequests`](crate::ErrorKind::TooManyRequests),
        /// nothing sent. A request ends when its answer comes, its
        /// connection closes, or its [`Replies`](crate::Replies) is dropped.
        /// On a host it also bounds the requests it forwards between its
        /// clients at once: one beyond it is answered with
        /// `TooManyRequests`. Default: 65,536.
        pub fn max_requests(mut self, requests: usize) -> Self {
            self.config.max_requests = requests;
            self
        }

        /// Most requests waiting for this handle's
        /// [responders](crate::Host::on_request) to run (they run one at a
        /// time, on the handle's dispatcher thread). A request that finds
        /// the queue full is answered at once with
        /// [`ErrorKind::Busy`](crate::ErrorKind::Busy) and counted
        /// ([`RequestStats::busy`](crate::RequestStats::busy)), as is one
        /// whose payload the [memory limit](Self::memory_limit) has no room
        /// for (a waiting request's payload is charged to it).
        /// Default: 1,024.
        pub fn responder_queue(mut self, requests: usize) -> Self {
            self.config.responder_queue = requests;
            self
        }

        /// Most payload bytes of the requests waiting for this handle's
        /// responders (with the one running); a request that would go past
        /// it is answered [`Busy`](crate::ErrorKind::Busy) at once, unless
        /// none waits. Default: 64 MiB.
        pub fn responder_queue_bytes(mut self, bytes: usize) -> Self {
            self.config.responder_queue_bytes = bytes;
            self
        }

        /// Most messages waiting for one [message
        /// callback](crate::Host::on) to run, and most events waiting for
        /// this handle's [hooks](crate::Host::on_connect) (at least one).
        /// Beyond it, new ones skip the callback: they are counted
        /// ([`CallbackStats::dropped`](crate::CallbackStats::dropped)) and
        /// reported ([`Event::CallbackDropped`](crate::Event::CallbackDropped)),
        /// and the event loop never waits for a callback. Default: 1,024.
        pub fn callback_queue(mut self, items: usize) -> Self {
            self.config.callback_queue = items;
            self
        }

        /// Most payload bytes waiting for one [message
        /// callback](crate::Host::on) to run (besides the messages it is
        /// running); beyond it, new messages skip the callback, counted and
        /// reported as beyond [`callback_queue`](Self::callback_queue). A
        /// message alone passes whatever its size. What waits is charged
        /// to the [memory limit](Self::memory_limit) too (a message it has
        /// no room for skips the callback, counted the same), until the
        /// callback has run it. Images do not queue up: a newer image on a
        /// channel replaces the one still waiting for the callback (counted
        /// as dropped), so a callback on a camera gets the newest frame.
        /// Default: 16 MiB.
        pub fn callback_queue_bytes(mut self, bytes: usize) -> Self {
            self.config.callback_queue_bytes = bytes;
            self
        }
    };
}

/// Configures and starts a [`Host`](crate::Host); from [`Host::builder`](crate::Host::builder).
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct HostBuilder {
    pub(crate) addr: String,
    pub(crate) config: Config,
}

impl Default for HostBuilder {
    fn default() -> Self {
        HostBuilder {
            addr: DEFAULT_ADDR.to_owned(),
            config: Config::default(),
        }
    }
}

impl HostBuilder {
    /// Address to listen on, as `host:port`; port 0 picks a free port (see
    /// [`Host::local_addr`](crate::Host::local_addr)). Default: `127.0.0.1:8080`.
    pub fn addr(mut self, addr: impl Into<String>) -> Self {
        self.addr = addr.into();
        self
    }

    /// How long a new connection may take to send its hello before it is
    /// dropped (an [`Event::Error`](crate::Event::Error) of kind
    /// [`ErrorKind::HandshakeTimeout`](crate::ErrorKind::HandshakeTimeout),
    /// counted in [`AdmissionStats::timed_out`](crate::AdmissionStats::timed_out)).
    /// A client sends its hello as soon as it is connected, so an honest one
    /// needs no more than a round trip plus one lost segment resent (Linux
    /// resends after 1 s at first); the shorter it is, the sooner a silent
    /// peer gives back its [handshake slot](Self::max_handshakes) and its
    /// descriptor. `Duration::MAX` waits for ever. Default: 2 s (as NATS's
    /// `auth_timeout`).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.config.handshake_timeout = timeout;
        self
    }

    /// Most clients connected at once (connections that completed the
    /// handshake). A connection beyond it is refused at once with a
    /// `HostFull` welcome ([`Refusal::HostFull`](crate::Refusal::HostFull) on
    /// the client, an [`Event::Error`](crate::Event::Error) on the host).
    /// Connections still in the handshake have slots of their own
    /// ([`max_handshakes`](Self::max_handshakes)), so the host may hold up
    /// to the sum of both in descriptors. Default: 1024.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config.max_connections = n;
        self
    }

    /// What the host does with the unrouted messages its clients send,
    /// besides storing them: nothing, pass them to every other client, echo
    /// them to their sender, or both — a relay where clients that know
    /// nothing of routing meet. Default: [`Relay::Off`].
    pub fn relay(mut self, relay: Relay) -> Self {
        self.config.relay = relay;
        self
    }

    /// Decides what clients may route through this host: called with each
    /// routed message's sender, channel and target (a message the host
    /// [relays](Self::relay) to every other client is judged as a route to
    /// [`To::All`](crate::To::All), and a request a client routes to another
    /// as a route to that client); an `Err` refuses it, and the sender gets
    /// an [`Event::Undelivered`](crate::Event::Undelivered) with
    /// [`ErrorKind::RouteRefused`](crate::ErrorKind::RouteRefused) carrying
    /// the text (a request, that error).
    ///
    /// # The rule: a short check
    ///
    /// It is the one piece of user code that runs on the host's event loop
    /// (everything else runs on the dispatcher thread): it is called once
    /// per routed message, so a hop to another thread would cost every
    /// routed message more than a check does. So it must be a check and
    /// nothing more: quick, never blocking (a lookup in its own data, not a
    /// network call, nor a lock another thread holds for long), and never
    /// calling the host's locked writes or `flush`, which wait for that
    /// very loop. Every connection waits while it runs. Measured on the
    /// routed 64-byte path (`benches/throughput.rs`,
    /// `routed_64B_one_way/routed_policy`; figures in `docs/PERFORMANCE.md`),
    /// a trivial policy costs about a tenth of the routed rate (the call, its
    /// panic guard and the [`RouteRequest`] built for it); a hop to another
    /// thread per message would cost more than the whole routed path.
    /// A policy that panics refuses the message, and the loop carries on.
    /// Default: every route allowed.
    ///
    /// ```
    /// use socketengine::{Host, To};
    ///
    /// // Commands go to named clients, never to everyone.
    /// let host = Host::builder()
    ///     .addr("127.0.0.1:0")
    ///     .route_policy(|req| match (&req.to, req.channel) {
    ///         (To::All, "cmd") => Err("only to named clients".to_owned()),
    ///         _ => Ok(()),
    ///     })
    ///     .start()?;
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    pub fn route_policy(
        mut self,
        policy: impl Fn(&RouteRequest<'_>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.config.route_policy = Some(RoutePolicy(Arc::new(policy)));
        self
    }

    /// Latches `channel`, a name or a [pattern](crate::Inbox::subscribe)
    /// (`config/**` latches every channel under `config`; call once per
    /// name or pattern): a client that connects is sent the latest value of
    /// each latched channel at once, right after the welcome and before
    /// anything else written to it, like ROS 2's transient-local
    /// durability. A client that later widens its
    /// [interest](crate::Client::interest) is sent, at once, the latest
    /// value of each latched channel it did not want before and wants now. The latest value is what
    /// [`get`](crate::Inbox::get) returns on this host: the last message a
    /// client sent on the channel, or the last one the host itself wrote to
    /// every client ([`Host::write`](crate::Host::write), `write_lock`, a
    /// batch to all), which on a latched channel the host stores as its own
    /// (sender [`ClientId::HOST`](crate::ClientId::HOST); not queued for
    /// `get_all`). A write to chosen clients is not latched: it is not for
    /// the others. Data arrives as data, an image as an image. A client
    /// connected before the value existed gets it as an ordinary message;
    /// one connecting while the host writes may get the value twice. An
    /// invalid name or pattern latches nothing. Default: none.
    pub fn latched(mut self, channel: impl Into<String>) -> Self {
        match Pattern::new(&channel.into()) {
            Ok(pattern) if !self.config.latched.contains(&pattern) => {
                self.config.latched.push(pattern);
            }
            _ => {}
        }
        self
    }

    /// What to do when a connection asks for a name a connected client holds:
    /// see [`NamePolicy`]. Default: [`NamePolicy::RefuseTaken`].
    pub fn name_policy(mut self, policy: NamePolicy) -> Self {
        self.config.name_policy = policy;
        self
    }

    /// Whether clients may join and leave rooms themselves
    /// ([`Client::join`](crate::Client::join)); when not, a client's request
    /// is refused with an [`Event::Undelivered`](crate::Event::Undelivered)
    /// on the `rooms` channel, and only the host's
    /// [`join`](crate::Host::join) and [`leave`](crate::Host::leave) change
    /// rooms. Default: true.
    pub fn client_rooms(mut self, allowed: bool) -> Self {
        self.config.client_rooms = allowed;
        self
    }

    /// Admits only the clients `auth` lists, each proving its name with its
    /// credential, and holds each to its [`Permissions`](crate::Permissions):
    /// see [`Auth`] for the file form and what a proof is. A client that
    /// offers no credential, or a wrong one, is refused with
    /// [`Refusal::Unauthorized`](crate::Refusal::Unauthorized) (counted in
    /// [`AdmissionStats::unauthorized`](crate::AdmissionStats::unauthorized)),
    /// and no one without its credential can take a listed name. Default:
    /// none: every client is admitted under any free name, with every
    /// permission, which is right for one machine's own programs on
    /// loopback and wrong for anything reachable from a network.
    ///
    /// ```
    /// use socketengine::{Auth, Client, Credential, Host, Permissions};
    ///
    /// let key = Credential::generate()?;
    /// let auth = Auth::new().client("arm", key.verifier(), Permissions::all());
    /// let host = Host::builder().addr("127.0.0.1:0").auth(auth).start()?;
    /// let addr = host.local_addr().to_string();
    /// let arm = Client::builder().addr(&addr).name("arm").credential(key).connect()?;
    /// let stranger = Client::builder().addr(&addr).name("arm").connect();
    /// assert!(stranger.is_err());
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    pub fn auth(mut self, auth: Auth) -> Self {
        self.config.auth = Some(Arc::new(auth));
        self
    }

    /// Most rooms one client may be in (counted by its name, or its id if it
    /// chose none). A join beyond it fails with
    /// [`ErrorKind::RoomLimit`](crate::ErrorKind::RoomLimit) on the host, or
    /// is refused with an [`Event::Undelivered`](crate::Event::Undelivered)
    /// to a client that asked. Default: 256.
    pub fn max_rooms_per_client(mut self, rooms: usize) -> Self {
        self.config.max_rooms_per_client = rooms;
        self
    }

    /// Most requests of one client waiting for this host's
    /// [responders](crate::Host::on_request) (with the one running), so a
    /// client that floods them cannot make every other client
    /// [`Busy`](crate::ErrorKind::Busy): one beyond it is answered `Busy`
    /// at once. Default: 512 (half the [queue](Self::responder_queue)'s
    /// default: one client leaves the other half to the rest).
    pub fn responder_queue_per_client(mut self, requests: usize) -> Self {
        self.config.responder_queue_per_client = requests;
        self
    }

    /// Most requests one client may have this host forward to other clients
    /// at once (of the [`max_requests`](Self::max_requests) it forwards in
    /// all), so one client cannot fill the table for everyone: one beyond
    /// it is answered
    /// [`TooManyRequests`](crate::ErrorKind::TooManyRequests) with this
    /// limit. Default: 4,096.
    pub fn max_forwards_per_client(mut self, requests: usize) -> Self {
        self.config.max_forwards_per_client = requests;
        self
    }

    /// How long the host keeps a request it forwarded from one client to
    /// another waiting for its reply: then the requester is told
    /// ([`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut) with this
    /// timeout, if it still waits) and a reply after it is dropped, so a
    /// responder that never answers does not hold the host's memory. The
    /// requester is told at once if the responder disconnects. Default: 60 s.
    pub fn forward_timeout(mut self, timeout: Duration) -> Self {
        self.config.forward_timeout = timeout;
        self
    }

    common_setters!();
}

/// Configures and connects a [`Client`](crate::Client); from [`Client::builder`](crate::Client::builder).
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `connect` is called"]
pub struct ClientBuilder {
    pub(crate) addr: String,
    pub(crate) name: String,
    pub(crate) connect_timeout: Duration,
    /// Delays between reconnection attempts, from the first to the cap; `None`
    /// turns reconnection off.
    pub(crate) reconnect: Option<(Duration, Duration)>,
    /// Whether a client the host kicked redials (with reconnection on).
    pub(crate) redial_after_kick: bool,
    pub(crate) config: Config,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            addr: DEFAULT_ADDR.to_owned(),
            name: String::new(),
            connect_timeout: Duration::from_secs(5),
            reconnect: Some((Duration::from_millis(100), Duration::from_secs(5))),
            redial_after_kick: false,
            config: Config::default(),
        }
    }
}

impl ClientBuilder {
    /// The host's address, as `host:port`. Default: `127.0.0.1:8080`.
    pub fn addr(mut self, addr: impl Into<String>) -> Self {
        self.addr = addr.into();
        self
    }

    /// The name the host lists this client under (at most 255 bytes). A client
    /// reconnecting under the same name keeps its id. While a client is
    /// connected under a name, the host refuses it to others
    /// ([`ErrorKind::NameTaken`](crate::ErrorKind::NameTaken), see
    /// [`NamePolicy`]); a reconnecting client proves it is the holder with the
    /// resume token of its last welcome. Default: empty, and the host names it
    /// `client-N`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// What this client proves its [name](Self::name) with when the host
    /// requires it ([`HostBuilder::auth`]): an Ed25519 key or a shared
    /// token ([`Credential`]). The secret never crosses the wire. A host
    /// that requires none admits the client without asking. Default: none.
    pub fn credential(mut self, credential: Credential) -> Self {
        self.config.credential = Some(credential);
        self
    }

    /// Sends this client's own latest write on each channel `channel` names
    /// (a name or a [pattern](crate::Inbox::subscribe); call once per name
    /// or pattern) again when it reconnects to a host that restarted, right
    /// after the welcome and before the
    /// [`Event::HostRestarted`](crate::Event::HostRestarted): the state a
    /// restarted host lost (a robot's mode, its configuration, what a
    /// [latched](HostBuilder::latched) channel holds) is back before anyone
    /// asks. Only writes to the host itself count (`write`, `write_lock`,
    /// `write_confirmed`, not routed ones); the client keeps one value per
    /// channel (sharing the written buffer). An invalid name or pattern
    /// keeps nothing. Default: none.
    pub fn republish(mut self, channel: impl Into<String>) -> Self {
        if let Ok(pattern) = Pattern::new(&channel.into()) {
            self.config.republish.push(pattern);
        }
        self
    }

    /// How long connecting and the handshake may take together, for the first
    /// connection and for each reconnection attempt. An attempt whose TCP
    /// connect has not finished by then fails with
    /// [`ErrorKind::Connect`](crate::ErrorKind::Connect) (an I/O `TimedOut`);
    /// one whose host has not answered the hello by then fails with
    /// [`ErrorKind::HandshakeTimeout`](crate::ErrorKind::HandshakeTimeout).
    /// `Duration::MAX` waits for ever (the system's connect timeout still
    /// applies). Default: 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Whether to reconnect when the connection is lost (after the first one
    /// succeeded). The client waits `first`, then twice as long after each
    /// failed attempt up to `cap`, each delay scaled by a random factor in
    /// [0.5, 1] so that clients cut off together do not return together; it
    /// gives its name again, with the resume token of its last welcome, so the
    /// host knows it (and keeps its id unless the host restarted) even if it
    /// has not yet noticed the old connection is gone. It does not redial after
    /// the host [kicked](crate::Host::disconnect) it (unless
    /// [`redial_after_kick`](Self::redial_after_kick)) or gave its name to a
    /// connection with its token. Meanwhile unlocked writes fail at once with
    /// `NotConnected`, and locked writes wait for the connection, within their
    /// [write timeout](Self::write_timeout). Every step is an [`Event`](crate::Event):
    /// `Disconnected`, `Reconnecting`, an `Error` per failed attempt, `Connected`.
    /// Default: on, 100 ms to 5 s.
    pub fn reconnect(mut self, on: bool) -> Self {
        let defaults = (Duration::from_millis(100), Duration::from_secs(5));
        self.reconnect = on.then(|| self.reconnect.unwrap_or(defaults));
        self
    }

    /// Whether to reconnect (with [reconnection](Self::reconnect) on) after the
    /// host disconnected this client on purpose
    /// ([`Host::disconnect`](crate::Host::disconnect), reason code 1). A client
    /// whose name was taken over by a connection with its resume token
    /// (replaced, code 2) never redials: it would take the name back and the
    /// two would knock each other off. Default: false.
    pub fn redial_after_kick(mut self, on: bool) -> Self {
        self.redial_after_kick = on;
        self
    }

    /// The first and the longest delay between reconnection attempts (and turns
    /// reconnection on). Default: 100 ms and 5 s. The delay doubles after
    /// each failed attempt, and after each connection lost before it lasted
    /// the longest delay (a host that turns the client away as soon as it
    /// is in); it starts from the first again after a connection that
    /// lasted.
    pub fn reconnect_backoff(mut self, first: Duration, cap: Duration) -> Self {
        self.reconnect = Some((first, cap));
        self
    }

    common_setters!();
}

/// A host's limits on connections that are not clients yet: see
/// [`HostBuilder::max_handshakes`] and the per-address limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AdmissionLimits {
    pub(crate) max_handshakes: usize,
    pub(crate) per_addr: usize,
    pub(crate) per_loopback_addr: usize,
}

impl Default for AdmissionLimits {
    fn default() -> AdmissionLimits {
        AdmissionLimits {
            max_handshakes: 256,
            per_addr: 64,
            per_loopback_addr: usize::MAX,
        }
    }
}

/// Admission: who may take a slot before it is a client.
impl HostBuilder {
    /// Most connections in the handshake at once (accepted, their hello not
    /// yet read), apart from the [client slots](Self::max_connections), so
    /// peers that never finish their hello cannot keep clients out. When
    /// every slot is taken, the oldest such connection makes way for a new
    /// one once it has had 100 ms to send its hello (a client sends it as
    /// soon as it is connected): it is told with an `Evicted` welcome and
    /// closed, reported as an [`Event::Error`](crate::Event::Error) of
    /// [`Refusal::Evicted`](crate::Refusal::Evicted) and counted in
    /// [`AdmissionStats::evicted`](crate::AdmissionStats::evicted). Until it
    /// has had them, new connections wait in the listener's backlog. So a
    /// client that sends its hello at once is admitted however many silent
    /// connections hold the slots. At least 1. Default: 256.
    pub fn max_handshakes(mut self, n: usize) -> Self {
        self.config.admission.max_handshakes = n.max(1);
        self
    }

    /// Most connections (clients and connections in the handshake) from one
    /// source IP address other than a loopback one; further ones are refused
    /// at once with an `AddressLimit` welcome
    /// ([`Refusal::AddressLimit`](crate::Refusal::AddressLimit)), so one
    /// remote machine cannot fill the host. Keep it below
    /// [`max_connections`](Self::max_connections) and
    /// [`max_handshakes`](Self::max_handshakes) for that. Peers behind one
    /// NAT share an address; an IPv6 peer with a whole prefix has many. 0
    /// admits loopback connections only. Default: 64.
    pub fn max_connections_per_addr(mut self, n: usize) -> Self {
        self.config.admission.per_addr = n;
        self
    }

    /// As [`max_connections_per_addr`](Self::max_connections_per_addr), for
    /// each loopback address (`127.0.0.0/8`, `::1`). This machine's programs
    /// all connect from `127.0.0.1`, and a robot may run hundreds of them, so
    /// by default only [`max_connections`](Self::max_connections) bounds
    /// them. A limit here caps a runaway local program; it does not stop a
    /// hostile one, which can use any of `127.0.0.0/8` (keeping such a
    /// program out takes authentication). Default: no limit.
    pub fn max_connections_per_loopback_addr(mut self, n: usize) -> Self {
        self.config.admission.per_loopback_addr = n;
        self
    }
}

/// The slow-consumer setters of both builders, written once (issue 13).
macro_rules! slow_consumer_setters {
    () => {
        /// How long bytes may wait to be written to a peer, none of them taken
        /// by the kernel, before the peer is closed as a slow consumer
        /// ([`CloseCode::SlowConsumer`](crate::CloseCode::SlowConsumer), sent
        /// in a close frame and reported in
        /// [`Event::Disconnected`](crate::Event::Disconnected)), or `None` to
        /// wait for ever. A peer that stops reading fills the kernel's
        /// buffers, then its outbox up to its
        /// [budget](Self::outbox_budget), and its image lane with the image
        /// being sent and the newest one per channel; once two checks in a
        /// row have seen it read nothing, it keeps only the images being sent
        /// and is offered no more. This frees what it holds, and its slot,
        /// once it has read nothing for this long, whatever it sends
        /// meanwhile: its pings do not keep it alive, nor do the pongs and
        /// acknowledgements written to it. Checked four times per deadline
        /// (at most once a second), so a peer is closed up to a quarter of it
        /// late. A peer reading slowly is not closed: any byte of data written
        /// to it restarts the count. A peer to which nothing but pongs is
        /// written holds next to nothing (one pong waits at most) and is not
        /// closed by this. Default: 5 s.
        pub fn write_deadline(mut self, deadline: Option<Duration>) -> Self {
            self.config.write_deadline = deadline;
            self
        }
    };
}

impl HostBuilder {
    slow_consumer_setters!();
}

impl ClientBuilder {
    slow_consumer_setters!();
}

/// The time-stamping setter of both builders, written once (issue 14).
macro_rules! clock_setters {
    () => {
        /// Puts the send time in every message this handle writes, data
        /// and images (frame flag `0x08`: 8 bytes more per frame; requests
        /// and replies carry none), on the
        /// **host's** clock: a host's own, a client's by its
        /// [clock estimate](crate::Client::clock) (a client that has none
        /// yet sends its first messages without). Readers find it in
        /// [`Message::sent_at`](crate::Message::sent_at), on any peer:
        /// relays, routes and latched values keep it, and a received
        /// message written on keeps its own. Off, frames are as they always
        /// were; on, each costs a clock read and 8 bytes (the cost on a
        /// stream of small messages is in the crate's `docs/PERFORMANCE.md`).
        /// Default: off.
        pub fn stamp_messages(mut self, on: bool) -> Self {
            self.config.stamp_messages = on;
            self
        }
    };
}

impl HostBuilder {
    clock_setters!();
}

impl ClientBuilder {
    clock_setters!();

    /// Test hook, not for production: this client reads its clock
    /// `skew_ns` nanoseconds ahead of the system's (behind if negative):
    /// its pings, its send times and its conversions, as a client on
    /// another machine's clock would. An image's capture time is taken to
    /// be a reading of this clock. Public (and hidden from the docs)
    /// because the tests that need it are outside the crate: its own
    /// integration tests, and an application's tests of how it uses send
    /// and capture times, which can play several machines' clocks on one.
    /// The clock estimate is what copes with real skew.
    #[doc(hidden)]
    pub fn test_clock_skew(mut self, skew_ns: i64) -> Self {
        self.config.clock_skew_ns = skew_ns;
        self
    }
}

#[cfg(feature = "tls")]
impl HostBuilder {
    /// Speaks TLS 1.3 to every client (rustls; the `tls` feature): each
    /// connection makes a TLS handshake before its hello, and its bytes
    /// travel encrypted. A client without TLS fails its handshake (an
    /// [`Event::Error`](crate::Event::Error) of kind
    /// [`ErrorKind::Tls`](crate::ErrorKind::Tls) here, counted as a bad hello
    /// in [`AdmissionStats`](crate::AdmissionStats)), and the
    /// [handshake timeout](Self::handshake_timeout) covers the TLS handshake
    /// too. With [`TlsServer::require_client_certs`](crate::TlsServer::require_client_certs),
    /// only clients with a certificate from that authority get through.
    /// Images lose their zero-copy send: rustls copies every byte into its
    /// records (see the README's Security section for the cost). Default:
    /// plain TCP.
    pub fn tls(mut self, tls: crate::tls::TlsServer) -> Self {
        self.config.tls = Some(crate::tls::Tls::Server(tls));
        self
    }
}

#[cfg(feature = "tls")]
impl ClientBuilder {
    /// Speaks TLS 1.3 to the host (rustls; the `tls` feature), checking its
    /// certificate against the [`TlsClient`](crate::TlsClient)'s authority
    /// and server name (by default the host part of [`addr`](Self::addr)).
    /// A failed TLS handshake fails the attempt with
    /// [`ErrorKind::Tls`](crate::ErrorKind::Tls); the
    /// [connect timeout](Self::connect_timeout) covers it. Default: plain TCP.
    pub fn tls(mut self, tls: crate::tls::TlsClient) -> Self {
        self.config.tls = Some(crate::tls::Tls::Client(tls));
        self
    }
}
