//! What the image and hub benches share: distinct camera frames, reader and
//! echo threads on the engine, round-trip percentiles, and (from the
//! harness) a raw stream of frames (relayed or not) to run a raw ping-pong
//! beside.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use socketengine::{Client, Host, IMAGE_CHANNEL, Image, Message, Relay};

// Not every bench uses both.
use super::harness::{Counter, TIMEOUT, spawn};
#[allow(unused_imports)]
pub(crate) use super::harness::{DISTINCT_BYTES, stream::RawStream};

/// Round trips each percentile report is taken over.
pub(crate) const SAMPLES: usize = 2_000;

/// Round trips run and forgotten before the percentiles are taken (the
/// stream's buffers fill and grow meanwhile).
pub(crate) const WARM_UP: usize = 300;

/// How long a reader or echo thread blocks before it looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Distinct RGB frames of `width`×`height`, [`DISTINCT_BYTES`] or more in all.
pub(crate) fn frames(width: u32, height: u32) -> Vec<Image> {
    super::harness::image_frames(width, height).expect("bench frame geometry")
}

/// A host on a free loopback port that relays its clients' messages as `relay` says.
pub(crate) fn host(relay: Relay) -> Host {
    Host::builder()
        .addr("127.0.0.1:0")
        .relay(relay)
        .write_timeout(TIMEOUT)
        .start()
        .expect("start the bench host")
}

/// A client named `name`; `chunked: false` sends images as plain FIFO frames.
pub(crate) fn client(host: &Host, name: &str, chunked: bool) -> Client {
    Client::builder()
        .addr(host.local_addr().to_string())
        .name(name)
        .write_timeout(TIMEOUT)
        .image_chunk(chunked.then_some(socketengine::protocol::DEFAULT_CHUNK))
        .connect()
        .expect("connect a bench client")
}

/// A camera thread: `camera` sends `frames` (cycling) to its host with locked
/// `Image` writes, flat out, counting each in `sent`, until `stop`. A failed
/// write panics with both sides' events.
pub(crate) fn camera(
    host: &Host,
    camera: &Client,
    frames: Vec<Image>,
    sent: &Arc<Counter>,
    stop: &Arc<AtomicBool>,
) -> JoinHandle<()> {
    let (host, camera) = (host.clone(), camera.clone());
    let (sent, stop) = (Arc::clone(sent), Arc::clone(stop));
    let spawned = spawn("camera", move || {
        for f in frames.iter().cycle() {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            if let Err(e) = camera.write_lock(IMAGE_CHANNEL, f) {
                let he: Vec<_> = host.events().try_iter().collect();
                let ce: Vec<_> = camera.events().try_iter().collect();
                panic!("stream a frame: {e}; host {he:?}; camera {ce:?}");
            }
            sent.add(1, f.data().len() as u64);
        }
    });
    spawned.expect("spawn the camera")
}

/// A thread draining with `drain` into `counter` until `stop`.
pub(crate) fn reader(
    name: &str,
    drain: impl Fn() -> Vec<Message> + Send + 'static,
    counter: &Arc<Counter>,
    stop: &Arc<AtomicBool>,
) -> JoinHandle<()> {
    let (counter, stop) = (Arc::clone(counter), Arc::clone(stop));
    let spawned = spawn(name, move || {
        while !stop.load(Ordering::Relaxed) {
            let msgs = drain();
            let bytes: usize = msgs.iter().map(|m| m.payload().len()).sum();
            counter.add(msgs.len() as u64, bytes as u64);
        }
    });
    spawned.expect("spawn a bench reader")
}

/// An echo thread on `host` until `stop`: it waits for pings in
/// `get_all_timeout` (which parks at once, as a `Subscription` does), hands
/// the newest of a batch to `seen`, and answers it to its sender on `pong`
/// with `host.to(id).write_lock`.
pub(crate) fn echo(
    host: &Host,
    stop: &Arc<AtomicBool>,
    seen: impl Fn(&Message) + Send + 'static,
) -> JoinHandle<()> {
    let (host, stop) = (host.clone(), Arc::clone(stop));
    let spawned = spawn("engine-echo", move || {
        while !stop.load(Ordering::Relaxed) {
            let pings = host.get_all_timeout("ping", STOP_POLL);
            let Some(ping) = pings.into_iter().last() else {
                continue;
            };
            seen(&ping);
            let payload = ping.payload().clone();
            host.to(ping.from())
                .write_lock("pong", payload)
                .expect("echo the ping");
        }
    });
    spawned.expect("spawn the echo thread")
}

/// The round-trip time at quantile `q` of `sorted`, or zero if it is empty.
pub(crate) fn at(sorted: &[Duration], q: f64) -> Duration {
    let Some(last) = sorted.len().checked_sub(1) else {
        return Duration::ZERO;
    };
    sorted[(last as f64 * q).round() as usize]
}

/// p50, p99, p99.9 and max of [`SAMPLES`] round trips.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Percentiles {
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) p999: Duration,
    pub(crate) max: Duration,
}

impl Percentiles {
    /// Times [`SAMPLES`] calls of `round_trip`, each returning its own time.
    pub(crate) fn measure(round_trip: impl FnMut() -> Duration) -> Percentiles {
        let mut rtt: Vec<Duration> = std::iter::repeat_with(round_trip).take(SAMPLES).collect();
        rtt.sort_unstable();
        Percentiles {
            p50: at(&rtt, 0.5),
            p99: at(&rtt, 0.99),
            p999: at(&rtt, 0.999),
            max: at(&rtt, 1.0),
        }
    }
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {:.1?}, p99 {:.1?}, p99.9 {:.1?}, max {:.1?}",
            self.p50, self.p99, self.p999, self.max
        )
    }
}
