//! The crate's system calls on shared memory: the only `unsafe` of the
//! shared-memory path, each block with its argument.
//!
//! What we accept, as every shared-memory transport does (iceoryx, Zenoh):
//! the peer that owns a segment can write it while we read it. The
//! protocol says it must not touch a slot before we release it; a broken or
//! hostile peer that does anyway makes the receiver see torn pixels. It
//! cannot make us read outside the mapping (every range is checked against
//! the mapped length before a view is made), nor write through it (the
//! receiver maps read-only), nor make a read fault (`SIGBUS`): the segment
//! is a memory file whose pages the sender reserved before offering it and
//! sealed against shrinking ([`seal`], checked by the receiver with
//! [`seals`]), so every page of the mapping stays backed. (A hole the owner
//! punches reads as zeros: a new page, as any write of ours would take.)
#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};

use memmap2::{Mmap, MmapMut, MmapOptions};

#[cfg(any(target_os = "linux", target_os = "android"))]
/// The seals a segment carries: it cannot shrink (no page of a mapping is
/// ever cut off), nor grow, nor take or lose seals.
const SEALS: libc::c_int =
    libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_FUTURE_WRITE | libc::F_SEAL_SEAL;

#[cfg(any(target_os = "linux", target_os = "android"))]
/// A new anonymous memory file named `name` (shown as `/memfd:<name>` in
/// `/proc`; nothing is made in any directory), closed on exec, sealable.
pub(super) fn memfd(name: &str) -> io::Result<File> {
    let name = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call; the
    // flags are valid; the call touches no other memory of ours.
    let fd =
        unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a descriptor just returned to us and owned by nothing
    // else: the `File` takes it over and closes it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

#[cfg(any(target_os = "linux", target_os = "android"))]
/// Reserves the pages of the first `len` bytes of `file` now
/// (`posix_fallocate`): no memory is an error here (`ENOSPC`, `ENOMEM`),
/// never a fault when the bytes are first written or read.
pub(super) fn reserve(file: &File, len: usize) -> io::Result<()> {
    let len =
        libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a system call on a descriptor `file` owns; no memory passed.
    match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) } {
        0 => Ok(()),
        err => Err(io::Error::from_raw_os_error(err)),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
/// Seals `file` against shrinking, growing and further sealing.
pub(super) fn seal(file: &File) -> io::Result<()> {
    // SAFETY: a system call on a descriptor `file` owns, with an integer
    // argument; no memory passed.
    match unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
/// Whether `file` is sealed against shrinking (an error for a file that
/// takes no seals: not a memory file).
pub(super) fn cannot_shrink(file: &File) -> io::Result<bool> {
    // SAFETY: a system call on a descriptor `file` owns; no memory passed.
    match unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) } {
        -1 => Err(io::Error::last_os_error()),
        seals => {
            let need = libc::F_SEAL_SHRINK | libc::F_SEAL_FUTURE_WRITE;
            Ok(seals & need == need)
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
/// Whether `file` lies on tmpfs (a memory file of `memfd_create`; not
/// hugetlbfs, whose holes fault with `SIGBUS` once its pool is empty).
pub(super) fn on_tmpfs(file: &File) -> io::Result<bool> {
    // SAFETY: `buf` is a valid, writable `statfs` the call fills.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above; a descriptor `file` owns.
    match unsafe { libc::fstatfs(file.as_raw_fd(), &mut buf) } {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(buf.f_type == libc::TMPFS_MAGIC),
    }
}

/// Maps the first `len` bytes of `file` for reading and writing (the
/// sender's side: it owns the file and writes images into it).
pub(super) fn map_owned(file: &File, len: usize) -> io::Result<MmapMut> {
    // SAFETY: `file` is a memory file this process just made, sized to at
    // least `len` bytes with its pages reserved, and sealed against
    // shrinking, so no page of the mapping can be cut off. The only other
    // process that maps it maps it read-only; we write it only through this
    // mapping, as bytes. The mapping is held with its `File` for as long as
    // any slice of it lives.
    unsafe { MmapOptions::new().len(len).map_mut(file) }
}

/// Maps the first `len` bytes of `file` read-only (the receiver's side).
pub(super) fn map_shared(file: &File, len: usize) -> io::Result<Mmap> {
    // SAFETY: the caller checked that `file` is a regular file of at least
    // `len` bytes sealed against shrinking: every page of the mapping stays
    // backed (no `SIGBUS`). The peer that owns it may write it while we read
    // it (the module's note: torn pixels at worst, never memory outside the
    // mapping). The bytes are only ever read as plain `u8`, for which every
    // bit pattern is valid.
    unsafe { MmapOptions::new().len(len).map(file) }
}

/// Elsewhere than Linux: no sealed memory files, so no segment is made nor
/// mapped (images go over the socket, counted as fallbacks).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod unsupported {
    use std::fs::File;
    use std::io;

    fn no() -> io::Error {
        io::Error::from(io::ErrorKind::Unsupported)
    }

    pub(in crate::shm) fn memfd(_: &str) -> io::Result<File> {
        Err(no())
    }

    pub(in crate::shm) fn reserve(_: &File, _: usize) -> io::Result<()> {
        Err(no())
    }

    pub(in crate::shm) fn seal(_: &File) -> io::Result<()> {
        Err(no())
    }

    pub(in crate::shm) fn cannot_shrink(_: &File) -> io::Result<bool> {
        Err(no())
    }

    pub(in crate::shm) fn on_tmpfs(_: &File) -> io::Result<bool> {
        Err(no())
    }
}
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) use unsupported::{cannot_shrink, memfd, on_tmpfs, reserve, seal};
