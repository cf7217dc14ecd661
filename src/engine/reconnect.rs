//! A client's reconnection schedule: capped exponential backoff with jitter.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where and how a client reconnects, and when it tries next.
#[derive(Debug)]
pub(crate) struct Reconnect {
    /// The host's address, as resolved for the first connection.
    pub(crate) addr: SocketAddr,
    /// The name the client gives in every hello, so the host knows it again.
    pub(crate) name: String,
    /// How long one attempt (connect, hello, welcome) may take.
    pub(crate) attempt_timeout: Duration,
    min: Duration,
    max: Duration,
    /// The delay before the next attempt, before jitter.
    backoff: Duration,
    /// Attempts since the connection was lost.
    pub(crate) attempts: u32,
    /// When to try next, while waiting between attempts.
    pub(crate) next_try: Option<Instant>,
    /// When the attempt in progress fails, if it has not succeeded.
    pub(crate) attempt_deadline: Option<Instant>,
    /// State of a small xorshift generator for the jitter.
    seed: u64,
}

impl Reconnect {
    /// A schedule whose delays grow from `min` to at most `max`.
    pub(crate) fn new(
        addr: SocketAddr,
        name: String,
        attempt_timeout: Duration,
        min: Duration,
        max: Duration,
    ) -> Self {
        let seed = std::process::id() as u64 ^ u64::from(addr.port()) ^ 0x9e37_79b9_7f4a_7c15;
        Reconnect {
            addr,
            name,
            attempt_timeout,
            min,
            max: max.max(min),
            backoff: min,
            attempts: 0,
            next_try: None,
            attempt_deadline: None,
            seed,
        }
    }

    /// Plans the next attempt after a loss or a failed attempt; returns the delay.
    ///
    /// The delay is the backoff scaled by a random factor in [0.5, 1.0], so that
    /// clients cut off together do not all come back in the same instant.
    pub(crate) fn schedule(&mut self, now: Instant) -> Duration {
        self.attempt_deadline = None;
        self.attempts += 1;
        let delay = self.backoff.mul_f64(0.5 + 0.5 * self.random());
        self.backoff = (self.backoff * 2).min(self.max);
        self.next_try = now.checked_add(delay);
        delay
    }

    /// Starts an attempt now.
    pub(crate) fn start(&mut self, now: Instant) {
        self.next_try = None;
        self.attempt_deadline = now.checked_add(self.attempt_timeout);
    }

    /// The connection is back: the next loss starts from the shortest delay.
    pub(crate) fn succeeded(&mut self) {
        self.backoff = self.min;
        self.attempts = 0;
        self.attempt_deadline = None;
        self.next_try = None;
    }

    /// The earlier of the next try and the attempt deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [self.next_try, self.attempt_deadline]
            .into_iter()
            .flatten()
            .min()
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
        let addr = SocketAddr::from(([127, 0, 0, 1], 9));
        let (min, max) = (Duration::from_millis(100), Duration::from_millis(800));
        let mut r = Reconnect::new(addr, "c".into(), Duration::from_secs(1), min, max);
        let now = Instant::now();
        let bases = [100, 200, 400, 800, 800, 800];
        for (i, base) in bases.into_iter().enumerate() {
            let delay = r.schedule(now);
            let base = Duration::from_millis(base);
            assert!(
                delay >= base / 2 && delay <= base,
                "attempt {i}: {delay:?} for {base:?}"
            );
            assert_eq!(r.next_try, Some(now + delay));
        }
        assert_eq!(r.attempts, 6);
        r.succeeded();
        assert!(r.schedule(now) <= min);
    }
}
