//! Camera frames: the [`Image`] type, its pixel formats, and conversions to and
//! from the [`image`](::image) crate.
//!
//! Named `Image`, not frame, to stay apart from the wire-level frames of
//! [`protocol`](crate::protocol). An image is its geometry (width, height, pixel
//! format, row stride), a sequence number, a capture time, and its pixels as
//! [`Bytes`]: received images point into the buffer the socket was read into,
//! and sent ones are written from the caller's buffer, so pixels are never copied
//! in user space on either side.
//!
//! Send with [`Client::write`](crate::Client::write) or
//! [`Host::write`](crate::Host::write); read the newest with
//! `get_image`.
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

use std::io::Cursor;

use ::image::{
    DynamicImage, EncodableLayout, GrayImage, ImageBuffer, ImageFormat, Luma, Rgb, RgbImage, Rgba,
    RgbaImage,
};
use bytes::Bytes;

use crate::protocol::ImageMeta;
use crate::time::unix_ns;

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
    Jpeg,
    /// A PNG file; width and height are the decoded size, stride is 0.
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
    /// The conversion asked for does not apply to this image.
    #[error("{0}")]
    Unsupported(String),
    /// JPEG or PNG encoding or decoding failed.
    #[error("codec: {0}")]
    Codec(String),
}

/// A camera image: geometry, sequence number, capture time and pixels.
///
/// Cheap to clone: the pixels are a shared [`Bytes`]. A valid `Image` always
/// satisfies its geometry: raw pixels are exactly `stride × height` bytes with
/// `stride ≥ width × bytes per pixel`; an encoded image has a payload and
/// stride 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    width: u32,
    height: u32,
    format: PixelFormat,
    stride: u32,
    seq: u64,
    timestamp_ns: u64,
    data: Bytes,
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

    /// Sets the capture time, nanoseconds since the Unix epoch.
    pub fn with_timestamp_ns(mut self, ns: u64) -> Image {
        self.timestamp_ns = ns;
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

    /// Capture time, nanoseconds since the Unix epoch on the sender's clock.
    pub fn timestamp_ns(&self) -> u64 {
        self.timestamp_ns
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

    /// An image received with these wire fields, checked as a sent one is.
    pub(crate) fn from_wire(meta: &ImageMeta, data: Bytes) -> Result<Image, ImageError> {
        let image = Image::unchecked(meta, data)?;
        image.validate()?;
        Ok(image)
    }
}

/// Conversions with the [`image`](::image) crate.
impl Image {
    /// Takes an `RgbImage`'s pixels without copying them.
    ///
    /// # Errors
    ///
    /// [`ImageError::Empty`] for an image without pixels (as for the others).
    pub fn from_rgb(img: RgbImage) -> Result<Image, ImageError> {
        let (w, h) = img.dimensions();
        raw(w, h, PixelFormat::Rgb8, Bytes::from(img.into_raw()))
    }

    /// Takes an `RgbaImage`'s pixels without copying them.
    pub fn from_rgba(img: RgbaImage) -> Result<Image, ImageError> {
        let (w, h) = img.dimensions();
        raw(w, h, PixelFormat::Rgba8, Bytes::from(img.into_raw()))
    }

    /// Takes a `GrayImage`'s pixels without copying them.
    pub fn from_gray(img: GrayImage) -> Result<Image, ImageError> {
        let (w, h) = img.dimensions();
        raw(w, h, PixelFormat::Gray8, Bytes::from(img.into_raw()))
    }

    /// Takes a `DynamicImage`'s pixels: without copying them for 8-bit grey,
    /// RGB and RGBA and (on little-endian machines) 16-bit grey; other layouts
    /// are converted to RGBA8 (a copy).
    pub fn from_dynamic(img: DynamicImage) -> Result<Image, ImageError> {
        match img {
            DynamicImage::ImageLuma8(i) => Image::from_gray(i),
            DynamicImage::ImageRgb8(i) => Image::from_rgb(i),
            DynamicImage::ImageRgba8(i) => Image::from_rgba(i),
            DynamicImage::ImageLuma16(i) => {
                let (w, h) = i.dimensions();
                let data = match cfg!(target_endian = "little") {
                    true => Bytes::from_owner(Gray16(i.into_raw())),
                    false => i.into_raw().iter().flat_map(|p| p.to_le_bytes()).collect(),
                };
                raw(w, h, PixelFormat::Gray16, data)
            }
            other => Image::from_rgba(other.to_rgba8()),
        }
    }

    /// An `ImageBuffer` over the pixels, without copying them, for a tightly
    /// packed image of `format`.
    fn view<P: ::image::Pixel<Subpixel = u8>>(
        &self,
        format: PixelFormat,
    ) -> Result<ImageBuffer<P, &[u8]>, ImageError> {
        let tight = self
            .format
            .bytes_per_pixel()
            .map(|b| b as u64 * self.width as u64);
        if self.format != format || tight != Some(self.stride as u64) {
            return Err(ImageError::Unsupported(format!(
                "a {format:?} view of a {:?} image with stride {} (views need {format:?} rows without padding)",
                self.format, self.stride
            )));
        }
        ImageBuffer::from_raw(self.width, self.height, &self.data[..])
            .ok_or_else(|| ImageError::Unsupported("pixels do not fill the image".into()))
    }

    /// An RGB view over the pixels, without copying them.
    ///
    /// # Errors
    ///
    /// [`ImageError::Unsupported`] unless the image is `Rgb8` without row padding.
    pub fn as_rgb(&self) -> Result<ImageBuffer<Rgb<u8>, &[u8]>, ImageError> {
        self.view(PixelFormat::Rgb8)
    }

    /// An RGBA view over the pixels, without copying them.
    ///
    /// # Errors
    ///
    /// [`ImageError::Unsupported`] unless the image is `Rgba8` without row padding.
    pub fn as_rgba(&self) -> Result<ImageBuffer<Rgba<u8>, &[u8]>, ImageError> {
        self.view(PixelFormat::Rgba8)
    }

    /// A grey view over the pixels, without copying them.
    ///
    /// # Errors
    ///
    /// [`ImageError::Unsupported`] unless the image is `Gray8` without row padding.
    pub fn as_gray(&self) -> Result<ImageBuffer<Luma<u8>, &[u8]>, ImageError> {
        self.view(PixelFormat::Gray8)
    }

    /// A `DynamicImage` copy of the pixels, any raw format and any stride (BGR
    /// becomes RGB); an encoded image is decoded.
    ///
    /// # Errors
    ///
    /// [`ImageError::Codec`] when an encoded image does not decode.
    pub fn to_dynamic(&self) -> Result<DynamicImage, ImageError> {
        let (w, h) = (self.width, self.height);
        let rows = || (0..h).flat_map(|y| self.row(y).iter().copied());
        let packed = |img: Option<DynamicImage>| {
            img.ok_or_else(|| ImageError::Unsupported("pixels do not fill the image".into()))
        };
        match self.format {
            PixelFormat::Gray8 => {
                packed(GrayImage::from_raw(w, h, rows().collect()).map(Into::into))
            }
            PixelFormat::Rgb8 => packed(RgbImage::from_raw(w, h, rows().collect()).map(Into::into)),
            PixelFormat::Rgba8 => {
                packed(RgbaImage::from_raw(w, h, rows().collect()).map(Into::into))
            }
            PixelFormat::Bgr8 => {
                let rgb = (0..h)
                    .flat_map(|y| self.row(y).chunks_exact(3).flat_map(|p| [p[2], p[1], p[0]]))
                    .collect();
                packed(RgbImage::from_raw(w, h, rgb).map(Into::into))
            }
            PixelFormat::Gray16 => {
                let px = (0..h)
                    .flat_map(|y| {
                        self.row(y)
                            .chunks_exact(2)
                            .map(|p| u16::from_le_bytes([p[0], p[1]]))
                    })
                    .collect();
                packed(ImageBuffer::<Luma<u16>, Vec<u16>>::from_raw(w, h, px).map(Into::into))
            }
            PixelFormat::Jpeg | PixelFormat::Png => {
                ::image::load_from_memory(&self.data).map_err(|e| ImageError::Codec(e.to_string()))
            }
        }
    }

    /// Encodes the image as JPEG at `quality` (1–100), keeping its sequence
    /// number and capture time. Gray8, Rgb8 and Bgr8 encode directly; other
    /// formats go through RGB.
    ///
    /// # Errors
    ///
    /// [`ImageError::Codec`] when encoding fails.
    pub fn encode_jpeg(&self, quality: u8) -> Result<Image, ImageError> {
        let img = self.to_dynamic()?;
        let img = match img {
            DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) => img,
            other => DynamicImage::ImageRgb8(other.to_rgb8()),
        };
        let mut out = Vec::new();
        let encoder =
            ::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100));
        img.write_with_encoder(encoder)
            .map_err(|e| ImageError::Codec(e.to_string()))?;
        Ok(self.encoded(PixelFormat::Jpeg, out))
    }

    /// Encodes the image as PNG (lossless), keeping its sequence number and
    /// capture time.
    ///
    /// # Errors
    ///
    /// [`ImageError::Codec`] when encoding fails.
    pub fn encode_png(&self) -> Result<Image, ImageError> {
        let mut out = Cursor::new(Vec::new());
        self.to_dynamic()?
            .write_to(&mut out, ImageFormat::Png)
            .map_err(|e| ImageError::Codec(e.to_string()))?;
        Ok(self.encoded(PixelFormat::Png, out.into_inner()))
    }

    /// Decodes a JPEG or PNG image into raw pixels (Gray8, Gray16, Rgb8 or
    /// Rgba8), keeping its sequence number and capture time; a raw image is
    /// returned as is.
    ///
    /// # Errors
    ///
    /// [`ImageError::Codec`] when the payload does not decode.
    pub fn decode(&self) -> Result<Image, ImageError> {
        if !self.format.is_encoded() {
            return Ok(self.clone());
        }
        let decoded = Image::from_dynamic(self.to_dynamic()?)?;
        Ok(decoded
            .with_seq(self.seq)
            .with_timestamp_ns(self.timestamp_ns))
    }

    fn encoded(&self, format: PixelFormat, data: Vec<u8>) -> Image {
        Image {
            format,
            stride: 0,
            data: Bytes::from(data),
            ..self.clone()
        }
    }
}

/// A tightly packed raw image from a buffer the `image` crate filled; fails
/// only for an image without pixels.
fn raw(width: u32, height: u32, format: PixelFormat, data: Bytes) -> Result<Image, ImageError> {
    Image::new(width, height, format, data)
}

/// 16-bit grey pixels handed to `Bytes` as their little-endian bytes.
struct Gray16(Vec<u16>);

impl AsRef<[u8]> for Gray16 {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}
