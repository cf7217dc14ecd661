//! The hub under load: a control round trip beside a `**` subscriber that
//! takes a 1080p stream through a relaying host, with a raw-TCP baseline in the
//! same run.
//!
//! * `control_rtt_beside_a_wildcard_subscriber` — a host relaying as
//!   `socketengine host` does ([`Relay::Others`]) and three clients: `camera`
//!   streams 1080p RGB `Image`s to it flat out with locked writes; `viewer`
//!   declared interest `["**"]` and a reader thread drains every frame relayed
//!   to it (`get_all_timeout`); `pinger` declared interest `["pong"]`, so it
//!   takes no frames, and does a 64-byte ping-pong with the host (`write_lock`
//!   of `ping`, an echo thread on the host answering with
//!   `host.to(id).write_lock` on `pong`, both sides waiting in
//!   `get_all_timeout`). Three arrangements, one after another:
//!   `no_stream` (the same clients, the camera idle), `streaming_to_wildcard`
//!   (the camera streaming, the host relaying to the viewer) and, for scale,
//!   `raw_tcp_beside_a_raw_relay`: a raw ping-pong on its own connection
//!   beside a raw stream of the same frames that a raw thread relays, bytes
//!   as they come, to a raw reader. `time` is one round trip; each also
//!   prints p50 / p99 / p99.9 / max over 2,000 round trips (after 300
//!   unmeasured ones), and at the end the ratios streaming / raw and
//!   streaming / no_stream. For the stream it prints the frames the camera
//!   sent, the host received and the viewer took, the frames the host
//!   conflated away for the viewer, and the process's resident memory
//!   (`VmRSS`) before the stream, after the warm-up and at the end (host and
//!   clients share the process): it must stay bounded.
//!
//! The camera's writes are locked: an unlocked image write never waits, so a
//! camera looping on it would spin, replacing its own unsent frame, a third
//! CPU-bound thread on two cores. Locked, it streams as fast as the host
//! takes frames, and the conflation this bench is about happens on the host:
//! it relays unlocked, so a frame still waiting for the viewer is replaced by
//! a newer one (and counted in the viewer's `ClientInfo::images_dropped`).
//! The host's own copy of each frame goes to its bounded image queue, which
//! nobody reads (it drops the oldest).
//!
//! Run with `cargo bench --bench hub`; filter with a benchmark name
//! (`-- raw_tcp`): arrangements filtered out are not set up, and the ratios
//! they enter are not printed.

mod util;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use socketengine::{Client, Host, IMAGE_CHANNEL, Image, Relay};

use util::harness::raw::RawPingPong;
use util::harness::{Counter, RoundTrip, TIMEOUT, bounded, join_within};
use util::load::{Percentiles, RawStream, SAMPLES, WARM_UP, camera, client, echo, frames, host};

/// The group's name.
const GROUP: &str = "control_rtt_beside_a_wildcard_subscriber";

/// The arrangements, in the order they run.
const NO_STREAM: &str = "no_stream";
const STREAMING: &str = "streaming_to_wildcard";
const RAW: &str = "raw_tcp_beside_a_raw_relay";

/// A criterion benchmark group of this bench.
type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// The relaying host, its three clients and the threads around them.
struct Hub {
    host: Host,
    camera: Client,
    viewer: Client,
    pinger: Client,
    /// Frames the viewer's reader has taken; shared with it.
    taken: Arc<Counter>,
    /// Shared with the echo and reader threads, which stop once it is set.
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Hub {
    fn start() -> Hub {
        let host = host(Relay::Others);
        let camera = client(&host, "camera", true);
        let viewer = client(&host, "viewer", true);
        let pinger = client(&host, "pinger", true);
        viewer.interest(["**"]).expect("the viewer declares `**`");
        pinger
            .interest(["pong"])
            .expect("the pinger declares `pong`");
        let (taken, stop) = (Arc::new(Counter::default()), Arc::default());
        let v = viewer.clone();
        let drain = move || v.get_all_timeout(IMAGE_CHANNEL, Duration::from_millis(50));
        let reader = util::load::reader("viewer-reader", drain, &taken, &stop);
        let echo = echo(&host, &stop, |_| {});
        let hub = Hub {
            host,
            camera,
            viewer,
            pinger,
            taken,
            stop,
            threads: vec![reader, echo],
        };
        // The host has read the pinger's interest once it has read a ping
        // sent after it.
        hub.round_trip();
        hub
    }

    fn round_trip(&self) -> Duration {
        let start = Instant::now();
        let ping = self
            .pinger
            .write_lock("ping", Bytes::from_static(&[0x5a; 64]));
        if let Err(e) = ping {
            let events: Vec<_> = self.host.events().try_iter().collect();
            panic!("send a ping: {e}; host {events:?}");
        }
        let pongs = self.pinger.get_all_timeout("pong", TIMEOUT);
        assert!(!pongs.is_empty(), "the pong arrives within {TIMEOUT:?}");
        start.elapsed()
    }

    /// Runs [`WARM_UP`] round trips and forgets them.
    fn warm_up(&self) {
        for _ in 0..WARM_UP {
            self.round_trip();
        }
    }

    /// What the stream has done so far.
    fn tally(&self, sent: &Counter) -> Tally {
        let viewer = self.host.clients().into_iter().find(|c| c.name == "viewer");
        Tally {
            sent: sent.messages(),
            received: self.host.image_stats(IMAGE_CHANNEL).received,
            taken: self.taken.messages(),
            conflated: viewer.map_or(0, |c| c.images_dropped),
            dropped_by_viewer: self
                .viewer
                .channel_stats(IMAGE_CHANNEL)
                .map_or(0, |s| s.dropped),
        }
    }

    fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            join_within(t, "hub bench thread").expect("stop a thread");
        }
        for c in [self.camera, self.viewer, self.pinger] {
            bounded("close-client", move || c.close()).expect("close a client");
        }
        let host = self.host;
        bounded("close-host", move || host.close()).expect("close the host");
    }
}

/// Frames of the stream, from the camera to the viewer.
#[derive(Debug, Clone, Copy)]
struct Tally {
    /// Locked writes of the camera that returned.
    sent: u64,
    /// Frames the host received whole.
    received: u64,
    /// Frames the viewer's reader took.
    taken: u64,
    /// Frames the host replaced before sending them to the viewer.
    conflated: u64,
    /// Frames the viewer's own queue dropped before its reader took them.
    dropped_by_viewer: u64,
}

/// The process's resident memory (`VmRSS`) and its peak so far (`VmHWM`),
/// from `/proc/self/status` (`?` where there is none).
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let mib = |field: &str| {
        let line = status.lines().find(|l| l.starts_with(field))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(format!("{:.0}", kib / 1024.0))
    };
    let [rss, peak] = ["VmRSS:", "VmHWM:"].map(|f| mib(f).unwrap_or_else(|| "?".into()));
    format!("{rss} MiB (peak {peak})")
}

/// Prints `what` with the round-trip percentiles `pct`.
fn report(what: &str, pct: &Percentiles) {
    println!("{GROUP}/{what}: {SAMPLES} round trips: {pct}");
}

/// `no_stream` and `streaming_to_wildcard`, on one hub.
fn engine(group: &mut Group<'_>, frames: Vec<Image>) -> [Option<Percentiles>; 2] {
    let id = |name: &str| format!("{GROUP}/{name}");
    let hub = Hub::start();
    let mut measured = [None, None];
    if util::selected(&[&id(NO_STREAM)]) {
        hub.warm_up();
        let pct = Percentiles::measure(|| hub.round_trip());
        report(NO_STREAM, &pct);
        group.bench_function(NO_STREAM, |b| b.iter(|| hub.round_trip()));
        measured[0] = Some(pct);
    }
    if util::selected(&[&id(STREAMING)]) {
        measured[1] = Some(streaming(group, &hub, frames));
    }
    hub.shutdown();
    measured
}

/// `streaming_to_wildcard`: the round trips while the camera streams.
fn streaming(group: &mut Group<'_>, hub: &Hub, frames: Vec<Image>) -> Percentiles {
    let mut rss = vec![("before the stream", memory())];
    let (sent, stop) = (
        Arc::new(Counter::default()),
        Arc::new(AtomicBool::new(false)),
    );
    let cam = camera(&hub.host, &hub.camera, frames, &sent, &stop);
    hub.warm_up();
    rss.push(("after the warm-up", memory()));
    let (before, start) = (hub.tally(&sent), Instant::now());
    let pct = Percentiles::measure(|| hub.round_trip());
    let (after, secs) = (hub.tally(&sent), start.elapsed().as_secs_f64());
    report(STREAMING, &pct);
    rss.push(("after the round trips", memory()));
    let rate = |f: fn(&Tally) -> u64| (f(&after) - f(&before)) as f64 / secs;
    println!(
        "    the stream meanwhile: camera {:.0} frames/s, viewer took {:.0} frames/s",
        rate(|t| t.sent),
        rate(|t| t.taken)
    );
    group.bench_function(STREAMING, |b| b.iter(|| hub.round_trip()));
    stop.store(true, Ordering::Relaxed);
    join_within(cam, "camera").expect("stop the camera");
    let t = hub.tally(&sent);
    println!(
        "    frames in all: camera sent {}, host received {}, viewer took {}; \
         conflated by the host for the viewer {}, dropped by the viewer's queue {}",
        t.sent, t.received, t.taken, t.conflated, t.dropped_by_viewer
    );
    rss.push(("at the end", memory()));
    let rss: Vec<String> = rss.into_iter().map(|(at, m)| format!("{at} {m}")).collect();
    println!("    resident memory (VmRSS): {}", rss.join(", "));
    pct
}

/// `raw_tcp_beside_a_raw_relay`: a raw ping-pong beside a raw stream that a
/// raw thread relays to a raw reader.
fn raw(group: &mut Group<'_>, frames: &[Image]) -> Percentiles {
    let payloads = frames.iter().map(|f| f.data().clone()).collect();
    let stream = RawStream::start(payloads, true).expect("start the raw stream");
    let mut raw = RawPingPong::start(&[0x5a; 64]).expect("start the baseline ping-pong");
    let mut round_trip = || raw.round_trip().expect("a baseline round trip");
    (0..WARM_UP).for_each(|_| round_trip());
    let (frames_before, start) = (stream.received(), Instant::now());
    let pct = Percentiles::measure(|| {
        let start = Instant::now();
        round_trip();
        start.elapsed()
    });
    let rate = (stream.received() - frames_before) as f64 / start.elapsed().as_secs_f64();
    report(RAW, &pct);
    println!("    the raw stream meanwhile: {rate:.0} frames/s");
    group.bench_function(RAW, |b| b.iter(&mut round_trip));
    stream.stop().expect("stop the raw stream");
    raw.shutdown().expect("stop the baseline ping-pong");
    pct
}

/// Prints the ratios of `streaming`'s percentiles to `base`'s.
fn ratio(streaming: &Percentiles, base: &Percentiles, name: &str) {
    let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "{GROUP}: {STREAMING} / {name}: p50 {:.2}, p99 {:.2}, p99.9 {:.2}",
        r(streaming.p50, base.p50),
        r(streaming.p99, base.p99),
        r(streaming.p999, base.p999)
    );
}

/// `control_rtt_beside_a_wildcard_subscriber`: the engine's arrangements,
/// then the raw one (one at a time: two saturating streams at once would
/// share the two cores).
fn control_rtt(c: &mut Criterion) {
    let id = |name: &str| format!("{GROUP}/{name}");
    let frames: Vec<Image> = frames(1920, 1080).into_iter().take(4).collect();
    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(1));
    let [quiet, streaming] = match util::selected(&[&id(NO_STREAM), &id(STREAMING)]) {
        true => engine(&mut group, frames.clone()),
        false => [None, None],
    };
    let raw = util::selected(&[&id(RAW)]).then(|| raw(&mut group, &frames));
    group.finish();
    let Some(streaming) = streaming else { return };
    if let Some(raw) = raw {
        ratio(&streaming, &raw, RAW);
    }
    if let Some(quiet) = quiet {
        ratio(&streaming, &quiet, NO_STREAM);
    }
}

fn main() {
    let mut c = util::config().configure_from_args();
    control_rtt(&mut c);
    c.final_summary();
}
