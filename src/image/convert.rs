//! Conversions between [`Image`] and the [`image`](::image) crate's buffers,
//! and JPEG/PNG encoding and decoding. Compiled only with the `image` feature
//! (on by default); without it, JPEG and PNG images still travel as opaque
//! encoded bytes, but nothing here decodes or makes them.

use std::io::Cursor;

use ::image::{
    DynamicImage, EncodableLayout, GrayImage, ImageBuffer, ImageFormat, Luma, Rgb, RgbImage, Rgba,
    RgbaImage,
};
use bytes::Bytes;

use super::{Image, ImageError, PixelFormat};

/// Conversions with the [`image`](::image) crate (the `image` feature).
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
    /// Rgba8), keeping its sequence number and capture time (on the clock
    /// it was on); a raw image is returned as is.
    ///
    /// # Errors
    ///
    /// [`ImageError::Codec`] when the payload does not decode.
    pub fn decode(&self) -> Result<Image, ImageError> {
        if !self.format.is_encoded() {
            return Ok(self.clone());
        }
        let decoded = Image::from_dynamic(self.to_dynamic()?)?;
        Ok(Image {
            seq: self.seq,
            timestamp_ns: self.timestamp_ns,
            host_time: self.host_time,
            ..decoded
        })
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
