//! A client's reconnection schedule: capped exponential backoff with jitter.

use std::time::{Duration, Instant};

/// The delays between a client's reconnection attempts.
#[derive(Debug)]
pub(crate) struct Reconnect {
    min: Duration,
    max: Duration,
    /// The delay before the next attempt, before jitter.
    backoff: Duration,
    /// Attempts since the connection was lost.
    pub(crate) attempts: u32,
    /// When the current connection opened, if one is open.
    up_since: Option<Instant>,
    /// State of a small xorshift generator for the jitter.
    seed: u64,
}

impl Reconnect {
    /// A schedule whose delays grow from `min` to at most `max`; `seed` varies
    /// the jitter between clients.
    pub(crate) fn new(min: Duration, max: Duration, seed: u64) -> Self {
        let seed = std::process::id() as u64 ^ seed ^ 0x9e37_79b9_7f4a_7c15;
        Reconnect {
            min,
            max: max.max(min),
            backoff: min,
            attempts: 0,
            up_since: None,
            seed,
        }
    }

    /// Counts the next attempt after a loss or a failed attempt at `now`;
    /// returns the delay before it.
    ///
    /// The delay is the backoff scaled by a random factor in [0.5, 1.0], so that
    /// clients cut off together do not all come back in the same instant. A
    /// connection that lasted at least the longest delay starts the backoff
    /// again from the shortest; one lost sooner (a host that kicks the
    /// client on every arrival, or drops it at once) does not, so a client
    /// that keeps being turned away comes back ever more slowly.
    pub(crate) fn next_delay(&mut self, now: Instant) -> Duration {
        if let Some(up) = self.up_since.take() {
            if now.saturating_duration_since(up) >= self.max {
                self.backoff = self.min;
            }
        }
        self.attempts += 1;
        let delay = self.backoff.mul_f64(0.5 + 0.5 * self.random());
        self.backoff = (self.backoff * 2).min(self.max);
        delay
    }

    /// The connection is back at `now`: attempts count from one again, and
    /// the backoff from the shortest delay once it has lasted (see
    /// [`next_delay`](Self::next_delay)).
    pub(crate) fn succeeded(&mut self, now: Instant) {
        self.attempts = 0;
        self.up_since = Some(now);
    }

    /// A number in [0, 1).
    fn random(&mut self) -> f64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        (self.seed >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter_and_reset_after_a_lasting_connection() {
        let (min, max) = (Duration::from_millis(100), Duration::from_millis(800));
        let mut r = Reconnect::new(min, max, 9);
        let now = Instant::now();
        let bases = [100, 200, 400, 800, 800, 800];
        for (i, base) in bases.into_iter().enumerate() {
            let delay = r.next_delay(now);
            let base = Duration::from_millis(base);
            assert!(
                delay >= base / 2 && delay <= base,
                "attempt {i}: {delay:?} for {base:?}"
            );
        }
        assert_eq!(r.attempts, 6);
        r.succeeded(now);
        assert!(r.next_delay(now + max) <= min);
        assert_eq!(r.attempts, 1);
    }

    #[test]
    fn connections_lost_at_once_keep_the_backoff_growing() {
        let (min, max) = (Duration::from_millis(100), Duration::from_millis(800));
        let mut r = Reconnect::new(min, max, 9);
        let mut now = Instant::now();
        // Admitted after each delay, then turned away 10 ms later.
        let bases = [100, 200, 400, 800, 800];
        for (i, base) in bases.into_iter().enumerate() {
            let delay = r.next_delay(now);
            let base = Duration::from_millis(base);
            assert!(
                delay >= base / 2 && delay <= base,
                "round {i}: {delay:?} for {base:?}"
            );
            assert_eq!(r.attempts, 1, "each loss counts attempts from one");
            now += delay;
            r.succeeded(now);
            now += Duration::from_millis(10);
        }
    }
}
