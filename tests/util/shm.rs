//! Helpers of the shared-memory tests: a raw peer's segment, made by hand
//! as the crate makes its own (a memory file, its name after its slots),
//! sealed or not, so tests can offer segments good and bad (the only
//! `unsafe` of the tests: two system calls std has no wrapper for), and the
//! operations a raw peer sends and reads.
#![allow(unsafe_code, dead_code)]

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileExt;

use std::net::TcpStream;

use socketengine::protocol::{
    DecodeError, Header, ImageMeta, Kind, OP_SHM_ANSWER, OP_SHM_IMAGE, OP_SHM_OFFER, SegmentName,
    ShmAnswer, ShmImage, ShmOffer,
};
use socketengine::{ClientId, ErrorKind, Events, Host, Image, PixelFormat};

use crate::util::{next_error, read_frame};

/// A segment of this process: its file and the offer of it.
pub(crate) struct RawSegment {
    pub(crate) file: File,
    pub(crate) offer: ShmOffer,
}

/// A memory file of `len` bytes of slots and the name after them, sealed
/// against shrinking and growing when `sealed`.
pub(crate) fn raw_segment(len: u64, name: [u8; 16], sealed: bool) -> RawSegment {
    let name = SegmentName::from_random(name);
    let c_name = CString::new(name.as_str()).unwrap();
    // SAFETY: a NUL-terminated name that outlives the call, valid flags.
    let fd =
        unsafe { libc::memfd_create(c_name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: a descriptor just returned to us, owned by nothing else.
    let file = unsafe { File::from_raw_fd(fd) };
    let trailer = name.as_str().as_bytes();
    file.set_len(len + trailer.len() as u64).unwrap();
    file.write_all_at(trailer, len).unwrap();
    // SAFETY: a system call on a descriptor `file` owns.
    let r =
        unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, (len + trailer.len() as u64) as i64) };
    assert_eq!(r, 0);
    if sealed {
        let seals =
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_FUTURE_WRITE | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on a descriptor `file` owns, integer argument.
        let done = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) };
        assert_eq!(done, 0, "F_ADD_SEALS: {}", std::io::Error::last_os_error());
    }
    let offer = ShmOffer {
        len,
        pid: std::process::id(),
        fd: file.as_raw_fd() as u32,
        name,
    };
    RawSegment { file, offer }
}

/// Whether the process and descriptor of `offer` still hold its segment.
pub(crate) fn holds(offer: &ShmOffer) -> bool {
    let link = std::fs::read_link(format!("/proc/{}/fd/{}", offer.pid, offer.fd));
    link.is_ok_and(|target| target.to_string_lossy().contains(offer.name.as_str()))
}

/// An 8 × 8 gray image: a first image, which makes its sender's segment
/// (and goes over the socket itself).
pub(crate) fn first_image() -> Image {
    Image::new(8, 8, PixelFormat::Gray8, vec![0; 64]).unwrap()
}

/// The host's segment offer to the raw client `id`: made at the first
/// image the host writes to it (written here, on `first`; it goes over the
/// socket), read as [`read_offer`] does.
pub(crate) fn host_offer(host: &Host, raw: &mut TcpStream, id: ClientId) -> ShmOffer {
    host.to(id).write("first", first_image()).unwrap();
    read_offer(raw)
}

/// Reads frames from a raw client until the host's segment offer.
pub(crate) fn read_offer(stream: &mut TcpStream) -> ShmOffer {
    for _ in 0..64 {
        let frame = read_frame(stream);
        if frame.kind == (Kind::Control { op: OP_SHM_OFFER }) {
            return ShmOffer::decode(&frame.payload).unwrap().unwrap();
        }
    }
    panic!("no offer");
}

pub(crate) fn control(op: u8, channel: &str, payload: &[u8]) -> Vec<u8> {
    let header = Header::new(Kind::Control { op }, channel);
    header.to_bytes(payload).unwrap().to_vec()
}

/// Reads frames from a raw peer until the host's answer to its offer.
pub(crate) fn read_answer(stream: &mut TcpStream) -> ShmAnswer {
    for _ in 0..64 {
        let frame = read_frame(stream);
        if frame.kind == (Kind::Control { op: OP_SHM_ANSWER }) {
            return ShmAnswer::decode(&frame.payload).unwrap();
        }
    }
    panic!("no answer");
}

/// An image operation on `cam` for a Gray8 image of `len` pixels in one
/// row, at `offset` of the sender's segment.
pub(crate) fn gray_image_op(len: u32, offset: u64) -> Vec<u8> {
    let meta = ImageMeta {
        width: len,
        height: 1,
        format: 1,
        stride: len,
        seq: 1,
        timestamp_ns: 0,
        total_len: u64::from(len),
    };
    let image = ShmImage {
        meta,
        offset,
        sent_at: None,
    };
    control(OP_SHM_IMAGE, "cam", &image.encode())
}

/// Asserts that the next error event is `raw_id`'s connection closed for
/// a [`DecodeError::BadShm`] saying `what`.
pub(crate) fn closed_with(events: &Events, raw_id: ClientId, what: &'static str) {
    let (client, _, error) = next_error(events);
    assert_eq!(client, Some(raw_id));
    let bad = DecodeError::BadShm(what);
    assert!(
        matches!(error.kind(), ErrorKind::Protocol(e) if *e == bad),
        "{error}"
    );
}
