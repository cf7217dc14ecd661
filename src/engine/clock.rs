//! A handle's clock: its readings (the system's, shifted by a test's skew)
//! and, on a client, its estimate of the host's clock
//! ([`ClockSync`](crate::protocol::ClockSync)), fed by the loop: the
//! welcome's exchange, the quick pings after it and the heartbeat's pings.

use parking_lot::Mutex;

use crate::protocol::{ClockSample, ClockSync, Estimate};
use crate::time::unix_ns;

/// A handle's clock, in [`Shared`](super::Shared).
#[derive(Debug)]
pub(crate) struct HandleClock {
    /// Added to every reading of the system clock: 0 except in tests
    /// (`ClientBuilder::clock_skew`), which play a client on another clock.
    skew_ns: i64,
    /// Written by the loop (welcome, pings, pongs), read by any thread that
    /// asks the time or stamps a write: a mutex held for a few comparisons.
    state: Mutex<State>,
}

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
        let _ = state.sync.on_pong(ping_sent_ns, host_ns, now);
        state.sync.take_quick()
    }

    /// A client's estimate now; `None` before its first exchange.
    pub(crate) fn estimate(&self) -> Option<Estimate> {
        let now = self.now_ns();
        self.state.lock().sync.estimate(now)
    }

    /// `local_ns` on the host's clock by a client's estimate (as it is
    /// without one).
    pub(crate) fn to_host_ns(&self, local_ns: u64) -> u64 {
        self.estimate()
            .map_or(local_ns, |estimate| estimate.to_host_ns(local_ns))
    }

    /// The host's clock now by a client's estimate; `None` before one.
    pub(crate) fn host_now_ns(&self) -> Option<u64> {
        let now = self.now_ns();
        let estimate = self.state.lock().sync.estimate(now)?;
        Some(estimate.to_host_ns(now))
    }
}
