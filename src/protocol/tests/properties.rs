//! Property tests over arbitrary frames, chunkings and bytes.

use super::outbox::drain;
use super::*;
use crate::protocol::{Decoded, Need};

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

fn any_kind() -> impl Strategy<Value = Kind> {
    let image = (any::<(u32, u32, u8, u32)>(), any::<(u64, u64, u64)>()).prop_map(
        |((width, height, format, stride), (seq, timestamp_ns, total_len))| {
            Kind::Image(ImageMeta {
                width,
                height,
                format,
                stride,
                seq,
                timestamp_ns,
                total_len,
            })
        },
    );
    prop_oneof![
        Just(Kind::Data),
        image,
        any::<(u64, u64)>().prop_map(|(seq, offset)| Kind::ImageChunk { seq, offset }),
        any::<u64>().prop_map(|id| Kind::Request { id }),
        any::<(u64, u8)>().prop_map(|(id, status)| Kind::Reply { id, status }),
        any::<u64>().prop_map(|sent_ns| Kind::Ping { sent_ns }),
        any::<(u64, u64)>().prop_map(|(ping_sent_ns, sent_ns)| Kind::Pong {
            ping_sent_ns,
            sent_ns
        }),
        any::<u8>().prop_map(|op| Kind::Control { op }),
        any::<u8>().prop_map(|reason| Kind::Close { reason }),
    ]
}

fn any_route() -> impl Strategy<Value = Route> {
    prop_oneof![
        Just(Route::Host),
        Just(Route::All),
        vec(any::<u64>(), 0..8).prop_map(Route::Clients),
        // At most 63 chars of at most 4 bytes: within the 255-byte limit.
        "\\PC{0,63}".prop_map(Route::Room),
        vec("\\PC{1,63}", 0..6).prop_map(Route::Names),
        // Segments of a few letters or wildcards: always a valid pattern.
        vec(prop_oneof!["[a-z]{1,4}", "\\*", "\\*\\*"], 1..8)
            .prop_map(|parts| Route::Group(Pattern::new(&parts.join("/")).expect("a pattern"))),
    ]
}

fn any_frame() -> impl Strategy<Value = Frame> {
    let channel = prop_oneof!["\\PC{1,63}", "[a-z]{255}"];
    (
        any_kind(),
        channel,
        proptest::option::of(any_route()),
        proptest::option::of(any::<u64>()),
        any::<bool>(),
        proptest::option::of(any::<u64>()),
        0..3u8,
        vec(any::<u8>(), 0..512),
    )
        .prop_map(
            |(kind, channel, route, origin, mirror, sent_at, code, payload)| {
                // An encoding and a send time only on the kinds that carry them.
                let encoding = match Encoding::carried_by(kind.kind_code()) {
                    true => Encoding::from_code(code).unwrap(),
                    false => Encoding::Bytes,
                };
                let sent_at = sent_at.filter(|_| kind.kind_code().carries_sent_at());
                Frame {
                    kind,
                    channel: ChannelName::new(&channel).unwrap(),
                    route,
                    origin,
                    mirror,
                    sent_at,
                    encoding,
                    payload: Bytes::from(payload),
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `step` at every cut of a frame followed by another: an image or chunk
    /// whose header is in and whose payload is not comes as `Large`, with the
    /// payload bytes in hand, and the rest of its payload is owed; anything
    /// else waits, asking for what it needs. Then the next frame decodes.
    #[test]
    fn step_agrees_with_decode_at_every_cut(f in any_frame(), next in any_frame()) {
        let wire = encode(&f);
        let head = LEN_PREFIX + f.header().body_prefix_len();
        let image = f.kind.kind_code().is_image();
        for cut in 0..wire.len() {
            let mut decoder = Decoder::new(MAX);
            let mut buf = BytesMut::from(&wire[..cut]);
            let step = decoder.step(&mut buf, None);
            let need = match cut {
                0..6 => Some(Need::Frame { frame_len: None }),
                _ if !image => Some(Need::Frame { frame_len: Some(wire.len()) }),
                _ if cut < head => Some(Need::Header),
                _ => None,
            };
            if let Some(need) = need {
                prop_assert_eq!(step, Ok(Decoded::NeedMore(need)), "cut {}", cut);
                prop_assert_eq!(buf.len(), cut);
                continue;
            }
            let in_hand = Frame { payload: f.payload.slice(..cut - head), ..f.clone() };
            let payload_len = f.payload.len();
            prop_assert_eq!(step, Ok(Decoded::Large { frame: in_hand, payload_len }));
            prop_assert!(buf.is_empty());
            let left = payload_len - (cut - head);
            let owed = decoder.step(&mut buf, None);
            prop_assert_eq!(owed, Ok(Decoded::NeedMore(Need::Payload { left })));
            decoder.consume_payload(left);
            prop_assert_eq!(decoder.payload_left(), None);
            let mut rest = BytesMut::from(&encode(&next)[..]);
            prop_assert_eq!(decoder.step(&mut rest, None), Ok(Decoded::Frame(next.clone())));
        }
    }

    #[test]
    fn any_frame_round_trips(f in any_frame()) {
        let wire = encode(&f);
        prop_assert_eq!(wire.len(), LEN_PREFIX + f.header().body_prefix_len() + f.payload.len());
        prop_assert_eq!(decode_chunks([&wire[..]]), Ok(vec![f]));
    }

    #[test]
    fn any_chunking_of_a_stream_decodes_the_same(
        frames in vec(any_frame(), 1..6),
        cuts in vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let wire = encode_all(&frames);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        cuts.push(0);
        cuts.push(wire.len());
        cuts.sort_unstable();
        let chunks = cuts.windows(2).map(|w| &wire[w[0]..w[1]]);
        prop_assert_eq!(decode_chunks(chunks), Ok(frames));
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in vec(any::<u8>(), 0..300)) {
        let mut decoder = Decoder::new(128);
        let mut buf = BytesMut::from(&bytes[..]);
        for _ in 0..bytes.len() + 1 {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => prop_assert!(!f.channel.is_empty()),
                Ok(None) => break,
                Err(err) => {
                    prop_assert_eq!(decoder.decode(&mut buf), Err(err));
                    break;
                }
            }
        }
    }

    #[test]
    fn any_hello_round_trips(name in "\\PC{0,63}") {
        let mut wire = Vec::new();
        Hello::new(name.clone()).encode(&mut wire).unwrap();
        prop_assert_eq!(Hello::decode(&wire), Ok(Some((Hello::new(name), wire.len()))));
    }

    #[test]
    fn outbox_reproduces_any_frames_for_any_write_size(
        frames in vec(any_frame(), 1..6),
        k in 1usize..3000,
        coalesce in 0usize..600,
    ) {
        let mut outbox = Outbox::with_coalesce(coalesce);
        for f in &frames {
            outbox.push(&f.header(), f.payload.clone()).unwrap();
        }
        prop_assert_eq!(drain(&mut outbox, k), encode_all(&frames));
    }
}
