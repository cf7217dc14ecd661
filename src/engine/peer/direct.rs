//! A locked write from the caller's thread: queued behind a busy connection,
//! or, on an idle one, written straight to the kernel while the caller holds
//! the write side ([`Writer::Caller`]) without holding the lock.

use std::io::{self, IoSlice};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::MutexGuard;

use super::Peer;
use super::out::{Link, OutState, Writer};
use crate::engine::wire::Sink;
use crate::protocol::Header;
use crate::time::deadline;
use crate::{Error, ErrorKind, Result};

impl Peer {
    /// Queues a frame, or writes it straight to the kernel when the connection is
    /// idle; returns the byte count `written` must reach for the frame to be out.
    ///
    /// On a busy connection over its budget, or with the handle's memory
    /// spent, it waits, up to `timeout`, for room: locked writes are the
    /// back-pressure path and never grow the outbox past its budget (a lone
    /// frame always fits the budget, not the memory).
    pub(crate) fn start_locked(
        &self,
        header: &Header<'_>,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<u64> {
        let deadline = deadline(timeout);
        let mut out = self.out.lock();
        loop {
            let busy = match (&out.link, out.writer) {
                (Link::Closed, _) => {
                    return Err(Error::new(ErrorKind::NotConnected).with_payload(payload));
                }
                // Wait for `reopen` (which signals the condvar).
                (Link::Reconnecting, _) => false,
                (Link::Open { .. }, Writer::Idle) => return self.write_now(out, header, payload),
                (Link::Open { .. }, _) => true,
            };
            if busy && out.admit(payload.len(), self.budget) {
                out.pushed += out.pending.push_valid(header, payload) as u64;
                return Ok(out.pushed);
            }
            if self.wait(&mut out, deadline) {
                let timed_out = Error::new(ErrorKind::TimedOut(timeout));
                return Err(timed_out.with_payload(payload));
            }
        }
    }

    /// Writes a frame straight to the kernel when the connection is idle,
    /// else queues it as an unlocked write does; never waits. A request or
    /// a reply: on an idle connection it goes out without a hop through the
    /// loop.
    ///
    /// # Errors
    ///
    /// `NotConnected`, or `Full` on a busy connection over its budget, each
    /// handing the payload back (`NotConnected` after part of it went out
    /// does not).
    pub(crate) fn send_now(&self, header: &Header<'_>, payload: Bytes) -> Result<()> {
        self.send_in(self.out.lock(), header, payload)
    }

    /// As [`send_now`](Self::send_now), only on the connection `serial`
    /// (see [`serial`](Self::serial)): a reply to a request that came on
    /// a connection since lost fails `NotConnected`, so it never answers a
    /// request of the same id on the next one.
    pub(crate) fn send_reply(
        &self,
        serial: u64,
        header: &Header<'_>,
        payload: Bytes,
    ) -> Result<()> {
        let out = self.out.lock();
        if out.serial != serial {
            return Err(Error::new(ErrorKind::NotConnected).with_payload(payload));
        }
        self.send_in(out, header, payload)
    }

    fn send_in(
        &self,
        out: MutexGuard<'_, OutState>,
        header: &Header<'_>,
        payload: Bytes,
    ) -> Result<()> {
        match (&out.link, out.writer) {
            (Link::Open { .. }, Writer::Idle) => self.write_now(out, header, payload).map(drop),
            _ => self.queue_in(out, header, payload),
        }
    }

    /// Writes a frame on an idle connection from the caller's thread; whatever
    /// the socket does not take goes to the loop.
    fn write_now(
        &self,
        mut out: MutexGuard<'_, OutState>,
        header: &Header<'_>,
        payload: Bytes,
    ) -> Result<u64> {
        let mut head = Vec::with_capacity(header.body_prefix_len() + 4);
        header.encode_valid(payload.len(), &mut head);
        let total = head.len() + payload.len();
        // Take the write side and let go of the lock for the system call.
        let Some(stream) = out.take_for_caller() else {
            let closed = Error::new(ErrorKind::NotConnected);
            return Err(closed.with_payload(payload));
        };
        drop(out);
        let (n, flushed, failed) = write_direct(&stream, &head, &payload);
        let mut out = self.out.lock();
        if out.caller_done() {
            // The connection closed meanwhile (and may be open again): the rest
            // of this frame must not start the next connection's stream, but
            // what was queued on that next connection meanwhile goes out.
            self.hand_over(out);
            if n == total && failed.is_none() {
                // The whole frame reached the kernel before the close: it was
                // written, as a locked write promises (nothing left to wait
                // for: any count of `written` is past 0).
                return Ok(0);
            }
            let gone = Error::new(ErrorKind::NotConnected);
            return Err(if n == 0 {
                gone.with_payload(payload)
            } else {
                gone
            });
        }
        match failed {
            // Nothing went out: the frame was not delivered, hand it back.
            // A connection the peer ended is `NotConnected`, as it is once
            // the loop has seen the end.
            Some(err) if n == 0 => {
                self.wake_loop(out);
                let err = match is_gone(&err) {
                    true => Error::new(ErrorKind::NotConnected),
                    false => Error::from(err),
                };
                return Err(err.with_payload(payload));
            }
            // Part of the frame went out on a broken socket; the loop sees the
            // error too and closes the connection.
            Some(err) => {
                self.wake_loop(out);
                return Err(err.into());
            }
            None => {}
        }
        // A frame went out: images keep to half their window for a while.
        out.flow.frames_sent(self.epoch.elapsed());
        // The rest of this frame goes before anything queued during the call.
        out.pushed += total as u64;
        out.written += flushed as u64;
        let target = out.pushed;
        out.note_data_written();
        if n < total {
            let head_rest = head.get(n..).unwrap_or_default();
            out.pending
                .push_front_raw(payload.slice(n.saturating_sub(head.len())..));
            out.pending
                .push_front_raw(Bytes::copy_from_slice(head_rest));
            out.cover();
        }
        self.hand_over(out);
        Ok(target)
    }

    /// After a direct write: the loop takes over whatever was queued
    /// meanwhile (a caller's write side suppressed its wake-ups).
    fn hand_over(&self, out: MutexGuard<'_, OutState>) {
        let waiting = !out.pending.is_empty() || out.images_waiting() || !out.urgent.is_empty();
        if out.is_open() && waiting {
            self.wake_loop(out);
        }
    }
}

/// Whether a write failed because the peer ended the connection.
fn is_gone(err: &io::Error) -> bool {
    use io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, NotConnected};
    matches!(
        err.kind(),
        BrokenPipe | ConnectionReset | ConnectionAborted | NotConnected
    )
}

/// Writes `head` then `payload` until done or the socket would block; returns
/// the bytes taken, the bytes counted written (see `engine::wire::Wrote`),
/// and the error that stopped it, if any.
fn write_direct(sink: &Sink, head: &[u8], payload: &[u8]) -> (usize, usize, Option<io::Error>) {
    let total = head.len() + payload.len();
    let (mut done, mut written) = (0, 0);
    while done < total {
        let slices = [
            IoSlice::new(head.get(done..).unwrap_or_default()),
            IoSlice::new(
                payload
                    .get(done.saturating_sub(head.len())..)
                    .unwrap_or_default(),
            ),
        ];
        match sink.write_vectored(&slices) {
            Ok(wrote) if wrote.taken == 0 => {
                return (done, written, Some(io::ErrorKind::WriteZero.into()));
            }
            Ok(wrote) => {
                done += wrote.taken;
                written += wrote.written;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, written, Some(e)),
        }
    }
    (done, written, None)
}
