//! A received message, as the store keeps and hands it out.

use std::num::NonZeroU64;
use std::time::{Instant, SystemTime};

use bytes::Bytes;

use crate::ClientId;
use crate::image::Image;
use crate::protocol::{ChannelName, Encoding, ImageMeta};

/// One received message: channel, payload, sender and time of arrival.
///
/// Cloning is cheap: the payload is a shared [`Bytes`] that points into the buffer
/// the socket was read into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub(super) channel: ChannelName,
    pub(super) payload: Bytes,
    pub(super) from: ClientId,
    pub(super) received: Instant,
    /// How its frame declared the payload encoded.
    pub(super) encoding: Encoding,
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

    /// The channel the message arrived on, as a validated name.
    pub(crate) fn channel_name(&self) -> &ChannelName {
        &self.channel
    }

    /// Marks the message as an image with these (validated) wire fields.
    pub(crate) fn with_image(mut self, meta: ImageMeta) -> Self {
        self.extra_mut().image = Some(meta);
        self
    }

    /// The image this message carries, if it arrived as one (an
    /// [`Image`] was sent); the image's pixels are the payload, not copied.
    pub fn image(&self) -> Option<Image> {
        let meta = self.image_meta()?;
        Image::from_wire(meta, self.payload.clone()).ok()
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

    /// When it was sent, on the **host's** clock, if its sender said: a
    /// handle that [stamps its messages](crate::ClientBuilder::stamp_messages)
    /// puts its send time in every frame (a client converts its own clock to
    /// the host's with its [estimate](crate::Client::clock)), and relays,
    /// routes and latched values keep it. So on any peer, the host's own
    /// clock or a client's [`host_time`](crate::Client::host_time) minus
    /// this is how long the message took, within the clocks' uncertainty.
    ///
    /// # Examples
    ///
    /// ```
    /// use socketengine::{Client, Host};
    /// use std::time::Duration;
    ///
    /// let host = Host::builder().addr("127.0.0.1:0").start()?;
    /// let arm = Client::builder()
    ///     .addr(host.local_addr().to_string())
    ///     .stamp_messages(true)
    ///     .connect()?;
    /// let poses = host.subscribe("pose");
    /// arm.write_lock("pose", "x=1")?;
    /// let msg = poses.recv_timeout(Duration::from_secs(5)).unwrap();
    /// let sent = msg.sent_at().expect("a stamped message");
    /// let took = host.host_time().duration_since(sent).unwrap_or_default();
    /// assert!(took < Duration::from_secs(5));
    /// # Ok::<(), socketengine::Error>(())
    /// ```
    pub fn sent_at(&self) -> Option<SystemTime> {
        self.sent_at_ns().map(crate::clock::from_ns)
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
