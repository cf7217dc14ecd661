//! The engine side of each workload: a host and a client on loopback, set up
//! once and reused by every timed batch.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use socketengine::RecvTimeoutError;
use socketengine::{Client, Host, Subscription};

use super::{Counter, OneWay, OrFail, RoundTrip, TIMEOUT, Throughput, bounded, join_within, spawn};

/// How long a reader or echo thread blocks before it looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

/// Starts a host on a free loopback port with `queue_capacity`, and connects a
/// client named `name` to it.
fn pair(name: &str, queue_capacity: usize) -> io::Result<(Host, Client)> {
    let host = Host::builder()
        .addr("127.0.0.1:0")
        .queue_capacity(queue_capacity)
        .write_timeout(TIMEOUT)
        .start()
        .or_fail("cannot start the bench host")?;
    let client = Client::builder()
        .addr(host.local_addr().to_string())
        .name(name)
        .write_timeout(TIMEOUT)
        .connect()
        .or_fail("cannot connect the bench client")?;
    Ok((host, client))
}

/// Closes both handles (joining their event loops), bounded in time.
fn close(host: Host, client: Client) -> io::Result<()> {
    bounded("close-client", move || client.close())?;
    bounded("close-host", move || host.close())
}

/// One client streaming to a host on one channel, and a reader thread on the
/// host draining that channel with `get_all_timeout` and counting what it gets.
///
/// The host reads its socket whether or not anyone drains the queue, so there
/// is no back-pressure from the reader to the writer (raw TCP has it: a slow
/// reader fills the socket buffers and the writer blocks). On two busy cores a
/// descheduled reader can fall a million messages behind and the queue then
/// drops the oldest, which would stall the bench. So the writer here keeps at
/// most `window` messages unread, checking every `window / 64` sends, and the
/// queue holds twice that. With a reader that keeps up the check never waits;
/// [`shutdown`](Self::shutdown) tells how often it did.
pub(crate) struct EngineOneWay {
    host: Host,
    client: Client,
    channel: &'static str,
    /// Shared with the reader thread, which adds to it.
    counter: Arc<Counter>,
    /// Shared with the reader thread, which stops once it is set.
    stop: Arc<AtomicBool>,
    reader: JoinHandle<()>,
    window: u64,
    sent: u64,
    /// Times the writer waited for the reader to catch up.
    stalls: u64,
}

impl EngineOneWay {
    /// Sets up the pair on `channel` and starts the reader; the writer keeps at
    /// most `window` messages unread.
    pub(crate) fn start(channel: &'static str, window: u64) -> io::Result<EngineOneWay> {
        let queue_capacity = usize::try_from(2 * window).or_fail("bench window")?;
        let (host, client) = pair("bench-writer", queue_capacity.max(64))?;
        let counter = Arc::new(Counter::default());
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (host, counter, stop) = (host.clone(), Arc::clone(&counter), Arc::clone(&stop));
            spawn("engine-reader", move || {
                drain(&host, channel, &counter, &stop)
            })?
        };
        Ok(EngineOneWay {
            host,
            client,
            channel,
            counter,
            stop,
            reader,
            window,
            sent: 0,
            stalls: 0,
        })
    }

    /// Waits while more than `window` sent messages are unread.
    fn hold_window(&mut self) -> io::Result<()> {
        if self.sent.saturating_sub(self.counter.messages()) <= self.window {
            return Ok(());
        }
        self.stalls += 1;
        let target = self.sent - self.window;
        self.wait_for(target, "engine writer waiting for its reader")
    }

    /// Stops the reader, then closes client and host; returns how many times
    /// the writer waited for its reader.
    pub(crate) fn shutdown(self) -> io::Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        let joined = join_within(self.reader, "engine reader");
        close(self.host, self.client)?;
        joined.map(|()| self.stalls)
    }
}

impl OneWay for EngineOneWay {
    /// Queues `payload` with an unlocked write; when the outbox is full,
    /// flushes and retries with the payload the error hands back.
    fn send(&mut self, payload: &Bytes) -> io::Result<()> {
        self.sent += 1;
        if self.sent % (self.window / 64).max(1) == 0 {
            self.hold_window()?;
        }
        let mut payload = payload.clone();
        loop {
            match self.client.write(self.channel, payload) {
                Ok(()) => return Ok(()),
                Err(e) if e.is_full() => {
                    self.client.flush().or_fail("engine flush after Full")?;
                    payload = e
                        .into_payload()
                        .ok_or_else(|| io::Error::other("a Full error hands the payload back"))?;
                }
                Err(e) => return Err(e).or_fail("engine write"),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.client.flush().or_fail("engine flush")
    }

    fn received(&self) -> &Counter {
        &self.counter
    }

    fn wait_for(&self, target: u64, what: &str) -> io::Result<()> {
        self.counter.wait_for(target, what, || {
            let stats = self.host.channel_stats(self.channel);
            format!("host channel stats: {stats:?}")
        })
    }
}

/// The reader thread: drains with `get_all_timeout`, which blocks until a batch
/// arrives (or a short timeout passes, to notice `stop`), and counts.
fn drain(host: &Host, channel: &str, counter: &Counter, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let batch = host.get_all_timeout(channel, STOP_POLL);
        if batch.is_empty() {
            continue;
        }
        let bytes = batch.iter().map(|m| m.payload().len() as u64).sum();
        counter.add(batch.len() as u64, bytes);
    }
}

/// A client that sends `ping` with a locked write and waits for `pong` on a
/// subscription, and an echo thread on the host that answers every ping to its
/// sender with a locked write.
pub(crate) struct EnginePingPong {
    host: Host,
    client: Client,
    pong: Subscription,
    payload: Bytes,
    /// Shared with the echo thread, which stops once it is set.
    stop: Arc<AtomicBool>,
    echo: JoinHandle<io::Result<()>>,
}

impl EnginePingPong {
    /// Sets up the pair and the echo thread; pings carry `payload`.
    pub(crate) fn start(payload: Bytes) -> io::Result<EnginePingPong> {
        let (host, client) = pair("bench-pinger", 1024)?;
        let pings = host.subscribe("ping");
        let pong = client.subscribe("pong");
        let stop = Arc::new(AtomicBool::new(false));
        let echo = {
            let (host, stop) = (host.clone(), Arc::clone(&stop));
            spawn("engine-echo", move || echo(&host, &pings, &stop))?
        };
        Ok(EnginePingPong {
            host,
            client,
            pong,
            payload,
            stop,
            echo,
        })
    }

    /// Stops the echo thread, then closes client and host.
    pub(crate) fn shutdown(self) -> io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        let joined = join_within(self.echo, "engine echo");
        drop(self.pong);
        close(self.host, self.client)?;
        joined?
    }
}

impl RoundTrip for EnginePingPong {
    /// A locked `ping`, then the `pong`.
    fn round_trip(&mut self) -> io::Result<()> {
        self.client
            .write_lock("ping", self.payload.clone())
            .or_fail("engine ping write")?;
        let pong = self.pong.recv_timeout(TIMEOUT);
        pong.map(drop)
            .or_fail(&format!("engine pong did not arrive in {TIMEOUT:?}"))
    }
}

/// The echo thread: answers each ping on `pong` to its sender, with a locked write.
fn echo(host: &Host, pings: &Subscription, stop: &AtomicBool) -> io::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        match pings.recv_timeout(STOP_POLL) {
            Ok(ping) => host
                .to(ping.from())
                .write_lock("pong", ping.into_payload())
                .map(drop)
                .or_fail("engine echo write")?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(())
}

/// Streams `payloads` (cycling) on `channel` for `secs` with at most `window`
/// messages unread; what the reader received meanwhile.
pub(crate) fn one_way(
    channel: &'static str,
    payloads: &[Bytes],
    window: u64,
    secs: Duration,
) -> io::Result<Throughput> {
    let mut engine = EngineOneWay::start(channel, window)?;
    let measured = super::stream_for(&mut engine, payloads, (window / 64).max(1), secs);
    let stopped = engine.shutdown();
    let throughput = measured?;
    stopped?;
    Ok(throughput)
}

/// Ping-pong of `payload` for `secs`, handing each round trip to `record`.
pub(crate) fn ping_pong(
    payload: Bytes,
    secs: Duration,
    record: impl FnMut(Duration),
) -> io::Result<()> {
    let mut pp = EnginePingPong::start(payload)?;
    let measured = super::round_trips_for(&mut pp, secs, record);
    let stopped = pp.shutdown();
    measured?;
    stopped
}
