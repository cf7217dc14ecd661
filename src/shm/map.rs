//! The crate's mappings of shared memory: the only `unsafe` of the
//! shared-memory path, each block with its argument.
//!
//! What we accept, as every shared-memory transport does (iceoryx, Zenoh):
//! the peer that owns a segment can write it while we read it. The
//! protocol says it must not touch a slot before we release it; a broken or
//! hostile peer that does anyway makes the receiver see torn pixels. It
//! cannot make us read outside the mapping (every range is checked against
//! the mapped length before a view is made) nor write through it (the
//! receiver maps read-only). It could also shrink the file so that reading
//! a page faults (`SIGBUS`); the receiver maps only files of its own
//! effective user, so such a peer could already signal or trace it.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use memmap2::{Mmap, MmapMut, MmapOptions};

/// Maps the first `len` bytes of `file` for reading and writing (the
/// sender's side: it owns the file and writes images into it).
pub(super) fn map_owned(file: &File, len: usize) -> io::Result<MmapMut> {
    // SAFETY: `file` is a file this process just created with `O_EXCL` and
    // mode 0600 and sized to `len`; the only other process that maps it maps
    // it read-only, so nothing else writes it, and we never shrink it. The
    // mapping is held with its `File` for as long as any slice of it lives.
    unsafe { MmapOptions::new().len(len).map_mut(file) }
}

/// Maps the first `len` bytes of `file` read-only (the receiver's side).
pub(super) fn map_shared(file: &File, len: usize) -> io::Result<Mmap> {
    // SAFETY: the peer that owns the file may write it while we read it (the
    // module's note: torn pixels at worst, never memory outside the
    // mapping, whose length the caller checked against the file's). The
    // bytes are only ever read as plain `u8`, for which every bit pattern
    // is valid.
    unsafe { MmapOptions::new().len(len).map(file) }
}

/// This process's effective user id: a segment we map must be owned by it.
pub(super) fn effective_uid() -> u32 {
    // SAFETY: `geteuid` takes no argument, touches no memory of ours and
    // cannot fail (POSIX).
    unsafe { libc::geteuid() }
}
