//! Raw bytes into the frame decoder, all in one buffer.
//!
//! The first byte picks the decoder's size limit; the rest is the stream. Checks
//! (see `decode_one_shot`): no panic; a bounded loop; every frame re-encodes to
//! exactly the bytes it came from; after an error every call returns that error.
//! Then the frames and the final error must equal the reference parser's, written
//! from the wire spec, and `Decoder::plain_data` must accept every plain data
//! frame the decoder gave, at exactly its payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use socketengine::protocol::{Decoder, Kind, LEN_PREFIX};
use socketengine_fuzz::{decode_one_shot, max_frame, reencode, spec_decode};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let max = max_frame(selector);
    let got = decode_one_shot(stream, max);
    assert_eq!(got, spec_decode(stream, max), "decoder and spec disagree");

    let decoder = Decoder::new(max);
    for frame in &got.frames {
        let plain = frame.route.is_none() && frame.origin.is_none() && !frame.mirror;
        if frame.kind != Kind::Data || !plain {
            continue;
        }
        let wire = reencode(frame);
        let start = LEN_PREFIX + 3 + frame.channel.len();
        let fast = decoder.plain_data(&wire, &frame.channel);
        assert_eq!(
            fast,
            Some((start, wire.len())),
            "fast path missed {frame:?}"
        );
        let short = decoder.plain_data(&wire[..wire.len() - 1], &frame.channel);
        assert_eq!(short, None, "fast path took a partial frame");
    }
});
