//! Callbacks for both handles, written once: message callbacks
//! ([`Host::on`](crate::Host::on)), connection hooks
//! ([`Host::on_connect`](crate::Host::on_connect), ...) and command
//! handlers ([`Host::on_command`](crate::Host::on_command)). The engine
//! holds them and runs them on the handle's dispatcher thread; this module
//! wraps the application's functions for it and gives the handles their
//! methods ([`callback_methods`]).

use std::sync::Arc;

use crate::engine::{HookKind, MessageCallback};
use crate::handle::Core;
use crate::id::CallbackId;
use crate::{ErrorKind, Event, Message, Result};

/// Registers `f` for the messages on `channel` (a name or a pattern) of
/// the handle `core`, named `name` (replacing the callback of that name).
///
/// # Errors
///
/// `Closed`, `InvalidChannel`, `Io` when the dispatcher thread cannot be
/// started.
pub(crate) fn message<F>(core: &Core, name: Option<&str>, channel: &str, f: F) -> Result<CallbackId>
where
    F: Fn(&Message) + Send + Sync + 'static,
{
    if core.is_stopped() {
        return Err(ErrorKind::Closed.into());
    }
    let shared = core.shared();
    let f = Arc::new(f);
    let callback = MessageCallback { name, channel, f };
    shared
        .callbacks
        .on_message(&shared.store, &shared.emitter(), callback)
}

/// Registers hook `f` for the events of `kind` of the handle `core`.
///
/// # Errors
///
/// `Closed`, `Io` when the dispatcher thread cannot be started.
pub(crate) fn hook<F>(core: &Core, kind: HookKind, name: &str, f: F) -> Result<CallbackId>
where
    F: Fn(&Event) + Send + Sync + 'static,
{
    if core.is_stopped() {
        return Err(ErrorKind::Closed.into());
    }
    let shared = core.shared();
    shared.callbacks.on_event(kind, name, Arc::new(f))
}

/// Removes callback `id` of the handle `core`.
pub(crate) fn off(core: &Core, id: CallbackId) -> bool {
    let shared = core.shared();
    shared.callbacks.off(&shared.store, id)
}

/// Removes the callbacks and hooks named `name` of the handle `core`.
pub(crate) fn off_named(core: &Core, name: &str) -> usize {
    let shared = core.shared();
    shared.callbacks.off_named(&shared.store, name)
}

#[cfg(feature = "serde")]
pub(crate) use commands::command;

/// Command handlers: one table per handle, driven by a message callback on
/// the command channel and a responder there.
#[cfg(feature = "serde")]
mod commands {
    use std::sync::Arc;

    use parking_lot::RwLock;
    use serde_json::{Map, Value};

    use crate::command::{COMMAND_CHANNEL, Command, Commands, run};
    use crate::engine::{Emitter, MessageCallback};
    use crate::handle::Core;
    use crate::protocol::Failure;
    use crate::{ClientId, Error, ErrorKind, Event, Json, Message, Request, Result};

    /// Registers `f` as the handler of the commands named `name` of the
    /// handle `core`; the first one also registers what runs them. All
    /// under the handle's command lock: a second caller returns once the
    /// first has wired them, and a first that fails leaves nothing (the
    /// next call tries again).
    ///
    /// # Errors
    ///
    /// `Closed`; `Io` when the dispatcher thread cannot be started.
    pub(crate) fn command<F>(core: &Core, name: &str, f: F) -> Result<()>
    where
        F: Fn(&[Value], &Map<String, Value>) -> Result<Value, String> + Send + Sync + 'static,
    {
        if core.is_stopped() {
            return Err(ErrorKind::Closed.into());
        }
        let mut commands = core.shared().callbacks.commands();
        let table = wired(&mut commands, |table| wire(core, table))?;
        table.write().on(name, f);
        Ok(())
    }

    /// The table in `slot`; if there is none, a new one, stored only once
    /// `wire` succeeded with it.
    ///
    /// # Errors
    ///
    /// `wire`'s.
    pub(super) fn wired<T: Default>(
        slot: &mut Option<Arc<T>>,
        wire: impl FnOnce(&Arc<T>) -> Result<()>,
    ) -> Result<Arc<T>> {
        if let Some(table) = slot {
            return Ok(Arc::clone(table));
        }
        let table = Arc::default();
        wire(&table)?;
        Ok(Arc::clone(slot.insert(table)))
    }

    /// Registers what runs the commands of `table` on the handle `core`: a
    /// message callback and the responder on the command channel; if the
    /// responder fails, the callback is removed again.
    ///
    /// # Errors
    ///
    /// `Closed`; `Io` when the dispatcher thread cannot be started.
    fn wire(core: &Core, table: &Arc<RwLock<Commands>>) -> Result<()> {
        let shared = core.shared();
        let emitter = shared.emitter();
        let (messages, events) = (Arc::clone(table), emitter.clone());
        let f = Arc::new(move |msg: &Message| {
            if let Err(error) = execute(&messages, msg.decode()) {
                events.emit(Event::CommandFailed {
                    from: msg.from(),
                    error,
                });
            }
        });
        let callback = MessageCallback {
            name: None,
            channel: COMMAND_CHANNEL,
            f,
        };
        let id = (shared.callbacks).on_message(&shared.store, &emitter, callback)?;
        let table = Arc::clone(table);
        let responder = crate::send::register_failing(core, COMMAND_CHANNEL, move |request| {
            answer(&table, &emitter, request)
        });
        if responder.is_err() {
            shared.callbacks.off(&shared.store, id);
        }
        responder
    }

    /// Runs the handler `command` names, without holding the table.
    fn execute(table: &RwLock<Commands>, command: Result<Command>) -> Result<Value> {
        let command = command?;
        let handler = table.read().handler(&command.name);
        run(handler.as_ref(), &command)
    }

    /// A command that came as a request: its handler's value as JSON, or
    /// the failure (reported too).
    fn answer(
        table: &RwLock<Commands>,
        emitter: &Emitter,
        request: &Request,
    ) -> Result<Json<Value>, Failure> {
        execute(table, request.decode()).map(Json).map_err(|error| {
            let failure = failure_of(&error);
            report(emitter, request.from(), error);
            failure
        })
    }

    fn report(emitter: &Emitter, from: ClientId, error: Error) {
        emitter.emit(Event::CommandFailed { from, error });
    }

    /// The reply status that tells a requester why.
    fn failure_of(error: &Error) -> Failure {
        match error.kind() {
            ErrorKind::UnknownCommand(name) => Failure::UnknownCommand(name.clone()),
            ErrorKind::CommandFailed { message, .. } => Failure::Failed(message.clone()),
            ErrorKind::Decode { .. } => Failure::BadRequest(error.to_string()),
            _ => Failure::Failed(error.to_string()),
        }
    }

    #[cfg(test)]
    mod tests {
        use std::sync::Arc;

        use super::wired;
        use crate::ErrorKind;

        #[test]
        fn a_table_is_kept_only_once_it_is_wired() {
            let mut slot: Option<Arc<u8>> = None;
            let failed = wired(&mut slot, |_| Err(ErrorKind::Closed.into()));
            assert!(matches!(
                failed.map_err(|e| e.into_kind()),
                Err(ErrorKind::Closed)
            ));
            assert!(slot.is_none(), "nothing kept: the next call wires again");
            let mut wirings = 0;
            let mut wire = |_: &Arc<u8>| {
                wirings += 1;
                Ok(())
            };
            let first = wired(&mut slot, &mut wire).expect("wired");
            let second = wired(&mut slot, &mut wire).expect("kept");
            assert!(Arc::ptr_eq(&first, &second));
            assert_eq!(wirings, 1);
        }
    }
}

/// The callback methods of [`Host`](crate::Host) and
/// [`Client`](crate::Client), written once (see the crate docs' section
/// "Callbacks" for the thread that runs them and what a slow or panicking
/// one does).
macro_rules! callback_methods {
    () => {
        /// Calls `f` with every message that arrives on `channel` from now
        /// on, in the order they arrived, on this handle's dispatcher
        /// thread (never the event loop). `channel` may be a pattern
        /// (`arm/*`, `arm/**`, as for [`subscribe`](crate::Inbox::subscribe)):
        /// then every matching channel's messages, those of channels made
        /// later included, each channel in order. The messages still go to
        /// the queue, `get` and subscriptions as before. Returns the
        /// callback's id, for [`off`](Self::off); several callbacks may
        /// take the same channel.
        ///
        /// Up to [`callback_queue`](crate::HostBuilder::callback_queue)
        /// messages and
        /// [`callback_queue_bytes`](crate::HostBuilder::callback_queue_bytes)
        /// of payload wait for a callback that is busy, charged to the
        /// [memory limit](crate::HostBuilder::memory_limit); beyond that,
        /// new ones skip it, counted in
        /// [`callback_stats`](Self::callback_stats) and reported in an
        /// [`Event::CallbackDropped`](crate::Event::CallbackDropped). A newer
        /// image replaces the one of its channel still waiting (counted the
        /// same): a callback on a camera gets the newest frame, not a
        /// backlog. A panic is caught and reported
        /// ([`Event::CallbackPanicked`](crate::Event::CallbackPanicked)); the
        /// callback stays registered. A callback that holds a clone of its
        /// own handle keeps that handle alive: stop it with `close`.
        ///
        /// A callback on a channel name (not a pattern) holds its channel,
        /// as a subscription does: while it is registered, the channel is
        /// not reclaimed for a new one when the store is full, so it counts
        /// against [`max_channels`](crate::HostBuilder::max_channels).
        ///
        /// ```
        /// use socketengine::{Client, Host};
        /// use std::sync::mpsc;
        /// use std::time::Duration;
        ///
        /// let host = Host::builder().addr("127.0.0.1:0").start()?;
        /// let (tx, arrived) = mpsc::channel();
        /// host.on("arm/*", move |msg| {
        ///     let _ = tx.send(format!("{} {:?}", msg.channel(), msg.payload()));
        /// })?;
        /// let arm = Client::builder().addr(host.local_addr().to_string()).connect()?;
        /// arm.write_lock("arm/left", "up")?;
        /// let seen = arrived.recv_timeout(Duration::from_secs(5)).expect("the callback runs");
        /// assert_eq!(seen, r#"arm/left b"up""#);
        /// # Ok::<(), socketengine::Error>(())
        /// ```
        ///
        /// # Errors
        ///
        /// [`InvalidChannel`](crate::ErrorKind::InvalidChannel) for a
        /// channel that is neither a name nor a pattern;
        /// [`Closed`](crate::ErrorKind::Closed); `Io` when the dispatcher
        /// thread cannot be started.
        pub fn on<F>(&self, channel: &str, f: F) -> $crate::Result<$crate::CallbackId>
        where
            F: Fn(&$crate::Message) + Send + Sync + 'static,
        {
            $crate::on::message(&self.inner.core, None, channel, f)
        }

        /// As [`on`](Self::on), the callback named `name`: registering a
        /// callback of that name again replaces it, as the websocket
        /// server's `add_on_open(name, fn)` does;
        /// [`off_named`](Self::off_named) removes it. On the same channel
        /// (or pattern) the new one takes the old one's place at once: each
        /// message goes to one of them, never both, none missed. On another,
        /// the old one is removed before the new one starts taking
        /// messages, so none goes to both. Either way the messages still
        /// waiting for the old one are dropped, counted in
        /// [`callback_stats`](Self::callback_stats) and reported in the new
        /// one's [`Event::CallbackDropped`](crate::Event::CallbackDropped);
        /// a call of the old one already begun runs to its end. Message
        /// callbacks and each kind of hook have names of their own:
        /// `on_named("log", ..)` does not replace `on_connect("log", ..)`.
        ///
        /// # Errors
        ///
        /// As [`on`](Self::on).
        pub fn on_named<F>(
            &self,
            name: &str,
            channel: &str,
            f: F,
        ) -> $crate::Result<$crate::CallbackId>
        where
            F: Fn(&$crate::Message) + Send + Sync + 'static,
        {
            $crate::on::message(&self.inner.core, Some(name), channel, f)
        }

        /// Removes the message callback or hook `id`; returns whether it
        /// was registered. Once it returns, no call of it starts: what
        /// waits for it is dropped, and a batch of messages (or the hooks
        /// of an event) being run skips it (a call already begun runs to
        /// its end, even after `off` returns). So a callback or hook may
        /// remove another, or itself.
        pub fn off(&self, id: $crate::CallbackId) -> bool {
            $crate::on::off(&self.inner.core, id)
        }

        /// Removes every message callback and hook named `name` (of any
        /// kind), as [`off`](Self::off); returns how many there were.
        pub fn off_named(&self, name: &str) -> usize {
            $crate::on::off_named(&self.inner.core, name)
        }

        /// Calls `f` with every [`Event::Connected`](crate::Event::Connected)
        /// from now on (on a client: its own connection to the host, each
        /// time it is back), on the dispatcher thread. The hook named
        /// `name` is replaced if there was one. Hooks get a copy of the
        /// events: [`events`](crate::Inbox::events) still sees every one. A
        /// hook gets the events that come after it is registered, none
        /// that were waiting for the hooks before.
        /// Events wait for the hooks in one queue, in the order they
        /// happened, up to [`callback_queue`](crate::HostBuilder::callback_queue)
        /// (beyond it, dropped and counted as a callback's messages are).
        ///
        /// ```
        /// use socketengine::{Client, Host};
        /// use std::sync::mpsc;
        /// use std::time::Duration;
        ///
        /// let host = Host::builder().addr("127.0.0.1:0").start()?;
        /// let (tx, joined) = mpsc::channel();
        /// host.on_connect("greet", move |event| {
        ///     let _ = tx.send(event.client());
        /// })?;
        /// let arm = Client::builder().addr(host.local_addr().to_string()).connect()?;
        /// let who = joined.recv_timeout(Duration::from_secs(5)).expect("the hook runs");
        /// assert_eq!(who, Some(arm.id()));
        /// # Ok::<(), socketengine::Error>(())
        /// ```
        ///
        /// # Errors
        ///
        /// [`Closed`](crate::ErrorKind::Closed); `Io` when the dispatcher
        /// thread cannot be started.
        pub fn on_connect<F>(&self, name: &str, f: F) -> $crate::Result<$crate::CallbackId>
        where
            F: Fn(&$crate::Event) + Send + Sync + 'static,
        {
            $crate::on::hook(&self.inner.core, $crate::engine::HookKind::Connect, name, f)
        }

        /// As [`on_connect`](Self::on_connect), with every
        /// [`Event::Disconnected`](crate::Event::Disconnected):
        /// [`Event::reason`](crate::Event::reason) says why, when a side
        /// said so (a kick is [`CloseCode::Kicked`](crate::CloseCode::Kicked));
        /// and, on a client, [`Event::Refused`](crate::Event::Refused) when
        /// it stops trying to reach a host that refuses it.
        ///
        /// # Errors
        ///
        /// As [`on_connect`](Self::on_connect).
        pub fn on_disconnect<F>(&self, name: &str, f: F) -> $crate::Result<$crate::CallbackId>
        where
            F: Fn(&$crate::Event) + Send + Sync + 'static,
        {
            $crate::on::hook(
                &self.inner.core,
                $crate::engine::HookKind::Disconnect,
                name,
                f,
            )
        }

        /// As [`on_connect`](Self::on_connect), with every event that
        /// reports a failure: [`Event::Error`](crate::Event::Error),
        /// [`Undelivered`](crate::Event::Undelivered),
        /// [`ReplyFailed`](crate::Event::ReplyFailed),
        /// [`CallbackPanicked`](crate::Event::CallbackPanicked),
        /// [`CallbackDropped`](crate::Event::CallbackDropped) and
        /// [`CommandFailed`](crate::Event::CommandFailed)
        /// ([`Event::error`](crate::Event::error) gives the error where
        /// there is one). A hook's own panic or drops are reported to
        /// `events()` only, not to the hooks.
        ///
        /// # Errors
        ///
        /// As [`on_connect`](Self::on_connect).
        pub fn on_error<F>(&self, name: &str, f: F) -> $crate::Result<$crate::CallbackId>
        where
            F: Fn(&$crate::Event) + Send + Sync + 'static,
        {
            $crate::on::hook(&self.inner.core, $crate::engine::HookKind::Error, name, f)
        }

        /// This handle's message callbacks and hooks: how many, what waits
        /// for them, what they missed and how often they panicked. Never
        /// blocks.
        pub fn callback_stats(&self) -> $crate::CallbackStats {
            self.inner.core.shared().callbacks.stats()
        }

        /// Makes `f` the handler of the [commands](crate::Command) named
        /// `name` (replacing the one before), run on the dispatcher thread
        /// through this handle's [`Commands`](crate::Commands) table. A
        /// command comes as a message on
        /// [`COMMAND_CHANNEL`](crate::COMMAND_CHANNEL) (its value is
        /// dropped; a failure is reported in an
        /// [`Event::CommandFailed`](crate::Event::CommandFailed)) or as a
        /// request there, answered with the handler's value as JSON, or its
        /// failure: an unknown name as
        /// [`UnknownCommand`](crate::ErrorKind::UnknownCommand), the
        /// handler's words as [`Remote`](crate::ErrorKind::Remote) (and
        /// reported in an `Event::CommandFailed` too). The first handler
        /// registers a message callback (in
        /// [`callback_stats`](Self::callback_stats)) and the responder on
        /// that channel, replacing any [`on_request`](Self::on_request) there.
        ///
        /// ```
        /// use serde_json::{Value, json};
        /// use socketengine::{COMMAND_CHANNEL, Client, Command, ErrorKind, Host, Json};
        /// use std::time::Duration;
        ///
        /// let host = Host::builder().addr("127.0.0.1:0").start()?;
        /// let robot = Client::builder().addr(host.local_addr().to_string()).name("robot").connect()?;
        /// robot.on_command("move", |args, kwargs| {
        ///     let steps = args.first().and_then(Value::as_i64).ok_or("move: steps?")?;
        ///     Ok(json!(steps * kwargs.get("speed").and_then(Value::as_i64).unwrap_or(1)))
        /// })?;
        ///
        /// let timeout = Duration::from_secs(5);
        /// let moved = host.to("robot").request(COMMAND_CHANNEL, Command::new("move").arg(3).kwarg("speed", 2), timeout)?.one()?;
        /// assert_eq!(moved.decode::<Value>()?, json!(6));
        /// let err = host.to("robot").request(COMMAND_CHANNEL, Command::new("dance"), timeout)?.one().unwrap_err();
        /// assert!(matches!(err.kind(), ErrorKind::UnknownCommand(name) if name == "dance"));
        /// # Ok::<(), socketengine::Error>(())
        /// ```
        ///
        /// # Errors
        ///
        /// [`Closed`](crate::ErrorKind::Closed); `Io` when the dispatcher
        /// thread cannot be started.
        #[cfg(feature = "serde")]
        pub fn on_command<F>(&self, name: &str, f: F) -> $crate::Result<()>
        where
            F: Fn(
                    &[serde_json::Value],
                    &serde_json::Map<String, serde_json::Value>,
                ) -> std::result::Result<serde_json::Value, String>
                + Send
                + Sync
                + 'static,
        {
            $crate::on::command(&self.inner.core, name, f)
        }

        /// Removes the handler of the commands named `name`; whether there
        /// was one. Such commands are then unknown.
        #[cfg(feature = "serde")]
        pub fn remove_command(&self, name: &str) -> bool {
            self.inner.core.shared().callbacks.remove_command(name)
        }
    };
}

/// [`Client::on_reconnect`](crate::Client::on_reconnect).
macro_rules! reconnect_method {
    () => {
        /// As [`on_connect`](Self::on_connect), with every
        /// [`Event::Reconnecting`](crate::Event::Reconnecting) (the
        /// connection was lost, or an attempt failed, and the client tries
        /// again after a delay) and [`Event::HostRestarted`](crate::Event::HostRestarted)
        /// (it came back to a host that restarted). Its return is an
        /// [`on_connect`](Self::on_connect).
        ///
        /// # Errors
        ///
        /// As [`on_connect`](Self::on_connect).
        pub fn on_reconnect<F>(&self, name: &str, f: F) -> $crate::Result<$crate::CallbackId>
        where
            F: Fn(&$crate::Event) + Send + Sync + 'static,
        {
            $crate::on::hook(
                &self.inner.core,
                $crate::engine::HookKind::Reconnect,
                name,
                f,
            )
        }
    };
}

pub(crate) use {callback_methods, reconnect_method};
