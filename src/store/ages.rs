//! Frame ages: how old images were when a reader got them, the newest
//! [`AGES_KEPT`] per channel, for [`ImageStats`](crate::ImageStats).

use std::time::Duration;

use super::Store;

/// Ages kept per channel: the percentiles cover the newest this many reads.
pub(crate) const AGES_KEPT: usize = 1024;

/// A ring of the newest ages, in nanoseconds.
#[derive(Debug, Default)]
pub(crate) struct FrameAges {
    ring: Vec<u64>,
    /// Where the next age goes once the ring is full.
    next: usize,
}

impl FrameAges {
    /// Records one read's age.
    pub(crate) fn record(&mut self, age_ns: u64) {
        if self.ring.len() < AGES_KEPT {
            self.ring.push(age_ns);
            return;
        }
        self.ring[self.next] = age_ns;
        self.next = (self.next + 1) % AGES_KEPT;
    }

    /// The median and 99th percentile of the ages kept; `None` before a read.
    pub(crate) fn percentiles(&self) -> Option<(Duration, Duration)> {
        let mut sorted = self.ring.clone();
        sorted.sort_unstable();
        let last = sorted.len().checked_sub(1)?;
        let at = |q: f64| Duration::from_nanos(sorted[(last as f64 * q).round() as usize]);
        Some((at(0.5), at(0.99)))
    }
}

impl Store {
    /// Records the ages of images a reader got from `channel`, in
    /// nanoseconds.
    pub(crate) fn record_ages(&self, channel: &str, ages: impl IntoIterator<Item = u64>) {
        let Some(slot) = self.existing(channel) else {
            return;
        };
        let mut state = slot.state.lock();
        let kept = state.ages.get_or_insert_with(Box::default);
        ages.into_iter().for_each(|age| kept.record(age));
    }

    /// The median and 99th percentile of the newest ages recorded on
    /// `channel`; `None` before one.
    pub(crate) fn age_percentiles(&self, channel: &str) -> Option<(Duration, Duration)> {
        let slot = self.existing(channel)?;
        let state = slot.state.lock();
        state.ages.as_ref()?.percentiles()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_cover_the_newest_ages() {
        let ms = Duration::from_millis;
        // (ages recorded in order, p50 and p99 after)
        type Percentiles = Option<(Duration, Duration)>;
        let cases: [(Vec<u64>, Percentiles); 4] = [
            (vec![], None),
            (vec![5_000_000], Some((ms(5), ms(5)))),
            (
                (1..=100).map(|i| i * 1_000_000).collect(),
                Some((ms(51), ms(99))),
            ),
            // The oldest are forgotten: only the newest AGES_KEPT count.
            (
                (0..AGES_KEPT as u64)
                    .map(|_| 1_000_000_000)
                    .chain((0..AGES_KEPT as u64).map(|_| 1_000_000))
                    .collect(),
                Some((ms(1), ms(1))),
            ),
        ];
        for (ages, want) in cases {
            let mut kept = FrameAges::default();
            ages.iter().for_each(|&a| kept.record(a));
            assert_eq!(kept.percentiles(), want, "{} ages", ages.len());
        }
    }
}
