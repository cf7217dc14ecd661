//! Clock helpers shared by the layers that may read a clock (not `protocol`).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The instant `timeout` from now, or `None` when that is too far to represent:
/// a `Duration::MAX` timeout waits forever.
pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// The wall clock in nanoseconds since the Unix epoch (0 if it reads earlier).
pub(crate) fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
