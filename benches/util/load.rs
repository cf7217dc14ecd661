//! What the image and hub benches share: distinct camera frames, reader and
//! echo threads on the engine, round-trip percentiles, and a raw stream of
//! frames (relayed or not) to run a raw ping-pong beside.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use socketengine::{Client, Host, IMAGE_CHANNEL, Image, Message, PixelFormat, Relay};

use super::harness::raw;
use super::harness::{Counter, TIMEOUT, join_within, spawn};

/// Least total size of the distinct frames an iteration cycles through.
pub(crate) const DISTINCT_BYTES: usize = 64 << 20;

/// Round trips each percentile report is taken over.
pub(crate) const SAMPLES: usize = 2_000;

/// Round trips run and forgotten before the percentiles are taken (the
/// stream's buffers fill and grow meanwhile).
pub(crate) const WARM_UP: usize = 300;

/// How long a reader or echo thread blocks before it looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Distinct RGB frames of `width`×`height`, [`DISTINCT_BYTES`] or more in all.
pub(crate) fn frames(width: u32, height: u32) -> Vec<Image> {
    let size = width as usize * height as usize * 3;
    super::harness::payload_set(size, DISTINCT_BYTES)
        .into_iter()
        .enumerate()
        .map(|(i, data)| {
            let image = Image::new(width, height, PixelFormat::Rgb8, data);
            image.expect("bench frame geometry").with_seq(i as u64)
        })
        .collect()
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

/// A raw stream for scale: a writer thread `writev`ing frames flat out
/// (prefix and payload), optionally through a relay thread that copies the
/// bytes on as they come, to a reader thread that reads each frame into one
/// reused buffer and counts it.
pub(crate) struct RawStream {
    /// Shared with the writer thread, which stops once it is set.
    stop: Arc<AtomicBool>,
    /// Shared with the reader thread, which adds to it.
    counter: Arc<Counter>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

/// Bytes the raw relay moves per read.
const RELAY_BUFFER: usize = 1 << 20;

impl RawStream {
    /// Starts streaming `payloads` (cycling); `relayed` puts a relay thread
    /// between writer and reader, as a host between two clients.
    pub(crate) fn start(payloads: Vec<Bytes>, relayed: bool) -> io::Result<RawStream> {
        let stop = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(Counter::default());
        let (near, mut far) = raw::tcp_pair()?;
        let mut threads = Vec::new();
        if relayed {
            let (relay_out, reader_end) = raw::tcp_pair()?;
            threads.push(spawn("raw-relay", move || relay(far, relay_out))?);
            far = reader_end;
        }
        let c = Arc::clone(&counter);
        threads.push(spawn("raw-reader", move || raw::read_large(far, &c))?);
        let s = Arc::clone(&stop);
        threads.push(spawn("raw-camera", move || {
            write_until(near, &payloads, &s)
        })?);
        Ok(RawStream {
            stop,
            counter,
            threads,
        })
    }

    /// Frames the reader has received whole.
    pub(crate) fn received(&self) -> u64 {
        self.counter.messages()
    }

    /// Stops the writer; the relay and reader see end of stream and return.
    pub(crate) fn stop(self) -> io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            join_within(t, "raw stream thread")??;
        }
        Ok(())
    }
}

/// Writes `payloads` (cycling) until `stop`, then closes the writing side.
fn write_until(mut stream: TcpStream, payloads: &[Bytes], stop: &AtomicBool) -> io::Result<()> {
    for payload in payloads.iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let head = raw::prefix(payload.len())?;
        let mut slices = [IoSlice::new(&head), IoSlice::new(payload)];
        raw::write_all_vectored(&mut stream, &mut slices)?;
    }
    stream.shutdown(Shutdown::Write)
}

/// Copies what arrives on `from` to `to` until end of stream, then closes
/// `to`'s writing side.
fn relay(mut from: TcpStream, mut to: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; RELAY_BUFFER];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return to.shutdown(Shutdown::Write),
            Ok(n) => to.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
