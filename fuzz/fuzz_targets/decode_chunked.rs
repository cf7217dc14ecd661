//! The decoder fed one stream in arbitrary chunks must give exactly what it gives
//! for the whole stream at once; `Decoder::step`, asked before each call for a
//! run on a likely channel, must agree with `decode`; and `step`, asked whenever
//! a frame is unfinished, must split an image header as the frame `decode`
//! gives once it is whole.
//!
//! Input: a byte picking the size limit, a byte `k`, then `k % 16` chunk sizes
//! (cycled; 0 is a read that brought nothing; none, or all zero, means one byte at
//! a time), then the stream.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use socketengine::protocol::{
    ChannelName, Decoded, Decoder, Encoding, Frame, Kind, LEN_PREFIX, sent_at_before,
};
use socketengine_fuzz::{Outcome, decode_one_shot, max_frame};

/// What a run promised: the channel, its first payload, the encoding, the
/// send time and that frame's end.
type Promise = (ChannelName, Vec<u8>, Encoding, Option<u64>, usize);

/// Asks `step` (on copies of the decoder and the buffer) for a run on the
/// channels it is likely to match: the name the bytes carry, the previous
/// frame's, and a fixed one.
fn fast_path(decoder: &Decoder, buf: &BytesMut, last: Option<&Frame>) -> Option<Promise> {
    let mut candidates = Vec::new();
    if let Some(&n) = buf.get(LEN_PREFIX + 2) {
        let name = buf.get(LEN_PREFIX + 3..LEN_PREFIX + 3 + usize::from(n));
        if let Some(name) = name.and_then(|b| std::str::from_utf8(b).ok()) {
            candidates.extend(ChannelName::new(name).ok());
        }
    }
    candidates.extend(last.map(|f| f.channel.clone()));
    candidates.extend(ChannelName::new("a").ok());
    let mut promise: Option<Promise> = None;
    for channel in candidates {
        let (mut decoder, mut rest) = (decoder.clone(), buf.clone());
        let Ok(Decoded::Run {
            chunk,
            spans,
            encoding,
            stamped,
        }) = decoder.step(&mut rest, Some(&channel))
        else {
            continue;
        };
        let (start, end) = (spans[0].0 as usize, spans[0].1 as usize);
        let stamp = if stamped { 8 } else { 0 };
        assert_eq!(
            start,
            LEN_PREFIX + 3 + channel.len() + stamp,
            "payload start"
        );
        assert!(
            start <= end && end <= chunk.len(),
            "{start}..{end} of {}",
            chunk.len()
        );
        let last_end = spans.last().map(|s| s.1 as usize);
        assert_eq!(
            last_end,
            Some(chunk.len()),
            "a run ends with its last frame"
        );
        assert_eq!(
            chunk.len() + rest.len(),
            buf.len(),
            "a run is split off the front"
        );
        let sent_at = stamped.then(|| sent_at_before(&chunk, start));
        let found = (channel, chunk[start..end].to_vec(), encoding, sent_at, end);
        if let Some(earlier) = &promise {
            assert_eq!(*earlier, found, "two channels matched one frame");
        }
        promise = Some(found);
    }
    promise
}

/// `step` on the unfinished frame (on copies of the decoder and the buffer)
/// splits an image header as `decode` gives it once the frame is whole, with
/// the payload's length and the payload bytes already in; or gives `decode`'s
/// error; or waits.
fn split_agrees(decoder: &Decoder, buf: &BytesMut, index: usize, whole: &Outcome) {
    let (mut decoder, mut buf) = (decoder.clone(), buf.clone());
    match decoder.step(&mut buf, None) {
        Ok(Decoded::NeedMore(_)) => {}
        Ok(Decoded::Large { frame, payload_len }) => {
            assert!(
                frame.kind.kind_code().is_image(),
                "a split {:?}",
                frame.kind
            );
            assert!(buf.is_empty(), "payload bytes left behind a split header");
            // The one-shot decode has this frame unless the stream ends inside it.
            if let Some(want) = whole.frames.get(index) {
                let in_hand = frame.payload.len();
                let bare = Frame {
                    payload: want.payload.slice(..in_hand),
                    ..want.clone()
                };
                assert_eq!(frame, bare, "split header differs from the frame's");
                assert_eq!(payload_len, want.payload.len(), "split payload length");
            } else {
                assert!(whole.end.is_ok() && index == whole.frames.len());
            }
        }
        Ok(other) => panic!("a step past an unfinished frame: {other:?}"),
        Err(err) => {
            // The frame's error, seen before its body is whole; the one-shot
            // decode reports it too, unless the stream ends inside that body.
            assert_eq!(index, whole.frames.len(), "split error on a good frame");
            assert!(
                whole.end == Err(err) || whole.end.is_ok(),
                "split error {err:?} vs {:?}",
                whole.end
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, k, rest @ ..] = data else {
        return;
    };
    let k = usize::from(k % 16).min(rest.len());
    let (sizes, stream) = rest.split_at(k);
    let max = max_frame(*selector);
    let whole = decode_one_shot(stream, max);

    let bytewise = sizes.iter().all(|&s| s == 0);
    let mut decoder = Decoder::new(max);
    let mut buf = BytesMut::new();
    let mut frames: Vec<Frame> = Vec::new();
    let (mut fed, mut chunk) = (0, 0);
    let end = 'feed: loop {
        let size = match bytewise {
            true => 1,
            false => usize::from(sizes[chunk % sizes.len()]),
        };
        chunk += 1;
        let take = size.min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + take]);
        fed += take;
        // Bounded: every frame consumes at least eight bytes.
        loop {
            let promise = fast_path(&decoder, &buf, frames.last());
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    if let Some((channel, payload, encoding, sent_at, end)) = promise {
                        assert_eq!(frame.kind, Kind::Data, "fast path on another kind");
                        assert_eq!(frame.channel, channel, "fast path channel");
                        assert_eq!(frame.payload[..], payload[..], "fast path payload");
                        assert_eq!(frame.encoding, encoding, "fast path encoding");
                        assert_eq!(
                            (frame.route.is_none(), frame.origin.is_none()),
                            (true, true)
                        );
                        assert!(!frame.mirror, "fast path on a mirrored frame");
                        assert_eq!(frame.sent_at, sent_at, "fast path send time");
                        assert_eq!(before - buf.len(), end, "fast path frame end");
                    }
                    frames.push(frame);
                }
                Ok(None) => {
                    assert_eq!(promise, None, "fast path promised a frame decode lacks");
                    split_agrees(&decoder, &buf, frames.len(), &whole);
                    break;
                }
                Err(err) => {
                    assert_eq!(promise, None, "fast path promised a bad frame");
                    break 'feed Err(err);
                }
            }
        }
        if fed == stream.len() {
            break Ok(());
        }
    };

    assert_eq!(frames, whole.frames, "chunked frames differ");
    assert_eq!(end, whole.end, "chunked end differs");
    // The bytes held are the unfinished (or bad) frame's, as far as they were fed.
    assert_eq!(
        &buf[..],
        &stream[whole.consumed..fed],
        "chunked leftovers differ"
    );
    if end.is_ok() {
        assert_eq!(fed, stream.len());
        assert_eq!(
            decoder.frame_len(),
            whole.frame_len,
            "chunked frame_len differs"
        );
    }
});
