//! How long one connection may read before the loop serves the others.
//!
//! A loop serves its connections in turns. A stream that never runs dry (a
//! camera, a flood) must not starve the rest, nor its own timers, so each
//! turn of reading ends at a budget. Two budgets, because connections with
//! little to say must not wait behind connections with much:
//!
//! * **A first turn** ([`Budget::FIRST`], [`FIRST_TURN_BYTES`]) for every
//!   connection a readiness event names. A control message of a few bytes
//!   is read, stored and its readers woken in it; a stream reads its first
//!   64 KiB and waits for the next pass.
//! * **A long turn** ([`Budget::long`]) for each connection that had more:
//!   up to [`TURN_BYTES`] or [`TURN_TIME`], whichever ends first. Between
//!   two long turns the loop looks for new readiness events (without
//!   blocking) and gives those connections their first turn, so a control
//!   message that arrives while streams are read waits for one long turn
//!   at most, not for every stream's.
//!
//! The time bound matters where bytes are slow to copy: a fresh buffer's
//! page faults made a 4 MiB turn take 4–5 ms in the soak, while 4 MiB of
//! loopback normally takes about one.

use std::time::{Duration, Instant};

use mio::event::Event as MioEvent;
use mio::{Events, Token};

use super::connection::State;
use super::event_loop::{EventLoop, LISTENER, WAKER};

/// Most bytes one connection reads in its first turn after a readiness
/// event.
pub(crate) const FIRST_TURN_BYTES: usize = 64 << 10;

/// Most bytes one connection reads in a long turn.
pub(crate) const TURN_BYTES: usize = 4 << 20;

/// Longest a long turn reads for (checked between reads, so a turn may end
/// one read past it).
pub(crate) const TURN_TIME: Duration = Duration::from_millis(1);

/// Most bytes one read of a long turn asks for, so that its time is looked
/// at between reads (a single read of what a socket holds can be several
/// MiB: milliseconds where the pages are fresh).
pub(crate) const READ_SLICE: usize = 1 << 20;

/// As [`TURN_BYTES`], for writing: smaller, so that a loop streaming images
/// looks at its events (a reply arriving for a caller) between bursts rather
/// than after eight of them. Checked where the loop refills its bytes in
/// flight, so a turn may end up to one refill (the outbox's budget, or a
/// burst of image chunks) past it.
pub(crate) const WRITE_TURN_BYTES: usize = 512 << 10;

/// What one turn of reading may spend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    bytes: usize,
    until: Option<Instant>,
}

impl Budget {
    /// A connection's first turn after a readiness event.
    pub(crate) const FIRST: Budget = Budget {
        bytes: FIRST_TURN_BYTES,
        until: None,
    };

    /// A long turn starting at `now`.
    pub(crate) fn long(now: Instant) -> Budget {
        Budget {
            bytes: TURN_BYTES,
            until: now.checked_add(TURN_TIME),
        }
    }

    /// Most bytes the next read of a turn that has read `read` bytes may ask
    /// for (at least 1): what is left of the turn, in slices of at most
    /// [`READ_SLICE`] for a long turn.
    pub(crate) fn most(&self, read: usize) -> usize {
        let left = self.bytes.saturating_sub(read).max(1);
        match self.until {
            Some(_) => left.min(READ_SLICE),
            None => left,
        }
    }

    /// Whether a turn that has read `read` bytes is over.
    pub(crate) fn spent(&self, read: usize) -> bool {
        read >= self.bytes || self.until.is_some_and(|until| Instant::now() >= until)
    }
}

impl EventLoop {
    /// Serves readiness events: new connections, and a first turn of
    /// reading and writing for each connection named.
    pub(super) fn on_events(&mut self, events: &Events, now: Instant) {
        for event in events.iter() {
            match event.token() {
                LISTENER => self.accept_all(now),
                WAKER => {}
                token => self.on_conn_event(token, event, now),
            }
        }
    }

    /// Gives connections that used up their budget their next turn: a long
    /// turn of reading each, and after each, first turns to the connections
    /// that became ready meanwhile (see [`turn`](super::turn)); then a turn
    /// of writing each.
    pub(super) fn next_turn(&mut self, events: &mut Events, now: Instant) {
        for token in std::mem::take(&mut self.more_reads) {
            if self.stopping {
                return;
            }
            self.read_with(token, now, Budget::long(Instant::now()));
            if self.poll.poll(events, Some(Duration::ZERO)).is_ok() {
                self.on_events(events, Instant::now());
                self.run_commands();
            }
        }
        for token in std::mem::take(&mut self.more_writes) {
            self.flush(token);
        }
    }

    fn on_conn_event(&mut self, token: Token, event: &MioEvent, now: Instant) {
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.read(token, now);
        }
        if event.is_writable() {
            match self.conn_mut(token).map(|c| &c.state) {
                Some(State::Connecting) => self.connected(token, now),
                Some(State::Securing) => self.secure(token, now),
                _ => self.flush(token),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_turn_ends_at_its_bytes_and_a_long_one_at_bytes_or_time() {
        assert!(!Budget::FIRST.spent(FIRST_TURN_BYTES - 1));
        assert!(Budget::FIRST.spent(FIRST_TURN_BYTES));
        let now = Instant::now();
        let fresh = Budget::long(now + Duration::from_secs(3600));
        assert!(!fresh.spent(TURN_BYTES - 1));
        assert!(fresh.spent(TURN_BYTES));
        let past = Budget::long(now - 2 * TURN_TIME);
        assert!(past.spent(0), "a long turn ends at its time too");
        // Reads are sized by what is left, a long turn's in slices.
        assert_eq!(Budget::FIRST.most(1000), FIRST_TURN_BYTES - 1000);
        assert_eq!(Budget::FIRST.most(FIRST_TURN_BYTES), 1);
        assert_eq!(fresh.most(0), READ_SLICE);
        assert_eq!(fresh.most(TURN_BYTES - 10), 10);
    }
}
