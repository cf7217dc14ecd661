//! Camera frames: the [`Image`] type, its pixel formats, its geometry checks
//! and [`ImageStats`] — the core of the image path, built in every
//! configuration.
//!
//! Named `Image`, not frame, to stay apart from the wire-level frames of
//! the protocol. An image is its geometry (width, height, pixel
//! format, row stride), a sequence number, a capture time, and its pixels as
//! [`Bytes`]: received images point into the buffer the socket was read into,
//! and sent ones are written from the caller's buffer, so pixels are never copied
//! in user space on either side.
//!
//! Send with [`Client::write`](crate::Client::write) or
//! [`Host::write`](crate::Host::write); read the newest with
//! `get_image`.
//!
//! Conversions to and from the `image` crate's buffers (`from_rgb`, `as_rgb`,
//! `to_dynamic`, ...) and JPEG/PNG encoding and decoding (`encode_jpeg`,
//! `encode_png`, `decode`) are in `convert`, compiled only with the `image`
//! feature (on by default). Without it, JPEG and PNG images are still sent and
//! received as opaque encoded bytes; only making and reading them needs the
//! feature.
//!
//! # Examples
//!
//! ```
//! use socketengine::{Image, PixelFormat};
//!
//! // A 3×2 RGB image whose rows are padded to 12 bytes.
//! let pixels = vec![0u8; 12 * 2];
//! let img = Image::with_stride(3, 2, PixelFormat::Rgb8, 12, pixels).unwrap().with_seq(7);
//! assert_eq!((img.width(), img.row(1).len(), img.seq()), (3, 9, 7));
//!
//! // A payload that does not fit its geometry is refused.
//! assert!(Image::new(3, 2, PixelFormat::Rgb8, vec![0u8; 17]).is_err());
//! ```

use std::time::Duration;

use bytes::Bytes;

use crate::protocol::ImageMeta;
use crate::time::unix_ns;

#[cfg(feature = "image")]
mod convert;

/// The default channel of images.
pub const IMAGE_CHANNEL: &str = "image";

/// How pixels are laid out, or how the image is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PixelFormat {
    /// 8-bit grey, one byte per pixel.
    Gray8,
    /// 16-bit grey, two bytes per pixel, little-endian.
    Gray16,
    /// 8-bit red, green, blue.
    Rgb8,
    /// 8-bit blue, green, red (OpenCV's order).
    Bgr8,
    /// 8-bit red, green, blue, alpha.
    Rgba8,
    /// A JPEG file; width and height are the decoded size, stride is 0.
    /// Travels as opaque bytes; `Image::encode_jpeg` and `Image::decode` (the
    /// `image` feature) make and read one.
    Jpeg,
    /// A PNG file; width and height are the decoded size, stride is 0.
    /// Travels as opaque bytes; `Image::encode_png` and `Image::decode` (the
    /// `image` feature) make and read one.
    Png,
}

impl PixelFormat {
    /// The format's byte on the wire.
    pub fn code(self) -> u8 {
        match self {
            PixelFormat::Gray8 => 1,
            PixelFormat::Gray16 => 2,
            PixelFormat::Rgb8 => 3,
            PixelFormat::Bgr8 => 4,
            PixelFormat::Rgba8 => 5,
            PixelFormat::Jpeg => 16,
            PixelFormat::Png => 17,
        }
    }

    /// The format with wire byte `code`.
    pub fn from_code(code: u8) -> Option<PixelFormat> {
        Some(match code {
            1 => PixelFormat::Gray8,
            2 => PixelFormat::Gray16,
            3 => PixelFormat::Rgb8,
            4 => PixelFormat::Bgr8,
            5 => PixelFormat::Rgba8,
            16 => PixelFormat::Jpeg,
            17 => PixelFormat::Png,
            _ => return None,
        })
    }

    /// Bytes per pixel of a raw format; `None` for an encoded one.
    pub fn bytes_per_pixel(self) -> Option<usize> {
        match self {
            PixelFormat::Gray8 => Some(1),
            PixelFormat::Gray16 => Some(2),
            PixelFormat::Rgb8 | PixelFormat::Bgr8 => Some(3),
            PixelFormat::Rgba8 => Some(4),
            PixelFormat::Jpeg | PixelFormat::Png => None,
        }
    }

    /// Whether the payload is an encoded file (JPEG, PNG) rather than raw pixels.
    pub fn is_encoded(self) -> bool {
        self.bytes_per_pixel().is_none()
    }
}

/// Image counters of one channel, from
/// [`image_stats`](crate::Inbox::image_stats) on a host or a client.
///
/// Sending side: every image written to a peer is eventually `sent` or
/// `dropped`. Receiving side: `skipped` counts the gaps in each sender's
/// sequence numbers after the first image received, so with consecutively
/// numbered images it equals the sender's `dropped` for this receiver once the
/// stream is quiet, less any dropped before that first image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ImageStats {
    /// Images whose last byte was queued for the kernel, per peer (a
    /// broadcast to four clients counts four).
    pub sent: u64,
    /// Images dropped whole before they were sent: replaced by a newer one on
    /// the channel (conflation), or lost when their peer disconnected.
    pub dropped: u64,
    /// Images received whole.
    pub received: u64,
    /// Images the senders skipped: gaps in their sequence numbers.
    pub skipped: u64,
    /// Images that began to arrive and were dropped before their last byte:
    /// refused room under the [memory limits](crate::HostBuilder::max_partial_image_bytes),
    /// or not whole within the [partial timeout](crate::HostBuilder::partial_timeout).
    /// Their connections stay open.
    pub incomplete: u64,
    /// Receiving side: how old images were when a reader got them
    /// ([`get_image`](crate::Inbox::get_image), [`get_all`](crate::Inbox::get_all)
    /// and [`get_all_timeout`](crate::Inbox::get_all_timeout); each call
    /// counts the images it returns, so a reader polling the newest image
    /// counts it at every poll): the median over the newest 1024, from the
    /// image's capture time to the read, both on the host's clock (on a
    /// client by its [estimate](crate::Client::clock), so within its
    /// uncertainty; none are counted before it has one). An image given no
    /// capture time ([`with_timestamp_ns`](crate::Image::with_timestamp_ns))
    /// was captured when it was made. `None` before a read.
    ///
    /// So it is the age the reads saw, and depends on how the reader reads:
    /// a reader polling `get_image` counts an image at every poll while it
    /// stays the newest, older each time (up to the time between two
    /// images, plus the wait for a poll); a reader waiting in
    /// `get_all_timeout` counts each image once, as soon as it is stored:
    /// its capture-to-arrival time.
    pub age_p50: Option<Duration>,
    /// As [`age_p50`](Self::age_p50), the 99th percentile.
    pub age_p99: Option<Duration>,
}

/// Why an image was refused or could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// Width or height is zero.
    #[error("image of {width}x{height} has no pixels")]
    Empty {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The stride is shorter than a row of pixels.
    #[error("stride of {stride} bytes is shorter than a row of {row} bytes")]
    Stride {
        /// Declared stride.
        stride: u64,
        /// Bytes of one row of pixels.
        row: u64,
    },
    /// The payload's length is not `stride × height`.
    #[error(
        "payload of {len} bytes does not fit {width}x{height} {format:?} with stride {stride} ({expected} bytes)"
    )]
    Geometry {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Declared format.
        format: PixelFormat,
        /// Declared stride.
        stride: u32,
        /// Payload length.
        len: u64,
        /// Length the geometry needs.
        expected: u64,
    },
    /// An encoded image with an empty payload, or a stride other than 0.
    #[error(
        "encoded {format:?} image must have a payload and stride 0 (stride {stride}, {len} bytes)"
    )]
    Encoded {
        /// Declared format.
        format: PixelFormat,
        /// Declared stride.
        stride: u32,
        /// Payload length.
        len: u64,
    },
    /// The wire's format byte names no known format.
    #[error("unknown pixel format code {0}")]
    UnknownFormat(u8),
    /// The conversion asked for does not apply to this image (the `image`
    /// feature's conversions only).
    #[error("{0}")]
    Unsupported(String),
    /// JPEG or PNG encoding or decoding failed (the `image` feature only).
    #[error("codec: {0}")]
    Codec(String),
}

/// A camera image: geometry, sequence number, capture time and pixels.
///
/// Cheap to clone: the pixels are a shared [`Bytes`]. A valid `Image` always
/// satisfies its geometry: raw pixels are exactly `stride × height` bytes with
/// `stride ≥ width × bytes per pixel`; an encoded image has a payload and
/// stride 0.
///
/// Its capture time is on one of two clocks: an image made here is on this
/// process's clock until a client sends it (which moves it to its host's
/// clock by its [estimate](crate::Client::clock)); a received image is on
/// its host's clock already, and stays there when it is sent on
/// ([`is_host_time`](Self::is_host_time)). Equality compares geometry,
/// sequence number, capture time and pixels, not which clock the time is
/// on (an image sent and the same image received compare equal).
#[derive(Debug, Clone, Eq)]
pub struct Image {
    width: u32,
    height: u32,
    format: PixelFormat,
    stride: u32,
    seq: u64,
    timestamp_ns: u64,
    /// Whether `timestamp_ns` is on the host's clock (a received image's),
    /// not on this process's (one made here): a client converts the latter
    /// when it sends the image, and never the former.
    host_time: bool,
    data: Bytes,
}

impl PartialEq for Image {
    fn eq(&self, other: &Image) -> bool {
        let fields = |i: &Image| (i.width, i.height, i.format, i.stride, i.seq, i.timestamp_ns);
        fields(self) == fields(other) && self.data == other.data
    }
}

impl Image {
    /// An image with tightly packed rows (`stride = width × bytes per pixel`;
    /// 0 for an encoded format). Sequence 0, captured now.
    ///
    /// # Errors
    ///
    /// [`ImageError`] when `data` does not fit the geometry.
    pub fn new(
        width: u32,
        height: u32,
        format: PixelFormat,
        data: impl Into<Bytes>,
    ) -> Result<Image, ImageError> {
        let bpp = format.bytes_per_pixel().unwrap_or(0) as u64;
        let stride = u32::try_from(width as u64 * bpp).map_err(|_| ImageError::Stride {
            stride: u32::MAX as u64,
            row: width as u64 * bpp,
        })?;
        Image::with_stride(width, height, format, stride, data)
    }

    /// An image whose rows are `stride` bytes apart (padding included).
    ///
    /// # Errors
    ///
    /// [`ImageError`] when `data` does not fit the geometry.
    pub fn with_stride(
        width: u32,
        height: u32,
        format: PixelFormat,
        stride: u32,
        data: impl Into<Bytes>,
    ) -> Result<Image, ImageError> {
        let image = Image {
            width,
            height,
            format,
            stride,
            seq: 0,
            timestamp_ns: unix_ns(),
            host_time: false,
            data: data.into(),
        };
        image.validate()?;
        Ok(image)
    }

    /// Sets the sequence number. Receivers count gaps between the sequence
    /// numbers of one sender's images as frames skipped, so number frames
    /// consecutively.
    pub fn with_seq(mut self, seq: u64) -> Image {
        self.seq = seq;
        self
    }

    /// Sets the capture time, nanoseconds since the Unix epoch on this
    /// process's clock (a client sending the image moves it to its host's
    /// clock; see [`is_host_time`](Self::is_host_time)).
    pub fn with_timestamp_ns(mut self, ns: u64) -> Image {
        self.timestamp_ns = ns;
        self.host_time = false;
        self
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixel format.
    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// Bytes from one row to the next; 0 for an encoded image.
    pub fn stride(&self) -> u32 {
        self.stride
    }

    /// The sender's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Capture time, nanoseconds since the Unix epoch: on this process's
    /// clock for an image made here, on the host's clock for a received one
    /// ([`is_host_time`](Self::is_host_time)).
    pub fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
    }

    /// Whether the capture time is on the host's clock: true for an image
    /// received (from [`Message::image`](crate::Message::image) or
    /// `get_image`), whose time its sender moved there; false for one made
    /// here or given a time by [`with_timestamp_ns`](Self::with_timestamp_ns).
    /// A client moves a time on its own clock to the host's when it sends
    /// the image, and sends one on the host's clock as it is, so an image
    /// received and sent on keeps its capture time.
    ///
    /// # Examples
    ///
    /// ```
    /// use socketengine::{Image, PixelFormat};
    ///
    /// let made = Image::new(2, 2, PixelFormat::Gray8, vec![0u8; 4]).unwrap();
    /// assert!(!made.is_host_time());
    /// ```
    pub fn is_host_time(&self) -> bool {
        self.host_time
    }

    /// The pixels (or the encoded file), rows `stride` bytes apart.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Takes the pixels.
    pub fn into_data(self) -> Bytes {
        self.data
    }

    /// The pixels of row `y`, without padding.
    ///
    /// # Panics
    ///
    /// If the image is encoded or `y` is not below the height.
    pub fn row(&self, y: u32) -> &[u8] {
        let bpp = self.format.bytes_per_pixel().expect("rows of a raw image");
        assert!(y < self.height, "row {y} of an image {} high", self.height);
        let start = y as usize * self.stride as usize;
        &self.data[start..start + self.width as usize * bpp]
    }

    fn validate(&self) -> Result<(), ImageError> {
        self.validate_len(self.data.len() as u64)
    }

    /// Checks the geometry against a payload of `len` bytes.
    fn validate_len(&self, len: u64) -> Result<(), ImageError> {
        let Some(bpp) = self.format.bytes_per_pixel() else {
            if len == 0 || self.stride != 0 {
                let (format, stride) = (self.format, self.stride);
                return Err(ImageError::Encoded {
                    format,
                    stride,
                    len,
                });
            }
            return Ok(());
        };
        if self.width == 0 || self.height == 0 {
            let (width, height) = (self.width, self.height);
            return Err(ImageError::Empty { width, height });
        }
        let row = self.width as u64 * bpp as u64;
        if (self.stride as u64) < row {
            let stride = self.stride as u64;
            return Err(ImageError::Stride { stride, row });
        }
        let expected = self.stride as u64 * self.height as u64;
        if len != expected {
            return Err(ImageError::Geometry {
                width: self.width,
                height: self.height,
                format: self.format,
                stride: self.stride,
                len,
                expected,
            });
        }
        Ok(())
    }

    /// An image of these wire fields and pixels, its geometry not yet checked.
    fn unchecked(meta: &ImageMeta, data: Bytes) -> Result<Image, ImageError> {
        let format =
            PixelFormat::from_code(meta.format).ok_or(ImageError::UnknownFormat(meta.format))?;
        Ok(Image {
            width: meta.width,
            height: meta.height,
            format,
            stride: meta.stride,
            seq: meta.seq,
            timestamp_ns: meta.timestamp_ns,
            host_time: false,
            data,
        })
    }

    /// The wire fields of this image.
    pub(crate) fn meta(&self) -> ImageMeta {
        ImageMeta {
            width: self.width,
            height: self.height,
            format: self.format.code(),
            stride: self.stride,
            seq: self.seq,
            timestamp_ns: self.timestamp_ns,
            total_len: self.data.len() as u64,
        }
    }

    /// Checks an image's wire fields, with `total_len` as its payload length,
    /// before any of its payload arrives.
    pub(crate) fn check_meta(meta: &ImageMeta) -> Result<(), ImageError> {
        Image::unchecked(meta, Bytes::new())?.validate_len(meta.total_len)
    }

    /// An image received with these wire fields, checked as a sent one is;
    /// its capture time is on the host's clock.
    pub(crate) fn from_wire(meta: &ImageMeta, data: Bytes) -> Result<Image, ImageError> {
        let image = Image {
            host_time: true,
            ..Image::unchecked(meta, data)?
        };
        image.validate()?;
        Ok(image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// JPEG and PNG need no codec to travel: any non-empty bytes with stride 0
    /// make an image, and the wire fields bring the same image back.
    #[test]
    fn encoded_formats_are_opaque_bytes_with_stride_0() {
        for format in [PixelFormat::Jpeg, PixelFormat::Png] {
            let sent = Image::new(640, 480, format, &b"not decoded here"[..])
                .expect("any bytes")
                .with_seq(3);
            assert_eq!(sent.stride(), 0);
            assert_eq!(Image::check_meta(&sent.meta()), Ok(()));
            let got = Image::from_wire(&sent.meta(), sent.data().clone());
            assert_eq!(got.as_ref(), Ok(&sent), "{format:?}");
            let refused = [
                Image::with_stride(640, 480, format, 3, &b"x"[..]),
                Image::new(640, 480, format, Bytes::new()),
            ];
            for r in refused {
                assert!(matches!(r, Err(ImageError::Encoded { .. })), "{format:?}");
            }
        }
    }
}
