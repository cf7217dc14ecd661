//! # socketengine
//!
//! A raw-TCP, channelled data engine for robotics and vision pipelines. A
//! [`Host`] and its [`Client`]s exchange length-prefixed `(channel, payload)`
//! frames (the wire format, specified once in `src/protocol/mod.rs`) driven by one [mio] event-loop thread per
//! handle.
//!
//! ## Reading: the [`Inbox`]
//!
//! Both handles dereference to an [`Inbox`], which keeps per channel:
//!
//! * the **latest** message — [`get`](Inbox::get), non-consuming, never
//!   blocking on the network;
//! * a **bounded queue** — [`get_all`](Inbox::get_all) drains it in order; when
//!   it is full the oldest message is dropped and counted
//!   ([`ChannelStats::dropped`]);
//! * the latest message **per sender** — [`get_by_client`](Inbox::get_by_client);
//! * optional blocking **subscribers** — [`subscribe`](Inbox::subscribe) returns
//!   a [`Subscription`] whose `recv` sleeps until the next message;
//! * connection [`events`](Inbox::events);
//! * [callbacks](#callbacks), called with each message or event.
//!
//! ## Sending: a target, a payload, a mode
//!
//! * **The target is an argument**: a client's [`write`](Client::write) goes to
//!   its host, a host's [`write`](Host::write) to every client, and
//!   [`to`](Host::to) names any other [`To`]: `host.to(id)`,
//!   `host.to("planner")`, a list of ids or names.
//! * **The payload kind is a type** ([`Outgoing`]): bytes (`&str`, `Vec<u8>`,
//!   [`Bytes`](bytes::Bytes), ...) travel as data; an [`Image`] travels on the
//!   image path (chunked, conflated) whichever call sends it (or, between
//!   two processes of one machine that both set
//!   [`shared_memory_images`](HostBuilder::shared_memory_images), through
//!   shared memory, read in place); with the
//!   `serde` feature, `Json(&value)` and `MsgPack(&value)` travel as typed
//!   data (below).
//! * **The mode is the verb**: [`write`](Target::write) is *unlocked* — it
//!   queues and returns at once, bursts of small frames coalesce into one
//!   system call, and when a connection's outbox holds its byte budget it
//!   fails with [`ErrorKind::Full`] and hands the payload back;
//!   [`write_lock`](Target::write_lock) is *locked* — it returns once the
//!   bytes are in the kernel, in order with every other write on that
//!   connection. [`lock`](Client::lock) starts a batch ([`WriteGuard`]) that
//!   goes out as one unit.
//!
//! A received payload points into the buffer the socket was read into, and a
//! broadcast shares one buffer between clients.
//!
//! ## Example
//!
//! A host and a client on loopback:
//!
//! ```
//! use socketengine::{Client, Host};
//! use std::time::Duration;
//!
//! let host = Host::builder().addr("127.0.0.1:0").start()?; // port 0: any free port
//! let planner = Client::builder()
//!     .addr(host.local_addr().to_string())
//!     .name("planner")
//!     .connect()?;
//!
//! // Unlocked writes queue and return at once; flush waits for the kernel.
//! for i in 0..3 {
//!     planner.write("pose", format!("x={i}"))?;
//! }
//! planner.flush()?;
//!
//! // Wait (bounded) until the host has stored all three.
//! let deadline = std::time::Instant::now() + Duration::from_secs(5);
//! while host.channel_stats("pose").map_or(0, |s| s.received) < 3 {
//!     assert!(std::time::Instant::now() < deadline, "host did not receive");
//!     std::thread::yield_now();
//! }
//! assert_eq!(&host.get("pose").unwrap().payload()[..], b"x=2"); // the latest
//! let queued: Vec<_> = host.get_all("pose").into_iter().map(|m| m.into_payload()).collect();
//! assert_eq!(queued, ["x=0", "x=1", "x=2"]); // everything, in order
//! assert!(host.get_all("pose").is_empty()); // drained
//!
//! // The host answers one client by id.
//! let cmd = planner.subscribe("cmd");
//! host.to(planner.id()).write_lock("cmd", "stop")?;
//! assert_eq!(&cmd.recv_timeout(Duration::from_secs(5)).unwrap().payload()[..], b"stop");
//! # Ok::<(), socketengine::Error>(())
//! ```
//!
//! ## Requests and replies
//!
//! A request expects an answer: [`Client::request`] asks the host's
//! responder on a channel, `client.to("arm").request(..)` asks another
//! client through the host, and `host.to(target).request(..)` asks one
//! client, a list, a room, a group or all of them, its [`Replies`] yielding
//! each answer as it comes with who gave it. Responders register per channel
//! with [`Host::on_request`] / [`Client::on_request`] and run on the
//! handle's dispatcher thread, never on the event loop. Many requests may be
//! in flight on one connection; every way one can fail is a typed error
//! ([`ErrorKind::TimedOut`], [`NoResponder`](ErrorKind::NoResponder),
//! [`Remote`](ErrorKind::Remote), [`Busy`](ErrorKind::Busy),
//! [`NotConnected`](ErrorKind::NotConnected),
//! [`ResponderGone`](ErrorKind::ResponderGone),
//! [`ReplyTooLarge`](ErrorKind::ReplyTooLarge),
//! [`Forbidden`](ErrorKind::Forbidden), ...), never a hang.
//!
//! ```
//! use socketengine::{Client, Host, To};
//! use std::time::Duration;
//!
//! let host = Host::builder().addr("127.0.0.1:0").start()?;
//! let addr = host.local_addr().to_string();
//! host.on_request("time", |_req| Ok("12:00"))?;
//! let arm = Client::builder().addr(&addr).name("arm").connect()?;
//! arm.on_request("grip", |req| match &req.payload()[..] {
//!     b"open" | b"close" => Ok("done"),
//!     _ => Err("open or close".to_owned()),
//! })?;
//! let planner = Client::builder().addr(&addr).name("planner").connect()?;
//! let timeout = Duration::from_secs(5);
//!
//! // To the host, and to the arm through the host.
//! assert_eq!(&planner.request("time", "", timeout)?.payload[..], b"12:00");
//! let reply = planner.to("arm").request("grip", "open", timeout)?.one()?;
//! assert_eq!((reply.from, &reply.payload[..]), (arm.id(), &b"done"[..]));
//!
//! // The host asks everyone; each answer comes with who gave it.
//! for (from, answer) in host.to(To::All).request("grip", "spin", timeout)? {
//!     match answer {
//!         Ok(reply) => println!("{from}: {:?}", reply.payload),
//!         Err(err) => println!("{from}: {err}"), // the arm: "open or close"; the planner: no responder
//!     }
//! }
//! # Ok::<(), socketengine::Error>(())
//! ```
//!
//! ## Callbacks
//!
//! A handle calls the application's functions when things happen:
//! [`on`](Host::on) / [`on_named`](Host::on_named) with every message on a
//! channel or a pattern, [`on_connect`](Host::on_connect),
//! [`on_disconnect`](Host::on_disconnect) (with the [`DisconnectReason`]),
//! [`on_error`](Host::on_error) and, on a client,
//! [`on_reconnect`](Client::on_reconnect) with its [`Event`]s, and with the
//! `serde` feature [`on_command`](Host::on_command) with the [`Command`]s
//! that arrive on [`COMMAND_CHANNEL`]. Each is registered and removed at
//! any time ([`off`](Host::off) with its [`CallbackId`], or
//! [`off_named`](Host::off_named)); registering a name again replaces what
//! had it.
//!
//! * **Which thread**: the handle's dispatcher thread, the one that runs
//!   its [responders](Host::on_request), started with the first of them;
//!   never the event loop, which only queues the calls. One call at a time.
//! * **Order**: a callback gets a channel's messages in the order they
//!   arrived (a pattern's callback, each channel's in order); the hooks get
//!   the events in the order they happened. Callbacks, hooks and
//!   responders take turns on the thread, with no order among them.
//! * **Nothing is taken from the other readers**: messages still reach
//!   `get`, `get_all` and subscriptions, and every event still reaches
//!   [`events`](Inbox::events); hooks get a copy.
//! * **A slow callback** never slows the event loop, nor other
//!   connections: its messages wait in its own queue, up to
//!   [`callback_queue`](HostBuilder::callback_queue) (1,024); beyond it
//!   the new ones skip it, counted in
//!   [`callback_stats`](Host::callback_stats) at once and reported in an
//!   [`Event::CallbackDropped`] when it next runs. It delays what waits
//!   behind it on the thread (other callbacks, hooks, responders, whose
//!   requests then time out or are answered "busy"), so give slow work a
//!   thread of its own.
//! * **A panicking callback** is caught: the panic is reported in an
//!   [`Event::CallbackPanicked`] (and printed by the process's panic hook),
//!   counted, and the callback stays registered; the handle goes on.
//! * **Costs**: a channel with no callback pays nothing for them, an event
//!   with no hook one atomic load; with one, each batch of messages the
//!   loop stores takes the callback's lock once and queues at most one job.
//!
//! ```
//! use socketengine::{Client, CloseCode, Event, Host};
//! use std::sync::mpsc;
//! use std::time::Duration;
//!
//! let host = Host::builder().addr("127.0.0.1:0").start()?;
//! let (tx, seen) = mpsc::channel();
//! let poses = tx.clone();
//! host.on_named("log", "pose", move |msg| {
//!     let _ = poses.send(format!("pose {:?}", msg.payload()));
//! })?;
//! host.on_disconnect("log", move |event| {
//!     let _ = tx.send(format!("left: {:?}", event.reason().map(|r| r.code)));
//! })?;
//! host.on("pose", |_msg| panic!("a bug"))?; // caught and reported
//!
//! let arm = Client::builder().addr(host.local_addr().to_string()).connect()?;
//! let events = host.events();
//! for x in ["1", "2"] {
//!     arm.write_lock("pose", x)?;
//! }
//! let wait = Duration::from_secs(5);
//! assert_eq!(seen.recv_timeout(wait).unwrap(), r#"pose b"1""#);
//! assert_eq!(seen.recv_timeout(wait).unwrap(), r#"pose b"2""#); // in order
//!
//! host.disconnect(arm.id(), "maintenance")?;
//! assert_eq!(seen.recv_timeout(wait).unwrap(), "left: Some(Kicked)");
//! // events() saw it too, and the panics.
//! let mut kicked = false;
//! while !kicked {
//!     match events.recv_timeout(wait).expect("an event") {
//!         Event::Disconnected { reason, .. } => kicked = reason.unwrap().code == CloseCode::Kicked,
//!         Event::CallbackPanicked { message, .. } => assert_eq!(message, "a bug"),
//!         _ => {}
//!     }
//! }
//! assert_eq!(host.callback_stats().registered, 3);
//! # Ok::<(), socketengine::Error>(())
//! ```
//!
//! ## Camera images
//!
//! [`Image`] carries a frame's geometry (width, height, [`PixelFormat`], row
//! stride), a sequence number and a capture time beside its pixels, checked
//! against each other when it is made and again when it arrives. Images go out
//! with the same calls as bytes ([`Client::write`], [`Host::write`],
//! `host.to(id).write_lock(..)`), and are read with `get_image` (the newest
//! whole image) or `get_all` (in order).
//!
//! * **Zero copy.** The pixels are sent from the caller's buffer (a broadcast
//!   shares it between clients) and received straight into one buffer of the
//!   image's exact size: the kernel's copies are the only ones.
//! * **No head-of-line blocking.** Each connection has an image lane beside its
//!   outbox: images are cut into [chunks](HostBuilder::image_chunk) and
//!   control and data frames go out between chunks and first; the receiver
//!   acknowledges image bytes and the sender keeps at most an
//!   [image window](HostBuilder::image_window) unacknowledged, sized to
//!   follow the link: about its delivery rate × (base delay +
//!   [a target queueing delay](HostBuilder::image_queue_delay), 1 ms by
//!   default), never more than the configured window (half of it while
//!   control or data frames flow). So on a 100 Mbit link as on loopback, a
//!   control frame finds about a millisecond of image data ahead of it in
//!   the kernels' buffers, and the link stays busy.
//! * **Frame age.** [`ImageStats::age_p50`] and [`ImageStats::age_p99`]: how
//!   old images were (capture time to the read, on the host's clock) when a
//!   reader got them.
//! * **Newest frame, no backlog.** An image not yet started when a newer one
//!   arrives on its channel is replaced (whole images only, never a torn one)
//!   and counted ([`ImageStats::dropped`]); locked image writes wait instead.
//!
//! ```
//! use socketengine::{Client, Host, IMAGE_CHANNEL, Image, PixelFormat};
//!
//! let host = Host::builder().addr("127.0.0.1:0").start()?;
//! let camera = Client::builder().addr(host.local_addr().to_string()).connect()?;
//! let frame = Image::new(640, 480, PixelFormat::Rgb8, vec![0u8; 640 * 480 * 3])?.with_seq(1);
//! camera.write_lock(IMAGE_CHANNEL, &frame)?;
//! # let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
//! # while host.get_image(IMAGE_CHANNEL).is_none() {
//! #     assert!(std::time::Instant::now() < deadline);
//! #     std::thread::yield_now();
//! # }
//! let newest = host.get_image(IMAGE_CHANNEL).unwrap();
//! assert_eq!((newest.width(), newest.seq()), (640, 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Typed messages
//!
//! With the `serde` feature (default), any `Serialize` value is a payload:
//! `Json(&value)` or `MsgPack(&value)` serialises it on the writer's thread
//! and its frame declares the [`Encoding`], which relays and routes keep, so
//! a reader in any language knows how to read it (MessagePack is written
//! with field names, so a Python or JavaScript peer reads it without a
//! schema, as it reads JSON). Any `Deserialize` type reads it back:
//! `get_as::<T>` (the latest), `get_all_as` (the queue), `subscribe_as`
//! (a `TypedSubscription`), `Message::decode`. A payload that does not fit
//! the type is `ErrorKind::Decode` (its channel, encoding and the decoder's
//! words), and nothing is lost: `get_as` leaves the message where it was,
//! the draining reads hand the whole message back (`Error::into_message`).
//! A payload that declared no encoding is read as JSON. Commands
//! (`Command`, dispatched by a `Commands` table) ride on the same path as
//! JSON.
//!
//! ```
//! # #[cfg(feature = "serde")] {
//! use serde::{Deserialize, Serialize};
//! use socketengine::{Client, Encoding, Host, Json, MsgPack};
//! use std::time::Duration;
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Pose { x: f64, y: f64, yaw: f64 }
//!
//! let host = Host::builder().addr("127.0.0.1:0").start()?;
//! let arm = Client::builder().addr(host.local_addr().to_string()).name("arm").connect()?;
//! let poses = arm.subscribe_as::<Pose>("pose");
//!
//! host.to("arm").write_lock("pose", Json(&Pose { x: 1.0, y: 2.0, yaw: 0.5 }))?;
//! let pose = poses.recv_timeout(Duration::from_secs(5))?;
//! assert_eq!(pose, Pose { x: 1.0, y: 2.0, yaw: 0.5 });
//!
//! arm.write_confirmed("pose", MsgPack(&pose))?;
//! assert_eq!(host.get("pose").unwrap().encoding(), Encoding::MsgPack);
//! assert_eq!(host.get_as::<Pose>("pose")?, Some(pose));
//!
//! // Not a pose: a typed error; the message stays readable.
//! arm.write_confirmed("pose", Json("lost"))?;
//! assert!(host.get_as::<Pose>("pose").is_err());
//! assert_eq!(&host.get("pose").unwrap().payload()[..], br#""lost""#);
//! # }
//! # Ok::<(), socketengine::Error>(())
//! ```
//!
//! ## Time
//!
//! The host's clock is every peer's time base. Each client estimates its
//! offset to it, NTP-style, from the exchanges it makes anyway (its hello
//! and the welcome, four quick pings after it, then one ping per heartbeat),
//! filtered (the tightest of the last eight; impossible pongs rejected):
//! [`Client::clock`] gives a [`ClockEstimate`] (offset, round trip,
//! uncertainty), [`Client::host_time`] the host's clock now. With
//! [`ClientBuilder::stamp_messages`] (or the host's), every message (data
//! and images; not requests or replies) carries its send time on the
//! host's clock ([`Message::sent_at`]), kept through relays and routes; a
//! client moves its images' capture times to the host's clock before they
//! leave, and sends a received image on as it is ([`Image::is_host_time`]).
//!
//! ```
//! use socketengine::{Client, Host};
//! use std::time::Duration;
//!
//! let host = Host::builder().addr("127.0.0.1:0").start()?;
//! let arm = Client::builder()
//!     .addr(host.local_addr().to_string())
//!     .stamp_messages(true)
//!     .connect()?;
//! let clock = arm.clock().expect("an estimate from the welcome");
//! println!("offset {} ns ± {:?}", clock.offset_ns(), clock.uncertainty());
//!
//! let poses = host.subscribe("pose");
//! arm.write_lock("pose", "x=1")?;
//! let msg = poses.recv_timeout(Duration::from_secs(5)).unwrap();
//! // How long it took, on the host's clock (within the clocks' uncertainty).
//! let age = host.host_time().duration_since(msg.sent_at().unwrap());
//! assert!(age.unwrap_or_default() < Duration::from_secs(5));
//! # Ok::<(), socketengine::Error>(())
//! ```
//!
//! ## Many hosts
//!
//! [`Hosts`] is a client side connected to several hosts at once, each
//! under a key (its address, or a name of yours), each with its own
//! [`Client`] built from one template: add and remove hosts while running,
//! write to all of them ([`Hosts::write`], each host's result), read each
//! host's store ([`Hosts::get`]) or one subscription merged across them
//! that yields each message with its host's key ([`Hosts::subscribe`]).
//! Each client dials on its own ([`ClientBuilder::start`]), so a host that
//! is down or never answers holds up nobody and is connected when it comes
//! up; [`Hosts::state`] says where each is ([`ConnectionState`]) and
//! [`Hosts::last_error`] what keeps one from connecting; a host that
//! refuses the client's credential or protocol version is given up
//! ([`ConnectionState::Refused`]).
//!
//! ```
//! use socketengine::{Client, ConnectionState, Host, Hosts};
//! use std::time::Duration;
//!
//! let up = Host::builder().addr("127.0.0.1:0").start()?;
//! let nowhere = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?; // nothing listens
//! let hosts = Hosts::from_map(
//!     Client::builder().name("pocket"),
//!     [("up", up.local_addr().to_string()), ("later", nowhere.to_string())],
//! )?;
//! assert_eq!(hosts.state("later"), Some(ConnectionState::Connecting));
//! let merged = hosts.subscribe("cmd");
//! # let deadline = std::time::Instant::now() + Duration::from_secs(5);
//! # while hosts.state("up") != Some(ConnectionState::Connected) {
//! #     assert!(std::time::Instant::now() < deadline);
//! #     std::thread::yield_now();
//! # }
//! up.write_lock("cmd", "go")?;
//! let (key, msg) = merged.recv_timeout(Duration::from_secs(5)).unwrap();
//! assert_eq!((key.as_str(), &msg.payload()[..]), ("up", &b"go"[..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Staying up
//!
//! * **Bad input** closes one connection with a typed [`Event::Error`] (see
//!   [`ErrorKind`]); every other connection carries on.
//! * **Heartbeats**: a silent connection gets a ping; one silent for the
//!   [idle timeout](HostBuilder::idle_timeout) is closed with
//!   [`ErrorKind::TimedOut`], so a peer that lost power is noticed in seconds.
//! * **Reconnection**: a [`Client`] that loses its host redials with capped,
//!   jittered backoff under the same name ([`ClientBuilder::reconnect`]),
//!   proving it is the same client with a resume token; a connected name is
//!   refused to anyone else ([`NamePolicy`]).
//! * **Reasons**: [`Host::disconnect`], a client's `close` and a host shutting
//!   down tell the peer why ([`Event::Disconnected`]'s [`DisconnectReason`]).
//! * **Limits**: frame size, connections, the per-connection outbox budget (for
//!   every kind of write), channels, handshake time — all on the builders, each
//!   with its default.
//!
//! ## TLS
//!
//! With the `tls` feature (default), `HostBuilder::tls` and
//! `ClientBuilder::tls` put TLS 1.3 (rustls) below the handshake: the same
//! bytes, encrypted, the host's certificate checked by the client, and
//! optionally the client's by the host (mutual TLS). A failure is
//! [`ErrorKind::Tls`] and closes that one connection. rustls copies every
//! byte into and out of its records, so the image path's zero copy stops at
//! the TLS layer. See `TlsServer` and `TlsClient`, and the README's Security
//! section for what it bounds and costs.
//!
//! ## Features
//!
//! * `image` (default): conversions between [`Image`] and the `image` crate's
//!   buffers (`as_rgb`, `from_rgb`, `to_dynamic`, ...) and JPEG/PNG encoding
//!   and decoding (`encode_jpeg`, `encode_png`, `decode`). The image path
//!   itself needs no feature: without it, raw images and JPEG/PNG files (as
//!   opaque encoded bytes) are still sent and received.
//! * `tls` (default): TLS 1.3 through rustls with the ring provider (above).
//! * `serde` (default): typed messages and commands (above) through serde,
//!   serde_json and rmp-serde.
//! * `cli` (default): the `socketengine` command-line tool (clap, anyhow,
//!   ctrlc, hdrhistogram; it brings `tls` and `serde`).
//! * `protocol` (off): exposes the wire format's types to the fuzz targets and
//!   the tests that craft raw frames; not a stable API.
//!
//! `default-features = false` builds the library alone, without the first four.
//!
//! ## Threads
//!
//! Each `Host` and `Client` runs one event-loop thread, which runs no user
//! code but a host's [route policy](HostBuilder::route_policy), a check that
//! must stay short. User code (responders, callbacks, hooks, command
//! handlers) runs on the handle's dispatcher thread, started with the first
//! of them: one at a time, a panic caught and reported, a slow one delaying
//! only what is queued behind it (see "Callbacks"). [`Host::close`] /
//! [`Client::close`], and dropping the last handle, stop and join both (a
//! responder or callback running then is waited for up to the write
//! timeout; calls still queued, such as the hooks of the last
//! disconnections, are dropped). So `close`, and the drop of the last
//! handle, may block for up to the write timeout while user code runs; a
//! call still running after that is left to finish on its own, its thread
//! not joined, and one that never returns keeps that thread for good.

mod auth;
mod client;
mod clock;
#[cfg(feature = "serde")]
mod command;
mod config;
mod dispatch;
mod engine;
mod error;
mod handle;
mod host;
mod hosts;
mod hub;
mod id;
mod image;
mod inbox;
mod info;
mod memory;
mod message;
mod on;
mod pace;
mod random;
// The sans-IO wire format. Not public API: the `protocol` feature exposes it
// to the fuzz targets and the tests that craft raw frames.
#[cfg(feature = "protocol")]
#[doc(hidden)]
pub mod protocol;
#[cfg(not(feature = "protocol"))]
#[allow(unreachable_pub, dead_code, unused_imports)]
mod protocol;
mod send;
// Shared-memory segments for images on one machine (sealed memory files;
// Linux only: elsewhere images always go over the socket).
#[cfg(unix)]
mod shm;
mod store;
mod time;
mod tls;
mod to;
#[cfg(feature = "serde")]
mod typed;

pub use auth::{Auth, Credential, Permissions, Verifier};
pub use client::Client;
pub use clock::ClockEstimate;
#[cfg(feature = "serde")]
pub use command::{COMMAND_CHANNEL, Command, Commands};
pub use config::{ClientBuilder, DEFAULT_ADDR, HostBuilder, NamePolicy, Relay};
pub use error::{
    Action, Error, ErrorKind, RecvError, RecvTimeoutError, Refusal, Result, TryRecvError,
};
pub use host::Host;
pub use hosts::{HostResults, Hosts, HostsSubscription};
pub use id::{CallbackId, ClientId};
pub use image::{IMAGE_CHANNEL, Image, ImageError, ImageStats, PixelFormat};
pub use inbox::{Events, Inbox};
pub use info::{
    AdmissionStats, CallbackStats, ChannelInfo, ChannelStats, ClientInfo, CloseCode,
    ConnectionState, DisconnectReason, Event, RequestStats, SharedMemoryStats,
};
pub use message::Message;
pub use protocol::Encoding;
pub use send::{Outgoing, Payload, Replies, Reply, Request, Target, WriteGuard};
pub use store::Subscription;
#[cfg(feature = "serde")]
pub use store::TypedSubscription;
pub use tls::TlsError;
#[cfg(feature = "tls")]
pub use tls::{TlsClient, TlsServer};
pub use to::{RouteRequest, To};
#[cfg(feature = "serde")]
pub use typed::{Json, MsgPack, decode, encode};
