//! Images through shared memory between two processes of one machine: the
//! control operations that offer a segment, answer the offer, point an image
//! into it and release it, and their checks. Pure encode and decode; see the
//! [wire format](super#shared-memory-images) for the rules.

use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};

use super::{DecodeError, ImageMeta, Kind, KindCode};

/// The channel the segment's offer, answer and releases travel on (they never
/// reach the store).
pub const SHM_CHANNEL: &str = "shm";

/// The control operation an image sender sends on [`SHM_CHANNEL`] to offer
/// its segment: payload [`ShmOffer`].
pub const OP_SHM_OFFER: u8 = 0x07;

/// The control operation the receiver of an offer answers with, on
/// [`SHM_CHANNEL`]: payload [`ShmAnswer`].
pub const OP_SHM_ANSWER: u8 = 0x08;

/// The control operation that carries an image in the segment, on the
/// image's channel: payload [`ShmImage`].
pub const OP_SHM_IMAGE: u8 = 0x09;

/// The control operation a receiver sends on [`SHM_CHANNEL`] when it no
/// longer holds images of the segment: payload one or more offsets, `u64`
/// each ([`encode_release`]).
pub const OP_SHM_RELEASE: u8 = 0x0a;

/// The version of the shared-memory operations an offer carries; a receiver
/// drops an offer of another unanswered, as a peer that does not know the
/// operations does. Version 1 named a file in `/dev/shm`; version 2 passes
/// a sealed memory file by its sender's process id and descriptor.
pub const SHM_VERSION: u8 = 2;

/// The prefix of every segment's name; the rest is 32 lowercase hex digits.
pub const SEGMENT_PREFIX: &str = "socketengine-";

/// Length of a segment's name: the prefix and 16 random bytes in hex.
pub const SEGMENT_NAME_LEN: usize = SEGMENT_PREFIX.len() + 32;

/// Most offsets one release frame carries (4 KiB of payload).
pub const MAX_RELEASES: usize = 512;

/// Bytes of an [`OP_SHM_IMAGE`] payload: the image frame's 37 bytes of
/// fields, the offset and the send time.
pub const SHM_IMAGE_LEN: usize = 37 + 8 + 8;

/// A segment's name: [`SEGMENT_PREFIX`] and 32 lowercase hex digits (16
/// random bytes). It is the name of the sender's memory file, and its
/// secret: the sender writes it right after the segment's slots, where the
/// receiver checks it, so a segment is mapped only by the peer it was
/// offered to (the name travels on that connection alone); an answer
/// carries it to match its offer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SegmentName(String);

impl SegmentName {
    /// The name of 16 random bytes.
    pub fn from_random(bytes: [u8; 16]) -> SegmentName {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        SegmentName(format!("{SEGMENT_PREFIX}{hex}"))
    }

    /// Checks a name read from the wire.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadShm`] for anything but the prefix and 32 lowercase
    /// hex digits.
    pub fn parse(bytes: &[u8]) -> Result<SegmentName, DecodeError> {
        let hex = bytes
            .strip_prefix(SEGMENT_PREFIX.as_bytes())
            .filter(|hex| hex.len() == 32)
            .filter(|hex| hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .ok_or(DecodeError::BadShm("segment name"))?;
        // Checked above: ASCII only.
        let hex = String::from_utf8_lossy(hex);
        Ok(SegmentName(format!("{SEGMENT_PREFIX}{hex}")))
    }

    /// The name, as text (ASCII).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn put(&self, out: &mut BytesMut) {
        out.put_u8(self.0.len() as u8);
        out.put_slice(self.0.as_bytes());
    }

    fn take(payload: &[u8]) -> Result<(SegmentName, &[u8]), DecodeError> {
        let (&n, rest) = payload
            .split_first()
            .ok_or(DecodeError::Truncated("segment name"))?;
        let name = rest
            .get(..usize::from(n))
            .ok_or(DecodeError::Truncated("segment name"))?;
        Ok((SegmentName::parse(name)?, &rest[usize::from(n)..]))
    }
}

/// An image sender's offer of its segment ([`OP_SHM_OFFER`]): version `u8`,
/// the length of the segment's slots `u64`, the sender's process id `u32`,
/// the descriptor of the segment's memory file in that process `u32`, the
/// segment's name (`n: u8`, `n` bytes), which follows the slots in the file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShmOffer {
    /// Length of the segment's slots in bytes: every image's range lies
    /// within it; the name follows it in the file.
    pub len: u64,
    /// The sender's process id: the receiver opens
    /// `/proc/<pid>/fd/<fd>`.
    pub pid: u32,
    /// The descriptor of the segment's memory file in the sender's process.
    pub fd: u32,
    /// The segment's name, written right after its slots.
    pub name: SegmentName,
}

impl ShmOffer {
    /// The payload of an [`OP_SHM_OFFER`] frame (version [`SHM_VERSION`]).
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(18 + SEGMENT_NAME_LEN);
        out.put_u8(SHM_VERSION);
        out.put_u64_le(self.len);
        out.put_u32_le(self.pid);
        out.put_u32_le(self.fd);
        self.name.put(&mut out);
        out.freeze()
    }

    /// Parses an offer: `Ok(None)` for one of another version, which the
    /// receiver drops.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`] when it runs short, [`DecodeError::BadShm`]
    /// for an empty segment, a bad name or bytes left over.
    pub fn decode(payload: &[u8]) -> Result<Option<ShmOffer>, DecodeError> {
        let (&version, rest) = payload
            .split_first()
            .ok_or(DecodeError::Truncated("shm offer"))?;
        if version != SHM_VERSION {
            return Ok(None);
        }
        let (len, rest) = take_u64(rest, "segment length")?;
        if len == 0 {
            return Err(DecodeError::BadShm("empty segment"));
        }
        let (pid, rest) = take_u32(rest, "process id")?;
        let (fd, rest) = take_u32(rest, "descriptor")?;
        let (name, rest) = SegmentName::take(rest)?;
        match rest.is_empty() {
            true => Ok(Some(ShmOffer { len, pid, fd, name })),
            false => Err(DecodeError::BadShm("bytes after the offer")),
        }
    }
}

/// What the receiver of an offer did with it ([`ShmAnswer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShmStatus {
    /// Code 0: mapped; images may come through the segment.
    Mapped,
    /// Code 1: the receiver does not take images through shared memory.
    Off,
    /// Code 2: the receiver does not see the sender on a loopback address.
    NotLocal,
    /// Code 3: the receiver could not open or map the segment, or refused
    /// it (not a sealed memory file, too short, another name after its
    /// slots).
    Unavailable,
}

impl ShmStatus {
    const ALL: [ShmStatus; 4] = [
        ShmStatus::Mapped,
        ShmStatus::Off,
        ShmStatus::NotLocal,
        ShmStatus::Unavailable,
    ];

    /// The byte on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The answer to an offer ([`OP_SHM_ANSWER`]): status `u8`, then the
/// offer's segment name (`n: u8`, `n` bytes), so an answer matches its offer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ShmAnswer {
    /// What the receiver did.
    pub status: ShmStatus,
    /// The segment the answer is about.
    pub name: SegmentName,
}

impl ShmAnswer {
    /// The payload of an [`OP_SHM_ANSWER`] frame.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(2 + SEGMENT_NAME_LEN);
        out.put_u8(self.status.code());
        self.name.put(&mut out);
        out.freeze()
    }

    /// Parses an answer.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Truncated`] when it runs short, [`DecodeError::BadShm`]
    /// for an unknown status, a bad name or bytes left over.
    pub fn decode(payload: &[u8]) -> Result<ShmAnswer, DecodeError> {
        let (&code, rest) = payload
            .split_first()
            .ok_or(DecodeError::Truncated("shm answer"))?;
        let status = *ShmStatus::ALL
            .get(usize::from(code))
            .ok_or(DecodeError::BadShm("answer status"))?;
        let (name, rest) = SegmentName::take(rest)?;
        match rest.is_empty() {
            true => Ok(ShmAnswer { status, name }),
            false => Err(DecodeError::BadShm("bytes after the answer")),
        }
    }
}

/// An image in the segment ([`OP_SHM_IMAGE`]): the image frame's fields
/// (37 bytes, its `total payload` the image's length), the offset of its
/// first byte in the segment `u64`, and its send time `u64` (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShmImage {
    /// The image's fields, as an image frame carries them.
    pub meta: ImageMeta,
    /// Where its bytes start in the segment.
    pub offset: u64,
    /// When it was sent, on the host's clock, as a frame's send time.
    pub sent_at: Option<u64>,
}

impl ShmImage {
    /// The payload of an [`OP_SHM_IMAGE`] frame.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(SHM_IMAGE_LEN);
        Kind::Image(self.meta).put_fields(&mut out);
        out.put_u64_le(self.offset);
        out.put_u64_le(self.sent_at.unwrap_or(0));
        out.freeze()
    }

    /// Parses the payload of an [`OP_SHM_IMAGE`] frame.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadShm`] for a payload of another length than
    /// [`SHM_IMAGE_LEN`].
    pub fn decode(payload: &[u8]) -> Result<ShmImage, DecodeError> {
        if payload.len() != SHM_IMAGE_LEN {
            return Err(DecodeError::BadShm("image payload length"));
        }
        let Kind::Image(meta) = Kind::parse(KindCode::Image, &payload[..37]) else {
            unreachable!("the image code parses as an image")
        };
        let (offset, rest) = take_u64(&payload[37..], "segment offset")?;
        let (sent_at, _) = take_u64(rest, "send time")?;
        let sent_at = (sent_at != 0).then_some(sent_at);
        Ok(ShmImage {
            meta,
            offset,
            sent_at,
        })
    }

    /// The image's bytes in a segment of `segment_len` bytes.
    ///
    /// # Errors
    ///
    /// [`DecodeError::BadShm`] for an empty image, or one running past the
    /// segment's end (an overflowing offset included).
    pub fn range(&self, segment_len: u64) -> Result<Range<usize>, DecodeError> {
        let len = self.meta.total_len;
        let end = self.offset.checked_add(len);
        match end {
            _ if len == 0 => Err(DecodeError::BadShm("empty image")),
            Some(end) if end <= segment_len => {
                let start = usize::try_from(self.offset);
                let end = usize::try_from(end);
                match (start, end) {
                    (Ok(start), Ok(end)) => Ok(start..end),
                    _ => Err(DecodeError::BadShm("image past the segment")),
                }
            }
            _ => Err(DecodeError::BadShm("image past the segment")),
        }
    }
}

/// The payload of an [`OP_SHM_RELEASE`] frame: the offsets, `u64` each.
///
/// # Errors
///
/// [`DecodeError::FieldTooLong`] for none or more than [`MAX_RELEASES`].
pub fn encode_release(offsets: &[u64]) -> Result<Bytes, DecodeError> {
    if offsets.is_empty() || offsets.len() > MAX_RELEASES {
        return Err(DecodeError::FieldTooLong {
            field: "release list",
            len: offsets.len(),
        });
    }
    let mut out = BytesMut::with_capacity(offsets.len() * 8);
    offsets.iter().for_each(|&o| out.put_u64_le(o));
    Ok(out.freeze())
}

/// Parses an [`OP_SHM_RELEASE`] payload.
///
/// # Errors
///
/// [`DecodeError::BadShm`] for an empty payload, one that is not a whole
/// number of offsets, or more than [`MAX_RELEASES`].
pub fn decode_release(payload: &[u8]) -> Result<Vec<u64>, DecodeError> {
    let count = payload.len() / 8;
    if payload.is_empty() || payload.len() % 8 != 0 || count > MAX_RELEASES {
        return Err(DecodeError::BadShm("release list"));
    }
    let offsets = payload.chunks_exact(8).map(|c| {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        u64::from_le_bytes(b)
    });
    Ok(offsets.collect())
}

fn take_u64<'a>(b: &'a [u8], field: &'static str) -> Result<(u64, &'a [u8]), DecodeError> {
    let head = b.get(..8).ok_or(DecodeError::Truncated(field))?;
    let mut v = [0u8; 8];
    v.copy_from_slice(head);
    Ok((u64::from_le_bytes(v), &b[8..]))
}

fn take_u32<'a>(b: &'a [u8], field: &'static str) -> Result<(u32, &'a [u8]), DecodeError> {
    let head = b.get(..4).ok_or(DecodeError::Truncated(field))?;
    let mut v = [0u8; 4];
    v.copy_from_slice(head);
    Ok((u32::from_le_bytes(v), &b[4..]))
}
