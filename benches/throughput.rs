//! Engine versus raw TCP on loopback, side by side in one run.
//!
//! Every group but `routed_64B_one_way` (below) holds three benchmarks:
//! `engine` (a socketengine [`Host`] and [`Client`]), `engine_tls` (the same
//! pair over TLS 1.3: rustls, ring, a fresh certificate; its cost is the ratio
//! `engine_tls / engine`) and `raw_tcp` (std sockets, a 4-byte little-endian length prefix,
//! `TCP_NODELAY`, a 256 KiB buffered writer for small messages, `writev` for large
//! ones, readers that parse in place into reused buffers). Read a group as the
//! ratio `engine / raw_tcp` of its two `thrpt:` lines (for `pingpong_64B`, of its
//! `time:` lines, where lower is better). The machine is noisy: compare ratios
//! from one run, and take the median of several runs (the targets and past
//! figures: `docs/PERFORMANCE.md`).
//!
//! * `small_64B_one_way` — one client writes 64-byte messages with unlocked
//!   `write` (flushing and retrying when the outbox is full); a reader thread on
//!   the host drains the channel with `get_all`. One iteration is
//!   [`SMALL_BATCH`] messages, timed until the reader has all of them; `thrpt` is
//!   messages per second. Baseline: the same messages through a buffered writer,
//!   a reader walking the frames in its read buffer.
//!   `engine_stamped` is `engine` with the client putting its send time in
//!   every message (`ClientBuilder::stamp_messages`): 8 bytes more per frame
//!   and a clock read per write; read `engine_stamped / engine` as the
//!   stamp's cost.
//! * `pingpong_64B` — round-trip latency of 64 bytes: a locked `write_lock` to
//!   the host, an echo thread answering with `host.to(id).write_lock`, the client waiting
//!   on a subscription. Baseline: write 4 + 64 bytes, an echo thread reads and
//!   writes them back. `time` is one round trip. With `SOCKETENGINE_BENCH_PCT=1`
//!   the group first prints p50 / p90 / p99 / p99.9 of both, interleaved.
//! * `payload_1MiB_one_way`, `frame_1080p_one_way` (6,220,800 bytes) — one
//!   client streams payloads with unlocked `write` (flush and retry on full), the
//!   host's reader drains with `get_all`. The payloads cycle through distinct
//!   buffers totalling at least [`DISTINCT_BYTES`], more than the CPU cache; one
//!   iteration is one pass through them; `thrpt` is bytes per second. Baseline:
//!   prefix and payload in one vectored write, a reader reading each payload into
//!   one reused buffer.
//! * `routed_64B_one_way` — routing through the host against the direct
//!   path, both engine, in one run: `direct` is `small_64B_one_way`'s engine
//!   benchmark (client → host, drained on the host); `routed`, a second client
//!   `b` on the same host, the writer sending with `a.to("b").write(..)`, drained
//!   on `b` with `get_all_timeout`. The same [`SMALL_BATCH`] 64-byte messages
//!   per iteration and the same window ([`ROUTED_WINDOW`], smaller than
//!   [`SMALL_WINDOW`] so that the host's outbox to `b` never holds its 16 MiB
//!   budget, where it would drop a copy). Read the ratio `routed / direct`:
//!   routing should cost one hop, not more. `routed_policy` is `routed`
//!   with a trivial route policy on the host (one comparison per message):
//!   the ratio `routed_policy / routed` is what user code on the loop costs.
//!
//! The engine's host reads its socket whether or not its reader keeps up, so
//! unlike raw TCP nothing slows the writer down when the reader falls behind;
//! the engine writer therefore keeps at most a window of messages unread
//! (512 Ki small messages, 1 GiB of payloads), and prints at the end of each
//! group how often it had to wait for the reader.
//!
//! The host, client and reader threads of a group are set up once, outside the
//! timing, and shut down (joined) at the end of the group. Every wait is bounded:
//! a lost message or a stalled thread panics with a message rather than hanging.
//!
//! Run with `cargo bench --bench throughput`; filter with a group name, e.g.
//! `cargo bench --bench throughput -- pingpong`.

mod util;

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
#[cfg(doc)]
use socketengine::{Client, Host};

use util::harness::engine::{EngineOneWay, EnginePingPong, Tls};
use util::harness::raw::{Mode, RawOneWay, RawPingPong};
use util::harness::{Counter, FRAME_1080P, OneWay, RoundTrip};

/// Payload of the small-message and ping-pong groups.
static SMALL_PAYLOAD: [u8; 64] = [0x5a; 64];

/// Messages in one iteration of `small_64B_one_way`.
const SMALL_BATCH: u64 = 100_000;

/// Most 64-byte messages the engine writer may have unread by its reader (the
/// host's queue holds twice this; see [`EngineOneWay`]).
const SMALL_WINDOW: u64 = 1 << 19;

/// Most 64-byte messages the writer of `routed_64B_one_way` may have unread:
/// with their frames (81 bytes each to `b`) well under the host's 16 MiB
/// outbox budget.
const ROUTED_WINDOW: u64 = 1 << 17;

/// Most payload bytes the engine writer of a large group may have unread.
const LARGE_WINDOW_BYTES: usize = 1 << 30;

/// Least total size of the distinct payload buffers a large group cycles through.
const DISTINCT_BYTES: usize = 64 << 20;

/// Environment variable that turns on the ping-pong percentile report.
const PCT_VAR: &str = "SOCKETENGINE_BENCH_PCT";

/// `small_64B_one_way`: 64-byte messages, one writer to a `get_all` reader.
fn small_64b_one_way(c: &mut Criterion) {
    let mut group = c.benchmark_group("small_64B_one_way");
    group.throughput(Throughput::Elements(SMALL_BATCH));
    let payload = Bytes::from_static(&SMALL_PAYLOAD);

    for (id, tls) in engines("small_64B_one_way") {
        let engine = EngineOneWay::start_tls("ch", SMALL_WINDOW, tls.as_ref())
            .expect("start the engine pair");
        bench_small(
            &mut group,
            ("small_64B_one_way", id),
            engine,
            &payload,
            SMALL_WINDOW,
        );
    }
    if util::selected(&["small_64B_one_way/engine_stamped"]) {
        let engine = EngineOneWay::stamped("ch", SMALL_WINDOW).expect("start the engine pair");
        let id = ("small_64B_one_way", "engine_stamped");
        bench_small(&mut group, id, engine, &payload, SMALL_WINDOW);
    }

    let mut raw = RawOneWay::start(Mode::Small).expect("start the baseline pair");
    group.bench_function("raw_tcp", |b| {
        b.iter_custom(|iters| {
            let target = raw.received().messages() + iters * SMALL_BATCH;
            let start = Instant::now();
            for _ in 0..iters * SMALL_BATCH {
                raw.send(&payload).expect("baseline send");
            }
            raw.flush().expect("baseline flush");
            let waited = raw.wait_for(target, "small_64B_one_way/raw_tcp");
            waited.expect("the baseline reader gets every message");
            start.elapsed()
        });
    });
    check_bytes(
        raw.received(),
        SMALL_PAYLOAD.len(),
        "small_64B_one_way/raw_tcp",
    );
    raw.shutdown().expect("stop the baseline pair");
    group.finish();
}

/// One engine benchmark of 64-byte messages, `id` in the group `name`:
/// `engine` writes [`SMALL_BATCH`] copies of `payload` per iteration, and
/// is shut down with its `window` once its reader has them all.
fn bench_small(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    (name, id): (&str, &str),
    mut engine: EngineOneWay,
    payload: &Bytes,
    window: u64,
) {
    let what = format!("{name}/{id}");
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let target = engine.received().messages() + iters * SMALL_BATCH;
            let start = Instant::now();
            for _ in 0..iters * SMALL_BATCH {
                engine.send(payload).expect("engine send");
            }
            let waited = engine.wait_for(target, &what);
            waited.expect("the engine reader gets every message");
            start.elapsed()
        });
    });
    check_bytes(engine.received(), SMALL_PAYLOAD.len(), &what);
    shutdown_engine(engine, window);
}

/// `routed_64B_one_way`: 64-byte messages to the host, then through it to a
/// second client.
fn routed_64b_one_way(c: &mut Criterion) {
    let name = "routed_64B_one_way";
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(SMALL_BATCH));
    let payload = Bytes::from_static(&SMALL_PAYLOAD);
    type Start = fn(&'static str, u64) -> std::io::Result<EngineOneWay>;
    let paths: [(&str, Start); 3] = [
        ("direct", EngineOneWay::start),
        ("routed", EngineOneWay::routed),
        ("routed_policy", EngineOneWay::routed_policy),
    ];
    for (id, start) in paths {
        if !util::selected(&[&format!("{name}/{id}")]) {
            continue;
        }
        let engine = start("ch", ROUTED_WINDOW).expect("start the engine pair");
        bench_small(&mut group, (name, id), engine, &payload, ROUTED_WINDOW);
    }
    group.finish();
}

/// `pingpong_64B`: 64-byte round trips through an echo thread.
fn pingpong_64b(c: &mut Criterion) {
    let payload = Bytes::from_static(&SMALL_PAYLOAD);
    let mut engine = EnginePingPong::start(payload.clone()).expect("start the engine pair");
    let mut raw = RawPingPong::start(&SMALL_PAYLOAD).expect("start the baseline pair");
    if std::env::var(PCT_VAR).is_ok_and(|v| v == "1") {
        report_percentiles(&mut engine, &mut raw);
    }
    let mut group = c.benchmark_group("pingpong_64B");
    group.throughput(Throughput::Elements(1));
    group.bench_function("engine", |b| b.iter(|| round_trip(&mut engine)));
    engine.shutdown().expect("stop the engine pair");
    if util::selected(&["pingpong_64B/engine_tls"]) {
        let tls = util::tls::settings();
        let mut engine =
            EnginePingPong::start_tls(payload, Some(&tls)).expect("start the TLS engine pair");
        group.bench_function("engine_tls", |b| b.iter(|| round_trip(&mut engine)));
        engine.shutdown().expect("stop the TLS engine pair");
    }
    group.bench_function("raw_tcp", |b| b.iter(|| round_trip(&mut raw)));
    group.finish();
    raw.shutdown().expect("stop the baseline pair");
}

/// Prints round-trip percentiles of both, measured in interleaved blocks so that
/// both see the same noise.
fn report_percentiles(engine: &mut EnginePingPong, raw: &mut RawPingPong) {
    const WARM_UP: usize = 2_000;
    const BLOCK: usize = 2_000;
    const BLOCKS: usize = 10;
    let (mut e, mut r) = (Vec::new(), Vec::new());
    for _ in 0..WARM_UP {
        round_trip(engine);
        round_trip(raw);
    }
    for _ in 0..BLOCKS {
        e.extend((0..BLOCK).map(|_| timed(|| round_trip(engine))));
        r.extend((0..BLOCK).map(|_| timed(|| round_trip(raw))));
    }
    let (e, r) = (percentiles(&mut e), percentiles(&mut r));
    println!(
        "pingpong_64B percentiles over {} round trips each:",
        BLOCK * BLOCKS
    );
    for (i, name) in ["p50", "p90", "p99", "p99.9"].iter().enumerate() {
        let ratio = e[i].as_secs_f64() / r[i].as_secs_f64();
        println!(
            "  {name:>5}: engine {:>9.1?}  raw_tcp {:>9.1?}  ratio {ratio:.2}",
            e[i], r[i]
        );
    }
}

/// One round trip of `pp`, which must succeed.
fn round_trip(pp: &mut impl RoundTrip) {
    pp.round_trip().expect("a round trip");
}

/// How long `f` takes.
fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// p50, p90, p99 and p99.9 of `samples` (sorted in place; not empty).
fn percentiles(samples: &mut [Duration]) -> [Duration; 4] {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    [at(0.50), at(0.90), at(0.99), at(0.999)]
}

/// `payload_1MiB_one_way`: a stream of 1 MiB payloads.
fn payload_1mib_one_way(c: &mut Criterion) {
    large_one_way(c, "payload_1MiB_one_way", 1 << 20);
}

/// `frame_1080p_one_way`: a stream of 1080p RGB frames.
fn frame_1080p_one_way(c: &mut Criterion) {
    large_one_way(c, "frame_1080p_one_way", FRAME_1080P);
}

/// The group `name`, streaming `size`-byte payloads: engine, then baseline.
fn large_one_way(c: &mut Criterion, name: &str, size: usize) {
    let payloads = util::harness::payload_set(size, DISTINCT_BYTES);
    let per_iter = payloads.len() as u64;
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(per_iter * size as u64));

    let window = (LARGE_WINDOW_BYTES / size).max(8) as u64;
    for (id, tls) in engines(name) {
        let what = format!("{name}/{id}");
        let mut engine =
            EngineOneWay::start_tls("img", window, tls.as_ref()).expect("start the engine pair");
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let target = engine.received().messages() + iters * per_iter;
                let start = Instant::now();
                for _ in 0..iters {
                    for p in &payloads {
                        engine.send(p).expect("engine send");
                    }
                }
                let waited = engine.wait_for(target, &what);
                waited.expect("the engine reader gets every payload");
                start.elapsed()
            });
        });
        check_bytes(engine.received(), size, &what);
        shutdown_engine(engine, window);
    }

    let mut raw = RawOneWay::start(Mode::Large).expect("start the baseline pair");
    group.bench_function("raw_tcp", |b| {
        b.iter_custom(|iters| {
            let target = raw.received().messages() + iters * per_iter;
            let start = Instant::now();
            for _ in 0..iters {
                for p in &payloads {
                    raw.send(p).expect("baseline send");
                }
            }
            let waited = raw.wait_for(target, &format!("{name}/raw_tcp"));
            waited.expect("the baseline reader gets every payload");
            start.elapsed()
        });
    });
    check_bytes(raw.received(), size, &format!("{name}/raw_tcp"));
    raw.shutdown().expect("stop the baseline pair");
    group.finish();
}

/// The engine benchmarks of `group` the command line selects: `engine`
/// (plain TCP) and `engine_tls` (the same over TLS 1.3, with a fresh
/// certificate), each with its TLS settings.
fn engines(group: &str) -> Vec<(&'static str, Option<Tls>)> {
    let mut pairs = Vec::new();
    if util::selected(&[&format!("{group}/engine")]) {
        pairs.push(("engine", None));
    }
    if util::selected(&[&format!("{group}/engine_tls")]) {
        pairs.push(("engine_tls", Some(util::tls::settings())));
    }
    pairs
}

/// Stops the engine pair and prints how often its writer waited for its reader
/// (`window`, as it was started with).
fn shutdown_engine(engine: EngineOneWay, window: u64) {
    let stalls = engine.shutdown().expect("stop the engine pair");
    println!("engine writer waited for its reader {stalls} times (window {window} messages)");
}

/// Asserts that every message received had `size` bytes.
fn check_bytes(counter: &Counter, size: usize, what: &str) {
    let (messages, bytes) = (counter.messages(), counter.bytes());
    assert_eq!(
        bytes,
        messages * size as u64,
        "{what}: payload bytes received"
    );
}

/// The benchmarks of a group of engine against baseline.
const ENGINE_RAW: &[&str] = &["engine", "engine_tls", "raw_tcp"];

fn main() {
    let mut c = util::config().configure_from_args();
    type Group = fn(&mut Criterion);
    let groups: [(&str, &[&str], Group); 5] = [
        (
            "small_64B_one_way",
            &["engine", "engine_tls", "engine_stamped", "raw_tcp"],
            small_64b_one_way,
        ),
        (
            "routed_64B_one_way",
            &["direct", "routed", "routed_policy"],
            routed_64b_one_way,
        ),
        ("pingpong_64B", ENGINE_RAW, pingpong_64b),
        ("payload_1MiB_one_way", ENGINE_RAW, payload_1mib_one_way),
        ("frame_1080p_one_way", ENGINE_RAW, frame_1080p_one_way),
    ];
    for (group, benches, run) in groups {
        let ids: Vec<String> = benches.iter().map(|b| format!("{group}/{b}")).collect();
        if util::selected(&ids.iter().map(String::as_str).collect::<Vec<_>>()) {
            run(&mut c);
        }
    }
    c.final_summary();
}
