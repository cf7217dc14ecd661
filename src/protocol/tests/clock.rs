//! The clock filter and a connection's synchronisation, by table: exchanges
//! made with times passed in, what the estimate says, and which exchanges
//! are rejected without moving it.

use proptest::prelude::*;

use super::super::{
    CLOCK_SAMPLES, ClockFilter, ClockSample, ClockSync, DRIFT_PPM, Estimate, MAX_RTT_NS,
    QUICK_PINGS, Rejected, STEP_SAMPLES,
};

/// A local time in 2023, far from either end of the range.
const T0: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000 * MS;

/// An exchange starting at local `sent`, with a host `offset` ns ahead,
/// taking `out` ns to the host and `back` ns back.
fn exchange(sent: u64, offset: i64, out: u64, back: u64) -> ClockSample {
    let host = (i128::from(sent + out) + i128::from(offset)) as u64;
    ClockSample {
        sent_ns: sent,
        host_ns: host,
        received_ns: sent + out + back,
    }
}

fn filter_of(samples: &[ClockSample]) -> ClockFilter {
    let mut filter = ClockFilter::default();
    for s in samples {
        filter.add(*s).unwrap();
    }
    filter
}

fn offset_at(filter: &ClockFilter, now: u64) -> (i64, u64) {
    let e = filter.estimate(now).unwrap();
    (e.offset_ns, e.uncertainty_ns)
}

#[test]
fn estimates_by_table() {
    let five = 5 * SECOND as i64;
    // (what, exchanges, now, offset, uncertainty)
    let table: [(&str, Vec<ClockSample>, u64, i64, u64); 6] = [
        (
            "symmetric: the offset exactly, half the round trip",
            vec![exchange(T0, five, 100_000, 100_000)],
            T0 + 200_000,
            five,
            100_000,
        ),
        (
            "behind: a negative offset",
            vec![exchange(T0, -five, 50_000, 50_000)],
            T0 + 100_000,
            -five,
            50_000,
        ),
        (
            "asymmetric: off by half the difference, within the bound",
            vec![exchange(T0, five, 300_000, 100_000)],
            T0 + 400_000,
            five + 100_000,
            200_000,
        ),
        (
            "the smallest round trip wins",
            vec![
                exchange(T0, five, 2 * MS, 2 * MS),
                exchange(T0 + 10 * MS, five, 100_000, 100_000),
                exchange(T0 + 20 * MS, five, 400_000, MS),
            ],
            T0 + 30 * MS,
            five,
            100_000 + (30 * MS - 10 * MS - 200_000) * DRIFT_PPM / 1_000_000,
        ),
        (
            "an old tight exchange loses to a new one once drift widens it",
            vec![
                exchange(T0, five, 50_000, 50_000),
                exchange(T0 + 10 * SECOND, five + 1_000, 200_000, 200_000),
            ],
            T0 + 10 * SECOND + 400_000,
            five + 1_000,
            200_000,
        ),
        (
            "a clock drift allowance grows with age",
            vec![exchange(T0, five, 100_000, 100_000)],
            T0 + 200_000 + 60 * SECOND,
            five,
            100_000 + 60 * SECOND * DRIFT_PPM / 1_000_000,
        ),
    ];
    for (what, samples, now, offset, uncertainty) in table {
        let filter = filter_of(&samples);
        assert_eq!(offset_at(&filter, now), (offset, uncertainty), "{what}");
    }
}

#[test]
fn estimate_reports_its_exchange() {
    let filter = filter_of(&[
        exchange(T0, 7, 1_000, 1_000),
        exchange(T0 + MS, 7, 500, 500),
    ]);
    let estimate = filter.estimate(T0 + 2 * MS).unwrap();
    let expected = Estimate {
        offset_ns: 7,
        rtt_ns: 1_000,
        uncertainty_ns: 500 + (MS - 1_000) * DRIFT_PPM / 1_000_000,
        samples: 2,
        age_ns: MS - 1_000,
        rejected: 0,
    };
    assert_eq!(estimate, expected);
    assert_eq!(ClockFilter::default().estimate(T0), None);
}

#[test]
fn absurd_exchanges_are_rejected_and_leave_the_estimate() {
    let five = 5 * SECOND as i64;
    let good = exchange(T0, five, 100_000, 100_000);
    let at = T0 + SECOND;
    let later = exchange(at, five, 100_000, 100_000);
    let host_now = later.host_ns;
    let table: [(&str, ClockSample, Rejected); 8] = [
        (
            "host clock zero",
            ClockSample {
                host_ns: 0,
                ..later
            },
            Rejected::HostClockZero,
        ),
        (
            "answer before the question",
            ClockSample {
                received_ns: at - 1,
                ..later
            },
            Rejected::Backwards,
        ),
        (
            "a round trip over the maximum",
            ClockSample {
                received_ns: at + MAX_RTT_NS + 1,
                ..later
            },
            Rejected::SlowRoundTrip(MAX_RTT_NS + 1),
        ),
        (
            "host clock at the end of time",
            ClockSample {
                host_ns: u64::MAX,
                ..later
            },
            Rejected::OutOfRange,
        ),
        (
            "far future: an hour ahead of the estimate",
            ClockSample {
                host_ns: host_now + 3_600 * SECOND,
                ..later
            },
            Rejected::Inconsistent,
        ),
        (
            "far past: 1970",
            ClockSample {
                host_ns: 1,
                ..later
            },
            Rejected::Inconsistent,
        ),
        (
            "the host answered before the ping left",
            ClockSample {
                host_ns: host_now - 100_000 - 10 * MS,
                ..later
            },
            Rejected::Inconsistent,
        ),
        (
            "the host answered after the pong arrived",
            ClockSample {
                host_ns: host_now + 100_000 + 10 * MS,
                ..later
            },
            Rejected::Inconsistent,
        ),
    ];
    for (what, sample, why) in table {
        let mut filter = filter_of(&[good]);
        let before = filter.estimate(at + 200_000).unwrap();
        assert_eq!(filter.add(sample), Err(why), "{what}");
        let after = filter.estimate(at + 200_000).unwrap();
        assert_eq!(
            after,
            Estimate {
                rejected: 1,
                ..before
            },
            "{what}: estimate moved"
        );
    }
}

#[test]
fn an_empty_filter_takes_any_sound_exchange() {
    let mut filter = ClockFilter::default();
    // Fifty years behind: a client whose clock was never set.
    let far = -50 * 365 * 86_400 * SECOND as i64;
    filter.add(exchange(T0, far, 1_000, 1_000)).unwrap();
    assert_eq!(offset_at(&filter, T0 + 2_000), (far, 1_000));
}

#[test]
fn offsets_are_checked_to_have_a_negation() {
    // An offset of exactly i64::MIN (the host at 1 ns, the client 2^63 ns
    // later) has no negation, and is what a handle uses for "no estimate":
    // rejected. One nanosecond less far is the farthest taken.
    let min = 1u64 << 63;
    let at = |received: u64| ClockSample {
        sent_ns: received,
        host_ns: 1,
        received_ns: received,
    };
    let table = [
        ("offset i64::MIN", at(min + 1), Err(Rejected::OutOfRange)),
        ("offset -i64::MAX", at(min), Ok(())),
        (
            "offset i64::MAX",
            ClockSample {
                host_ns: u64::MAX >> 1,
                ..at(0)
            },
            Ok(()),
        ),
    ];
    for (what, sample, want) in table {
        assert_eq!(sample.check(), want, "{what}");
    }
    let mut filter = ClockFilter::default();
    filter.add(at(min)).unwrap();
    assert_eq!(filter.estimate(min).unwrap().offset_ns, -i64::MAX);
}

#[test]
fn the_filter_keeps_the_last_exchanges() {
    let samples: Vec<_> = (0..CLOCK_SAMPLES as u64 + 3)
        .map(|i| exchange(T0 + i * MS, 3, 10_000 + i * 1_000, 10_000))
        .collect();
    let filter = filter_of(&samples);
    let estimate = filter.estimate(T0 + 20 * MS).unwrap();
    assert_eq!(estimate.samples, CLOCK_SAMPLES);
    // The tightest exchange, the first, is gone: the tightest kept is the
    // first of the last eight.
    assert_eq!(estimate.rtt_ns, 23_000);
}

#[test]
fn a_stepped_clock_is_followed_once_enough_exchanges_agree() {
    let five = 5 * SECOND as i64;
    let stepped = five + 2 * SECOND as i64;
    let mut filter = filter_of(&[exchange(T0, five, 100_000, 100_000)]);
    for i in 1..STEP_SAMPLES as u64 {
        let s = exchange(T0 + i * SECOND, stepped, 100_000, 100_000);
        assert_eq!(filter.add(s), Err(Rejected::Inconsistent), "suspect {i}");
        assert_eq!(offset_at(&filter, T0 + i * SECOND).0, five);
    }
    let last = exchange(T0 + STEP_SAMPLES as u64 * SECOND, stepped, 100_000, 100_000);
    assert_eq!(filter.add(last), Ok(()));
    let estimate = filter.estimate(last.received_ns).unwrap();
    assert_eq!(
        (estimate.offset_ns, estimate.samples),
        (stepped, STEP_SAMPLES)
    );
}

#[test]
fn disagreeing_outliers_never_replace_the_estimate() {
    let five = 5 * SECOND as i64;
    let mut filter = filter_of(&[exchange(T0, five, 100_000, 100_000)]);
    for i in 1..=4 * STEP_SAMPLES as u64 {
        // Each one hour further off than the last: no two agree.
        let wild = five + (i as i64) * 3_600 * SECOND as i64;
        let s = exchange(T0 + i * MS, wild, 100_000, 100_000);
        assert_eq!(filter.add(s), Err(Rejected::Inconsistent));
    }
    let estimate = filter.estimate(T0 + SECOND).unwrap();
    assert_eq!((estimate.offset_ns, estimate.samples), (five, 1));
    assert_eq!(estimate.rejected, 4 * STEP_SAMPLES as u64);
}

#[test]
fn a_good_exchange_between_outliers_clears_the_suspects() {
    let five = 5 * SECOND as i64;
    let stepped = five + SECOND as i64;
    let mut filter = filter_of(&[exchange(T0, five, 100_000, 100_000)]);
    for round in 0..3u64 {
        let base = T0 + round * 10 * MS;
        for i in 1..STEP_SAMPLES as u64 {
            let s = exchange(base + i * MS, stepped, 100_000, 100_000);
            assert_eq!(filter.add(s), Err(Rejected::Inconsistent));
        }
        filter
            .add(exchange(base + 5 * MS, five, 100_000, 100_000))
            .unwrap();
    }
    assert_eq!(offset_at(&filter, T0 + SECOND).0, five);
}

#[test]
fn sync_matches_pongs_to_its_pings() {
    let mut sync = ClockSync::default();
    let welcome = exchange(T0, 42, MS, MS);
    sync.restart(welcome);
    assert_eq!(sync.estimate(T0 + 2 * MS).unwrap().offset_ns, 42);
    let (a, b) = (T0 + 3 * MS, T0 + 4 * MS);
    sync.ping_sent(a);
    sync.ping_sent(b);
    // Out of order is fine; twice, or never asked, is not.
    let pong = |sent: u64| (sent, exchange(sent, 42, 1_000, 1_000));
    for (sent, s) in [pong(b), pong(a)] {
        assert_eq!(sync.on_pong(sent, s.host_ns, s.received_ns), Ok(()));
    }
    let (_, again) = pong(a);
    let unsolicited = sync.on_pong(a, again.host_ns, again.received_ns);
    assert_eq!(unsolicited, Err(Rejected::Unsolicited));
    let never = sync.on_pong(T0 + 5 * MS, again.host_ns, again.received_ns);
    assert_eq!(never, Err(Rejected::Unsolicited));
    let estimate = sync.estimate(T0 + 5 * MS).unwrap();
    assert_eq!((estimate.samples, estimate.rejected), (3, 2));
}

#[test]
fn sync_forgets_the_oldest_pings_and_restarts_clean() {
    let mut sync = ClockSync::default();
    sync.restart(exchange(T0, 1, MS, MS));
    let pings: Vec<u64> = (0..9).map(|i| T0 + (3 + i) * MS).collect();
    pings.iter().for_each(|&p| sync.ping_sent(p));
    let s = exchange(pings[0], 1, 1_000, 1_000);
    assert_eq!(
        sync.on_pong(pings[0], s.host_ns, s.received_ns),
        Err(Rejected::Unsolicited),
        "the ninth ping pushed the first out"
    );
    let s = exchange(pings[1], 1, 1_000, 1_000);
    assert_eq!(sync.on_pong(pings[1], s.host_ns, s.received_ns), Ok(()));

    // A new connection: nothing of the old one counts.
    sync.restart(ClockSample {
        host_ns: 0,
        ..exchange(T0 + SECOND, 1, MS, MS)
    });
    assert_eq!(
        sync.estimate(T0 + SECOND),
        None,
        "a welcome without a clock"
    );
    let s = exchange(pings[2], 1, 1_000, 1_000);
    let stale = sync.on_pong(pings[2], s.host_ns, s.received_ns);
    assert_eq!(stale, Err(Rejected::Unsolicited));
}

#[test]
fn sync_plans_quick_pings_after_each_welcome() {
    let mut sync = ClockSync::default();
    assert!(!sync.take_quick(), "none before a welcome");
    for _ in 0..2 {
        sync.restart(exchange(T0, 0, MS, MS));
        let quick = (0..QUICK_PINGS + 3).filter(|_| sync.take_quick()).count();
        assert_eq!(quick, usize::from(QUICK_PINGS));
    }
}

proptest! {
    /// Whatever the skew and the delays each way, the estimate is within its
    /// stated uncertainty of the true offset, and a later exchange fits it.
    #[test]
    fn the_true_offset_lies_within_the_uncertainty(
        offset in -(T0 as i64 / 2)..(1i64 << 62),
        delays in proptest::collection::vec((0..50 * MS, 0..50 * MS, 0..5 * SECOND), 1..12),
    ) {
        let mut filter = ClockFilter::default();
        let mut now = T0;
        for (out, back, gap) in delays {
            let s = exchange(now, offset, out, back);
            prop_assert_eq!(filter.add(s), Ok(()));
            now = s.received_ns + gap;
            let e = filter.estimate(now).unwrap();
            let error = (i128::from(e.offset_ns) - i128::from(offset)).unsigned_abs();
            prop_assert!(error <= u128::from(e.uncertainty_ns), "{error} > {}", e.uncertainty_ns);
        }
    }
}
