//! [`Subscription`]: a blocking receiver of one channel's messages that sleeps
//! as soon as it finds nothing.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::buffer::Buffer;
use super::{Message, Slot};
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};

/// Every message arriving on one channel from the moment of
/// [`subscribe`](crate::Inbox::subscribe), for a thread that prefers to block.
///
/// It buffers as many messages as the channel's queue capacity (at least one),
/// and as many payload bytes as the channel's queue
/// ([`queue_bytes`](crate::HostBuilder::queue_bytes); one message of any size
/// when it is empty), charged to the handle's
/// [memory budget](crate::HostBuilder::memory_limit) until they are taken
/// (given back 64 KiB at a time, or when a read finds the buffer empty);
/// when it is full, or the budget is spent, further messages skip it and are
/// counted in [`ChannelStats::dropped`](crate::ChannelStats::dropped). Dropping it
/// unsubscribes; clones share one buffer (each message goes to one of them).
/// Once its host or client is closed, the receiving calls return what is
/// buffered and then report disconnection. A subscription outlives lost
/// connections: a client that reconnects keeps it, and one without
/// reconnection keeps waiting on it until it is closed.
///
/// # Waiting
///
/// [`recv`](Self::recv) and [`recv_timeout`](Self::recv_timeout) put the thread
/// to sleep as soon as nothing is buffered, on the condition variable the event
/// loop signals after each batch it stores on the channel; the loop knows a
/// sleeper is there and hands it the core soon after. A crossbeam receiver's
/// `recv` spins and yields the core a few times first, which on cores kept
/// busy (a saturating image stream beside a control loop) leaves the thread
/// queued behind others (measured in `docs/PERFORMANCE.md`).
///
/// ```
/// use socketengine::{Client, Host};
/// use std::time::Duration;
///
/// let host = Host::builder().addr("127.0.0.1:0").start()?;
/// let robot = Client::builder().addr(host.local_addr().to_string()).connect()?;
/// let cmd = robot.subscribe("cmd");
/// host.to(robot.id()).write_lock("cmd", "stop")?;
/// let msg = cmd.recv_timeout(Duration::from_secs(5)).expect("the command arrives");
/// assert_eq!(&msg.payload()[..], b"stop");
///
/// robot.close();
/// let ended = cmd.recv_timeout(Duration::from_secs(5));
/// assert!(ended.is_err(), "a closed client's subscription disconnects");
/// # Ok::<(), socketengine::Error>(())
/// ```
#[derive(Clone)]
pub struct Subscription {
    rx: Arc<Buffer>,
    /// The channel's slot, whose condition variable announces new messages;
    /// `None` for a channel nothing can arrive on (an invalid name).
    slot: Option<Arc<Slot>>,
    /// Set for a pattern's subscription, fed by many channels: it waits on
    /// its receiver instead of one channel's condition variable.
    pattern: bool,
    /// Held while any clone lives: the store forgets a pattern whose
    /// subscriptions are all gone (it holds the `Weak`).
    _alive: Option<Arc<()>>,
}

impl Subscription {
    pub(super) fn new(rx: Buffer, slot: Option<Arc<Slot>>) -> Subscription {
        Subscription {
            rx: Arc::new(rx),
            slot,
            pattern: false,
            _alive: None,
        }
    }

    /// A subscription to every channel a pattern names, fed through `rx`.
    pub(super) fn pattern(rx: Buffer, alive: Arc<()>) -> Subscription {
        Subscription {
            rx: Arc::new(rx),
            slot: None,
            pattern: true,
            _alive: Some(alive),
        }
    }

    /// The next message, waiting as long as it takes; an error once the
    /// host or client is closed and nothing is left.
    pub fn recv(&self) -> Result<Message, RecvError> {
        self.wait(None).map_err(|_| RecvError)
    }

    /// The next message, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message, RecvTimeoutError> {
        self.wait(crate::time::deadline(timeout))
    }

    /// The next message, waiting until `deadline` at the latest.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<Message, RecvTimeoutError> {
        self.wait(Some(deadline))
    }

    /// The next message if one is buffered, without waiting.
    pub fn try_recv(&self) -> Result<Message, TryRecvError> {
        match self.rx.receiver().try_recv() {
            Ok(msg) => Ok(self.rx.took(msg)),
            Err(crossbeam_channel::TryRecvError::Empty) => {
                self.rx.give_back();
                Err(TryRecvError::Empty)
            }
            Err(crossbeam_channel::TryRecvError::Disconnected) => Err(TryRecvError::Disconnected),
        }
    }

    /// Every buffered message, oldest first, without waiting.
    pub fn try_iter(&self) -> impl Iterator<Item = Message> + '_ {
        std::iter::from_fn(|| self.try_recv().ok())
    }

    /// Messages as they arrive, waiting for each; ends once the host or
    /// client is closed and nothing is left.
    pub fn iter(&self) -> impl Iterator<Item = Message> + '_ {
        std::iter::from_fn(|| self.recv().ok())
    }

    /// The receiver the messages are buffered in, for a reader that waits
    /// on several subscriptions at once (`crossbeam_channel::Select`).
    pub(crate) fn receiver(&self) -> &Receiver<Message> {
        self.rx.receiver()
    }

    /// How many messages are buffered.
    pub fn len(&self) -> usize {
        self.rx.receiver().len()
    }

    /// Whether no message is buffered.
    pub fn is_empty(&self) -> bool {
        self.rx.receiver().is_empty()
    }

    /// Waits for the next message until `deadline` (`None`: forever).
    fn wait(&self, deadline: Option<Instant>) -> Result<Message, RecvTimeoutError> {
        if let Some(taken) = self.take() {
            return taken;
        }
        let Some(slot) = &self.slot else {
            return match (self.pattern, deadline) {
                (false, _) => Err(RecvTimeoutError::Disconnected),
                (true, None) => (self.rx.receiver().recv())
                    .map(|msg| self.rx.took(msg))
                    .map_err(|_| RecvTimeoutError::Disconnected),
                (true, Some(deadline)) => (self.rx.receiver().recv_deadline(deadline))
                    .map(|msg| self.rx.took(msg))
                    .map_err(|e| match e {
                        crossbeam_channel::RecvTimeoutError::Timeout => RecvTimeoutError::Timeout,
                        crossbeam_channel::RecvTimeoutError::Disconnected => {
                            RecvTimeoutError::Disconnected
                        }
                    }),
            };
        };
        // The loop sends to subscribers under the slot's lock and signals
        // after releasing it, so a check made under the lock cannot miss a
        // message that is then never signalled.
        let mut state = slot.state.lock();
        loop {
            if let Some(taken) = self.take() {
                return taken;
            }
            if slot.sleep(&mut state, deadline) {
                return self.take().unwrap_or(Err(RecvTimeoutError::Timeout));
            }
        }
    }

    /// The next message or the news that none will come; `None` while the
    /// buffer is empty.
    fn take(&self) -> Option<Result<Message, RecvTimeoutError>> {
        match self.try_recv() {
            Ok(msg) => Some(Ok(msg)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(RecvTimeoutError::Disconnected)),
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let channel = self.slot.as_ref().map(|slot| slot.name().as_str());
        f.debug_struct("Subscription")
            .field("channel", &channel)
            .field("buffered", &self.rx.receiver().len())
            .finish()
    }
}
