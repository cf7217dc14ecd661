//! A [`Subscription`](super::Subscription)'s buffer in bytes: what it holds,
//! capped, and charged to the handle's memory budget while it holds it.
//!
//! The event loop charges each message as it buffers it
//! ([`BufferAccount::offer`]); the reader gives back what it took in lumps
//! ([`Buffer::took`]: every [`GIVE_BACK_EVERY`] bytes, and whenever it
//! finds the buffer empty), so the two threads do not share a counter per
//! message. What is still charged when the subscription goes is given back
//! then, and what the loop buffered in that very moment, when the account
//! goes (once the store has let go of the subscriber it found gone).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::Message;
use crate::memory::Memory;

/// Bytes a reader takes before it gives them back to the budget, unless it
/// finds the buffer empty first.
pub(crate) const GIVE_BACK_EVERY: usize = 64 << 10;

/// A counter on a cache line of its own: one is the loop's, one the reader's.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Padded(AtomicUsize);

/// What one subscription's buffer was charged and gave back.
#[derive(Debug)]
pub(crate) struct BufferAccount {
    /// Bytes charged, ever; written by the loop only.
    charged: Padded,
    /// Bytes given back, ever.
    returned: Padded,
    /// Payload bytes held beyond one message.
    cap: usize,
    memory: Arc<Memory>,
}

impl BufferAccount {
    /// An account of nothing held, capped at `cap` bytes beyond one
    /// message (as a channel's queue is beyond its newest), charging `memory`.
    pub(crate) fn new(cap: usize, memory: Arc<Memory>) -> Arc<BufferAccount> {
        Arc::new(BufferAccount {
            charged: Padded::default(),
            returned: Padded::default(),
            cap,
            memory,
        })
    }

    /// Bytes charged and not yet given back.
    fn held(&self) -> usize {
        let returned = self.returned.0.load(Ordering::Acquire);
        self.charged
            .0
            .load(Ordering::Acquire)
            .saturating_sub(returned)
    }

    /// Buffers `msgs` in `tx`, each that fits: within the cap (one message
    /// of any size in an empty buffer) and the budget, and with room in
    /// the buffer. Returns how many it dropped, or `None` once the
    /// subscription is gone.
    pub(crate) fn offer(
        &self,
        tx: &Sender<Message>,
        msgs: impl Iterator<Item = Message>,
    ) -> Option<u64> {
        let mut dropped = 0;
        let mut held = self.held();
        for msg in msgs {
            let bytes = msg.payload.len();
            let fits = held.saturating_add(bytes) <= self.cap || tx.is_empty();
            if !fits || (bytes > 0 && !self.memory.try_take_message(bytes)) {
                dropped += 1;
                continue;
            }
            self.charged.0.fetch_add(bytes, Ordering::AcqRel);
            match tx.try_send(msg) {
                Ok(()) => held += bytes,
                Err(TrySendError::Full(_)) => {
                    self.give_back(bytes);
                    dropped += 1;
                }
                Err(TrySendError::Disconnected(_)) => {
                    self.give_back(bytes);
                    return None;
                }
            }
        }
        Some(dropped)
    }

    fn give_back(&self, bytes: usize) {
        if bytes > 0 {
            self.returned.0.fetch_add(bytes, Ordering::AcqRel);
            self.memory.give_back(bytes);
        }
    }
}

impl Drop for BufferAccount {
    fn drop(&mut self) {
        let held = self.held();
        self.give_back(held);
    }
}

/// The reading end of a subscription's buffer, shared by its clones; the
/// last to go empties it and gives back what it held.
#[derive(Debug)]
pub(crate) struct Buffer {
    rx: Receiver<Message>,
    account: Arc<BufferAccount>,
    /// Bytes taken and not yet given back.
    taken: AtomicUsize,
}

impl Buffer {
    pub(crate) fn new(rx: Receiver<Message>, account: Arc<BufferAccount>) -> Buffer {
        Buffer {
            rx,
            account,
            taken: AtomicUsize::new(0),
        }
    }

    /// A buffer nothing is offered to (an invalid channel name).
    pub(crate) fn unfed() -> Buffer {
        let account = BufferAccount::new(0, Memory::new(usize::MAX));
        Buffer::new(crossbeam_channel::bounded(1).1, account)
    }

    pub(crate) fn receiver(&self) -> &Receiver<Message> {
        &self.rx
    }

    /// Notes that `msg` left the buffer; gives back what was taken once it
    /// is [`GIVE_BACK_EVERY`] bytes.
    pub(crate) fn took(&self, msg: Message) -> Message {
        let bytes = msg.payload.len();
        if self.taken.fetch_add(bytes, Ordering::AcqRel) + bytes >= GIVE_BACK_EVERY {
            self.give_back();
        }
        msg
    }

    /// Gives back what was taken (the buffer was found empty).
    pub(crate) fn give_back(&self) {
        self.account.give_back(self.taken.swap(0, Ordering::AcqRel));
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let left: usize = self.rx.try_iter().map(|msg| msg.payload.len()).sum();
        self.taken.fetch_add(left, Ordering::AcqRel);
        self.give_back();
    }
}
