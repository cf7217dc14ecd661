//! Commands (feature `serde`): the websocket server seed's `cmd` messages,
//! a name with positional and keyword arguments sent as JSON, and a
//! dispatcher table that runs the handler a command names.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::store::Message;
use crate::{ErrorKind, Result};

/// The channel commands travel on unless an application picks another.
pub const COMMAND_CHANNEL: &str = "cmd";

/// A command: a name, positional arguments and keyword arguments, as the
/// websocket server seed's `cmd` messages carry them.
///
/// Sent as JSON (`Encoding::Json` in its frame): `{"cmd": "move", "args":
/// [1], "kwargs": {"speed": 2}}`, which a Python peer writes as
/// `json.dumps({"cmd": "move", "args": [1], "kwargs": {"speed": 2}})`. When
/// read, `args` and `kwargs` may be missing or `null` (Python's `None`):
/// empty; and `name` is accepted for `cmd`. It is a payload kind:
/// `client.write(COMMAND_CHANNEL, &cmd)`.
///
/// Arguments are [`serde_json::Value`]s: an integer is kept exactly from
/// `i64::MIN` to `u64::MAX`; one beyond (a Python int of more than 64
/// bits) is read as the nearest `f64`, so send such numbers as strings.
/// Fields other than these three are ignored.
///
/// # Examples
///
/// ```
/// use socketengine::{Command, Outgoing};
///
/// let cmd = Command::new("move").arg(1).kwarg("speed", 2);
/// let payload = cmd.into_outgoing()?;
/// assert_eq!(payload.len(), r#"{"cmd":"move","args":[1],"kwargs":{"speed":2}}"#.len());
/// # Ok::<(), socketengine::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Which handler runs it (`cmd` in its JSON).
    #[serde(rename = "cmd", alias = "name")]
    pub name: String,
    /// Positional arguments.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub args: Vec<Value>,
    /// Keyword arguments.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub kwargs: Map<String, Value>,
}

/// A field that may be `null`, read as its empty value.
fn null_as_empty<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

impl Command {
    /// A command named `name`, without arguments.
    pub fn new(name: impl Into<String>) -> Command {
        Command {
            name: name.into(),
            args: Vec::new(),
            kwargs: Map::new(),
        }
    }

    /// Appends a positional argument: anything JSON has a value for
    /// (numbers, strings, booleans, `serde_json::json!(..)`).
    pub fn arg(mut self, value: impl Into<Value>) -> Command {
        self.args.push(value.into());
        self
    }

    /// Sets keyword argument `key` (replacing one set before).
    pub fn kwarg(mut self, key: impl Into<String>, value: impl Into<Value>) -> Command {
        self.kwargs.insert(key.into(), value.into());
        self
    }
}

/// A command handler: positional and keyword arguments in, a value or the
/// words of a failure out. An `Arc`, so a handle's table can hand one out
/// and run it without holding its lock (a handler may register others).
pub(crate) type Handler =
    Arc<dyn Fn(&[Value], &Map<String, Value>) -> Result<Value, String> + Send + Sync>;

/// A dispatcher table: command names to handlers, as the command hub's
/// `on(command, fn)` and the websocket server's `add_cmd_function`.
///
/// It is plain and synchronous: [`dispatch`](Self::dispatch) runs the
/// handler on the calling thread and returns what it returned, and nothing
/// runs by itself: a thread reading a subscription can drive it (below).
/// A handle keeps one of its own for
/// [`Host::on_command`](crate::Host::on_command), run on its dispatcher.
///
/// # Examples
///
/// A robot runs the commands its host sends it:
///
/// ```
/// use serde_json::{Value, json};
/// use socketengine::{COMMAND_CHANNEL, Client, Command, Commands, ErrorKind, Host};
/// use std::time::Duration;
///
/// let host = Host::builder().addr("127.0.0.1:0").start()?;
/// let robot = Client::builder().addr(host.local_addr().to_string()).name("robot").connect()?;
///
/// let mut commands = Commands::new();
/// commands.on("move", |args, kwargs| {
///     let steps = args.first().and_then(Value::as_i64).ok_or("move: steps?")?;
///     let speed = kwargs.get("speed").and_then(Value::as_i64).unwrap_or(1);
///     Ok(json!(steps * speed))
/// });
/// let inbox = robot.subscribe(COMMAND_CHANNEL);
///
/// host.to("robot").write_lock(COMMAND_CHANNEL, Command::new("move").arg(3).kwarg("speed", 2))?;
/// host.to("robot").write_lock(COMMAND_CHANNEL, Command::new("dance"))?;
///
/// // The robot's loop: each message in, its handler run.
/// let msg = inbox.recv_timeout(Duration::from_secs(5)).expect("a command");
/// assert_eq!(commands.dispatch(&msg)?, json!(6));
/// let msg = inbox.recv_timeout(Duration::from_secs(5)).expect("a command");
/// let err = commands.dispatch(&msg).unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::UnknownCommand(name) if name == "dance"));
/// # Ok::<(), socketengine::Error>(())
/// ```
#[derive(Default)]
pub struct Commands {
    handlers: HashMap<String, Handler>,
}

impl Commands {
    /// An empty table.
    pub fn new() -> Commands {
        Commands::default()
    }

    /// Registers `handler` for commands named `name`, replacing the one
    /// registered under that name before, if any.
    pub fn on<F>(&mut self, name: impl Into<String>, handler: F) -> &mut Commands
    where
        F: Fn(&[Value], &Map<String, Value>) -> Result<Value, String> + Send + Sync + 'static,
    {
        self.handlers.insert(name.into(), Arc::new(handler));
        self
    }

    /// Removes the handler of `name`; whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        self.handlers.remove(name).is_some()
    }

    /// Whether a handler is registered for `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.handlers.contains_key(name)
    }

    /// The names with a handler, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Runs the handler `command` names, on this thread; returns what it
    /// returned.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnknownCommand`] when no handler has its name,
    /// [`ErrorKind::CommandFailed`] with the handler's words when it failed.
    pub fn call(&self, command: &Command) -> Result<Value> {
        run(self.handler(&command.name).as_ref(), command)
    }

    /// The handler of `name`, to run without holding the table.
    pub(crate) fn handler(&self, name: &str) -> Option<Handler> {
        self.handlers.get(name).cloned()
    }

    /// Reads `msg` as a [`Command`] ([`Message::decode`]) and runs its
    /// handler, as [`call`](Self::call).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Decode`] for a payload that is not a command (not
    /// JSON or MessagePack, or without a string `cmd`), and the errors of
    /// [`call`](Self::call).
    pub fn dispatch(&self, msg: &Message) -> Result<Value> {
        self.call(&msg.decode::<Command>()?)
    }
}

/// Runs `handler`, the one `command` names (`None`: there is none).
///
/// # Errors
///
/// As [`Commands::call`].
pub(crate) fn run(handler: Option<&Handler>, command: &Command) -> Result<Value> {
    let Some(handler) = handler else {
        return Err(ErrorKind::UnknownCommand(command.name.clone()).into());
    };
    handler(&command.args, &command.kwargs).map_err(|message| {
        let name = command.name.clone();
        ErrorKind::CommandFailed { name, message }.into()
    })
}

impl fmt::Debug for Commands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Commands")
            .field("names", &self.names())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::protocol::Encoding;

    #[test]
    fn commands_read_the_seed_json_with_defaults() {
        let table: [(&[u8], Command); 5] = [
            (
                br#"{"cmd": "move", "args": [1], "kwargs": {"speed": 2}}"#,
                Command::new("move").arg(1).kwarg("speed", 2),
            ),
            (br#"{"cmd": "stop"}"#, Command::new("stop")),
            (
                br#"{"name": "go", "args": ["a"]}"#,
                Command::new("go").arg("a"),
            ),
            (
                br#"{"cmd": "halt", "args": null, "kwargs": null, "id": 3}"#,
                Command::new("halt"),
            ),
            (
                br#"{"cmd": "big", "args": [18446744073709551615, 18446744073709551616]}"#,
                Command::new("big")
                    .arg(u64::MAX)
                    .arg(18_446_744_073_709_551_616.0),
            ),
        ];
        for (json, expected) in table {
            let read: Command = crate::typed::decode(Encoding::Json, json, "cmd").unwrap();
            assert_eq!(read, expected);
        }
        let not_a_list = br#"{"cmd": "x", "args": 5}"#;
        let err = crate::typed::decode::<Command>(Encoding::Json, not_a_list, "cmd").unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Decode { .. }), "{err}");
    }

    #[test]
    fn registering_again_replaces_and_remove_forgets() {
        let mut commands = Commands::new();
        commands.on("v", |_, _| Ok(json!(1)));
        commands.on("v", |_, _| Ok(json!(2)));
        commands.on("w", |_, _| Err("broken".to_owned()));
        assert_eq!(commands.names(), ["v", "w"]);
        assert_eq!(commands.call(&Command::new("v")).unwrap(), json!(2));
        let failed = commands.call(&Command::new("w")).unwrap_err();
        assert!(
            matches!(failed.kind(), ErrorKind::CommandFailed { message, .. } if message == "broken")
        );
        assert!(commands.remove("v"));
        assert!(!commands.remove("v"));
        let unknown = commands.call(&Command::new("v")).unwrap_err();
        assert!(matches!(unknown.kind(), ErrorKind::UnknownCommand(name) if name == "v"));
    }
}
