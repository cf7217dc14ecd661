//! A received message: what the store keeps and hands out, and what an
//! error hands back (a message that did not decode as the type asked for).
//! It sits low, beside the errors, so that [`Error`](crate::Error) can hold
//! one; its image and send-time views ([`Message::image`],
//! [`Message::sent_at`]) are the store's.

use std::num::NonZeroU64;
use std::time::Instant;

use bytes::Bytes;

use crate::id::ClientId;
use crate::protocol::{ChannelName, Encoding, ImageMeta};

/// One received message: channel, payload, sender and time of arrival.
///
/// Cloning is cheap: the payload is a shared [`Bytes`] that points into the buffer
/// the socket was read into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub(crate) channel: ChannelName,
    pub(crate) payload: Bytes,
    pub(crate) from: ClientId,
    pub(crate) received: Instant,
    /// How its frame declared the payload encoded.
    pub(crate) encoding: Encoding,
    /// What most messages lack (boxed, so they do not pay for it: a reader
    /// draining a stream of small messages moves every byte of each).
    extra: Option<Box<Extra>>,
}

/// The fields of a [`Message`] that most messages lack.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Extra {
    /// The wire fields of an image.
    image: Option<ImageMeta>,
    /// When it was sent, in nanoseconds since the Unix epoch on the host's
    /// clock, if its frame said.
    sent_at: Option<NonZeroU64>,
}

impl Message {
    pub(crate) fn new(
        channel: ChannelName,
        payload: Bytes,
        from: ClientId,
        received: Instant,
    ) -> Self {
        Message {
            channel,
            payload,
            from,
            received,
            encoding: Encoding::Bytes,
            extra: None,
        }
    }

    /// The extra fields, made if missing.
    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Records the send time its frame carried (host clock, nanoseconds
    /// since the Unix epoch); 0 counts as none.
    pub(crate) fn with_sent_at(mut self, sent_at: Option<u64>) -> Self {
        if let Some(sent_at) = sent_at.and_then(NonZeroU64::new) {
            self.extra_mut().sent_at = Some(sent_at);
        }
        self
    }

    /// The send time in nanoseconds, as its frame carried it.
    pub(crate) fn sent_at_ns(&self) -> Option<u64> {
        let extra = self.extra.as_deref()?;
        extra.sent_at.map(NonZeroU64::get)
    }

    /// Marks the message's payload as encoded with `encoding`, as its frame
    /// declared.
    pub(crate) fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// The message with its payload in a buffer of its own if it is `max`
    /// bytes or less: copied out of the receive buffer it may share with
    /// other messages, so that keeping it does not keep that whole buffer.
    pub(crate) fn compacted(mut self, max: usize) -> Message {
        if self.payload.len() <= max {
            self.payload = Bytes::copy_from_slice(&self.payload);
        }
        self
    }

    /// The channel the message arrived on, as a validated name.
    pub(crate) fn channel_name(&self) -> &ChannelName {
        &self.channel
    }

    /// Marks the message as an image with these (validated) wire fields.
    pub(crate) fn with_image(mut self, meta: ImageMeta) -> Self {
        self.extra_mut().image = Some(meta);
        self
    }

    /// The wire fields of the image this message carries, if any.
    pub(crate) fn image_meta(&self) -> Option<&ImageMeta> {
        self.extra.as_deref()?.image.as_ref()
    }

    /// The channel the message arrived on.
    pub fn channel(&self) -> &str {
        self.channel.as_str()
    }

    /// How the payload is encoded, as its sender declared it:
    /// [`Encoding::Bytes`] (nothing declared) unless it was sent typed
    /// (with the `serde` feature, `Json(&value)` or `MsgPack(&value)`),
    /// or by a peer that set the encoding bits of its frame.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Takes the payload.
    pub fn into_payload(self) -> Bytes {
        self.payload
    }

    /// Who sent it: a client id on the host, [`ClientId::HOST`] on a client
    /// (unless the host relayed it from another client).
    pub fn from(&self) -> ClientId {
        self.from
    }

    /// When the event loop read it off the socket.
    pub fn received(&self) -> Instant {
        self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacting_copies_a_small_payload_out_of_its_shared_buffer_only() {
        let chunk = Bytes::from(vec![1u8; 1000]);
        let span = |range| {
            let name = ChannelName::new("ch").expect("a name");
            Message::new(name, chunk.slice(range), ClientId(1), Instant::now())
        };
        let within = |msg: &Message| chunk.as_ptr_range().contains(&msg.payload.as_ptr());
        let small = span(10..20).compacted(10);
        assert_eq!(
            (&small.payload[..], within(&small)),
            (&[1u8; 10][..], false)
        );
        let large = span(10..30).compacted(10);
        assert!(within(&large), "kept where it was");
    }
}
