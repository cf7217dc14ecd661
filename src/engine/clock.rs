//! A handle's clock: its readings (the system's, shifted by a test's skew)
//! and, on a client, its estimate of the host's clock
//! ([`ClockSync`](crate::protocol::ClockSync)), fed by the loop: the
//! welcome's exchange, the quick pings after it and the heartbeat's pings.

use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;

use crate::protocol::{ClockSample, ClockSync, Estimate};
use crate::time::unix_ns;

/// A handle's clock, in [`Shared`](super::Shared).
#[derive(Debug)]
pub(crate) struct HandleClock {
    /// Added to every reading of the system clock: 0 except in tests
    /// (`ClientBuilder::test_clock_skew`), which play a client on another clock.
    skew_ns: i64,
    /// Written by the loop (welcome, pings, pongs), read by any thread that
    /// asks for the estimate: a mutex held for a few comparisons.
    state: Mutex<State>,
    /// The correction to the host's clock (`Estimate::correction_ns`) as of
    /// the last exchange, or [`NO_ESTIMATE`]: what stamping a write and
    /// converting a time read, one atomic load instead of the mutex and
    /// the filter (measured in `docs/PERFORMANCE.md`).
    correction_ns: AtomicI64,
}

/// [`HandleClock::correction_ns`] before the first exchange: a correction
/// no filter gives, as a sample whose offset could be `i64::MIN` is
/// rejected (`ClockSample::check`, `Rejected::OutOfRange`).
const NO_ESTIMATE: i64 = i64::MIN;

#[derive(Debug, Default)]
struct State {
    sync: ClockSync,
    /// The local time the last hello left, for the welcome's exchange.
    hello_sent_ns: u64,
}

impl HandleClock {
    pub(crate) fn new(skew_ns: i64) -> HandleClock {
        HandleClock {
            skew_ns,
            state: Mutex::default(),
            correction_ns: AtomicI64::new(NO_ESTIMATE),
        }
    }

    /// This handle's clock now, in nanoseconds since the Unix epoch.
    pub(crate) fn now_ns(&self) -> u64 {
        unix_ns().saturating_add_signed(self.skew_ns)
    }

    /// A client's hello is leaving now.
    pub(crate) fn hello_sent(&self) {
        let now = self.now_ns();
        self.state.lock().hello_sent_ns = now;
    }

    /// A client's welcome came with the host's clock `host_ns`: the
    /// estimate starts over from this exchange. Returns whether to ping at
    /// once (the first quick ping).
    pub(crate) fn welcomed(&self, host_ns: u64) -> bool {
        let now = self.now_ns();
        let mut state = self.state.lock();
        let sample = ClockSample {
            sent_ns: state.hello_sent_ns,
            host_ns,
            received_ns: now,
        };
        state.sync.restart(sample);
        self.update(&state, now);
        state.sync.take_quick()
    }

    /// The time for a client's ping leaving now, noted to match its pong.
    pub(crate) fn ping_time(&self) -> u64 {
        let now = self.now_ns();
        self.state.lock().sync.ping_sent(now);
        now
    }

    /// A pong came to a client's ping of `ping_sent_ns`, with the host's
    /// clock `host_ns`. Returns whether to ping again at once (a quick ping).
    pub(crate) fn pong(&self, ping_sent_ns: u64, host_ns: u64) -> bool {
        let now = self.now_ns();
        let mut state = self.state.lock();
        // A rejected pong leaves the estimate as it was; the estimate counts it.
        if state.sync.on_pong(ping_sent_ns, host_ns, now).is_ok() {
            self.update(&state, now);
        }
        state.sync.take_quick()
    }

    /// Caches the correction of the estimate at `now`.
    fn update(&self, state: &State, now: u64) {
        let correction = state
            .sync
            .estimate(now)
            .map_or(NO_ESTIMATE, |e| e.correction_ns());
        self.correction_ns.store(correction, Ordering::Release);
    }

    /// A client's estimate now; `None` before its first exchange.
    pub(crate) fn estimate(&self) -> Option<Estimate> {
        let now = self.now_ns();
        self.state.lock().sync.estimate(now)
    }

    /// `local_ns` on the host's clock by a client's estimate as of its
    /// last exchange (as it is without one; 0, no time, stays 0).
    pub(crate) fn to_host_ns(&self, local_ns: u64) -> u64 {
        match self.correction() {
            Some(correction) if local_ns != 0 => local_ns.saturating_add_signed(correction),
            _ => local_ns,
        }
    }

    /// The host's clock now by a client's estimate as of its last
    /// exchange; `None` before one.
    pub(crate) fn host_now_ns(&self) -> Option<u64> {
        let correction = self.correction()?;
        Some(self.now_ns().saturating_add_signed(correction))
    }

    fn correction(&self) -> Option<i64> {
        match self.correction_ns.load(Ordering::Acquire) {
            NO_ESTIMATE => None,
            correction => Some(correction),
        }
    }
}
