//! Whether a peer reads what is written to it: the loop's checks for slow
//! consumers look at how far the peer's data (frames and image chunks, not
//! the urgent pings, pongs and acknowledgements, which a peer that reads
//! nothing still makes go out while the kernel has room) has been written.

use std::time::{Duration, Instant};

/// A peer's progress through the data written to it.
#[derive(Debug, Default)]
pub(super) struct Drain {
    /// Where, in the stream's bytes, the last data taken to write ends.
    data_end: u64,
    stall: Option<Stall>,
}

/// Data waiting with none written since a check saw it.
#[derive(Debug, Clone, Copy)]
struct Stall {
    /// Data bytes written when it was seen.
    progress: u64,
    since: Instant,
    /// Whether a later check saw no progress either: the peer reads nothing.
    confirmed: bool,
}

impl Drain {
    /// Records that data up to byte `end` of the stream was taken to write.
    pub(super) fn data_until(&mut self, end: u64) {
        self.data_end = end;
    }

    /// Whether data taken to write is not all written, `written` bytes being.
    pub(super) fn in_flight(&self, written: u64) -> bool {
        written < self.data_end
    }

    /// Data bytes written, `written` bytes of the stream being (the urgent
    /// frames behind the last data do not count).
    fn progress(&self, written: u64) -> u64 {
        written.min(self.data_end)
    }

    /// After bytes were written: any data byte ends a stall.
    pub(super) fn on_written(&mut self, written: u64) {
        let progress = self.progress(written);
        if self.stall.is_some_and(|s| progress > s.progress) {
            self.stall = None;
        }
    }

    /// A check at `now`: how long data has waited (`waiting`) with none
    /// written, as the checks saw it; zero when none waits or some was
    /// written since the last check, which starts the count again.
    pub(super) fn check(&mut self, waiting: bool, written: u64, now: Instant) -> Duration {
        let progress = self.progress(written);
        match &mut self.stall {
            _ if !waiting => self.stall = None,
            Some(stall) if stall.progress == progress => {
                stall.confirmed = true;
                return now.saturating_duration_since(stall.since);
            }
            stall => {
                *stall = Some(Stall {
                    progress,
                    since: now,
                    confirmed: false,
                });
            }
        }
        Duration::ZERO
    }

    /// Whether two checks in a row saw data waiting and none written.
    pub(super) fn is_stalled(&self) -> bool {
        self.stall.is_some_and(|s| s.confirmed)
    }

    /// A new connection, `written` bytes into the stream: nothing waits.
    pub(super) fn reset(&mut self, written: u64) {
        *self = Drain {
            data_end: written,
            stall: None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_is_data_waiting_unwritten_across_checks_and_urgent_bytes_do_not_end_it() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut drain = Drain::default();
        drain.data_until(100);
        assert_eq!(drain.check(true, 40, at(0)), Duration::ZERO, "first seen");
        assert!(!drain.is_stalled());
        assert_eq!(drain.check(true, 40, at(10)), Duration::from_millis(10));
        assert!(drain.is_stalled());
        drain.on_written(40);
        assert!(drain.is_stalled(), "nothing new written");
        drain.on_written(41);
        assert!(!drain.is_stalled(), "one data byte ends it");
        // All data out; urgent frames behind it (bytes 100..130) go out too.
        drain.on_written(100);
        assert_eq!(drain.check(true, 100, at(20)), Duration::ZERO);
        assert_eq!(
            drain.check(true, 130, at(30)),
            Duration::from_millis(10),
            "pongs are no progress"
        );
        assert_eq!(
            drain.check(false, 130, at(40)),
            Duration::ZERO,
            "nothing waits"
        );
        assert!(!drain.is_stalled());
        drain.reset(500);
        assert!(!drain.in_flight(500));
    }
}
