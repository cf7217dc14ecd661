//! `socketengine`: the command-line tool of the socketengine crate.
//!
//! One binary with subcommands: `host` runs a relay host, `send` publishes one
//! message, `watch` prints what arrives, `stats` shows live rates, `request`
//! asks a responder and `respond` answers, `bench`
//! compares the engine with raw TCP on loopback, and `demo` streams synthetic
//! 1080p camera frames beside a control loop. `socketengine help <command>`
//! explains each one.
//!
//! The binary is a thin layer over the library: clap parses, anyhow carries
//! errors to one line on stderr, and everything else is `Host` and `Client`.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod args;
mod bench;
mod client;
mod demo;
mod host;
mod keygen;
mod request;
mod rtt;
mod show;
mod shutdown;
mod table;
mod tls;

use args::{parse_addr, parse_size};

/// A raw-TCP channelled data engine: host, clients, live stats and benchmarks.
///
/// Addresses may be given as `host:port`, `:port` or `port` (the host part
/// defaults to 127.0.0.1); sizes as `4096`, `64KiB`, `16MiB`, `1GB` and so on.
#[derive(Debug, Parser)]
#[command(name = "socketengine", version, propagate_version = true)]
struct Cli {
    /// What to run.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a host that relays every message to its other clients, until Ctrl-C.
    ///
    /// Prints the address it listens on as its first line of output (with the
    /// real port when given port 0), then one line per connect, disconnect and
    /// connection error. Every message a client sends is stored on the host and,
    /// unless --no-forward is given, relayed on the same channel to every other
    /// connected client, as sent by that client (`watch` shows the real
    /// sender), so `send` and `watch` talk to each other through it. Messages a
    /// client routes itself (`send --to NAME`) go only where they are routed.
    /// A client too slow to take a relayed message misses it (counted in its
    /// "dropped" column under --stats). SIGINT and SIGTERM close the host cleanly.
    Host(host::HostArgs),
    /// Send one message and exit; the exit status says whether it was delivered.
    ///
    /// Exit status 0 means the host has acted on the message: stored it, or
    /// passed it on to where it was routed (a round trip to the host after
    /// the write confirms it). A name the host does not know, a limit of the
    /// host's or a permission it lacks fails the command with the host's
    /// reason. With --wait-echo, it means more: the host (`host --echo`) sent
    /// the same bytes back on the same channel within --timeout.
    Send(client::SendArgs),
    /// Print the messages this client receives, one line each, until Ctrl-C.
    ///
    /// A client receives only what the host sends to it. With the `socketengine
    /// host` relay (the default), that is every message other clients send; with
    /// a host of your own program, it is what that program writes to this client
    /// or to all clients. The sender shows as "host" because relayed messages do
    /// not carry their origin yet. The first line, on stderr, says when the
    /// watcher is connected.
    Watch(client::WatchArgs),
    /// Ask a responder on a channel and print its answer; the exit status
    /// says whether it answered.
    ///
    /// Sends one request to the host's responder on CHANNEL (a host program's
    /// `on_request`; the `socketengine host` relay has none), or with --to to
    /// the client of that name through the host (`socketengine respond`, or a
    /// program's `on_request`; a program's `on_command` answers on `cmd`).
    /// The answer's payload goes to stdout as it came (a MessagePack answer
    /// as JSON), then a newline; who answered and how fast, to stderr. Every
    /// failure exits non-zero with the typed error: no responder, the
    /// responder's own words, busy, unknown command, no such client, the
    /// responder left, timed out.
    Request(request::RequestArgs),
    /// Answer requests on a channel until Ctrl-C: echo each payload back
    /// (--echo) or answer with fixed text (--reply TEXT).
    ///
    /// Connects as a client (name: --name, default "respond-PID") and
    /// registers a responder on CHANNEL; other clients ask it through the
    /// host (`socketengine request ADDR CHANNEL DATA --to NAME`), and a host
    /// program with `host.to(NAME).request(..)`. Its first line on stderr
    /// says it is ready; then one line per request.
    Respond(request::RespondArgs),
    /// A live table of the channels this client receives, refreshed in place.
    ///
    /// Connects as a client (named "stats-PID") and shows, per channel it receives:
    /// messages/s, bytes/s, totals, the age of the latest message, the queue
    /// depth at the moment of the refresh and the messages dropped, plus the
    /// state of the connection. With the `socketengine host` relay this is every
    /// channel the other clients send on. The host's own view (every client's
    /// name, address, last-seen time and drops) is `socketengine host --stats`:
    /// the wire format has no way yet for a client to ask the host for its table.
    /// On a terminal the table is redrawn twice a second; otherwise it is printed
    /// as plain lines once a second.
    Stats(client::StatsArgs),
    /// Measure the engine against a raw-TCP baseline on loopback, in one process.
    ///
    /// Each workload runs the engine (a host and a client) and then the baseline
    /// (std sockets, 4-byte little-endian length prefix, TCP_NODELAY, a buffered
    /// writer for small messages, writev for large ones, a reader that parses in
    /// place), each for --secs seconds, and prints a table: workload, engine, raw
    /// TCP and their ratio. Throughput ratios are engine / raw (higher is better);
    /// latency ratios are engine / raw too (lower is better). Progress goes to
    /// stderr. The machine is noisy: compare ratios, not absolute figures.
    Bench(bench::BenchArgs),
    /// Stream synthetic 1080p camera frames beside a control loop and print live
    /// rates; ends by itself.
    ///
    /// An embedded host on 127.0.0.1 (a free port), a "camera" client streaming
    /// 1920x1080 RGB frames (6,220,800 bytes each, a moving gradient) on the
    /// image path with locked writes (each returns once the frame is in the
    /// kernel, so no frame is conflated away and every frame is counted), and a
    /// "controller" client sending small commands on "cmd", each with a locked
    /// write, that the host answers on "ack". Once a second it prints frames/s,
    /// GB/s, control round trips per second, round-trip p50/p99 and drops; after
    /// --secs seconds (or Ctrl-C), a summary, and everything is closed.
    Demo(demo::DemoArgs),
    /// Make a client's key and print the line that admits it to a host.
    ///
    /// Writes a new Ed25519 key to --key (readable by its owner only; an
    /// existing file is read instead, never overwritten) and prints, on
    /// stdout, the line for the host's `--auth` file: the name, the public
    /// key, and `all` (every permission; narrow it with `publish=`,
    /// `subscribe=`, `request=` and `rooms=` patterns). The client then
    /// connects with `--name NAME --key FILE`. A key file may instead hold a
    /// shared token, written by hand as `token:SECRET` (long and random);
    /// its line lists the token's SHA-256, which proves the name as the token
    /// does, so keep the auth file private. A key's secret half is never
    /// printed.
    Keygen(keygen::KeygenArgs),
}

/// Options shared by the commands that connect as a client.
#[derive(Debug, Args, Clone)]
struct Connect {
    /// The host's address: host:port, :port or port.
    #[arg(value_parser = parse_addr)]
    addr: String,
    /// The name this client gives the host (default: the command and the process
    /// id, e.g. watch-4242). The host refuses a connected client's name to
    /// others, unless they prove it with its key.
    #[arg(long)]
    name: Option<String>,
    /// The key file that proves --name to a host that requires it (`host
    /// --auth`); `socketengine keygen` makes one.
    #[arg(long, value_name = "FILE")]
    key: Option<std::path::PathBuf>,
    /// Largest frame accepted or sent (e.g. 64MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64MiB")]
    max_frame: usize,
    #[command(flatten)]
    tls: tls::ClientTls,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one subcommand.
fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Host(args) => host::run(&args),
        Command::Send(args) => client::send(&args),
        Command::Watch(args) => client::watch(&args),
        Command::Stats(args) => client::stats(&args),
        Command::Request(args) => request::request(&args),
        Command::Respond(args) => request::respond(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Keygen(args) => keygen::run(&args),
    }
    .map(|()| ExitCode::SUCCESS)
}

/// A library error as an anyhow error with one line of text: the library's
/// messages already include their cause, so the chain is not repeated.
fn lib(err: socketengine::Error) -> anyhow::Error {
    anyhow::anyhow!("{err}")
}
