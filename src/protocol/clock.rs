//! Clock synchronisation, sans-IO: a client's estimate of its host's clock
//! from the ping/pong exchanges it makes (see the
//! [wire format](super#time)).
//!
//! Every time is passed in, in nanoseconds since the Unix epoch on the clock
//! its name says (`local` the client's, `host` the host's); nothing here reads
//! a clock. An exchange is a [`ClockSample`]: the client's clock when its
//! ping left, the host's clock in the pong, the client's clock when the pong
//! arrived. Causality bounds the offset: the host read its clock after the
//! ping left and before the pong came back, so `host - offset` lies between
//! the two local times, and the midpoint is within half the round trip.
//!
//! [`ClockFilter`] keeps the last [`CLOCK_SAMPLES`] exchanges and answers
//! with the one whose bound is tightest now (half its round trip plus the
//! [drift allowance](DRIFT_PPM) for its age), NTP's clock filter in small.
//! [`ClockSync`] adds what a connection needs around it: the pings awaiting
//! their pongs, and a few quick pings after each welcome.

/// Exchanges the filter keeps: the last this many.
pub const CLOCK_SAMPLES: usize = 8;

/// Pings sent one after another (each on the previous one's pong) after a
/// welcome, so an estimate stands on a few exchanges within a few round
/// trips rather than a few heartbeats.
pub const QUICK_PINGS: u8 = 4;

/// The longest round trip an exchange may take (10 s); a slower one says
/// little and is rejected.
pub const MAX_RTT_NS: u64 = 10_000_000_000;

/// How fast two clocks are allowed to run apart, in parts per million: an
/// exchange's bound widens by 50 µs per second of its age.
pub const DRIFT_PPM: u64 = 50;

/// Slack of the consistency check (1 ms): how far outside the estimate's
/// bounds an exchange may fall and still count (clocks being slewed may run
/// apart faster than the allowance for a while).
pub const CONSISTENCY_SLACK_NS: u64 = 1_000_000;

/// Exchanges in a row, each outside the estimate's bounds and all agreeing
/// with each other, after which the filter starts again from them: a clock
/// was stepped. Fewer, or ones that disagree, are rejected and leave the
/// estimate as it was.
pub const STEP_SAMPLES: usize = 4;

/// Pings awaiting their pongs that a [`ClockSync`] remembers.
const PENDING: usize = 8;

/// One exchange, in nanoseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClockSample {
    /// The local clock when the ping (or the hello) left.
    pub sent_ns: u64,
    /// The host's clock in its pong (or welcome).
    pub host_ns: u64,
    /// The local clock when the pong (or welcome) arrived.
    pub received_ns: u64,
}

/// Why an exchange was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Rejected {
    /// The host's clock read 0: it has none (or it was not filled in).
    #[error("the host's clock is zero")]
    HostClockZero,
    /// The answer arrived before the question left, on the local clock.
    #[error("the answer arrived before the question left")]
    Backwards,
    /// The round trip took longer than [`MAX_RTT_NS`].
    #[error("a round trip of {0} ns")]
    SlowRoundTrip(u64),
    /// The offset does not fit an `i64` of nanoseconds (±292 years), or
    /// is `i64::MIN`, which has no negation (the conversion back to the
    /// local clock negates it).
    #[error("an offset beyond 292 years")]
    OutOfRange,
    /// The host's clock falls outside what the estimate allows: before the
    /// ping left or after the pong came back, as the estimate has it.
    #[error("the host's clock is outside the estimate's bounds")]
    Inconsistent,
    /// The pong answers no ping awaiting its answer (a duplicate, a stale
    /// one, or one made up).
    #[error("a pong that answers no ping")]
    Unsolicited,
}

/// What a [`ClockFilter`] makes of its exchanges, at a given local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Estimate {
    /// The host's clock minus the local one, in nanoseconds.
    pub offset_ns: i64,
    /// The round trip of the exchange it rests on.
    pub rtt_ns: u64,
    /// How far the true offset may be from `offset_ns`: half that round
    /// trip, plus the drift allowance for its age.
    pub uncertainty_ns: u64,
    /// Exchanges the filter holds.
    pub samples: usize,
    /// Local time since the exchange it rests on ended.
    pub age_ns: u64,
    /// Exchanges rejected since the filter started.
    pub rejected: u64,
}

impl ClockSample {
    /// The round trip, once [`check`](Self::check) passed.
    fn rtt_ns(&self) -> u64 {
        self.received_ns - self.sent_ns
    }

    /// Checks what an exchange can be judged by alone.
    ///
    /// # Errors
    ///
    /// [`Rejected::HostClockZero`], [`Backwards`](Rejected::Backwards),
    /// [`SlowRoundTrip`](Rejected::SlowRoundTrip) or
    /// [`OutOfRange`](Rejected::OutOfRange).
    pub fn check(&self) -> Result<(), Rejected> {
        if self.host_ns == 0 {
            return Err(Rejected::HostClockZero);
        }
        let rtt = self
            .received_ns
            .checked_sub(self.sent_ns)
            .ok_or(Rejected::Backwards)?;
        if rtt > MAX_RTT_NS {
            return Err(Rejected::SlowRoundTrip(rtt));
        }
        // Both ends within `-i64::MAX..=i64::MAX`, so the midpoint is too,
        // and it and its negation are `i64`s.
        let (lo, hi) = self.bounds();
        let range = -i128::from(i64::MAX)..=i128::from(i64::MAX);
        match range.contains(&lo) && range.contains(&hi) {
            true => Ok(()),
            false => Err(Rejected::OutOfRange),
        }
    }

    /// The offsets causality allows: `host - received ..= host - sent`.
    fn bounds(&self) -> (i128, i128) {
        let host = i128::from(self.host_ns);
        (
            host - i128::from(self.received_ns),
            host - i128::from(self.sent_ns),
        )
    }

    /// The midpoint of [`bounds`](Self::bounds), for a checked sample.
    fn offset_ns(&self) -> i64 {
        let (lo, hi) = self.bounds();
        // Both ends fit an i64 (checked), so their midpoint does.
        ((lo + hi).div_euclid(2)) as i64
    }

    /// Half the round trip plus the drift allowance at local time `now_ns`.
    fn dispersion_ns(&self, now_ns: u64) -> u64 {
        self.rtt_ns().div_ceil(2) + drift_ns(now_ns.saturating_sub(self.received_ns))
    }
}

/// The drift allowance for `age_ns` of age.
fn drift_ns(age_ns: u64) -> u64 {
    let drift = u128::from(age_ns) * u128::from(DRIFT_PPM) / 1_000_000;
    u64::try_from(drift).unwrap_or(u64::MAX)
}

/// Whether the ranges `a` and `b`, each widened by `slack`, meet.
fn meet(a: (i128, i128), b: (i128, i128), slack: i128) -> bool {
    a.0 - slack <= b.1 + slack && b.0 - slack <= a.1 + slack
}

/// The last [`CLOCK_SAMPLES`] exchanges and the estimate they make.
///
/// # Examples
///
/// ```
/// use socketengine::protocol::{ClockFilter, ClockSample, Rejected};
///
/// let mut filter = ClockFilter::default();
/// // The host's clock reads 5 s ahead; the round trip takes 200 µs.
/// let at = 1_700_000_000_000_000_000;
/// let sample = |sent: u64| ClockSample {
///     sent_ns: sent,
///     host_ns: sent + 100_000 + 5_000_000_000,
///     received_ns: sent + 200_000,
/// };
/// filter.add(sample(at)).unwrap();
/// let estimate = filter.estimate(at + 200_000).unwrap();
/// assert_eq!(estimate.offset_ns, 5_000_000_000);
/// assert_eq!(estimate.uncertainty_ns, 100_000);
///
/// // A pong claiming the host answered an hour early is rejected.
/// let early = ClockSample { host_ns: at - 3_600_000_000_000, ..sample(at + 1_000_000) };
/// assert_eq!(filter.add(early), Err(Rejected::Inconsistent));
/// assert_eq!(filter.estimate(at + 1_200_000).unwrap().offset_ns, 5_000_000_000);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClockFilter {
    /// Oldest first.
    kept: Vec<ClockSample>,
    /// Consecutive inconsistent exchanges that agree with each other.
    suspects: Vec<ClockSample>,
    rejected: u64,
}

impl ClockFilter {
    /// Takes an exchange into the filter, or says why not.
    ///
    /// An exchange that fits no estimate (see [`Rejected`]) leaves the
    /// filter as it was, but [`STEP_SAMPLES`] in a row that agree with each
    /// other replace it: the clock stepped, and the filter follows.
    ///
    /// # Errors
    ///
    /// Why the exchange was not used; it is counted in
    /// [`Estimate::rejected`].
    pub fn add(&mut self, sample: ClockSample) -> Result<(), Rejected> {
        let verdict = sample.check().and_then(|()| self.consistent(&sample));
        let taken = match verdict {
            Ok(()) => {
                self.keep(sample);
                true
            }
            // Perhaps the clock stepped: set aside, taken once enough agree.
            Err(Rejected::Inconsistent) => self.suspect(sample),
            Err(_) => false,
        };
        if !taken {
            self.rejected += 1;
            return verdict;
        }
        Ok(())
    }

    /// Takes a consistent `sample`, the oldest making way.
    fn keep(&mut self, sample: ClockSample) {
        self.suspects.clear();
        if self.kept.len() == CLOCK_SAMPLES {
            self.kept.remove(0);
        }
        self.kept.push(sample);
    }

    /// Whether `sample` fits the estimate's bounds at its end (any sample
    /// fits an empty filter).
    fn consistent(&self, sample: &ClockSample) -> Result<(), Rejected> {
        let Some(estimate) = self.estimate(sample.received_ns) else {
            return Ok(());
        };
        let (offset, spread) = (
            i128::from(estimate.offset_ns),
            i128::from(estimate.uncertainty_ns),
        );
        let slack = i128::from(CONSISTENCY_SLACK_NS);
        match meet(sample.bounds(), (offset - spread, offset + spread), slack) {
            true => Ok(()),
            false => Err(Rejected::Inconsistent),
        }
    }

    /// Keeps an inconsistent `sample` among the suspects (starting them over
    /// if it disagrees with them); once [`STEP_SAMPLES`] agree, they become
    /// the filter. Returns whether they did.
    fn suspect(&mut self, sample: ClockSample) -> bool {
        let slack = i128::from(CONSISTENCY_SLACK_NS);
        if !self
            .suspects
            .iter()
            .all(|s| meet(s.bounds(), sample.bounds(), slack))
        {
            self.suspects.clear();
        }
        self.suspects.push(sample);
        if self.suspects.len() < STEP_SAMPLES {
            return false;
        }
        self.kept = std::mem::take(&mut self.suspects);
        true
    }

    /// The estimate at local time `now_ns`: the offset of the exchange whose
    /// bound is tightest now; `None` before the first exchange.
    pub fn estimate(&self, now_ns: u64) -> Option<Estimate> {
        let best = self
            .kept
            .iter()
            .min_by_key(|s| (s.dispersion_ns(now_ns), std::cmp::Reverse(s.received_ns)))?;
        Some(Estimate {
            offset_ns: best.offset_ns(),
            rtt_ns: best.rtt_ns(),
            uncertainty_ns: best.dispersion_ns(now_ns),
            samples: self.kept.len(),
            age_ns: now_ns.saturating_sub(best.received_ns),
            rejected: self.rejected,
        })
    }
}

/// A connection's clock synchronisation: the [`ClockFilter`], the pings
/// awaiting their pongs (a pong must answer one of them), and the quick
/// pings after a welcome.
///
/// # Examples
///
/// ```
/// use socketengine::protocol::{ClockSample, ClockSync, QUICK_PINGS, Rejected};
///
/// let mut sync = ClockSync::default();
/// let t = 1_700_000_000_000_000_000;
/// // The welcome: the hello left at t, the host read t + 2 ms, it came at t + 1 ms.
/// sync.restart(ClockSample { sent_ns: t, host_ns: t + 2_000_000, received_ns: t + 1_000_000 });
/// assert!(sync.take_quick()); // ping again at once
/// sync.ping_sent(t + 1_000_000);
/// assert_eq!(sync.on_pong(t + 1_000_000, t + 2_600_000, t + 1_200_000), Ok(()));
/// assert_eq!(sync.on_pong(t + 1_000_000, t + 2_600_000, t + 1_300_000), Err(Rejected::Unsolicited));
/// let estimate = sync.estimate(t + 1_200_000).unwrap();
/// assert_eq!((estimate.offset_ns, estimate.uncertainty_ns), (1_500_000, 100_000));
/// assert_eq!((estimate.samples, estimate.rejected), (2, 1));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ClockSync {
    filter: ClockFilter,
    /// The local send times of the last pings, awaiting their pongs.
    pending: [Option<u64>; PENDING],
    /// Where the next ping's time goes in `pending`.
    next: usize,
    /// Quick pings still to send.
    quick: u8,
}

impl ClockSync {
    /// Starts over on a new connection: forgets every exchange and ping,
    /// takes the welcome's exchange (the hello's send time, the host's
    /// clock in the welcome, its arrival) if it holds, and plans
    /// [`QUICK_PINGS`] quick pings.
    pub fn restart(&mut self, welcome: ClockSample) {
        *self = ClockSync {
            quick: QUICK_PINGS,
            ..ClockSync::default()
        };
        // A welcome without a clock (0) or a wild one starts without an estimate.
        let _ = self.filter.add(welcome);
    }

    /// Notes a ping sent at local time `sent_ns`, whose pong may follow
    /// (the oldest of [`PENDING`] waiting is forgotten).
    pub fn ping_sent(&mut self, sent_ns: u64) {
        self.pending[self.next] = Some(sent_ns);
        self.next = (self.next + 1) % PENDING;
    }

    /// A pong answering the ping sent at `ping_sent_ns`, with the host's
    /// clock `host_ns`, arrived at local time `received_ns`.
    ///
    /// # Errors
    ///
    /// [`Rejected::Unsolicited`] when no ping awaits it; otherwise what
    /// [`ClockFilter::add`] says. Either way the estimate stays as it was.
    pub fn on_pong(
        &mut self,
        ping_sent_ns: u64,
        host_ns: u64,
        received_ns: u64,
    ) -> Result<(), Rejected> {
        let Some(slot) = self.pending.iter_mut().find(|p| **p == Some(ping_sent_ns)) else {
            self.filter.rejected += 1;
            return Err(Rejected::Unsolicited);
        };
        *slot = None;
        self.filter.add(ClockSample {
            sent_ns: ping_sent_ns,
            host_ns,
            received_ns,
        })
    }

    /// Whether to send a quick ping now (after the welcome, and after each
    /// pong until [`QUICK_PINGS`] went out); counts it as sent.
    pub fn take_quick(&mut self) -> bool {
        let quick = self.quick > 0;
        self.quick = self.quick.saturating_sub(1);
        quick
    }

    /// The estimate at local time `now_ns`; see [`ClockFilter::estimate`].
    pub fn estimate(&self, now_ns: u64) -> Option<Estimate> {
        self.filter.estimate(now_ns)
    }
}

impl Estimate {
    /// The correction a local time takes to the host's clock: the offset,
    /// which is then within the uncertainty of the truth; or 0 while the
    /// offset is within the uncertainty. Then the clocks cannot be told
    /// apart (one machine's, which are one clock, or two kept close), a
    /// time is left as it is, and it is within twice the uncertainty of
    /// the truth (exact on one machine) rather than carrying the estimate's
    /// noise into every conversion.
    pub fn correction_ns(self) -> i64 {
        match self.offset_ns.unsigned_abs() <= self.uncertainty_ns {
            true => 0,
            false => self.offset_ns,
        }
    }

    /// `local_ns` on the host's clock (0, no time, stays 0).
    pub fn to_host_ns(self, local_ns: u64) -> u64 {
        shift(local_ns, self.correction_ns())
    }

    /// `host_ns` on the local clock (0, no time, stays 0).
    pub fn to_local_ns(self, host_ns: u64) -> u64 {
        shift(host_ns, self.correction_ns().saturating_neg())
    }
}

/// `ns` moved by `by`, within `1..=u64::MAX`; 0 stays 0.
fn shift(ns: u64, by: i64) -> u64 {
    match ns {
        0 => 0,
        ns => ns.saturating_add_signed(by).max(1),
    }
}
