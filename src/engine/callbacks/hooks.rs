//! Hooks: the application's functions called with a handle's connection
//! events, beside (not instead of) its reader of `events()`. The emitter
//! offers every event ([`Hooks::offer`]: one atomic load while no hook is
//! registered); one a hook wants is copied into the hooks' lane, whose job
//! runs the hooks on the dispatcher, events in the order they happened.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::RwLock;

use super::Counters;
use crate::Event;
use crate::dispatch::{Dispatcher, Lane, guarded};
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
}

/// A handle's hooks and the one lane their calls wait in.
pub(crate) struct Hooks {
    /// Set while any hook is registered: all an event costs otherwise.
    armed: AtomicBool,
    /// Read for every event offered and every one run; written when the
    /// application registers or removes a hook.
    table: RwLock<Vec<Hook>>,
    lane: Lane<Event>,
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

    /// Adds hook `id`, named `label`, for the events of `kind`.
    pub(super) fn add(&self, id: u64, kind: HookKind, label: String, f: OnEvent) {
        let label = label.into();
        let mut table = self.table.write();
        table.push(Hook { id, kind, label, f });
        self.armed.store(true, Ordering::Release);
    }

    /// Removes hook `id` (a call of it already begun runs to its end).
    pub(super) fn remove(&self, id: u64) {
        let mut table = self.table.write();
        table.retain(|hook| hook.id != id);
        self.armed.store(!table.is_empty(), Ordering::Release);
    }

    /// Removes every hook and what waits for them.
    pub(super) fn clear(&self) {
        self.table.write().clear();
        self.armed.store(false, Ordering::Release);
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
        if !self.table.read().iter().any(|hook| hook.kind == kind) {
            return;
        }
        let pushed = self.lane.push(std::iter::once(event.duplicate()));
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

    /// On the dispatcher: runs the hooks registered now on each event
    /// waiting; goes again if more came meanwhile. What goes wrong here is
    /// told to `events()` only, never to the hooks (a failing `on_error`
    /// hook would otherwise feed itself).
    fn drain(&self, emitter: &Emitter) {
        let batch = self.lane.take();
        if batch.dropped > 0 {
            emitter.emit_unhooked(Event::CallbackDropped {
                callback: "hooks".to_owned(),
                dropped: batch.dropped,
            });
        }
        for event in batch.items {
            let kind = HookKind::of(&event);
            let hooks: Vec<Hook> = (self.table.read().iter())
                .filter(|hook| hook.kind == kind)
                .cloned()
                .collect();
            for hook in hooks {
                if let Err(message) = guarded(|| (hook.f)(&event)) {
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
