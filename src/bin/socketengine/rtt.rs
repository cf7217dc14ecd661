//! Round-trip times kept in a histogram: constant memory however long the run,
//! percentiles to three significant digits.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Longest time told apart, in nanoseconds (a minute); longer ones count as this.
const HIGHEST_NS: u64 = 60_000_000_000;

/// Significant decimal digits kept: quantiles within 0.1 %.
const DIGITS: u8 = 3;

/// Round-trip times. About 200 KiB whatever the count, where a `Vec` of every
/// sample grew by 16 bytes a round trip (1.4 GB over a day of the demo).
#[derive(Debug, Clone)]
pub(crate) struct Rtts(Histogram<u64>);

impl Default for Rtts {
    fn default() -> Rtts {
        // Fails only for bounds out of order or more than 5 digits: constants.
        let histogram = Histogram::new_with_bounds(1, HIGHEST_NS, DIGITS)
            .expect("the constant bounds are valid");
        Rtts(histogram)
    }
}

impl Rtts {
    /// Counts one round trip (a minute or more counts as a minute).
    pub(crate) fn record(&mut self, rtt: Duration) {
        let ns = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
        self.0.saturating_record(ns.min(HIGHEST_NS));
    }

    /// Round trips counted.
    pub(crate) fn len(&self) -> u64 {
        self.0.len()
    }

    /// The `q` quantile (0.5 the median, 1.0 the maximum); `None` when empty.
    pub(crate) fn quantile(&self, q: f64) -> Option<Duration> {
        match self.0.is_empty() {
            true => None,
            false => Some(Duration::from_nanos(self.0.value_at_quantile(q))),
        }
    }

    /// Adds every round trip of `other`.
    pub(crate) fn add(&mut self, other: &Rtts) {
        // Same bounds on both sides, so every value fits.
        self.0 += &other.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_of_recorded_times_within_a_tenth_of_a_percent() {
        let mut rtts = Rtts::default();
        assert_eq!(rtts.quantile(0.5), None);
        for us in 1..=1000 {
            rtts.record(Duration::from_micros(us));
        }
        assert_eq!(rtts.len(), 1000);
        let near = |q: f64, us: u64| {
            let got = rtts.quantile(q).map(|d| d.as_nanos() as f64);
            let want = us as f64 * 1e3;
            assert!(
                got.is_some_and(|g| (g - want).abs() <= want * 1e-3),
                "{q}: {got:?}"
            );
        };
        near(0.5, 500);
        near(0.99, 990);
        near(1.0, 1000);
    }

    #[test]
    fn add_merges_and_long_times_count_as_the_highest() {
        let mut rtts = Rtts::default();
        rtts.record(Duration::from_millis(2));
        rtts.record(Duration::from_secs(3600));
        let mut all = Rtts::default();
        all.add(&rtts);
        all.add(&rtts);
        assert_eq!(all.len(), 4);
        let max = all.quantile(1.0).unwrap_or_default();
        assert!(
            max >= Duration::from_secs(59),
            "a long one is kept as a minute: {max:?}"
        );
    }
}
