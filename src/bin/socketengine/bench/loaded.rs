//! The `loaded` workload: a 64 B ping-pong beside a flat-out 1080p image
//! stream, on the stream's own connection for the engine, on a connection of
//! its own beside a raw stream for the baseline.

use std::time::{Duration, Instant};

use bytes::Bytes;
use socketengine::ClientBuilder;

use super::harness::loaded::{EngineLoaded, RawLoaded};
use super::harness::{RoundTrip, image_frames, round_trips_for};
use super::{Percentiles, Progress, Row, SMALL};
use crate::rtt::Rtts;

/// Distinct frames the camera cycles through: enough that no frame is
/// resent from the cache, few enough to set up fast.
const FRAMES: usize = 4;

/// Round trips left out at the start, while the stream's buffers fill.
const WARM_UP: Duration = Duration::from_millis(500);

/// Runs both sides for `secs` each: p50 and p99 of the round trips, and the
/// stream's goodput meanwhile. `target`: the engine's image queueing delay
/// (its default if `None`).
pub(crate) fn loaded(
    progress: &Progress,
    secs: Duration,
    target: Option<Duration>,
) -> anyhow::Result<[Row; 3]> {
    progress.phase("loaded: preparing frames", secs);
    let frames: Vec<_> = image_frames(1920, 1080)?.into_iter().take(FRAMES).collect();
    let payload = Bytes::from_static(&[0xa5; SMALL]);
    progress.phase("loaded 1080p + 64 B: engine", secs + WARM_UP);
    let payloads = frames.iter().map(|f| f.data().clone()).collect();
    let setup = |b: ClientBuilder| match target {
        Some(target) => b.image_queue_delay(target),
        None => b,
    };
    let mut engine = EngineLoaded::start(frames, payload.clone(), setup)?;
    let measured = measure(&mut engine, secs, EngineLoaded::received_bytes);
    engine.shutdown()?;
    let (engine_rtt, engine_rate) = measured?;
    progress.phase("loaded 1080p + 64 B: raw TCP", secs + WARM_UP);
    let mut raw = RawLoaded::start(payloads, &payload)?;
    let measured = measure(&mut raw, secs, RawLoaded::received_bytes);
    raw.shutdown()?;
    let (raw_rtt, raw_rate) = measured?;
    let row = |workload, unit, engine, raw| Row {
        workload,
        unit,
        engine,
        raw,
    };
    Ok([
        row(
            "loaded 64 B p50",
            "µs",
            engine_rtt.p50 * 1e6,
            raw_rtt.p50 * 1e6,
        ),
        row(
            "loaded 64 B p99",
            "µs",
            engine_rtt.p99 * 1e6,
            raw_rtt.p99 * 1e6,
        ),
        row("loaded goodput", "MB/s", engine_rate / 1e6, raw_rate / 1e6),
    ])
}

/// Warms `pair` up, then runs round trips for `secs`: their percentiles and
/// the stream's payload bytes per second meanwhile.
fn measure<P: RoundTrip>(
    pair: &mut P,
    secs: Duration,
    received: impl Fn(&P) -> u64,
) -> anyhow::Result<(Percentiles, f64)> {
    round_trips_for(pair, WARM_UP, drop)?;
    let (before, start) = (received(pair), Instant::now());
    let mut samples = Rtts::default();
    round_trips_for(pair, secs, |rtt| samples.record(rtt))?;
    let rate = (received(pair) - before) as f64 / start.elapsed().as_secs_f64();
    Ok((Percentiles::of(&samples)?, rate))
}
