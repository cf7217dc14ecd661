//! The engine side of each workload: a host and a client on loopback, set up
//! once and reused by every timed batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use bytes::Bytes;
use socketengine::RecvTimeoutError;
use socketengine::{Client, Host, Subscription};

use super::{Counter, TIMEOUT, bounded, join_within};

/// How often an idle echo thread looks at its stop flag.
const ECHO_POLL: Duration = Duration::from_millis(50);

/// Starts a host on a free loopback port with `queue_capacity`, and connects a
/// client named `name` to it.
fn pair(name: &str, queue_capacity: usize) -> (Host, Client) {
    let host = Host::builder()
        .addr("127.0.0.1:0")
        .queue_capacity(queue_capacity)
        .write_timeout(TIMEOUT)
        .start()
        .expect("start the bench host");
    let client = Client::builder()
        .addr(host.local_addr().to_string())
        .name(name)
        .write_timeout(TIMEOUT)
        .connect()
        .expect("connect the bench client");
    (host, client)
}

/// Closes both handles (joining their event loops), bounded in time.
fn close(host: Host, client: Client) {
    bounded("close-client", move || client.close());
    bounded("close-host", move || host.close());
}

/// One client streaming to a host on one channel, and a reader thread on the
/// host draining that channel with `get_all` and counting what it gets.
///
/// The host reads its socket whether or not anyone drains the queue, so there
/// is no back-pressure from the reader to the writer (raw TCP has it: a slow
/// reader fills the socket buffers and the writer blocks). On two busy cores a
/// descheduled reader can fall a million messages behind and the queue then
/// drops the oldest, which would stall the bench. So the writer here keeps at
/// most `window` messages unread, checking every `window / 64` sends, and the
/// queue holds twice that. With a reader that keeps up the check never waits;
/// [`shutdown`](Self::shutdown) prints how often it did.
pub(crate) struct EngineOneWay {
    host: Host,
    client: Client,
    channel: &'static str,
    counter: Arc<Counter>,
    stop: Arc<AtomicBool>,
    reader: JoinHandle<()>,
    window: u64,
    sent: u64,
    /// Times the writer waited for the reader to catch up.
    stalls: u64,
}

impl EngineOneWay {
    /// Sets up the pair and starts the reader; the writer keeps at most `window`
    /// messages unread.
    pub(crate) fn start(channel: &'static str, window: u64) -> EngineOneWay {
        let queue_capacity = usize::try_from(2 * window).expect("window fits memory");
        let (host, client) = pair("bench-writer", queue_capacity.max(64));
        let counter = Arc::new(Counter::default());
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (host, counter, stop) = (host.clone(), Arc::clone(&counter), Arc::clone(&stop));
            thread::Builder::new()
                .name("engine-reader".to_owned())
                .spawn(move || drain(&host, channel, &counter, &stop))
                .expect("spawn the engine reader")
        };
        EngineOneWay {
            host,
            client,
            channel,
            counter,
            stop,
            reader,
            window,
            sent: 0,
            stalls: 0,
        }
    }

    /// Queues `payload` with an unlocked write; when the outbox is full, flushes
    /// and retries with the payload the error hands back.
    pub(crate) fn send(&mut self, mut payload: Bytes) {
        self.sent += 1;
        if self.sent % (self.window / 64).max(1) == 0 {
            self.hold_window();
        }
        loop {
            match self.client.write(self.channel, payload) {
                Ok(()) => return,
                Err(e) if e.is_full() => {
                    self.client.flush().expect("engine flush after Full");
                    payload = e
                        .into_payload()
                        .expect("a Full error hands the payload back");
                }
                Err(e) => panic!("engine write failed: {e}"),
            }
        }
    }

    /// Waits while more than `window` sent messages are unread.
    fn hold_window(&mut self) {
        if self.sent.saturating_sub(self.counter.messages()) <= self.window {
            return;
        }
        self.stalls += 1;
        let target = self.sent - self.window;
        self.wait_for(target, "engine writer waiting for its reader");
    }

    /// What the reader has received.
    pub(crate) fn received(&self) -> &Counter {
        &self.counter
    }

    /// Waits until the reader has received `target` messages in all.
    pub(crate) fn wait_for(&self, target: u64, what: &str) {
        self.counter.wait_for(target, what, || {
            let stats = self.host.channel_stats(self.channel);
            format!("host channel stats: {stats:?}")
        });
    }

    /// Stops the reader, then closes client and host.
    pub(crate) fn shutdown(self) {
        println!(
            "engine writer waited for its reader {} times (window {} messages)",
            self.stalls, self.window
        );
        self.stop.store(true, Ordering::Relaxed);
        join_within(self.reader, "engine reader");
        close(self.host, self.client);
    }
}

/// How long the reader blocks for a batch before it checks whether to stop.
const DRAIN_WAIT: Duration = Duration::from_millis(20);

/// The reader thread: drains with `get_all_timeout`, which blocks until a batch
/// arrives (or a short timeout passes, to notice `stop`), and counts.
fn drain(host: &Host, channel: &str, counter: &Counter, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let batch = host.get_all_timeout(channel, DRAIN_WAIT);
        if batch.is_empty() {
            continue;
        }
        let bytes = batch.iter().map(|m| m.payload().len() as u64).sum();
        counter.add(batch.len() as u64, bytes);
    }
}

/// A client that sends `ping` with a locked write and waits for `pong`, and an
/// echo thread on the host that answers every ping to its sender.
pub(crate) struct EnginePingPong {
    host: Host,
    client: Client,
    pong: Subscription,
    payload: Bytes,
    stop: Arc<AtomicBool>,
    echo: JoinHandle<()>,
}

impl EnginePingPong {
    /// Sets up the pair and the echo thread; pings carry `payload`.
    pub(crate) fn start(payload: Bytes) -> EnginePingPong {
        let (host, client) = pair("bench-pinger", 1024);
        let pings = host.subscribe("ping");
        let pong = client.subscribe("pong");
        let stop = Arc::new(AtomicBool::new(false));
        let echo = {
            let (host, stop) = (host.clone(), Arc::clone(&stop));
            thread::Builder::new()
                .name("engine-echo".to_owned())
                .spawn(move || echo(&host, &pings, &stop))
                .expect("spawn the engine echo")
        };
        EnginePingPong {
            host,
            client,
            pong,
            payload,
            stop,
            echo,
        }
    }

    /// One round trip: a locked `ping`, then the `pong`.
    pub(crate) fn round_trip(&self) {
        self.client
            .write_lock("ping", self.payload.clone())
            .expect("engine ping write");
        let pong = self.pong.recv_timeout(TIMEOUT);
        pong.unwrap_or_else(|e| panic!("engine pong did not arrive in {TIMEOUT:?}: {e}"));
    }

    /// Stops the echo thread, then closes client and host.
    pub(crate) fn shutdown(self) {
        self.stop.store(true, Ordering::Relaxed);
        join_within(self.echo, "engine echo");
        drop(self.pong);
        close(self.host, self.client);
    }
}

/// The echo thread: answers each ping on `pong` to its sender, with a locked write.
fn echo(host: &Host, pings: &Subscription, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match pings.recv_timeout(ECHO_POLL) {
            Ok(ping) => host
                .to(ping.from())
                .write_lock("pong", ping.into_payload())
                .map(drop)
                .expect("engine echo write"),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
