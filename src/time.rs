//! Clock helpers shared by the layers that may read a clock (not `protocol`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest a wait lasts: a timeout too long for the clock to represent
/// (`Duration::MAX`) is cut to this, so every wait has a deadline.
const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

/// The instant `timeout` from now; one too far to represent is cut to
/// [`LONGEST_WAIT`] from now (`None` only if even that is, which no clock
/// of ours does).
pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(LONGEST_WAIT))
}

/// The wall clock in nanoseconds since the Unix epoch (0 if it reads earlier).
pub(crate) fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_too_long_to_represent_is_cut_to_the_longest_wait() {
        let before = Instant::now();
        let far = deadline(Duration::MAX).expect("a deadline");
        assert!(far >= before + LONGEST_WAIT && far <= Instant::now() + LONGEST_WAIT);
        let near = deadline(Duration::from_secs(1)).expect("a deadline");
        assert!(near <= Instant::now() + Duration::from_secs(1));
    }
}
