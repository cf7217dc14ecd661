//! The live stats table shared by `host --stats` and `stats`: per-channel rates
//! from successive snapshots of the store, per-client rows, and a screen that is
//! redrawn in place on a terminal or printed as plain lines otherwise.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use socketengine::{ChannelInfo, ChannelStats, Client, ClientInfo, Host};

use crate::show;

/// How often the table is redrawn on a terminal.
pub(crate) const TTY_REFRESH: Duration = Duration::from_millis(500);

/// How often the table is printed when stdout is not a terminal.
pub(crate) const PLAIN_REFRESH: Duration = Duration::from_secs(1);

/// Lines of recent log output kept under the table.
const RECENT: usize = 8;

/// What the table reads from a host or a client.
pub(crate) trait Source {
    /// The channel names, sorted.
    fn channel_names(&self) -> Vec<String>;
    /// The counters of one channel.
    fn stats(&self, channel: &str) -> Option<ChannelStats>;
    /// When the latest message on `channel` arrived.
    fn latest_at(&self, channel: &str) -> Option<Instant>;
}

macro_rules! impl_source {
    ($ty:ty) => {
        impl Source for $ty {
            fn channel_names(&self) -> Vec<String> {
                self.channels()
            }
            fn stats(&self, channel: &str) -> Option<ChannelStats> {
                self.channel_stats(channel)
            }
            fn latest_at(&self, channel: &str) -> Option<Instant> {
                self.get(channel).map(|m| m.received())
            }
        }
    };
}

impl_source!(Host);
impl_source!(Client);

/// A host's channels as a client asked for them (`Client::host_channels`):
/// counters only, no latest message.
#[derive(Debug)]
pub(crate) struct HostChannels(pub(crate) Vec<ChannelInfo>);

impl Source for HostChannels {
    fn channel_names(&self) -> Vec<String> {
        self.0.iter().map(|c| c.name.clone()).collect()
    }
    fn stats(&self, channel: &str) -> Option<ChannelStats> {
        self.0.iter().find(|c| c.name == channel).map(|c| c.stats)
    }
    fn latest_at(&self, _channel: &str) -> Option<Instant> {
        None
    }
}

/// One channel's row.
#[derive(Debug, Clone)]
struct ChannelRow {
    name: String,
    msgs_per_sec: f64,
    bytes_per_sec: f64,
    stats: ChannelStats,
    age: Option<Duration>,
}

/// Turns counters into rates between two refreshes, and draws the screen.
#[derive(Debug)]
pub(crate) struct Table {
    /// Counters at the previous refresh, by channel.
    previous: HashMap<String, ChannelStats>,
    at: Instant,
    tty: bool,
    /// Log lines shown under the table on a terminal.
    recent: VecDeque<String>,
    next_draw: Instant,
}

impl Table {
    /// A table drawing to stdout, in place when stdout is a terminal.
    pub(crate) fn new() -> Table {
        let now = Instant::now();
        Table {
            previous: HashMap::new(),
            at: now,
            tty: std::io::stdout().is_terminal(),
            recent: VecDeque::new(),
            next_draw: now,
        }
    }

    /// Shows a log line: under the table on a terminal, printed at once otherwise.
    pub(crate) fn log(&mut self, line: String) {
        match self.tty {
            true => {
                if self.recent.len() == RECENT {
                    self.recent.pop_front();
                }
                self.recent.push_back(line);
            }
            false => println!("{line}"),
        }
    }

    /// Whether the next refresh is due.
    pub(crate) fn due(&self) -> bool {
        Instant::now() >= self.next_draw
    }

    /// Redraws the table: `title` lines, the channels of `source`, and
    /// `clients` when given.
    pub(crate) fn draw(
        &mut self,
        title: &[String],
        source: &dyn Source,
        clients: Option<&[ClientInfo]>,
    ) {
        let now = Instant::now();
        self.next_draw = now + if self.tty { TTY_REFRESH } else { PLAIN_REFRESH };
        let rows = self.sample(source, now);
        let mut out = String::new();
        for line in title {
            let _ = writeln!(out, "{line}");
        }
        out.push('\n');
        channel_lines(&mut out, &rows);
        if let Some(clients) = clients {
            out.push('\n');
            client_lines(&mut out, clients, now);
        }
        if self.tty {
            if !self.recent.is_empty() {
                out.push_str("\nrecent:\n");
            }
            for line in &self.recent {
                let _ = writeln!(out, "  {line}");
            }
            // Home, then every line clears its old tail, then clear below.
            out = format!("\x1b[H{}\x1b[J", out.replace('\n', "\x1b[K\n"));
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }

    /// Rows for every channel, with rates since the previous sample.
    fn sample(&mut self, source: &dyn Source, now: Instant) -> Vec<ChannelRow> {
        let secs = now.duration_since(self.at).as_secs_f64().max(1e-3);
        self.at = now;
        let mut rows = Vec::new();
        for name in source.channel_names() {
            let Some(stats) = source.stats(&name) else {
                continue;
            };
            let before = self
                .previous
                .insert(name.clone(), stats)
                .unwrap_or_default();
            rows.push(ChannelRow {
                msgs_per_sec: stats.received.saturating_sub(before.received) as f64 / secs,
                bytes_per_sec: stats.bytes.saturating_sub(before.bytes) as f64 / secs,
                age: source
                    .latest_at(&name)
                    .map(|t| now.saturating_duration_since(t)),
                stats,
                name,
            });
        }
        rows
    }
}

/// The channel section.
fn channel_lines(out: &mut String, rows: &[ChannelRow]) {
    let _ = writeln!(
        out,
        "{:<20} {:>10} {:>12} {:>10} {:>12} {:>10} {:>11} {:>8}",
        "channel", "msgs/s", "bytes/s", "msgs", "bytes", "last", "queued", "dropped"
    );
    if rows.is_empty() {
        let _ = writeln!(out, "(no channels yet)");
    }
    for row in rows {
        let queued = format!("{}/{}", row.stats.queued, row.stats.capacity);
        let _ = writeln!(
            out,
            "{:<20} {:>10} {:>12} {:>10} {:>12} {:>10} {:>11} {:>8}",
            show::word(&row.name),
            show::count(row.msgs_per_sec),
            format!("{}/s", show::bytes(row.bytes_per_sec)),
            show::count(row.stats.received as f64),
            show::bytes(row.stats.bytes as f64),
            row.age
                .map_or("-".to_owned(), |a| format!("{} ago", show::age(a))),
            queued,
            row.stats.dropped,
        );
    }
}

/// The client section.
fn client_lines(out: &mut String, clients: &[ClientInfo], now: Instant) {
    let _ = writeln!(
        out,
        "{:<6} {:<20} {:<22} {:<10} {:>12} {:>10} {:>8}",
        "client", "name", "address", "state", "last seen", "queued", "dropped"
    );
    if clients.is_empty() {
        let _ = writeln!(out, "(no clients yet)");
    }
    for c in clients {
        let state = if c.connected { "connected" } else { "gone" };
        let seen = show::age(now.saturating_duration_since(c.last_seen));
        let _ = writeln!(
            out,
            "{:<6} {:<20} {:<22} {:<10} {:>12} {:>10} {:>8}",
            c.id.to_string(),
            show::word(&c.name),
            c.addr.to_string(),
            state,
            format!("{seen} ago"),
            show::bytes(c.queued_bytes as f64),
            c.dropped,
        );
    }
}
