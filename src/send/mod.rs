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

pub use request::{Replies, Reply};
pub use respond::Request;
pub(crate) use respond::{register, responder_methods, stats as request_stats};
pub use target::{Target, WriteGuard};

use bytes::{Bytes, BytesMut};

use crate::protocol::{Header, ImageMeta, Kind};
use crate::{Image, Message};

use crate::To;

/// A message ready to send: bytes, or an image (its pixels beside its
/// geometry). Made by [`Outgoing::into_outgoing`]; the kind decides the path:
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
            None => self.header_as(Kind::Data, channel),
        }
    }

    /// The header of a frame of `kind` (data, a request, a reply) that
    /// carries these bytes on `channel`: what the payload says of itself
    /// in a header goes in whichever kind of frame carries it.
    fn header_as<'a>(&self, kind: Kind, channel: &'a str) -> Header<'a> {
        Header::new(kind, channel)
    }
}

/// What can be sent: the payload kind is a type, not a method name.
///
/// Byte payloads (`Bytes`, `Vec<u8>`, `String`, string and byte literals,
/// ...) are sent as data; an [`Image`] (or `&Image`) goes on the image path
/// whichever call sends it; a received [`Message`] is sent on as it came (an
/// image stays an image). Owned buffers, `Bytes` and literals (`&'static str`,
/// `&'static [u8]`) are sent without a copy; `&String` and `&Vec<u8>` are
/// copied once. Implement it for your own types to send them directly.
pub trait Outgoing {
    /// The payload to send.
    fn into_outgoing(self) -> Payload;
}

impl Outgoing for Payload {
    fn into_outgoing(self) -> Payload {
        self
    }
}

impl Outgoing for &Image {
    fn into_outgoing(self) -> Payload {
        Payload {
            bytes: self.data().clone(),
            image: Some(self.meta()),
        }
    }
}

impl Outgoing for Image {
    fn into_outgoing(self) -> Payload {
        (&self).into_outgoing()
    }
}

/// A received message, sent on as it came: an image stays an image (its
/// geometry, sequence number and capture time), bytes stay bytes. The
/// payload is shared, not copied.
impl Outgoing for &Message {
    fn into_outgoing(self) -> Payload {
        Payload {
            bytes: self.payload().clone(),
            image: self.image_meta().copied(),
        }
    }
}

impl Outgoing for Message {
    fn into_outgoing(self) -> Payload {
        let image = self.image_meta().copied();
        Payload {
            bytes: self.into_payload(),
            image,
        }
    }
}

/// Owned byte buffers: moved into a `Bytes`, no copy.
macro_rules! owned_bytes {
    ($($t:ty),*) => {$(
        impl Outgoing for $t {
            fn into_outgoing(self) -> Payload {
                Payload::bytes(self)
            }
        }
    )*};
}

owned_bytes!(Bytes, BytesMut, Vec<u8>, Box<[u8]>, String);

impl Outgoing for &Bytes {
    fn into_outgoing(self) -> Payload {
        Payload::bytes(self.clone())
    }
}

/// Static bytes and strings (literals): sent from where they are, no copy.
impl Outgoing for &'static str {
    fn into_outgoing(self) -> Payload {
        Payload::bytes(Bytes::from_static(self.as_bytes()))
    }
}

impl Outgoing for &'static [u8] {
    fn into_outgoing(self) -> Payload {
        Payload::bytes(Bytes::from_static(self))
    }
}

impl<const N: usize> Outgoing for &'static [u8; N] {
    fn into_outgoing(self) -> Payload {
        Payload::bytes(Bytes::from_static(self))
    }
}

/// Borrowed buffers: copied once, here.
impl Outgoing for &String {
    fn into_outgoing(self) -> Payload {
        Payload::bytes(Bytes::copy_from_slice(self.as_bytes()))
    }
}

impl Outgoing for &Vec<u8> {
    fn into_outgoing(self) -> Payload {
        Payload::bytes(Bytes::copy_from_slice(self))
    }
}
