//! Reading messages as types (feature `serde`): [`Message::decode`] and
//! [`TypedSubscription`].

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Message, Subscription};
use crate::error::{RecvTimeoutError, TryRecvError};
use crate::{Error, ErrorKind, Result};

impl Message {
    /// Reads the payload as a `T`, by the [`Encoding`](crate::Encoding) its
    /// frame declared: JSON, MessagePack, or, for a payload that declared
    /// none, JSON ([`decode`](crate::decode)). `T` may borrow from the
    /// message (a `&str` field).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Decode`] with the channel, the declared encoding and the
    /// decoder's message; the message itself is untouched.
    ///
    /// # Examples
    ///
    /// ```
    /// use socketengine::{Client, Host, Json};
    ///
    /// let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// let arm = Client::builder().addr(host.local_addr().to_string()).connect()?;
    /// let cmds = arm.subscribe("cmd");
    /// host.to(arm.id()).write_lock("cmd", Json(("lift", 0.5)))?;
    /// let msg = cmds.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    /// let (verb, speed): (&str, f64) = msg.decode()?;
    /// assert_eq!((verb, speed), ("lift", 0.5));
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    pub fn decode<'a, T: Deserialize<'a>>(&'a self) -> Result<T> {
        crate::typed::decode(self.encoding, &self.payload, self.channel())
    }

    /// [`decode`](Self::decode), for a caller that lets go of the message:
    /// one that does not decode is handed back whole with the error
    /// ([`Error::into_message`]), so nothing is lost.
    pub(crate) fn decode_or_hand_back<T: DeserializeOwned>(self) -> Result<T> {
        match self.decode() {
            Ok(value) => Ok(value),
            Err(err) => Err(Error::with_message(err, self)),
        }
    }
}

/// Every message arriving on one channel, read as a `T`: from
/// [`subscribe_as`](crate::Inbox::subscribe_as). A [`Subscription`] whose
/// receiving calls decode what they take ([`Message::decode`]).
///
/// Each call returns one message's value or one error: a message that does
/// not decode is [`ErrorKind::Decode`] with the message handed back
/// ([`Error::into_message`]: its payload, sender, time and image fields),
/// and the next call goes on with the next message. A closed handle is [`ErrorKind::Closed`] once everything
/// buffered is taken; a wait that ran out is [`ErrorKind::TimedOut`].
/// For the sender of each value, use [`subscription`](Self::subscription)
/// and [`Message::decode`].
pub struct TypedSubscription<T> {
    inner: Subscription,
    /// The type read; `fn() -> T` so the subscription is `Send + Sync`
    /// whatever `T` is (it holds no `T`).
    _type: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> TypedSubscription<T> {
    pub(crate) fn new(inner: Subscription) -> TypedSubscription<T> {
        TypedSubscription {
            inner,
            _type: PhantomData,
        }
    }

    /// The next value, waiting as long as it takes.
    ///
    /// # Errors
    ///
    /// `Decode` for a message that is not a `T`; `Closed` once the handle
    /// is closed and nothing is left.
    pub fn recv(&self) -> Result<T> {
        let msg = self.inner.recv().map_err(|_| ErrorKind::Closed)?;
        msg.decode_or_hand_back()
    }

    /// The next value, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv), and `TimedOut` when nothing arrived in time.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T> {
        let msg = self.inner.recv_timeout(timeout);
        msg.map_err(|err| waited(err, timeout))?
            .decode_or_hand_back()
    }

    /// The next value, waiting until `deadline` at the latest.
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Self::recv_timeout).
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T> {
        let waiting = deadline.saturating_duration_since(Instant::now());
        let msg = self.inner.recv_deadline(deadline);
        msg.map_err(|err| waited(err, waiting))?
            .decode_or_hand_back()
    }

    /// The next value if a message is buffered (`None` if not), without
    /// waiting.
    ///
    /// # Errors
    ///
    /// As [`recv`](Self::recv).
    pub fn try_recv(&self) -> Result<Option<T>> {
        match self.inner.try_recv() {
            Ok(msg) => msg.decode_or_hand_back().map(Some),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(ErrorKind::Closed.into()),
        }
    }

    /// Values as they arrive, waiting for each (a message that does not
    /// decode is an `Err` item); ends once the handle is closed and nothing
    /// is left.
    pub fn iter(&self) -> impl Iterator<Item = Result<T>> + '_ {
        self.inner.iter().map(Message::decode_or_hand_back)
    }

    /// How many messages are buffered.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no message is buffered.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The untyped subscription underneath: its messages, with their
    /// senders and encodings, shared with this one (each message goes to one
    /// of them).
    pub fn subscription(&self) -> &Subscription {
        &self.inner
    }
}

/// A wait of `timeout` that ended without a message.
fn waited(err: RecvTimeoutError, timeout: Duration) -> Error {
    match err {
        RecvTimeoutError::Timeout => ErrorKind::TimedOut(timeout).into(),
        RecvTimeoutError::Disconnected => ErrorKind::Closed.into(),
    }
}

impl<T> Clone for TypedSubscription<T> {
    fn clone(&self) -> Self {
        TypedSubscription {
            inner: self.inner.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for TypedSubscription<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedSubscription")
            .field("type", &std::any::type_name::<T>())
            .field("inner", &self.inner)
            .finish()
    }
}
