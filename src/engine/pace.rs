//! When the event-loop thread gives up its core.
//!
//! While a stream saturates a connection the loop never blocks in `poll`:
//! there is always more to read or write. A thread that becomes runnable on
//! the loop's core meanwhile — a caller the loop has just woken (its locked
//! write went out, the message it waits for arrived), or any other — then
//! waits until the scheduler preempts the loop. On a kernel without full
//! preemption (`PREEMPT_NONE`, usual on servers and VMs) with the scheduler's
//! wake-up preemption declined, that is the next tick: up to 4 ms at 250 Hz.
//! The image bench's loaded ping-pong showed exactly that: at p99, each of its
//! two wake-ups took about 2 ms.
//!
//! So the loop yields the core (`sched_yield`):
//! * soon after it wakes a thread that waits on it ([`woke_a_waiter`], called
//!   by the store and the outbox where they notify), at the next point where
//!   it holds no lock ([`Pacer::after_work`], [`handoff`]); and
//! * after [`RUN_BEFORE_YIELD`] of work without blocking, which lets threads
//!   woken by the *other* loop, queued behind this one, run too.
//!
//! A yield with nobody else to run returns at once: one system call, well
//! under a microsecond, at most a few thousand times a second.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Longest the loop works without blocking before it yields its core.
pub(crate) const RUN_BEFORE_YIELD: Duration = Duration::from_micros(100);

/// A `poll` that took longer than this probably blocked: the loop has rested.
const RESTED: Duration = Duration::from_micros(20);

thread_local! {
    /// Set when this thread woke a waiting thread since it last yielded.
    static WOKE: Cell<bool> = const { Cell::new(false) };
}

/// Records that the calling thread (the loop, when it matters) has just woken
/// a thread waiting on it.
pub(crate) fn woke_a_waiter() {
    WOKE.with(|woke| woke.set(true));
}

/// Yields the core if this thread has woken a waiting thread since it last
/// yielded; returns whether it did.
pub(crate) fn handoff() -> bool {
    let woke = WOKE.with(|woke| woke.replace(false));
    if woke {
        std::thread::yield_now();
    }
    woke
}

/// The loop's running time since it last blocked or yielded.
#[derive(Debug)]
pub(crate) struct Pacer {
    since: Instant,
}

impl Pacer {
    pub(crate) fn new() -> Pacer {
        Pacer {
            since: Instant::now(),
        }
    }

    /// After a `poll` that began at `started` and returned at `now`.
    pub(crate) fn after_poll(&mut self, started: Instant, now: Instant) {
        if now.saturating_duration_since(started) > RESTED {
            self.since = now;
        }
    }

    /// After a read or a flush: yields if the loop woke a waiter or has run
    /// for [`RUN_BEFORE_YIELD`].
    pub(crate) fn after_work(&mut self) {
        if handoff() {
            self.since = Instant::now();
        } else if self.since.elapsed() >= RUN_BEFORE_YIELD {
            std::thread::yield_now();
            self.since = Instant::now();
        }
    }
}
