//! When the event-loop thread gives up its core.
//!
//! A module of its own, below the store and the engine: the store reports the
//! waiting readers it wakes, the loop decides when to yield. All of it is the
//! calling thread's own state (thread-locals).
//!
//! While a stream saturates a connection the loop never blocks in `poll`:
//! there is always more to read or write. A thread that becomes runnable on
//! the loop's core meanwhile — a caller the loop has just woken (its locked
//! write went out, the message it waits for arrived), or any other — then
//! waits until the scheduler preempts the loop. On a kernel without full
//! preemption (`PREEMPT_NONE`, usual on servers and VMs) with the scheduler's
//! wake-up preemption declined, that is the next tick: up to 4 ms at 250 Hz.
//! The image bench's loaded ping-pong waited exactly so (`docs/PERFORMANCE.md`).
//!
//! So the loop yields its core (`sched_yield`) at [`checkpoint`]s, points
//! between reads and writes where it holds no lock:
//! * once it has run [`HANDOFF_AFTER`] without blocking or yielding, if it has
//!   woken a thread that waits on it since ([`woke_a_waiter`], called by the
//!   store and the outbox where they notify); and
//! * once it has run [`RUN_BEFORE_YIELD`], whatever it did, which lets threads
//!   woken by the *other* loop, queued behind this one, run too.
//!
//! A yield with nobody else to run returns at once (one system call, well
//! under a microsecond). The least run between yields bounds how often a
//! stream of small messages, whose every batch wakes its reader, trades its
//! batches for context switches: at most one hand-off per 50 µs.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Longest the loop works without blocking before it yields its core.
pub(crate) const RUN_BEFORE_YIELD: Duration = Duration::from_micros(100);

/// Least the loop works without blocking before it yields its core to a thread
/// it woke.
pub(crate) const HANDOFF_AFTER: Duration = Duration::from_micros(50);

/// A `poll` that took longer than this probably blocked: the loop has rested.
const RESTED: Duration = Duration::from_micros(20);

thread_local! {
    /// Set when this thread woke a waiting thread since it last yielded.
    static WOKE: Cell<bool> = const { Cell::new(false) };
    /// When this thread (the loop) last blocked or yielded.
    static SINCE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Records that the calling thread (the loop, when it matters) has just woken
/// a thread waiting on it.
pub(crate) fn woke_a_waiter() {
    WOKE.with(|woke| woke.set(true));
}

/// After a `poll` that began at `started` and returned at `now`.
pub(crate) fn after_poll(started: Instant, now: Instant) {
    if now.saturating_duration_since(started) > RESTED {
        // Whoever the loop woke has had the core meanwhile.
        WOKE.with(|woke| woke.set(false));
        SINCE.with(|since| since.set(Some(now)));
    }
}

/// Yields the core if the loop has run long enough since it last blocked or
/// yielded: [`HANDOFF_AFTER`] when it has woken a waiter, [`RUN_BEFORE_YIELD`]
/// otherwise.
pub(crate) fn checkpoint() {
    let now = Instant::now();
    let Some(since) = SINCE.with(Cell::get) else {
        // The loop's first checkpoint: it starts running now.
        SINCE.with(|since| since.set(Some(now)));
        return;
    };
    let due = match WOKE.with(Cell::get) {
        true => HANDOFF_AFTER,
        false => RUN_BEFORE_YIELD,
    };
    if now.saturating_duration_since(since) >= due {
        WOKE.with(|woke| woke.set(false));
        std::thread::yield_now();
        SINCE.with(|since| since.set(Some(Instant::now())));
    }
}
