//! A client's reconnection schedule: capped exponential backoff with jitter.

use std::time::Duration;

/// The delays between a client's reconnection attempts.
#[derive(Debug)]
pub(crate) struct Reconnect {
    min: Duration,
    max: Duration,
    /// The delay before the next attempt, before jitter.
    backoff: Duration,
    /// Attempts since the connection was lost.
    pub(crate) attempts: u32,
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
            seed,
        }
    }

    /// Counts the next attempt after a loss or a failed attempt; returns the
    /// delay before it.
    ///
    /// The delay is the backoff scaled by a random factor in [0.5, 1.0], so that
    /// clients cut off together do not all come back in the same instant.
    pub(crate) fn next_delay(&mut self) -> Duration {
        self.attempts += 1;
        let delay = self.backoff.mul_f64(0.5 + 0.5 * self.random());
        self.backoff = (self.backoff * 2).min(self.max);
        delay
    }

    /// The connection is back: the next loss starts from the shortest delay.
    pub(crate) fn succeeded(&mut self) {
        self.backoff = self.min;
        self.attempts = 0;
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
    fn delays_double_up_to_the_cap_with_jitter_and_reset_on_success() {
        let (min, max) = (Duration::from_millis(100), Duration::from_millis(800));
        let mut r = Reconnect::new(min, max, 9);
        let bases = [100, 200, 400, 800, 800, 800];
        for (i, base) in bases.into_iter().enumerate() {
            let delay = r.next_delay();
            let base = Duration::from_millis(base);
            assert!(
                delay >= base / 2 && delay <= base,
                "attempt {i}: {delay:?} for {base:?}"
            );
        }
        assert_eq!(r.attempts, 6);
        r.succeeded();
        assert!(r.next_delay() <= min);
    }
}
