//! The raw-TCP baseline: std sockets on loopback, a 4-byte little-endian length
//! prefix, `TCP_NODELAY`, a large buffered writer for small messages, `writev`
//! for large ones, and readers that parse in place into reused buffers.

use std::io::{self, BufWriter, IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;

use super::{Counter, OneWay, OrFail, RoundTrip, TIMEOUT, Throughput, join_within, spawn};

/// Capacity of the small-message writer's buffer.
const WRITE_BUFFER: usize = 256 * 1024;

/// Size of the small-message reader's buffer.
const READ_BUFFER: usize = 1 << 20;

/// Bytes of the length prefix.
const PREFIX: usize = 4;

/// A connected pair of streams (on loopback, or across the [far side](super::place)), both with `TCP_NODELAY` and bounded
/// blocking (a read or write stuck for [`TIMEOUT`] fails).
pub(crate) fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    let bind = |ip| TcpListener::bind((ip, 0)).or_fail("bind the baseline listener");
    let listener = super::place::listen(bind)?;
    let near = TcpStream::connect(listener.local_addr()?).or_fail("connect the baseline")?;
    let (far, _) = listener.accept().or_fail("accept the baseline")?;
    for stream in [&near, &far] {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
    }
    Ok((near, far))
}

/// The 4-byte little-endian length prefix of a `len`-byte payload.
pub(crate) fn prefix(len: usize) -> io::Result<[u8; PREFIX]> {
    let len = u32::try_from(len).or_fail("baseline payload over 4 GiB")?;
    Ok(len.to_le_bytes())
}

/// How the baseline writes and reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Buffered writes; the reader walks the frames in one big buffer.
    Small,
    /// One `writev` per frame; the reader reads each payload into a reused buffer.
    Large,
}

/// A writer on the calling thread and a reader thread counting frames.
pub(crate) struct RawOneWay {
    writer: BufWriter<TcpStream>,
    mode: Mode,
    /// Shared with the reader thread, which adds to it.
    counter: Arc<Counter>,
    reader: JoinHandle<io::Result<()>>,
}

impl RawOneWay {
    /// Connects a pair and starts the reader.
    pub(crate) fn start(mode: Mode) -> io::Result<RawOneWay> {
        let (near, far) = tcp_pair()?;
        let counter = Arc::new(Counter::default());
        let reader = {
            let counter = Arc::clone(&counter);
            spawn("raw-reader", move || match mode {
                Mode::Small => read_small(far, &counter),
                Mode::Large => read_large(far, &counter),
            })?
        };
        Ok(RawOneWay {
            writer: BufWriter::with_capacity(WRITE_BUFFER, near),
            mode,
            counter,
            reader,
        })
    }

    /// Closes the writing side; the reader sees end of stream and returns.
    pub(crate) fn shutdown(mut self) -> io::Result<()> {
        let flushed = self.writer.flush();
        let _ = self.writer.get_ref().shutdown(Shutdown::Write);
        let joined = join_within(self.reader, "baseline reader");
        flushed.or_fail("baseline flush")?;
        joined?
    }
}

impl OneWay for RawOneWay {
    /// [`Mode::Small`]: appends one frame to the write buffer. [`Mode::Large`]:
    /// writes one frame, prefix and payload together, with vectored writes.
    fn send(&mut self, payload: &Bytes) -> io::Result<()> {
        let head = prefix(payload.len())?;
        match self.mode {
            Mode::Small => {
                let written =
                    (self.writer.write_all(&head)).and_then(|()| self.writer.write_all(payload));
                written.or_fail("baseline buffered write")
            }
            Mode::Large => {
                self.flush()?;
                let mut slices = [IoSlice::new(&head), IoSlice::new(payload)];
                write_all_vectored(self.writer.get_mut(), &mut slices)
                    .or_fail("baseline vectored write")
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush().or_fail("baseline flush")
    }

    fn received(&self) -> &Counter {
        &self.counter
    }

    fn wait_for(&self, target: u64, what: &str) -> io::Result<()> {
        self.counter.wait_for(target, what, String::new)
    }
}

/// `write_all` for a vectored write: loops, advancing past what was written.
pub(crate) fn write_all_vectored(
    stream: &mut TcpStream,
    mut slices: &mut [IoSlice<'_>],
) -> io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match stream.write_vectored(slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads into one buffer and counts the whole frames in it, in place; only a
/// partial frame at the very end of the buffer is moved to its front.
fn read_small(mut stream: TcpStream, counter: &Counter) -> io::Result<()> {
    let mut buf = vec![0u8; READ_BUFFER];
    let (mut start, mut end) = (0, 0);
    loop {
        if end == buf.len() {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        let n = match stream.read(&mut buf[end..]) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).or_fail("baseline reader"),
        };
        end += n;
        let (mut frames, mut bytes) = (0, 0);
        while end - start >= PREFIX {
            let head = [buf[start], buf[start + 1], buf[start + 2], buf[start + 3]];
            let len = u32::from_le_bytes(head) as usize;
            if PREFIX + len > buf.len() {
                let message = format!("baseline reader: a frame of {len} bytes");
                return Err(io::Error::new(io::ErrorKind::InvalidData, message));
            }
            if end - start < PREFIX + len {
                break;
            }
            (frames, bytes) = (frames + 1, bytes + len as u64);
            start += PREFIX + len;
        }
        if start == end {
            (start, end) = (0, 0);
        }
        counter.add(frames, bytes);
    }
}

/// Reads each frame's prefix, then its payload into one reused buffer, until
/// end of stream.
pub(crate) fn read_large(mut stream: TcpStream, counter: &Counter) -> io::Result<()> {
    let mut buf = Vec::new();
    loop {
        let mut head = [0u8; PREFIX];
        match stream.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e).or_fail("baseline reader"),
        }
        let len = u32::from_le_bytes(head) as usize;
        if buf.len() < len {
            buf.resize(len, 0);
        }
        let payload = stream.read_exact(&mut buf[..len]);
        payload.or_fail(&format!("baseline reader, a {len}-byte frame"))?;
        counter.add(1, len as u64);
    }
}

/// A client stream and an echo thread answering every frame with itself.
pub(crate) struct RawPingPong {
    stream: TcpStream,
    frame: Vec<u8>,
    reply: Vec<u8>,
    echo: JoinHandle<io::Result<()>>,
}

impl RawPingPong {
    /// Connects a pair and starts the echo thread; pings carry `payload`.
    pub(crate) fn start(payload: &[u8]) -> io::Result<RawPingPong> {
        let (near, far) = tcp_pair()?;
        let frame = [&prefix(payload.len())?[..], payload].concat();
        let size = frame.len();
        let echo = spawn("raw-echo", move || raw_echo(far, size))?;
        Ok(RawPingPong {
            stream: near,
            reply: vec![0; frame.len()],
            frame,
            echo,
        })
    }

    /// Closes the stream; the echo thread sees end of stream and returns.
    pub(crate) fn shutdown(self) -> io::Result<()> {
        let _ = self.stream.shutdown(Shutdown::Both);
        join_within(self.echo, "baseline echo")?
    }
}

impl RoundTrip for RawPingPong {
    /// Writes the frame, reads the echo.
    fn round_trip(&mut self) -> io::Result<()> {
        self.stream
            .write_all(&self.frame)
            .or_fail("baseline ping write")?;
        let read = self.stream.read_exact(&mut self.reply);
        read.or_fail("baseline pong did not arrive")
    }
}

/// The echo thread: reads exactly one `size`-byte frame and writes it back.
fn raw_echo(mut stream: TcpStream, size: usize) -> io::Result<()> {
    let mut buf = vec![0u8; size];
    loop {
        match stream.read_exact(&mut buf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e).or_fail("baseline echo"),
        }
        stream.write_all(&buf).or_fail("baseline echo write")?;
    }
}

/// Streams `payloads` (cycling) in `mode` for `secs`; what the reader received
/// meanwhile.
pub(crate) fn one_way(payloads: &[Bytes], mode: Mode, secs: Duration) -> io::Result<Throughput> {
    let mut raw = RawOneWay::start(mode)?;
    let check_every = match mode {
        Mode::Small => 1024,
        Mode::Large => 1,
    };
    let measured = super::stream_for(&mut raw, payloads, check_every, secs);
    let stopped = raw.shutdown();
    let throughput = measured?;
    stopped?;
    Ok(throughput)
}

/// Ping-pong of `payload` for `secs`, handing each round trip to `record`.
pub(crate) fn ping_pong(
    payload: &[u8],
    secs: Duration,
    record: impl FnMut(Duration),
) -> io::Result<()> {
    let mut pp = RawPingPong::start(payload)?;
    let measured = super::round_trips_for(&mut pp, secs, record);
    let stopped = pp.shutdown();
    measured?;
    stopped
}
