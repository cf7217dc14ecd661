//! The `camera` workload: a 1080p camera at 30 frames a second, unlocked
//! image writes (a newer frame replaces one not yet started), and a reader on
//! the host polling the newest image at 30 Hz, as a viewer or a planner
//! would: frames delivered, their age when read, frames dropped. Raw RGB,
//! then raw RGB with a reader that waits for each image as it arrives
//! (`get_all_timeout`) instead of polling, then the same scene as JPEG
//! (quality 80), polled. The engine alone: raw TCP has no newest-image
//! semantics to compare with.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socketengine::{Client, ClientBuilder, Host, IMAGE_CHANNEL, Image, PixelFormat};

use super::harness::engine::start_host;
use super::harness::{OrFail, TIMEOUT, join_within, spawn};
use super::{Progress, Row};

/// Frames a second, the camera's and the reader's.
const FPS: f64 = 30.0;

/// Distinct frames the camera cycles through.
const FRAMES: usize = 4;

/// How the host's reader gets the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// Polls the newest image (`get_image`) every 1/[`FPS`] s: a frame that
    /// stays the newest is read, and its age counted, at every poll.
    Poll,
    /// Waits for the next images (`get_all_timeout`), so each is read, and
    /// its age counted, once, as soon as it is stored.
    Wait,
}

/// What one camera run saw.
struct CameraRun {
    /// Distinct frames the reader got, per second.
    delivered: f64,
    age_p50: Duration,
    age_p99: Duration,
    /// Each delivered frame's age when the reader first got it, p99 (the
    /// ages above count every poll, a frame read twice twice).
    first_p99: Duration,
    /// Frames the camera's side dropped (replaced before they were sent).
    dropped: u64,
    /// Bytes of one frame (the mean, for JPEG).
    frame_bytes: f64,
}

/// Runs the camera raw, then as JPEG, `secs` each.
pub(crate) fn camera(
    progress: &Progress,
    secs: Duration,
    target: Option<Duration>,
) -> anyhow::Result<Vec<Row>> {
    progress.phase("camera: preparing frames", secs);
    let frames = scene(1920, 1080)?;
    progress.phase("camera 1080p30 raw: engine", secs);
    let raw = run(&frames, secs, target, Reader::Poll)?;
    progress.phase("camera 1080p30 raw, waiting reader: engine", secs);
    let waited = run(&frames, secs, target, Reader::Wait)?;
    progress.phase("camera: encoding JPEG", secs);
    let jpeg = jpeg(&frames)?;
    progress.phase("camera 1080p30 JPEG: engine", secs);
    let jpeg = run(&jpeg, secs, target, Reader::Poll)?;
    let mut rows = Vec::new();
    let runs = [("raw", raw), ("raw waiting", waited), ("JPEG q80", jpeg)];
    for (what, run) in runs {
        let row = |workload: String, unit, engine| Row {
            workload: Box::leak(workload.into_boxed_str()),
            unit,
            engine,
            raw: f64::NAN,
        };
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        rows.extend([
            row(
                format!("camera {what} frame size"),
                "KB",
                run.frame_bytes / 1e3,
            ),
            row(
                format!("camera {what} delivered"),
                "frames/s",
                run.delivered,
            ),
            row(format!("camera {what} age p50"), "ms", ms(run.age_p50)),
            row(format!("camera {what} age p99"), "ms", ms(run.age_p99)),
            row(
                format!("camera {what} first-read age p99"),
                "ms",
                ms(run.first_p99),
            ),
            row(
                format!("camera {what} dropped"),
                "frames",
                run.dropped as f64,
            ),
        ]);
    }
    Ok(rows)
}

/// A camera client sending `frames` (cycling) at [`FPS`] to a host whose
/// reader gets them as `reader` says, for `secs`.
fn run(
    frames: &[Image],
    secs: Duration,
    target: Option<Duration>,
    reader: Reader,
) -> anyhow::Result<CameraRun> {
    let host = start_host(Host::builder().write_timeout(TIMEOUT))?;
    let builder = Client::builder()
        .addr(host.local_addr().to_string())
        .name("bench-camera")
        .write_timeout(TIMEOUT);
    let builder: ClientBuilder = match target {
        Some(target) => builder.image_queue_delay(target),
        None => builder,
    };
    let client = builder.connect().or_fail("connect the camera")?;
    let stop = Arc::new(AtomicBool::new(false));
    let camera = {
        let (client, stop, frames) = (client.clone(), Arc::clone(&stop), frames.to_vec());
        spawn("bench-camera", move || shoot(&client, &frames, &stop))?
    };
    let period = Duration::from_secs_f64(1.0 / FPS);
    let (start, mut next) = (Instant::now(), Instant::now());
    let (mut last_seq, mut first_ages) = (None, Vec::new());
    while start.elapsed() < secs {
        let images = match reader {
            Reader::Poll => {
                next += period;
                thread::sleep(next.saturating_duration_since(Instant::now()));
                host.get_image(IMAGE_CHANNEL).into_iter().collect()
            }
            Reader::Wait => {
                let messages = host.get_all_timeout(IMAGE_CHANNEL, period);
                messages
                    .iter()
                    .filter_map(|m| m.image())
                    .collect::<Vec<_>>()
            }
        };
        for image in images {
            if last_seq == Some(image.seq()) {
                continue;
            }
            last_seq = Some(image.seq());
            let captured = UNIX_EPOCH + Duration::from_nanos(image.timestamp_ns());
            let age = host.host_time().duration_since(captured);
            first_ages.push(age.unwrap_or_default());
        }
    }
    let delivered = first_ages.len();
    first_ages.sort_unstable();
    let first_p99 = first_ages
        .get((first_ages.len().saturating_sub(1) as f64 * 0.99).round() as usize)
        .copied()
        .unwrap_or_default();
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let shot = join_within(camera, "camera")?;
    let seen = host.image_stats(IMAGE_CHANNEL);
    let sent = client.image_stats(IMAGE_CHANNEL);
    client.close();
    host.close();
    shot?;
    let (Some(age_p50), Some(age_p99)) = (seen.age_p50, seen.age_p99) else {
        anyhow::bail!("the reader got no image in {secs:?}");
    };
    let bytes: usize = frames.iter().map(|f| f.data().len()).sum();
    Ok(CameraRun {
        delivered: delivered as f64 / elapsed.as_secs_f64(),
        age_p50,
        age_p99,
        first_p99,
        dropped: sent.dropped,
        frame_bytes: bytes as f64 / frames.len() as f64,
    })
}

/// The camera thread: one frame every 1/[`FPS`] s, captured now, written
/// unlocked (never waiting), until `stop`.
fn shoot(client: &Client, frames: &[Image], stop: &AtomicBool) -> std::io::Result<()> {
    let period = Duration::from_secs_f64(1.0 / FPS);
    let mut next = Instant::now();
    for (seq, frame) in (1u64..).zip(frames.iter().cycle()) {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let image = frame
            .clone()
            .with_seq(seq)
            .with_timestamp_ns(now.as_nanos() as u64);
        client
            .write(IMAGE_CHANNEL, &image)
            .or_fail("camera image write")?;
        next += period;
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok(())
}

/// [`FRAMES`] distinct RGB frames of a scene a JPEG encoder finds as hard as
/// a camera's: smooth gradients, edges, and a little sensor noise.
fn scene(width: u32, height: u32) -> anyhow::Result<Vec<Image>> {
    let mut noise = 0x9e37_79b9_7f4a_7c15u64;
    (0..FRAMES)
        .map(|i| {
            let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
            for y in 0..height {
                for x in 0..width {
                    noise ^= noise << 13;
                    noise ^= noise >> 7;
                    noise ^= noise << 17;
                    let grain = (noise & 0x0f) as u32;
                    let shift = x + 40 * i as u32;
                    let stripe = if (shift / 64 + y / 64) % 2 == 0 {
                        60
                    } else {
                        0
                    };
                    pixels.push(((shift * 255 / width + grain + stripe) & 0xff) as u8);
                    pixels.push(((y * 255 / height + grain) & 0xff) as u8);
                    pixels.push((((shift + y) / 8 + grain * 2) & 0xff) as u8);
                }
            }
            Ok(Image::new(width, height, PixelFormat::Rgb8, pixels)?)
        })
        .collect()
}

/// The frames as JPEG, quality 80.
#[cfg(feature = "image")]
fn jpeg(frames: &[Image]) -> anyhow::Result<Vec<Image>> {
    let encoded = frames.iter().map(|f| f.encode_jpeg(80));
    Ok(encoded.collect::<Result<_, _>>()?)
}

#[cfg(not(feature = "image"))]
fn jpeg(_: &[Image]) -> anyhow::Result<Vec<Image>> {
    anyhow::bail!("the camera workload's JPEG run needs the `image` feature")
}
