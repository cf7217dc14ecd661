//! `socketengine demo`: an embedded host, a synthetic 1080p camera and a control
//! loop, with live rates once a second and a summary at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use parking_lot::Mutex;
use socketengine::{Client, ErrorKind, Host, Image, PixelFormat};

use crate::args::run_length;
use crate::bench::harness::{FRAME_1080P as FRAME, join_within};
use crate::rtt::Rtts;
use crate::shutdown::Shutdown;
use crate::{lib, show};

/// How long a consumer blocks for a batch before it looks at the stop flag.
const WAIT: Duration = Duration::from_millis(20);

/// Longest a command may wait for its acknowledgement before it counts as lost.
const ACK_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest run, in seconds: a day.
const MAX_SECS: u64 = 86_400;

/// Options of `socketengine demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// How long to run, in seconds: more than 0, at most 86400.
    #[arg(long, value_name = "N", default_value_t = 10.0)]
    secs: f64,
    /// Camera frames per second (default: as fast as the link takes them).
    #[arg(long, value_name = "FPS")]
    fps: Option<f64>,
    /// Control commands per second.
    #[arg(long, value_name = "HZ", default_value_t = 1000.0)]
    cmd_hz: f64,
}

/// What the threads measured, shared with the printing loop.
#[derive(Debug, Default)]
struct Shared {
    /// Set to stop every thread (at the end, on Ctrl-C, or when one fails).
    stop: AtomicBool,
    /// Commands acknowledged.
    acks: AtomicU64,
    /// Commands whose acknowledgement did not come within [`ACK_TIMEOUT`].
    lost: AtomicU64,
    /// Frames the camera gave up on after the write timeout.
    full: AtomicU64,
    /// Round trips since the last report (a lock held only to record or swap).
    rtts: Mutex<Rtts>,
}

/// Runs the demo.
pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let secs = run_length(args.secs, MAX_SECS).map_err(anyhow::Error::msg)?;
    let frame_period = match args.fps {
        Some(fps) if fps > 0.0 && fps.is_finite() => Some(Duration::from_secs_f64(1.0 / fps)),
        Some(fps) => bail!("--fps {fps} is not a positive number"),
        None => None,
    };
    if !(args.cmd_hz > 0.0 && args.cmd_hz.is_finite()) {
        bail!("--cmd-hz {} is not a positive number", args.cmd_hz);
    }
    let cmd_period = Duration::from_secs_f64(1.0 / args.cmd_hz);
    let shutdown = Shutdown::install()?;
    let host = Host::builder()
        .addr("127.0.0.1:0")
        .channel_capacity("camera", 8)
        .start()
        .map_err(lib)
        .context("cannot start the demo host")?;
    let connect = |name: &str| {
        Client::builder()
            .addr(host.local_addr().to_string())
            .name(name)
            .connect()
            .map_err(lib)
            .with_context(|| format!("cannot connect the {name} client"))
    };
    let (camera, controller) = (connect("camera")?, connect("controller")?);
    println!(
        "demo: host on {}; \"camera\" streams 1920x1080 RGB frames ({} each), \"controller\" \
         sends commands on \"cmd\" at {} Hz that the host answers on \"ack\"; {:.0} s, Ctrl-C to stop",
        host.local_addr(),
        show::bytes(FRAME as f64),
        args.cmd_hz,
        secs.as_secs_f64()
    );
    let frames = frame_set(FRAME, 64 << 20)
        .into_iter()
        .enumerate()
        .map(|(i, pixels)| {
            let image = Image::new(1920, 1080, PixelFormat::Rgb8, pixels)?;
            Ok(image.with_seq(i as u64))
        })
        .collect::<anyhow::Result<Vec<Image>>>()?;
    let shared = Arc::new(Shared::default());
    let threads = vec![
        spawn("vision", &shared, {
            let host = host.clone();
            move |s| drain(&host, "camera", s)
        })?,
        spawn("responder", &shared, {
            let host = host.clone();
            move |s| respond(&host, s)
        })?,
        spawn("camera", &shared, {
            let camera = camera.clone();
            move |s| stream(&camera, &frames, frame_period, s)
        })?,
        spawn("controller", &shared, {
            let controller = controller.clone();
            move |s| control(&controller, cmd_period, s)
        })?,
    ];
    let summary = report(&host, &controller, &shared, secs, &shutdown);
    shared.stop.store(true, Ordering::Release);
    let mut failure = None;
    for (name, handle) in threads {
        let joined = join_within(handle, name).map_err(anyhow::Error::from);
        if let Err(e) = joined.and_then(|done| done) {
            failure.get_or_insert(e.context(format!("{name} thread")));
        }
    }
    camera.close();
    controller.close();
    host.close();
    println!("{summary}");
    failure.map_or(Ok(()), Err)
}

/// Starts a named thread running `f`; a failure stops the others too.
fn spawn(
    name: &'static str,
    shared: &Arc<Shared>,
    f: impl FnOnce(&Shared) -> anyhow::Result<()> + Send + 'static,
) -> anyhow::Result<(&'static str, JoinHandle<anyhow::Result<()>>)> {
    let shared = Arc::clone(shared);
    let handle = thread::Builder::new()
        .name(format!("demo-{name}"))
        .spawn(move || {
            let result = f(&shared);
            if result.is_err() {
                shared.stop.store(true, Ordering::Release);
            }
            result
        })?;
    Ok((name, handle))
}

fn stopped(shared: &Shared) -> bool {
    shared.stop.load(Ordering::Acquire)
}

/// The host's frame consumer: takes every queued frame (a vision pipeline
/// would look at the newest).
fn drain(host: &Host, channel: &str, shared: &Shared) -> anyhow::Result<()> {
    while !stopped(shared) {
        drop(host.get_all_timeout(channel, WAIT));
    }
    Ok(())
}

/// The host's command handler: answers every command on "ack" to its sender.
fn respond(host: &Host, shared: &Shared) -> anyhow::Result<()> {
    while !stopped(shared) {
        for cmd in host.get_all_timeout("cmd", WAIT) {
            match host.to(cmd.from()).write("ack", cmd.into_payload()) {
                // A refused write is counted in the client's `dropped`.
                Err(e) if !e.is_full() => return Err(lib(e)),
                _ => {}
            }
        }
    }
    Ok(())
}

/// The camera: distinct frames in turn on the image path, with locked image
/// writes (each returns once its last chunk is in the kernel: back-pressure, so
/// no frame is conflated away and the rates count every frame).
fn stream(
    camera: &Client,
    frames: &[Image],
    period: Option<Duration>,
    shared: &Shared,
) -> anyhow::Result<()> {
    let mut next = Instant::now();
    for (seq, frame) in (0u64..).zip(frames.iter().cycle()) {
        if stopped(shared) {
            break;
        }
        let frame = frame.clone().with_seq(seq);
        match camera.write_lock("camera", &frame) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut(_)) => {
                shared.full.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => return Err(lib(e)),
        }
        if let Some(period) = period {
            next += period;
            thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    }
    Ok(())
}

/// The controller: a numbered command with a locked write, then its ack.
fn control(controller: &Client, period: Duration, shared: &Shared) -> anyhow::Result<()> {
    let mut next = Instant::now();
    let mut seq = 0u64;
    while !stopped(shared) {
        seq += 1;
        let payload = Bytes::copy_from_slice(&seq.to_le_bytes());
        let sent = Instant::now();
        controller.write_lock("cmd", payload.clone()).map_err(lib)?;
        match wait_ack(controller, &payload, sent + ACK_TIMEOUT, shared) {
            true => {
                shared.rtts.lock().record(sent.elapsed());
                shared.acks.fetch_add(1, Ordering::Relaxed);
            }
            false if stopped(shared) => break,
            false => {
                shared.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
        next += period;
        let now = Instant::now();
        match next > now {
            true => thread::sleep(next - now),
            false => next = now, // behind: do not burst to catch up
        }
    }
    Ok(())
}

/// Waits until `payload` comes back on "ack", or `deadline`.
fn wait_ack(controller: &Client, payload: &Bytes, deadline: Instant, shared: &Shared) -> bool {
    while !stopped(shared) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let acks = controller.get_all_timeout("ack", left.min(WAIT));
        if acks.iter().any(|m| m.payload() == payload) {
            return true;
        }
    }
    false
}

/// Prints a line a second until `secs` pass or Ctrl-C; returns the summary.
fn report(
    host: &Host,
    controller: &Client,
    shared: &Shared,
    secs: Duration,
    shutdown: &Shutdown,
) -> String {
    println!(
        "{:>6} {:>9} {:>8} {:>9} {:>10} {:>10} {:>7}",
        "time", "frames/s", "GB/s", "ctrl/s", "rtt p50", "rtt p99", "drops"
    );
    let start = Instant::now();
    let mut last = (start, 0u64, 0u64, 0u64);
    let mut all_rtts = Rtts::default();
    let mut tick = start;
    while !stopped(shared) && !shutdown.requested() && start.elapsed() < secs {
        tick += Duration::from_secs(1);
        let end = (start + secs).min(tick);
        // Short naps, so Ctrl-C and a failed thread end the demo promptly.
        while Instant::now() < end && !stopped(shared) && !shutdown.requested() {
            thread::sleep(
                Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())),
            );
        }
        let now = Instant::now();
        let (frames, bytes) = camera_counts(host);
        let acks = shared.acks.load(Ordering::Relaxed);
        let dt = now.duration_since(last.0).as_secs_f64().max(1e-3);
        // The fresh histogram is allocated before the lock is taken.
        let fresh = Rtts::default();
        let rtts = std::mem::replace(&mut *shared.rtts.lock(), fresh);
        println!(
            "{:>5.1}s {:>9.0} {:>8.2} {:>9.0} {:>10} {:>10} {:>7}",
            now.duration_since(start).as_secs_f64(),
            (frames - last.1) as f64 / dt,
            (bytes - last.2) as f64 / dt / 1e9,
            (acks - last.3) as f64 / dt,
            percentile(&rtts, 0.50),
            percentile(&rtts, 0.99),
            drops(host, controller),
        );
        last = (now, frames, bytes, acks);
        all_rtts.add(&rtts);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (frames, bytes) = camera_counts(host);
    format!(
        "summary: {elapsed:.1} s; {frames} frames ({:.2} GB, {:.0} frames/s, {:.2} GB/s); \
         {} control round trips, rtt p50 {} p99 {} max {}; {} acks lost; drops: {}; \
         camera frames timed out {}",
        bytes as f64 / 1e9,
        frames as f64 / elapsed,
        bytes as f64 / elapsed / 1e9,
        all_rtts.len(),
        percentile(&all_rtts, 0.50),
        percentile(&all_rtts, 0.99),
        percentile(&all_rtts, 1.0),
        shared.lost.load(Ordering::Relaxed),
        drop_parts(host, controller)
            .map(|(what, n)| format!("{n} {what}"))
            .join(", "),
        shared.full.load(Ordering::Relaxed),
    )
}

/// Frames and bytes the host has received on "camera".
fn camera_counts(host: &Host) -> (u64, u64) {
    host.channel_stats("camera")
        .map_or((0, 0), |s| (s.received, s.bytes))
}

/// Messages dropped anywhere: full queues on the host and the controller, and
/// unlocked writes refused by a full outbox.
fn drops(host: &Host, controller: &Client) -> u64 {
    drop_parts(host, controller).iter().map(|(_, n)| n).sum()
}

/// [`drops`] by where they happened.
fn drop_parts(host: &Host, controller: &Client) -> [(&'static str, u64); 4] {
    let queue = |ch| host.channel_stats(ch).map_or(0, |s| s.dropped);
    let acks = controller.channel_stats("ack").map_or(0, |s| s.dropped);
    let outboxes: u64 = host.clients().iter().map(|c| c.dropped).sum();
    [
        ("camera queue", queue("camera")),
        ("cmd queue", queue("cmd")),
        ("ack queue", acks),
        ("host outboxes", outboxes),
    ]
}

/// The `q` quantile of the round trips, formatted; `-` when there are none.
fn percentile(rtts: &Rtts, q: f64) -> String {
    rtts.quantile(q).map_or_else(|| "-".to_owned(), show::age)
}

/// Distinct frames of `size` bytes, `min_total` bytes or more in all (at least
/// eight), each a horizontal gradient shifted by its index: every page written.
fn frame_set(size: usize, min_total: usize) -> Vec<Bytes> {
    let count = min_total.div_ceil(size).max(8);
    (0..count).map(|i| gradient(size, i)).collect()
}

/// An RGB frame of `size` bytes, 1920 pixels wide, shifted by `shift` pixels.
fn gradient(size: usize, shift: usize) -> Bytes {
    let row: Vec<u8> = (0..1920 * 3)
        .map(|b| {
            let x = b / 3 + shift * 8;
            match b % 3 {
                0 => x as u8,
                1 => (x / 2) as u8,
                _ => 255 - x as u8,
            }
        })
        .collect();
    let mut frame = Vec::with_capacity(size);
    while frame.len() < size {
        let take = row.len().min(size - frame.len());
        frame.extend_from_slice(&row[..take]);
    }
    frame.into()
}
