//! Sending, written once for both handles: where a message goes ([`To`]),
//! what it is ([`Outgoing`]), and the two modes — unlocked
//! ([`write`](Target::write): queue, never block) and locked
//! ([`write_lock`](Target::write_lock): back-pressure, return once the kernel
//! has the bytes) — plus the batch guard ([`WriteGuard`]), in `target`;
//! requests ([`request`](Target::request)) and their [`Replies`] in
//! `request`; the responders that answer them ([`Request`]) in `respond`.

mod confirm;
mod request;
mod respond;
mod target;
#[cfg(feature = "serde")]
mod typed;

pub use request::{Replies, Reply};
pub use respond::Request;
#[cfg(feature = "serde")]
pub(crate) use respond::register_failing;
pub(crate) use respond::{register, responder_methods, stats as request_stats};
pub use target::{Target, WriteGuard};

use std::num::NonZeroU64;

use bytes::{Bytes, BytesMut};

use crate::handle::Core;
use crate::protocol::{Encoding, Header, ImageMeta, Kind};
use crate::{Image, Message, Result};

use crate::To;

/// A message ready to send: bytes (with the [`Encoding`] its frame
/// declares), or an image (its pixels beside its geometry). Made by
/// [`Outgoing::into_outgoing`]; the kind decides the path: images go on the
/// image lane (chunked, conflated), bytes in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    bytes: Bytes,
    /// Present for an image: its wire fields.
    image: Option<ImageMeta>,
    /// How the bytes are encoded (always `Bytes` for an image).
    encoding: Encoding,
    /// The send time its frame carries (host clock): a received message's
    /// own, or the writer's stamp ([`timed`](Self::timed)). Non-zero, so
    /// the field costs 8 bytes: every write moves a `Payload`.
    sent_at: Option<NonZeroU64>,
    /// Whether its times are as they go out: a received message's (its
    /// send time, or none, is its own), or one [`timed`](Self::timed) once.
    timed: bool,
    /// Whether an image's capture time is on the host's clock already (a
    /// received image's, [`Image::is_host_time`]), so a client does not
    /// move it; an image made here is on this process's clock until timed.
    capture_on_host: bool,
}

impl Payload {
    /// A plain byte payload.
    pub fn bytes(bytes: impl Into<Bytes>) -> Payload {
        Payload::encoded(bytes, Encoding::Bytes)
    }

    /// A byte payload encoded already, whose frame declares `encoding` (so
    /// the receiver's [`Message::encoding`] tells it how to read it).
    ///
    /// # Examples
    ///
    /// ```
    /// use socketengine::{Encoding, Payload};
    ///
    /// let payload = Payload::encoded(r#"{"x":1}"#, Encoding::Json);
    /// assert_eq!(payload.encoding(), Encoding::Json);
    /// ```
    pub fn encoded(bytes: impl Into<Bytes>, encoding: Encoding) -> Payload {
        Payload {
            bytes: bytes.into(),
            image: None,
            encoding,
            sent_at: None,
            timed: false,
            capture_on_host: false,
        }
    }

    /// How the payload is encoded ([`Encoding::Bytes`] for an image).
    pub fn encoding(&self) -> Encoding {
        self.encoding
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

    /// The frame header that carries it on `channel`: a data or image
    /// frame, with its send time if it has one.
    fn header<'a>(&self, channel: &'a str) -> Header<'a> {
        let kind = match self.image {
            Some(meta) => Kind::Image(meta),
            None => Kind::Data,
        };
        self.header_as(kind, channel)
            .with_sent_at(self.sent_at_ns())
    }

    /// The header of a frame of `kind` (data, a request, a reply) that
    /// carries these bytes on `channel`, declaring their encoding. No send
    /// time: only data and image frames carry one ([`header`](Self::header)),
    /// so a request made of a received message does not carry that
    /// message's.
    fn header_as<'a>(&self, kind: Kind, channel: &'a str) -> Header<'a> {
        Header::new(kind, channel).with_encoding(self.encoding)
    }

    /// The send time its frame carries, if any.
    pub(crate) fn sent_at_ns(&self) -> Option<u64> {
        self.sent_at.map(NonZeroU64::get)
    }

    /// The payload as `core` sends it: with its send time when the handle
    /// [stamps its messages](crate::ClientBuilder::stamp_messages) (a
    /// received message sent on keeps its own), and, from a client, an
    /// image's capture time moved to the host's clock by the client's
    /// estimate unless it is there already ([`Image::is_host_time`]). Done
    /// once: a payload timed already is left as it is. A write of bytes from
    /// a handle that does not stamp pays one load and a test of its own
    /// fields.
    #[inline]
    pub(crate) fn timed(mut self, core: &Core) -> Payload {
        if (self.image.is_some() || core.stamps()) && !self.timed {
            self.set_times(core);
        }
        self
    }

    /// [`timed`](Self::timed)'s work, for a payload that has some.
    fn set_times(&mut self, core: &Core) {
        self.timed = true;
        if self.sent_at.is_none() {
            self.sent_at = core.stamp_ns().and_then(NonZeroU64::new);
        }
        if let Some(meta) = self.image.as_mut().filter(|_| !self.capture_on_host) {
            meta.timestamp_ns = core.to_host_ns(meta.timestamp_ns);
            self.capture_on_host = true;
        }
    }
}

/// What can be sent: the payload kind is a type, not a method name.
///
/// Byte payloads (`Bytes`, `Vec<u8>`, `String`, string and byte literals,
/// ...) are sent as data; an [`Image`] (or `&Image`) goes on the image path
/// whichever call sends it; a received [`Message`] is sent on as it came (an
/// image stays an image, an encoding stays declared). With the `serde`
/// feature, `Json(&value)` and `MsgPack(&value)` serialise any
/// `Serialize` value and declare its encoding in the frame. Owned buffers,
/// `Bytes` and literals (`&'static str`, `&'static [u8]`) are sent without
/// a copy; `&String` and `&Vec<u8>` are copied once. Implement it for your
/// own types to send them directly.
pub trait Outgoing {
    /// The payload to send.
    ///
    /// # Errors
    ///
    /// A value that cannot be serialised: [`ErrorKind::Encode`](crate::ErrorKind::Encode),
    /// before anything is sent. Bytes and images never fail.
    fn into_outgoing(self) -> Result<Payload>;
}

impl Outgoing for Payload {
    fn into_outgoing(self) -> Result<Payload> {
        Ok(self)
    }
}

impl Outgoing for &Image {
    fn into_outgoing(self) -> Result<Payload> {
        Ok(Payload {
            bytes: self.data().clone(),
            image: Some(self.meta()),
            encoding: Encoding::Bytes,
            sent_at: None,
            timed: false,
            capture_on_host: self.is_host_time(),
        })
    }
}

impl Outgoing for Image {
    fn into_outgoing(self) -> Result<Payload> {
        (&self).into_outgoing()
    }
}

/// A received message, sent on as it came: an image stays an image (its
/// geometry, sequence number and capture time), bytes stay bytes of the
/// encoding they declared, and its send time stays its own. The payload is
/// shared, not copied.
impl Outgoing for &Message {
    fn into_outgoing(self) -> Result<Payload> {
        Ok(Payload {
            bytes: self.payload().clone(),
            image: self.image_meta().copied(),
            encoding: self.encoding(),
            sent_at: self.sent_at_ns().and_then(NonZeroU64::new),
            // Whatever came in is on the host's clock already.
            timed: true,
            capture_on_host: true,
        })
    }
}

impl Outgoing for Message {
    fn into_outgoing(self) -> Result<Payload> {
        let (image, encoding) = (self.image_meta().copied(), self.encoding());
        let sent_at = self.sent_at_ns().and_then(NonZeroU64::new);
        Ok(Payload {
            bytes: self.into_payload(),
            image,
            encoding,
            sent_at,
            timed: true,
            capture_on_host: true,
        })
    }
}

/// Byte payloads that cannot fail: owned buffers moved into a `Bytes` (no
/// copy), literals sent from where they are (no copy), borrowed buffers
/// copied once, here.
macro_rules! byte_payloads {
    ($($t:ty => $bytes:expr),* $(,)?) => {$(
        impl Outgoing for $t {
            fn into_outgoing(self) -> Result<Payload> {
                let to_bytes: fn($t) -> Bytes = $bytes;
                Ok(Payload::bytes(to_bytes(self)))
            }
        }
    )*};
}

byte_payloads!(
    Bytes => |b| b,
    BytesMut => Bytes::from,
    Vec<u8> => Bytes::from,
    Box<[u8]> => Bytes::from,
    String => Bytes::from,
    &Bytes => Bytes::clone,
    &'static str => |s| Bytes::from_static(s.as_bytes()),
    &'static [u8] => Bytes::from_static,
    &String => |s| Bytes::copy_from_slice(s.as_bytes()),
    &Vec<u8> => |v| Bytes::copy_from_slice(v),
);

impl<const N: usize> Outgoing for &'static [u8; N] {
    fn into_outgoing(self) -> Result<Payload> {
        Ok(Payload::bytes(Bytes::from_static(self)))
    }
}
