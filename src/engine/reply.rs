//! Reply frames, built in one place for every path that answers a request:
//! the loop's failures (no responder, busy, forbidden, a forward that could
//! not go), a host's services, a host passing a forwarded reply back, and a
//! responder's answer on the dispatcher. An answer is checked against the
//! maximum frame (too large: status 8 in its place); an answer the outbox
//! has no room for is replaced by a failure (busy); and a failure goes out
//! a little past the outbox's budget ([`Peer::queue_failure`]), so a
//! requester is told rather than left waiting. Layouts in the
//! [wire format](crate::protocol#requests-and-replies).

use bytes::Bytes;

use super::Peer;
use crate::protocol::{Encoding, Failure, Header, Kind, STATUS_OK};
use crate::{ClientId, Error, ErrorKind};

/// The reply to request `id` on `channel`, sent on the connection `serial`
/// of the peer that asked (see [`Peer::serial`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reply<'a> {
    pub(crate) id: u64,
    pub(crate) channel: &'a str,
    pub(crate) serial: u64,
    /// Who answered, on a reply a host passes on (or fails for the client
    /// it forwarded to).
    pub(crate) origin: Option<ClientId>,
}

impl<'a> Reply<'a> {
    /// The reply to `peer`'s request `id` on `channel`, on its current connection.
    pub(crate) fn to(peer: &Peer, id: u64, channel: &'a str) -> Reply<'a> {
        Reply {
            id,
            channel,
            serial: peer.serial(),
            origin: None,
        }
    }

    /// The same reply, as from `origin`.
    pub(crate) fn from(self, origin: ClientId) -> Reply<'a> {
        Reply {
            origin: Some(origin),
            ..self
        }
    }

    /// The header of an answer (status 0) of `len` payload bytes in
    /// `encoding`, or the failure to send instead when the frame would be
    /// over `max`.
    pub(crate) fn answer(
        &self,
        encoding: Encoding,
        len: usize,
        max: usize,
    ) -> Result<Header<'a>, Failure> {
        let header = self.header(STATUS_OK).with_encoding(encoding);
        let frame = header.body_prefix_len() + len;
        match frame > max {
            true => Err(Failure::TooLarge {
                len: frame as u64,
                max: max as u64,
            }),
            false => Ok(header),
        }
    }

    /// Queues `failure` to `peer`, from any thread, without waiting (see
    /// [`Peer::queue_failure`]: past the budget a little, else dropped and
    /// counted).
    pub(crate) fn fail(&self, peer: &Peer, failure: &Failure) {
        self.try_fail(peer, failure);
    }

    /// As [`fail`](Self::fail); returns whether it was queued.
    fn try_fail(&self, peer: &Peer, failure: &Failure) -> bool {
        let header = self.header(failure.status());
        peer.queue_failure(self.serial, &header, failure.encode())
    }

    /// Loop side: queues `payload`, an answer in `encoding`, to `peer`
    /// without waiting: as status 8 when it is over `max`, and as status
    /// 6 (busy) when the outbox has no room for it.
    pub(crate) fn queue(&self, peer: &Peer, encoding: Encoding, payload: Bytes, max: usize) {
        let header = match self.answer(encoding, payload.len(), max) {
            Ok(header) => header,
            Err(too_large) => {
                self.fail(peer, &too_large);
                return;
            }
        };
        if peer.queue(&header, payload).is_err() {
            self.fail(peer, &Failure::Busy(self.channel.to_owned()));
        }
    }

    /// Sends `payload` with `header` (one of [`answer`](Self::answer)'s)
    /// from the caller's thread (a responder's, on the dispatcher) as
    /// `Peer::send_reply` does; a full outbox sends status 6 (busy) in its
    /// place. Returns the error that kept the answer from going, if any.
    pub(crate) fn send(
        &self,
        peer: &Peer,
        header: &Header<'_>,
        payload: Bytes,
    ) -> Result<(), Error> {
        let err = match peer.send_reply(self.serial, header, payload) {
            Ok(()) => return Ok(()),
            Err(err) => err,
        };
        if let ErrorKind::Full { .. } = err.kind() {
            self.fail(peer, &Failure::Busy(self.channel.to_owned()));
        }
        Err(Error::new(err.into_kind()))
    }

    /// Sends `failure` as [`send`](Self::send) sends an answer: straight
    /// to the kernel on an idle connection, else queued, past the budget
    /// as [`fail`](Self::fail) allows.
    pub(crate) fn send_failure(&self, peer: &Peer, failure: &Failure) -> Result<(), Error> {
        let header = self.header(failure.status());
        match peer.send_reply(self.serial, &header, failure.encode()) {
            Err(err) if matches!(err.kind(), ErrorKind::Full { .. }) => {
                match self.try_fail(peer, failure) {
                    true => Ok(()),
                    false => Err(Error::new(err.into_kind())),
                }
            }
            sent => sent.map_err(|err| Error::new(err.into_kind())),
        }
    }

    fn header(&self, status: u8) -> Header<'a> {
        let kind = Kind::Reply {
            id: self.id,
            status,
        };
        Header {
            origin: self.origin.map(|id| id.0),
            ..Header::new(kind, self.channel)
        }
    }
}
