//! The engine: one mio event-loop thread that owns the sockets.
//!
//! Other threads reach the loop only through a crossbeam channel of [`Command`]s
//! plus a [`mio::Waker`] ([`Notifier`]), and through each connection's shared
//! [`Peer`]. The loop never runs user code.

mod admit;
mod clock;
mod connection;
mod event_loop;
mod farewell;
mod gate;
mod grow;
mod image_rx;
mod partial;
mod peer;
mod proving;
mod read_buf;
mod reconnect;
mod redial;
mod registry;
mod republish;
mod requests;
mod rooms;
mod route;
mod secure;
mod service;
mod slow;
mod socket;
mod tls;
mod token;
mod wire;

use std::cell::Cell;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use mio::{Token, Waker};
use parking_lot::Mutex;

pub(crate) use event_loop::{EventLoop, LISTENER, Role};
pub(crate) use peer::{Charged, LockedImage, Peer, PeerParts};
pub(crate) use redial::{Dial, DialTarget};
pub(crate) use registry::Registry;
use requests::Requests;
pub(crate) use rooms::RoomState;
/// A host's and a client's room operations, for the handles.
pub(crate) use rooms::{client_infos, connected_members, join, leave, members, request_room};
pub(crate) use route::{error_of, group_members};
pub(crate) use socket::{bind_listener, configure_stream, resolve};

use crate::config::Config;
// The loop's pacing is a thread's own business (`crate::pace`), shared with the store.
use crate::memory::Memory;
use crate::pace;
use crate::store::{ChannelRule, HistoryRule, Store};
use crate::{Event, Result};

/// The channel a client's interest declaration travels on (control frames
/// never reach a store).
pub(crate) const INTEREST_CHANNEL: &str = "interest";

/// Events kept for a reader of `events()` before new ones are dropped (and counted).
const EVENT_BACKLOG: usize = 4096;

/// Requests from other threads to the event loop.
#[derive(Debug)]
pub(crate) enum Command {
    /// The connection's outbox went from idle to busy: write it.
    Flush(Token),
    /// Stop: close every connection and return.
    Shutdown,
    /// Close one client's connection, telling it `message` (a host's kick).
    Disconnect {
        client: crate::ClientId,
        message: String,
    },
}

/// Sends commands to the loop and wakes it.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    commands: Sender<Command>,
    waker: Arc<Waker>,
}

thread_local! {
    /// The waker of the event loop running on this thread (its address), or 0.
    static LOOP_WAKER: Cell<usize> = const { Cell::new(0) };
}

impl Notifier {
    pub(crate) fn send(&self, command: Command) {
        if self.commands.send(command).is_err() || self.on_own_loop() {
            // The loop is gone; or this is the loop, which reads its commands
            // before it next polls and needs no wake-up (an eventfd write and
            // an extra event, once per image acknowledgement otherwise).
            return;
        }
        // A failed wake means the loop is gone; the command has nowhere to go.
        let _ = self.waker.wake();
    }

    /// Marks the calling thread as the one running this notifier's loop.
    pub(crate) fn enter_loop(&self) {
        LOOP_WAKER.with(|own| own.set(self.waker_address()));
    }

    fn on_own_loop(&self) -> bool {
        LOOP_WAKER.with(Cell::get) == self.waker_address()
    }

    fn waker_address(&self) -> usize {
        Arc::as_ptr(&self.waker) as usize
    }
}

/// State shared by the event loop and the public handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    /// The host's clients (on a client: its one connection to the host).
    pub(crate) registry: Registry,
    pub(crate) config: Config,
    /// A host's rooms; a client's list of its own.
    pub(crate) rooms: RoomState,
    /// The bytes peers make this handle hold, against its memory limit.
    pub(crate) memory: Arc<Memory>,
    /// The zero of every peer's `last_seen` clock.
    pub(crate) epoch: Instant,
    /// A host's epoch, sent in every welcome: 64 random bits drawn when it
    /// started, so a client can tell a restarted host from the one it left.
    pub(crate) host_epoch: u64,
    /// Requests sent and waiting for their replies (a client's questions to
    /// its host's services).
    pub(crate) requests: Requests,
    /// A host's admission counters: an `Arc` because the loop's `Gate`
    /// holds them too (unused on a client).
    pub(crate) admission: Arc<gate::Counts>,
    events_tx: Sender<Event>,
    events_rx: Receiver<Event>,
    /// Events dropped because nobody drained `events()`.
    events_dropped: AtomicU64,
    /// Set by `close` and by the event loop whenever it exits (a panic
    /// included); read by every write, so an atomic.
    stopped: AtomicBool,
    /// Images dropped before they were whole, per channel: counted by the
    /// loop, read by the inbox's image stats.
    pub(crate) incomplete: image_rx::Incomplete,
    /// A client's own latest writes to send again to a restarted host.
    pub(crate) republish: republish::Republish,
    /// This handle's clock and, on a client, its estimate of the host's.
    pub(crate) clock: clock::HandleClock,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Shared {
        let memory = Memory::new(config.memory_limit);
        let store = Store::new(config.queue_capacity, config.channel_capacity.clone())
            .hold_in(Arc::clone(&memory), config.queue_bytes)
            .limit_images(config.image_queue_capacity)
            .limit_channels(ChannelRule {
                max: config.max_channels,
                per_client: config.max_channels_per_client,
                idle: config.channel_idle,
            })
            .keep_history(HistoryRule {
                depth: config.history_depth,
                depths: config.channel_history.clone(),
                max_bytes: config.history_bytes,
            });
        let (events_tx, events_rx) = crossbeam_channel::bounded(EVENT_BACKLOG);
        let config_republish = config.republish.clone();
        let clock = clock::HandleClock::new(config.clock_skew_ns);
        Shared {
            store,
            registry: Registry::default(),
            rooms: RoomState::default(),
            memory,
            config,
            epoch: Instant::now(),
            host_epoch: token::fresh_epoch(),
            requests: Requests::default(),
            admission: Arc::default(),
            events_tx,
            events_rx,
            events_dropped: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            incomplete: image_rx::Incomplete::default(),
            republish: republish::Republish::new(config_republish),
            clock,
        }
    }

    pub(crate) fn emit(&self, event: Event) {
        if self.events_tx.try_send(event).is_err() {
            self.events_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn events(&self) -> Receiver<Event> {
        self.events_rx.clone()
    }

    pub(crate) fn events_dropped(&self) -> u64 {
        self.events_dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn mark_stopped(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

/// The handle on a running event loop: its notifier and its thread.
#[derive(Debug)]
pub(crate) struct Engine {
    notifier: Notifier,
    shared: Arc<Shared>,
    /// Taken by the first `shutdown`, so closing twice (or `close` then `Drop`)
    /// joins once; held across the join, so a second `close` returns only once
    /// the thread is gone.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Engine {
    /// Creates the loop's poll and waker, lets `setup` build the loop, and runs
    /// it on a new thread named `name`.
    pub(crate) fn spawn(
        name: &str,
        shared: Arc<Shared>,
        role: impl FnOnce(&Notifier, &mio::Registry) -> Result<Role>,
    ) -> Result<Engine> {
        let poll = mio::Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), event_loop::WAKER)?);
        let (commands, rx) = crossbeam_channel::unbounded();
        let notifier = Notifier { commands, waker };
        let role = role(&notifier, poll.registry())?;
        let mut event_loop = EventLoop::new(poll, rx, notifier.clone(), Arc::clone(&shared), role);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || event_loop.run())?;
        Ok(Engine {
            notifier,
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Whether `shutdown` has been called.
    pub(crate) fn is_stopped(&self) -> bool {
        self.shared.is_stopped()
    }

    /// Asks the loop to close `client`'s connection with a close frame of
    /// reason "kicked" and `message`; returns at once.
    pub(crate) fn disconnect(&self, client: crate::ClientId, message: String) {
        self.notifier.send(Command::Disconnect { client, message });
    }

    /// Stops the loop and joins its thread. Idempotent.
    pub(crate) fn shutdown(&self) {
        self.shared.mark_stopped();
        let mut thread = self.thread.lock();
        let Some(handle) = thread.take() else {
            return;
        };
        self.notifier.send(Command::Shutdown);
        // A panicked loop has closed its peers on the way out (its `Drop`).
        let _ = handle.join();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Whether an I/O error means "try again later" rather than failure.
fn would_block(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::WouldBlock
}
