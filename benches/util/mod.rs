//! Pieces shared by the throughput bench: a received-message counter, bounded
//! waits and joins, and sets of distinct payload buffers.
//!
//! Every wait here is bounded by [`TIMEOUT`] and panics with a message naming what
//! it waited for, so a lost message or a stalled thread fails the bench instead of
//! hanging it.

pub(crate) mod engine;
pub(crate) mod raw;

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Longest any single wait in the bench may take before it panics.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// How long a polling reader, or a waiter, sleeps when it finds nothing new. The
/// same for the engine and the baseline, so it costs both the same slack at the
/// end of a timed batch (well under 1 % of a batch).
pub(crate) const POLL_SLEEP: Duration = Duration::from_micros(20);

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

    /// Waits until `target` messages have been received.
    ///
    /// # Panics
    ///
    /// After [`TIMEOUT`], with `what` and `diagnose()` in the message.
    pub(crate) fn wait_for(&self, target: u64, what: &str, diagnose: impl Fn() -> String) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let got = self.messages();
            if got >= target {
                return;
            }
            if Instant::now() > deadline {
                let why = diagnose();
                panic!("{what}: reader got {got} of {target} messages in {TIMEOUT:?}; {why}");
            }
            thread::sleep(POLL_SLEEP);
        }
    }
}

/// Joins `handle`, or panics if the thread has not finished within [`TIMEOUT`].
/// A panic inside the thread is passed on with `what` in the message.
pub(crate) fn join_within<T>(handle: JoinHandle<T>, what: &str) -> T {
    let deadline = Instant::now() + TIMEOUT;
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{what}: thread still running {TIMEOUT:?} after it was told to stop"
        );
        thread::sleep(Duration::from_millis(1));
    }
    match handle.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Runs `f` on a helper thread and waits for it at most [`TIMEOUT`]: for calls
/// that have no timeout of their own, such as closing a host.
pub(crate) fn bounded(what: &str, f: impl FnOnce() + Send + 'static) {
    let handle = thread::Builder::new()
        .name(format!("bench-{what}"))
        .spawn(f)
        .expect("spawn a helper thread");
    join_within(handle, what);
}

/// Few, short samples: each bench runs in a minute or two on two cores.
pub(crate) fn config() -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
}

/// Whether the command line's filter (`cargo bench --bench x -- FILTER`)
/// selects any of the benchmarks `ids` (`group/function`): no filter, a
/// filter that is a part of one (Criterion matches it as a regular
/// expression; one with special characters selects everything here), or with
/// `--exact`, one of them whole. Lets a
/// bench skip the set-up of a group filtered out, and the figures it prints
/// outside Criterion's own measurements.
pub(crate) fn selected(ids: &[&str]) -> bool {
    let mut args = std::env::args().skip(1);
    let (mut filter, mut exact) = (None, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--exact" => exact = true,
            // Criterion's options that take a value (`-s`, `-b`, `-c` are the
            // short forms of three of them).
            "-s"
            | "-b"
            | "-c"
            | "--save-baseline"
            | "--baseline"
            | "--load-baseline"
            | "--profile-time"
            | "--sample-size"
            | "--warm-up-time"
            | "--measurement-time"
            | "--nresamples"
            | "--noise-threshold"
            | "--confidence-level"
            | "--significance-level"
            | "--color"
            | "--output-format"
            | "--plotting-backend"
            | "--format" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            name => filter = Some(name.to_owned()),
        }
    }
    filter.is_none_or(|f| {
        if exact {
            return ids.contains(&f.as_str());
        }
        let plain = !f.contains(|c| "\\.*+?()[]{}|^$".contains(c));
        !plain || ids.iter().any(|id| id.contains(f.as_str()))
    })
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
