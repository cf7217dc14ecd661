//! The link window against a simulated link: a fixed rate (a queue that
//! serves so many bytes a second) and a fixed delay after it, a sender with
//! images always waiting, sending pieces while the window allows.

use std::collections::VecDeque;
use std::time::Duration;

use super::*;

/// Payload bytes per piece at most (the engine's default chunk).
const CHUNK: u64 = 256 * 1024;

/// Simulated time per step.
const STEP: Duration = Duration::from_micros(50);

/// Target queueing delay in the tests.
const TARGET: Duration = Duration::from_millis(2);

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Bytes per second of `mbit` megabits per second.
fn mbit(mbit: f64) -> f64 {
    mbit * 1e6 / 8.0
}

/// The sender, the link's queue and the acknowledgements on their way back.
struct Sim {
    window: LinkWindow,
    now: Duration,
    sent: u64,
    acked: u64,
    /// When the link is done with what it holds.
    busy_until: Duration,
    /// (bytes sent in all, when its acknowledgement arrives).
    acks: VecDeque<(u64, Duration)>,
    /// The window in force at each step, from `watch_from` on.
    windows: Vec<u64>,
}

impl Sim {
    fn new(ceiling: u64) -> Sim {
        Sim {
            window: LinkWindow::new(ceiling, TARGET),
            now: Duration::ZERO,
            sent: 0,
            acked: 0,
            busy_until: Duration::ZERO,
            acks: VecDeque::new(),
            windows: Vec::new(),
        }
    }

    /// Runs `length` on a link of `rate` bytes a second and `delay`, the
    /// sender always having more to send; returns the bytes acknowledged in
    /// the last `tail` of it, per second. Windows in force over that tail are
    /// kept.
    fn run(&mut self, rate: f64, delay: Duration, length: Duration, tail: Duration) -> f64 {
        self.run_frames(rate, delay, None, length, tail)
    }

    /// As [`run`](Self::run), the sender given `frame` bytes to send every
    /// `every` (a camera), or always more with `None`.
    fn run_frames(
        &mut self,
        rate: f64,
        delay: Duration,
        frames: Option<(u64, Duration)>,
        length: Duration,
        tail: Duration,
    ) -> f64 {
        let end = self.now + length;
        let tail_from = end - tail;
        let mut acked_at_tail = None;
        let mut allowance = match frames {
            None => u64::MAX,
            Some(_) => 0,
        };
        let mut next_frame = self.now;
        self.windows.clear();
        while self.now < end {
            while let Some(&(total, at)) = self.acks.front() {
                if at > self.now {
                    break;
                }
                self.acks.pop_front();
                self.acked = total;
                self.window.on_ack(total, self.sent - total, self.now);
            }
            if self.now >= tail_from && acked_at_tail.is_none() {
                acked_at_tail = Some(self.acked);
            }
            let window = self.window.window(self.now);
            if self.now >= tail_from {
                self.windows.push(window);
            }
            if let Some((frame, every)) = frames
                && self.now >= next_frame
            {
                allowance += frame;
                next_frame += every;
            }
            while self.sent - self.acked < window && allowance > 0 {
                let limit = piece_limit(window, self.sent - self.acked);
                let piece = CHUNK.min(limit).min(allowance);
                allowance -= piece;
                self.sent += piece;
                self.window.on_send(self.sent, self.now);
                let start = self.busy_until.max(self.now);
                self.busy_until = start + Duration::from_secs_f64(piece as f64 / rate);
                self.acks.push_back((self.sent, self.busy_until + delay));
            }
            self.now += STEP;
        }
        let tail_bytes = self.acked - acked_at_tail.unwrap_or(self.acked);
        tail_bytes as f64 / tail.as_secs_f64()
    }

    /// The least and most window over the kept tail.
    fn window_range(&self) -> (u64, u64) {
        let min = self.windows.iter().copied().min().unwrap_or(0);
        let max = self.windows.iter().copied().max().unwrap_or(0);
        (min, max)
    }
}

/// Bytes of rate × time.
fn bytes(rate: f64, time: Duration) -> u64 {
    (rate * time.as_secs_f64()) as u64
}

/// Whether the window stays in the band a link of `rate` and `delay` calls
/// for: at least its bandwidth-delay product, at most rate × (delay + the
/// target) with room for the one piece a measurement adds, half again.
fn assert_in_band(sim: &Sim, rate: f64, delay: Duration, what: &str) {
    let (low, high) = sim.window_range();
    let bdp = bytes(rate, delay);
    let most =
        (bytes(rate, delay + TARGET) + CHUNK.min(bytes(rate, TARGET)).max(MIN_PIECE)) * 3 / 2;
    assert!(
        low >= bdp.min(WINDOW_FLOOR).max(bdp * 9 / 10),
        "{what}: window {low} under the BDP {bdp}"
    );
    assert!(
        high <= most.max(WINDOW_FLOOR),
        "{what}: window {high} over {most}"
    );
}

#[test]
fn the_window_converges_to_the_link_and_keeps_it_busy() {
    // (rate, delay after the queue)
    let links = [
        (mbit(1000.0), us(100)),
        (mbit(300.0), us(200)),
        (mbit(100.0), us(500)),
        (mbit(20.0), ms(5)),
    ];
    for (rate, delay) in links {
        let mut sim = Sim::new(1 << 20);
        let got = sim.run(rate, delay, ms(3000), ms(1000));
        let what = format!("{} Mbit/s, {delay:?}", rate * 8.0 / 1e6);
        assert!(got >= 0.9 * rate, "{what}: {got:.0} B/s of {rate:.0}");
        assert_in_band(&sim, rate, delay, &what);
    }
}

#[test]
fn a_fast_link_keeps_the_ceiling() {
    // Loopback: gigabytes a second, tens of microseconds; the window is the
    // ceiling, as with a fixed window.
    let (rate, delay) = (3e9, us(20));
    let mut sim = Sim::new(1 << 20);
    let got = sim.run(rate, delay, ms(500), ms(200));
    assert!(got >= 0.9 * rate, "{got:.0} B/s");
    assert_eq!(sim.window_range(), (1 << 20, 1 << 20));
}

#[test]
fn a_rate_change_is_followed() {
    // (rate before, rate after): down to a third, and up from a tenth (the
    // window, sized for the slow link, has to probe its way up).
    let delay = us(200);
    let cases = [
        (mbit(900.0), mbit(300.0)),
        (mbit(100.0), mbit(1000.0)),
        (mbit(1000.0), mbit(100.0)),
    ];
    for (before, after) in cases {
        let mut sim = Sim::new(1 << 20);
        sim.run(before, delay, ms(2000), ms(100));
        let got = sim.run(after, delay, ms(2000), ms(1000));
        let what = format!("{before:.0} B/s then {after:.0} B/s");
        assert!(got >= 0.9 * after, "{what}: {got:.0} B/s");
        assert_in_band(&sim, after, delay, &what);
    }
}

#[test]
fn the_base_delay_is_refreshed_and_the_window_does_not_creep() {
    // A standing queue hides the base delay; the drains every
    // MIN_DELAY_WINDOW find it again, so after several of them the window is
    // still in the band, and the drains cost little throughput.
    let (rate, delay) = (mbit(300.0), us(300));
    let mut sim = Sim::new(1 << 20);
    sim.run(rate, delay, ms(1000), ms(100));
    let got = sim.run(rate, delay, 4 * MIN_DELAY_WINDOW, 3 * MIN_DELAY_WINDOW);
    assert!(got >= 0.95 * rate, "{got:.0} B/s");
    let (_, high) = sim.window_range();
    let most = bytes(rate, delay + TARGET) * 3 / 2;
    assert!(high <= most, "window {high} over {most}");
    let drains = sim.windows.iter().filter(|&&w| w == WINDOW_FLOOR).count();
    assert!(drains > 0, "the window drained");
}

#[test]
fn a_sender_that_runs_out_keeps_the_rate_it_saw() {
    // A camera's frames at a tenth of the link after a saturating start: the
    // rate estimate stands (a sender with little to send measures itself,
    // not the link), so each frame finds a window sized for the link.
    let (rate, delay) = (mbit(300.0), us(200));
    let mut sim = Sim::new(1 << 20);
    sim.run(rate, delay, ms(1000), ms(100));
    let seen = sim.window.rate().unwrap_or_default();
    let frame = (bytes(rate, ms(33)) / 10, ms(33));
    sim.run_frames(rate, delay, Some(frame), ms(1000), ms(100));
    let kept = sim.window.rate().unwrap_or_default();
    assert!(kept >= 0.9 * seen, "{kept:.0} of {seen:.0}");
}

#[test]
fn without_estimates_the_window_is_the_ceiling_and_never_below_the_floor() {
    // (ceiling, window before any acknowledgement)
    let cases = [(1 << 20, 1 << 20), (1, WINDOW_FLOOR), (0, WINDOW_FLOOR)];
    for (ceiling, want) in cases {
        let mut w = LinkWindow::new(ceiling, TARGET);
        assert_eq!(w.window(ms(5)), want, "{ceiling}");
        assert_eq!(w.ceiling(), want, "{ceiling}");
    }
}

#[test]
fn marks_are_bounded_and_a_merged_mark_keeps_its_earlier_time() {
    let mut w = LinkWindow::new(1 << 20, TARGET);
    for i in 0..(MAX_MARKS as u64 + 10) {
        w.on_send((i + 1) * 100, us(i));
    }
    assert_eq!(w.marks.len(), MAX_MARKS);
    let last = w.marks.back().copied();
    assert_eq!(
        last,
        Some(((MAX_MARKS as u64 + 10) * 100, us(MAX_MARKS as u64 - 1)))
    );
    // Acknowledging everything measures from the merged mark's time.
    w.on_ack((MAX_MARKS as u64 + 10) * 100, 0, ms(10));
    assert!(w.marks.is_empty());
    assert_eq!(w.base_delay(), Some(ms(10) - us(MAX_MARKS as u64 - 1)));
}

#[test]
fn reopening_forgets_the_sends_and_keeps_the_estimates() {
    let mut w = LinkWindow::new(1 << 20, TARGET);
    w.on_send(1000, ms(0));
    w.on_ack(1000, 0, ms(1));
    w.on_send(3000, ms(20));
    w.on_ack(3000, 0, ms(21));
    let (rate, base) = (w.rate(), w.base_delay());
    assert!(rate.is_some() && base == Some(ms(1)), "{rate:?} {base:?}");
    w.on_send(5000, ms(30));
    w.reopen();
    assert!(w.marks.is_empty());
    assert_eq!((w.rate(), w.base_delay()), (rate, base));
}
