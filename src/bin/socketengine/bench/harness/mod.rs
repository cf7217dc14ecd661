//! The bench harness, one source for `socketengine bench` and the criterion
//! benches (`benches/util/mod.rs` includes this directory with `#[path]`): an
//! engine host and client on loopback ([`engine`]), a raw-TCP baseline with a
//! length prefix ([`raw`]), the reader and echo threads, and the payloads.
//!
//! It measures; its users print. A stream is driven through [`OneWay`] (a
//! criterion bench times its own batches, the CLI calls [`stream_for`]), a
//! ping-pong through [`RoundTrip`]; [`round_trips_for`] hands each round trip
//! to a `record` callback, so the caller keeps samples as it likes.
//!
//! It uses only std, `bytes` and `socketengine`, so it compiles in the binary
//! and in the benches alike. Every wait is bounded by [`TIMEOUT`]; a failure is
//! an `io::Error` naming what failed (the CLI prints it as one line, the benches
//! panic with it).

pub(crate) mod engine;
pub(crate) mod loaded;
pub(crate) mod place;
pub(crate) mod raw;
pub(crate) mod stream;

use std::fmt::Display;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;
use socketengine::{Image, PixelFormat};

/// Longest any single wait may take before it fails.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// How long a waiter sleeps between looks at a counter. The same for the
/// engine and the baseline, so it costs both the same slack at the end of a
/// timed batch.
pub(crate) const POLL_SLEEP: Duration = Duration::from_micros(20);

/// A 1920x1080 RGB frame, in bytes.
pub(crate) const FRAME_1080P: usize = 1920 * 1080 * 3;

/// Least total size of a set of distinct frames, so that a run cycling
/// through them streams from memory, not from the CPU cache.
pub(crate) const DISTINCT_BYTES: usize = 64 << 20;

/// Messages and payload bytes a reader thread has received. Atomics, because the
/// reader adds while the timing thread polls.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl Counter {
    /// Adds one batch of received messages.
    pub(crate) fn add(&self, messages: u64, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.messages.fetch_add(messages, Ordering::Release);
    }

    /// Messages received so far.
    pub(crate) fn messages(&self) -> u64 {
        self.messages.load(Ordering::Acquire)
    }

    /// Payload bytes received so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Waits until `target` messages have been received in all.
    ///
    /// # Errors
    ///
    /// `TimedOut` after [`TIMEOUT`], with `what` and `diagnose()` in the message.
    pub(crate) fn wait_for(
        &self,
        target: u64,
        what: &str,
        diagnose: impl Fn() -> String,
    ) -> io::Result<()> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let got = self.messages();
            if got >= target {
                return Ok(());
            }
            if Instant::now() > deadline {
                let why = diagnose();
                let message = format!("{what}: got {got} of {target} messages in {TIMEOUT:?}");
                return Err(timed_out(match why.is_empty() {
                    true => message,
                    false => format!("{message}; {why}"),
                }));
            }
            thread::sleep(POLL_SLEEP);
        }
    }

    /// What has arrived, as a throughput over `elapsed`.
    pub(crate) fn throughput(&self, elapsed: Duration) -> Throughput {
        Throughput {
            messages: self.messages(),
            bytes: self.bytes(),
            elapsed,
        }
    }
}

/// Messages and bytes moved in a measured time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throughput {
    messages: u64,
    bytes: u64,
    elapsed: Duration,
}

impl Throughput {
    /// Messages per second.
    pub(crate) fn msgs_per_sec(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64()
    }

    /// Payload bytes per second.
    pub(crate) fn bytes_per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64()
    }
}

/// A writer streaming to a reader thread that counts what arrives: the
/// engine's ([`engine::EngineOneWay`]) or the baseline's ([`raw::RawOneWay`]).
pub(crate) trait OneWay {
    /// Sends one payload (it may wait for the reader to catch up).
    fn send(&mut self, payload: &Bytes) -> io::Result<()>;
    /// Hands everything sent so far to the kernel.
    fn flush(&mut self) -> io::Result<()>;
    /// What the reader has received.
    fn received(&self) -> &Counter;
    /// Waits until the reader has received `target` messages in all.
    fn wait_for(&self, target: u64, what: &str) -> io::Result<()>;
}

/// Sends `payloads` (cycling) for `secs`, looking at the clock every
/// `check_every` sends, then waits for the reader to have them all; returns
/// what it received over the whole time.
pub(crate) fn stream_for(
    sender: &mut impl OneWay,
    payloads: &[Bytes],
    check_every: u64,
    secs: Duration,
) -> io::Result<Throughput> {
    let base = sender.received().messages();
    let start = Instant::now();
    let deadline = start + secs;
    let mut sent = 0u64;
    'timed: loop {
        for payload in payloads {
            if sent % check_every == 0 && Instant::now() >= deadline {
                break 'timed;
            }
            sender.send(payload)?;
            sent += 1;
        }
    }
    sender.flush()?;
    sender.wait_for(base + sent, "reader catching up")?;
    Ok(sender.received().throughput(start.elapsed()))
}

/// A ping-pong: the engine's ([`engine::EnginePingPong`]) or the baseline's
/// ([`raw::RawPingPong`]).
pub(crate) trait RoundTrip {
    /// Sends one ping and waits for its pong.
    fn round_trip(&mut self) -> io::Result<()>;
}

/// Runs round trips for `secs`, handing the time of each to `record`.
pub(crate) fn round_trips_for(
    pp: &mut impl RoundTrip,
    secs: Duration,
    mut record: impl FnMut(Duration),
) -> io::Result<()> {
    let deadline = Instant::now() + secs;
    while Instant::now() < deadline {
        let start = Instant::now();
        pp.round_trip()?;
        record(start.elapsed());
    }
    Ok(())
}

/// Starts a thread named `name` running `f`.
pub(crate) fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    thread::Builder::new().name(name.to_owned()).spawn(f)
}

/// Joins `handle` within [`TIMEOUT`] and returns what its thread returned.
///
/// # Errors
///
/// `TimedOut` if the thread is still running after [`TIMEOUT`]; an error naming
/// `what` if it panicked (the panic's own message is already on stderr).
pub(crate) fn join_within<T>(handle: JoinHandle<T>, what: &str) -> io::Result<T> {
    let deadline = Instant::now() + TIMEOUT;
    while !handle.is_finished() {
        if Instant::now() > deadline {
            let message =
                format!("{what}: thread still running {TIMEOUT:?} after it was told to stop");
            return Err(timed_out(message));
        }
        thread::sleep(Duration::from_millis(1));
    }
    handle
        .join()
        .map_err(|_| io::Error::other(format!("{what}: thread panicked")))
}

/// Runs `f` on a helper thread and waits for it at most [`TIMEOUT`]: for calls
/// that have no timeout of their own, such as closing a host.
pub(crate) fn bounded(what: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    join_within(spawn(&format!("bench-{what}"), f)?, what)
}

/// At least eight distinct buffers of `size` bytes, `min_total` bytes or more in
/// all, so that a run cycling through them streams from memory, not from the CPU
/// cache. Every page is written (no zero-page sharing).
pub(crate) fn payload_set(size: usize, min_total: usize) -> Vec<Bytes> {
    let count = min_total.div_ceil(size).max(8);
    (0..count)
        .map(|i| {
            let fill = (i as u8).wrapping_mul(2).wrapping_add(1); // odd, never 0
            Bytes::from(vec![fill; size])
        })
        .collect()
}

/// Distinct RGB images of `width`×`height`, numbered in order,
/// [`DISTINCT_BYTES`] or more in all.
pub(crate) fn image_frames(width: u32, height: u32) -> io::Result<Vec<Image>> {
    let size = width as usize * height as usize * 3;
    payload_set(size, DISTINCT_BYTES)
        .into_iter()
        .enumerate()
        .map(|(i, data)| {
            let image = Image::new(width, height, PixelFormat::Rgb8, data);
            image
                .map(|image| image.with_seq(i as u64))
                .or_fail("bench frame")
        })
        .collect()
}

/// An error of kind `TimedOut` with `message`.
fn timed_out(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, message)
}

/// Puts what was being done in front of an error's message.
pub(crate) trait OrFail<T> {
    /// `Err(e)` becomes an `io::Error` reading "`what`: `e`".
    fn or_fail(self, what: &str) -> io::Result<T>;
}

impl<T, E: Display> OrFail<T> for Result<T, E> {
    fn or_fail(self, what: &str) -> io::Result<T> {
        self.map_err(|e| io::Error::other(format!("{what}: {e}")))
    }
}
