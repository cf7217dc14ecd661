//! Requests this side sent and waits on: each has an id, a one-shot channel
//! its reply completes, and the peer it went to, so a lost connection fails
//! it at once. Layouts in the [wire format](crate::protocol#services).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use mio::Token;
use parking_lot::Mutex;

use super::Peer;
use crate::protocol::{Failure, Frame, Header, Kind, Undelivered};
use crate::{Action, Error, ErrorKind, Result};

/// Requests waiting for their replies.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    /// The last id given; atomic so callers on any thread take ids without a lock.
    next: AtomicU64,
    /// Pending requests by id. A mutex: touched once per request, its reply
    /// and its end, never held across a wait.
    pending: Mutex<HashMap<u64, Pending>>,
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
    /// Capacity 1: the reply, or the error that ended the request.
    done: Sender<Result<Bytes>>,
}

impl Requests {
    /// Sends a request with `payload` on `channel` to `peer` and waits up to
    /// `timeout` for its reply; returns the answer of a reply of status 0.
    ///
    /// # Errors
    ///
    /// `NotConnected` at once when the connection is not open, or when it
    /// closes before the reply; `Full` when its outbox holds its budget;
    /// `TimedOut`; `NoResponder` or `Remote` for a reply of non-zero status.
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
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let done = self.register(id, peer.token());
        let header = Header::new(Kind::Request { id }, channel);
        if let Err(err) = peer.queue(&header, payload) {
            self.pending.lock().remove(&id);
            return Err(Error::new(err.into_kind()));
        }
        match done.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => {
                self.pending.lock().remove(&id);
                Err(ErrorKind::TimedOut(timeout).into())
            }
            Err(RecvTimeoutError::Disconnected) => Err(ErrorKind::Closed.into()),
        }
    }

    fn register(&self, id: u64, peer: Token) -> Receiver<Result<Bytes>> {
        let (done, rx) = crossbeam_channel::bounded(1);
        self.pending.lock().insert(id, Pending { peer, done });
        rx
    }

    /// A reply arrived: completes its request, if one still waits.
    pub(crate) fn complete(&self, reply: &Frame) {
        let Kind::Reply { id, status } = reply.kind else {
            return;
        };
        let Some(pending) = self.pending.lock().remove(&id) else {
            return;
        };
        let result = match status {
            0 => Ok(reply.payload.clone()),
            _ => Err(error_of(Failure::from_reply(status, &reply.payload))),
        };
        // The channel has room for this one result; a caller gone is fine.
        let _ = pending.done.try_send(result);
    }

    /// Starts collecting the host's notices about frames on `channel`, for
    /// a confirmed write; returns the watch's id for [`unwatch`](Self::unwatch).
    pub(crate) fn watch(&self, channel: &str) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
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
        let mut pending = self.pending.lock();
        pending.retain(|_, p| {
            if p.peer != peer {
                return true;
            }
            let _ = p.done.try_send(Err(ErrorKind::NotConnected.into()));
            false
        });
    }
}

/// The error a caller sees for a failure reply.
fn error_of(failure: Failure) -> Error {
    let kind = match failure {
        Failure::NoResponder(channel) => ErrorKind::NoResponder(channel),
        Failure::BadRequest(why) | Failure::Failed(why) => ErrorKind::Remote(why),
        Failure::Forbidden(channel) => ErrorKind::Forbidden {
            action: Action::Request,
            channel,
            client: None,
        },
    };
    Error::new(kind)
}
