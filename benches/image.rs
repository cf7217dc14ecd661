//! The image path on loopback, beside a raw-TCP baseline in the same run (or,
//! `image_1080p_routed`, the direct path beside the routed one).
//!
//! * `image_1080p_one_way`, `image_4K_one_way` — (`engine`, and `engine_tls`:
//!   the same over TLS 1.3) a camera client sends RGB
//!   frames (1920×1080, 3840×2160) with `write_lock` of an `Image` (back-pressure: no
//!   frame is conflated away, so every frame is counted); a reader thread on the
//!   host drains the channel with `get_all_timeout`. One iteration is one pass
//!   through [`util::load::DISTINCT_BYTES`] of distinct frames; `thrpt` is
//!   bytes per second. Baseline: a 4-byte prefix and the payload in one
//!   `writev`, a reader reading each payload into one reused buffer.
//! * `image_broadcast_1080p_4_clients` — the host sends each frame to four
//!   clients with `host.write_lock` of an `Image` (one shared buffer), each client's
//!   reader drains its channel; `thrpt` counts the bytes all four receive.
//!   Baseline: one writer `writev`s each frame to four sockets in turn, four
//!   reader threads.
//! * `image_1080p_routed` — routing images through the host against the
//!   direct path, both engine, in one run: `direct` is `image_1080p_one_way`'s
//!   engine benchmark; `routed`, a second client `viewer` on the same host, the
//!   camera sending with `camera.to("viewer").write_lock` of an `Image`, a
//!   reader on the viewer draining with `get_all_timeout`. The host forwards a
//!   routed image unlocked, so a newer frame would replace one still waiting
//!   for the viewer; the routed camera therefore keeps at most
//!   [`ROUTED_WINDOW`] frames unread by the viewer's reader, and every frame
//!   is counted. Read the ratio `routed / direct`: routing should cost one
//!   hop, not more.
//! * `control_rtt_under_1080p_load` — 64-byte ping-pong (`write_lock` to the
//!   host, an echo thread answering with `host.to(id).write_lock`, both sides waiting
//!   in `get_all_timeout`) on a client whose
//!   connection also carries a saturating stream of 1080p frames (a second
//!   thread in a loop of locked `Image` writes). `chunked`: the default image lane
//!   (256 KiB chunks, control frames first, a 1 MiB acknowledged window, half
//!   of it while the pings flow); `fifo`:
//!   `image_chunk(None)`, images queued whole in order with everything else;
//!   `raw_tcp_beside_a_raw_stream`, for scale: a raw ping-pong on its own
//!   connection beside a raw stream of the same frames. One after another (two
//!   saturating streams at once would share the two cores). `time` is one round
//!   trip; each also prints p50 / p99 / p99.9 / max over 2,000 round trips
//!   (after 300 unmeasured ones, while the stream's buffers grow), and
//!   for the engine where the time went: until the ping's `write_lock` returns,
//!   until the host stored it, until the echo thread woke, until the client
//!   stored the pong, until the caller woke (each leg from the end of the last).
//!
//! Run with `cargo bench --bench image`; filter with a group or benchmark
//! name (`-- control_rtt`): groups filtered out are not set up, and print
//! nothing.

mod util;

use std::io::{self, IoSlice};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use crossbeam_channel::Receiver;
use socketengine::{Client, Host, IMAGE_CHANNEL, Image, Message, Relay};

use util::harness::raw::{self, RawPingPong};
use util::harness::{Counter, POLL_SLEEP, RoundTrip, TIMEOUT, bounded, join_within};
use util::load::{
    Percentiles, RawStream, SAMPLES, WARM_UP, camera, client, echo, frames, host, reader,
};

/// The broadcast group's name.
const BROADCAST: &str = "image_broadcast_1080p_4_clients";

/// The control-latency group's name.
const CONTROL_RTT: &str = "control_rtt_under_1080p_load";

/// The routing group's name.
const ROUTED: &str = "image_1080p_routed";

/// Most frames the routed camera keeps unread by the viewer: two, one on each
/// hop. A third could reach the host while the second still waits there for
/// the viewer's lane, and replace it.
const ROUTED_WINDOW: u64 = 2;

/// Where a camera's frames go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// To the host (`camera.write_lock`), drained on the host.
    Direct,
    /// Through the host to a second client (`camera.to("viewer").write_lock`),
    /// drained on that client.
    Routed,
    /// As `Direct`, over TLS 1.3 (a fresh certificate).
    Tls,
}

/// A criterion benchmark group of this bench.
type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Clients of the broadcast group.
const VIEWERS: usize = 4;

/// One-way streams of `width`×`height` frames: engine, then baseline.
fn one_way(c: &mut Criterion, name: &str, width: u32, height: u32) {
    let frames = frames(width, height);
    let size = frames[0].data().len();
    let per_iter = frames.len() as u64;
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(per_iter * size as u64));
    if util::selected(&[&format!("{name}/engine")]) {
        stream(&mut group, name, "engine", &frames, Path::Direct);
    }
    if util::selected(&[&format!("{name}/engine_tls")]) {
        stream(&mut group, name, "engine_tls", &frames, Path::Tls);
    }
    raw_fan_out(&mut group, name, &frames, 1);
    group.finish();
}

/// `image_1080p_routed`: the camera's frames to the host, then through it to
/// a viewer.
fn routed(c: &mut Criterion) {
    let frames = frames(1920, 1080);
    let size = frames[0].data().len();
    let mut group = c.benchmark_group(ROUTED);
    group.throughput(Throughput::Bytes(frames.len() as u64 * size as u64));
    for (id, path) in [("direct", Path::Direct), ("routed", Path::Routed)] {
        if util::selected(&[&format!("{ROUTED}/{id}")]) {
            stream(&mut group, ROUTED, id, &frames, path);
        }
    }
    group.finish();
}

/// The engine benchmark `id` of the group `name`: a camera sends `frames` on
/// `path` with locked image writes, a reader thread drains where they arrive.
fn stream(group: &mut Group<'_>, name: &str, id: &str, frames: &[Image], path: Path) {
    let size = frames[0].data().len();
    let per_iter = frames.len() as u64;
    let tls = (path == Path::Tls).then(util::tls::settings);
    let host = match &tls {
        Some(tls) => util::tls::host(tls),
        None => host(Relay::Off),
    };
    let cam = match &tls {
        Some(tls) => util::tls::client(&host, "camera", tls),
        None => client(&host, "camera", true),
    };
    let viewer = (path == Path::Routed).then(|| client(&host, "viewer", true));
    let (counter, stop) = (
        Arc::new(Counter::default()),
        Arc::new(AtomicBool::new(false)),
    );
    let timeout = Duration::from_millis(50);
    let drain: Box<dyn Fn() -> Vec<Message> + Send> = match viewer.clone() {
        None => {
            let host = host.clone();
            Box::new(move || host.get_all_timeout(IMAGE_CHANNEL, timeout))
        }
        Some(viewer) => Box::new(move || viewer.get_all_timeout(IMAGE_CHANNEL, timeout)),
    };
    let reader = reader("engine-reader", drain, &counter, &stop);
    let what = format!("{name}/{id}");
    let diagnose = || {
        format!(
            "{:?}; {:?}",
            host.image_stats(IMAGE_CHANNEL),
            host.clients()
        )
    };
    let send = |f: &Image| match path {
        Path::Direct | Path::Tls => cam.write_lock(IMAGE_CHANNEL, f),
        Path::Routed => cam.to("viewer").write_lock(IMAGE_CHANNEL, f).map(drop),
    };
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let target = counter.messages() + iters * per_iter;
            let mut sent = counter.messages();
            let start = Instant::now();
            for _ in 0..iters {
                for f in frames {
                    if path == Path::Routed && sent >= ROUTED_WINDOW {
                        let window = counter.wait_for(sent - ROUTED_WINDOW + 1, &what, diagnose);
                        window.expect("the viewer reads within the window");
                    }
                    send(f).expect("locked image write");
                    sent += 1;
                }
            }
            let waited = counter.wait_for(target, &what, diagnose);
            waited.expect("the reader gets every frame");
            start.elapsed()
        });
    });
    assert_eq!(counter.bytes(), counter.messages() * size as u64);
    stop.store(true, Ordering::Relaxed);
    join_within(reader, "engine reader").expect("stop the reader");
    if let Some(viewer) = viewer {
        bounded("close-viewer", move || viewer.close()).expect("close the viewer");
    }
    bounded("close-camera", move || cam.close()).expect("close the camera");
    bounded("close-host", move || host.close()).expect("close the host");
}

/// `image_broadcast_1080p_4_clients`.
fn broadcast(c: &mut Criterion) {
    let name = BROADCAST;
    let frames = frames(1920, 1080);
    let size = frames[0].data().len();
    let per_iter = frames.len() as u64;
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(per_iter * (VIEWERS * size) as u64));

    let host = host(Relay::Off);
    let stop = Arc::new(AtomicBool::new(false));
    let mut viewers = Vec::new();
    for i in 0..VIEWERS {
        let viewer = client(&host, &format!("viewer{i}"), true);
        let counter = Arc::new(Counter::default());
        let v = viewer.clone();
        let drain = move || v.get_all_timeout(IMAGE_CHANNEL, Duration::from_millis(50));
        let reader = reader(&format!("viewer{i}"), drain, &counter, &stop);
        viewers.push((viewer, counter, reader));
    }
    let waited = wait_polling(|| host.clients().len() == VIEWERS);
    assert!(waited, "{name}: viewers did not connect");
    group.bench_function("engine", |b| {
        b.iter_custom(|iters| {
            let targets: Vec<u64> = viewers
                .iter()
                .map(|(_, counter, _)| counter.messages() + iters * per_iter)
                .collect();
            let start = Instant::now();
            for _ in 0..iters {
                for f in &frames {
                    let sent = host.write_lock(IMAGE_CHANNEL, f);
                    assert_eq!(sent.expect("locked image broadcast"), VIEWERS);
                }
            }
            for ((_, counter, _), target) in viewers.iter().zip(targets) {
                let waited = counter.wait_for(target, name, String::new);
                waited.expect("every viewer gets every frame");
            }
            start.elapsed()
        });
    });
    stop.store(true, Ordering::Relaxed);
    for (viewer, counter, reader) in viewers {
        assert_eq!(counter.bytes(), counter.messages() * size as u64);
        join_within(reader, "viewer reader").expect("stop a viewer's reader");
        bounded("close-viewer", move || viewer.close()).expect("close a viewer");
    }
    bounded("close-host", move || host.close()).expect("close the host");

    raw_fan_out(&mut group, name, &frames, VIEWERS);
    group.finish();
}

/// The `raw_tcp` benchmark of a group: `frames` to `n` raw sockets.
fn raw_fan_out(group: &mut Group<'_>, name: &str, frames: &[Image], n: usize) {
    let per_iter = frames.len() as u64;
    let mut raw = RawFanOut::start(n);
    group.bench_function("raw_tcp", |b| {
        b.iter_custom(|iters| {
            let target = raw.counters[0].messages() + iters * per_iter;
            let start = Instant::now();
            for _ in 0..iters {
                frames.iter().for_each(|f| raw.send(f.data()));
            }
            raw.wait_for(target, name);
            start.elapsed()
        });
    });
    raw.shutdown();
}

/// A client streaming frames with locked `Image` writes in a loop, and ping-pong
/// on the same connection through an echo thread on the host.
struct LoadedPingPong {
    host: Host,
    client: Client,
    /// When the echo thread got each ping, and when the host had stored it.
    echoed: Receiver<(Instant, Instant)>,
    /// Where each round trip's time went, for [`report_stages`].
    stages: std::cell::RefCell<Vec<[Duration; STAGES.len()]>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// The legs of a loaded round trip, as [`LoadedPingPong::round_trip`] times them.
const STAGES: [&str; 5] = [
    "ping write_lock returns",
    "ping stored by the host",
    "echo thread wakes",
    "pong stored by the client",
    "caller wakes",
];

impl LoadedPingPong {
    fn start(chunked: bool, frames: Vec<Image>) -> LoadedPingPong {
        let host = host(Relay::Off);
        let client = client(&host, "camera", chunked);
        let stop = Arc::new(AtomicBool::new(false));
        let (echo_tx, echoed) = crossbeam_channel::unbounded();
        let echo = echo(&host, &stop, move |ping| {
            let _ = echo_tx.send((Instant::now(), ping.received()));
        });
        // The host keeps only the newest frames; nobody reads them.
        let camera = camera(&host, &client, frames, &Arc::default(), &stop);
        LoadedPingPong {
            host,
            client,
            echoed,
            stages: std::cell::RefCell::default(),
            stop,
            threads: vec![echo, camera],
        }
    }

    fn round_trip(&self) -> Duration {
        let start = Instant::now();
        if let Err(e) = self
            .client
            .write_lock("ping", Bytes::from_static(&[0x5a; 64]))
        {
            let host_events: Vec<_> = self.host.events().try_iter().collect();
            let client_events: Vec<_> = self.client.events().try_iter().collect();
            panic!("send a ping: {e}; host {host_events:?}; client {client_events:?}");
        }
        let wrote = Instant::now();
        let pongs = self.client.get_all_timeout("pong", TIMEOUT);
        let pong = pongs.into_iter().last().expect("the pong arrives");
        let end = Instant::now();
        if let Ok((woke, stored)) = self.echoed.try_recv() {
            let legs = [wrote, stored, woke, pong.received(), end];
            let mut from = start;
            let stages = legs.map(|at| {
                let leg = at.saturating_duration_since(from);
                from = from.max(at);
                leg
            });
            self.stages.borrow_mut().push(stages);
        }
        end - start
    }

    /// Images the host has received whole so far.
    fn images_received(&self) -> u64 {
        self.host.image_stats(IMAGE_CHANNEL).received
    }

    /// Runs [`WARM_UP`] round trips and forgets them (the stream's buffers
    /// fill and grow meanwhile).
    fn warm_up(&self) {
        for _ in 0..WARM_UP {
            self.round_trip();
        }
        self.stages.borrow_mut().clear();
    }

    /// Prints p50 and p99 of each leg of the round trips so far, and forgets them.
    fn report_stages(&self) {
        let stages = std::mem::take(&mut *self.stages.borrow_mut());
        for (i, stage) in STAGES.iter().enumerate() {
            let mut legs: Vec<Duration> = stages.iter().map(|s| s[i]).collect();
            legs.sort_unstable();
            let (p50, p99) = (util::load::at(&legs, 0.5), util::load::at(&legs, 0.99));
            println!("    {stage:>26}: p50 {p50:>9.1?}, p99 {p99:>9.1?}");
        }
    }

    fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            join_within(t, "loaded ping-pong thread").expect("stop a thread");
        }
        let (client, host) = (self.client, self.host);
        bounded("close-camera", move || client.close()).expect("close the camera");
        bounded("close-host", move || host.close()).expect("close the host");
    }
}

/// `control_rtt_under_1080p_load`: chunked, then FIFO (one at a time: two
/// saturating streams at once would share two cores).
fn control_rtt(c: &mut Criterion) {
    let id = |name: &str| format!("{CONTROL_RTT}/{name}");
    let frames: Vec<Image> = frames(1920, 1080).into_iter().take(4).collect();
    let mut group = c.benchmark_group(CONTROL_RTT);
    for (name, chunked) in [("chunked", true), ("fifo", false)] {
        if !util::selected(&[&id(name)]) {
            continue;
        }
        let pp = LoadedPingPong::start(chunked, frames.clone());
        pp.warm_up();
        let (images, start) = (pp.images_received(), Instant::now());
        report_percentiles(name, || pp.round_trip());
        let rate = (pp.images_received() - images) as f64 / start.elapsed().as_secs_f64();
        println!("    the stream meanwhile: {rate:.0} frames/s");
        pp.report_stages();
        group.bench_function(name, |b| b.iter(|| pp.round_trip()));
        pp.shutdown();
    }
    let raw_name = "raw_tcp_beside_a_raw_stream";
    if !util::selected(&[&id(raw_name)]) {
        return;
    }
    // For scale: what the machine gives raw TCP in the same spot, a ping-pong on
    // its own connection beside a raw stream of the same frames (its threads
    // compete for the same two cores).
    let payloads: Vec<Bytes> = frames.iter().map(|f| f.data().clone()).collect();
    let stream = RawStream::start(payloads, false).expect("start the raw stream");
    let mut raw = RawPingPong::start(&[0x5a; 64]).expect("start the baseline ping-pong");
    let mut round_trip = || raw.round_trip().expect("a baseline round trip");
    (0..WARM_UP).for_each(|_| round_trip());
    report_percentiles(raw_name, || {
        let start = Instant::now();
        round_trip();
        start.elapsed()
    });
    group.bench_function(raw_name, |b| b.iter(&mut round_trip));
    stream.stop().expect("stop the raw stream");
    raw.shutdown().expect("stop the baseline ping-pong");
    group.finish();
}

/// Prints round-trip percentiles of `round_trip`.
fn report_percentiles(name: &str, round_trip: impl FnMut() -> Duration) {
    let pct = Percentiles::measure(round_trip);
    println!("{CONTROL_RTT}/{name}: {SAMPLES} round trips beside a saturating 1080p stream: {pct}");
}

/// The baseline: one writer `writev`ing each frame to `n` sockets in turn,
/// a reader thread per socket reading each payload into one reused buffer.
struct RawFanOut {
    writers: Vec<TcpStream>,
    counters: Vec<Arc<Counter>>,
    readers: Vec<JoinHandle<io::Result<()>>>,
}

impl RawFanOut {
    fn start(n: usize) -> RawFanOut {
        let (mut writers, mut counters, mut readers) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let (near, far) = raw::tcp_pair().expect("connect a baseline pair");
            let counter = Arc::new(Counter::default());
            let c = Arc::clone(&counter);
            let reader = thread::Builder::new()
                .name(format!("raw-reader{i}"))
                .spawn(move || raw::read_large(far, &c))
                .expect("spawn a baseline reader");
            writers.push(near);
            counters.push(counter);
            readers.push(reader);
        }
        RawFanOut {
            writers,
            counters,
            readers,
        }
    }

    fn send(&mut self, payload: &[u8]) {
        let head = raw::prefix(payload.len()).expect("a frame under 4 GiB");
        for w in &mut self.writers {
            let mut slices = [IoSlice::new(&head), IoSlice::new(payload)];
            raw::write_all_vectored(w, &mut slices).expect("baseline writev");
        }
    }

    fn wait_for(&self, target: u64, what: &str) {
        for c in &self.counters {
            let waited = c.wait_for(target, what, String::new);
            waited.expect("every baseline reader gets every frame");
        }
    }

    fn shutdown(self) {
        for w in &self.writers {
            let _ = w.shutdown(Shutdown::Write);
        }
        for r in self.readers {
            let read = join_within(r, "baseline reader").expect("stop a baseline reader");
            read.expect("a baseline reader reads to the end");
        }
    }
}

/// Polls `cond` until it holds (true) or [`TIMEOUT`] passes (false).
fn wait_polling(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(POLL_SLEEP);
    }
    true
}

fn main() {
    let mut c = util::config().configure_from_args();
    for (group, width, height) in [
        ("image_1080p_one_way", 1920, 1080),
        ("image_4K_one_way", 3840, 2160),
    ] {
        let ids = ["engine", "engine_tls", "raw_tcp"].map(|id| format!("{group}/{id}"));
        if util::selected(&ids.each_ref().map(String::as_str)) {
            one_way(&mut c, group, width, height);
        }
    }
    if util::selected(&[&format!("{ROUTED}/direct"), &format!("{ROUTED}/routed")]) {
        routed(&mut c);
    }
    if util::selected(&[
        &format!("{BROADCAST}/engine"),
        &format!("{BROADCAST}/raw_tcp"),
    ]) {
        broadcast(&mut c);
    }
    let rtt =
        ["chunked", "fifo", "raw_tcp_beside_a_raw_stream"].map(|n| format!("{CONTROL_RTT}/{n}"));
    if util::selected(&rtt.each_ref().map(String::as_str)) {
        control_rtt(&mut c);
    }
    c.final_summary();
}
