//! What a handle knows of its host's clock: [`ClockEstimate`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::protocol::Estimate;

/// A client's estimate of its host's clock, NTP-style, from the pings it
/// sends: [`Client::clock`](crate::Client::clock).
///
/// Each ping carries the client's clock; the host's pong carries the ping's
/// time and the host's own. Causality bounds the offset: the host read its
/// clock after the ping left and before the pong came back, so the midpoint
/// of the round trip is at most half of it away. The client keeps the last
/// eight exchanges (the welcome's is the first, then four quick pings one
/// after another, then one per [heartbeat](crate::ClientBuilder::heartbeat)
/// interval) and rests the estimate on the one whose bound is tightest now:
/// half its round trip plus a drift allowance of 50 µs per second of its
/// age. A pong that answers no ping, or whose times are impossible (the
/// host's clock zero or outside what the estimate allows, an answer before
/// its question, a round trip over 10 s), is rejected and counted
/// ([`rejected`](Self::rejected)), and the estimate stays as it was; only
/// four in a row that agree with each other (a clock was stepped) replace
/// it. A reconnection starts it over.
///
/// The host's own [`Host::clock`](crate::Host::clock) is exact: offset 0,
/// uncertainty 0.
///
/// # Examples
///
/// ```
/// use socketengine::{Client, Host};
///
/// let host = Host::builder().addr("127.0.0.1:0").start()?;
/// let client = Client::builder().addr(host.local_addr().to_string()).connect()?;
/// // The welcome's exchange gives an estimate as soon as the client connects.
/// let clock = client.clock().expect("an estimate after the welcome");
/// // One machine, one clock: the true offset is 0, within the uncertainty.
/// assert!(clock.offset_ns().unsigned_abs() <= clock.uncertainty().as_nanos() as u64);
/// let now = client.host_time().unwrap();
/// assert_eq!(clock.to_local(clock.to_host(now)), now);
/// # Ok::<(), socketengine::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockEstimate(Estimate);

impl ClockEstimate {
    pub(crate) fn new(estimate: Estimate) -> ClockEstimate {
        ClockEstimate(estimate)
    }

    /// A host's estimate of its own clock: exact.
    pub(crate) fn exact() -> ClockEstimate {
        ClockEstimate(Estimate {
            offset_ns: 0,
            rtt_ns: 0,
            uncertainty_ns: 0,
            samples: 0,
            age_ns: 0,
            rejected: 0,
        })
    }

    /// The host's clock minus this client's, in nanoseconds: positive when
    /// the host's is ahead.
    pub fn offset_ns(&self) -> i64 {
        self.0.offset_ns
    }

    /// The round trip of the exchange the estimate rests on.
    pub fn rtt(&self) -> Duration {
        Duration::from_nanos(self.0.rtt_ns)
    }

    /// How far the true offset may be from [`offset_ns`](Self::offset_ns):
    /// half that round trip, plus the drift allowance for its age.
    pub fn uncertainty(&self) -> Duration {
        Duration::from_nanos(self.0.uncertainty_ns)
    }

    /// Exchanges the estimate chose from (at most eight).
    pub fn samples(&self) -> usize {
        self.0.samples
    }

    /// How long ago the exchange it rests on ended.
    pub fn age(&self) -> Duration {
        Duration::from_nanos(self.0.age_ns)
    }

    /// Exchanges rejected since the last (re)connection.
    pub fn rejected(&self) -> u64 {
        self.0.rejected
    }

    /// `local`, a reading of this client's clock, on the host's clock:
    /// moved by the offset, and then within the
    /// [uncertainty](Self::uncertainty) of the truth. An offset within the
    /// uncertainty is not applied: the clocks cannot be told apart, and the
    /// time is left as it is, within twice the uncertainty of the truth
    /// (exact on one machine, whose clocks are one).
    pub fn to_host(self, local: SystemTime) -> SystemTime {
        from_ns(self.0.to_host_ns(to_ns(local)))
    }

    /// `host`, a reading of the host's clock (a message's
    /// [`sent_at`](crate::Message::sent_at)), on this client's clock; the
    /// inverse of [`to_host`](Self::to_host).
    pub fn to_local(self, host: SystemTime) -> SystemTime {
        from_ns(self.0.to_local_ns(to_ns(host)))
    }
}

/// `time` in nanoseconds since the Unix epoch (0 before it, the most a
/// `u64` holds after 2554).
pub(crate) fn to_ns(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// The time `ns` nanoseconds after the Unix epoch.
pub(crate) fn from_ns(ns: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ns)
}
