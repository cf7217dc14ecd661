//! Hooks: the application's functions called with a handle's connection
//! events, beside (not instead of) its reader of `events()`. The emitter
//! offers every event ([`Hooks::offer`]: one atomic load while no hook is
//! registered); one a hook wants is copied into the hooks' lane, whose job
//! runs the hooks on the dispatcher, events in the order they happened.
//!
//! Each event is numbered as it is queued, and each hook knows the number
//! of the first event after its registration, so a hook gets no event
//! queued before it was registered; a removed hook is flagged, so no call
//! of it starts once its removal is done, even for an event being handled.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::RwLock;

use super::Counters;
use crate::Event;
use crate::dispatch::{Dispatcher, Item, Lane, guarded};
use crate::engine::Emitter;

/// A hook as the engine holds it.
pub(crate) type OnEvent = Arc<dyn Fn(&Event) + Send + Sync>;

/// Which events a hook is called with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum HookKind {
    /// [`Event::Connected`].
    Connect,
    /// [`Event::Disconnected`] and [`Event::Refused`].
    Disconnect,
    /// The events that report a failure: [`Event::Error`],
    /// [`Event::Undelivered`], [`Event::ReplyFailed`],
    /// [`Event::CallbackPanicked`], [`Event::CallbackDropped`],
    /// [`Event::CommandFailed`].
    Error,
    /// [`Event::Reconnecting`] and [`Event::HostRestarted`].
    Reconnect,
}

impl HookKind {
    /// The hooks `event` goes to.
    fn of(event: &Event) -> HookKind {
        match event {
            Event::Connected { .. } => HookKind::Connect,
            Event::Disconnected { .. } | Event::Refused { .. } => HookKind::Disconnect,
            Event::Reconnecting { .. } | Event::HostRestarted { .. } => HookKind::Reconnect,
            Event::Error { .. }
            | Event::Undelivered { .. }
            | Event::ReplyFailed { .. }
            | Event::CallbackPanicked { .. }
            | Event::CallbackDropped { .. }
            | Event::CommandFailed { .. } => HookKind::Error,
        }
    }

    /// The registering method's name, for events.
    pub(super) fn method(self) -> &'static str {
        match self {
            HookKind::Connect => "on_connect",
            HookKind::Disconnect => "on_disconnect",
            HookKind::Error => "on_error",
            HookKind::Reconnect => "on_reconnect",
        }
    }
}

/// One registered hook.
#[derive(Clone)]
struct Hook {
    id: u64,
    kind: HookKind,
    /// Names it in events: `on_connect hook "log"`.
    label: Arc<str>,
    f: OnEvent,
    /// The number of the first event queued after it was registered.
    since: u64,
    /// Cleared when it is removed: shared with the copies of it that a
    /// job runs, which look before each call.
    alive: Arc<AtomicBool>,
}

/// An event waiting for the hooks, numbered in the order it was queued.
struct Offered {
    seq: u64,
    event: Event,
}

/// Events are small (the hooks' lane is not bounded in bytes), and each
/// is told.
impl Item for Offered {
    fn bytes(&self) -> usize {
        0
    }
}

/// A handle's hooks and the one lane their calls wait in.
pub(crate) struct Hooks {
    /// Set while any hook is registered: all an event costs otherwise.
    armed: AtomicBool,
    /// Read for every event offered and every one run; written when the
    /// application registers or removes a hook.
    table: RwLock<Vec<Hook>>,
    /// The number the next event queued gets; taken under `table`'s read
    /// lock, read under its write lock, so a hook registered is numbered
    /// after every event queued before it.
    next: AtomicU64,
    lane: Lane<Offered>,
    /// Itself, for the jobs it queues.
    me: Weak<Hooks>,
    dispatcher: Arc<Dispatcher>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("hooks", &self.table.read().len())
            .field("queued", &self.lane.len())
            .finish_non_exhaustive()
    }
}

impl Hooks {
    /// No hooks; events wait for them in a lane of `capacity`.
    pub(crate) fn new(capacity: usize, dispatcher: Arc<Dispatcher>) -> Arc<Hooks> {
        Arc::new_cyclic(|me| Hooks {
            armed: AtomicBool::new(false),
            table: RwLock::default(),
            next: AtomicU64::new(0),
            lane: Lane::new(capacity),
            me: me.clone(),
            dispatcher,
            counters: Arc::default(),
        })
    }

    /// The counts the hooks and the message callbacks share.
    pub(super) fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// Adds hook `id`, named `label`, for the events of `kind` queued from
    /// now on, in the place of hook `replaced` if given (at once: no event
    /// goes to both).
    pub(super) fn add(
        &self,
        id: u64,
        kind: HookKind,
        label: String,
        f: OnEvent,
        replaced: Option<u64>,
    ) {
        let label = label.into();
        let mut table = self.table.write();
        if let Some(old) = replaced {
            remove(&mut table, old);
        }
        let since = self.next.load(Ordering::Acquire);
        let alive = Arc::new(AtomicBool::new(true));
        table.push(Hook {
            id,
            kind,
            label,
            f,
            since,
            alive,
        });
        self.armed.store(true, Ordering::Release);
    }

    /// Removes hook `id`: no call of it starts once this returns (a call
    /// already begun runs to its end).
    pub(super) fn remove(&self, id: u64) {
        let mut table = self.table.write();
        remove(&mut table, id);
        self.armed.store(!table.is_empty(), Ordering::Release);
    }

    /// Removes every hook and what waits for them.
    pub(super) fn clear(&self) {
        let mut table = self.table.write();
        table
            .iter()
            .for_each(|hook| hook.alive.store(false, Ordering::Release));
        table.clear();
        self.armed.store(false, Ordering::Release);
        drop(table);
        self.lane.close();
    }

    /// Events waiting.
    pub(super) fn queued(&self) -> usize {
        self.lane.len()
    }

    /// Emitter side: if a hook wants `event`, queues a copy for it.
    pub(crate) fn offer(&self, event: &Event, emitter: &Emitter) {
        if !self.armed.load(Ordering::Acquire) {
            return;
        }
        let kind = HookKind::of(event);
        let table = self.table.read();
        if !table.iter().any(|hook| hook.kind == kind) {
            return;
        }
        let seq = self.next.fetch_add(1, Ordering::AcqRel);
        let event = event.duplicate();
        let pushed = self.lane.push(std::iter::once(Offered { seq, event }));
        drop(table);
        self.counters.dropped(pushed.dropped);
        if pushed.start {
            self.schedule(emitter.clone());
        }
    }

    fn schedule(&self, emitter: Emitter) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        let _ = (self.dispatcher).submit_lane(Box::new(move || me.drain(&emitter)));
    }

    /// On the dispatcher: runs on each event waiting the hooks of its kind
    /// registered before it was queued and not removed since; goes again
    /// if more came meanwhile. What goes wrong here is told to `events()`
    /// only, never to the hooks (a failing `on_error` hook would otherwise
    /// feed itself).
    fn drain(&self, emitter: &Emitter) {
        let batch = self.lane.take();
        if batch.dropped > 0 {
            emitter.emit_unhooked(Event::CallbackDropped {
                callback: "hooks".to_owned(),
                dropped: batch.dropped,
            });
        }
        for Offered { seq, event } in &batch.items {
            let kind = HookKind::of(event);
            let hooks: Vec<Hook> = (self.table.read().iter())
                .filter(|hook| hook.kind == kind && hook.since <= *seq)
                .cloned()
                .collect();
            for hook in hooks {
                if !hook.alive.load(Ordering::Acquire) {
                    continue;
                }
                if let Err(message) = guarded(|| (hook.f)(event)) {
                    self.counters.panicked();
                    emitter.emit_unhooked(Event::CallbackPanicked {
                        callback: hook.label.to_string(),
                        message,
                    });
                }
            }
        }
        if self.lane.done() {
            self.schedule(emitter.clone());
        }
    }
}

/// Takes hook `id` out of `table`, flagged as removed.
fn remove(table: &mut Vec<Hook>, id: u64) {
    table.retain(|hook| {
        let keep = hook.id != id;
        if !keep {
            hook.alive.store(false, Ordering::Release);
        }
        keep
    });
}
