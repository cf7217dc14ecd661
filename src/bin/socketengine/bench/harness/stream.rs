//! A raw-TCP stream of frames flat out, for a ping-pong to run beside: what
//! the machine (or a shaped link) gives raw TCP under load.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use bytes::Bytes;

use super::raw;
use super::{Counter, join_within, spawn};

/// A raw stream for scale: a writer thread `writev`ing frames flat out
/// (prefix and payload), optionally through a relay thread that copies the
/// bytes on as they come, to a reader thread that reads each frame into one
/// reused buffer and counts it.
pub(crate) struct RawStream {
    /// Shared with the writer thread, which stops once it is set.
    stop: Arc<AtomicBool>,
    /// Shared with the reader thread, which adds to it.
    counter: Arc<Counter>,
    threads: Vec<JoinHandle<io::Result<()>>>,
}

/// Bytes the raw relay moves per read.
const RELAY_BUFFER: usize = 1 << 20;

impl RawStream {
    /// Starts streaming `payloads` (cycling); `relayed` puts a relay thread
    /// between writer and reader, as a host between two clients.
    pub(crate) fn start(payloads: Vec<Bytes>, relayed: bool) -> io::Result<RawStream> {
        let stop = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(Counter::default());
        let (near, mut far) = raw::tcp_pair()?;
        let mut threads = Vec::new();
        if relayed {
            let (relay_out, reader_end) = raw::tcp_pair()?;
            threads.push(spawn("raw-relay", move || relay(far, relay_out))?);
            far = reader_end;
        }
        let c = Arc::clone(&counter);
        threads.push(spawn("raw-reader", move || raw::read_large(far, &c))?);
        let s = Arc::clone(&stop);
        threads.push(spawn("raw-camera", move || {
            write_until(near, &payloads, &s)
        })?);
        Ok(RawStream {
            stop,
            counter,
            threads,
        })
    }

    /// Frames the reader has received whole.
    #[allow(
        dead_code,
        reason = "the criterion benches count frames; the CLI bytes"
    )]
    pub(crate) fn received(&self) -> u64 {
        self.counter.messages()
    }

    /// Payload bytes of the frames the reader has received whole.
    pub(crate) fn received_bytes(&self) -> u64 {
        self.counter.bytes()
    }

    /// Stops the writer; the relay and reader see end of stream and return.
    pub(crate) fn stop(self) -> io::Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            join_within(t, "raw stream thread")??;
        }
        Ok(())
    }
}

/// Writes `payloads` (cycling) until `stop`, then closes the writing side.
fn write_until(mut stream: TcpStream, payloads: &[Bytes], stop: &AtomicBool) -> io::Result<()> {
    for payload in payloads.iter().cycle() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let head = raw::prefix(payload.len())?;
        let mut slices = [IoSlice::new(&head), IoSlice::new(payload)];
        raw::write_all_vectored(&mut stream, &mut slices)?;
    }
    stream.shutdown(Shutdown::Write)
}

/// Copies what arrives on `from` to `to` until end of stream, then closes
/// `to`'s writing side.
fn relay(mut from: TcpStream, mut to: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; RELAY_BUFFER];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return to.shutdown(Shutdown::Write),
            Ok(n) => to.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
