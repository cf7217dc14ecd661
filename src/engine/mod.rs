//! The engine: one mio event-loop thread that owns the sockets.
//!
//! Other threads reach the loop only through a crossbeam channel of [`Command`]s
//! plus a [`mio::Waker`] ([`Notifier`]), and through each connection's shared
//! [`Peer`]. The loop runs no user code but a host's route policy, a short
//! check (see [`HostBuilder::route_policy`](crate::HostBuilder::route_policy)).

mod admit;
mod callbacks;
mod clock;
mod connection;
mod dial_state;
mod event_loop;
mod farewell;
mod forward;
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
mod reply;
mod republish;
mod requests;
mod respond;
mod rooms;
mod route;
mod secure;
mod service;
#[cfg(unix)]
mod shm_offers;
mod slow;
mod socket;
mod tls;
mod token;
mod turn;
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

pub(crate) use callbacks::{Callbacks, HookKind, MessageCallback};
pub(crate) use event_loop::{EventLoop, LISTENER, Role};
pub(crate) use peer::{Charged, LockedImage, Peer, PeerParts};
pub(crate) use redial::{Dial, DialTarget};
pub(crate) use registry::Registry;
pub(crate) use requests::{Answer, Ask, Requests};
pub(crate) use respond::{Incoming, Respond, Responders};
pub(crate) use rooms::RoomState;
/// A host's and a client's room operations, for the handles.
pub(crate) use rooms::{client_infos, connected_members, join, leave, members, request_room};
pub(crate) use route::{error_of, group_members};
pub(crate) use socket::{bind_listener, configure_stream, resolve};

use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::hub::forward::{Forwards, Limits};
// The loop's pacing is a thread's own business (`crate::pace`), shared with the store.
use crate::memory::Memory;
use crate::pace;
use crate::store::{ChannelRule, HistoryRule, Store};
use crate::{Event, Result};
use callbacks::Hooks;

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
    /// its host's services, and every handle's requests to responders): an
    /// `Arc` because a `Replies` holds it too, to forget its requests when
    /// dropped.
    pub(crate) requests: Arc<Requests>,
    /// A host's requests forwarded between clients, waiting for their
    /// replies; touched by the loop alone (a mutex because `Shared` is).
    pub(crate) forwards: Mutex<Forwards<Token, Arc<Peer>>>,
    /// This handle's responders and the dispatcher thread they run on.
    pub(crate) responders: Responders,
    /// This handle's message callbacks and hooks (on the same dispatcher).
    pub(crate) callbacks: Callbacks,
    /// A host's admission counters: an `Arc` because the loop's `Gate`
    /// holds them too (unused on a client).
    pub(crate) admission: Arc<gate::Counts>,
    /// Sends events, from the loop and from the dispatcher's jobs.
    emitter: Emitter,
    events_rx: Receiver<Event>,
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
    /// A client's attempts to reach its host, as its handle reports them.
    pub(crate) dial: dial_state::DialState,
    /// The segments this handle offers its peers: their length, the
    /// answer's timeout, the bytes of those made against its limit, and the
    /// earliest deadline of offers made since the loop last looked (a
    /// segment is made off the loop, since its pages take milliseconds to
    /// reserve, by a thread that notes its offer's deadline there for the
    /// loop to time).
    #[cfg(unix)]
    pub(crate) shm_plan: Arc<peer::ShmPlan>,
    /// The bytes of its peers' segments it maps, against the same limit
    /// counted apart (a peer offering one of this handle's own segments
    /// back, or a huge one, is refused past it).
    #[cfg(unix)]
    pub(crate) shm_mapped_budget: Arc<crate::shm::Budget>,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Shared {
        let memory = Memory::new(config.memory_limit);
        #[cfg(unix)]
        let shm_plan = Arc::new(peer::ShmPlan {
            len: config.shm_segment,
            timeout: config.shm_answer_timeout,
            due: Arc::default(),
            budget: crate::shm::Budget::new(config.shm_limit),
        });
        #[cfg(unix)]
        let shm_mapped_budget = crate::shm::Budget::new(config.shm_limit);
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
        let dispatcher = Arc::new(Dispatcher::new(
            "socketengine-dispatch",
            config.responder_queue,
        ));
        let hooks = Hooks::new(config.callback_queue, Arc::clone(&dispatcher));
        let emitter = Emitter {
            tx: events_tx,
            dropped: Arc::default(),
            hooks: Arc::clone(&hooks),
        };
        let forwards = Forwards::new(Limits {
            max: config.max_requests,
            per_requester: config.max_forwards_per_client,
            max_age: config.forward_timeout,
        });
        let responders = Responders::new(
            Arc::clone(&dispatcher),
            config.responder_queue_bytes,
            config.responder_queue_per_client,
        );
        let requests = Requests::new(config.max_requests);
        let bounds = callbacks::Bounds {
            messages: config.callback_queue,
            bytes: config.callback_queue_bytes,
            memory: Arc::clone(&memory),
        };
        let callbacks = Callbacks::new(dispatcher, hooks, bounds);
        let clock = clock::HandleClock::new(config.clock_skew_ns);
        Shared {
            store,
            registry: Registry::default(),
            rooms: RoomState::default(),
            memory,
            config,
            epoch: Instant::now(),
            host_epoch: token::fresh_epoch(),
            requests: Arc::new(requests),
            forwards: Mutex::new(forwards),
            responders,
            callbacks,
            admission: Arc::default(),
            emitter,
            events_rx,
            stopped: AtomicBool::new(false),
            incomplete: image_rx::Incomplete::default(),
            republish: republish::Republish::new(config_republish),
            clock,
            dial: dial_state::DialState::default(),
            #[cfg(unix)]
            shm_plan,
            #[cfg(unix)]
            shm_mapped_budget,
        }
    }

    pub(crate) fn emit(&self, event: Event) {
        self.emitter.emit(event);
    }

    /// What sends this handle's events, for another thread to hold.
    pub(crate) fn emitter(&self) -> Emitter {
        self.emitter.clone()
    }

    pub(crate) fn events(&self) -> Receiver<Event> {
        self.events_rx.clone()
    }

    pub(crate) fn events_dropped(&self) -> u64 {
        self.emitter.dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn mark_stopped(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

/// Sends a handle's events: the loop's, and those of jobs on its
/// dispatcher, to `events()` and to the hooks. Events nobody drains are
/// dropped and counted.
#[derive(Debug, Clone)]
pub(crate) struct Emitter {
    tx: Sender<Event>,
    /// Events dropped because nobody drained `events()`; shared by every clone.
    dropped: Arc<AtomicU64>,
    /// The hooks, which get a copy of the events they want.
    hooks: Arc<Hooks>,
}

impl Emitter {
    pub(crate) fn emit(&self, event: Event) {
        self.hooks.offer(&event, self);
        self.emit_unhooked(event);
    }

    /// Sends `event` to `events()` only: what the hooks themselves did.
    pub(crate) fn emit_unhooked(&self, event: Event) {
        if self.tx.try_send(event).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The handle on a running event loop: its notifier and its thread.
#[derive(Debug)]
pub(crate) struct Engine {
    notifier: Notifier,
    shared: Arc<Shared>,
    /// Taken by the first `shutdown`, so closing twice (or `close` then `Drop`)
    /// joins once; held across the loop's join (which is bounded: the loop
    /// runs no user code), so a second `close` returns only once the loop
    /// is gone; never held while the dispatcher is waited for.
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

    /// Stops the loop and joins its thread, then stops the dispatcher (a
    /// responder or callback running then is waited for up to the write
    /// timeout, and its thread joined) and lets go of the callbacks.
    /// Idempotent; a responder that closes its own handle meanwhile does
    /// not wait for the lock of a `close` on another thread, which joins the
    /// dispatcher once that responder returns.
    pub(crate) fn shutdown(&self) {
        self.shared.mark_stopped();
        {
            let mut thread = self.thread.lock();
            if let Some(handle) = thread.take() {
                self.notifier.send(Command::Shutdown);
                // A panicked loop has closed its peers on the way out (its `Drop`).
                let _ = handle.join();
            }
        }
        let grace = self.shared.config.write_timeout;
        self.shared.responders.shutdown(grace);
        self.shared.callbacks.shutdown();
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
