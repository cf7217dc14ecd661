//! Typed messages: JSON against MessagePack, and typed writes against raw
//! bytes, in one run.
//!
//! * `typed_codec_pose` — a 64-byte pose (`{x, y, z, yaw, t}`: its JSON is
//!   64 bytes): `json_encode`, `json_decode`, `msgpack_encode`,
//!   `msgpack_decode`, one value per iteration (`encode` and `decode` of the
//!   crate, as a write and a read call them).
//! * `typed_codec_4KiB` — the same four on a 4 KiB message (its JSON): 52
//!   detections `{id, label, score, bbox: [4 floats]}` and a sequence number.
//! * `typed_pose_one_way` — end to end on loopback: a client writes poses
//!   with unlocked `write` (flushing and retrying when the outbox is full),
//!   a reader thread on the host drains the channel with `get_all_timeout`
//!   and reads each message. `raw_bytes` sends the pose's 64 JSON bytes as
//!   plain bytes and the reader only counts them; `json` and `msgpack`
//!   serialise each pose on the writer (`Json(&pose)`, `MsgPack(&pose)`)
//!   and decode it on the reader (`Message::decode`). One iteration is
//!   [`BATCH`] messages, timed until the reader has them all; `thrpt` is
//!   messages per second. Read the ratios `json / raw_bytes` and
//!   `msgpack / raw_bytes` from one run.
//!
//! The sizes of both values in both encodings are printed first. Every
//! wait is bounded. Run with `cargo bench --bench typed`; figures in
//! `docs/PERFORMANCE.md`.

#[path = "../tests/util/pose.rs"]
mod pose;
mod util;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use serde::{Deserialize, Serialize};
use socketengine::{Client, Encoding, Host, Json, Message, MsgPack, Outgoing, Payload};

use pose::{Pose, pose};

/// Messages in one iteration of `typed_pose_one_way`.
const BATCH: u64 = 20_000;

/// Most messages the writer may have unread by the reader (the host's queue
/// holds twice this): the host reads whether or not its reader keeps up.
const WINDOW: u64 = 1 << 16;

/// Longest any wait may take before the bench fails.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The channel of the end-to-end group.
const CHANNEL: &str = "pose";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Detection {
    id: u32,
    label: String,
    score: f32,
    bbox: [f32; 4],
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Detections {
    seq: u64,
    detections: Vec<Detection>,
}

/// Detections whose JSON is about 4 KiB.
fn detections() -> Detections {
    let labels = ["person", "forklift", "pallet", "box"];
    let detections = (0..52)
        .map(|i| Detection {
            id: i,
            label: labels[i as usize % labels.len()].to_owned(),
            score: 0.5 + i as f32 / 128.0,
            bbox: [i as f32 * 10.5, 40.25, 100.0 + i as f32, 220.75],
        })
        .collect();
    Detections {
        seq: 42,
        detections,
    }
}

/// The four codec benchmarks of `value` in `group`.
fn codec<T>(c: &mut Criterion, group: &str, value: &T)
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(1));
    for (name, encoding) in [("json", Encoding::Json), ("msgpack", Encoding::MsgPack)] {
        let bytes = socketengine::encode(encoding, value).expect("encodes");
        let back: T = socketengine::decode(encoding, &bytes, "ch").expect("decodes");
        assert_eq!(&back, value, "{name} round trip");
        group.bench_function(format!("{name}_encode"), |b| {
            b.iter(|| socketengine::encode(encoding, black_box(value)).expect("encodes"));
        });
        group.bench_function(format!("{name}_decode"), |b| {
            b.iter(|| {
                let value: T = socketengine::decode(encoding, black_box(&bytes), "ch").expect("x");
                value
            });
        });
    }
    group.finish();
}

/// Prints the sizes of `value` in both encodings.
fn print_sizes<T: Serialize>(what: &str, value: &T) {
    let size = |encoding| socketengine::encode(encoding, value).map_or(0, |b| b.len());
    println!(
        "{what}: json {} B, msgpack {} B",
        size(Encoding::Json),
        size(Encoding::MsgPack)
    );
}

fn codecs(c: &mut Criterion) {
    let (pose, detections) = (pose(0), detections());
    print_sizes("pose", &pose);
    print_sizes("detections", &detections);
    codec(c, "typed_codec_pose", &pose);
    codec(c, "typed_codec_4KiB", &detections);
}

/// How a message is sent and read in `typed_pose_one_way`.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// The pose's JSON bytes as plain bytes; the reader counts them.
    Raw,
    /// Serialised on the writer, decoded on the reader.
    Typed(Encoding),
}

/// A host with a reader thread on [`CHANNEL`] and a client writing to it.
struct Pair {
    host: Host,
    client: Client,
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    sent: u64,
}

impl Pair {
    fn start(kind: Kind) -> Pair {
        let capacity = 2 * WINDOW as usize;
        let host = Host::builder()
            .addr("127.0.0.1:0")
            .queue_capacity(capacity)
            .start()
            .expect("bench host starts");
        let client = Client::builder()
            .addr(host.local_addr().to_string())
            .queue_capacity(capacity)
            .connect()
            .expect("bench client connects");
        let (received, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let reader = {
            let (inbox, received, stop) = (host.clone(), Arc::clone(&received), Arc::clone(&stop));
            std::thread::spawn(move || read(&inbox, kind, &received, &stop))
        };
        Pair {
            host,
            client,
            received,
            stop,
            reader: Some(reader),
            sent: 0,
        }
    }

    /// Writes one payload, flushing and retrying while the outbox is full,
    /// and waits while the reader is a window behind.
    fn send(&mut self, payload: impl Outgoing) {
        let mut payload = payload.into_outgoing().expect("serialises");
        let encoding = payload.encoding();
        let deadline = Instant::now() + TIMEOUT;
        while let Err(err) = self.client.write(CHANNEL, payload) {
            assert!(err.is_full() && Instant::now() < deadline, "write: {err}");
            self.client.flush().expect("flush");
            let bytes = err
                .into_payload()
                .expect("a full write hands the payload back");
            payload = Payload::encoded(bytes, encoding);
        }
        self.sent += 1;
        if self.sent % (WINDOW / 64) == 0 {
            self.wait_for(self.sent.saturating_sub(WINDOW));
        }
    }

    /// Waits until the reader has `target` messages.
    fn wait_for(&self, target: u64) {
        let deadline = Instant::now() + TIMEOUT;
        while self.received.load(Ordering::Acquire) < target {
            assert!(Instant::now() < deadline, "the reader fell behind for good");
            std::thread::yield_now();
        }
    }

    fn shutdown(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the reader thread ends");
        }
        self.client.close();
        self.host.close();
    }
}

/// The reader thread: drains [`CHANNEL`], reads each message as `kind`
/// says, and counts them, until `stop`.
fn read(host: &Host, kind: Kind, received: &AtomicU64, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        let msgs = host.get_all_timeout(CHANNEL, Duration::from_millis(20));
        for msg in &msgs {
            check(msg, kind);
        }
        received.fetch_add(msgs.len() as u64, Ordering::Release);
    }
}

/// Reads one message as a reader of `kind` would.
fn check(msg: &Message, kind: Kind) {
    match kind {
        Kind::Raw => assert_eq!(msg.payload().len(), 64, "a raw pose"),
        Kind::Typed(encoding) => {
            assert_eq!(msg.encoding(), encoding);
            let pose: Pose = msg.decode().expect("a pose");
            black_box(pose);
        }
    }
}

fn pose_one_way(c: &mut Criterion) {
    let name = "typed_pose_one_way";
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(BATCH));
    let raw = socketengine::encode(Encoding::Json, &pose(0)).expect("encodes");
    assert_eq!(raw.len(), 64, "the pose's JSON is 64 bytes");
    let kinds = [
        ("raw_bytes", Kind::Raw),
        ("json", Kind::Typed(Encoding::Json)),
        ("msgpack", Kind::Typed(Encoding::MsgPack)),
    ];
    for (id, kind) in kinds {
        if !util::selected(&[&format!("{name}/{id}")]) {
            continue;
        }
        let mut pair = Pair::start(kind);
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let target = pair.sent + iters * BATCH;
                let start = Instant::now();
                for t in 0..iters * BATCH {
                    match kind {
                        Kind::Raw => pair.send(raw.clone()),
                        Kind::Typed(Encoding::MsgPack) => pair.send(MsgPack(&pose(t))),
                        Kind::Typed(_) => pair.send(Json(&pose(t))),
                    }
                }
                pair.client.flush().expect("flush");
                pair.wait_for(target);
                start.elapsed()
            });
        });
        pair.shutdown();
    }
    group.finish();
}

fn main() {
    let mut c = util::config().configure_from_args();
    codecs(&mut c);
    pose_one_way(&mut c);
    c.final_summary();
}
