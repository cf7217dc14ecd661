//! Requests: [`Target::request`] sends one to every peer its target names
//! and returns at once with their [`Replies`], which yield each answer as it
//! comes, until every target answered or the deadline passed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::target::{Peers, check_channel, permitted, resolve};
use super::{Outgoing, Payload, Target, To};
use crate::dispatch::Queue;
use crate::engine::{Answer, Ask, Peer, Requests};
use crate::handle::Core;
use crate::protocol::{Encoding, Kind, Route};
use crate::{ClientId, Error, ErrorKind, RecvTimeoutError, Result};

/// An answer to a request: who answered, and the payload it answered with
/// (sharing the buffer it was received into) and the encoding its frame
/// declared (a responder's `Json(&v)` answer is JSON; with the `serde`
/// feature, [`decode`](Self::decode) reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply {
    /// The client that answered, or [`ClientId::HOST`] for the host.
    pub from: ClientId,
    /// The answer.
    pub payload: Bytes,
    /// How the answer is encoded, as its frame declares.
    pub encoding: Encoding,
    /// The request's channel (for a decoding error's words).
    channel: Arc<str>,
}

impl Reply {
    /// The channel the request was asked on.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Reads the answer as a `T`, as [`Message::decode`](crate::Message::decode)
    /// reads a message (feature `serde`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Decode`] with the channel, the encoding and the
    /// decoder's words.
    #[cfg(feature = "serde")]
    pub fn decode<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T> {
        crate::typed::decode(self.encoding, &self.payload, &self.channel)
    }
}

/// The answers to a request, from [`Target::request`]: an iterator that
/// yields, for each peer asked, who it is and its [`Reply`] or the error
/// that ended its request, in the order they come. It waits for the next
/// answer until the request's deadline; once that passes, each request
/// still unanswered comes out at once as [`ErrorKind::TimedOut`], so every
/// peer asked appears exactly once ([`len`](ExactSizeIterator::len) says
/// how many are left). Dropping it forgets the requests still waiting.
///
/// The errors a peer's request can end with: [`ErrorKind::NoResponder`]
/// (nothing answers on the channel there), [`ErrorKind::Remote`] (the
/// responder's error text, or its panic), [`ErrorKind::Busy`] (no room for
/// it there, or for its answer on the way back),
/// [`ErrorKind::NotConnected`] (the connection closed before the
/// answer), [`ErrorKind::ResponderGone`] (the client a host forwarded it to
/// left), [`ErrorKind::ReplyTooLarge`], [`ErrorKind::Forbidden`],
/// [`ErrorKind::TooManyRequests`] (a host forwarding it was at its limit),
/// [`ErrorKind::UnknownName`] / [`ErrorKind::UnknownClient`] (no such client
/// at the host that was to forward it), [`ErrorKind::Full`] (to several
/// peers: that peer's outbox), [`ErrorKind::TimedOut`] (this request's
/// timeout, or the forwarding host's
/// [`forward_timeout`](crate::HostBuilder::forward_timeout), which it
/// carries). A timeout too long to represent, such as `Duration::MAX`, is
/// cut to a year.
#[derive(Debug)]
#[must_use = "the requests are forgotten when their replies are dropped"]
pub struct Replies {
    /// The handle's pending requests, to forget the unanswered when dropped.
    requests: Arc<Requests>,
    /// Where the answers come, one per request at most.
    answers: Arc<Queue<Answer>>,
    /// The requests not answered yet: their ids and who was asked.
    waiting: Vec<(u64, ClientId)>,
    deadline: Option<Instant>,
    timeout: Duration,
    /// The channel asked, shared by every reply.
    channel: Arc<str>,
}

impl Replies {
    /// The first answer (for a request to one peer, its answer).
    ///
    /// # Errors
    ///
    /// The error that ended the first request to end (see [`Replies`]);
    /// `NotConnected` when the request went to nobody (a target of no
    /// connected client).
    pub fn one(mut self) -> Result<Reply> {
        match self.next() {
            Some((_, reply)) => reply,
            None => Err(ErrorKind::NotConnected.into()),
        }
    }

    /// The next answer, as [`next`](Iterator::next) gives it, waiting at
    /// most `timeout` for it (and never past the request's deadline, which
    /// ends a request still unanswered as `next` does): for a caller that
    /// waits in slices, to do something else between them (a Python
    /// binding checks for Ctrl-C).
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] when nothing came within `timeout`
    /// (the request's deadline not yet passed); [`RecvTimeoutError::Disconnected`]
    /// once every peer asked has appeared (where `next` returns `None`).
    pub fn recv_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<(ClientId, Result<Reply>), RecvTimeoutError> {
        let until = crate::time::deadline(timeout);
        self.wait(until).ok_or(RecvTimeoutError::Disconnected)?
    }

    /// The next answer, or the end of a request whose deadline passed,
    /// waiting until `until` at most (`None`: until the deadline): `None`
    /// once every peer asked has appeared, `Some(Err(Timeout))` when `until`
    /// came first.
    fn wait(
        &mut self,
        until: Option<Instant>,
    ) -> Option<Result<(ClientId, Result<Reply>), RecvTimeoutError>> {
        let wake = match (until, self.deadline) {
            (Some(until), Some(deadline)) => Some(until.min(deadline)),
            (until, deadline) => until.or(deadline),
        };
        // Bounded: each turn takes one answer of this request's, or ends one.
        while !self.waiting.is_empty() {
            let answer = self.answers.pop(wake);
            let Some(Answer {
                id,
                from,
                result,
                encoding,
            }) = answer
            else {
                let now = Instant::now();
                let early = self.deadline.is_some_and(|deadline| now < deadline);
                if early && until.is_some_and(|until| now >= until) {
                    return Some(Err(RecvTimeoutError::Timeout));
                }
                // The deadline passed: the requests left end here, one per call.
                let (id, to) = self.waiting.pop()?;
                self.requests.cancel([id]);
                return Some(Ok((to, Err(ErrorKind::TimedOut(self.timeout).into()))));
            };
            // An answer that came as its request timed out is passed over.
            if let Some(at) = self.waiting.iter().position(|&(i, _)| i == id) {
                self.waiting.swap_remove(at);
                let channel = Arc::clone(&self.channel);
                let reply = |payload| Reply {
                    from,
                    payload,
                    encoding,
                    channel,
                };
                return Some(Ok((from, result.map(reply))));
            }
        }
        None
    }
}

impl Iterator for Replies {
    type Item = (ClientId, Result<Reply>);

    fn next(&mut self) -> Option<Self::Item> {
        // With no `until`, nothing ends early: an answer or a timed-out request.
        self.wait(None)?.ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.waiting.len(), Some(self.waiting.len()))
    }
}

impl ExactSizeIterator for Replies {}

impl Drop for Replies {
    fn drop(&mut self) {
        if !self.waiting.is_empty() {
            self.requests.cancel(self.waiting.iter().map(|&(id, _)| id));
        }
    }
}

/// One peer a request goes to.
struct Asked {
    peer: Arc<Peer>,
    /// Who answers, as far as this side knows.
    to: ClientId,
    /// The route it carries: a client's request to another client.
    route: Option<Route>,
}

impl Target<'_> {
    /// Sends a request carrying `payload` on `channel` to every peer this
    /// target names, and returns at once with their [`Replies`]; each has
    /// until `timeout` from now to answer. Many requests may be in flight
    /// on one connection, each matched to its answer by its id; a request
    /// ends when its answer comes, its connection closes, or the
    /// deadline passes.
    ///
    /// * From a client, the target is its host ([`To::Host`]), or one
    ///   other client ([`To::Client`] or [`To::Name`]), which the host
    ///   forwards the request to and whose answer it passes back.
    /// * From a host: one client, a list, a room, a group or every client;
    ///   each answers on its own. Clients whose permissions do not let them
    ///   receive the channel are skipped (named alone, the call fails with
    ///   `Forbidden`).
    ///
    /// The payload goes as a write's does (without a copy; see
    /// [`Outgoing`]); on an idle connection the calling thread writes it
    /// to the kernel itself.
    ///
    /// ```
    /// # use socketengine::{Client, Host, To};
    /// # use std::time::Duration;
    /// let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// let addr = host.local_addr().to_string();
    /// let arm = Client::builder().addr(&addr).name("arm").connect()?;
    /// arm.on_request("status", |_| Ok("ready"))?;
    /// // The host asks every client; the arm answers.
    /// for (from, reply) in host.to(To::All).request("status", "", Duration::from_secs(5))? {
    ///     assert_eq!((from, &reply?.payload[..]), (arm.id(), &b"ready"[..]));
    /// }
    /// // A client asks another through the host.
    /// let planner = Client::builder().addr(&addr).name("planner").connect()?;
    /// let reply = planner.to("arm").request("status", "", Duration::from_secs(5))?.one()?;
    /// assert_eq!((reply.from, &reply.payload[..]), (arm.id(), &b"ready"[..]));
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Before anything is sent, handing the payload back: `Closed`,
    /// `InvalidChannel` (empty, a pattern, or a host's `$` service channel),
    /// `FrameTooLarge`, the target's errors (`UnknownClient`,
    /// `UnknownName`, `UnknownRoom`, `UnknownGroup` from a host; `Forbidden`
    /// for one client that may not receive the channel), `Unsupported` (a
    /// client's request to several clients, a host's to itself, a mirror,
    /// an image as the payload), `TooManyRequests` (over
    /// [`max_requests`](crate::HostBuilder::max_requests)). To one peer,
    /// `NotConnected` and `Full` too. The errors of each request come from
    /// the [`Replies`].
    pub fn request(
        &self,
        channel: &str,
        payload: impl Outgoing,
        timeout: Duration,
    ) -> Result<Replies> {
        let payload = payload.into_outgoing()?;
        let asked = self.asked(channel, &payload)?;
        let shared = self.core.shared();
        let requests = &shared.requests;
        let asks: Vec<Ask> = asked
            .iter()
            .map(|a| Ask {
                id: requests.next_id(),
                peer: a.peer.token(),
                to: a.to,
            })
            .collect();
        let answers = Arc::new(Queue::new(asks.len()));
        requests
            .register(&asks, &answers)
            .map_err(|e| payload.refused(e.into_kind()))?;
        let replies = Replies {
            requests: Arc::clone(requests),
            answers: Arc::clone(&answers),
            waiting: asks.iter().map(|a| (a.id, a.to)).collect(),
            deadline: crate::time::deadline(timeout),
            timeout,
            channel: channel.into(),
        };
        let one = asked.len() == 1;
        for (ask, asked) in asks.iter().zip(&asked) {
            let mut header = payload.header_as(Kind::Request { id: ask.id }, channel);
            header.route = asked.route.as_ref();
            let Err(err) = asked.peer.send_now(&header, payload.bytes.clone()) else {
                continue;
            };
            if one {
                requests.cancel([ask.id]);
                return Err(err);
            }
            // Its answer, in the room kept for it: the error (unless the
            // loop failed it meanwhile, its connection closing).
            requests.abandon(ask, Error::new(err.into_kind()), &answers);
        }
        Ok(replies)
    }

    /// The peers a request goes to, after the checks of the call.
    fn asked(&self, channel: &str, payload: &Payload) -> Result<Vec<Asked>> {
        let refuse = |kind| Err(payload.refused(kind));
        if self.core.is_stopped() {
            return refuse(ErrorKind::Closed);
        }
        check_channel(channel).map_err(|e| e.with_payload(payload.bytes.clone()))?;
        if payload.is_image() || self.mirror {
            let why = "an image as a request, or a mirrored one";
            return refuse(ErrorKind::Unsupported(why));
        }
        let asked = match self.core.upstream() {
            Some(host) => vec![upstream(host, &self.to).map_err(|k| payload.refused(k))?],
            None => downstream(self.core, &self.to, channel).map_err(|k| payload.refused(k))?,
        };
        let longest = asked.iter().map(|a| request_len(channel, payload, a)).max();
        let max = self.core.max_frame();
        match longest {
            Some(len) if len > max => refuse(ErrorKind::FrameTooLarge { len, max }),
            _ => Ok(asked),
        }
    }
}

/// A request from a client: to its host, or through it to one client.
fn upstream(host: &Arc<Peer>, to: &To) -> Result<Asked, ErrorKind> {
    let (to, route) = match to {
        To::Host => (ClientId::HOST, None),
        To::Client(id) => (*id, Some(Route::Clients(vec![id.0]))),
        To::Clients(ids) if ids.len() == 1 => (ids[0], Some(Route::Clients(vec![ids[0].0]))),
        To::Name(name) => (ClientId::HOST, Some(Route::Names(vec![name.clone()]))),
        To::Names(names) if names.len() == 1 => (ClientId::HOST, Some(Route::Names(names.clone()))),
        _ => {
            return Err(ErrorKind::Unsupported(
                "a client's request to several clients",
            ));
        }
    };
    if let Some(Route::Names(names)) = &route {
        if names[0].is_empty() || names[0].len() > 255 {
            return Err(ErrorKind::InvalidTarget(format!(
                "a name of {} bytes",
                names[0].len()
            )));
        }
    }
    let peer = Arc::clone(host);
    Ok(Asked { peer, to, route })
}

/// A request from a host: to each client the target names that may receive `channel`.
fn downstream(core: &Core, to: &To, channel: &str) -> Result<Vec<Asked>, ErrorKind> {
    let peers = match resolve(core, to)? {
        Peers::One(peer) => {
            permitted(&peer, &[channel])?;
            vec![peer.into_owned()]
        }
        peers => peers.into_vec(&[channel], false),
    };
    let asked = peers.into_iter().map(|peer| Asked {
        to: peer.id(),
        peer,
        route: None,
    });
    Ok(asked.collect())
}

/// The body length of the request frame carrying `payload` to `asked`.
fn request_len(channel: &str, payload: &Payload, asked: &Asked) -> usize {
    let mut header = payload.header_as(Kind::Request { id: 0 }, channel);
    header.route = asked.route.as_ref();
    header.body_prefix_len() + payload.len()
}
