//! `socketengine host`: a relay host that logs, echoes, forwards and shows stats.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use socketengine::{ClientId, Event, Events, Host, Message, RecvTimeoutError};

use crate::args::{parse_addr, parse_queue, parse_size};
use crate::shutdown::Shutdown;
use crate::table::Table;
use crate::{lib, show};

/// How long the loop waits for a message before it looks at events, other
/// channels and the shutdown flag again.
pub(crate) const POLL: Duration = Duration::from_millis(5);

/// Options of `socketengine host`.
#[derive(Debug, Args)]
pub(crate) struct HostArgs {
    /// Address to listen on: host:port, :port or port; port 0 picks a free port.
    #[arg(default_value = "127.0.0.1:8080", value_parser = parse_addr)]
    addr: String,
    /// Print every message: channel, sender, size and a preview (text, or hex).
    #[arg(short, long)]
    verbose: bool,
    /// Send every message back to its sender, on the same channel.
    #[arg(long)]
    echo: bool,
    /// Do not forward messages to the other clients (forwarding is on by default).
    #[arg(long)]
    no_forward: bool,
    /// Show a live table of channels and clients instead of a plain log.
    #[arg(long)]
    stats: bool,
    /// Largest frame accepted or sent (e.g. 64MiB); a client sending a larger
    /// one is disconnected.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64MiB")]
    max_frame: usize,
    /// Messages each channel's queue holds before the oldest is dropped; at
    /// least 1, since the relay forwards what it takes from the queues.
    #[arg(long, value_name = "N", value_parser = parse_queue, default_value_t = 1024)]
    queue: usize,
}

/// Runs the host until SIGINT or SIGTERM.
pub(crate) fn run(args: &HostArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::install()?;
    let host = Host::builder()
        .addr(&args.addr)
        .max_frame(args.max_frame)
        .queue_capacity(args.queue)
        .start()
        .map_err(lib)
        .with_context(|| format!("cannot start a host on {}", args.addr))?;
    println!("listening on {}", host.local_addr());
    let mut relay = Relay::new(&host, args);
    let result = relay.serve(&shutdown);
    host.close();
    relay.say(format!(
        "closed: {} messages received, {} echoed, {} forwarded, {} not sent (full or gone)",
        relay.received, relay.echoed, relay.forwarded, relay.missed
    ));
    result
}

/// The host's loop and its counters.
struct Relay<'a> {
    host: &'a Host,
    args: &'a HostArgs,
    started: Instant,
    events: Events,
    /// Client names by id, for log lines.
    names: HashMap<ClientId, String>,
    /// The channel that last had messages: the one to wait on when all are idle.
    busiest: Option<String>,
    table: Option<Table>,
    received: u64,
    echoed: u64,
    forwarded: u64,
    missed: u64,
}

impl<'a> Relay<'a> {
    fn new(host: &'a Host, args: &'a HostArgs) -> Relay<'a> {
        Relay {
            host,
            args,
            started: Instant::now(),
            events: host.events(),
            names: HashMap::new(),
            busiest: None,
            table: args.stats.then(Table::new),
            received: 0,
            echoed: 0,
            forwarded: 0,
            missed: 0,
        }
    }

    /// Drains every channel, handles events, and waits (bounded) when idle.
    fn serve(&mut self, shutdown: &Shutdown) -> anyhow::Result<()> {
        while !shutdown.requested() {
            while let Ok(event) = self.events.try_recv() {
                self.on_event(event);
            }
            if self.drain_all() == 0 {
                self.wait()?;
            }
            if self.table.as_ref().is_some_and(Table::due) {
                self.draw();
            }
        }
        // What arrived before the signal is still logged and relayed.
        while let Ok(event) = self.events.try_recv() {
            self.on_event(event);
        }
        self.drain_all();
        Ok(())
    }

    /// Takes everything queued on every channel; returns how many messages.
    fn drain_all(&mut self) -> usize {
        let mut total = 0;
        for channel in self.host.channels() {
            let msgs = self.host.get_all(&channel);
            if !msgs.is_empty() {
                total += msgs.len();
                self.busiest = Some(channel);
                self.handle(msgs);
            }
        }
        total
    }

    /// Waits up to [`POLL`] for a message on the busiest channel, or for an
    /// event when there is no channel yet.
    fn wait(&mut self) -> anyhow::Result<()> {
        match self.busiest.clone() {
            Some(channel) => {
                let msgs = self.host.get_all_timeout(&channel, POLL);
                self.handle(msgs);
            }
            None => match self.events.recv_timeout(POLL) {
                Ok(event) => self.on_event(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => anyhow::bail!("the host stopped"),
            },
        }
        Ok(())
    }

    /// Logs, echoes and forwards one batch from one channel.
    fn handle(&mut self, msgs: Vec<Message>) {
        if msgs.is_empty() {
            return;
        }
        self.received += msgs.len() as u64;
        let others = match self.args.no_forward {
            true => Vec::new(),
            false => self.connected(),
        };
        for msg in msgs {
            if self.args.verbose {
                let line = format!(
                    "message {:<16} from {:<20} {:>10}  {}",
                    msg.channel(),
                    self.name(msg.from()),
                    show::bytes(msg.payload().len() as f64),
                    show::preview(msg.payload()),
                );
                self.say(line);
            }
            if self.args.echo {
                self.send(msg.from(), &msg, true);
            }
            for &to in others.iter().filter(|&&to| to != msg.from()) {
                self.send(to, &msg, false);
            }
        }
    }

    /// Queues `msg` to `to` (an unlocked write: a slow client misses it).
    fn send(&mut self, to: ClientId, msg: &Message, echo: bool) {
        // The message as it came: an image is forwarded as an image.
        match self.host.to(to).write(msg.channel(), msg) {
            Ok(_) if echo => self.echoed += 1,
            Ok(_) => self.forwarded += 1,
            Err(err) => {
                self.missed += 1;
                if self.args.verbose {
                    let who = self.name(to);
                    self.say(format!("not sent to {who}: {err}"));
                }
            }
        }
    }

    /// The ids of the connected clients.
    fn connected(&self) -> Vec<ClientId> {
        let clients = self.host.clients();
        clients
            .iter()
            .filter(|c| c.connected)
            .map(|c| c.id)
            .collect()
    }

    /// `name (#id)` of a client, looked up in the host's list if not yet known.
    fn name(&mut self, id: ClientId) -> String {
        if !self.names.contains_key(&id) {
            for info in self.host.clients() {
                self.names.insert(info.id, info.name);
            }
        }
        match self.names.get(&id) {
            Some(name) => format!("{name} ({id})"),
            None => id.to_string(),
        }
    }

    fn on_event(&mut self, event: Event) {
        let line = match event {
            Event::Connected { client, name, addr } => {
                self.names.insert(client, name.clone());
                format!("connected    {name} ({client}) from {addr}")
            }
            Event::Disconnected {
                client,
                name,
                addr,
                reason,
            } => match reason {
                // Debug-formatted: the message comes from the peer.
                Some(r) => format!(
                    "disconnected {name} ({client}) from {addr}: {:?} {:?}",
                    r.code, r.message
                ),
                None => format!("disconnected {name} ({client}) from {addr}"),
            },
            Event::Error {
                client,
                addr,
                error,
            } => match client {
                Some(id) => format!("error        {} at {addr}: {error}", self.name(id)),
                None => format!("error        {addr}: {error}"),
            },
            other => format!("event        {other:?}"),
        };
        self.say(line);
    }

    /// Prints a log line with the time since start, or hands it to the table.
    fn say(&mut self, line: String) {
        let line = format!("{:>9.3}s {line}", self.started.elapsed().as_secs_f64());
        match &mut self.table {
            Some(table) => table.log(line),
            None => println!("{line}"),
        }
    }

    fn draw(&mut self) {
        let title = vec![
            format!(
                "socketengine host on {} — up {}",
                self.host.local_addr(),
                show::age(self.started.elapsed())
            ),
            format!(
                "received {}  echoed {}  forwarded {}  not sent {}   (Ctrl-C to stop)",
                self.received, self.echoed, self.forwarded, self.missed
            ),
        ];
        let clients = self.host.clients();
        if let Some(table) = &mut self.table {
            table.draw(&title, self.host, Some(&clients));
        }
    }
}
