//! Received bytes as Python objects that share them: [`Buffer`] (a
//! message's, a reply's or a request's payload) and, through [`export`],
//! an image's pixels. Both hand the buffer protocol the `Bytes` the socket
//! read into, read-only, so `memoryview(msg.payload)` and
//! `numpy.asarray(image)` copy nothing.
//!
//! The one place of this crate that fills a `Py_buffer` by hand.

use std::ffi::{CStr, c_int, c_void};
use std::ptr;

use bytes::Bytes;
use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// A received payload: read-only bytes shared with the buffer the socket
/// read into (no copy). It speaks the buffer protocol (`memoryview(p)`,
/// `numpy.frombuffer(p, ...)`, `bytes(p)`, which copies), compares equal
/// to bytes-like objects with the same content, and has a length.
#[pyclass(frozen, module = "socketengine")]
pub(crate) struct Buffer {
    /// Shared with the store and every other reader of the message: a
    /// clone is a reference count, never a copy.
    bytes: Bytes,
}

impl Buffer {
    pub(crate) fn new(bytes: Bytes) -> Buffer {
        Buffer { bytes }
    }

    /// A new `Buffer` over `bytes`, which the cycle collector skips (see
    /// [`untracked`]).
    pub(crate) fn object(py: Python<'_>, bytes: Bytes) -> PyResult<Bound<'_, Buffer>> {
        Bound::new(py, Buffer::new(bytes)).map(untracked)
    }
}

#[pymethods]
impl Buffer {
    /// Exports the bytes, read-only, as unsigned bytes (`B`).
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let bytes = slf.get().bytes.clone();
        // SAFETY: `view` is the one CPython passed to this slot; the bytes
        // live in `slf`, which the view holds a reference to.
        unsafe { export(view, slf.into_any(), &bytes, &Layout::bytes(), flags) }
    }

    fn __len__(&self) -> usize {
        self.bytes.len()
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        if let Ok(other) = other.cast::<Buffer>() {
            return self.bytes == other.get().bytes;
        }
        crate::pin::with_contiguous(other, |theirs| theirs == &self.bytes[..]).unwrap_or(false)
    }

    fn __repr__(&self) -> String {
        const SHOWN: usize = 32;
        let head = &self.bytes[..self.bytes.len().min(SHOWN)];
        let more = if self.bytes.len() > SHOWN { "..." } else { "" };
        let text: String = head.escape_ascii().map(char::from).collect();
        format!("Buffer(b'{text}'{more}, {} bytes)", self.bytes.len())
    }

    /// The bytes as a `bytes` object (a copy).
    fn tobytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.bytes)
    }

    /// The bytes read as text (UTF-8 by default; a copy).
    #[pyo3(signature = (encoding = "utf-8"))]
    fn decode<'py>(&self, py: Python<'py>, encoding: &str) -> PyResult<Bound<'py, PyAny>> {
        let bytes = PyBytes::new(py, &self.bytes);
        bytes.call_method1("decode", (PyString::new(py, encoding),))
    }

    /// The address of the first byte, for tests that prove nothing was
    /// copied (compare with `numpy.asarray(...).ctypes.data`).
    #[getter]
    fn _address(&self) -> usize {
        self.bytes.as_ptr() as usize
    }
}

/// `obj`, made invisible to Python's cycle collector. For objects that hold
/// no Python references (a `Message`, a `Buffer`), which can be in no
/// cycle: a batch of many thousands of them would otherwise set off
/// collections that walk them all (PyO3 makes every class collectable).
pub(crate) fn untracked<T>(obj: Bound<'_, T>) -> Bound<'_, T> {
    // SAFETY: `obj` is a live object, and the GIL is held (its token);
    // untracking one that is tracked, or not, is always allowed, and its
    // deallocation untracks it again, which is a no-op.
    unsafe { ffi::PyObject_GC_UnTrack(obj.as_ptr().cast()) };
    obj
}

/// How an exported buffer is laid out, beyond its bytes: its shape, the
/// steps between elements of each dimension, and its element type.
pub(crate) struct Layout<'a> {
    /// Elements per dimension, outermost first.
    pub(crate) shape: &'a [isize],
    /// Bytes from one element to the next, per dimension.
    pub(crate) strides: &'a [isize],
    /// Bytes per element.
    pub(crate) itemsize: isize,
    /// The element type, in the `struct` module's syntax.
    pub(crate) format: &'static CStr,
    /// Whether the rows follow each other with no padding (C order).
    pub(crate) contiguous: bool,
}

impl Layout<'static> {
    /// Plain bytes: one dimension of `B`, whose shape is the view's own
    /// `len` (see [`export`]).
    pub(crate) fn bytes() -> Layout<'static> {
        Layout {
            shape: &[],
            strides: &[],
            itemsize: 1,
            format: c"B",
            contiguous: true,
        }
    }
}

/// Fills `view` with `data`, laid out as `layout`, read-only, for the
/// consumer's `flags`; `owner` (which keeps `data` and the layout's arrays
/// alive) goes in `view.obj`.
///
/// A consumer that asks for no format gets plain bytes (CPython's own
/// `PyBuffer_FillInfo`); rows with padding need one that takes strides.
///
/// # Errors
///
/// `BufferError` for a writable view, or one whose demands the layout
/// cannot meet (contiguity, strides).
///
/// # Safety
///
/// `view` must be the pointer CPython passed to a `bf_getbuffer` slot;
/// `data`, `layout.shape` and `layout.strides` must live as long as
/// `owner` does, unmoved.
pub(crate) unsafe fn export(
    view: *mut ffi::Py_buffer,
    owner: Bound<'_, PyAny>,
    data: &[u8],
    layout: &Layout<'_>,
    flags: c_int,
) -> PyResult<()> {
    // SAFETY: the caller's promise, passed on.
    let filled = unsafe { fill(view, owner, data, layout, flags) };
    if filled.is_err() {
        // The protocol asks a refused export to leave `view.obj` NULL.
        // SAFETY: `view` is valid for writes (the caller's promise).
        unsafe { (*view).obj = ptr::null_mut() };
    }
    filled
}

/// [`export`] without the clean-up of a refused export.
///
/// # Safety
///
/// As [`export`]'s.
unsafe fn fill(
    view: *mut ffi::Py_buffer,
    owner: Bound<'_, PyAny>,
    data: &[u8],
    layout: &Layout<'_>,
    flags: c_int,
) -> PyResult<()> {
    if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
        return Err(PyBufferError::new_err("received data is read-only"));
    }
    let needs = |bits: c_int| flags & bits == bits;
    let buf = data.as_ptr() as *mut c_void;
    if !needs(ffi::PyBUF_FORMAT) || layout.shape.is_empty() {
        // Plain bytes, padding included, which are contiguous as bytes.
        let len = data.len() as isize;
        // SAFETY: as this function's; `PyBuffer_FillInfo` takes its own
        // reference to `owner` and points the shape and strides it sets at
        // the view's own fields.
        let filled = unsafe { ffi::PyBuffer_FillInfo(view, owner.as_ptr(), buf, len, 1, flags) };
        return if filled == 0 {
            Ok(())
        } else {
            Err(PyErr::fetch(owner.py()))
        };
    }
    let contiguity = [
        ffi::PyBUF_C_CONTIGUOUS,
        ffi::PyBUF_F_CONTIGUOUS,
        ffi::PyBUF_ANY_CONTIGUOUS,
    ];
    if !layout.contiguous && (!needs(ffi::PyBUF_STRIDES) || contiguity.into_iter().any(needs)) {
        return Err(PyBufferError::new_err(
            "the image's rows are padded (stride > width x bytes per pixel): \
             read it with strides (numpy.asarray does)",
        ));
    }
    // F order holds only when at most one dimension has more than one
    // element (the export's strides are C order).
    let fortran = layout.shape.iter().filter(|&&n| n > 1).count() <= 1;
    if needs(ffi::PyBUF_F_CONTIGUOUS) && !needs(ffi::PyBUF_ANY_CONTIGUOUS) && !fortran {
        return Err(PyBufferError::new_err(
            "the image is in C order: it has no Fortran-contiguous view",
        ));
    }
    let shaped = needs(ffi::PyBUF_ND);
    // The buffer protocol's `len` is the elements' bytes, product(shape) x
    // itemsize, without the padding between rows: a consumer copying the
    // view (`bytes(image)`) allocates `len` bytes and fills that many.
    let len = layout.shape.iter().product::<isize>() * layout.itemsize;
    // SAFETY: `view` is valid for writes (the caller's promise); the
    // pointers stored in it outlive the export, as `owner` keeps them.
    unsafe {
        (*view).buf = buf;
        (*view).len = len;
        (*view).readonly = 1;
        (*view).itemsize = layout.itemsize;
        (*view).format = layout.format.as_ptr().cast_mut();
        // Without a shape, one dimension of `len / itemsize` elements.
        (*view).ndim = if shaped {
            layout.shape.len() as c_int
        } else {
            1
        };
        (*view).shape = if shaped {
            layout.shape.as_ptr().cast_mut()
        } else {
            ptr::null_mut()
        };
        (*view).strides = if needs(ffi::PyBUF_STRIDES) {
            layout.strides.as_ptr().cast_mut()
        } else {
            ptr::null_mut()
        };
        (*view).suboffsets = ptr::null_mut();
        (*view).internal = ptr::null_mut();
        (*view).obj = owner.into_ptr();
    }
    Ok(())
}
