//! Segments and mappings in this one process, as two peers would use them.

use std::sync::{Arc, Mutex};

use super::{Budget, CreateError, Mapped, Release, Segment};
use crate::protocol::{DecodeError, ImageMeta, SegmentName, ShmImage, ShmOffer};

fn image(offset: u64, len: u64) -> ShmImage {
    let meta = ImageMeta {
        width: 1,
        height: 1,
        format: 1,
        stride: 1,
        seq: 1,
        timestamp_ns: 0,
        total_len: len,
    };
    ShmImage {
        meta,
        offset,
        sent_at: None,
    }
}

fn unlimited() -> Arc<Budget> {
    Budget::new(usize::MAX)
}

fn recorder() -> (Release, Arc<Mutex<Vec<u64>>>) {
    let released = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&released);
    let release: Release = Arc::new(move |offset| seen.lock().expect("not poisoned").push(offset));
    (release, released)
}

#[test]
fn a_receiver_sees_the_senders_bytes_in_place() {
    let mut segment = Segment::create(1 << 20, &unlimited()).expect("a memory file");
    let pixels: Vec<u8> = (0..6000u32).map(|i| (i * 7) as u8).collect();
    segment.write(4096, &pixels).expect("within the segment");
    let offer = segment.offer();
    assert_eq!(offer.len, 1 << 20);
    assert_eq!(offer.pid, std::process::id());
    let mapped = Mapped::open(&offer, &unlimited()).expect("the receiver maps it");
    let (release, released) = recorder();
    let bytes = mapped
        .view(&image(4096, 6000), release)
        .expect("within the mapping");
    assert_eq!(&bytes[..], &pixels[..]);
    let base = mapped.map.as_ptr() as usize;
    assert_eq!(bytes.as_ptr() as usize, base + 4096, "no copy");
    // The sender writes a released slot again; the receiver's next view shows it.
    drop(bytes);
    segment.write(4096, &[9; 6000]).expect("within the segment");
    let (release, _) = recorder();
    let again = mapped.view(&image(4096, 6000), release).expect("in range");
    assert!(again.iter().all(|&b| b == 9));
    assert_eq!(*released.lock().expect("not poisoned"), vec![4096]);
}

#[test]
fn the_last_clone_dropped_releases_the_slot_once() {
    let segment = Segment::create(8192, &unlimited()).expect("a segment");
    let mapped = Mapped::open(&segment.offer(), &unlimited()).expect("mapped");
    let (release, released) = recorder();
    let bytes = mapped.view(&image(64, 128), release).expect("in range");
    let clone = bytes.clone();
    let slice = bytes.slice(10..20);
    drop(bytes);
    drop(clone);
    assert!(released.lock().expect("not poisoned").is_empty());
    drop(slice);
    assert_eq!(*released.lock().expect("not poisoned"), vec![64]);
}

#[test]
fn views_outside_the_mapping_and_writes_past_the_segment_are_refused() {
    let mut segment = Segment::create(8192, &unlimited()).expect("a segment");
    let mapped = Mapped::open(&segment.offer(), &unlimited()).expect("mapped");
    for (offset, len) in [(8192, 1), (8000, 193), (u64::MAX, 2), (0, 0)] {
        let (release, released) = recorder();
        let err = mapped.view(&image(offset, len), release).err();
        assert!(
            matches!(err, Some(DecodeError::BadShm(_))),
            "{offset} {len}"
        );
        assert!(released.lock().expect("not poisoned").is_empty());
    }
    assert_eq!(segment.write(8000, &[0; 193]), None);
    assert_eq!(segment.write(usize::MAX, &[0; 2]), None);
    assert_eq!(segment.len(), 8192);
}

#[test]
fn a_receiver_refuses_a_missing_short_or_misnamed_segment() {
    let segment = Segment::create(4096, &unlimited()).expect("a segment");
    let refused = |offer: &ShmOffer| Mapped::open(offer, &unlimited()).err().map(|e| e.kind());
    let longer = ShmOffer {
        len: 8192,
        ..segment.offer()
    };
    assert_eq!(refused(&longer), Some(std::io::ErrorKind::InvalidData));
    let misnamed = ShmOffer {
        name: SegmentName::from_random([0; 16]),
        ..segment.offer()
    };
    assert_eq!(refused(&misnamed), Some(std::io::ErrorKind::InvalidData));
    let missing = ShmOffer {
        fd: 1 << 20,
        ..segment.offer()
    };
    assert_eq!(refused(&missing), Some(std::io::ErrorKind::NotFound));
}

#[test]
fn a_segment_is_sealed_and_named_in_no_directory() {
    let segment = Segment::create(4096, &unlimited()).expect("a segment");
    let offer = segment.offer();
    let link = format!("/proc/self/fd/{}", offer.fd);
    let target = std::fs::read_link(&link).expect("our descriptor");
    let target = target.to_string_lossy();
    assert!(target.starts_with("/memfd:socketengine-"), "{target}");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&link)
        .expect("ours to open");
    assert!(file.set_len(0).is_err(), "sealed against shrinking");
    assert!(file.set_len(1 << 20).is_err(), "and growing");
    assert_eq!(file.metadata().expect("there").len(), 4096 + 45);
}

#[test]
fn segments_past_the_budget_are_refused_until_one_goes() {
    let budget = Budget::new(8192);
    let first = Segment::create(8192, &budget).expect("fits");
    let releases = budget.releases();
    let over = Segment::create(1, &budget).err();
    assert!(matches!(over, Some(CreateError::NoRoom)), "{over:?}");
    assert!(!budget.has_room(1));
    assert_eq!(budget.releases(), releases, "a refusal gives nothing back");
    drop(first);
    assert_eq!(budget.releases(), releases + 1);
    assert!(budget.has_room(8192) && !budget.has_room(8193));
    let again = Segment::create(4096, &budget).expect("its bytes came back");
    assert_eq!(again.len(), 4096);
}

#[test]
fn a_segment_the_system_refuses_is_told_apart_and_gives_its_charge_back() {
    // Charged, then refused (a length past what a file can hold): the
    // system's failure, not the limit's, and the bytes are back.
    let budget = Budget::new(usize::MAX);
    let releases = budget.releases();
    let refused = Segment::create(usize::MAX - 8, &budget).err();
    assert!(matches!(refused, Some(CreateError::System)), "{refused:?}");
    assert_eq!(budget.releases(), releases + 1);
    assert!(budget.has_room(usize::MAX));
}
