//! The engine side of each workload: a host and a client (on loopback, or
//! across the [far side](super::place)), set up
//! once and reused by every timed batch.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use socketengine::RecvTimeoutError;
use socketengine::{
    Client, ClientBuilder, Host, HostBuilder, Inbox, Subscription, TlsClient, TlsServer,
};

use super::{Counter, OneWay, OrFail, RoundTrip, TIMEOUT, Throughput, bounded, join_within, spawn};

/// How long a reader or echo thread blocks before it looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

/// A host's and its clients' TLS settings, for a pair speaking TLS.
pub(crate) type Tls = (TlsServer, TlsClient);

/// Starts a host on a free loopback port and connects a client named `name`
/// to it, both with `queue_capacity`, speaking TLS if `tls` is given.
fn pair(name: &str, queue_capacity: usize, tls: Option<&Tls>) -> io::Result<(Host, Client)> {
    pair_with(name, queue_capacity, tls, (|b| b, |b| b))
}

/// As [`pair`], the host's builder passed through `f` first, the client's
/// through `setup`.
fn pair_with(
    name: &str,
    queue_capacity: usize,
    tls: Option<&Tls>,
    (f, setup): (
        impl FnOnce(HostBuilder) -> HostBuilder,
        impl FnOnce(ClientBuilder) -> ClientBuilder,
    ),
) -> io::Result<(Host, Client)> {
    let mut builder = f(Host::builder())
        .queue_capacity(queue_capacity)
        .write_timeout(TIMEOUT);
    if let Some((server, _)) = tls {
        builder = builder.tls(server.clone());
    }
    let host = start_host(builder)?;
    let client = client_with(&host, name, queue_capacity, tls, setup)?;
    Ok((host, client))
}

/// Starts `builder`'s host on a free port where listeners go (loopback, or
/// the [far side](super::place)).
pub(crate) fn start_host(builder: HostBuilder) -> io::Result<Host> {
    super::place::listen(|ip| {
        let builder = builder.addr(std::net::SocketAddr::new(ip, 0).to_string());
        builder.start().or_fail("cannot start the bench host")
    })
}

/// Connects a client named `name` with `queue_capacity` to `host`.
fn client(host: &Host, name: &str, queue_capacity: usize, tls: Option<&Tls>) -> io::Result<Client> {
    client_with(host, name, queue_capacity, tls, |b| b)
}

/// As [`client`], its builder set further by `setup`.
fn client_with(
    host: &Host,
    name: &str,
    queue_capacity: usize,
    tls: Option<&Tls>,
    setup: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> io::Result<Client> {
    let mut builder = Client::builder()
        .addr(host.local_addr().to_string())
        .name(name)
        .queue_capacity(queue_capacity)
        .write_timeout(TIMEOUT);
    if let Some((_, tls)) = tls {
        builder = builder.tls(tls.clone());
    }
    setup(builder)
        .connect()
        .or_fail("cannot connect the bench client")
}

/// Closes both handles (joining their event loops), bounded in time.
fn close(host: Host, client: Client) -> io::Result<()> {
    bounded("close-client", move || client.close())?;
    bounded("close-host", move || host.close())
}

/// Name of the receiving client of a routed [`EngineOneWay`] (one byte: the
/// route carries it in every frame).
const ROUTED_TO: &str = "b";

/// Where an [`EngineOneWay`]'s messages go, and who drains them.
enum Receiver {
    /// The host itself (`client.write`); the reader drains the host.
    Host,
    /// Another client, through the host (`client.to(ROUTED_TO).write`); the
    /// reader drains that client.
    Routed(Client),
}

/// One client streaming to a host on one channel, and a reader thread on the
/// host draining that channel with `get_all_timeout` and counting what it gets;
/// or, [`routed`](Self::routed), a client streaming through the host to a
/// second client, whose reader drains it.
///
/// The host reads its socket whether or not anyone drains the queue, so there
/// is no back-pressure from the reader to the writer (raw TCP has it: a slow
/// reader fills the socket buffers and the writer blocks). On two busy cores a
/// descheduled reader can fall a million messages behind and the queue then
/// drops the oldest, which would stall the bench. So the writer here keeps at
/// most `window` messages unread, checking every `window / 64` sends, and the
/// queue holds twice that. With a reader that keeps up the check never waits;
/// [`shutdown`](Self::shutdown) tells how often it did. Routed, the host drops
/// a copy when its outbox to the receiver holds its budget (16 MiB by
/// default), so `window` messages, as frames, must fit well within it.
pub(crate) struct EngineOneWay {
    host: Host,
    client: Client,
    receiver: Receiver,
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
        EngineOneWay::start_tls(channel, window, None)
    }

    /// As [`start`](Self::start), speaking TLS if `tls` is given.
    pub(crate) fn start_tls(
        channel: &'static str,
        window: u64,
        tls: Option<&Tls>,
    ) -> io::Result<EngineOneWay> {
        let queue_capacity = queue_capacity(window)?;
        let (host, client) = pair("bench-writer", queue_capacity, tls)?;
        EngineOneWay::with_reader(host, client, Receiver::Host, channel, window)
    }

    /// As [`start`](Self::start), the client putting its send time in
    /// every message (`ClientBuilder::stamp_messages`).
    #[allow(dead_code, reason = "the criterion benches stamp; the CLI does not")]
    pub(crate) fn stamped(channel: &'static str, window: u64) -> io::Result<EngineOneWay> {
        let queue_capacity = queue_capacity(window)?;
        let stamp = |b: ClientBuilder| b.stamp_messages(true);
        let (host, client) = pair_with("bench-writer", queue_capacity, None, (|b| b, stamp))?;
        EngineOneWay::with_reader(host, client, Receiver::Host, channel, window)
    }

    /// Sets up a host with two clients on `channel`: the writer, `a`, sends to
    /// the other, `b`, through the host (`a.to("b").write(..)`), and the reader
    /// drains `b`. The writer keeps at most `window` messages unread.
    #[allow(dead_code, reason = "the criterion benches route; the CLI does not")]
    pub(crate) fn routed(channel: &'static str, window: u64) -> io::Result<EngineOneWay> {
        let queue_capacity = queue_capacity(window)?;
        let (host, client) = pair("a", queue_capacity, None)?;
        let b = self::client(&host, ROUTED_TO, queue_capacity, None)?;
        EngineOneWay::with_reader(host, client, Receiver::Routed(b), channel, window)
    }

    /// As [`routed`](Self::routed), the host asking a trivial route policy
    /// (one comparison) about every message: what user code on the loop
    /// costs the routed path.
    #[allow(dead_code, reason = "the criterion benches route; the CLI does not")]
    pub(crate) fn routed_policy(channel: &'static str, window: u64) -> io::Result<EngineOneWay> {
        let queue_capacity = queue_capacity(window)?;
        let policy = |b: HostBuilder| {
            b.route_policy(|req| match req.channel {
                "forbidden" => Err("not here".to_owned()),
                _ => Ok(()),
            })
        };
        let (host, client) = pair_with("a", queue_capacity, None, (policy, |b| b))?;
        let b = self::client(&host, ROUTED_TO, queue_capacity, None)?;
        EngineOneWay::with_reader(host, client, Receiver::Routed(b), channel, window)
    }

    /// Starts the reader thread on `receiver`'s side.
    fn with_reader(
        host: Host,
        client: Client,
        receiver: Receiver,
        channel: &'static str,
        window: u64,
    ) -> io::Result<EngineOneWay> {
        let counter = Arc::new(Counter::default());
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (counter, stop) = (Arc::clone(&counter), Arc::clone(&stop));
            match &receiver {
                Receiver::Host => {
                    let host = host.clone();
                    spawn("engine-reader", move || {
                        drain(&host, channel, &counter, &stop)
                    })?
                }
                Receiver::Routed(b) => {
                    let b = b.clone();
                    spawn("engine-reader", move || drain(&b, channel, &counter, &stop))?
                }
            }
        };
        Ok(EngineOneWay {
            host,
            client,
            receiver,
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
        if let Receiver::Routed(b) = self.receiver {
            bounded("close-receiver", move || b.close())?;
        }
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
        let write = |payload| match self.receiver {
            Receiver::Host => self.client.write(self.channel, payload),
            Receiver::Routed(_) => (self.client.to(ROUTED_TO))
                .write(self.channel, payload)
                .map(drop),
        };
        write_unlocked(&self.client, payload, write)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.client.flush().or_fail("engine flush")
    }

    fn received(&self) -> &Counter {
        &self.counter
    }

    fn wait_for(&self, target: u64, what: &str) -> io::Result<()> {
        self.counter
            .wait_for(target, what, || match &self.receiver {
                Receiver::Host => {
                    let stats = self.host.channel_stats(self.channel);
                    format!("host channel stats: {stats:?}")
                }
                Receiver::Routed(b) => {
                    let stats = b.channel_stats(self.channel);
                    let clients = self.host.clients();
                    format!("receiver channel stats: {stats:?}; host's clients: {clients:?}")
                }
            })
    }
}

/// Queues `payload` with `write`, an unlocked write of `client`'s; when
/// the outbox is full, flushes and retries with the payload the error
/// hands back.
pub(crate) fn write_unlocked(
    client: &Client,
    payload: &Bytes,
    mut write: impl FnMut(Bytes) -> socketengine::Result<()>,
) -> io::Result<()> {
    let mut payload = payload.clone();
    loop {
        match write(payload) {
            Ok(()) => return Ok(()),
            Err(e) if e.is_full() => {
                client.flush().or_fail("engine flush after Full")?;
                payload = e
                    .into_payload()
                    .ok_or_else(|| io::Error::other("a Full error hands the payload back"))?;
            }
            Err(e) => return Err(e).or_fail("engine write"),
        }
    }
}

/// Queue capacity for a one-way pair whose writer keeps `window` messages unread.
fn queue_capacity(window: u64) -> io::Result<usize> {
    let capacity = usize::try_from(2 * window).or_fail("bench window")?;
    Ok(capacity.max(64))
}

/// The reader thread: drains `inbox` (the host's or a client's) with
/// `get_all_timeout`, which blocks until a batch arrives (or a short timeout
/// passes, to notice `stop`), and counts.
fn drain(inbox: &Inbox, channel: &str, counter: &Counter, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let batch = inbox.get_all_timeout(channel, STOP_POLL);
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
        EnginePingPong::start_tls(payload, None)
    }

    /// As [`start`](Self::start), speaking TLS if `tls` is given.
    pub(crate) fn start_tls(payload: Bytes, tls: Option<&Tls>) -> io::Result<EnginePingPong> {
        let (host, client) = pair("bench-pinger", 1024, tls)?;
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
    fn round_trip(&mut self) -> io::Result<()> {
        ping(&self.client, &self.pong, &self.payload)
    }
}

/// One round trip: a locked `ping` of `payload` from `client`, then the
/// `pong` on its subscription.
pub(super) fn ping(client: &Client, pong: &Subscription, payload: &Bytes) -> io::Result<()> {
    client
        .write_lock("ping", payload.clone())
        .or_fail("engine ping write")?;
    let pong = pong.recv_timeout(TIMEOUT);
    pong.map(drop)
        .or_fail(&format!("engine pong did not arrive in {TIMEOUT:?}"))
}

/// The echo thread: answers each ping on `pong` to its sender, with a locked write.
pub(super) fn echo(host: &Host, pings: &Subscription, stop: &AtomicBool) -> io::Result<()> {
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
