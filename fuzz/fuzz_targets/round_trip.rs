//! Structured frames (every kind, valid and invalid channels and routes, origin,
//! mirror, payload) through the encoders and back through the decoder.
//!
//! Per frame: `Header::encode` and `Header::to_bytes` refuse exactly the invalid
//! headers, with an error naming a rule they break, and write nothing then; a
//! valid one decodes to the same frame, at a limit of exactly its body and not one
//! byte less; a copy whose length prefix ends the body inside the header fields is
//! refused naming that field; `encode` with a payload length past the `u32` prefix
//! is refused. Then all frames go through two `Outbox`es (one appended to the
//! other), with the rest of a half-written frame put back in front
//! (`push_front_raw`) and an encoded frame behind (`push_raw`), drained with
//! arbitrary write sizes and slice counts: the bytes must be the concatenated
//! encodings and decode to the same frames.
#![no_main]

use std::io::IoSlice;

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use socketengine::protocol::{DEFAULT_COALESCE, DecodeError, Decoder, Frame, LEN_PREFIX, Outbox};
use socketengine_fuzz::{AnyFrame, Built, check_truncated, decode_one_shot};

#[derive(Debug, Arbitrary)]
struct Input {
    frames: Vec<AnyFrame>,
    /// Picks the outboxes' coalescing limit.
    coalesce: u8,
    /// `IoSlice`s offered per write: 1 + this % 8.
    slots: u8,
    /// Bytes each write takes, cycled; 0 is a write that took nothing.
    writes: Vec<u16>,
    /// Frames before this index go to the first outbox, the rest to the second.
    split: u8,
    /// Where the truncated copies end.
    cut: u16,
    /// A payload length to encode a header for, without the payload.
    declared: u64,
    /// A frame partly written directly, its rest put back with `push_front_raw`.
    front: Option<AnyFrame>,
    /// How much of `front` was written.
    front_cut: u16,
    /// A frame queued already encoded, with `push_raw`.
    raw: Option<AnyFrame>,
}

/// The encoding of `any` if it is valid, its frame inserted in `expected` at
/// `at` (or last).
fn valid_wire(any: &AnyFrame, expected: &mut Vec<Frame>, at: usize) -> Option<Bytes> {
    let built = any.build();
    let wire = built.header().to_bytes(&built.payload).ok()?;
    expected.insert(at.min(expected.len()), built.frame());
    Some(wire)
}

/// Checks one frame through `Header`; returns its bytes when it is valid.
fn check_header(built: &Built, cut: usize, declared: u64) -> Option<Bytes> {
    let header = built.header();
    let violations = built.violations();
    let mut dst = vec![0xaa; 3];
    let encoded = header.encode(built.payload.len(), &mut dst);
    let wire = header.to_bytes(&built.payload);
    assert_eq!(
        encoded.err(),
        wire.as_ref().err().copied(),
        "encode and to_bytes"
    );
    match &wire {
        Err(err) => {
            assert!(violations.contains(err), "{err} for {built:?}");
            assert_eq!(header.validate(), Err(*err), "validate");
            assert_eq!(dst, [0xaa; 3], "a refused header wrote bytes");
            return None;
        }
        Ok(_) => assert_eq!(violations, [], "an invalid header was encoded"),
    }
    let wire = wire.ok()?;
    assert_eq!(header.validate(), Ok(()));
    assert_eq!(
        &dst[3..],
        &wire[..wire.len() - built.payload.len()],
        "encode"
    );
    let prefix = built.body_prefix_len();
    assert_eq!(header.body_prefix_len(), prefix, "body_prefix_len");
    let body = prefix + built.payload.len();
    assert_eq!(wire.len(), LEN_PREFIX + body, "frame size");

    let expected = built.frame();
    let decoded = decode_one_shot(&wire, body);
    assert_eq!(decoded.frames, [expected], "round trip");
    assert_eq!((decoded.end, decoded.consumed), (Ok(()), wire.len()));
    assert_eq!(decoded.frames[0].header(), header, "Frame::header");
    let too_large = DecodeError::FrameTooLarge {
        len: body as u64,
        max: body as u64 - 1,
    };
    let mut buf = bytes::BytesMut::from(&wire[..]);
    assert_eq!(Decoder::new(body - 1).decode(&mut buf), Err(too_large));

    check_truncated(&wire, built, cut);

    // A header for a payload that is not there: fine up to the u32 prefix.
    let mut head = Vec::new();
    let fits = prefix as u128 + declared as u128 <= u32::MAX as u128;
    match header.encode(declared as usize, &mut head) {
        Ok(()) => {
            assert!(fits, "encoded a body of {prefix} + {declared} bytes");
            let len = (prefix as u64 + declared) as u32;
            assert_eq!(head[..LEN_PREFIX], len.to_le_bytes(), "declared length");
            assert_eq!(head[LEN_PREFIX..], wire[LEN_PREFIX..LEN_PREFIX + prefix]);
        }
        Err(err) => {
            assert!(
                !fits,
                "refused a body of {prefix} + {declared} bytes: {err}"
            );
            assert!(
                matches!(err, DecodeError::FrameTooLarge { max, .. } if max == u32::MAX as u64),
                "{err:?}"
            );
            assert_eq!(head, [], "a refused header wrote bytes");
        }
    }
    Some(wire)
}

/// Drains `outbox` the way a socket would, taking `writes` bytes at a time from at
/// most `slots` slices; returns the bytes written.
fn drain(outbox: &mut Outbox, slots: usize, writes: &[u16]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut turn, mut idle) = (0, 0);
    // Bounded: each round takes a byte, but for at most `writes.len()` idle ones in a row.
    let bound = (outbox.len() + 1) * (writes.len() + 1);
    while !outbox.is_empty() {
        turn += 1;
        assert!(turn <= bound, "outbox never drained");
        let mut slices = [IoSlice::new(&[]); 8];
        let n = outbox.io_slices(&mut slices[..slots]);
        assert!(n >= 1, "{} bytes queued but no slice", outbox.len());
        let available: usize = slices[..n].iter().map(|s| s.len()).sum();
        assert!(
            available > 0 && available <= outbox.len(),
            "slices of {available}"
        );
        let want = match writes.get(turn % writes.len().max(1)) {
            Some(&w) if idle < writes.len() => usize::from(w),
            _ => available,
        };
        let mut take = want.min(available);
        idle = if take == 0 { idle + 1 } else { 0 };
        for slice in &slices[..n] {
            let part = take.min(slice.len());
            out.extend_from_slice(&slice[..part]);
            take -= part;
        }
        let before = outbox.len();
        let took = want.min(available);
        outbox.advance(took);
        assert_eq!(outbox.len(), before - took, "advance");
    }
    let mut none = [IoSlice::new(&[]); 1];
    assert_eq!(
        outbox.io_slices(&mut none),
        0,
        "an empty outbox lent a slice"
    );
    out
}

fuzz_target!(|input: Input| {
    let coalesce = [0, 1, 16, DEFAULT_COALESCE, usize::MAX][usize::from(input.coalesce % 5)];
    let mut first = Outbox::with_coalesce(coalesce);
    let mut second = Outbox::with_coalesce(coalesce);
    let mut expected: Vec<Frame> = Vec::new();
    let mut wires = Vec::new();
    for (i, any) in input.frames.iter().enumerate() {
        let built = any.build();
        let wire = check_header(&built, usize::from(input.cut), input.declared);
        let outbox = if i < usize::from(input.split) {
            &mut first
        } else {
            &mut second
        };
        let before = outbox.len();
        let pushed = outbox.push(&built.header(), built.payload.clone());
        match wire {
            Some(wire) => {
                assert_eq!(pushed, Ok(wire.len()), "push size");
                assert_eq!(outbox.len(), before + wire.len(), "outbox len");
                wires.extend_from_slice(&wire);
                expected.push(built.frame());
            }
            None => {
                assert!(pushed.is_err(), "push took an invalid header");
                assert_eq!(outbox.len(), before, "a refused push queued bytes");
            }
        }
    }
    first.append(&mut second);
    assert!(second.is_empty(), "append left bytes behind");
    assert_eq!(first.len(), wires.len(), "appended outbox len");

    // A frame a direct write left half-sent: its rest goes back in front.
    let mut sent = Vec::new();
    if let Some(wire) = input
        .front
        .as_ref()
        .and_then(|f| valid_wire(f, &mut expected, 0))
    {
        let cut = usize::from(input.front_cut) % (wire.len() + 1);
        sent.extend_from_slice(&wire[..cut]);
        first.push_front_raw(wire.slice(cut..));
        wires.splice(0..0, wire[cut..].iter().copied());
    }
    // A frame already encoded elsewhere goes behind.
    if let Some(wire) = input
        .raw
        .as_ref()
        .and_then(|f| valid_wire(f, &mut expected, usize::MAX))
    {
        first.push_raw(wire.clone());
        wires.extend_from_slice(&wire);
    }
    assert_eq!(first.len(), wires.len(), "outbox len with raw bytes");

    let slots = 1 + usize::from(input.slots % 8);
    let out = drain(&mut first, slots, &input.writes);
    assert_eq!(out, wires, "outbox bytes differ from the encodings");
    sent.extend_from_slice(&out);
    let decoded = decode_one_shot(&sent, usize::MAX);
    assert_eq!(decoded.frames, expected, "outbox frames differ");
    assert_eq!(decoded.end, Ok(()));
});
