//! Shared-memory operations and the segment's slots, by table.

use crate::protocol::{
    DecodeError, Decoder, Header, ImageMeta, Kind, NotInUse, OP_SHM_ANSWER, OP_SHM_IMAGE,
    OP_SHM_OFFER, OP_SHM_RELEASE, SHM_CHANNEL, SHM_IMAGE_LEN, SegmentName, ShmAnswer, ShmImage,
    ShmOffer, ShmStatus, Slots, decode_release, encode_release,
};

fn name() -> SegmentName {
    SegmentName::from_random([0xab; 16])
}

fn meta(total_len: u64) -> ImageMeta {
    ImageMeta {
        width: 2,
        height: 1,
        format: 3,
        stride: 6,
        seq: 7,
        timestamp_ns: 0,
        total_len,
    }
}

/// The whole frame a control operation travels in, as the decoder reads it.
fn through_decoder(op: u8, channel: &str, payload: &[u8]) -> Vec<u8> {
    let wire = Header::new(Kind::Control { op }, channel)
        .to_bytes(payload)
        .expect("a valid frame");
    let mut decoder = Decoder::new(1 << 20);
    let frame = decoder
        .decode(&mut bytes::BytesMut::from(&wire[..]))
        .expect("decodes")
        .expect("whole");
    assert_eq!(frame.kind, Kind::Control { op });
    frame.payload.to_vec()
}

#[test]
fn operations_encode_to_the_worked_bytes_and_back() {
    let offer = ShmOffer {
        len: 64 << 20,
        pid: 4242,
        fd: 9,
        name: name(),
    };
    let hex = "ab".repeat(16);
    let wire_name = [&[45u8][..], b"socketengine-", hex.as_bytes()].concat();
    let head = b"\x02\x00\x00\x00\x04\x00\x00\x00\x00\x92\x10\x00\x00\x09\x00\x00\x00";
    let offer_bytes = [&head[..], &wire_name].concat();
    let frame = Header::new(Kind::Control { op: OP_SHM_OFFER }, SHM_CHANNEL)
        .to_bytes(&offer.encode())
        .expect("valid");
    assert_eq!(&frame[..11], b"\x46\x00\x00\x00\x08\x00\x03shm\x07");
    assert_eq!(&offer.encode()[..], &offer_bytes[..]);
    let read = through_decoder(OP_SHM_OFFER, SHM_CHANNEL, &offer_bytes);
    assert_eq!(ShmOffer::decode(&read), Ok(Some(offer)));

    let answer = ShmAnswer {
        status: ShmStatus::Mapped,
        name: name(),
    };
    let answer_bytes = [&[0u8][..], &wire_name].concat();
    assert_eq!(&answer.encode()[..], &answer_bytes[..]);
    let read = through_decoder(OP_SHM_ANSWER, SHM_CHANNEL, &answer_bytes);
    assert_eq!(ShmAnswer::decode(&read), Ok(answer));

    let image = ShmImage {
        meta: meta(6),
        offset: 4096,
        sent_at: None,
    };
    let image_bytes = b"\x02\x00\x00\x00\x01\x00\x00\x00\x03\x06\x00\x00\x00\
        \x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\
        \x06\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\
        \x00\x00\x00\x00\x00\x00\x00\x00";
    assert_eq!(image_bytes.len(), SHM_IMAGE_LEN);
    assert_eq!(&image.encode()[..], &image_bytes[..]);
    let read = through_decoder(OP_SHM_IMAGE, "cam", image_bytes);
    assert_eq!(ShmImage::decode(&read), Ok(image));

    let release = encode_release(&[0, 4096]).expect("two offsets");
    assert_eq!(
        &release[..],
        b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00"
    );
    let read = through_decoder(OP_SHM_RELEASE, SHM_CHANNEL, &release);
    assert_eq!(decode_release(&read), Ok(vec![0, 4096]));
}

#[test]
fn every_status_and_a_send_time_round_trip() {
    for code in 0..4u8 {
        let mut payload = vec![code];
        payload.push(45);
        payload.extend_from_slice(name().as_str().as_bytes());
        let answer = ShmAnswer::decode(&payload).expect("a known status");
        assert_eq!(answer.status.code(), code);
        assert_eq!(&answer.encode()[..], &payload[..]);
    }
    let image = ShmImage {
        meta: meta(6),
        offset: 64,
        sent_at: Some(1_700_000_000_000_000_000),
    };
    assert_eq!(ShmImage::decode(&image.encode()), Ok(image));
}

#[test]
fn malformed_operations_are_typed_errors() {
    let good_name = [&[45u8][..], name().as_str().as_bytes()].concat();
    let ids = [&7u32.to_le_bytes()[..], &3u32.to_le_bytes()].concat();
    let offer = |len: &[u8], tail: &[u8]| match tail {
        [] => [&[2u8][..], len].concat(),
        _ => [&[2u8][..], len, &ids, tail].concat(),
    };
    let eight = 64u64.to_le_bytes();
    let upper = [&[45u8][..], b"socketengine-", "AB".repeat(16).as_bytes()].concat();
    let escape = [&[19u8][..], b"socketengine-/../x1"].concat();
    let table: [(Vec<u8>, DecodeError); 6] = [
        (vec![], DecodeError::Truncated("shm offer")),
        (
            offer(&eight[..4], &[]),
            DecodeError::Truncated("segment length"),
        ),
        (
            offer(&[0; 8], &good_name),
            DecodeError::BadShm("empty segment"),
        ),
        (offer(&eight, &upper), DecodeError::BadShm("segment name")),
        (offer(&eight, &escape), DecodeError::BadShm("segment name")),
        (
            offer(&eight, &[&good_name[..], b"x"].concat()),
            DecodeError::BadShm("bytes after the offer"),
        ),
    ];
    for (payload, want) in table {
        assert_eq!(ShmOffer::decode(&payload), Err(want), "{payload:?}");
    }
    assert_eq!(ShmOffer::decode(&[1, 0, 0]), Ok(None), "another version");
    let short_ids = [&[2u8][..], &eight, &[7, 0, 0, 0, 3]].concat();
    assert_eq!(
        ShmOffer::decode(&short_ids),
        Err(DecodeError::Truncated("descriptor"))
    );
    let bad_status = [&[4u8][..], &good_name].concat();
    assert_eq!(
        ShmAnswer::decode(&bad_status),
        Err(DecodeError::BadShm("answer status"))
    );
    assert_eq!(
        ShmImage::decode(&[0; SHM_IMAGE_LEN - 1]),
        Err(DecodeError::BadShm("image payload length"))
    );
    for payload in [&[][..], &[0; 7][..], &[0; 8 * 513][..]] {
        assert_eq!(
            decode_release(payload),
            Err(DecodeError::BadShm("release list"))
        );
    }
    assert!(encode_release(&[]).is_err());
    assert!(encode_release(&[0; 513]).is_err());
}

#[test]
fn an_image_must_lie_within_the_segment() {
    let at = |offset: u64, len: u64| ShmImage {
        meta: meta(len),
        offset,
        sent_at: None,
    };
    let past = Err(DecodeError::BadShm("image past the segment"));
    let table = [
        (at(0, 1024), Ok(0..1024)),
        (at(1000, 24), Ok(1000..1024)),
        (at(1000, 25), past.clone()),
        (at(1024, 1), past.clone()),
        (at(u64::MAX, 2), past.clone()),
        (at(1, u64::MAX), past),
        (at(0, 0), Err(DecodeError::BadShm("empty image"))),
    ];
    for (image, want) in table {
        assert_eq!(image.range(1024), want, "{image:?}");
    }
}

#[test]
fn slots_are_taken_first_fit_and_merged_when_released() {
    // (operation, argument, expected offset or outcome)
    enum Op {
        Take(u64, Option<u64>),
        Release(u64, Result<(), NotInUse>),
    }
    use Op::{Release, Take};
    let table = [
        Take(0, None),
        Take(100, Some(0)),   // rounded to 128
        Take(64, Some(128)),  // 128..192
        Take(300, Some(192)), // 192..512
        Take(600, None),      // 512 left of 1024
        Take(512, Some(512)),
        Take(1, None), // full
        Release(128, Ok(())),
        Release(128, Err(NotInUse(128))),
        Release(100, Err(NotInUse(100))),
        Take(128, None),      // only 64 free
        Release(0, Ok(())),   // merges with 128..192: 0..192 free
        Take(192, Some(0)),   // the merged range
        Release(192, Ok(())), // 192..512 free
        Release(512, Ok(())), // merges: 192..1024 free
        Take(832, Some(192)),
        Release(0, Ok(())),
        Release(192, Ok(())), // all free, one range
        Take(1024, Some(0)),
    ];
    let mut slots = Slots::new(1024 + 63);
    assert_eq!(slots.len(), 1024);
    for (step, op) in table.into_iter().enumerate() {
        match op {
            Take(want, expect) => assert_eq!(slots.take(want), expect, "step {step}"),
            Release(at, expect) => assert_eq!(slots.release(at), expect, "step {step}"),
        }
    }
    assert_eq!((slots.slots(), slots.in_use()), (1, 1024));
    slots.reset();
    assert_eq!((slots.slots(), slots.in_use()), (0, 0));
}

#[test]
fn more_images_than_slots_reuse_released_space() {
    let frame = 6_220_800;
    let mut slots = Slots::new(4 * frame);
    let mut held = std::collections::VecDeque::new();
    for _ in 0..1000 {
        let at = match slots.take(frame) {
            Some(at) => at,
            None => {
                let oldest = held.pop_front().expect("something is held when full");
                slots.release(oldest).expect("held slots release");
                slots.take(frame).expect("a released slot is reused")
            }
        };
        held.push_back(at);
        assert!(held.len() <= 4);
    }
    assert!(Slots::new(10).is_empty());
    assert_eq!(Slots::new(10).take(1), None);
}
