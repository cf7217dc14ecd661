//! The soak's host, in a process of its own, so that the resident memory
//! sampled is the host's alone: not the attackers' buffers, nor the
//! legitimate clients'.
//!
//! The soak's test spawns its own binary again, with [`ROLE`] set and the
//! same test selected; that process runs [`serve`]: the host, its echo of
//! the control loop's pings, a watcher of its events and, once the attacks
//! begin, a sampler of its memory. The two talk over the child's standard
//! input (commands, one a line) and output (lines beginning [`PREFIX`];
//! libtest's own lines are skipped). The child's standard error is the
//! parent's, so its report reads with the rest.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use socketengine::{Auth, Event, Host, IMAGE_CHANNEL, Relay};

use super::util::{TIMEOUT, host_with, wait_until};
use super::{LEGIT, MIB, until_stopped, variant};

/// Set in the host process's environment.
pub(crate) const ROLE: &str = "SOAK_ROLE";

/// What begins each line the host process writes for the test.
const PREFIX: &str = "soak-host";

/// How long the test waits for any one line from the host process: its
/// last lines come after it has waited up to [`TIMEOUT`] for the camera's
/// frames.
const LINE_WAIT: Duration = Duration::from_secs(120);

/// The host's echo's stamps by the ping's sequence number: when the host's
/// loop stored the ping and when the echo answered it, on the monotonic
/// clock (nanoseconds, the same in both processes).
type Stamps = Arc<Mutex<HashMap<u64, (u64, u64)>>>;

/// One sample a second while the attacks run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    /// The host process's resident memory.
    pub(crate) rss: usize,
    /// What the host counted against its memory limit.
    pub(crate) counted: usize,
    /// Of that, what waits in its outboxes.
    pub(crate) queued: usize,
}

/// What the host process saw, sent to the test when it stops.
#[derive(Debug, Default)]
pub(crate) struct HostReport {
    /// The host process's resident memory when the attacks began.
    pub(crate) rss_before: usize,
    pub(crate) samples: Vec<Sample>,
    /// Camera frames the host received, and dropped part way.
    pub(crate) images_received: u64,
    pub(crate) images_incomplete: u64,
    /// Whether it received every frame the camera sent.
    pub(crate) has_all: bool,
    /// Answers of the echo that failed.
    pub(crate) echo_failed: u64,
    /// The legitimate clients' disconnections.
    pub(crate) legit_gone: Vec<String>,
    /// Host events that went uncounted.
    pub(crate) events_dropped: u64,
    /// By ping: stored and answered, monotonic nanoseconds.
    pub(crate) stamps: HashMap<u64, (u64, u64)>,
}

/// `at` on the monotonic clock (`CLOCK_MONOTONIC`, which [`Instant`] reads
/// on Linux), in nanoseconds: comparable across processes.
pub(crate) fn monotonic_ns(at: Instant) -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let taken = Instant::now();
    // SAFETY: `now` is a valid, writable timespec for the call's duration.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC)");
    let now_ns = now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64;
    let before = taken.saturating_duration_since(at).as_nanos() as u64;
    let after = at.saturating_duration_since(taken).as_nanos() as u64;
    now_ns - before + after
}

/// The host process: serves until the test says `stop` (or goes away),
/// then reports.
pub(crate) fn serve(auth: Auth) {
    let host = host_with(|b| b.relay(Relay::Others).auth(auth));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(&host, &stop);
    let stamps = Stamps::default();
    let echoer = echo(host.clone(), &stop, Arc::clone(&stamps));
    say(format_args!("addr {}", host.local_addr()));
    let mut report = HostReport::default();
    let mut sampler = None;
    let mut frames_sent = 0;
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap_or_default();
        match line.split_whitespace().collect::<Vec<_>>()[..] {
            ["attacks"] => {
                report.rss_before = vm_rss();
                sampler = Some(sample(host.clone(), &stop));
            }
            ["stop", sent] => {
                frames_sent = sent.parse().unwrap();
                break;
            }
            _ => panic!("the host process does not know {line:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    report.echo_failed = echoer.join().unwrap();
    report.samples = sampler.map(|s| s.join().unwrap()).unwrap_or_default();
    report.has_all = wait_until(TIMEOUT, || {
        host.image_stats(IMAGE_CHANNEL).received >= frames_sent
    });
    let images = host.image_stats(IMAGE_CHANNEL);
    (report.images_received, report.images_incomplete) = (images.received, images.incomplete);
    let mut watched = watcher.join().unwrap();
    host.events().try_iter().for_each(|e| watched.count(e));
    report.legit_gone = watched.legit_gone.clone();
    report.events_dropped = host.events_dropped();
    report.stamps = std::mem::take(&mut *stamps.lock());
    describe(&host, &watched);
    report.send();
}

/// Writes one line for the test.
fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{PREFIX} {line}").unwrap();
    out.flush().unwrap();
}

/// The host's side of the soak's report, for people.
fn describe(host: &Host, watched: &Watched) {
    eprintln!("admission: {:?}", host.admission_stats());
    eprintln!("host events: {:?}", watched.counts);
    let clients = host.clients();
    let connected = clients.iter().filter(|c| c.connected).count();
    eprintln!(
        "host: {} clients known, {connected} connected, {} channels, {} MiB counted",
        clients.len(),
        host.channels().len(),
        host.memory_used() / MIB
    );
    let shed = |channel| host.channel_stats(channel).map_or(0, |s| s.dropped);
    let viewer = clients.iter().find(|c| c.name == "viewer");
    eprintln!(
        "host dropped from its own queues: {} of ctl/ping, {} of image; conflated {} \
         frames for the viewer",
        shed("ctl/ping"),
        shed(IMAGE_CHANNEL),
        viewer.map_or(0, |c| c.images_dropped),
    );
}

impl HostReport {
    fn send(&self) {
        say(format_args!("rss_before {}", self.rss_before));
        for s in &self.samples {
            say(format_args!("sample {} {} {}", s.rss, s.counted, s.queued));
        }
        say(format_args!(
            "images {} {} {}",
            self.images_received, self.images_incomplete, self.has_all
        ));
        say(format_args!("echo_failed {}", self.echo_failed));
        say(format_args!("events_dropped {}", self.events_dropped));
        for gone in &self.legit_gone {
            say(format_args!("legit_gone {}", gone.escape_debug()));
        }
        for (seq, (stored, answered)) in &self.stamps {
            say(format_args!("stamp {seq} {stored} {answered}"));
        }
        say(format_args!("end"));
    }

    /// Takes one of [`send`](Self::send)'s lines (without the prefix);
    /// returns whether more follow.
    fn take(&mut self, line: &str) -> bool {
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        let n: Vec<u64> = rest.split(' ').filter_map(|v| v.parse().ok()).collect();
        match key {
            "rss_before" => self.rss_before = n[0] as usize,
            "sample" => self.samples.push(Sample {
                rss: n[0] as usize,
                counted: n[1] as usize,
                queued: n[2] as usize,
            }),
            "images" => {
                (self.images_received, self.images_incomplete) = (n[0], n[1]);
                self.has_all = rest.ends_with("true");
            }
            "echo_failed" => self.echo_failed = n[0],
            "events_dropped" => self.events_dropped = n[0],
            "legit_gone" => self.legit_gone.push(rest.to_owned()),
            "stamp" => drop(self.stamps.insert(n[0], (n[1], n[2]))),
            "end" => return false,
            _ => panic!("the host process said {line:?}"),
        }
        true
    }
}

/// The test's handle on the host process.
pub(crate) struct HostProcess {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    /// Where the host listens.
    pub(crate) addr: SocketAddr,
}

impl HostProcess {
    /// Starts this test binary again as the host process, running `test`.
    pub(crate) fn spawn(test: &str) -> HostProcess {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "--nocapture", test])
            .env(ROLE, "host")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the host process starts");
        let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(ours) = line.strip_prefix(PREFIX) {
                    if tx.send(ours.trim_start().to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        let mut process = HostProcess {
            child,
            stdin,
            lines,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let addr = process.next_line();
        let addr = addr
            .strip_prefix("addr ")
            .expect("the host's address first");
        process.addr = addr.parse().unwrap();
        process
    }

    fn next_line(&self) -> String {
        match self.lines.recv_timeout(LINE_WAIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => panic!("the host process said nothing"),
            Err(RecvTimeoutError::Disconnected) => panic!("the host process ended early"),
        }
    }

    fn tell(&mut self, command: std::fmt::Arguments<'_>) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The attacks begin: the host process notes its memory and samples it.
    pub(crate) fn attacks_begin(&mut self) {
        self.tell(format_args!("attacks"));
    }

    /// Stops the host process once it has the camera's `frames_sent`
    /// frames (or gave up waiting), and takes its report.
    pub(crate) fn finish(mut self, frames_sent: u64) -> HostReport {
        self.tell(format_args!("stop {frames_sent}"));
        let mut report = HostReport::default();
        for _ in 0..10_000_000 {
            if !report.take(&self.next_line()) {
                break;
            }
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the host process ended with {status}");
        report
    }
}

/// The host's echo: every ping back to its sender on `ctl/pong`; counts
/// failed answers.
fn echo(host: Host, stop: &Arc<AtomicBool>, stamps: Stamps) -> JoinHandle<u64> {
    until_stopped(stop, Duration::ZERO, 0, move |failed| {
        for ping in host.get_all_timeout("ctl/ping", Duration::from_millis(50)) {
            let answer = host
                .to(ping.from())
                .write_lock("ctl/pong", ping.payload().clone());
            *failed += u64::from(answer.is_err());
            let seq = u64::from_le_bytes(ping.payload()[..8].try_into().unwrap());
            let answered = monotonic_ns(Instant::now());
            stamps
                .lock()
                .insert(seq, (monotonic_ns(ping.received()), answered));
        }
    })
}

/// What the host's events said: every kind counted, and the legitimate
/// clients' disconnections listed.
#[derive(Debug, Default)]
struct Watched {
    counts: BTreeMap<String, u64>,
    legit_gone: Vec<String>,
}

fn watch(host: &Host, stop: &Arc<AtomicBool>) -> JoinHandle<Watched> {
    let events = host.events();
    until_stopped(stop, Duration::ZERO, Watched::default(), move |w| {
        if let Ok(event) = events.recv_timeout(Duration::from_millis(50)) {
            w.count(event);
        }
    })
}

impl Watched {
    fn count(&mut self, event: Event) {
        let what = match &event {
            Event::Connected { .. } => "connected".to_owned(),
            Event::Disconnected { name, reason, .. } => {
                if LEGIT.contains(&name.as_str()) {
                    self.legit_gone.push(format!("{event:?}"));
                }
                format!("disconnected {:?}", reason.as_ref().map(|r| r.code))
            }
            Event::Error { error, .. } => format!("error {}", variant(error.kind())),
            other => variant(other),
        };
        *self.counts.entry(what).or_default() += 1;
    }
}

/// The process's resident memory (`VmRSS`), in bytes (0 where unknown).
pub(crate) fn vm_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:"));
    let kib = line.and_then(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok());
    kib.unwrap_or(0) * 1024
}

fn sample(host: Host, stop: &Arc<AtomicBool>) -> JoinHandle<Vec<Sample>> {
    until_stopped(stop, Duration::from_secs(1), Vec::new(), move |samples| {
        let queued = host.clients().iter().map(|c| c.queued_bytes).sum();
        let (rss, counted) = (vm_rss(), host.memory_used());
        samples.push(Sample {
            rss,
            counted,
            queued,
        });
    })
}
