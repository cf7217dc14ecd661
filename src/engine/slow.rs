//! Slow consumers: connections whose bytes wait to be written and none are,
//! for the write deadline ([`HostBuilder::write_deadline`](crate::HostBuilder::write_deadline)),
//! are closed with reason code 4 (wire format, "Close"). What is queued for
//! them is bounded by the budgets; the deadline frees it, and their slot.
//! While the handle's memory is nearly spent, the deadline shortens to
//! [`PRESSED_DEADLINE`]: what a reader that reads nothing pins (a large
//! message relayed to it, say) is what everyone else is short of.

use std::time::{Duration, Instant};

use mio::Token;

use super::connection::{Conn, State};
use super::event_loop::{EventLoop, FIRST_CONN};
use crate::{CloseCode, DisconnectReason};

/// Most time between two checks, whatever the deadline.
const MAX_CHECK_PERIOD: Duration = Duration::from_secs(1);

/// The write deadline while the memory is nearly spent (and how often
/// connections are checked then, a fifth of it).
const PRESSED_DEADLINE: Duration = Duration::from_millis(500);

/// The memory is nearly spent from this share of its limit on, in
/// sixteenths.
const PRESSED_AT: usize = 14;

/// When an image being received finds no memory, connections whose bytes
/// waited this long with none written are closed at once to make some: long
/// enough for a reader that reads to be seen reading (scheduling on a busy
/// machine), short beside [`STARVE_LIMIT`](super::image_rx::STARVE_LIMIT),
/// which the image waits at most.
const RELIEF_STALL: Duration = Duration::from_millis(100);

/// Most often [`EventLoop::relieve`] looks for slow consumers to close.
const RELIEF_PERIOD: Duration = Duration::from_millis(10);

/// How soon a connection whose image waits for memory is read again.
const STARVED_RETRY: Duration = Duration::from_millis(2);

impl EventLoop {
    /// The first check for slow consumers, if a write deadline is set.
    pub(super) fn first_write_check(&self, now: Instant) -> Option<Instant> {
        let deadline = self.shared.config.write_deadline?;
        now.checked_add(check_period(deadline))
    }

    /// Closes, as slow consumers, the connections whose bytes have waited
    /// the write deadline with none written; schedules the next check.
    pub(super) fn check_writes(&mut self, now: Instant) {
        let Some(deadline) = self.shared.config.write_deadline else {
            self.next_write_check = None;
            return;
        };
        let memory = &self.shared.memory;
        let pressed = memory.used() >= memory.limit() / 16 * PRESSED_AT;
        let (deadline, period) = match pressed {
            true => (deadline.min(PRESSED_DEADLINE), PRESSED_DEADLINE / 5),
            false => (deadline, check_period(deadline)),
        };
        self.next_write_check = now.checked_add(period);
        let short = match pressed {
            true => " while memory was short",
            false => "",
        };
        self.close_stalled(now, deadline, short);
    }

    /// An image being received on `token` waits for memory: closes the
    /// connections whose bytes waited [`RELIEF_STALL`] with none written
    /// (what readers that read nothing pin is what the image is short of),
    /// and reads `token` again soon.
    pub(super) fn starve(&mut self, token: Token, now: Instant) {
        self.relieve(now);
        if !self.starved.contains(&token) {
            self.starved.push(token);
        }
        self.starved_retry.get_or_insert(now + STARVED_RETRY);
    }

    /// On a host, if a holder was refused memory since the last call (and
    /// a write deadline is set), closes the connections whose bytes waited
    /// [`RELIEF_STALL`] with none written: what readers that read nothing
    /// pin is what the refused holder is short of. At most once per
    /// [`RELIEF_PERIOD`]. A client's one connection is its host, whose
    /// stall frees nothing worth losing it for: the write deadline alone
    /// applies there.
    pub(super) fn relieve(&mut self, now: Instant) {
        if self.client.is_some()
            || self.shared.config.write_deadline.is_none()
            || self.last_relief.is_some_and(|at| now < at + RELIEF_PERIOD)
            || !self.shared.memory.wants_relief()
        {
            return;
        }
        self.last_relief = Some(now);
        self.close_stalled(now, RELIEF_STALL, " while memory was short");
    }

    /// Closes, as slow consumers, the connections whose bytes waited
    /// `deadline` with none written; `why` ends the reason.
    fn close_stalled(&mut self, now: Instant, deadline: Duration, why: &str) {
        let mut slow = Vec::new();
        for (index, conn) in self.conns.iter().enumerate() {
            let Some(Conn {
                state: State::Open(open),
                ..
            }) = conn
            else {
                continue;
            };
            let (stalled, held) = open.peer.write_stall(now);
            if stalled >= deadline {
                slow.push((Token(FIRST_CONN + index), held));
            }
        }
        for (token, held) in slow {
            let why =
                format!("slow consumer: {held} bytes waited {deadline:?} with none written{why}");
            self.hang_up(token, DisconnectReason::new(CloseCode::SlowConsumer, why));
        }
    }
}

/// How often connections are checked: a quarter of the deadline, so a slow
/// consumer is closed within about a quarter past it (its stall is first
/// seen at a check).
fn check_period(deadline: Duration) -> Duration {
    (deadline / 4).clamp(Duration::from_millis(1), MAX_CHECK_PERIOD)
}
