//! The client commands: `send`, `watch` and `stats`.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use serde::Serialize;
use socketengine::{Client, ClientId, Credential, Encoding, Event, Message, Payload, To};

use crate::host::POLL;
use crate::shutdown::Shutdown;
use crate::table::{HostChannels, Table};
use crate::{Connect, lib, show};

/// Options of `socketengine send`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("payload").args(["data", "file", "stdin"])))]
pub(crate) struct SendArgs {
    #[command(flatten)]
    connect: Connect,
    /// The channel to send on (1 to 255 bytes of UTF-8).
    channel: String,
    /// The payload, as given (its bytes, UTF-8 or not).
    data: Option<std::ffi::OsString>,
    /// Send the contents of this file instead.
    #[arg(long, value_name = "F")]
    file: Option<PathBuf>,
    /// Send standard input, read to its end, instead.
    #[arg(long)]
    stdin: bool,
    /// Route the message through the host to the client with this name
    /// instead of to the host; repeat for several. The receivers see this
    /// client as the sender. A name the host does not know fails the
    /// command, as does a message the host would not keep (its limits).
    #[arg(long = "to", value_name = "NAME", conflicts_with_all = ["room", "group"])]
    to: Vec<String>,
    /// Route the message through the host to the members of this room.
    #[arg(long, value_name = "ROOM", conflicts_with = "group")]
    room: Option<String>,
    /// Route the message through the host to the clients whose declared
    /// interest overlaps this channel pattern (`arm/**` reaches a `watch
    /// 'arm/*'`).
    #[arg(long, value_name = "PATTERN")]
    group: Option<String>,
    /// Send the payload as JSON: checked here, and declared in the frame, so
    /// a typed reader (`get_as`, a Python or JavaScript peer) decodes it:
    /// `send ADDR pose '{"x": 1.5}' --json`.
    #[arg(long)]
    json: bool,
    /// Use a locked write (returns once the kernel has the bytes) instead of an
    /// unlocked write followed by a flush; the exit status means the same.
    #[arg(long)]
    lock: bool,
    /// Wait until the host sends the same bytes back on the same channel (as
    /// `host --echo` does), and fail if it does not within --timeout.
    #[arg(long)]
    wait_echo: bool,
    /// Longest time for connecting, for the write, and for the echo, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    timeout: f64,
}

/// Sends one message; fails unless it was delivered (and echoed, if asked).
pub(crate) fn send(args: &SendArgs) -> anyhow::Result<()> {
    let payload = read_payload(args)?;
    let typed = typed(payload.clone(), args.json)?;
    let timeout = secs(args.timeout)?;
    let client = connect(&args.connect, "send", timeout)?;
    let len = payload.len();
    let sent = Instant::now();
    let to = match (&args.room, &args.group, args.to.is_empty()) {
        (Some(room), _, _) => To::Room(room.clone()),
        (None, Some(group), _) => To::Group(group.clone()),
        (None, None, true) => To::Host,
        (None, None, false) => To::Names(args.to.clone()),
    };
    let events = client.events();
    let target = client.to(to);
    let result = match args.lock {
        true => target.write_lock(&args.channel, typed).map(drop),
        false => (target.write(&args.channel, typed)).and_then(|_| client.flush()),
    };
    let failed = || {
        let channel = show::quoted(&args.channel);
        format!("{len} bytes on {channel} not delivered")
    };
    result.map_err(lib).with_context(failed)?;
    // The host answers in order: once it has answered a question asked
    // after the message, its notice about the message (a name it does not
    // know, a limit of its own) has arrived, if it sent one.
    client
        .sync()
        .map_err(lib)
        .context("the host did not confirm it")
        .with_context(failed)?;
    let refusals: Vec<String> = events
        .try_iter()
        .filter_map(|event| match event {
            Event::Undelivered { channel, error } if channel == args.channel => {
                Some(error.to_string())
            }
            _ => None,
        })
        .collect();
    if !refusals.is_empty() {
        return Err(anyhow::anyhow!("the host said: {}", refusals.join("; "))).with_context(failed);
    }
    if args.wait_echo {
        wait_echo(&client, &args.channel, &payload, sent, timeout)?;
    } else {
        eprintln!(
            "sent {len} bytes on {} to {}",
            show::quoted(&args.channel),
            client.host_addr()
        );
    }
    client.close();
    Ok(())
}

/// The payload from the argument, the file or standard input.
fn read_payload(args: &SendArgs) -> anyhow::Result<Bytes> {
    if let Some(data) = &args.data {
        return Ok(data.clone().into_encoded_bytes().into());
    }
    if let Some(path) = &args.file {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(bytes.into());
    }
    if !args.stdin {
        bail!("nothing to send: give DATA, --file F or --stdin");
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .context("cannot read standard input")?;
    Ok(bytes.into())
}

/// `bytes` as a payload: plain, or (`json`) checked as JSON and declared so.
pub(crate) fn typed(bytes: Bytes, json: bool) -> anyhow::Result<Payload> {
    if !json {
        return Ok(Payload::bytes(bytes));
    }
    serde_json::from_slice::<serde_json::Value>(&bytes).context("--json: the payload")?;
    Ok(Payload::encoded(bytes, Encoding::Json))
}

/// Waits for `payload` to come back on `channel`.
fn wait_echo(
    client: &Client,
    channel: &str,
    payload: &Bytes,
    sent: Instant,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = sent + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!(
                "no echo on {} within {timeout:?} (is the host running with --echo?)",
                show::quoted(channel)
            );
        }
        if !client.is_connected() {
            bail!("the host closed the connection before echoing");
        }
        let msgs = client.get_all_timeout(channel, left.min(POLL));
        if msgs.iter().any(|m| m.payload() == payload) {
            let rtt = show::age(sent.elapsed());
            eprintln!(
                "sent {} bytes on {}, echoed after {rtt}",
                payload.len(),
                show::quoted(channel)
            );
            return Ok(());
        }
    }
}

/// Options of `socketengine watch`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    connect: Connect,
    /// Channels or patterns to print (`pose`, `arm/*`, `arm/**`; default:
    /// every channel). The host is told, so it sends this client nothing else
    /// of its broadcasts and relays.
    channels: Vec<String>,
    /// Exit after this many messages.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Print one JSON object per message instead of text.
    #[arg(long)]
    json: bool,
}

/// Prints messages as they arrive, until Ctrl-C, --count or a lost connection.
pub(crate) fn watch(args: &WatchArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::install()?;
    let client = connect(&args.connect, "watch", Duration::from_secs(5))?;
    let which = match args.channels.is_empty() {
        true => "every channel".to_owned(),
        false => (args.channels.iter().map(|c| show::word(c)))
            .collect::<Vec<_>>()
            .join(", "),
    };
    if !args.channels.is_empty() {
        client.interest(&args.channels).map_err(lib)?;
    }
    eprintln!(
        "watching {} as {} ({}) on {which}; Ctrl-C to stop",
        client.host_addr(),
        show::word(client.name()),
        client.id()
    );
    let started = Instant::now();
    let mut names = Names::default();
    let mut printed = 0;
    let mut busiest: Option<String> = None;
    let limit = args.count.unwrap_or(u64::MAX);
    while printed < limit && !shutdown.requested() {
        if !client.is_connected() {
            client.close();
            bail!("the host closed the connection");
        }
        let channels = match args.channels.is_empty() {
            true => client.channels(),
            false => args.channels.clone(),
        };
        let mut got = 0;
        for channel in &channels {
            for msg in client.get_all(channel) {
                let from = names.of(&client, msg.from());
                print_message(&msg, from, started, args.json)?;
                got += 1;
                busiest = Some(channel.clone());
            }
        }
        if got == 0 {
            let wait_on = busiest.as_ref().or(channels.first());
            match wait_on {
                Some(channel) => {
                    for msg in client.get_all_timeout(channel, POLL) {
                        let from = names.of(&client, msg.from());
                        print_message(&msg, from, started, args.json)?;
                        got += 1;
                    }
                }
                None => std::thread::sleep(POLL),
            }
        }
        printed += got;
    }
    client.close();
    Ok(())
}

/// Senders' names, from the host's client list: asked once, and again when a
/// message comes from an id not in it (once per such id).
#[derive(Debug, Default)]
struct Names {
    known: HashMap<ClientId, String>,
    asked_for: HashSet<ClientId>,
}

impl Names {
    /// The name of `id`, if the host knows it (`None` for the host itself).
    fn of(&mut self, client: &Client, id: ClientId) -> Option<&str> {
        if id != ClientId::HOST && !self.known.contains_key(&id) && self.asked_for.insert(id) {
            // A host that does not answer leaves the ids bare.
            if let Ok(list) = client.clients() {
                self.known.extend(list.into_iter().map(|c| (c.id, c.name)));
            }
        }
        self.known.get(&id).map(String::as_str)
    }
}

/// One line for one message; `from_name` is the sender's name, if known.
fn print_message(
    msg: &Message,
    from_name: Option<&str>,
    started: Instant,
    json: bool,
) -> anyhow::Result<()> {
    let t = msg
        .received()
        .saturating_duration_since(started)
        .as_secs_f64();
    let payload = msg.payload();
    if json {
        let body = match std::str::from_utf8(payload) {
            Ok(text) => Body::Text(text),
            Err(_) => Body::Hex(payload.iter().map(|b| format!("{b:02x}")).collect()),
        };
        let line = JsonMessage {
            t: (t * 1e6).round() / 1e6,
            channel: msg.channel(),
            from: msg.from().0,
            from_name,
            size: payload.len(),
            body,
        };
        println!("{}", show::json_line(&line)?);
    } else {
        let from = match (msg.from(), from_name) {
            (ClientId::HOST, _) => "host".to_owned(),
            (id, Some(name)) => format!("{id} ({})", show::word(name)),
            (id, None) => id.to_string(),
        };
        println!(
            "{t:>9.3}s {:<16} from {from:<14} {:>10}  {}",
            show::word(msg.channel()),
            show::bytes(payload.len() as f64),
            show::preview(payload)
        );
    }
    Ok(())
}

/// One message as `watch --json` prints it, fields in this order.
#[derive(Debug, Serialize)]
struct JsonMessage<'a> {
    /// Seconds from the start of `watch` to the message's arrival.
    t: f64,
    channel: &'a str,
    /// The sender's client id (0: the host).
    from: u64,
    /// The sender's name, when the host's client list has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    from_name: Option<&'a str>,
    /// Payload bytes.
    size: usize,
    #[serde(flatten)]
    body: Body<'a>,
}

/// The payload: `"text"` when it is UTF-8, otherwise `"hex"`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "lowercase")]
enum Body<'a> {
    Text(&'a str),
    Hex(String),
}

/// Options of `socketengine stats`.
#[derive(Debug, Args)]
pub(crate) struct StatsArgs {
    #[command(flatten)]
    connect: Connect,
    /// Exit after this many refreshes.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

/// Shows the live table of the host's channels (rates from successive
/// counters) and clients, asked of the host at each refresh.
pub(crate) fn stats(args: &StatsArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::install()?;
    let client = connect(&args.connect, "stats", Duration::from_secs(5))?;
    let started = Instant::now();
    let mut table = Table::new();
    let mut refreshes = 0;
    let limit = args.count.unwrap_or(u64::MAX);
    while refreshes < limit && !shutdown.requested() {
        if table.due() {
            let connected = match client.is_connected() {
                true => "connected",
                false => "DISCONNECTED",
            };
            let mut title = vec![format!(
                "socketengine stats: {} as {} ({}) — {connected}, up {}",
                client.host_addr(),
                show::word(client.name()),
                client.id(),
                show::age(started.elapsed())
            )];
            match client
                .host_channels()
                .and_then(|c| Ok((c, client.clients()?)))
            {
                Ok((channels, clients)) => {
                    title.push("the host's channels and clients; Ctrl-C to stop".to_owned());
                    table.draw(&title, &HostChannels(channels), Some(&clients));
                }
                // An older host, or none right now: what this client receives.
                Err(err) => {
                    title.push(format!(
                        "what this client receives (the host did not answer: {err}); \
                         Ctrl-C to stop"
                    ));
                    table.draw(&title, &client, None);
                }
            }
            refreshes += 1;
            // Drained after the draw, so "queued" is the depth at the refresh.
            for channel in client.channels() {
                drop(client.get_all(&channel));
            }
        }
        std::thread::sleep(POLL);
    }
    client.close();
    Ok(())
}

/// Connects under the given name, or `{default_name}-{pid}`: the host lets a
/// newer client take over a connected name, so two watchers must differ.
pub(crate) fn connect(
    args: &Connect,
    default_name: &str,
    timeout: Duration,
) -> anyhow::Result<Client> {
    let name = match (&args.name, &args.key) {
        (Some(name), _) => name.clone(),
        (None, Some(_)) => bail!("--key proves a name: give it with --name"),
        (None, None) => format!("{default_name}-{}", std::process::id()),
    };
    let mut builder = Client::builder()
        .addr(&args.addr)
        .name(name)
        .max_frame(args.max_frame)
        .connect_timeout(timeout)
        .write_timeout(timeout);
    if let Some(key) = &args.key {
        builder = builder.credential(Credential::from_file(key).map_err(lib)?);
    }
    args.tls.apply(builder)?.connect().map_err(lib)
}

/// A timeout in seconds from the command line.
pub(crate) fn secs(value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).with_context(|| format!("bad timeout {value} s"))
}
