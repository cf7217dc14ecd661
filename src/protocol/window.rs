//! The image window that follows the link: how many image bytes a sender may
//! have unacknowledged, from what the acknowledgements say about the link.
//!
//! Sans-IO like the rest of the module: times are [`Duration`]s since any
//! fixed epoch the caller picks, passed in; nothing here reads a clock.
//!
//! The estimate is BBR's model reduced to a window (no pacing): the delivery
//! rate is the windowed maximum of the bytes acknowledged per interval, the
//! base delay the minimum of the send→acknowledgement delay over
//! [`MIN_DELAY_WINDOW`], and the window about rate × (base delay + target
//! queueing delay), between [`WINDOW_FLOOR`] and a ceiling. Bytes beyond the
//! link's bandwidth-delay product sit in a queue (a kernel's, a switch's), and
//! anything sent behind them waits for them: the target bounds that wait.
//!
//! Probing: a window under the bandwidth-delay product is the limit itself,
//! and the rate it shows is window / base delay; the next window is then
//! window × (1 + target / base delay), so it grows each round trip until the
//! link, not the window, sets the rate. The base delay cannot be seen while a
//! queue stands, and with a full window one always does (a byte sent waits
//! for the window ahead of it); so once the minimum is [`MIN_DELAY_WINDOW`]
//! old the window drops to the floor for a short drain (BBR's ProbeRTT):
//! until a piece sent with no more than the floor ahead of it is
//! acknowledged (1 ms at least, 1 s at most), whose delay then refreshes it.
//! The first drain comes [`FIRST_DRAIN_AFTER`] the first sample (BBR's drain
//! after startup). A rate sample spans four base delays, 10 ms at least.

use std::collections::VecDeque;
use std::time::Duration;

/// Default target of image data queued ahead of a control frame on the link,
/// in time: [`LinkWindow`]'s window is about rate × (base delay + this).
pub const DEFAULT_QUEUE_DELAY: Duration = Duration::from_millis(1);

/// The least window, in image payload bytes: enough to keep a few small
/// chunks moving, and to measure the link by.
pub const WINDOW_FLOOR: u64 = 16 * 1024;

/// The least piece of an image a sender cuts to fit the window: smaller ones
/// cost more in frame headers than they save in queueing.
pub const MIN_PIECE: u64 = 4 * 1024;

/// The most payload bytes the next piece of an image may carry under
/// `window` with `unacked` bytes unacknowledged: the room left, and a quarter
/// of the window at most, so that several pieces are in flight and their
/// acknowledgements (one per piece) keep the link busy; never less than
/// [`MIN_PIECE`].
///
/// ```
/// use socketengine::protocol::{MIN_PIECE, piece_limit};
///
/// assert_eq!(piece_limit(100_000, 0), 25_000);
/// assert_eq!(piece_limit(100_000, 90_000), 10_000);
/// assert_eq!(piece_limit(100_000, 99_000), MIN_PIECE);
/// ```
pub fn piece_limit(window: u64, unacked: u64) -> u64 {
    (window.saturating_sub(unacked))
        .min(window / 4)
        .max(MIN_PIECE)
}

/// How long a base-delay sample stands before the window drains to refresh it.
pub const MIN_DELAY_WINDOW: Duration = Duration::from_secs(10);

/// How long after the first base-delay sample the first drain comes: the
/// first sends go out in whole chunks under the ceiling, and their delays
/// count a chunk's time on the link too, so the first minimum is high.
pub const FIRST_DRAIN_AFTER: Duration = Duration::from_millis(100);

/// How long a delivery-rate sample stands as the maximum: a link that slows
/// down is followed within about this.
pub const RATE_WINDOW: Duration = Duration::from_millis(200);

/// The shortest interval a delivery-rate sample is taken over. A receiver
/// busy elsewhere for a few milliseconds acknowledges what came meanwhile
/// at once: a short interval would measure that burst, not the link.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// The shortest drain, and the longest (a sender with nothing to send meanwhile
/// measures nothing; the old estimate then stands).
const DRAIN: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(1));

/// Send marks kept at most; past this a send extends the newest mark (its
/// delay is then measured from the earlier send: longer, never shorter).
const MAX_MARKS: usize = 64;

/// A windowed running maximum of rate samples (Kathleen Nichols'
/// algorithm, as Linux's `win_minmax`): the best, second-best and
/// third-best samples of the window, each newer than the one before.
#[derive(Debug, Clone, Copy, Default)]
struct WindowedMax {
    /// (when, bytes per second).
    best: [(Duration, f64); 3],
}

impl WindowedMax {
    fn get(&self) -> f64 {
        self.best[0].1
    }

    fn reset(&mut self, at: Duration, value: f64) {
        self.best = [(at, value); 3];
    }

    fn update(&mut self, window: Duration, at: Duration, value: f64) {
        let sample = (at, value);
        if value >= self.best[0].1 || at.saturating_sub(self.best[2].0) > window {
            return self.reset(at, value);
        }
        if value >= self.best[1].1 {
            self.best[1] = sample;
            self.best[2] = sample;
        } else if value >= self.best[2].1 {
            self.best[2] = sample;
        }
        // The best expired: the next ones move up, and a sample takes the
        // empty places. Otherwise a quarter or half of the window without a
        // new second or third best lets this sample take their place.
        let age = at.saturating_sub(self.best[0].0);
        if age > window {
            self.best = [self.best[1], self.best[2], sample];
            if at.saturating_sub(self.best[0].0) > window {
                self.best = [self.best[1], self.best[2], sample];
            }
        } else if self.best[1].0 == self.best[0].0 && age > window / 4 {
            self.best[1] = sample;
            self.best[2] = sample;
        } else if self.best[2].0 == self.best[1].0 && age > window / 2 {
            self.best[2] = sample;
        }
    }
}

/// Whether the base delay is being measured or refreshed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// The window follows rate × (base delay + target).
    Follow,
    /// The window is the floor, so the queue drains; it began at `since`.
    /// `probe_at`: when the first send went out with no more than the floor
    /// unacknowledged (nothing queued ahead of it, but the floor); `seen`: the
    /// least delay of such sends so far.
    Drain {
        since: Duration,
        probe_at: Option<Duration>,
        seen: Option<Duration>,
    },
}

/// The window of one connection's image bytes, from its acknowledgements.
///
/// The sender [marks](Self::on_send) each send with the byte count it
/// reaches and the time, and [reports](Self::on_ack) each acknowledgement with
/// the time it came; [`window`](Self::window) is then about rate × (base
/// delay plus target), never less than [`WINDOW_FLOOR`] nor more than the
/// ceiling (the ceiling until the first estimates).
///
/// # Examples
///
/// A 100 Mbit/s link (12.5 bytes a microsecond) with 1 ms of base delay:
/// 12.5 KB in flight keep it busy, and a 2 ms target adds 25 KB of queue.
///
/// ```
/// use std::time::Duration;
/// use socketengine::protocol::LinkWindow;
///
/// let us = Duration::from_micros;
/// let mut w = LinkWindow::new(1 << 20, Duration::from_millis(2));
/// assert_eq!(w.window(us(0)), 1 << 20, "no estimate yet: the ceiling");
/// // Every 100 µs a 1,250-byte piece goes out; it is acknowledged 1 ms later.
/// let mut sent = 0;
/// for step in 0..200u64 {
///     sent += 1250;
///     w.on_send(sent, us(step * 100));
///     if step >= 10 {
///         w.on_ack(sent - 10 * 1250, 10 * 1250, us(step * 100));
///     }
/// }
/// let window = w.window(us(20_000));
/// assert!((37_000..=38_000).contains(&window), "{window}");
/// ```
#[derive(Debug, Clone)]
pub struct LinkWindow {
    /// Target queueing delay.
    target: Duration,
    ceiling: u64,
    /// Sends not yet acknowledged: (byte count reached, when), oldest first.
    marks: VecDeque<(u64, Duration)>,
    /// Least send→acknowledgement delay.
    min_delay: Option<Duration>,
    /// When the window drains next, to see the base delay afresh.
    drain_at: Option<Duration>,
    /// Drains so far.
    drains: u64,
    /// Bytes acknowledged in all.
    acked: u64,
    /// Delivery rate, bytes per second.
    rate: WindowedMax,
    /// Whether `rate` holds a sample.
    rated: bool,
    /// The interval being measured: when it began, bytes acknowledged then,
    /// and whether the sender ran out of bytes to send during it.
    interval: Option<(Duration, u64, bool)>,
    phase: Phase,
}

impl LinkWindow {
    /// A window between [`WINDOW_FLOOR`] and `ceiling` (at least the floor),
    /// aiming at `target` of queueing delay.
    pub fn new(ceiling: u64, target: Duration) -> LinkWindow {
        LinkWindow {
            target,
            ceiling: ceiling.max(WINDOW_FLOOR),
            marks: VecDeque::new(),
            min_delay: None,
            drain_at: None,
            drains: 0,
            acked: 0,
            rate: WindowedMax::default(),
            rated: false,
            interval: None,
            phase: Phase::Follow,
        }
    }

    /// The most the window may be.
    pub fn ceiling(&self) -> u64 {
        self.ceiling
    }

    /// The delivery rate estimate, bytes per second (`None` before the first).
    pub fn rate(&self) -> Option<f64> {
        self.rated.then(|| self.rate.get())
    }

    /// The base delay estimate (`None` before the first acknowledgement).
    pub fn base_delay(&self) -> Option<Duration> {
        self.min_delay
    }

    /// Records a send at `now` that brings the bytes sent to `total`.
    pub fn on_send(&mut self, total: u64, now: Duration) {
        if let Phase::Drain { probe_at, .. } = &mut self.phase {
            let ahead = self
                .marks
                .back()
                .map_or(0, |m| m.0)
                .saturating_sub(self.acked);
            if probe_at.is_none() && ahead <= WINDOW_FLOOR {
                *probe_at = Some(now);
            }
        }
        let full = self.marks.len() >= MAX_MARKS;
        match self.marks.back_mut() {
            Some(last) if full => last.0 = total,
            _ => self.marks.push_back((total, now)),
        }
    }

    /// Records at `now` an acknowledgement of `acked` bytes in all, after
    /// which `unacked` bytes are still unacknowledged (zero: the sender ran
    /// out, and this interval's rate says less than the link's).
    pub fn on_ack(&mut self, acked: u64, unacked: u64, now: Duration) {
        let mut newest = None;
        while let Some(&(total, at)) = self.marks.front() {
            if total > acked {
                break;
            }
            newest = Some(at);
            self.marks.pop_front();
        }
        self.acked = self.acked.max(acked);
        if let Some(sent_at) = newest {
            self.on_delay(sent_at, now);
        }
        self.on_delivered(acked, unacked == 0, now);
    }

    fn on_delay(&mut self, sent_at: Duration, now: Duration) {
        let delay = now.saturating_sub(sent_at);
        if let Phase::Drain {
            probe_at: Some(probe_at),
            seen,
            ..
        } = &mut self.phase
            && sent_at >= *probe_at
        {
            *seen = Some(seen.map_or(delay, |s| s.min(delay)));
        }
        match self.min_delay {
            None => {
                self.min_delay = Some(delay);
                self.drain_at = Some(now + FIRST_DRAIN_AFTER);
            }
            // Until the first drain, the first sample's time holds.
            Some(min) if delay <= min => {
                self.min_delay = Some(delay);
                if self.drains > 0 {
                    self.drain_at = Some(now + MIN_DELAY_WINDOW);
                }
            }
            Some(_) => {}
        }
    }

    fn on_delivered(&mut self, acked: u64, idle: bool, now: Duration) {
        let Some((start, from, app_limited)) = self.interval else {
            self.interval = Some((now, acked, idle));
            return;
        };
        let length = (4 * self.base_delay().unwrap_or_default()).max(MIN_INTERVAL);
        let elapsed = now.saturating_sub(start);
        if elapsed < length {
            self.interval = Some((start, from, app_limited || idle));
            return;
        }
        let rate = acked.saturating_sub(from) as f64 / elapsed.as_secs_f64();
        // A sender that ran out measured itself, not the link: only a higher
        // rate counts then.
        if !app_limited || !self.rated || rate > self.rate.get() {
            match self.rated {
                true => self.rate.update(RATE_WINDOW, now, rate),
                false => self.rate.reset(now, rate),
            }
            self.rated = true;
        }
        self.interval = Some((now, acked, idle));
    }

    /// The window in force at `now`, in bytes.
    pub fn window(&mut self, now: Duration) -> u64 {
        self.update_phase(now);
        if let Phase::Drain { .. } = self.phase {
            return WINDOW_FLOOR;
        }
        let (Some(rate), Some(base)) = (self.rate(), self.base_delay()) else {
            return self.ceiling;
        };
        let bytes = rate * (base + self.target).as_secs_f64();
        (bytes as u64).clamp(WINDOW_FLOOR, self.ceiling)
    }

    /// Starts a drain when the base delay is old; ends one once a send that
    /// found the queue drained is acknowledged (or after the longest drain).
    fn update_phase(&mut self, now: Duration) {
        match self.phase {
            Phase::Follow => {
                if self.drain_at.is_some_and(|at| now >= at) {
                    self.phase = Phase::Drain {
                        since: now,
                        probe_at: None,
                        seen: None,
                    };
                }
            }
            Phase::Drain { since, seen, .. } => {
                let elapsed = now.saturating_sub(since);
                if (elapsed < DRAIN.0 || seen.is_none()) && elapsed < DRAIN.1 {
                    return;
                }
                self.min_delay = seen.or(self.min_delay);
                self.drain_at = Some(now + MIN_DELAY_WINDOW);
                self.drains += 1;
                self.phase = Phase::Follow;
            }
        }
    }

    /// A new connection: its sends and acknowledgements start afresh, the
    /// estimates of the link stand.
    pub fn reopen(&mut self) {
        self.marks.clear();
        self.acked = 0;
        self.interval = None;
    }
}

#[cfg(test)]
#[path = "tests/window.rs"]
mod tests;
