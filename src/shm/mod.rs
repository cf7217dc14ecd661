//! Shared-memory segments for images between two processes of one machine
//! ([wire format](crate::protocol#shared-memory-images)): the sender's
//! segment, a sealed anonymous memory file it writes images into (named in
//! no directory), and the receiver's read-only mapping of it, opened through
//! `/proc/<pid>/fd/<fd>`, whose images are [`Bytes`] over the mapping that
//! release their slot when the last clone is dropped.
//!
//! Who can map a segment: only a process the kernel lets open another
//! process's descriptor through `/proc` (ptrace read access: the same user,
//! or root), and of those only the peer that was sent the segment's name on
//! its connection (the receiver checks the name written after the slots).
//! Another user's process gets `EACCES`; a process of the same user could
//! read or signal ours anyway.
//!
//! The system calls (the `unsafe`, and what we accept of a peer writing
//! while we read) are in [`map`]; everything here is checked, safe code.

mod map;

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use memmap2::{Mmap, MmapMut};

use crate::protocol::{DecodeError, SEGMENT_NAME_LEN, SegmentName, ShmImage, ShmOffer};

/// What a receiver calls with an image's offset once nothing holds the
/// image any longer. It runs on whatever thread drops the last clone, so it
/// must not block (the engine's queues a release for its loop and wakes it).
pub(crate) type Release = Arc<dyn Fn(u64) + Send + Sync>;

/// The bytes of a handle's segments, against its limit: each segment holds
/// a [`Charge`] of its length, returned when it drops.
#[derive(Debug)]
pub(crate) struct Budget {
    used: AtomicUsize,
    limit: usize,
    /// Charges given back so far: a segment refused for want of room may be
    /// tried again once this moved.
    releases: AtomicU64,
}

impl Budget {
    /// A budget of `limit` bytes, none used.
    pub(crate) fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            limit,
            releases: AtomicU64::new(0),
        })
    }

    /// How many charges were given back so far (read before a charge that
    /// may fail: a different count later means room may have come back).
    pub(crate) fn releases(&self) -> u64 {
        self.releases.load(Ordering::Acquire)
    }

    /// Whether `len` bytes fit now (a hint: another charge may take them
    /// first).
    pub(crate) fn has_room(&self, len: usize) -> bool {
        let used = self.used.load(Ordering::Acquire);
        used.checked_add(len).is_some_and(|sum| sum <= self.limit)
    }

    /// Takes `len` bytes if they fit.
    fn charge(self: &Arc<Self>, len: usize) -> Option<Charge> {
        let fits = |used: usize| used.checked_add(len).filter(|&sum| sum <= self.limit);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, fits)
            .ok()?;
        Some(Charge {
            budget: Arc::clone(self),
            len,
        })
    }
}

/// Bytes taken from a [`Budget`], given back when dropped.
#[derive(Debug)]
struct Charge {
    budget: Arc<Budget>,
    len: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        // The room first, then the count: whoever reads the count moved
        // (`releases`, Acquire) then finds the room (a charge refused
        // after reading the count it had before is tried again).
        self.budget.used.fetch_sub(self.len, Ordering::AcqRel);
        self.budget.releases.fetch_add(1, Ordering::AcqRel);
    }
}

/// Why [`Segment::create`] made no segment.
#[derive(Debug)]
pub(crate) enum CreateError {
    /// The handle's limit has no room for it: room comes back when one of
    /// its segments goes ([`Budget::releases`]).
    NoRoom,
    /// The system refused: no memory files (not Linux), no memory or space
    /// for its pages, its sealing or mapping failing (which of these,
    /// nothing acts on: images go over the socket all the same).
    System,
}

impl From<io::Error> for CreateError {
    fn from(_: io::Error) -> Self {
        CreateError::System
    }
}

/// An image sender's segment: its memory file (kept open for the
/// connection's life, so the receiver can open it through `/proc` until it
/// answers), `len` bytes of slots and its name after them, all mapped
/// writable. Dropping it closes the file; the memory lives on while the
/// receiver maps it.
pub(crate) struct Segment {
    name: SegmentName,
    /// Bytes of slots (the name follows them in the file).
    len: usize,
    map: MmapMut,
    file: File,
    /// Its bytes, against the handle's limit.
    _charge: Charge,
}

impl Segment {
    /// A new segment of `len` bytes of slots under a random name: a memory
    /// file, sized, its pages reserved (no memory: an error here, never a
    /// fault later), sealed against shrinking and growing, mapped, its name
    /// written after the slots. Reserving takes time in proportion to `len`
    /// (about 20 ms for 64 MiB).
    ///
    /// Its `len` bytes are charged to `budget` while it lives.
    ///
    /// # Errors
    ///
    /// [`CreateError::NoRoom`]: `len` past what is left of `budget`;
    /// [`CreateError::System`]: the file's creation, sizing, reservation
    /// (`ENOSPC`, `ENOMEM`), sealing or mapping failing (no memory files:
    /// not Linux). Its charge is given back either way.
    pub(crate) fn create(len: usize, budget: &Arc<Budget>) -> Result<Segment, CreateError> {
        let charge = budget.charge(len).ok_or(CreateError::NoRoom)?;
        let name = SegmentName::from_random(crate::random::bytes());
        let total = len
            .checked_add(SEGMENT_NAME_LEN)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let file = map::memfd(name.as_str())?;
        file.set_len(total as u64)?;
        map::reserve(&file, total)?;
        let mut map = map::map_owned(&file, total)?;
        map[len..].copy_from_slice(name.as_str().as_bytes());
        map::seal(&file)?;
        Ok(Segment {
            name,
            len,
            map,
            file,
            _charge: charge,
        })
    }

    /// The offer of this segment: its length, this process and the file's
    /// descriptor, its name.
    pub(crate) fn offer(&self) -> ShmOffer {
        ShmOffer {
            len: self.len as u64,
            pid: std::process::id(),
            // A descriptor is never negative.
            fd: self.file.as_raw_fd() as u32,
            name: self.name.clone(),
        }
    }

    /// Its length in bytes (of slots).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Copies `bytes` into the segment at `offset`; `None` (nothing copied)
    /// if they would run past its slots.
    pub(crate) fn write(&mut self, offset: usize, bytes: &[u8]) -> Option<()> {
        let end = offset
            .checked_add(bytes.len())
            .filter(|&end| end <= self.len)?;
        self.map.get_mut(offset..end)?.copy_from_slice(bytes);
        Some(())
    }
}

/// A receiver's read-only mapping of a peer's segment, shared by the images
/// that point into it (each holds an `Arc`), so it is unmapped once the
/// connection is gone and the last image dropped.
pub(crate) struct Mapped {
    map: Mmap,
    /// Bytes of slots: images lie within them.
    len: usize,
    /// Its bytes, against the handle's limit.
    _charge: Charge,
}

impl Mapped {
    /// Opens and maps the segment an offer points at, through
    /// `/proc/<pid>/fd/<fd>`: only once `stat` shows a regular file there
    /// (so no device, whose opening may act, such as a serial port's, nor
    /// FIFO is ever opened), read-only and never waiting (`O_NONBLOCK`, in
    /// case the descriptor changed in between: the file opened must be the
    /// one seen), a regular file
    /// sealed against shrinking (a memory file: nothing can cut a page off
    /// our mapping), at least as long as offered, whose bytes after the
    /// slots are the offer's name (the segment was offered to us: an offer
    /// of another peer's segment, or of a descriptor since reused, is
    /// refused).
    ///
    /// # Errors
    ///
    /// The file out of reach (`NotFound`, `PermissionDenied`: another
    /// user's process), failing a check (`InvalidData`), or the mapping
    /// failing.
    pub(crate) fn open(offer: &ShmOffer, budget: &Arc<Budget>) -> io::Result<Arc<Mapped>> {
        let refused = || io::Error::new(io::ErrorKind::InvalidData, "not the segment offered");
        let len = usize::try_from(offer.len).map_err(|_| refused())?;
        let total = len.checked_add(SEGMENT_NAME_LEN).ok_or_else(refused)?;
        // What this end maps counts against a limit too (its own
        // segments offered back to it included: opening its own process's
        // descriptors is always allowed).
        let charge = budget.charge(len).ok_or_else(refused)?;
        // O_PATH: nothing is opened yet (no device's open, no FIFO); the
        // inode is pinned, so the file reopened below is the one checked.
        let path = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
            .open(format!("/proc/{}/fd/{}", offer.pid, offer.fd))?;
        if !path.metadata()?.is_file() {
            return Err(refused());
        }
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(format!("/proc/self/fd/{}", path.as_raw_fd()))?;
        let meta = file.metadata()?;
        // Every page backed now (`st_blocks`), and sealed so none can be
        // punched out later (F_SEAL_FUTURE_WRITE) nor cut off (SHRINK).
        let backed = meta.blocks().saturating_mul(512) >= total as u64;
        if !meta.is_file() || meta.len() < total as u64 || !backed {
            return Err(refused());
        }
        if !map::on_tmpfs(&file).map_err(|_| refused())? {
            return Err(refused());
        }
        if !map::cannot_shrink(&file).map_err(|_| refused())? {
            return Err(refused());
        }
        let map = map::map_shared(&file, total)?;
        if &map[len..] != offer.name.as_str().as_bytes() {
            return Err(refused());
        }
        Ok(Arc::new(Mapped {
            map,
            len,
            _charge: charge,
        }))
    }

    /// Its length in bytes (of slots).
    pub(crate) fn len(&self) -> u64 {
        self.len as u64
    }

    /// The image's bytes: a [`Bytes`] over the mapping, with no copy, that
    /// calls `release` with the image's offset when its last clone drops.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadShm`] for an image outside the mapping.
    pub(crate) fn view(
        self: &Arc<Self>,
        image: &ShmImage,
        release: Release,
    ) -> Result<Bytes, DecodeError> {
        let range = image.range(self.len())?;
        Ok(Bytes::from_owner(SlotView {
            map: Arc::clone(self),
            range,
            offset: image.offset,
            release,
        }))
    }
}

/// The owner of an image's [`Bytes`]: the mapping, the image's range in it
/// (checked against the mapping's length when made), and who to tell when
/// it goes.
struct SlotView {
    map: Arc<Mapped>,
    range: Range<usize>,
    offset: u64,
    release: Release,
}

impl AsRef<[u8]> for SlotView {
    /// The image's bytes, as a `&[u8]` over memory the peer may write while
    /// we hold it. What is accepted (the [`map`] module's note): a peer that
    /// breaks the protocol shows torn pixels, nothing else. Nothing the
    /// crate decides on is read from the segment (an image's geometry,
    /// sequence and length come from the frame on the socket; its range is
    /// checked against the mapping), the bytes are plain `u8`, and Python
    /// gets them as a read-only buffer. A reader that needs them stable
    /// while it works copies them.
    fn as_ref(&self) -> &[u8] {
        &self.map.map[self.range.clone()]
    }
}

impl Drop for SlotView {
    fn drop(&mut self) {
        (self.release)(self.offset);
    }
}

#[cfg(test)]
mod tests;
