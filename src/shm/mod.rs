//! Shared-memory segments for images between two processes of one machine
//! ([wire format](crate::protocol#shared-memory-images)): the sender's
//! segment, a file in `/dev/shm` it creates and writes images into, and the
//! receiver's read-only mapping of it, whose images are [`Bytes`] over the
//! mapping that release their slot when the last clone is dropped.
//!
//! The mapping itself (the `unsafe`, and what we accept of a peer writing
//! while we read) is in [`map`]; everything here is checked, safe code.

mod map;

use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Range;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use memmap2::{Mmap, MmapMut};

use crate::protocol::{DecodeError, SegmentName, ShmImage, ShmOffer};

/// Where segments live: the tmpfs every Linux system mounts for POSIX
/// shared memory.
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// What a receiver calls with an image's offset once nothing holds the
/// image any longer. It runs on whatever thread drops the last clone, so it
/// must not block (the engine's queues a release for its loop and wakes it).
pub(crate) type Release = Arc<dyn Fn(u64) + Send + Sync>;

/// An image sender's segment: its name (until removed), its file and its
/// writable mapping. Dropping it removes the name if still there; the
/// memory lives on while the receiver maps it.
pub(crate) struct Segment {
    name: SegmentName,
    /// Whether the name is still in [`SHM_DIR`] (it goes once the receiver
    /// answered, the offer expired, or the connection ended).
    named: bool,
    map: MmapMut,
    /// Held so the mapping's file stays open as long as the mapping.
    _file: File,
}

impl Segment {
    /// A new segment of `len` bytes under a random name: created (never
    /// opened: `O_EXCL`), mode 0600, sized and mapped.
    ///
    /// # Errors
    ///
    /// The file's creation, sizing or mapping failing (no `/dev/shm`, no
    /// space, a name taken: 128 random bits make that an attack, not luck).
    pub(crate) fn create(len: usize) -> io::Result<Segment> {
        let name = SegmentName::from_random(crate::random::bytes());
        let path = path_of(&name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)?;
        let sized = file.set_len(len as u64);
        let map = sized.and_then(|()| map::map_owned(&file, len));
        match map {
            Ok(map) => Ok(Segment {
                name,
                named: true,
                map,
                _file: file,
            }),
            Err(err) => {
                // Best effort: the name must not outlive a failed creation.
                let _ = std::fs::remove_file(&path);
                Err(err)
            }
        }
    }

    /// The offer of this segment.
    pub(crate) fn offer(&self) -> ShmOffer {
        ShmOffer {
            len: self.map.len() as u64,
            name: self.name.clone(),
        }
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Copies `bytes` into the segment at `offset`; `None` (nothing copied)
    /// if they would run past its end.
    pub(crate) fn write(&mut self, offset: usize, bytes: &[u8]) -> Option<()> {
        let end = offset.checked_add(bytes.len())?;
        self.map.get_mut(offset..end)?.copy_from_slice(bytes);
        Some(())
    }

    /// Removes the name from [`SHM_DIR`] (once; later calls do nothing).
    ///
    /// # Errors
    ///
    /// The removal failing (someone else removed it: nothing is left).
    pub(crate) fn unlink(&mut self) -> io::Result<()> {
        match std::mem::replace(&mut self.named, false) {
            true => std::fs::remove_file(path_of(&self.name)),
            false => Ok(()),
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        // Nothing to do with an error here: the name is gone either way.
        let _ = self.unlink();
    }
}

/// A receiver's read-only mapping of a peer's segment, shared by the images
/// that point into it (each holds an `Arc`), so it is unmapped once the
/// connection is gone and the last image dropped.
pub(crate) struct Mapped {
    map: Mmap,
}

impl Mapped {
    /// Opens and maps the segment an offer names: read-only, a regular file
    /// (no symbolic link followed) of this process's effective user, at
    /// least as long as offered.
    ///
    /// # Errors
    ///
    /// The file missing or failing a check (`InvalidData`), or the mapping
    /// failing.
    pub(crate) fn open(offer: &ShmOffer) -> io::Result<Arc<Mapped>> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path_of(&offer.name))?;
        let meta = file.metadata()?;
        let len = usize::try_from(offer.len).ok().filter(|&len| {
            meta.is_file() && meta.uid() == map::effective_uid() && meta.len() >= len as u64
        });
        let len = len.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad segment"))?;
        Ok(Arc::new(Mapped {
            map: map::map_shared(&file, len)?,
        }))
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.map.len() as u64
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
    fn as_ref(&self) -> &[u8] {
        &self.map.map[self.range.clone()]
    }
}

impl Drop for SlotView {
    fn drop(&mut self) {
        (self.release)(self.offset);
    }
}

fn path_of(name: &SegmentName) -> PathBuf {
    PathBuf::from(SHM_DIR).join(name.as_str())
}

#[cfg(test)]
mod tests;
