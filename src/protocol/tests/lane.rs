//! The image lane: conflation, chunking, turns between channels, locked images,
//! and a property test that every image that comes out reassembles bit-exact.

use std::collections::HashMap;

use super::outbox::drain;
use super::*;
use crate::protocol::{ImageLane, LaneStats, Offer};

fn meta(seq: u64) -> ImageMeta {
    ImageMeta {
        width: 1,
        height: 1,
        format: 1,
        stride: 1,
        seq,
        timestamp_ns: 7,
        total_len: 0,
    }
}

fn image(seq: u64, channel: &str) -> Header<'_> {
    Header::new(Kind::Image(meta(seq)), channel)
}

/// `len` bytes that tell image `seq` apart from every other.
fn pixels(seq: u64, len: usize) -> Bytes {
    (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
}

/// A receiver's reassembly: frames decoded from the lane's output, and the
/// images they make up, as `(channel, seq, payload)` in completion order.
#[derive(Default)]
struct Reassembly {
    partial: HashMap<String, (u64, usize, Vec<u8>)>,
    done: Vec<(String, u64, Vec<u8>)>,
    frames: Vec<Frame>,
}

impl Reassembly {
    fn feed(&mut self, wire: &[u8]) {
        for f in decode_chunks([wire]).unwrap() {
            let ch = f.channel_str().to_string();
            match f.kind {
                Kind::Image(m) => {
                    assert!(
                        !self.partial.contains_key(&ch),
                        "{ch}: image {} torn",
                        m.seq
                    );
                    self.partial
                        .insert(ch.clone(), (m.seq, m.total_len as usize, Vec::new()));
                }
                Kind::ImageChunk { seq, offset } => {
                    let (s, _, got) = self.partial.get(&ch).expect("a chunk after its image");
                    assert_eq!((seq, offset as usize), (*s, got.len()), "{ch}: chunk order");
                }
                other => panic!("not an image frame: {other:?}"),
            }
            let (seq, total, got) = self.partial.get_mut(&ch).unwrap();
            got.extend_from_slice(&f.payload);
            assert!(got.len() <= *total);
            if got.len() == *total {
                let (seq, got) = (*seq, std::mem::take(got));
                self.partial.remove(&ch);
                self.done.push((ch, seq, got));
            }
            self.frames.push(f);
        }
    }

    /// Drains the lane one chunk at a time, checking that a chunk reports
    /// `started` exactly when it is its image's first.
    fn drain(&mut self, lane: &mut ImageLane) -> Vec<Option<u64>> {
        let mut finished = Vec::new();
        let mut out = Outbox::new();
        while let Some(chunk) = lane.next_chunk(&mut out) {
            assert_eq!(chunk.bytes, out.len());
            finished.push(chunk.finished);
            self.feed(&drain(&mut out, 7));
            let first = matches!(self.frames.last().map(|f| f.kind), Some(Kind::Image(_)));
            assert_eq!(chunk.started, first, "started on the first chunk only");
        }
        assert_eq!((lane.is_empty(), lane.len()), (true, 0));
        finished
    }

    fn seqs(&self) -> Vec<(&str, u64)> {
        self.done.iter().map(|(c, s, _)| (c.as_str(), *s)).collect()
    }
}

#[test]
fn a_newer_image_replaces_the_waiting_one_whole() {
    let mut lane = ImageLane::new(8);
    assert_eq!(
        lane.offer(&image(1, "cam"), pixels(1, 20), None),
        Offer::Queued
    );
    assert_eq!(
        lane.offer(&image(2, "cam"), pixels(2, 20), None),
        Offer::Replaced(pixels(1, 20))
    );
    assert_eq!(lane.len(), 20);
    let mut rx = Reassembly::default();
    assert_eq!(rx.drain(&mut lane), [None, None, None]);
    assert_eq!(rx.done, [("cam".into(), 2, pixels(2, 20).to_vec())]);
    // The first chunk is the image frame with the whole geometry; then chunks.
    let kinds: Vec<Kind> = rx.frames.iter().map(|f| f.kind).collect();
    let first = ImageMeta {
        seq: 2,
        total_len: 20,
        ..meta(2)
    };
    assert_eq!(
        kinds,
        [
            Kind::Image(first),
            Kind::ImageChunk { seq: 2, offset: 8 },
            Kind::ImageChunk { seq: 2, offset: 16 }
        ]
    );
    let stats = LaneStats {
        sent: 1,
        dropped: 1,
    };
    assert_eq!(lane.stats("cam"), Some(stats));
}

#[test]
fn an_image_that_started_is_finished_before_the_newest_waiting_one() {
    let mut lane = ImageLane::new(8);
    let mut out = Outbox::new();
    let mut rx = Reassembly::default();
    lane.offer(&image(1, "cam"), pixels(1, 20), None);
    lane.next_chunk(&mut out).unwrap();
    rx.feed(&drain(&mut out, 3));
    assert_eq!(
        lane.offer(&image(2, "cam"), pixels(2, 20), None),
        Offer::Queued
    );
    assert!(matches!(
        lane.offer(&image(3, "cam"), pixels(3, 20), None),
        Offer::Replaced(_)
    ));
    rx.drain(&mut lane);
    assert_eq!(rx.seqs(), [("cam", 1), ("cam", 3)]);
    assert_eq!(rx.done[1].2, pixels(3, 20).to_vec());
}

#[test]
fn channels_take_turns_chunk_by_chunk() {
    let mut lane = ImageLane::new(4);
    lane.offer(&image(1, "left"), pixels(1, 12), None);
    lane.offer(&image(1, "right"), pixels(2, 12), None);
    let mut rx = Reassembly::default();
    rx.drain(&mut lane);
    let order: Vec<&str> = rx.frames.iter().map(|f| f.channel_str()).collect();
    assert_eq!(order, ["left", "right", "left", "right", "left", "right"]);
    assert_eq!(rx.seqs(), [("left", 1), ("right", 1)]);
}

#[test]
fn locked_images_are_never_replaced_and_report_their_last_chunk() {
    let mut lane = ImageLane::new(8);
    assert_eq!(
        lane.offer(&image(1, "cam"), pixels(1, 10), Some(7)),
        Offer::Queued
    );
    // An unlocked image behind a locked one is the one dropped.
    assert_eq!(
        lane.offer(&image(2, "cam"), pixels(2, 10), None),
        Offer::Busy(pixels(2, 10))
    );
    // A second locked image waits (not counted as dropped).
    assert_eq!(
        lane.offer(&image(3, "cam"), pixels(3, 10), Some(8)),
        Offer::Busy(pixels(3, 10))
    );
    let mut out = Outbox::new();
    assert_eq!(lane.next_chunk(&mut out).map(|c| c.finished), Some(None));
    // Image 1 is sending: the waiting place is free for the locked image 3.
    assert_eq!(
        lane.offer(&image(3, "cam"), pixels(3, 10), Some(8)),
        Offer::Queued
    );
    let mut rx = Reassembly::default();
    rx.feed(&drain(&mut out, 5));
    assert_eq!(rx.drain(&mut lane), [Some(7), None, Some(8)]);
    assert_eq!(rx.seqs(), [("cam", 1), ("cam", 3)]);
    let stats = lane.stats("cam").unwrap();
    assert_eq!((stats.sent, stats.dropped), (2, 1));
}

#[test]
fn clearing_drops_and_counts_everything_queued() {
    let mut lane = ImageLane::new(4);
    lane.offer(&image(1, "a"), pixels(1, 10), Some(1));
    lane.offer(&image(1, "b"), pixels(1, 10), None);
    lane.next_chunk(&mut Outbox::new()).unwrap();
    lane.offer(&image(2, "a"), pixels(2, 10), None);
    assert_eq!(lane.clear(), [1]);
    assert_eq!((lane.is_empty(), lane.len()), (true, 0));
    let mut dropped: Vec<_> = lane.all_stats().map(|(c, s)| (c, s.dropped)).collect();
    dropped.sort();
    assert_eq!(dropped, [("a", 2), ("b", 1)]);
    assert!(lane.next_chunk(&mut Outbox::new()).is_none());
}

#[test]
fn empty_and_whole_images() {
    let mut lane = ImageLane::new(usize::MAX);
    lane.offer(&image(1, "cam"), Bytes::new(), None);
    lane.offer(&image(1, "big"), pixels(1, 1000), None);
    let mut rx = Reassembly::default();
    rx.drain(&mut lane);
    assert_eq!(rx.frames.len(), 2);
    assert_eq!(rx.done[0], ("cam".into(), 1, vec![]));
    assert_eq!(rx.done[1].2, pixels(1, 1000).to_vec());
}

/// One step of a sender: offer an image on channel `0..3`, or move a chunk.
#[derive(Debug, Clone)]
enum Step {
    Offer {
        channel: usize,
        len: usize,
        locked: bool,
    },
    Chunk,
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..3usize, 0..40usize, prop::bool::weighted(0.2)).prop_map(|(channel, len, locked)| {
            Step::Offer {
                channel,
                len,
                locked,
            }
        }),
        Just(Step::Chunk),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the interleaving of offers and chunks: every image received is
    /// whole and bit-exact, per channel in the order offered; locked images all
    /// arrive; every image offered is sent, dropped or handed back (`Busy`).
    #[test]
    fn every_image_arrives_whole_or_is_counted(
        chunk in 1..16usize,
        steps in vec(any_step(), 0..60),
    ) {
        let channels = ["a", "b", "c"];
        let mut lane = ImageLane::new(chunk);
        let mut rx = Reassembly::default();
        let mut out = Outbox::new();
        let (mut seq, mut busy, mut locked_sent) = (0u64, 0u64, Vec::new());
        let mut offered: HashMap<&str, Vec<u64>> = HashMap::new();
        for step in steps {
            match step {
                Step::Offer { channel, len, locked } => {
                    seq += 1;
                    let ticket = locked.then_some(seq);
                    let ch = channels[channel];
                    match lane.offer(&image(seq, ch), pixels(seq, len), ticket) {
                        Offer::Busy(p) => {
                            prop_assert_eq!(p, pixels(seq, len));
                            busy += u64::from(locked);
                        }
                        _ => {
                            offered.entry(ch).or_default().push(seq);
                            locked_sent.extend(ticket);
                        }
                    }
                }
                Step::Chunk => {
                    if let Some(c) = lane.next_chunk(&mut out) {
                        prop_assert_eq!(c.finished.is_some(), c.finished.is_some_and(|t| locked_sent.contains(&t)));
                    }
                    rx.feed(&drain(&mut out, 5));
                }
            }
        }
        rx.drain(&mut lane);
        for (ch, seq, payload) in &rx.done {
            prop_assert_eq!(payload, &pixels(*seq, payload.len()).to_vec());
            prop_assert!(offered[ch.as_str()].contains(seq));
        }
        for ch in channels {
            let got: Vec<u64> = rx.done.iter().filter(|d| d.0 == ch).map(|d| d.1).collect();
            prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "{}: {:?}", ch, got);
            let want = offered.get(ch).map_or(0, Vec::len) as u64;
            let stats = lane.stats(ch).unwrap_or_default();
            prop_assert_eq!(stats.sent, got.len() as u64);
            // Replaced images were offered (`Queued`) and then dropped.
            prop_assert!(stats.sent <= want);
        }
        let dropped: u64 = lane.all_stats().map(|(_, s)| s.dropped).sum();
        let sent: u64 = lane.all_stats().map(|(_, s)| s.sent).sum();
        let accepted: u64 = offered.values().map(|v| v.len() as u64).sum();
        // Unlocked images refused behind a locked one count as dropped but were
        // never accepted.
        let refused = seq - accepted - busy;
        prop_assert_eq!(sent + dropped, accepted + refused);
        for t in &locked_sent {
            prop_assert!(rx.done.iter().any(|d| d.1 == *t), "locked image {} lost", t);
        }
    }
}

#[test]
fn at_most_sixteen_images_are_in_progress_at_once() {
    use crate::protocol::MAX_IMAGES_IN_PROGRESS;
    let names: Vec<String> = (0..MAX_IMAGES_IN_PROGRESS + 4)
        .map(|i| format!("cam{i}"))
        .collect();
    let mut lane = ImageLane::new(4);
    for (i, name) in names.iter().enumerate() {
        lane.offer(&image(i as u64, name), pixels(i as u64, 12), None);
    }
    let mut rx = Reassembly::default();
    let mut out = Outbox::new();
    let mut most = 0;
    while lane.next_chunk(&mut out).is_some() {
        rx.feed(&drain(&mut out, 64));
        most = most.max(rx.partial.len());
    }
    assert_eq!(most, MAX_IMAGES_IN_PROGRESS);
    assert_eq!(rx.done.len(), names.len());
}

#[test]
fn a_locked_image_replaces_an_unlocked_waiting_one() {
    let mut lane = ImageLane::new(8);
    lane.offer(&image(1, "cam"), pixels(1, 10), None);
    assert_eq!(
        lane.offer(&image(2, "cam"), pixels(2, 10), Some(5)),
        Offer::Replaced(pixels(1, 10))
    );
    let mut rx = Reassembly::default();
    assert_eq!(rx.drain(&mut lane), [None, Some(5)]);
    assert_eq!(rx.seqs(), [("cam", 2)]);
}

#[test]
fn a_reader_that_reads_nothing_keeps_only_the_images_being_sent_and_the_locked_ones() {
    let mut lane = ImageLane::new(4);
    let mut out = Outbox::new();
    lane.offer(&image(1, "a"), pixels(1, 8), None);
    lane.next_chunk(&mut out).unwrap(); // image 1 on `a` has started
    lane.offer(&image(2, "a"), pixels(2, 8), None);
    lane.offer(&image(3, "b"), pixels(3, 8), Some(0));
    lane.offer(&image(4, "c"), pixels(4, 8), None);
    assert_eq!(lane.waiting_len("a"), 8);
    assert_eq!(lane.waiting_len("z"), 0);
    assert_eq!(lane.drop_waiting(), 16, "2 on `a` and 4 on `c`");
    assert_eq!(lane.len(), 4 + 8, "the rest of 1 and the locked 3");
    lane.count_dropped("c");
    let dropped = |ch| lane.stats(ch).unwrap().dropped;
    assert_eq!((dropped("a"), dropped("b"), dropped("c")), (1, 0, 2));
}
