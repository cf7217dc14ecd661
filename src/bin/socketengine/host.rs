//! `socketengine host`: a relay host (the library's `Relay` and routing) that
//! logs what arrives and shows stats.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use socketengine::{
    AdmissionStats, Auth, ClientId, Event, Events, Host, Message, RecvTimeoutError, Relay,
};

use crate::args::{parse_addr, parse_queue, parse_size};
use crate::shutdown::Shutdown;
use crate::table::Table;
use crate::tls::HostTls;
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
    /// least 1, since the host counts and logs what it takes from the queues.
    #[arg(long, value_name = "N", value_parser = parse_queue, default_value_t = 1024)]
    queue: usize,
    /// Admit only the clients this file lists, each proving its name with its
    /// key, and hold each to the permissions listed with it: one client per
    /// line, `NAME CREDENTIAL PERMISSIONS` (`socketengine keygen` prints the
    /// first two and `all`; permissions are `publish=`, `subscribe=`,
    /// `request=` and `rooms=` with comma-separated channel patterns).
    /// Without it, anyone who reaches the address may read and write every
    /// channel under any free name: the host warns when that address is not
    /// loopback.
    #[arg(long, value_name = "FILE")]
    auth: Option<std::path::PathBuf>,
    #[command(flatten)]
    tls: HostTls,
}

/// Runs the host until SIGINT or SIGTERM.
pub(crate) fn run(args: &HostArgs) -> anyhow::Result<()> {
    let shutdown = Shutdown::install()?;
    let relay = match (args.no_forward, args.echo) {
        (false, false) => Relay::Others,
        (false, true) => Relay::OthersAndEcho,
        (true, false) => Relay::Off,
        (true, true) => Relay::Echo,
    };
    let mut builder = Host::builder()
        .addr(&args.addr)
        .max_frame(args.max_frame)
        .queue_capacity(args.queue)
        .relay(relay);
    if let Some(file) = &args.auth {
        let auth = Auth::from_file(file).map_err(lib)?;
        eprintln!(
            "admitting the {} client(s) listed in {}",
            auth.len(),
            file.display()
        );
        builder = builder.auth(auth);
    }
    let host = args
        .tls
        .apply(builder)?
        .start()
        .map_err(lib)
        .with_context(|| format!("cannot start a host on {}", args.addr))?;
    println!("listening on {}{}", host.local_addr(), args.tls.describe());
    if args.auth.is_none() && !host.local_addr().ip().is_loopback() {
        eprintln!(
            "warning: {} is reachable from the network and this host has no --auth: anyone \
             who reaches it can read and write every channel and take any free name",
            host.local_addr()
        );
    }
    let mut serve = Serve::new(&host, args);
    let result = serve.serve(&shutdown);
    let missed: u64 = host.clients().iter().map(|c| c.dropped).sum();
    host.close();
    serve.say(format!(
        "closed: {} messages received, {missed} copies not sent (full or gone)",
        serve.received
    ));
    result
}

/// The host's loop: it logs what arrives; the library relays it.
struct Serve<'a> {
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
}

impl<'a> Serve<'a> {
    fn new(host: &'a Host, args: &'a HostArgs) -> Serve<'a> {
        Serve {
            host,
            args,
            started: Instant::now(),
            events: host.events(),
            names: HashMap::new(),
            busiest: None,
            table: args.stats.then(Table::new),
            received: 0,
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
        // What arrived before the signal is still logged.
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

    /// Counts and logs one batch from one channel (the host relayed it as
    /// it arrived).
    fn handle(&mut self, msgs: Vec<Message>) {
        self.received += msgs.len() as u64;
        if !self.args.verbose {
            return;
        }
        for msg in msgs {
            let line = format!(
                "message {:<16} from {:<20} {:>10}  {}",
                show::word(msg.channel()),
                self.name(msg.from()),
                show::bytes(msg.payload().len() as f64),
                show::preview(msg.payload()),
            );
            self.say(line);
        }
    }

    /// `name (#id)` of a client, looked up in the host's list if not yet known.
    fn name(&mut self, id: ClientId) -> String {
        if !self.names.contains_key(&id) {
            for info in self.host.clients() {
                self.names.insert(info.id, info.name);
            }
        }
        match self.names.get(&id) {
            Some(name) => format!("{} ({id})", show::word(name)),
            None => id.to_string(),
        }
    }

    fn on_event(&mut self, event: Event) {
        let line = match event {
            Event::Connected { client, name, addr } => {
                let line = format!("connected    {} ({client}) from {addr}", show::word(&name));
                self.names.insert(client, name);
                line
            }
            Event::Disconnected {
                client,
                name,
                addr,
                reason,
            } => {
                let name = show::word(&name);
                match reason {
                    Some(r) => format!(
                        "disconnected {name} ({client}) from {addr}: {:?} {}",
                        r.code,
                        show::quoted(&r.message)
                    ),
                    None => format!("disconnected {name} ({client}) from {addr}"),
                }
            }
            Event::Error {
                client,
                addr,
                error,
            } => match client {
                Some(id) => format!("error        {} at {addr}: {error}", self.name(id)),
                None => format!("error        {addr}: {error}"),
            },
            // Debug-formatted, which escapes what peers chose.
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
                "received {}   (Ctrl-C to stop; relayed copies not sent: \"dropped\" below)",
                self.received
            ),
            door(&self.host.admission_stats()),
        ];
        let clients = self.host.clients();
        if let Some(table) = &mut self.table {
            table.draw(&title, self.host, Some(&clients));
        }
    }
}

/// The stats table's line about connections that did not become clients.
fn door(stats: &AdmissionStats) -> String {
    format!(
        "in the handshake {}   turned away: {} full, {} per address, {} evicted, \
         {} timed out, {} bad hello, {} name taken, {} unauthorized",
        stats.handshaking,
        stats.host_full,
        stats.address_limit,
        stats.evicted,
        stats.timed_out,
        stats.bad_hello,
        stats.name_taken,
        stats.unauthorized
    )
}
