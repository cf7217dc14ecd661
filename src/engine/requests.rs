//! Requests this side sent and waits on: each has an id, the connection it
//! went out on (only a reply from there completes it, and a lost connection
//! fails it at once), who was asked, and the channel its answer goes to. A
//! request to many is one id per target, their answers on one channel.
//! Layouts in the [wire format](crate::protocol#requests-and-replies).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use mio::Token;
use parking_lot::Mutex;

use super::Peer;
use crate::dispatch::Queue;
use crate::protocol::{Encoding, Failure, Frame, Header, Kind, Undelivered};
use crate::{Action, ClientId, Error, ErrorKind, Result};

/// Requests waiting for their replies.
#[derive(Debug)]
pub(crate) struct Requests {
    /// The last id given; atomic so callers on any thread take ids without
    /// a lock. A host's forwarded requests take theirs here too, so no two
    /// requests on one connection share an id.
    next: AtomicU64,
    /// Pending requests by id. A mutex: touched once per request, its reply
    /// and its end, never held across a wait.
    pending: Mutex<HashMap<u64, Pending>>,
    /// Most requests pending at once (the `max_requests` setting).
    max: usize,
    /// Confirmed writes in progress: the notices their channels receive.
    watches: Mutex<Vec<Watch>>,
}

/// A confirmed write's watch on the notices of its channel.
#[derive(Debug)]
struct Watch {
    id: u64,
    channel: String,
    notices: Vec<Undelivered>,
}

#[derive(Debug)]
struct Pending {
    /// The connection the request went out on (its peer's token).
    peer: Token,
    /// Who was asked, as far as this side knows (the reply's origin, when
    /// it has one, says better).
    to: ClientId,
    /// Where its answer goes; room for every answer it waits for.
    done: Arc<Queue<Answer>>,
}

/// The end of one request: who answered, and what.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) id: u64,
    pub(crate) from: ClientId,
    pub(crate) result: Result<Bytes>,
    /// The encoding the reply's frame declared (bytes for a failure).
    pub(crate) encoding: Encoding,
}

/// One request about to go out: its id, the connection, and who is asked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ask {
    pub(crate) id: u64,
    pub(crate) peer: Token,
    pub(crate) to: ClientId,
}

impl Requests {
    pub(crate) fn new(max: usize) -> Requests {
        Requests {
            next: AtomicU64::new(0),
            pending: Mutex::default(),
            max,
            watches: Mutex::default(),
        }
    }

    /// A fresh request id.
    pub(crate) fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Records `asks` as pending, their answers to go to `done` (which has
    /// room for them all); all or none.
    ///
    /// # Errors
    ///
    /// `TooManyRequests` when they would take the pending requests past the limit.
    pub(crate) fn register(&self, asks: &[Ask], done: &Arc<Queue<Answer>>) -> Result<()> {
        let mut pending = self.pending.lock();
        if pending.len() + asks.len() > self.max {
            return Err(ErrorKind::TooManyRequests { max: self.max }.into());
        }
        for ask in asks {
            let (peer, to, done) = (ask.peer, ask.to, Arc::clone(done));
            pending.insert(ask.id, Pending { peer, to, done });
        }
        Ok(())
    }

    /// Forgets the requests `ids` (answered or not): their answers, if any
    /// come, are dropped. Returns how many were still pending.
    pub(crate) fn cancel(&self, ids: impl IntoIterator<Item = u64>) -> usize {
        let mut pending = self.pending.lock();
        ids.into_iter()
            .filter(|id| pending.remove(id).is_some())
            .count()
    }

    /// Request `ask` could not be sent (`error`): forgets it and, if it was
    /// still pending, puts its error in its place in `done`. If it was not
    /// (the loop failed it meanwhile, its connection closing), that answer
    /// is its one: a second would take the room kept for another request's.
    pub(crate) fn abandon(&self, ask: &Ask, error: Error, done: &Queue<Answer>) {
        if self.cancel([ask.id]) == 0 {
            return;
        }
        // The queue has room for this answer.
        let _ = done.push(Answer {
            id: ask.id,
            from: ask.to,
            result: Err(error),
            encoding: Encoding::Bytes,
        });
    }

    /// How many requests wait for their replies.
    pub(crate) fn pending(&self) -> usize {
        self.pending.lock().len()
    }

    /// Sends a request with `payload` on `channel` to `peer` and waits up to
    /// `timeout` for its reply; returns the answer of a reply of status 0.
    /// For a host's services, from a client.
    ///
    /// # Errors
    ///
    /// `NotConnected` at once when the connection is not open, or when it
    /// closes before the reply; `Full` when its outbox holds its budget;
    /// `TooManyRequests`; `TimedOut`; `NoResponder` or `Remote` (or another
    /// failure's kind) for a reply of non-zero status.
    pub(crate) fn ask(
        &self,
        peer: &Peer,
        channel: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes> {
        if !peer.is_connected() {
            return Err(ErrorKind::NotConnected.into());
        }
        let done = Arc::new(Queue::new(1));
        let (id, token) = (self.next_id(), peer.token());
        let to = ClientId::HOST;
        self.register(
            &[Ask {
                id,
                peer: token,
                to,
            }],
            &done,
        )?;
        let header = Header::new(Kind::Request { id }, channel);
        if let Err(err) = peer.send_now(&header, payload) {
            self.cancel([id]);
            return Err(Error::new(err.into_kind()));
        }
        match done.pop(crate::time::deadline(timeout)) {
            Some(answer) => answer.result,
            None => {
                self.cancel([id]);
                Err(ErrorKind::TimedOut(timeout).into())
            }
        }
    }

    /// A reply arrived on the connection `from`: completes its request, if
    /// one still waits and went out there. A reply to an id never sent, one
    /// answered already, or one from another connection changes nothing.
    /// With `trust_origin` (a client, whose host says who answered a
    /// request it forwarded) the reply's origin names who answered; else
    /// (a host, whose client could name anyone) the client asked does.
    pub(crate) fn complete(&self, from: Token, reply: &Frame, trust_origin: bool) {
        let Kind::Reply { id, status } = reply.kind else {
            return;
        };
        let pending = {
            let mut pending = self.pending.lock();
            match pending.get(&id) {
                Some(p) if p.peer == from => pending.remove(&id),
                _ => None,
            }
        };
        let Some(pending) = pending else {
            return;
        };
        let result = match status {
            0 => Ok(reply.payload.clone()),
            _ => {
                let failure = Failure::from_reply(status, &reply.payload);
                Err(error_of(failure, reply.channel_str()))
            }
        };
        let from = match (trust_origin, reply.origin) {
            (true, Some(origin)) => ClientId(origin),
            _ => pending.to,
        };
        // The queue has room for this answer; a caller gone is fine.
        let encoding = reply.encoding;
        let _ = pending.done.push(Answer {
            id,
            from,
            result,
            encoding,
        });
    }

    /// Starts collecting the host's notices about frames on `channel`, for
    /// a confirmed write; returns the watch's id for [`unwatch`](Self::unwatch).
    pub(crate) fn watch(&self, channel: &str) -> u64 {
        let id = self.next_id();
        let channel = channel.to_owned();
        let notices = Vec::new();
        self.watches.lock().push(Watch {
            id,
            channel,
            notices,
        });
        id
    }

    /// A host's notice about a frame on `channel`: kept by every watch on it.
    pub(crate) fn note(&self, channel: &str, notice: &Undelivered) {
        let mut watches = self.watches.lock();
        for watch in watches.iter_mut().filter(|w| w.channel == channel) {
            watch.notices.push(notice.clone());
        }
    }

    /// Ends watch `id`; returns the notices it collected.
    pub(crate) fn unwatch(&self, id: u64) -> Vec<Undelivered> {
        let mut watches = self.watches.lock();
        match watches.iter().position(|w| w.id == id) {
            Some(at) => watches.swap_remove(at).notices,
            None => Vec::new(),
        }
    }

    /// The connection of `peer` closed: every request sent on it fails with
    /// `NotConnected`.
    pub(crate) fn fail_peer(&self, peer: Token) {
        self.fail_where(|p| p.peer == peer, || ErrorKind::NotConnected);
    }

    /// The handle stopped: every request still pending fails with `Closed`.
    pub(crate) fn fail_all(&self) {
        self.fail_where(|_| true, || ErrorKind::Closed);
    }

    fn fail_where(&self, which: impl Fn(&Pending) -> bool, kind: impl Fn() -> ErrorKind) {
        let mut pending = self.pending.lock();
        pending.retain(|&id, p| {
            if !which(p) {
                return true;
            }
            let result = Err(kind().into());
            let _ = p.done.push(Answer {
                id,
                from: p.to,
                result,
                encoding: Encoding::Bytes,
            });
            false
        });
    }
}

/// The error a requester sees for a failure reply on `channel`.
fn error_of(failure: Failure, channel: &str) -> Error {
    let kind = match failure {
        Failure::NoResponder(channel) => ErrorKind::NoResponder(channel),
        Failure::BadRequest(why) | Failure::Failed(why) => ErrorKind::Remote(why),
        Failure::Forbidden(channel) => ErrorKind::Forbidden {
            action: Action::Request,
            channel,
            client: None,
        },
        Failure::Undelivered(notice) => return super::route::error_of(notice, channel),
        Failure::Busy(channel) => ErrorKind::Busy(channel),
        Failure::Gone(who) => ErrorKind::ResponderGone(who),
        Failure::UnknownCommand(name) => ErrorKind::UnknownCommand(name),
        Failure::TooLarge { len, max } => ErrorKind::ReplyTooLarge {
            len: usize::try_from(len).unwrap_or(usize::MAX),
            max: usize::try_from(max).unwrap_or(usize::MAX),
        },
        Failure::TooMany { max } => ErrorKind::TooManyRequests {
            max: usize::try_from(max).unwrap_or(usize::MAX),
        },
        Failure::TimedOut { ms } => ErrorKind::TimedOut(Duration::from_millis(ms)),
    };
    Error::new(kind)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::protocol::ChannelName;

    fn reply(id: u64) -> Frame {
        Frame {
            kind: Kind::Reply { id, status: 0 },
            channel: ChannelName::new("q").expect("a valid name"),
            route: None,
            origin: Some(99),
            mirror: false,
            sent_at: None,
            encoding: Encoding::Bytes,
            payload: Bytes::from_static(b"ok"),
        }
    }

    #[test]
    fn a_request_failed_by_the_loop_as_its_send_fails_is_answered_once() {
        let requests = Requests::new(8);
        let done = Arc::new(Queue::new(2));
        let ask = |id: u64| Ask {
            id,
            peer: Token(id as usize),
            to: ClientId(id),
        };
        let (lost, other) = (ask(1), ask(2));
        requests.register(&[lost, other], &done).expect("room");
        // Request 1's connection closes (the loop fails it) as its send fails.
        requests.fail_peer(Token(1));
        requests.abandon(&lost, ErrorKind::NotConnected.into(), &done);
        assert_eq!(requests.pending(), 1);
        // Request 2's answer still has its room; a host names who it asked.
        requests.complete(Token(2), &reply(2), false);
        let soon = Some(Instant::now());
        let answers: Vec<(u64, ClientId, bool)> = std::iter::from_fn(|| done.pop(soon))
            .map(|a| (a.id, a.from, a.result.is_ok()))
            .collect();
        assert_eq!(answers, [(1, ClientId(1), false), (2, ClientId(2), true)]);
        // A client takes its host's word.
        requests.register(&[ask(3)], &done).expect("room");
        requests.complete(Token(3), &reply(3), true);
        assert_eq!(done.pop(soon).map(|a| a.from), Some(ClientId(99)));
    }
}
