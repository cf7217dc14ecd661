//! Raw bytes into the payload decoders of control frames and service replies:
//! a client's interest, a host's undelivered notice and room list, the client
//! and channel listings, a lookup answer, a close message, the shared-memory
//! operations (offer, answer, image, release), and a pattern.
//!
//! The first byte picks the decoder; the rest is the payload. Checks: no
//! panic; whatever decodes encodes again to something that decodes to the
//! same value (to the very same bytes where the encoding is canonical); a
//! close message stays within its limit; a shared-memory image's range is
//! within its segment or refused; a pattern matches its own text when
//! that text is a plain channel.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socketengine::protocol::{
    MAX_CLOSE_MESSAGE, Pattern, ShmAnswer, ShmImage, ShmOffer, Undelivered, close_message,
    decode_channels, decode_clients, decode_interest, decode_lookup, decode_release, decode_rooms,
    encode_channels, encode_clients, encode_interest, encode_lookup, encode_release, encode_rooms,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    match selector % 9 {
        0 => {
            if let Ok(patterns) = decode_interest(payload) {
                let again = encode_interest(&patterns).expect("a decoded interest encodes");
                assert_eq!(&again[..], payload, "interest encodes canonically");
            }
        }
        1 => {
            if let Ok(notice) = Undelivered::decode(payload) {
                assert_eq!(Undelivered::decode(&notice.encode()), Ok(notice));
            }
        }
        2 => {
            if let Ok(rooms) = decode_rooms(payload) {
                assert_eq!(decode_rooms(&encode_rooms(&rooms)), Ok(rooms));
            }
        }
        3 => {
            if let Ok(clients) = decode_clients(payload) {
                let again = encode_clients(&clients).expect("a decoded list encodes");
                assert_eq!(decode_clients(&again), Ok(clients));
            }
        }
        4 => {
            if let Ok(channels) = decode_channels(payload) {
                let again = encode_channels(&channels).expect("a decoded list encodes");
                assert_eq!(decode_channels(&again), Ok(channels));
            }
        }
        5 => {
            if let Ok(id) = decode_lookup(payload) {
                assert_eq!(decode_lookup(&encode_lookup(id)), Ok(id));
            }
        }
        6 => {
            let message = close_message(payload);
            assert!(message.len() <= MAX_CLOSE_MESSAGE * 3, "a bounded message");
        }
        7 => shm(payload),
        _ => {
            let Ok(text) = std::str::from_utf8(payload) else {
                return;
            };
            if let Ok(pattern) = Pattern::new(text) {
                if !Pattern::is_pattern(text) {
                    assert!(pattern.matches(text), "a plain name matches itself");
                }
                // Whatever the channel, matching ends and does not panic.
                let channel = text.replace('*', "x");
                let _ = pattern.matches(&channel);
                // Two halves of the text as patterns: overlapping is
                // symmetric, and a channel both name proves an overlap.
                let half = text.len() / 2;
                if let (Some(a), Some(b)) = (text.get(..half), text.get(half..)) {
                    if let (Ok(a), Ok(b)) = (Pattern::new(a), Pattern::new(b)) {
                        assert_eq!(a.overlaps(&b), b.overlaps(&a));
                        if a.matches(&channel) && b.matches(&channel) {
                            assert!(a.overlaps(&b), "{a:?} and {b:?} both name {channel:?}");
                        }
                        assert!(pattern.overlaps(&pattern) || !pattern.matches(&channel));
                    }
                }
            }
        }
    }
});

/// The shared-memory operations: each decodes to what encodes to the same
/// bytes, and an image's range is within its segment (the payload's first
/// byte picks the segment's length) or refused.
fn shm(payload: &[u8]) {
    if let Ok(Some(offer)) = ShmOffer::decode(payload) {
        assert_eq!(&offer.encode()[..], payload, "offers encode canonically");
    }
    if let Ok(answer) = ShmAnswer::decode(payload) {
        assert_eq!(&answer.encode()[..], payload, "answers encode canonically");
    }
    if let Ok(image) = ShmImage::decode(payload) {
        assert_eq!(ShmImage::decode(&image.encode()), Ok(image));
        let segment = u64::from(payload[0]) << 12;
        if let Ok(range) = image.range(segment) {
            assert!(range.start < range.end && range.end as u64 <= segment);
        }
    }
    if let Ok(offsets) = decode_release(payload) {
        let again = encode_release(&offsets).expect("a decoded list encodes");
        assert_eq!(&again[..], payload, "releases encode canonically");
    }
}
