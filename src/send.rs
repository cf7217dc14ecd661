//! Sending, written once for both handles: where a message goes ([`To`]),
//! what it is ([`Outgoing`]), and the two modes — unlocked
//! ([`write`](Target::write): queue, never block) and locked
//! ([`write_lock`](Target::write_lock): back-pressure, return once the kernel
//! has the bytes) — plus the batch guard ([`WriteGuard`]).

use std::borrow::Cow;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::engine::Peer;
use crate::engine::{LockedImage, Registry};
use crate::handle::Core;
use crate::protocol::{Header, ImageMeta, Kind, Outbox};
use crate::{ClientId, Error, ErrorKind, Image, Message, Result};

/// Where a message goes: the argument of [`Host::to`](crate::Host::to) and
/// [`Client::to`](crate::Client::to).
///
/// A client's plain [`write`](crate::Client::write) goes to [`To::Host`]; a
/// host's plain [`write`](crate::Host::write) goes to [`To::All`]. Ids and
/// names convert: `host.to(id)`, `host.to("planner")`.
///
/// Targets not built yet (rooms, groups; a client sending to other clients
/// through the host) fail with [`ErrorKind::Unsupported`] and hand the payload
/// back: nothing is dropped silently.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum To {
    /// The host; from a host itself, `Unsupported`.
    Host,
    /// Every connected client.
    All,
    /// One client, by id.
    Client(ClientId),
    /// Several clients, by id; each must be connected.
    Clients(Vec<ClientId>),
    /// One client, by the name it connected with.
    Name(String),
    /// Several clients, by name; each must be connected.
    Names(Vec<String>),
    /// The members of a room (to come with the hub).
    Room(String),
    /// The clients interested in a channel group (to come with the hub).
    Group(String),
}

impl From<ClientId> for To {
    fn from(id: ClientId) -> To {
        To::Client(id)
    }
}

impl From<&str> for To {
    fn from(name: &str) -> To {
        To::Name(name.to_owned())
    }
}

impl From<String> for To {
    fn from(name: String) -> To {
        To::Name(name)
    }
}

impl From<Vec<ClientId>> for To {
    fn from(ids: Vec<ClientId>) -> To {
        To::Clients(ids)
    }
}

impl From<&[ClientId]> for To {
    fn from(ids: &[ClientId]) -> To {
        To::Clients(ids.to_vec())
    }
}

/// A message ready to send: bytes, or an image (its pixels beside its
/// geometry). Made by [`Outgoing::into_payload`]; the kind decides the path:
/// images go on the image lane (chunked, conflated), bytes in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    bytes: Bytes,
    /// Present for an image: its wire fields.
    image: Option<ImageMeta>,
}

impl Payload {
    /// A plain byte payload.
    pub fn bytes(bytes: impl Into<Bytes>) -> Payload {
        Payload {
            bytes: bytes.into(),
            image: None,
        }
    }

    /// Payload bytes (an image's pixels).
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether there are no payload bytes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether this is an image.
    pub fn is_image(&self) -> bool {
        self.image.is_some()
    }

    /// The frame header that carries it on `channel`.
    fn header<'a>(&self, channel: &'a str) -> Header<'a> {
        match self.image {
            Some(meta) => Header::new(Kind::Image(meta), channel),
            None => Header::data(channel),
        }
    }

    /// An error of `kind` that hands these bytes back.
    fn refused(&self, kind: ErrorKind) -> Error {
        Error::new(kind).with_payload(self.bytes.clone())
    }
}

/// What can be sent: the payload kind is a type, not a method name.
///
/// Byte payloads (`Bytes`, `Vec<u8>`, `String`, `&str`, `&[u8]`, ...) are sent
/// as data; an [`Image`] (or `&Image`) goes on the image path whichever call
/// sends it; a received [`Message`] is sent on as it came (an image stays
/// an image). Owned buffers and `Bytes` are sent without a copy; borrowed
/// slices and strings are copied once, here.
pub trait Outgoing {
    /// The payload to send.
    fn into_payload(self) -> Payload;
}

impl Outgoing for Payload {
    fn into_payload(self) -> Payload {
        self
    }
}

impl Outgoing for &Image {
    fn into_payload(self) -> Payload {
        Payload {
            bytes: self.data().clone(),
            image: Some(self.meta()),
        }
    }
}

impl Outgoing for Image {
    fn into_payload(self) -> Payload {
        (&self).into_payload()
    }
}

/// A received message, sent on as it came: an image stays an image (its
/// geometry, sequence number and capture time), bytes stay bytes. The
/// payload is shared, not copied.
impl Outgoing for &Message {
    fn into_payload(self) -> Payload {
        Payload {
            bytes: self.payload().clone(),
            image: self.image_meta().copied(),
        }
    }
}

impl Outgoing for Message {
    fn into_payload(self) -> Payload {
        (&self).into_payload()
    }
}

/// Owned byte buffers: moved into a `Bytes`, no copy.
macro_rules! owned_bytes {
    ($($t:ty),*) => {$(
        impl Outgoing for $t {
            fn into_payload(self) -> Payload {
                Payload::bytes(self)
            }
        }
    )*};
}

owned_bytes!(Bytes, BytesMut, Vec<u8>, Box<[u8]>, String);

impl Outgoing for &Bytes {
    fn into_payload(self) -> Payload {
        Payload::bytes(self.clone())
    }
}

/// Borrowed bytes: copied once.
macro_rules! borrowed_bytes {
    ($($t:ty),*) => {$(
        impl Outgoing for $t {
            fn into_payload(self) -> Payload {
                Payload::bytes(Bytes::copy_from_slice(self.as_ref()))
            }
        }
    )*};
}

borrowed_bytes!(&str, &String, &[u8], &Vec<u8>);

impl<const N: usize> Outgoing for &[u8; N] {
    fn into_payload(self) -> Payload {
        Payload::bytes(Bytes::copy_from_slice(self))
    }
}

/// Sends to one target: from [`Host::to`](crate::Host::to) or
/// [`Client::to`](crate::Client::to).
///
/// Every method returns how many connections the message went to: 1 for the
/// host or one client; for several clients, those that took it (a client
/// whose outbox is full, or that does not take a locked write within the
/// write timeout, is skipped and counted in its
/// [`ClientInfo::dropped`](crate::ClientInfo::dropped)).
#[derive(Debug)]
#[must_use = "a target sends nothing until written to"]
pub struct Target<'a> {
    core: &'a Core,
    to: To,
}

impl<'a> Target<'a> {
    pub(crate) fn new(core: &'a Core, to: To) -> Target<'a> {
        Target { core, to }
    }

    /// Queues `payload` on `channel` and returns at once (an unlocked write).
    /// Small frames written in a burst are coalesced into one system call;
    /// several receivers share one payload buffer. An image is conflated: if
    /// the previous image on its channel has not started going out, this one
    /// replaces it (counted in [`ImageStats::dropped`](crate::ImageStats::dropped)).
    ///
    /// # Errors
    ///
    /// To one peer: `Full` when its outbox already holds its budget (back off,
    /// or [`flush`](crate::Client::flush), and retry), `NotConnected`,
    /// `UnknownClient` / `UnknownName`. To any target: `Closed`,
    /// `InvalidChannel`, `FrameTooLarge`, `Unsupported`. Each hands the payload
    /// back ([`Error::into_payload`]); nothing is dropped silently.
    pub fn write(&self, channel: &str, payload: impl Outgoing) -> Result<usize> {
        let payload = payload.into_payload();
        let header = check(self.core, channel, &payload)?;
        let peers = self.resolve(&payload)?;
        if let Peers::One(peer) = peers {
            return queue(&peer, &header, &payload).map(|()| 1);
        }
        let mut queued = 0;
        peers.for_each(|peer| {
            // A full or closing peer is skipped; the peer counts the skip.
            if queue(peer, &header, &payload).is_ok() {
                queued += 1;
            }
        });
        Ok(queued)
    }

    /// Sends `payload` on `channel` and returns once it has been handed to
    /// the kernel (a locked write). On an idle connection the caller's thread
    /// writes it directly: one system call, no thread hop. A locked image is
    /// never replaced by a newer one; it waits for its turn instead.
    ///
    /// # Locking
    ///
    /// Blocks until the frame is written, in order with every write made
    /// before it to that connection, for at most the write timeout per
    /// connection ([`HostBuilder::write_timeout`](crate::HostBuilder::write_timeout)).
    /// Where an unlocked write would fail with `Full`, a locked write waits
    /// for room instead. To several clients, one that stalls is skipped after
    /// its timeout and never keeps the frame from the others.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write) (except `Full`), and `TimedOut` to one peer:
    /// if it timed out waiting for room, nothing was queued and the payload is
    /// handed back; if it timed out waiting for the kernel, the frame stays
    /// queued and is still sent.
    pub fn write_lock(&self, channel: &str, payload: impl Outgoing) -> Result<usize> {
        let payload = payload.into_payload();
        let header = check(self.core, channel, &payload)?;
        let timeout = self.core.write_timeout();
        let peers = self.resolve(&payload)?;
        if let Peers::One(peer) = peers {
            let started = start_locked(&peer, &header, &payload, timeout)?;
            return started.wait(&peer, timeout).map(|()| 1);
        }
        // Start on every peer before waiting on any, so one stalled peer
        // delays the others by nothing.
        let timed_out = |e: &Error| matches!(e.kind(), ErrorKind::TimedOut(_));
        let mut started = Vec::new();
        for peer in peers.into_vec() {
            match start_locked(&peer, &header, &payload, timeout) {
                Ok(locked) => started.push((peer, locked)),
                Err(e) if timed_out(&e) => peer.count_drop(),
                Err(_) => {}
            }
        }
        let mut delivered = 0;
        for (peer, locked) in started {
            match locked.wait(&peer, timeout) {
                Ok(()) => delivered += 1,
                Err(e) if timed_out(&e) => peer.count_drop(),
                Err(_) => {}
            }
        }
        Ok(delivered)
    }

    /// Starts a batch of writes that go out together, in order, with no
    /// other write between them; see [`WriteGuard`].
    pub fn lock(self) -> WriteGuard<'a> {
        WriteGuard {
            core: self.core,
            to: self.to,
            frames: Outbox::new(),
            images: Vec::new(),
        }
    }

    /// The peers of this target, or the error handing `payload` back.
    fn resolve(&self, payload: &Payload) -> Result<Peers<'a>> {
        resolve(self.core, &self.to).map_err(|kind| payload.refused(kind))
    }
}

/// The connections a target names.
enum Peers<'a> {
    /// One peer: the client's own connection is borrowed, not cloned, on
    /// every write.
    One(Cow<'a, Arc<Peer>>),
    Many(Vec<Arc<Peer>>),
    /// Every connected client, visited under the registry's read lock.
    All(&'a Registry),
}

impl Peers<'_> {
    /// Calls `f` on each peer; for `All` under the registry's read lock, so
    /// `f` must not block.
    fn for_each(&self, mut f: impl FnMut(&Arc<Peer>)) {
        match self {
            Peers::One(peer) => f(peer),
            Peers::Many(peers) => peers.iter().for_each(f),
            Peers::All(registry) => registry.for_each_connected(f),
        }
    }

    /// The peers, for a caller that may block on each.
    fn into_vec(self) -> Vec<Arc<Peer>> {
        match self {
            Peers::One(peer) => vec![peer.into_owned()],
            Peers::Many(peers) => peers,
            Peers::All(registry) => registry.connected(),
        }
    }
}

/// The connections `to` names, or why it names none.
fn resolve<'a>(core: &'a Core, to: &To) -> Result<Peers<'a>, ErrorKind> {
    let registry = &core.shared().registry;
    let by_id = |id| registry.get(id).ok_or(ErrorKind::UnknownClient(id));
    let by_name = |name: &String| {
        let peer = registry.get_by_name(name);
        peer.ok_or_else(|| ErrorKind::UnknownName(name.clone()))
    };
    match (core.upstream(), to) {
        (Some(host), To::Host) => Ok(Peers::One(Cow::Borrowed(host))),
        (Some(_), _) => Err(ErrorKind::Unsupported(
            "a client sends to the host only (routing through it comes with the hub)",
        )),
        (None, To::Host) => Err(ErrorKind::Unsupported("a host sending to itself")),
        (None, To::All) => Ok(Peers::All(registry)),
        (None, To::Client(id)) => by_id(*id).map(|peer| Peers::One(Cow::Owned(peer))),
        (None, To::Name(name)) => by_name(name).map(|peer| Peers::One(Cow::Owned(peer))),
        (None, To::Clients(ids)) => ids
            .iter()
            .map(|&id| by_id(id))
            .collect::<Result<_, _>>()
            .map(Peers::Many),
        (None, To::Names(names)) => names
            .iter()
            .map(by_name)
            .collect::<Result<_, _>>()
            .map(Peers::Many),
        (None, To::Room(_) | To::Group(_)) => Err(ErrorKind::Unsupported(
            "rooms and groups (they come with the hub)",
        )),
    }
}

/// Checks a write before any peer sees it: an open handle, a valid channel,
/// a frame within the maximum size. Returns the frame's header.
fn check<'c>(core: &Core, channel: &'c str, payload: &Payload) -> Result<Header<'c>> {
    if core.is_stopped() {
        return Err(payload.refused(ErrorKind::Closed));
    }
    check_channel(channel).map_err(|e| e.with_payload(payload.bytes.clone()))?;
    let header = payload.header(channel);
    let (len, max) = (header.body_prefix_len() + payload.len(), core.max_frame());
    match len > max {
        true => Err(payload.refused(ErrorKind::FrameTooLarge { len, max })),
        false => Ok(header),
    }
}

/// Checks a channel name given to a public method.
fn check_channel(name: &str) -> Result<()> {
    let reason = match name.len() {
        0 => "empty",
        1..=255 => return Ok(()),
        _ => "longer than 255 bytes",
    };
    let name = name.chars().take(64).collect();
    Err(ErrorKind::InvalidChannel { name, reason }.into())
}

/// Queues one payload to one peer without waiting.
fn queue(peer: &Peer, header: &Header<'_>, payload: &Payload) -> Result<()> {
    match payload.image {
        Some(_) => peer.queue_image(header, payload.bytes.clone()),
        None => peer.queue(header, payload.bytes.clone()),
    }
}

/// A locked write under way on one peer: what to wait for.
#[derive(Debug, Clone, Copy)]
enum Locked {
    /// A frame: `written` must reach this many bytes.
    Bytes(u64),
    /// An image: its ticket on the lane, or its frame's byte target.
    Image(LockedImage),
}

impl Locked {
    fn wait(self, peer: &Peer, timeout: std::time::Duration) -> Result<()> {
        match self {
            Locked::Bytes(target) => peer.wait_written(target, timeout),
            Locked::Image(image) => peer.wait_image(image, timeout),
        }
    }
}

fn start_locked(
    peer: &Peer,
    header: &Header<'_>,
    payload: &Payload,
    timeout: std::time::Duration,
) -> Result<Locked> {
    let bytes = payload.bytes.clone();
    match payload.image {
        Some(_) => peer
            .start_image_locked(header, bytes, timeout)
            .map(Locked::Image),
        None => peer.start_locked(header, bytes, timeout).map(Locked::Bytes),
    }
}

/// A batch of writes from [`lock`](Target::lock) (or the handles' `lock`),
/// sent as one unit.
///
/// Frames written to the guard are encoded into a private buffer; no lock is
/// held meanwhile. [`finish`](Self::finish) appends the whole batch to each
/// target connection at once (so no other thread's frame lands inside it) and
/// waits until it has been handed to the kernel. Images in a batch go on their
/// lane behind it, as locked image writes. Dropping an unfinished guard
/// finishes it and ignores the result.
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
/// `finish` blocks like [`write_lock`](Target::write_lock).
#[derive(Debug)]
#[must_use = "a batch is sent when finished or dropped"]
pub struct WriteGuard<'a> {
    core: &'a Core,
    to: To,
    frames: Outbox,
    images: Vec<(String, Payload)>,
}

impl WriteGuard<'_> {
    /// Adds a message to the batch.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidChannel` or `FrameTooLarge`, with the payload handed back.
    pub fn write(&mut self, channel: &str, payload: impl Outgoing) -> Result<()> {
        let payload = payload.into_payload();
        let header = check(self.core, channel, &payload)?;
        match payload.image {
            Some(_) => self.images.push((channel.to_owned(), payload)),
            None => {
                self.frames.push_valid(&header, payload.bytes);
            }
        }
        Ok(())
    }

    /// Sends the batch and waits until it has been handed to the kernel;
    /// returns how many connections took it (as [`Target::write_lock`]).
    ///
    /// # Errors
    ///
    /// `NotConnected`, `Closed`, `TimedOut`, and the target's errors
    /// (`UnknownClient`, `Unsupported`, ...).
    pub fn finish(mut self) -> Result<usize> {
        self.send()
    }

    fn send(&mut self) -> Result<usize> {
        if self.frames.is_empty() && self.images.is_empty() {
            return Ok(0);
        }
        let frames = std::mem::take(&mut self.frames);
        let images = std::mem::take(&mut self.images);
        let timeout = self.core.write_timeout();
        let peers = resolve(self.core, &self.to)?;
        let one = matches!(peers, Peers::One(_));
        let mut started = Vec::new();
        let mut failed = None;
        for peer in peers.into_vec() {
            match start_batch(&peer, &frames, &images, timeout) {
                Ok(locked) => started.push((peer, locked)),
                Err(err) => failed = Some(err),
            }
        }
        let mut delivered = 0;
        for (peer, locked) in started {
            match locked.into_iter().try_for_each(|l| l.wait(&peer, timeout)) {
                Ok(()) => delivered += 1,
                Err(err) => failed = Some(err),
            }
        }
        match (one, failed) {
            (true, Some(err)) => Err(err),
            _ => Ok(delivered),
        }
    }
}

/// Appends a batch to one peer: the frames at once, then each image.
fn start_batch(
    peer: &Peer,
    frames: &Outbox,
    images: &[(String, Payload)],
    timeout: std::time::Duration,
) -> Result<Vec<Locked>> {
    let mut locked = Vec::with_capacity(1 + images.len());
    if !frames.is_empty() {
        locked.push(Locked::Bytes(peer.queue_batch(&mut frames.clone())?));
    }
    for (channel, image) in images {
        locked.push(start_locked(peer, &image.header(channel), image, timeout)?);
    }
    Ok(locked)
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        let _ = self.send();
    }
}
