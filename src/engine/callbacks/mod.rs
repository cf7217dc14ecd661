//! A handle's message callbacks and hooks: registered, replaced by name,
//! removed, counted. Their calls run on the handle's dispatcher thread,
//! never on the event loop: a message callback is a [`Feed`] of the store
//! (its channel's slots hand it their messages as they store them), a hook
//! is fed by the handle's [`Emitter`]; each queues its calls in a lane of
//! its own ([`crate::dispatch::Lane`]).

mod feed;
mod hooks;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::Emitter;
use crate::dispatch::Dispatcher;
use crate::id::CallbackId;
use crate::memory::Memory;
use crate::store::{Feed, NoChannel, Slot, Source, Store};
use crate::{CallbackStats, ErrorKind, Result};
pub(crate) use feed::OnMessage;
use feed::{MessageFeed, Parts};
pub(crate) use hooks::{HookKind, Hooks, OnEvent};

/// What the callbacks of a handle have missed and how often they panicked;
/// shared by every feed and the hooks, which count as it happens.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    dropped: AtomicU64,
    panicked: AtomicU64,
}

impl Counters {
    fn dropped(&self, n: u64) {
        if n > 0 {
            self.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn panicked(&self) {
        self.panicked.fetch_add(1, Ordering::Relaxed);
    }
}

/// What a callback is registered for: messages, or one kind of hook. Names
/// are per kind: a message callback and an `on_connect` hook may share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum On {
    Message,
    Hook(HookKind),
}

#[derive(Debug)]
struct Entry {
    on: On,
    name: Option<String>,
    /// A message callback's feed (hooks live in [`Hooks`]).
    feed: Option<Fed>,
}

/// A message callback's feed, and where it is attached.
#[derive(Debug)]
struct Fed {
    feed: Arc<MessageFeed>,
    source: Source,
    /// The slot of its channel (`None` for a pattern), held so that the
    /// channel is not reclaimed, and the callback lost with it, while the
    /// callback is registered.
    slot: Option<Arc<Slot>>,
}

impl Fed {
    fn as_feed(&self) -> Arc<dyn Feed> {
        self.feed.clone()
    }
}

#[derive(Debug, Default)]
struct Table {
    last: u64,
    entries: HashMap<u64, Entry>,
    names: HashMap<(On, String), u64>,
}

impl Table {
    /// Takes the entry named `name` for `on` out of the table, with its id.
    fn take_named(&mut self, on: On, name: Option<&str>) -> Option<(u64, Entry)> {
        let id = self.names.remove(&(on, name?.to_owned()))?;
        self.entries.remove(&id).map(|entry| (id, entry))
    }

    /// The id the next entry gets.
    fn next_id(&self) -> u64 {
        self.last + 1
    }

    /// Records a new entry.
    fn insert(&mut self, on: On, name: Option<&str>, feed: Option<Fed>) -> CallbackId {
        self.last += 1;
        let id = self.last;
        let name = name.map(str::to_owned);
        if let Some(name) = &name {
            self.names.insert((on, name.clone()), id);
        }
        self.entries.insert(id, Entry { on, name, feed });
        CallbackId(id)
    }
}

/// A handle's callbacks and hooks.
#[derive(Debug)]
pub(crate) struct Callbacks {
    /// Written when the application registers or removes one; read for stats.
    table: Mutex<Table>,
    hooks: Arc<Hooks>,
    dispatcher: Arc<Dispatcher>,
    counters: Arc<Counters>,
    /// The bounds of what waits for one message callback.
    bounds: Bounds,
    /// A handle's command handlers, made with its first `on_command`.
    #[cfg(feature = "serde")]
    commands: Mutex<Option<Arc<parking_lot::RwLock<crate::command::Commands>>>>,
}

/// What may wait for one message callback, and the budget it is charged to.
#[derive(Debug)]
pub(crate) struct Bounds {
    /// Most messages.
    pub(crate) messages: usize,
    /// Most payload bytes (a lone message passes whatever its size).
    pub(crate) bytes: usize,
    /// The handle's memory budget.
    pub(crate) memory: Arc<Memory>,
}

/// A message callback to register.
pub(crate) struct MessageCallback<'a> {
    pub(crate) name: Option<&'a str>,
    pub(crate) channel: &'a str,
    pub(crate) f: OnMessage,
}

impl Callbacks {
    /// No callbacks: they will run on `dispatcher`, what waits for a
    /// message callback within `bounds`; `hooks` is the emitter's.
    pub(crate) fn new(dispatcher: Arc<Dispatcher>, hooks: Arc<Hooks>, bounds: Bounds) -> Self {
        Callbacks {
            table: Mutex::default(),
            counters: hooks.counters(),
            hooks,
            dispatcher,
            bounds,
            #[cfg(feature = "serde")]
            commands: Mutex::default(),
        }
    }

    /// Registers a message callback on `channel` (a name or a pattern) of
    /// `store`, its events sent through `emitter`; replaces the one of the
    /// same name: in place on the same channel (each message goes to one
    /// of them), else the old one removed before the new one is attached
    /// (none goes to both). The old one's messages still waiting are
    /// dropped, counted as the new one's.
    ///
    /// # Errors
    ///
    /// `InvalidChannel` for a channel that is neither a name nor a
    /// pattern; `Io` when the dispatcher thread cannot be started.
    pub(crate) fn on_message(
        &self,
        store: &Store,
        emitter: &Emitter,
        callback: MessageCallback<'_>,
    ) -> Result<CallbackId> {
        let MessageCallback { name, channel, f } = callback;
        let source = Source::parse(channel).map_err(|NoChannel| {
            let (name, reason) = (
                channel.chars().take(64).collect(),
                "not a channel or pattern",
            );
            ErrorKind::InvalidChannel { name, reason }
        })?;
        self.dispatcher.start()?;
        let label = match name {
            Some(name) => format!("callback {name:?} on {channel:?}"),
            None => format!("callback on {channel:?}"),
        };
        let feed = MessageFeed::new(Parts {
            label,
            f,
            capacity: self.bounds.messages,
            max_bytes: self.bounds.bytes,
            memory: Arc::clone(&self.bounds.memory),
            dispatcher: Arc::clone(&self.dispatcher),
            emitter: emitter.clone(),
            counters: Arc::clone(&self.counters),
        });
        let mut table = self.table.lock();
        let old = table
            .take_named(On::Message, name)
            .and_then(|(_, e)| e.feed);
        let slot = self.attach(store, old, &source, &feed);
        let fed = Fed { feed, source, slot };
        Ok(table.insert(On::Message, name, Some(fed)))
    }

    /// Attaches `feed` to `source` in `store`, in the place of `old` (the
    /// callback of the same name) if it is on the same source, else after
    /// stopping `old`; returns the slot `feed` holds.
    fn attach(
        &self,
        store: &Store,
        old: Option<Fed>,
        source: &Source,
        feed: &Arc<MessageFeed>,
    ) -> Option<Arc<Slot>> {
        let new: Arc<dyn Feed> = feed.clone();
        match old {
            Some(old) if old.source == *source => {
                store.replace(&old.as_feed(), new);
                feed.inherit_dropped(old.feed.close());
                old.slot
            }
            old => {
                if let Some(old) = old {
                    feed.inherit_dropped(self.stop(store, &old));
                }
                store.attach(source, new)
            }
        }
    }

    /// Registers hook `f` for the events of `kind`, named `name`; replaces
    /// the hook of that kind and name.
    ///
    /// # Errors
    ///
    /// `Io` when the dispatcher thread cannot be started.
    pub(crate) fn on_event(&self, kind: HookKind, name: &str, f: OnEvent) -> Result<CallbackId> {
        self.dispatcher.start()?;
        let mut table = self.table.lock();
        let old = table.take_named(On::Hook(kind), Some(name));
        let id = table.next_id();
        let label = format!("{} hook {name:?}", kind.method());
        self.hooks.add(id, kind, label, f, old.map(|(old, _)| old));
        Ok(table.insert(On::Hook(kind), Some(name), None))
    }

    /// Removes callback `id`; whether it was there.
    pub(crate) fn off(&self, store: &Store, id: CallbackId) -> bool {
        let mut table = self.table.lock();
        let Some(entry) = table.entries.get(&id.0) else {
            return false;
        };
        if let Some(key) = entry.name.clone().map(|name| (entry.on, name)) {
            table.names.remove(&key);
        }
        self.forget(&mut table, store, id.0)
    }

    /// Removes every callback and hook named `name`; how many there were.
    pub(crate) fn off_named(&self, store: &Store, name: &str) -> usize {
        let mut table = self.table.lock();
        let mut ids = Vec::new();
        table.names.retain(|(_, named), id| {
            let remove = named == name;
            if remove {
                ids.push(*id);
            }
            !remove
        });
        ids.into_iter()
            .filter(|id| self.forget(&mut table, store, *id))
            .count()
    }

    /// Stops and forgets entry `id` (its name already taken care of).
    fn forget(&self, table: &mut Table, store: &Store, id: u64) -> bool {
        let Some(entry) = table.entries.remove(&id) else {
            return false;
        };
        match entry.feed {
            Some(fed) => {
                self.stop(store, &fed);
            }
            None => self.hooks.remove(id),
        }
        true
    }

    /// Stops a message callback's feed and detaches it from the store;
    /// returns how many messages it had waiting.
    fn stop(&self, store: &Store, fed: &Fed) -> usize {
        let forgotten = fed.feed.close();
        store.detach(&fed.as_feed());
        forgotten
    }

    /// The counts of [`CallbackStats`].
    pub(crate) fn stats(&self) -> CallbackStats {
        let table = self.table.lock();
        let feeds = table.entries.values().filter_map(|e| e.feed.as_ref());
        CallbackStats {
            registered: table.entries.len(),
            queued: feeds.map(|fed| fed.feed.queued()).sum::<usize>() + self.hooks.queued(),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            panicked: self.counters.panicked.load(Ordering::Relaxed),
        }
    }

    /// The handle's command table, `None` until the first `on_command` has
    /// made and wired one: held while it does, so a second waits for it.
    #[cfg(feature = "serde")]
    pub(crate) fn commands(
        &self,
    ) -> parking_lot::MutexGuard<'_, Option<Arc<parking_lot::RwLock<crate::command::Commands>>>>
    {
        self.commands.lock()
    }

    /// Removes the handler of the commands named `name`; whether there was one.
    #[cfg(feature = "serde")]
    pub(crate) fn remove_command(&self, name: &str) -> bool {
        let commands = self.commands.lock();
        commands
            .as_ref()
            .is_some_and(|table| table.write().remove(name))
    }

    /// Lets go of every callback, hook and command handler (and whatever
    /// they hold), once the loop and the dispatcher have stopped.
    pub(crate) fn shutdown(&self) {
        {
            let mut table = self.table.lock();
            for entry in table.entries.values() {
                if let Some(fed) = &entry.feed {
                    fed.feed.close();
                }
            }
            table.entries.clear();
            table.names.clear();
        }
        self.hooks.clear();
        // Not under `table`: `on_command` takes `commands`, then `table`.
        #[cfg(feature = "serde")]
        self.commands.lock().take();
    }
}
