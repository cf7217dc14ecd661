//! The engine side of the bench: a host and a client on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use socketengine::RecvTimeoutError;
use socketengine::{Client, Host};

use super::{Counter, TIMEOUT, Throughput, join_within};
use crate::lib;
use crate::rtt::Rtts;

/// How long a reader blocks for a batch before it looks at its stop flag.
const DRAIN_WAIT: Duration = Duration::from_millis(20);

/// The bench's channel.
const CHANNEL: &str = "bench";

/// A host on a free loopback port holding `queue` messages per channel, and a
/// client connected to it.
pub(crate) fn pair(name: &str, queue: usize) -> anyhow::Result<(Host, Client)> {
    let host = Host::builder()
        .addr("127.0.0.1:0")
        .queue_capacity(queue)
        .write_timeout(TIMEOUT)
        .start()
        .map_err(lib)
        .context("cannot start the bench host")?;
    let client = Client::builder()
        .addr(host.local_addr().to_string())
        .name(name)
        .write_timeout(TIMEOUT)
        .connect()
        .map_err(lib)
        .context("cannot connect the bench client")?;
    Ok((host, client))
}

/// Streams `payloads` (cycling) from the client to a `get_all` reader on the
/// host for `secs`, then waits for the reader to catch up.
///
/// The host reads its socket whether or not anyone drains the queue, so the
/// writer keeps at most `window` messages unread (the queue holds twice that),
/// or a descheduled reader would make the queue drop the oldest.
pub(crate) fn one_way(
    payloads: &[Bytes],
    window: u64,
    secs: Duration,
) -> anyhow::Result<Throughput> {
    let queue = usize::try_from(2 * window)?.max(64);
    let (host, client) = pair("bench-writer", queue)?;
    let counter = Arc::new(Counter::default());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (host, counter, stop) = (host.clone(), Arc::clone(&counter), Arc::clone(&stop));
        thread::Builder::new()
            .name("engine-reader".to_owned())
            .spawn(move || drain(&host, &counter, &stop))?
    };
    let result = stream(&client, &counter, payloads, window, secs);
    stop.store(true, Ordering::Release);
    let joined = join_within(reader, "engine reader");
    client.close();
    host.close();
    let throughput = result?;
    joined?;
    Ok(throughput)
}

/// The writer's loop; returns what the reader received once it caught up.
fn stream(
    client: &Client,
    counter: &Counter,
    payloads: &[Bytes],
    window: u64,
    secs: Duration,
) -> anyhow::Result<Throughput> {
    let check_every = (window / 64).max(1);
    let start = Instant::now();
    let deadline = start + secs;
    let mut sent: u64 = 0;
    'timed: loop {
        for payload in payloads {
            if sent % check_every == 0 {
                if Instant::now() >= deadline {
                    break 'timed;
                }
                if sent > window {
                    counter.wait_for(sent - window, "engine writer waiting for its reader")?;
                }
            }
            write(client, payload.clone())?;
            sent += 1;
        }
    }
    client.flush().map_err(lib)?;
    counter.wait_for(sent, "engine reader catching up")?;
    Ok(counter.throughput(start.elapsed()))
}

/// An unlocked write; on `Full`, flush and retry with the payload handed back.
pub(crate) fn write(client: &Client, mut payload: Bytes) -> anyhow::Result<()> {
    loop {
        match client.write(CHANNEL, payload) {
            Ok(()) => return Ok(()),
            Err(e) if e.is_full() => {
                client.flush().map_err(lib)?;
                payload = e
                    .into_payload()
                    .context("a Full error hands the payload back")?;
            }
            Err(e) => return Err(lib(e)),
        }
    }
}

/// The reader thread: drains with `get_all_timeout` and counts.
fn drain(host: &Host, counter: &Counter, stop: &AtomicBool) -> anyhow::Result<()> {
    while !stop.load(Ordering::Acquire) {
        let batch = host.get_all_timeout(CHANNEL, DRAIN_WAIT);
        let bytes = batch.iter().map(|m| m.payload().len() as u64).sum();
        counter.add(batch.len() as u64, bytes);
    }
    Ok(())
}

/// Locked `ping`s from the client, answered on `pong` by an echo thread on the
/// host, for `secs`; returns the round trips.
pub(crate) fn ping_pong(payload: Bytes, secs: Duration) -> anyhow::Result<Rtts> {
    let (host, client) = pair("bench-pinger", 1024)?;
    let pings = host.subscribe("ping");
    let pongs = client.subscribe("pong");
    let stop = Arc::new(AtomicBool::new(false));
    let echo = {
        let (host, stop) = (host.clone(), Arc::clone(&stop));
        thread::Builder::new()
            .name("engine-echo".to_owned())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    match pings.recv_timeout(DRAIN_WAIT) {
                        Ok(ping) => host
                            .to(ping.from())
                            .write_lock("pong", ping.into_payload())
                            .map(drop)
                            .map_err(lib)?,
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                anyhow::Ok(())
            })?
    };
    let mut samples = Rtts::default();
    let deadline = Instant::now() + secs;
    let result = (|| {
        while Instant::now() < deadline {
            let start = Instant::now();
            client.write_lock("ping", payload.clone()).map_err(lib)?;
            match pongs.recv_timeout(TIMEOUT) {
                Ok(_) => samples.record(start.elapsed()),
                Err(e) => bail!("engine pong did not arrive in {TIMEOUT:?}: {e}"),
            }
        }
        anyhow::Ok(())
    })();
    stop.store(true, Ordering::Release);
    let joined = join_within(echo, "engine echo");
    client.close();
    host.close();
    result?;
    joined?;
    Ok(samples)
}
