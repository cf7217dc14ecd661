//! A 64 B ping-pong beside a flat-out stream of images: the engine's on the
//! stream's own connection ([`EngineLoaded`]), the baseline's on a
//! connection of its own beside a raw stream ([`RawLoaded`]). Each counts
//! the stream's payload bytes received whole, for its goodput.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use socketengine::{Client, Host, IMAGE_CHANNEL, Image, Subscription};

use super::raw::RawPingPong;
use super::stream::RawStream;
use super::{Counter, OrFail, RoundTrip, TIMEOUT, bounded, join_within, spawn};

/// How long a reader or echo thread blocks before it looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

/// A camera client streaming images to its host with locked writes, flat
/// out; a reader on the host draining them; and on the same connection a
/// ping (a locked write) that an echo thread on the host answers with a
/// locked write to the pinger.
pub(crate) struct EngineLoaded {
    host: Host,
    client: Client,
    pong: Subscription,
    payload: Bytes,
    /// Image payload bytes the host's reader got; shared with it.
    received: Arc<Counter>,
    /// Shared with the threads, which stop once it is set.
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl EngineLoaded {
    /// Starts the pair and its threads: the camera sends `frames` (cycling),
    /// pings carry `payload`. `setup` sets the client's builder further.
    pub(crate) fn start(
        frames: Vec<Image>,
        payload: Bytes,
        setup: impl FnOnce(socketengine::ClientBuilder) -> socketengine::ClientBuilder,
    ) -> io::Result<EngineLoaded> {
        let host = super::engine::start_host(Host::builder().write_timeout(TIMEOUT))?;
        let builder = Client::builder()
            .addr(host.local_addr().to_string())
            .name("bench-camera")
            .write_timeout(TIMEOUT);
        let client = setup(builder).connect().or_fail("connect the camera")?;
        let pings = host.subscribe("ping");
        let pong = client.subscribe("pong");
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Counter::default());
        let threads = vec![
            {
                let (host, stop) = (host.clone(), Arc::clone(&stop));
                spawn("engine-echo", move || {
                    super::engine::echo(&host, &pings, &stop)
                })?
            },
            {
                let (host, stop, received) =
                    (host.clone(), Arc::clone(&stop), Arc::clone(&received));
                spawn("engine-reader", move || read(&host, &received, &stop))?
            },
            {
                let (client, stop) = (client.clone(), Arc::clone(&stop));
                spawn("engine-camera", move || camera(&client, &frames, &stop))?
            },
        ];
        Ok(EngineLoaded {
            host,
            client,
            pong,
            payload,
            received,
            stop,
            threads,
        })
    }

    /// Image payload bytes received whole by the host so far.
    pub(crate) fn received_bytes(&self) -> u64 {
        self.received.bytes()
    }

    /// Stops the threads, then closes both handles.
    pub(crate) fn shutdown(self) -> io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        let mut first_error = Ok(());
        for t in self.threads {
            let stopped = join_within(t, "loaded engine thread").and_then(|r| r);
            first_error = first_error.and(stopped);
        }
        drop(self.pong);
        let (client, host) = (self.client, self.host);
        bounded("close-camera", move || client.close())?;
        bounded("close-host", move || host.close())?;
        first_error
    }
}

impl RoundTrip for EngineLoaded {
    /// A locked `ping` on the camera's connection, then the `pong`.
    fn round_trip(&mut self) -> io::Result<()> {
        super::engine::ping(&self.client, &self.pong, &self.payload)
    }
}

/// The camera thread: locked image writes of `frames` (cycling) until `stop`.
fn camera(client: &Client, frames: &[Image], stop: &AtomicBool) -> io::Result<()> {
    for frame in frames.iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        client
            .write_lock(IMAGE_CHANNEL, frame)
            .or_fail("camera image write")?;
    }
    Ok(())
}

/// The host's reader thread: drains the images, counting their bytes.
fn read(host: &Host, received: &Counter, stop: &AtomicBool) -> io::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        let images = host.get_all_timeout(IMAGE_CHANNEL, STOP_POLL);
        let bytes: usize = images.iter().map(|m| m.payload().len()).sum();
        received.add(images.len() as u64, bytes as u64);
    }
    Ok(())
}

/// The baseline: a raw ping-pong on a connection of its own beside a raw
/// stream of the same frames.
pub(crate) struct RawLoaded {
    stream: RawStream,
    ping: RawPingPong,
}

impl RawLoaded {
    /// Starts the stream of `payloads` (cycling) and the ping-pong of `payload`.
    pub(crate) fn start(payloads: Vec<Bytes>, payload: &[u8]) -> io::Result<RawLoaded> {
        let stream = RawStream::start(payloads, false)?;
        let ping = RawPingPong::start(payload)?;
        Ok(RawLoaded { stream, ping })
    }

    /// Stream payload bytes received whole so far.
    pub(crate) fn received_bytes(&self) -> u64 {
        self.stream.received_bytes()
    }

    /// Stops the stream and the ping-pong.
    pub(crate) fn shutdown(self) -> io::Result<()> {
        let stopped = self.stream.stop();
        self.ping.shutdown()?;
        stopped
    }
}

impl RoundTrip for RawLoaded {
    fn round_trip(&mut self) -> io::Result<()> {
        self.ping.round_trip()
    }
}
