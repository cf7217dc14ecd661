//! Images: the crate's `Image` as a Python object that numpy reads without
//! a copy (`numpy.asarray(img)`: `(h, w, 3)` for RGB and BGR, `(h, w, 4)`
//! for RGBA, `(h, w)` for grey, `uint8`, or `uint16` for 16-bit grey), and
//! arrays made into images without a copy either.

use std::ffi::c_int;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use socketengine::{Image as RustImage, PixelFormat};

use crate::buffer::{Buffer, Layout, export};
use crate::errors::to_py;
use crate::pin::{Lent, lend};

/// A camera image: its pixels (shared, never copied), width, height, pixel
/// format (`"gray8"`, `"gray16"`, `"rgb8"`, `"bgr8"`, `"rgba8"`, or an
/// encoded `"jpeg"` / `"png"`), row stride, sequence number and capture
/// time. `numpy.asarray(img)` is a read-only array over the pixels;
/// `Image(array)` makes one from a C-contiguous `uint8` (or, for gray16,
/// `uint16`) array without copying it.
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct Image {
    image: RustImage,
    /// The array's shape and strides, kept here for the exports that point
    /// at them (`[h, w, channels]`, `[stride, bytes per pixel, item]`).
    shape: [isize; 3],
    strides: [isize; 3],
    ndim: usize,
}

impl Image {
    pub(crate) fn new(image: RustImage) -> Image {
        let (h, w, stride) = (
            image.height() as isize,
            image.width() as isize,
            image.stride() as isize,
        );
        let (channels, item) = geometry(image.format()).unwrap_or((0, 1));
        let bpp = channels * item;
        let (shape, strides, ndim) = match channels {
            0 => ([image.data().len() as isize, 0, 0], [1, 0, 0], 1),
            1 => ([h, w, 0], [stride, item, 0], 2),
            _ => ([h, w, channels], [stride, bpp, 1], 3),
        };
        Image {
            image,
            shape,
            strides,
            ndim,
        }
    }

    pub(crate) fn inner(&self) -> &RustImage {
        &self.image
    }

    fn layout(&self) -> Layout<'_> {
        let encoded = self.ndim == 1;
        let item = geometry(self.image.format()).map_or(1, |(_, item)| item);
        Layout {
            shape: if encoded {
                &[]
            } else {
                &self.shape[..self.ndim]
            },
            strides: &self.strides[..self.ndim],
            itemsize: item,
            format: if item == 2 { c"<H" } else { c"B" },
            contiguous: encoded || self.strides[0] == self.shape[1] * self.strides[1],
        }
    }
}

#[pymethods]
impl Image {
    /// An image over `array`'s memory, without a copy if the array is
    /// read-only (`flags.writeable = False`; a writable one is copied once,
    /// so the image never changes under its readers): `(h, w)` `uint8` is
    /// gray8 (`uint16`: gray16), `(h, w, 3)` is rgb8 (or `format="bgr8"`,
    /// OpenCV's order), `(h, w, 4)` rgba8. The array must be C-contiguous
    /// (`ValueError` otherwise) and of such a dtype (`TypeError`
    /// otherwise); a `format` that does not fit its shape is a
    /// `ValueError`. Keep the array unchanged while a write of it is in
    /// flight: it is sent from where it is.
    #[new]
    #[pyo3(signature = (array, format = None, seq = 0, timestamp_ns = None))]
    fn py_new(
        array: &Bound<'_, PyAny>,
        format: Option<&str>,
        seq: u64,
        timestamp_ns: Option<u64>,
    ) -> PyResult<Image> {
        let image = from_array(array, format)?;
        Ok(Image::new(stamped(image, seq, timestamp_ns)))
    }

    /// An image from raw bytes and its geometry (rows `stride` bytes apart,
    /// `width x bytes per pixel` by default), or from an encoded file
    /// (`format="jpeg"` or `"png"`, `width` and `height` its decoded size).
    ///
    /// Raises `ImageError` when the bytes do not fit the geometry.
    #[staticmethod]
    #[pyo3(signature = (data, width, height, format, stride = None, seq = 0, timestamp_ns = None))]
    fn from_bytes(
        data: &Bound<'_, PyAny>,
        width: u32,
        height: u32,
        format: &str,
        stride: Option<u32>,
        seq: u64,
        timestamp_ns: Option<u64>,
    ) -> PyResult<Image> {
        let format = parse_format(format)?;
        let bytes = lend(data)?.bytes;
        let made = match stride {
            Some(stride) => RustImage::with_stride(width, height, format, stride, bytes),
            None => RustImage::new(width, height, format, bytes),
        };
        let image = made.map_err(|e| to_py(e.into()))?;
        Ok(Image::new(stamped(image, seq, timestamp_ns)))
    }

    /// Exports the pixels, read-only, with the image's shape and strides.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let this = slf.get();
        let data = this.image.data().clone();
        // SAFETY: `view` is CPython's; the pixels and the layout's arrays
        // live in `slf`, a frozen object the view holds a reference to.
        unsafe { export(view, slf.clone().into_any(), &data, &this.layout(), flags) }
    }

    /// Width in pixels.
    #[getter]
    fn width(&self) -> u32 {
        self.image.width()
    }

    /// Height in pixels.
    #[getter]
    fn height(&self) -> u32 {
        self.image.height()
    }

    /// The pixel format: `"gray8"`, `"gray16"`, `"rgb8"`, `"bgr8"`,
    /// `"rgba8"`, `"jpeg"` or `"png"`.
    #[getter]
    fn format(&self) -> &'static str {
        format_name(self.image.format())
    }

    /// Bytes from one row to the next (0 for an encoded image).
    #[getter]
    fn stride(&self) -> u32 {
        self.image.stride()
    }

    /// The sender's sequence number.
    #[getter]
    fn seq(&self) -> u64 {
        self.image.seq()
    }

    /// Capture time, nanoseconds since the Unix epoch on the sender's clock.
    #[getter]
    fn timestamp_ns(&self) -> u64 {
        self.image.timestamp_ns()
    }

    /// The pixels (or the encoded file) as a `Buffer`, padding included.
    #[getter]
    fn data(&self) -> Buffer {
        Buffer::new(self.image.data().clone())
    }

    /// Bytes of pixels (padding included).
    #[getter]
    fn nbytes(&self) -> usize {
        self.image.data().len()
    }

    /// The same image with another sequence number (the pixels shared).
    fn with_seq(&self, seq: u64) -> Image {
        Image::new(self.image.clone().with_seq(seq))
    }

    /// `numpy.asarray(self)`: a read-only array over the pixels (no copy).
    fn array<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("numpy")?.call_method1("asarray", (slf,))
    }

    fn __repr__(&self) -> String {
        let i = &self.image;
        format!(
            "Image({}x{} {}, seq {})",
            i.width(),
            i.height(),
            self.format(),
            i.seq()
        )
    }

    /// The address of the first pixel, for tests that prove nothing was
    /// copied.
    #[getter]
    fn _address(&self) -> usize {
        self.image.data().as_ptr() as usize
    }
}

/// The image `obj` is: an `Image` (sent as it is), or an array made into
/// one (see `Image.__new__`).
pub(crate) fn image_of(obj: &Bound<'_, PyAny>, format: Option<&str>) -> PyResult<RustImage> {
    if let Ok(image) = obj.cast::<Image>() {
        return Ok(image.get().image.clone());
    }
    from_array(obj, format)
}

/// `seq` and, if given, the capture time on `image`.
pub(crate) fn stamped(image: RustImage, seq: u64, timestamp_ns: Option<u64>) -> RustImage {
    let image = image.with_seq(seq);
    match timestamp_ns {
        Some(ns) => image.with_timestamp_ns(ns),
        None => image,
    }
}

fn from_array(array: &Bound<'_, PyAny>, format: Option<&str>) -> PyResult<RustImage> {
    let lent = lend(array)?;
    let (height, width, format) = shape_of(&lent, format.map(parse_format).transpose()?)?;
    RustImage::new(width, height, format, lent.bytes).map_err(|e| to_py(e.into()))
}

/// Height, width and pixel format of an array, checked against `asked`.
fn shape_of(lent: &Lent, asked: Option<PixelFormat>) -> PyResult<(u32, u32, PixelFormat)> {
    let item = element(lent)?;
    let (h, w, channels) = match lent.shape[..] {
        [h, w] => (h, w, 1),
        [h, w, c] => (h, w, c),
        _ => {
            return Err(PyValueError::new_err(format!(
                "an image array is (h, w) or (h, w, channels), not of shape {:?}",
                lent.shape
            )));
        }
    };
    let inferred = match (channels, item) {
        (1, 1) => PixelFormat::Gray8,
        (1, 2) => PixelFormat::Gray16,
        (3, 1) => PixelFormat::Rgb8,
        (4, 1) => PixelFormat::Rgba8,
        _ => {
            return Err(PyValueError::new_err(format!(
                "no pixel format has {channels} channels of {} bytes (shape {:?})",
                item, lent.shape
            )));
        }
    };
    let format = match asked {
        None => inferred,
        Some(PixelFormat::Bgr8) if inferred == PixelFormat::Rgb8 => PixelFormat::Bgr8,
        Some(asked) if asked == inferred => asked,
        Some(asked) => {
            return Err(PyValueError::new_err(format!(
                "an array of shape {:?} and {}-byte elements is {}, not {}",
                lent.shape,
                item,
                format_name(inferred),
                format_name(asked)
            )));
        }
    };
    let dim = |n: usize| {
        u32::try_from(n).map_err(|_| PyValueError::new_err("an image side over 2^32 pixels"))
    };
    Ok((dim(h)?, dim(w)?, format))
}

/// The element size of an image array: 1 (`uint8`) or 2 (`uint16`,
/// little-endian, as the wire's 16-bit grey is).
fn element(lent: &Lent) -> PyResult<isize> {
    let code = lent.format.trim_start_matches(['@', '=']);
    let little = cfg!(target_endian = "little");
    match (code, lent.itemsize) {
        ("B", 1) | ("<B", 1) => Ok(1),
        ("H", 2) if little => Ok(2),
        ("<H", 2) => Ok(2),
        _ => Err(PyTypeError::new_err(format!(
            "an image array is uint8 (gray8, rgb8, bgr8, rgba8) or uint16 (gray16), \
             not of element type {:?} ({} bytes)",
            lent.format, lent.itemsize
        ))),
    }
}

/// Channels and bytes per channel of a raw format; `None` for an encoded one.
fn geometry(format: PixelFormat) -> Option<(isize, isize)> {
    match format {
        PixelFormat::Gray8 => Some((1, 1)),
        PixelFormat::Gray16 => Some((1, 2)),
        PixelFormat::Rgb8 | PixelFormat::Bgr8 => Some((3, 1)),
        PixelFormat::Rgba8 => Some((4, 1)),
        _ => None,
    }
}

/// The names of the pixel formats, as Python sees them.
const FORMATS: [(&str, PixelFormat); 7] = [
    ("gray8", PixelFormat::Gray8),
    ("gray16", PixelFormat::Gray16),
    ("rgb8", PixelFormat::Rgb8),
    ("bgr8", PixelFormat::Bgr8),
    ("rgba8", PixelFormat::Rgba8),
    ("jpeg", PixelFormat::Jpeg),
    ("png", PixelFormat::Png),
];

pub(crate) fn parse_format(name: &str) -> PyResult<PixelFormat> {
    let found = FORMATS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
    found.map(|&(_, f)| f).ok_or_else(|| {
        let names: Vec<_> = FORMATS.iter().map(|(n, _)| *n).collect();
        PyValueError::new_err(format!("unknown pixel format {name:?}: one of {names:?}"))
    })
}

pub(crate) fn format_name(format: PixelFormat) -> &'static str {
    FORMATS
        .iter()
        .find(|(_, f)| *f == format)
        .map_or("unknown", |(n, _)| n)
}
