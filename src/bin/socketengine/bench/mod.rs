//! `socketengine bench`: the engine beside a raw-TCP baseline, in one process on
//! loopback, for a few seconds per workload.
//!
//! The workloads follow the crate's criterion benches (`benches/`), reduced to
//! timed runs: one writer streaming to one reader (64 B messages, or 1080p
//! frames from a set of distinct buffers larger than the CPU cache), and a 64 B
//! ping-pong. The measuring is [`harness`], which the criterion benches compile
//! too; this module chooses the workloads and prints.

mod camera;
pub(crate) mod harness;
mod image;
mod loaded;
mod netns;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use clap::{Args, ValueEnum};
use parking_lot::Mutex;
use serde::Serialize;

use crate::rtt::Rtts;
use crate::show;
use harness::{FRAME_1080P, join_within, payload_set, raw};

/// Size of a small message.
pub(crate) const SMALL: usize = 64;

/// The engine's channel.
pub(crate) const CHANNEL: &str = "bench";

/// Options of `socketengine bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Which workload to run.
    #[arg(long, value_enum, default_value = "all")]
    workload: Workload,
    /// Seconds per measurement (each workload measures the engine and the baseline).
    #[arg(long, value_name = "N", default_value_t = 3.0)]
    secs: f64,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// Put the listening side of every pair (the engine's host, the raw
    /// listeners) in this network namespace (`ip netns` name, Linux; needs
    /// root), bound to `--listen-ip`, so that every byte crosses the link
    /// between the namespaces (`benches/shaped/run.sh` sets one up).
    #[arg(long, value_name = "NAME", requires = "listen_ip")]
    listen_netns: Option<String>,
    /// The engine's image queueing target in milliseconds
    /// (`image_queue_delay` on its builders; default: the builders' default),
    /// for the workloads that stream images.
    #[arg(long, value_name = "MS")]
    image_queue_delay: Option<f64>,
    /// The address the far side listens on (with `--listen-netns`).
    #[arg(long, value_name = "IP", requires = "listen_netns")]
    listen_ip: Option<std::net::IpAddr>,
}

/// The workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// 64 B messages, one writer to one `get_all` reader: messages per second.
    Small,
    /// 1080p RGB frames (6,220,800 B), one sender to one receiver: GB/s.
    Frame,
    /// 64 B ping-pong round trips: p50 and p99.
    Latency,
    /// 64 B ping-pong beside a flat-out 1080p image stream on the same
    /// connection (raw: on a connection of its own beside a raw stream):
    /// p50, p99 and the stream's goodput.
    Loaded,
    /// The four above.
    All,
    /// 1080p RGB images one way, the engine over the socket and through
    /// shared memory (`shared_memory_images`), each beside raw TCP; the
    /// reader touches every image. Not in `all`.
    Image,
    /// A 1080p camera at 30 frames a second (raw RGB, then JPEG quality 80),
    /// its host's reader polling the newest image at 30 Hz: frames
    /// delivered, their age when read (p50, p99), frames dropped; and raw
    /// RGB again with a reader waiting for each image as it arrives. The
    /// engine alone; not in `all` (a study of links: `benches/shaped/run.sh`).
    Camera,
}

/// One line of the result table.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) workload: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) engine: f64,
    pub(crate) raw: f64,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.engine / self.raw
    }
}

/// Runs the chosen workloads and prints the table (or JSON).
pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let secs = crate::args::run_length(args.secs, 3600).map_err(anyhow::Error::msg)?;
    if let (Some(netns), Some(ip)) = (&args.listen_netns, args.listen_ip) {
        netns::place_far(netns, ip)?;
    }
    let progress = Progress::start();
    let mut rows = Vec::new();
    let wants = |w: Workload| args.workload == w || args.workload == Workload::All;
    let result = (|| {
        if wants(Workload::Small) {
            rows.push(small(&progress, secs)?);
        }
        if wants(Workload::Frame) {
            rows.push(frame(&progress, secs)?);
        }
        if wants(Workload::Latency) {
            rows.extend(latency(&progress, secs)?);
        }
        let target = queue_delay(args.image_queue_delay)?;
        if wants(Workload::Loaded) {
            rows.extend(loaded::loaded(&progress, secs, target)?);
        }
        if args.workload == Workload::Image {
            rows.extend(image::image(&progress, secs)?);
        }
        if args.workload == Workload::Camera {
            rows.extend(camera::camera(&progress, secs, target)?);
        }
        anyhow::Ok(())
    })();
    progress.stop();
    result?;
    match args.json {
        true => println!("{}", json(&rows, secs)?),
        false => print_table(&rows, secs),
    }
    Ok(())
}

/// `--image-queue-delay` as a duration, if given.
fn queue_delay(ms: Option<f64>) -> anyhow::Result<Option<Duration>> {
    ms.map(|ms| Duration::try_from_secs_f64(ms / 1e3))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--image-queue-delay: {e}"))
}

fn small(progress: &Progress, secs: Duration) -> anyhow::Result<Row> {
    let payload = Bytes::from_static(&[0x5a; SMALL]);
    progress.phase("small 64 B: engine", secs);
    let engine = harness::engine::one_way(CHANNEL, std::slice::from_ref(&payload), 1 << 16, secs)?;
    progress.phase("small 64 B: raw TCP", secs);
    let raw = raw::one_way(std::slice::from_ref(&payload), raw::Mode::Small, secs)?;
    Ok(Row {
        workload: "small 64 B one way",
        unit: "msgs/s",
        engine: engine.msgs_per_sec(),
        raw: raw.msgs_per_sec(),
    })
}

fn frame(progress: &Progress, secs: Duration) -> anyhow::Result<Row> {
    progress.phase("frame 1080p: preparing frames", secs);
    let frames = payload_set(FRAME_1080P, 64 << 20);
    progress.phase("frame 1080p: engine", secs);
    let engine = harness::engine::one_way(CHANNEL, &frames, 4, secs)?;
    progress.phase("frame 1080p: raw TCP", secs);
    let raw = raw::one_way(&frames, raw::Mode::Large, secs)?;
    Ok(Row {
        workload: "frame 1080p one way",
        unit: "GB/s",
        engine: engine.bytes_per_sec() / 1e9,
        raw: raw.bytes_per_sec() / 1e9,
    })
}

fn latency(progress: &Progress, secs: Duration) -> anyhow::Result<[Row; 2]> {
    let payload = Bytes::from_static(&[0xa5; SMALL]);
    progress.phase("latency 64 B: engine", secs);
    let mut samples = Rtts::default();
    harness::engine::ping_pong(payload.clone(), secs, |rtt| samples.record(rtt))?;
    let engine = Percentiles::of(&samples)?;
    progress.phase("latency 64 B: raw TCP", secs);
    let mut samples = Rtts::default();
    raw::ping_pong(&payload, secs, |rtt| samples.record(rtt))?;
    let raw = Percentiles::of(&samples)?;
    let row = |workload, engine: f64, raw: f64| Row {
        workload,
        unit: "µs",
        engine: engine * 1e6,
        raw: raw * 1e6,
    };
    Ok([
        row("latency 64 B p50", engine.p50, raw.p50),
        row("latency 64 B p99", engine.p99, raw.p99),
    ])
}

/// The median and 99th percentile of round trips, in seconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Percentiles {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
}

impl Percentiles {
    pub(crate) fn of(samples: &Rtts) -> anyhow::Result<Percentiles> {
        let at = |q: f64| samples.quantile(q).map(|d| d.as_secs_f64());
        match (at(0.50), at(0.99)) {
            (Some(p50), Some(p99)) => Ok(Percentiles { p50, p99 }),
            _ => bail!("no round trip completed"),
        }
    }
}

/// A one-line progress indicator on stderr, redrawn with `\r` on a terminal;
/// one line per phase otherwise.
pub(crate) struct Progress {
    /// The phase's label, start and length, shared with the drawing thread.
    phase: Arc<Mutex<(String, Instant, Duration)>>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Progress {
    fn start() -> Progress {
        let phase = Arc::new(Mutex::new((String::new(), Instant::now(), Duration::ZERO)));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = std::io::stderr().is_terminal().then(|| {
            let (phase, stop) = (Arc::clone(&phase), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let (label, start, length) = phase.lock().clone();
                    draw_bar(&label, start.elapsed(), length);
                    thread::sleep(Duration::from_millis(100));
                }
                eprint!("\r\x1b[K");
                Ok(())
            })
        });
        Progress {
            phase,
            stop,
            ticker,
        }
    }

    pub(crate) fn phase(&self, label: &str, length: Duration) {
        *self.phase.lock() = (label.to_owned(), Instant::now(), length);
        if self.ticker.is_none() {
            eprintln!("bench: {label}");
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(ticker) = self.ticker.take() {
            let _ = join_within(ticker, "progress");
        }
    }
}

fn draw_bar(label: &str, elapsed: Duration, length: Duration) {
    const WIDTH: usize = 30;
    let done = (elapsed.as_secs_f64() / length.as_secs_f64().max(1e-9)).min(1.0);
    let filled = (done * WIDTH as f64) as usize;
    let bar = format!("{}{}", "#".repeat(filled), ".".repeat(WIDTH - filled));
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r\x1b[K{label:<32} [{bar}] {:>4.1}s",
        elapsed.as_secs_f64()
    );
    let _ = err.flush();
}

fn print_table(rows: &[Row], secs: Duration) {
    println!(
        "{:<22} {:>8} {:>12} {:>12} {:>7}",
        "workload", "unit", "engine", "raw TCP", "ratio"
    );
    for row in rows {
        println!(
            "{:<22} {:>8} {:>12} {:>12} {:>7.2}",
            row.workload,
            row.unit,
            figure(row.engine),
            figure(row.raw),
            row.ratio()
        );
    }
    println!(
        "\n{:.1} s per measurement; ratio = engine / raw TCP (throughput: higher \
         is better; latency: lower is better). The machine is noisy: compare ratios.",
        secs.as_secs_f64()
    );
}

fn figure(n: f64) -> String {
    match n >= 1e4 {
        true => show::count(n),
        false => format!("{n:.2}"),
    }
}

fn json(rows: &[Row], secs: Duration) -> serde_json::Result<String> {
    /// One result, fields in this order.
    #[derive(Serialize)]
    struct Line<'a> {
        workload: &'a str,
        unit: &'a str,
        engine: f64,
        raw: f64,
        ratio: f64,
    }
    /// The whole report (non-finite figures come out as `null`).
    #[derive(Serialize)]
    struct Report<'a> {
        secs: f64,
        results: Vec<Line<'a>>,
    }
    let results = rows
        .iter()
        .map(|r| Line {
            workload: r.workload,
            unit: r.unit,
            engine: r.engine,
            raw: r.raw,
            ratio: r.ratio(),
        })
        .collect();
    serde_json::to_string(&Report {
        secs: secs.as_secs_f64(),
        results,
    })
}
