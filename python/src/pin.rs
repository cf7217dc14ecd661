//! Python buffers sent without a copy: [`lend`] turns a `bytes` object, a
//! `bytearray`, a `memoryview`, a numpy array (anything with the buffer
//! protocol, C-contiguous) into a `Bytes` over the object's own memory,
//! which the engine writes to the socket from where it is.
//!
//! The `Bytes` owns a reference to the object (for a `bytes` object, the
//! object itself, which never changes; for anything else, a `memoryview`
//! of it, which holds the object's buffer export, so a `bytearray` cannot be
//! resized nor a numpy array reallocated while the engine holds it). When
//! the engine lets go of the last clone, possibly on its event-loop thread,
//! that reference is dropped: at once if the thread is attached to Python,
//! else by PyO3's pool of deferred references, which the next call into
//! this module (on any thread) drains, taking the GIL it already holds. So
//! the event loop never waits for the GIL.
//!
//! Only read-only memory is lent: a `bytes` object, a read-only
//! `memoryview`, a numpy array with `flags.writeable = False`. A writable
//! buffer (a `bytearray`, a writable array or view) is snapshotted: one
//! copy, taken when the call is made, with the GIL held. The engine keeps
//! payloads past the write (a latched value new clients receive, a client's
//! `republish=` values, a locked write that timed out and stays queued, an
//! error's `payload`, a large write a Ctrl-C left running on its helper
//! thread), and reads them without the GIL: memory that Python threads or C
//! code may write meanwhile would give torn frames (a data race) and
//! latched values that change after the call. So: mark a large array
//! read-only (`a.flags.writeable = False`, or send `bytes`) to send it
//! without a copy, and never write to it again while the engine may hold
//! it; a writable one can be reused the moment the call returns.

use std::slice;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView};

/// What a Python payload lends: its bytes, over the object's own memory,
/// and how its buffer describes them (for the image path, which reads
/// shape and element type).
pub(crate) struct Lent {
    pub(crate) bytes: Bytes,
    /// The element type, in the `struct` module's syntax (`B`, `<H`, ...).
    pub(crate) format: String,
    /// Bytes per element.
    pub(crate) itemsize: usize,
    /// Elements per dimension, outermost first.
    pub(crate) shape: Vec<usize>,
}

/// The address of the last buffer lent, for the tests that prove a send
/// copies nothing (an atomic store per payload).
static LAST_LENT: AtomicUsize = AtomicUsize::new(0);

/// Lends `obj`'s memory as `Bytes`, without a copy if it is read-only, else
/// as a snapshot (see the module's docs).
///
/// # Errors
///
/// `TypeError` for an object without the buffer protocol; `ValueError` for
/// one that is not C-contiguous (a slice with steps, a transposed array):
/// `numpy.ascontiguousarray(a)` makes a contiguous copy, on purpose. An
/// object with the buffer protocol that will not export now raises what
/// it raised: `ValueError` for a released `memoryview`, the exporter's own
/// `BufferError` (or other) for one that refuses. `ValueError` for a
/// buffer of Python objects (`dtype=object`: its bytes are pointers).
pub(crate) fn lend(obj: &Bound<'_, PyAny>) -> PyResult<Lent> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        let data = bytes.as_bytes();
        let lent = Lent {
            bytes: pinned(bytes.clone().into_any().unbind(), data.as_ptr(), data.len()),
            format: "B".to_owned(),
            itemsize: 1,
            shape: vec![data.len()],
        };
        return Ok(lent);
    }
    let view = PyMemoryView::from(obj).map_err(|err| {
        if !err.is_instance_of::<PyTypeError>(obj.py()) {
            return err;
        }
        let kind = obj
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        PyTypeError::new_err(format!(
            "a payload is bytes, bytearray, memoryview, a numpy array or str, not {kind}"
        ))
    })?;
    let buffer = PyUntypedBuffer::get(view.as_any())?;
    if holds_objects(buffer.format().to_bytes()) {
        return Err(PyValueError::new_err(
            "the buffer holds Python objects (a numpy array of dtype=object): \
             its bytes are pointers, not data",
        ));
    }
    if !buffer.is_c_contiguous() {
        return Err(PyValueError::new_err(
            "the buffer is not C-contiguous (a strided slice or a transpose?): \
             numpy.ascontiguousarray(a) makes a contiguous copy",
        ));
    }
    let (ptr, len) = (buffer.buf_ptr() as *const u8, buffer.len_bytes());
    let bytes = if buffer.readonly() {
        pinned(view.into_any().unbind(), ptr, len)
    } else {
        // SAFETY: the export holds `len` readable bytes at `ptr` until it
        // is released, below; the GIL is held throughout.
        let copy = Bytes::copy_from_slice(unsafe { bytes_at(ptr, len) });
        LAST_LENT.store(copy.as_ptr() as usize, Ordering::Relaxed);
        copy
    };
    let lent = Lent {
        format: buffer.format().to_string_lossy().into_owned(),
        itemsize: buffer.item_size(),
        shape: buffer.shape().to_vec(),
        bytes,
    };
    // The view's own export stays; this one was only for looking.
    buffer.release(obj.py());
    Ok(lent)
}

/// Runs `f` on the bytes of `obj`, a C-contiguous bytes-like object;
/// `None` for anything else. For comparisons: nothing is kept.
pub(crate) fn with_contiguous<R>(obj: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Some(f(bytes.as_bytes()));
    }
    let buffer = PyUntypedBuffer::get(obj).ok()?;
    let seen = buffer.is_c_contiguous().then(|| {
        let (ptr, len) = (buffer.buf_ptr() as *const u8, buffer.len_bytes());
        // SAFETY: the export holds `len` readable bytes at `ptr` until it
        // is released, below; the GIL is held throughout.
        f(unsafe { bytes_at(ptr, len) })
    });
    buffer.release(obj.py());
    seen
}

/// The address of the last buffer a send lent (tests only).
#[pyfunction]
pub(crate) fn _last_lent_address() -> usize {
    LAST_LENT.load(Ordering::Relaxed)
}

/// A `Bytes` over `len` bytes at `ptr`, which `owner` keeps alive.
fn pinned(owner: Py<PyAny>, ptr: *const u8, len: usize) -> Bytes {
    LAST_LENT.store(ptr as usize, Ordering::Relaxed);
    if len == 0 {
        return Bytes::new();
    }
    Bytes::from_owner(Pinned {
        _owner: owner,
        ptr,
        len,
    })
}

/// A Python object's memory, held by a reference to the object (or to a
/// memoryview holding its buffer export).
struct Pinned {
    /// Keeps the memory alive and in place; dropped without the GIL, PyO3
    /// defers its release (see the module's docs).
    _owner: Py<PyAny>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the pointer is only read (`as_ref`), and the memory it points to
// belongs to `_owner`, which is `Send` and keeps it alive and in place: a
// buffer export forbids resizing or freeing the exporter's memory until it
// is released, and a `bytes` object never changes.
unsafe impl Send for Pinned {}

impl AsRef<[u8]> for Pinned {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `len` bytes at `ptr`, kept alive by `_owner` (above).
        unsafe { bytes_at(self.ptr, self.len) }
    }
}

/// The `len` bytes at `ptr`.
///
/// # Safety
///
/// `len` bytes at `ptr` must be readable for the returned lifetime, and
/// not freed nor written meanwhile (a read-only export, or the GIL held
/// while the slice lives).
unsafe fn bytes_at<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        return &[];
    }
    // SAFETY: the caller's promise.
    unsafe { slice::from_raw_parts(ptr, len) }
}

/// Whether a buffer's `struct` format has the type code `O` (a Python
/// object: its bytes are a pointer), outside the field names of a
/// structured format (`T{<d:x:O:obj:}` has one, `T{<d:Omega:}` none).
fn holds_objects(format: &[u8]) -> bool {
    let mut in_name = false;
    format.iter().any(|&code| {
        if code == b':' {
            in_name = !in_name;
        }
        !in_name && code == b'O'
    })
}
