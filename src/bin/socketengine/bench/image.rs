//! `--workload image`: 1080p RGB images one way between a client and its
//! host on loopback, over the socket and through shared memory
//! (`shared_memory_images`), beside raw TCP. The writer cycles through
//! distinct frames larger than the caches with locked writes; the reader
//! drains with `get_all_timeout` and touches every image (one byte of each
//! 4 KiB page, and the last), as `python/bench/compare.py` does, so memory
//! the receiver never reads costs what it costs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use socketengine::{Client, Host, Image, PixelFormat};

use super::harness::{FRAME_1080P, payload_set, raw};
use super::{CHANNEL, Progress, Row};

/// Images written before the clock starts.
const WARMUP: usize = 16;

/// Runs the three measurements; one row each for the socket and shared
/// memory, each against raw TCP.
pub(super) fn image(progress: &Progress, secs: Duration) -> anyhow::Result<[Row; 2]> {
    progress.phase("image 1080p: preparing frames", secs);
    let frames = payload_set(FRAME_1080P, 64 << 20);
    let images = frames
        .iter()
        .map(|f| Image::new(1920, 1080, PixelFormat::Rgb8, f.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    progress.phase("image 1080p: engine over the socket", secs);
    let socket = engine(&images, false, secs)?;
    progress.phase("image 1080p: engine through shared memory", secs);
    let shm = engine(&images, true, secs)?;
    progress.phase("image 1080p: raw TCP", secs);
    let raw = raw::one_way(&frames, raw::Mode::Large, secs)?.bytes_per_sec() / 1e9;
    let row = |workload, engine| Row {
        workload,
        unit: "GB/s",
        engine,
        raw,
    };
    Ok([
        row("image 1080p, socket", socket),
        row("image 1080p, shm", shm),
    ])
}

/// The engine's rate in GB/s, with shared-memory images on or off.
fn engine(images: &[Image], shm: bool, secs: Duration) -> anyhow::Result<f64> {
    let host = Host::builder()
        .addr("127.0.0.1:0")
        .shared_memory_images(shm)
        .start()?;
    let client = Client::builder()
        .addr(host.local_addr().to_string())
        .name("cam")
        .shared_memory_images(shm)
        .connect()?;
    let (received, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let reader = {
        let (host, received, stop) = (host.clone(), Arc::clone(&received), Arc::clone(&stop));
        thread::spawn(move || read(&host, &received, &stop))
    };
    let write = |i: usize| client.write_lock(CHANNEL, &images[i % images.len()]);
    write(0).context("first image")?;
    if shm {
        // The first image made the client's segment and offered it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while client.shared_memory_stats().mapped == 0 {
            if Instant::now() > deadline {
                bail!("the host never mapped the client's segment");
            }
            thread::yield_now();
        }
    }
    for i in 1..WARMUP {
        write(i).context("warm-up image")?;
    }
    let (start, before) = (Instant::now(), received.load(Ordering::Relaxed));
    let mut i = WARMUP;
    while start.elapsed() < secs {
        write(i).context("image write")?;
        i += 1;
    }
    let (elapsed, after) = (start.elapsed(), received.load(Ordering::Relaxed));
    stop.store(true, Ordering::Relaxed);
    let touched = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))?;
    if shm && client.shared_memory_stats().sent == 0 {
        bail!("no image went through shared memory");
    }
    client.close();
    host.close();
    std::hint::black_box(touched);
    Ok((after - before) as f64 * FRAME_1080P as f64 / elapsed.as_secs_f64() / 1e9)
}

/// Drains the host's images until told to stop, touching each; returns
/// the sum of the bytes touched (so the reads are not optimised away).
fn read(host: &Host, received: &AtomicU64, stop: &AtomicBool) -> u64 {
    let mut touched = 0u64;
    while !stop.load(Ordering::Relaxed) {
        for msg in host.get_all_timeout(CHANNEL, Duration::from_millis(20)) {
            let data = msg.payload();
            touched += data
                .iter()
                .step_by(4096)
                .map(|&b| u64::from(b))
                .sum::<u64>();
            touched += data.last().map_or(0, |&b| u64::from(b));
            received.fetch_add(1, Ordering::Relaxed);
        }
    }
    touched
}
