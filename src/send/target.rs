//! Sending to a target: [`Target`] (one write, unlocked or locked) and
//! [`WriteGuard`] (a batch), over the peers a [`To`] names.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use super::{Outgoing, Payload, To};
use crate::engine::{Charged, LockedImage, Peer, Registry};
use crate::handle::Core;
use crate::protocol::{DecodeError, Header, Outbox, Pattern, Route};
use crate::{Action, Error, ErrorKind, Result};

/// Sends to one target: from [`Host::to`](crate::Host::to) or
/// [`Client::to`](crate::Client::to).
///
/// Every writing method returns how many connections took the message
/// ([`request`](Self::request) returns the [`Replies`](crate::Replies) to
/// wait on). The rule for failures depends on the target:
///
/// * **one peer** ([`To::Host`], [`To::Client`], [`To::Name`], and every
///   target of a client, whose one peer is its host): the count is 1, and any
///   failure (`Full`, `NotConnected`, `TimedOut`, ...) is an error that hands
///   the payload back; an id, name or room a client's host does not know,
///   or a route its policy refuses, comes back as an
///   [`Event::Undelivered`](crate::Event::Undelivered) (a copy the host drops
///   because a receiver's outbox is full is counted there, in its
///   [`ClientInfo::dropped`](crate::ClientInfo::dropped), not reported);
/// * **several** ([`To::All`], [`To::Clients`], [`To::Names`], [`To::Room`]): a client whose
///   outbox is full (for an image: the handle's memory is spent, or the
///   client reads nothing and is about to be closed as a slow consumer), or
///   that does not take a locked write within the write timeout, is skipped
///   and counted in its
///   [`ClientInfo::dropped`](crate::ClientInfo::dropped); the count says how
///   many took it.
///
/// Either way, an invalid channel, an oversized frame, a closed handle, an
/// unknown id, name or room, or an `Unsupported` target fails before any peer sees
/// the message, with the payload handed back.
#[derive(Debug)]
#[must_use = "a target sends nothing until written to"]
pub struct Target<'a> {
    pub(super) core: &'a Core,
    pub(super) to: To,
    pub(super) mirror: bool,
}

impl<'a> Target<'a> {
    pub(crate) fn new(core: &'a Core, to: To) -> Target<'a> {
        Target {
            core,
            to,
            mirror: false,
        }
    }

    /// Asks the host to deliver this client's routed message back to the
    /// client itself too, as the other targets receive it (with this client
    /// as its sender). Only a client's route to other clients can mirror:
    /// elsewhere the writes fail with `Unsupported`.
    pub fn mirror(mut self) -> Self {
        self.mirror = true;
        self
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
    /// `UnknownClient` / `UnknownName`. From a host to a room: `UnknownRoom`
    /// when it has no members. To any target: `Closed`,
    /// `InvalidChannel`, `FrameTooLarge`, `Unsupported`. Each hands the payload
    /// back ([`Error::into_payload`]); nothing is dropped silently.
    pub fn write(&self, channel: &str, payload: impl Outgoing) -> Result<usize> {
        let payload = payload.into_outgoing()?.timed(self.core);
        let route = self.route(&payload)?;
        let header = check(self.core, channel, &payload, route.as_ref(), self.mirror)?;
        latch(self.core, &self.to, channel, &payload);
        let peers = self.resolve(&payload)?;
        if let Peers::One(peer) = peers {
            permitted(&peer, &[channel]).map_err(|kind| payload.refused(kind))?;
            return queue(&peer, &header, payload).map(|()| 1);
        }
        let copies = Copies::of(self.core, &payload);
        let mut queued = 0;
        peers.for_each(channel, |peer| {
            // A full or closing peer is skipped; the peer counts the skip.
            let taken = match &copies {
                Copies::Image(image) => peer.offer_image(&header, image.as_ref()),
                Copies::Each => queue(peer, &header, payload.clone()).is_ok(),
            };
            queued += usize::from(taken);
        });
        Ok(queued)
    }

    /// Sends `payload` on `channel` and returns once it has been handed to
    /// the kernel (a locked write). On an idle connection the caller's thread
    /// writes it directly: one system call, no thread hop. A locked image is
    /// never replaced by a newer one; it waits for its turn instead.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write) (except `Full`), and `TimedOut` to one peer:
    /// if it timed out waiting for room, nothing was queued and the payload is
    /// handed back; if it timed out waiting for the kernel, the frame stays
    /// queued and is still sent.
    ///
    /// # Locking
    ///
    /// Blocks until the frame is written, in order with every write made
    /// before it to that connection, for at most the write timeout per
    /// connection ([`HostBuilder::write_timeout`](crate::HostBuilder::write_timeout)).
    /// Where an unlocked write would fail with `Full`, a locked write waits
    /// for room instead. To several clients it starts on every one before
    /// waiting on any, so one that stalls is skipped after its timeout and
    /// never keeps the frame from the others.
    pub fn write_lock(&self, channel: &str, payload: impl Outgoing) -> Result<usize> {
        let payload = payload.into_outgoing()?.timed(self.core);
        let route = self.route(&payload)?;
        let header = check(self.core, channel, &payload, route.as_ref(), self.mirror)?;
        let timeout = self.core.write_timeout();
        latch(self.core, &self.to, channel, &payload);
        let peers = self.resolve(&payload)?;
        if let Peers::One(peer) = peers {
            permitted(&peer, &[channel]).map_err(|kind| payload.refused(kind))?;
            let started = start_locked(&peer, &header, payload, None, timeout)?;
            return started.wait(&peer, timeout).map(|()| 1);
        }
        let image = match Copies::of(self.core, &payload) {
            Copies::Image(image) => image,
            Copies::Each => None,
        };
        Ok(lock_each(
            peers.into_vec(&[channel], true),
            timeout,
            |peer, parts| {
                let copy = payload.clone();
                parts.push(start_locked(peer, &header, copy, image.as_ref(), timeout)?);
                Ok(())
            },
        ))
    }

    /// Starts a batch of writes that go out together, in order, with no
    /// other write between them; see [`WriteGuard`].
    pub fn lock(self) -> WriteGuard<'a> {
        WriteGuard {
            core: self.core,
            to: self.to,
            mirror: self.mirror,
            frames: Outbox::new(),
            images: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// The peers of this target, or the error handing `payload` back.
    fn resolve(&self, payload: &Payload) -> Result<Peers<'a>> {
        resolve(self.core, &self.to).map_err(|kind| payload.refused(kind))
    }

    /// The route this target puts on the wire, or the error handing
    /// `payload` back.
    fn route(&self, payload: &Payload) -> Result<Option<Route>> {
        wire_route(self.core, &self.to, self.mirror).map_err(|kind| payload.refused(kind))
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
/// `finish` waits for each part of the batch on each connection — its frames,
/// then each image — for at most the write timeout per part.
#[derive(Debug)]
#[must_use = "a batch is sent when finished or dropped"]
pub struct WriteGuard<'a> {
    core: &'a Core,
    to: To,
    mirror: bool,
    frames: Outbox,
    /// Images, with their channel, sent behind the frames.
    images: Vec<(String, Payload)>,
    /// Every channel in the batch, once: a receiver gets the batch only if
    /// it may have them all.
    channels: Vec<String>,
}

impl WriteGuard<'_> {
    /// Adds a message to the batch.
    ///
    /// # Errors
    ///
    /// `Closed`, `InvalidChannel` or `FrameTooLarge`, and on the batch's first
    /// message the target's errors (`UnknownClient`, `UnknownName`,
    /// `UnknownRoom`, `Unsupported`), with the payload handed back: a batch to nowhere fails
    /// before it is built.
    pub fn write(&mut self, channel: &str, payload: impl Outgoing) -> Result<()> {
        let payload = payload.into_outgoing()?.timed(self.core);
        let route = wire_route(self.core, &self.to, self.mirror);
        let route = route.map_err(|kind| payload.refused(kind))?;
        let header = check(self.core, channel, &payload, route.as_ref(), self.mirror)?;
        if self.frames.is_empty() && self.images.is_empty() {
            resolve(self.core, &self.to).map_err(|kind| payload.refused(kind))?;
        }
        latch(self.core, &self.to, channel, &payload);
        if !self.channels.iter().any(|c| c == channel) {
            self.channels.push(channel.to_owned());
        }
        match payload.image {
            Some(_) => self.images.push((channel.to_owned(), payload)),
            None => {
                self.frames.push_valid(&header, payload.bytes);
            }
        }
        Ok(())
    }

    /// Sends the batch and waits until it has been handed to the kernel;
    /// returns how many connections took it, with the rule of [`Target`]:
    /// to one peer any failure is an error (frames already queued still go
    /// out), to several a peer that fails is skipped and counted.
    ///
    /// # Errors
    ///
    /// To one peer: `NotConnected`, `TimedOut`. To any target: `Closed`, and
    /// the target's errors if its peers left since the first write.
    pub fn finish(mut self) -> Result<usize> {
        self.send()
    }

    fn send(&mut self) -> Result<usize> {
        if self.frames.is_empty() && self.images.is_empty() {
            return Ok(0);
        }
        let mut frames = std::mem::take(&mut self.frames);
        let images = std::mem::take(&mut self.images);
        let channels = std::mem::take(&mut self.channels);
        let channels: Vec<&str> = channels.iter().map(String::as_str).collect();
        let timeout = self.core.write_timeout();
        let route = wire_route(self.core, &self.to, self.mirror)?;
        let batch = Batch {
            images: &images,
            route: route.as_ref(),
            mirror: self.mirror,
            timeout,
        };
        if let Peers::One(peer) = resolve(self.core, &self.to)? {
            permitted(&peer, &channels)?;
            let mut parts = Vec::with_capacity(1 + images.len());
            let started = batch.start(&peer, &mut frames, &mut parts);
            return wait_parts(&peer, parts, started, timeout).map(|()| 1);
        }
        // Frozen once, so each peer's copy shares its buffers.
        frames.seal();
        let peers = resolve(self.core, &self.to)?.into_vec(&channels, false);
        Ok(lock_each(peers, timeout, |peer, parts| {
            batch.start(peer, &mut frames.clone(), parts)
        }))
    }
}

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// The connections a target names.
pub(super) enum Peers<'a> {
    /// One peer: the client's own connection is borrowed, not cloned, on
    /// every write.
    One(Cow<'a, Arc<Peer>>),
    Many(Vec<Arc<Peer>>),
    /// Every connected client, visited under the registry's read lock.
    All(&'a Registry),
}

impl Peers<'_> {
    /// Calls `f` on each peer that may receive `channel` (its
    /// [permissions](crate::Permissions)); for `All` under the registry's
    /// read lock, so `f` must not block, and only on clients that want
    /// `channel` (a client's declared interest filters broadcasts, not
    /// named targets).
    fn for_each(&self, channel: &str, mut f: impl FnMut(&Arc<Peer>)) {
        let may = |peer: &Arc<Peer>| peer.may(Action::Subscribe, channel);
        match self {
            Peers::One(peer) => f(peer),
            Peers::Many(peers) => peers.iter().filter(|p| may(p)).for_each(f),
            Peers::All(registry) => registry.for_each_connected(|peer| {
                if peer.wants(channel) {
                    f(peer);
                }
            }),
        }
    }

    /// The peers, for a caller that may block on each: those that may
    /// receive every one of `channels`, and, of `All`, if `by_interest`,
    /// those that want them (a batch goes whole or not at all, so its
    /// receivers' interest does not filter it).
    pub(super) fn into_vec(self, channels: &[&str], by_interest: bool) -> Vec<Arc<Peer>> {
        let (mut peers, all) = match self {
            Peers::One(peer) => (vec![peer.into_owned()], false),
            Peers::Many(peers) => (peers, false),
            Peers::All(registry) => (registry.connected(), true),
        };
        peers.retain(|peer| match all && by_interest {
            true => channels.iter().all(|c| peer.wants(c)),
            false => channels.iter().all(|c| peer.may(Action::Subscribe, c)),
        });
        peers
    }
}

/// The connections `to` names, or why it names none. A list naming a peer
/// twice names it once.
pub(super) fn resolve<'a>(core: &'a Core, to: &To) -> Result<Peers<'a>, ErrorKind> {
    let registry = &core.shared().registry;
    let by_id = |id| registry.get(id).ok_or(ErrorKind::UnknownClient(id));
    let by_name = |name: &String| {
        let peer = registry.get_by_name(name);
        peer.ok_or_else(|| ErrorKind::UnknownName(name.clone()))
    };
    let one = |peer| Peers::One(Cow::Owned(peer));
    let many = |mut peers: Vec<Arc<Peer>>| {
        peers.sort_by_key(|peer| peer.id());
        peers.dedup_by_key(|peer| peer.id());
        Peers::Many(peers)
    };
    match (core.upstream(), to) {
        // Everything a client sends goes to its host, which routes it on.
        (Some(host), _) => Ok(Peers::One(Cow::Borrowed(host))),
        (None, To::Host) => Err(ErrorKind::Unsupported("a host sending to itself")),
        (None, To::All) => Ok(Peers::All(registry)),
        (None, To::Client(id)) => by_id(*id).map(one),
        (None, To::Name(name)) => by_name(name).map(one),
        (None, To::Clients(ids)) => ids
            .iter()
            .map(|&id| by_id(id))
            .collect::<Result<_, _>>()
            .map(many),
        (None, To::Names(names)) => names
            .iter()
            .map(by_name)
            .collect::<Result<_, _>>()
            .map(many),
        (None, To::Room(room)) => crate::engine::connected_members(core.shared(), room)
            .map(Peers::Many)
            .ok_or_else(|| ErrorKind::UnknownRoom(room.clone())),
        (None, To::Group(group)) => {
            let pattern = Pattern::new(group).map_err(|err| invalid_group(to, &err))?;
            match crate::engine::group_members(registry, &pattern) {
                members if members.is_empty() => Err(ErrorKind::UnknownGroup(group.clone())),
                members => Ok(Peers::Many(members)),
            }
        }
    }
}

/// Whether `peer`, the one connection a write names, may receive every one
/// of `channels`; if not, the error (on a client, the peer is its host,
/// which may receive anything).
pub(super) fn permitted(peer: &Peer, channels: &[&str]) -> Result<(), ErrorKind> {
    match channels.iter().find(|c| !peer.may(Action::Subscribe, c)) {
        None => Ok(()),
        Some(channel) => Err(ErrorKind::Forbidden {
            action: Action::Subscribe,
            channel: (*channel).to_owned(),
            client: Some(peer.label()),
        }),
    }
}

/// The error for a target whose group is not a valid pattern (the only
/// target that can be malformed before it meets the wire's limits).
fn invalid_group(to: &To, err: &DecodeError) -> ErrorKind {
    let shown: String = format!("{to:?}").chars().take(80).collect();
    ErrorKind::InvalidTarget(format!("{err} in {shown}"))
}

/// Checks a write before any peer sees it: an open handle, a valid channel,
/// a frame within the maximum size. Returns the frame's header.
///
/// The handles' one check: peers trust what passed it. An image is held to
/// the maximum with its header, as if it went in one frame (it may: a small
/// image is one chunk), so every frame of it fits.
fn check<'c>(
    core: &Core,
    channel: &'c str,
    payload: &Payload,
    route: Option<&'c Route>,
    mirror: bool,
) -> Result<Header<'c>> {
    if core.is_stopped() {
        return Err(payload.refused(ErrorKind::Closed));
    }
    check_channel(channel).map_err(|e| e.with_payload(payload.bytes.clone()))?;
    let mut header = payload.header(channel);
    header.route = route;
    header.mirror = mirror;
    let (len, max) = (header.body_prefix_len() + payload.len(), core.max_frame());
    match len > max {
        true => Err(payload.refused(ErrorKind::FrameTooLarge { len, max })),
        false => Ok(header),
    }
}

/// The route a frame carries for `to`: a client names the clients its host
/// should deliver to; a host sends directly, without one. Checked against
/// the wire's limits.
fn wire_route(core: &Core, to: &To, mirror: bool) -> Result<Option<Route>, ErrorKind> {
    let route = match (core.upstream(), to) {
        (None, _) => None,
        (Some(_), To::Room(room)) if room.is_empty() => {
            return Err(ErrorKind::InvalidTarget("empty room name".to_owned()));
        }
        (Some(_), to) => to.route().map_err(|err| invalid_group(to, &err))?,
    };
    if mirror && route.is_none() {
        let why = "mirror: only a client's route to other clients comes back to it";
        return Err(ErrorKind::Unsupported(why));
    }
    if let Some(route) = &route {
        let header = Header {
            route: Some(route),
            ..Header::data("c")
        };
        header
            .validate()
            .map_err(|err| ErrorKind::InvalidTarget(err.to_string()))?;
    }
    Ok(route)
}

/// A host's write to every client on a latched channel: stored as the
/// channel's latest value, for clients that join later
/// ([`HostBuilder::latched`](crate::HostBuilder::latched)). A client's write
/// to its host on a channel it republishes: kept to send again to a host
/// that restarted ([`ClientBuilder::republish`](crate::ClientBuilder::republish)).
fn latch(core: &Core, to: &To, channel: &str, payload: &Payload) {
    let shared = core.shared();
    match core.upstream() {
        None if *to == To::All && !shared.config.latched.is_empty() => {
            let (latched, store) = (&shared.config.latched, &shared.store);
            let (bytes, image) = (&payload.bytes, payload.image);
            let marks = (payload.encoding, payload.sent_at_ns());
            crate::hub::latched::record_write(store, latched, channel, bytes, image, marks);
        }
        Some(_) if *to == To::Host => {
            let (bytes, image) = (&payload.bytes, payload.image);
            shared
                .republish
                .record(channel, bytes, image, payload.encoding)
        }
        _ => {}
    }
}

/// Checks a channel name given to a public method; `$` channels are the
/// host's services ([wire format](crate::protocol#services)).
pub(super) fn check_channel(name: &str) -> Result<()> {
    let reason = match name.len() {
        0 => "empty",
        1..=255 if Pattern::is_pattern(name) => "a `*` or `**` segment makes it a pattern",
        _ if crate::protocol::is_system(name) => "channels starting with '$' are the host's",
        1..=255 => return Ok(()),
        _ => "longer than 255 bytes",
    };
    let name = name.chars().take(64).collect();
    Err(ErrorKind::InvalidChannel { name, reason }.into())
}

/// How a write to several peers reaches each.
enum Copies {
    /// Each peer queues its own copy: data, or images without image lanes.
    Each,
    /// An image for the lanes, charged to the handle's memory once for all
    /// the peers; `None` if it did not fit (each peer counts the drop).
    Image(Option<Charged>),
}

impl Copies {
    fn of(core: &Core, payload: &Payload) -> Copies {
        let shared = core.shared();
        match payload.image {
            Some(_) if shared.config.image_chunk.is_some() => {
                Copies::Image(Charged::new(&shared.memory, &payload.bytes))
            }
            _ => Copies::Each,
        }
    }
}

/// Queues one payload to one peer without waiting.
fn queue(peer: &Peer, header: &Header<'_>, payload: Payload) -> Result<()> {
    match payload.image {
        Some(_) => peer.queue_image(header, payload.bytes),
        None => peer.queue(header, payload.bytes),
    }
}

/// A locked write under way on one peer: what to wait for.
#[derive(Debug, Clone, Copy)]
enum Locked {
    /// A frame (or a batch of them): `written` must reach this many bytes.
    Bytes(u64),
    /// An image: its ticket on the lane, or its frame's byte target.
    Image(LockedImage),
}

impl Locked {
    fn wait(self, peer: &Peer, timeout: Duration) -> Result<()> {
        match self {
            Locked::Bytes(target) => peer.wait_written(target, timeout),
            Locked::Image(image) => peer.wait_image(image, timeout),
        }
    }
}

/// Starts a locked write of one payload to one peer; `image`: the payload
/// charged already, once for several peers.
fn start_locked(
    peer: &Peer,
    header: &Header<'_>,
    payload: Payload,
    image: Option<&Charged>,
    timeout: Duration,
) -> Result<Locked> {
    match payload.image {
        Some(_) => peer
            .start_image_locked(header, payload.bytes, image, timeout)
            .map(Locked::Image),
        None => peer
            .start_locked(header, payload.bytes, timeout)
            .map(Locked::Bytes),
    }
}

/// What a batch sends behind its frames, and how.
struct Batch<'b> {
    images: &'b [(String, Payload)],
    route: Option<&'b Route>,
    mirror: bool,
    timeout: Duration,
}

impl Batch<'_> {
    /// Appends the batch to one peer — the frames at once, then each image —
    /// and records in `parts` what was started, even when a later part fails.
    fn start(&self, peer: &Peer, frames: &mut Outbox, parts: &mut Vec<Locked>) -> Result<()> {
        if !frames.is_empty() {
            parts.push(Locked::Bytes(peer.queue_batch(frames)?));
        }
        for (channel, image) in self.images {
            let mut header = image.header(channel);
            header.route = self.route;
            header.mirror = self.mirror;
            let copy = image.clone();
            parts.push(start_locked(peer, &header, copy, None, self.timeout)?);
        }
        Ok(())
    }
}

/// Waits for every part started on `peer`, also after `started` failed, so
/// no locked image is left waiting for a taker; the first error wins.
fn wait_parts(
    peer: &Peer,
    parts: Vec<Locked>,
    started: Result<()>,
    timeout: Duration,
) -> Result<()> {
    let mut result = started;
    for part in parts {
        let waited = part.wait(peer, timeout);
        if result.is_ok() {
            result = waited;
        }
    }
    result
}

/// A locked write to several peers: `start` on every one before waiting on
/// any, then wait for each; returns how many took it. A peer that timed out
/// is counted in its `dropped`; one that closed meanwhile is skipped.
fn lock_each(
    peers: Vec<Arc<Peer>>,
    timeout: Duration,
    start: impl Fn(&Peer, &mut Vec<Locked>) -> Result<()>,
) -> usize {
    let started: Vec<_> = peers
        .into_iter()
        .map(|peer| {
            let mut parts = Vec::new();
            let result = start(&peer, &mut parts);
            (peer, parts, result)
        })
        .collect();
    let mut delivered = 0;
    for (peer, parts, result) in started {
        match wait_parts(&peer, parts, result, timeout) {
            Ok(()) => delivered += 1,
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut(_)) => peer.count_drop(),
            Err(_) => {}
        }
    }
    delivered
}

/// An error of `kind` that hands `payload`'s bytes back.
impl Payload {
    pub(crate) fn refused(&self, kind: ErrorKind) -> Error {
        Error::new(kind).with_payload(self.bytes.clone())
    }
}
