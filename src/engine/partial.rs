//! The partial timeout: frames and images that do not arrive whole in time.
//!
//! A peer can hold memory by starting a frame or an image and finishing it
//! slowly, or never. The loop looks a few times per timeout: an image past it
//! is dropped (its memory given back, the connection kept); a frame past it,
//! a body sent slowly on purpose, closes its connection with
//! [`ErrorKind::FrameTimeout`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Token;

use super::connection::{Conn, State};
use super::event_loop::{EventLoop, FIRST_CONN};
use crate::ErrorKind;

/// Least and most time between two looks for late frames and images.
const CHECK_MIN: Duration = Duration::from_millis(10);
const CHECK_MAX: Duration = Duration::from_secs(1);

/// Time between two looks for frames and images past `timeout`: a quarter of
/// it, within [`CHECK_MIN`] and [`CHECK_MAX`].
fn check_interval(timeout: Duration) -> Duration {
    (timeout / 4).clamp(CHECK_MIN, CHECK_MAX)
}

impl EventLoop {
    /// Sets when to next look for late frames and images.
    pub(super) fn schedule_partial_check(&mut self, now: Instant) {
        let interval = check_interval(self.shared.config.partial_timeout);
        self.next_partial_check = now.checked_add(interval);
    }

    /// Drops the images past the partial timeout and closes the connections
    /// whose frame in progress is past it.
    pub(super) fn expire_partials(&mut self, now: Instant) {
        self.schedule_partial_check(now);
        let shared = Arc::clone(&self.shared);
        let mut late = Vec::new();
        for (index, conn) in self.conns.iter_mut().enumerate() {
            let Some(Conn {
                state: State::Open(open),
                ..
            }) = conn
            else {
                continue;
            };
            if open.expire_partials(now, &shared) {
                late.push(Token(FIRST_CONN + index));
            }
        }
        let timeout = shared.config.partial_timeout;
        for token in late {
            self.close(token, Some(ErrorKind::FrameTimeout(timeout).into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_frames_are_looked_for_a_few_times_per_timeout() {
        let ms = Duration::from_millis;
        // (timeout, interval)
        let table = [
            (ms(0), CHECK_MIN),
            (ms(20), CHECK_MIN),
            (ms(200), ms(50)),
            (Duration::from_secs(2), ms(500)),
            (Duration::from_secs(10), CHECK_MAX),
            (Duration::MAX, CHECK_MAX),
        ];
        for (timeout, interval) in table {
            assert_eq!(check_interval(timeout), interval, "{timeout:?}");
        }
    }
}
