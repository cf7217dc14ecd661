//! `Decoder::step`, the receive path's one step: a table of streams with the
//! steps they give whole, then every way to cut each of them into reads.
//!
//! The test's receiver does what the engine does: it passes the channel it
//! stored to last, reads a `Large` payload "into its own buffer" (straight from
//! the stream, never through the decoder's buffer) and reassembles everything
//! into frames, which must be the stream's frames.

use super::*;
use crate::protocol::{Decoded, KindCode, Need, sent_at_before};

/// A step, in short, for the table.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A whole frame of this kind code.
    Frame(u8),
    /// A run of this many frames.
    Run(usize),
    /// A `Large` with this many payload bytes in hand, of this payload length.
    Large(usize, usize),
    /// `NeedMore`.
    Need(Need),
}

fn short(decoded: &Decoded) -> Step {
    match decoded {
        Decoded::Frame(f) => Step::Frame(f.kind.code()),
        Decoded::Run { spans, .. } => Step::Run(spans.len()),
        Decoded::Large { frame, payload_len } => Step::Large(frame.payload.len(), *payload_len),
        Decoded::NeedMore(need) => Step::Need(*need),
    }
}

fn image(total: u64) -> Kind {
    Kind::Image(ImageMeta {
        width: total as u32,
        height: 1,
        format: 1,
        stride: total as u32,
        seq: 3,
        timestamp_ns: 0,
        total_len: total,
    })
}

fn data(channel: &str, payload: &[u8]) -> Frame {
    frame(Kind::Data, channel, None, payload)
}

fn typed(encoding: Encoding, payload: &[u8]) -> Frame {
    Frame {
        encoding,
        ..data("pose", payload)
    }
}

/// Streams and the steps they give from one buffer holding them whole, for a
/// receiver whose last stored channel starts as `current`.
#[allow(clippy::type_complexity)]
fn table() -> Vec<(&'static str, Option<&'static str>, Vec<Frame>, Vec<Step>)> {
    let end = Step::Need(Need::Frame { frame_len: None });
    let d = KindCode::Data.code();
    let mut routed = data("pose", b"r");
    routed.route = Some(Route::All);
    let mut relayed = data("pose", b"o");
    relayed.origin = Some(9);
    let mut stamped = data("pose", b"t");
    stamped.sent_at = Some(1_700_000_000_000_000_000);
    vec![
        ("nothing", None, vec![], vec![end.clone()]),
        (
            "frames on the current channel are one run",
            Some("pose"),
            vec![data("pose", b"a"), data("pose", b""), data("pose", b"c")],
            vec![Step::Run(3), end.clone()],
        ),
        (
            "a new channel's first frame is whole, the rest a run",
            None,
            vec![data("pose", b"a"), data("pose", b"b"), data("pose", b"c")],
            vec![Step::Frame(d), Step::Run(2), end.clone()],
        ),
        (
            "another channel ends the run",
            Some("pose"),
            vec![data("pose", b"a"), data("twist", b"b"), data("twist", b"c")],
            vec![Step::Run(1), Step::Frame(d), Step::Run(1), end.clone()],
        ),
        (
            "routing fields end the run",
            Some("pose"),
            vec![data("pose", b"a"), routed, relayed, data("pose", b"b")],
            vec![
                Step::Run(1),
                Step::Frame(d),
                Step::Frame(d),
                Step::Run(1),
                end.clone(),
            ],
        ),
        (
            "stamped frames make runs of their own",
            Some("pose"),
            vec![
                data("pose", b"a"),
                stamped.clone(),
                stamped,
                data("pose", b"b"),
            ],
            vec![Step::Run(1), Step::Run(2), Step::Run(1), end.clone()],
        ),
        (
            "a run is of one encoding: another ends it",
            Some("pose"),
            vec![
                typed(Encoding::Json, b"1"),
                typed(Encoding::Json, b"2"),
                data("pose", b"3"),
                typed(Encoding::MsgPack, b"\x04"),
                typed(Encoding::Json, b"5"),
            ],
            vec![
                Step::Run(2),
                Step::Run(1),
                Step::Run(1),
                Step::Run(1),
                end.clone(),
            ],
        ),
        (
            "a whole image is a frame, and other kinds too",
            Some("pose"),
            vec![
                frame(image(4), "cam", None, b"pixl"),
                frame(Kind::Ping { sent_ns: 1 }, "pose", None, b""),
                data("pose", b"a"),
            ],
            vec![
                Step::Frame(KindCode::Image.code()),
                Step::Frame(KindCode::Ping.code()),
                Step::Run(1),
                end,
            ],
        ),
    ]
}

#[test]
fn whole_streams_step_as_the_table_says() {
    for (name, current, frames, want) in table() {
        let mut buf = BytesMut::from(&encode_all(&frames)[..]);
        let mut decoder = Decoder::new(MAX);
        let mut current = current.map(|c| ChannelName::new(c).unwrap());
        let mut got = Vec::new();
        loop {
            let decoded = decoder.step(&mut buf, current.as_ref()).unwrap();
            got.push(short(&decoded));
            match decoded {
                Decoded::Frame(f) if f.kind == Kind::Data => current = Some(f.channel),
                Decoded::NeedMore(_) => break,
                _ => {}
            }
        }
        assert_eq!(got, want, "{name}");
    }
}

/// What a receiver made of a stream: the frames, and the steps on the way.
struct Received {
    frames: Vec<Frame>,
    steps: Vec<Step>,
    /// Payload bytes read straight into a `Large` frame's own buffer.
    read_aside: usize,
}

/// Receives `wire` the engine's way, each read taking the bytes up to the next
/// of `cuts` (or fewer: a payload read stops at the payload's end).
fn receive(wire: &[u8], cuts: &[usize], current: Option<&str>) -> Received {
    let mut decoder = Decoder::new(MAX);
    let mut current = current.map(|c| ChannelName::new(c).unwrap());
    let (mut buf, mut fed) = (BytesMut::new(), 0);
    let mut large: Option<(Frame, Vec<u8>, usize)> = None;
    let mut got = Received {
        frames: Vec::new(),
        steps: Vec::new(),
        read_aside: 0,
    };
    // The next read ends at the first cut past what was fed, or the end.
    let next_cut = |fed: usize| {
        cuts.iter()
            .copied()
            .find(|&c| c > fed)
            .unwrap_or(wire.len())
    };
    // Bounded: every step consumes bytes, or is followed by a read that brings some.
    for _ in 0..4 * wire.len() + 8 {
        let decoded = decoder.step(&mut buf, current.as_ref()).unwrap();
        got.steps.push(short(&decoded));
        match decoded {
            Decoded::Frame(f) => {
                if f.kind == Kind::Data {
                    current = Some(f.channel.clone());
                }
                got.frames.push(f);
            }
            Decoded::Run {
                chunk,
                spans,
                encoding,
                stamped,
            } => {
                let channel = current.as_ref().expect("runs are on the current channel");
                for (start, end) in spans {
                    let payload = &chunk[start as usize..end as usize];
                    let data = frame(Kind::Data, channel, None, payload);
                    let sent_at = stamped.then(|| sent_at_before(&chunk, start as usize));
                    got.frames.push(Frame {
                        encoding,
                        sent_at,
                        ..data
                    });
                }
            }
            Decoded::Large { frame, payload_len } => {
                assert!(frame.kind.kind_code().is_image(), "{frame:?}");
                assert!(frame.payload.len() < payload_len, "a whole payload split");
                large = Some((frame.clone(), frame.payload.to_vec(), payload_len));
            }
            Decoded::NeedMore(Need::Payload { left }) => {
                let (f, payload, len) = large.as_mut().expect("a Large came first");
                assert_eq!(left, *len - payload.len());
                assert!(buf.is_empty(), "payload bytes left in the decoder's buffer");
                let take = (next_cut(fed) - fed).min(left);
                payload.extend_from_slice(&wire[fed..fed + take]);
                (fed, got.read_aside) = (fed + take, got.read_aside + take);
                decoder.consume_payload(take);
                if payload.len() == *len {
                    f.payload = Bytes::from(std::mem::take(payload));
                    got.frames.push(f.clone());
                    large = None;
                }
            }
            Decoded::NeedMore(_) if fed == wire.len() => return got,
            Decoded::NeedMore(_) => {
                let to = next_cut(fed);
                buf.extend_from_slice(&wire[fed..to]);
                fed = to;
            }
        }
    }
    panic!("receiving {} bytes did not end", wire.len());
}

/// The table's streams, plus images whose payloads come in several chunks.
fn streams() -> Vec<(&'static str, Option<&'static str>, Vec<Frame>)> {
    let mut all: Vec<_> = table().into_iter().map(|(n, c, f, _)| (n, c, f)).collect();
    let chunk = |offset, payload: &[u8]| {
        let kind = Kind::ImageChunk { seq: 3, offset };
        frame(kind, "cam", None, payload)
    };
    all.push((
        "a chunked image between data frames",
        Some("pose"),
        vec![
            data("pose", b"a"),
            frame(image(10), "cam", None, b"0123"),
            data("pose", b"b"),
            chunk(4, b"456"),
            chunk(7, b"789"),
            data("pose", b"c"),
        ],
    ));
    all
}

#[test]
fn every_cut_into_two_and_three_reads_gives_the_frames() {
    for (name, current, frames) in streams() {
        let wire = encode_all(&frames);
        for a in 0..=wire.len() {
            for b in a..=wire.len() {
                let got = receive(&wire, &[a, b], current);
                assert_eq!(got.frames, frames, "{name}: cut at {a} and {b}");
            }
        }
    }
}

#[test]
fn one_byte_at_a_time_splits_every_image_frame_and_reads_its_payload_aside() {
    for (name, current, frames) in streams() {
        let wire = encode_all(&frames);
        let cuts: Vec<usize> = (1..wire.len()).collect();
        let got = receive(&wire, &cuts, current);
        assert_eq!(got.frames, frames, "{name}");
        let images = frames.iter().filter(|f| f.kind.kind_code().is_image());
        let larges = got.steps.iter().filter(|s| matches!(s, Step::Large(..)));
        assert_eq!(larges.count(), images.clone().count(), "{name}");
        // Each image frame's whole payload but for nothing in hand is read aside.
        let aside: usize = images.map(|f| f.payload.len()).sum();
        assert_eq!(got.read_aside, aside, "{name}");
    }
}

#[test]
fn an_image_header_in_part_asks_for_the_header_then_splits() {
    let f = frame(image(10), "cam", None, b"0123456789");
    let wire = encode(&f);
    let head = wire.len() - 10;
    let none = Step::Need(Need::Frame { frame_len: None });
    let table: [(&[usize], Vec<Step>); 3] = [
        // A read ends inside the header: a small read for the rest of it, then
        // the split hands out the payload bytes that came with it.
        (
            &[head - 1, head + 2],
            vec![
                none.clone(),
                Step::Need(Need::Header),
                Step::Large(2, 10),
                Step::Need(Need::Payload { left: 8 }),
                none.clone(),
            ],
        ),
        // A read ends right after the header: nothing in hand.
        (
            &[head],
            vec![
                none.clone(),
                Step::Large(0, 10),
                Step::Need(Need::Payload { left: 10 }),
                none.clone(),
            ],
        ),
        // The payload itself comes in two reads.
        (
            &[head + 4, head + 7],
            vec![
                none.clone(),
                Step::Large(4, 10),
                Step::Need(Need::Payload { left: 6 }),
                Step::Need(Need::Payload { left: 3 }),
                none,
            ],
        ),
    ];
    for (cuts, want) in table {
        let got = receive(&wire, cuts, None);
        assert_eq!(got.steps, want, "cuts {cuts:?}");
        assert_eq!(got.frames, std::slice::from_ref(&f), "cuts {cuts:?}");
    }
}

#[test]
fn a_plain_frame_in_part_asks_for_its_whole_length_and_comes_whole() {
    let wire = encode(&data("pose", &[1; 100]));
    let none = Step::Need(Need::Frame { frame_len: None });
    let known = Step::Need(Need::Frame {
        frame_len: Some(wire.len()),
    });
    // Once a frame's head is checked it is decoded alone, not as a run.
    let want = [none.clone(), none.clone(), known, Step::Frame(1), none];
    assert_eq!(receive(&wire, &[3, 20], Some("pose")).steps, want);
}
