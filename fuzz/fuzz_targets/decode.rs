//! Raw bytes into the frame decoder, all in one buffer.
//!
//! The first byte picks the decoder's size limit; the rest is the stream. Checks
//! (see `decode_one_shot`): no panic; a bounded loop; every frame re-encodes to
//! exactly the bytes it came from; after an error every call returns that error.
//! Then the frames and the final error must equal the reference parser's, written
//! from the wire spec, and `Decoder::step`, asked for runs on its channel, must
//! give every plain data frame the decoder gave as a run of one, at exactly its
//! payload (and its send time, if it carries one).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use socketengine::protocol::{Decoded, Decoder, Kind, LEN_PREFIX, Need, sent_at_before};
use socketengine_fuzz::{decode_one_shot, max_frame, reencode, spec_decode};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let max = max_frame(selector);
    let got = decode_one_shot(stream, max);
    assert_eq!(got, spec_decode(stream, max), "decoder and spec disagree");

    for frame in &got.frames {
        let plain = frame.route.is_none() && frame.origin.is_none() && !frame.mirror;
        if frame.kind != Kind::Data || !plain {
            continue;
        }
        let wire = reencode(frame);
        let stamp = if frame.sent_at.is_some() { 8 } else { 0 };
        let start = LEN_PREFIX + 3 + frame.channel.len() + stamp;
        let mut buf = BytesMut::from(&wire[..]);
        let run = Decoder::new(max).step(&mut buf, Some(&frame.channel));
        let Ok(Decoded::Run {
            chunk,
            spans,
            encoding,
            stamped,
        }) = run
        else {
            panic!("fast path missed {frame:?}: {run:?}");
        };
        assert_eq!(encoding, frame.encoding, "run encoding");
        let sent_at = stamped.then(|| sent_at_before(&chunk, start));
        assert_eq!(sent_at, frame.sent_at, "run send time");
        assert_eq!(spans, [(start as u32, wire.len() as u32)], "run spans");
        assert_eq!((&chunk[..], buf.len()), (&wire[..], 0), "run chunk");
        let mut short = BytesMut::from(&wire[..wire.len() - 1]);
        let step = Decoder::new(max).step(&mut short, Some(&frame.channel));
        assert!(
            matches!(step, Ok(Decoded::NeedMore(Need::Frame { .. }))),
            "fast path took a partial frame: {step:?}"
        );
    }
});
