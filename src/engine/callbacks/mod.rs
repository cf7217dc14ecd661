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
use crate::store::{Feed, NoChannel, Store};
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
    feed: Option<Arc<MessageFeed>>,
}

#[derive(Debug, Default)]
struct Table {
    last: u64,
    entries: HashMap<u64, Entry>,
    names: HashMap<(On, String), u64>,
}

/// A handle's callbacks and hooks.
#[derive(Debug)]
pub(crate) struct Callbacks {
    /// Written when the application registers or removes one; read for stats.
    table: Mutex<Table>,
    hooks: Arc<Hooks>,
    dispatcher: Arc<Dispatcher>,
    counters: Arc<Counters>,
    /// Most messages waiting for one callback.
    capacity: usize,
    /// A handle's command handlers, made with its first `on_command`.
    #[cfg(feature = "serde")]
    commands: Mutex<Option<Arc<parking_lot::RwLock<crate::command::Commands>>>>,
}

/// A message callback to register.
pub(crate) struct MessageCallback<'a> {
    pub(crate) name: Option<&'a str>,
    pub(crate) channel: &'a str,
    pub(crate) f: OnMessage,
}

impl Callbacks {
    /// No callbacks: they will run on `dispatcher`, a message callback's
    /// queue holding `capacity` messages; `hooks` is the emitter's.
    pub(crate) fn new(dispatcher: Arc<Dispatcher>, hooks: Arc<Hooks>, capacity: usize) -> Self {
        Callbacks {
            table: Mutex::default(),
            counters: hooks.counters(),
            hooks,
            dispatcher,
            capacity,
            #[cfg(feature = "serde")]
            commands: Mutex::default(),
        }
    }

    /// Registers a message callback on `channel` (a name or a pattern) of
    /// `store`, its events sent through `emitter`; replaces the one of the
    /// same name.
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
        self.dispatcher.start()?;
        let MessageCallback { name, channel, f } = callback;
        let label = match name {
            Some(name) => format!("callback {name:?} on {channel:?}"),
            None => format!("callback on {channel:?}"),
        };
        let feed = MessageFeed::new(Parts {
            label,
            f,
            capacity: self.capacity,
            dispatcher: Arc::clone(&self.dispatcher),
            emitter: emitter.clone(),
            counters: Arc::clone(&self.counters),
        });
        let mut table = self.table.lock();
        let as_feed: Arc<dyn Feed> = feed.clone();
        store.attach(channel, as_feed).map_err(|NoChannel| {
            let (name, reason) = (
                channel.chars().take(64).collect(),
                "not a channel or pattern",
            );
            ErrorKind::InvalidChannel { name, reason }
        })?;
        Ok(self.enter(&mut table, store, On::Message, name, Some(feed)))
    }

    /// Registers hook `f` for the events of `kind`, named `name`; replaces
    /// the hook of that kind and name.
    ///
    /// # Errors
    ///
    /// `Io` when the dispatcher thread cannot be started.
    pub(crate) fn on_event(
        &self,
        store: &Store,
        kind: HookKind,
        name: &str,
        f: OnEvent,
    ) -> Result<CallbackId> {
        self.dispatcher.start()?;
        let mut table = self.table.lock();
        let id = table.last + 1;
        let label = format!("{} hook {name:?}", kind.method());
        self.hooks.add(id, kind, label, f);
        Ok(self.enter(&mut table, store, On::Hook(kind), Some(name), None))
    }

    /// Records a new callback, removing the one `name` had.
    fn enter(
        &self,
        table: &mut Table,
        store: &Store,
        on: On,
        name: Option<&str>,
        feed: Option<Arc<MessageFeed>>,
    ) -> CallbackId {
        table.last += 1;
        let id = table.last;
        if let Some(name) = name {
            if let Some(old) = table.names.insert((on, name.to_owned()), id) {
                self.forget(table, store, old);
            }
        }
        let name = name.map(str::to_owned);
        table.entries.insert(id, Entry { on, name, feed });
        CallbackId(id)
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
            Some(feed) => {
                feed.close();
                let as_feed: Arc<dyn Feed> = feed;
                store.detach(&as_feed);
            }
            None => self.hooks.remove(id),
        }
        true
    }

    /// The counts of [`CallbackStats`].
    pub(crate) fn stats(&self) -> CallbackStats {
        let table = self.table.lock();
        let feeds = table.entries.values().filter_map(|e| e.feed.as_ref());
        CallbackStats {
            registered: table.entries.len(),
            queued: feeds.map(|feed| feed.queued()).sum::<usize>() + self.hooks.queued(),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            panicked: self.counters.panicked.load(Ordering::Relaxed),
        }
    }

    /// The handle's command table, made (empty) by the first call, with
    /// whether this call made it.
    #[cfg(feature = "serde")]
    pub(crate) fn commands(&self) -> (Arc<parking_lot::RwLock<crate::command::Commands>>, bool) {
        let mut commands = self.commands.lock();
        let made = commands.is_none();
        let table = commands.get_or_insert_with(Arc::default);
        (Arc::clone(table), made)
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
        let mut table = self.table.lock();
        for entry in table.entries.values() {
            if let Some(feed) = &entry.feed {
                feed.close();
            }
        }
        table.entries.clear();
        table.names.clear();
        self.hooks.clear();
        #[cfg(feature = "serde")]
        self.commands.lock().take();
    }
}
