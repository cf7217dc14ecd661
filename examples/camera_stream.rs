//! A synthetic camera streaming 1080p RGB frames (a moving gradient) to a host,
//! which prints once a second the frames per second it receives, GB/s, frames
//! dropped (conflated at the camera) and end-to-end latency (capture to
//! `get_all` on the host, one machine's clock).
//!
//! ```text
//! cargo run --release --example camera_stream -- [--fps 60] [--secs 5] [--width 1920] [--height 1080]
//! cargo run --release --example camera_stream -- --help
//! ```
//!
//! `--fps 0` streams as fast as the link takes frames: then the camera
//! outruns the host now and then and frames are conflated (dropped whole,
//! never torn), which the `dropped` column counts.

use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use socketengine::{Client, Host, IMAGE_CHANNEL, Image, PixelFormat};

/// Distinct frames the camera cycles through (rendering a gradient for every
/// frame would measure the renderer, not the link).
const RENDERED: u64 = 8;

/// A synthetic camera streaming a moving gradient to a host on loopback; the
/// host prints the frames it receives once a second.
#[derive(Debug, Parser)]
#[command(name = "camera_stream")]
struct Args {
    /// Frames per second the camera captures; 0 streams as fast as the link
    /// takes frames (then some are conflated: dropped whole, never torn).
    #[arg(long, value_name = "FPS", default_value_t = 60.0, value_parser = non_negative)]
    #[arg(allow_negative_numbers = true)]
    fps: f64,
    /// How long the camera streams, in seconds.
    #[arg(long, value_name = "N", default_value_t = 5.0, value_parser = positive)]
    #[arg(allow_negative_numbers = true)]
    secs: f64,
    /// Frame width in pixels.
    #[arg(long, default_value_t = 1920, value_parser = clap::value_parser!(u32).range(1..))]
    width: u32,
    /// Frame height in pixels.
    #[arg(long, default_value_t = 1080, value_parser = clap::value_parser!(u32).range(1..))]
    height: u32,
}

/// A finite number, 0 or more.
fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("{text:?} is not a number, 0 or more")),
    }
}

/// A finite number above 0.
fn positive(text: &str) -> Result<f64, String> {
    match non_negative(text) {
        Ok(n) if n > 0.0 => Ok(n),
        _ => Err(format!("{text:?} is not a number above 0")),
    }
}

/// A gradient shifted by `t` pixels: what a camera panning across a scene sees.
fn gradient(width: u32, height: u32, t: u64) -> Vec<u8> {
    let mut px = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height as u64 {
        for x in 0..width as u64 {
            px.extend_from_slice(&[(x + 8 * t) as u8, (y + 4 * t) as u8, ((x + y) / 8) as u8]);
        }
    }
    px
}

fn now_ns() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_nanos() as u64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let host = Host::builder().addr("127.0.0.1:0").start()?;
    let camera = Client::builder()
        .addr(host.local_addr().to_string())
        .name("camera")
        .connect()?;
    println!(
        "camera -> host {}: {}x{} RGB, {} fps, {} s",
        host.local_addr(),
        args.width,
        args.height,
        match args.fps {
            0.0 => "as many".to_owned(),
            fps => fps.to_string(),
        },
        args.secs
    );
    let rendered: Vec<Image> = (0..RENDERED)
        .map(|t| {
            Image::new(
                args.width,
                args.height,
                PixelFormat::Rgb8,
                gradient(args.width, args.height, t),
            )
        })
        .collect::<Result<_, _>>()?;

    let (fps, secs) = (args.fps, args.secs);
    let mut streamer = Some(std::thread::spawn(
        move || -> Result<u64, socketengine::Error> {
            let start = Instant::now();
            let mut seq = 0;
            while start.elapsed().as_secs_f64() < secs {
                if fps > 0.0 {
                    // The camera's frame clock.
                    let due = start + Duration::from_secs_f64(seq as f64 / fps);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
                let frame = rendered[(seq % RENDERED) as usize]
                    .clone()
                    .with_seq(seq)
                    .with_timestamp_ns(now_ns());
                camera.write(IMAGE_CHANNEL, &frame)?;
                seq += 1;
            }
            camera.flush()?;
            Ok(seq)
        },
    ));

    println!(
        "{:>5} {:>8} {:>8} {:>8} {:>10} {:>10} {:>10}",
        "t", "fps", "GB/s", "dropped", "lat p50", "lat p99", "lat max"
    );
    let start = Instant::now();
    // Latencies in nanoseconds, to three significant digits, in constant memory.
    let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut window = (Instant::now(), 0u64, 0u64);
    let mut total = 0u64;
    let mut last_skipped = 0;
    // Until the camera is done and its last frame is in (the last frame is
    // never conflated away: nothing newer replaces it).
    let mut sent = None;
    let give_up = Instant::now() + Duration::from_secs_f64(secs + 10.0);
    while Instant::now() < give_up {
        if let Some(done) = streamer.take_if(|s| s.is_finished()) {
            sent = Some(done.join().map_err(|_| "the camera thread panicked")??);
        }
        let stats = host.image_stats(IMAGE_CHANNEL);
        if sent.is_some_and(|n| stats.received + stats.skipped >= n) {
            break;
        }
        for msg in host.get_all_timeout(IMAGE_CHANNEL, Duration::from_millis(100)) {
            let Some(image) = msg.image() else { continue };
            window.1 += 1;
            window.2 += image.data().len() as u64;
            latencies.saturating_record(now_ns().saturating_sub(image.timestamp_ns()));
            total += 1;
        }
        let elapsed = window.0.elapsed();
        if elapsed >= Duration::from_secs(1) {
            let skipped = host.image_stats(IMAGE_CHANNEL).skipped;
            let at = |q: f64| latencies.value_at_quantile(q);
            let ms = |ns: u64| format!("{:.2} ms", ns as f64 / 1e6);
            println!(
                "{:>4.0}s {:>8.1} {:>8.2} {:>8} {:>10} {:>10} {:>10}",
                start.elapsed().as_secs_f64(),
                window.1 as f64 / elapsed.as_secs_f64(),
                window.2 as f64 / elapsed.as_secs_f64() / 1e9,
                skipped - last_skipped,
                ms(at(0.5)),
                ms(at(0.99)),
                ms(at(1.0)),
            );
            last_skipped = skipped;
            window = (Instant::now(), 0, 0);
            latencies.reset();
        }
    }
    let sent = sent.ok_or("the camera did not finish in time")?;
    let stats = host.image_stats(IMAGE_CHANNEL);
    println!(
        "camera wrote {sent} frames; host received {total} whole, {} dropped on the way (conflated)",
        stats.skipped
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_and_flags_parse() {
        let help = Args::try_parse_from(["camera_stream", "--help"]).map(drop);
        let kind = help.map_err(|e| e.kind());
        assert_eq!(kind, Err(clap::error::ErrorKind::DisplayHelp));
        let args = Args::try_parse_from(["camera_stream", "--fps", "0", "--secs", "3"]);
        let args = args.map(|a| (a.fps, a.secs, a.width, a.height));
        assert_eq!(args.ok(), Some((0.0, 3.0, 1920, 1080)));
        for bad in [
            ["--fps", "-1"],
            ["--secs", "0"],
            ["--width", "0"],
            ["--fps", "x"],
        ] {
            let args = Args::try_parse_from([&["camera_stream"][..], &bad].concat());
            assert!(args.is_err(), "{bad:?}");
        }
    }
}
