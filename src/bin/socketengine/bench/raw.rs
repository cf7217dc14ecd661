//! The raw-TCP baseline: std sockets on loopback, a 4-byte little-endian length
//! prefix, `TCP_NODELAY`, a large buffered writer for small messages, `writev`
//! for large ones, and readers that parse in place into reused buffers.

use std::io::{self, BufWriter, IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;

use super::{Counter, TIMEOUT, Throughput, join_within};
use crate::rtt::Rtts;

/// Capacity of the small-message writer's buffer.
const WRITE_BUFFER: usize = 256 * 1024;

/// Size of the small-message reader's buffer.
const READ_BUFFER: usize = 1 << 20;

/// Bytes of the length prefix.
const PREFIX: usize = 4;

/// How the baseline writes and reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Buffered writes; the reader walks the frames in one big buffer.
    Small,
    /// One `writev` per frame; the reader reads each payload into a reused buffer.
    Large,
}

/// A connected pair of loopback streams with `TCP_NODELAY` and bounded blocking.
fn tcp_pair() -> anyhow::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").context("bind the baseline listener")?;
    let near = TcpStream::connect(listener.local_addr()?).context("connect the baseline")?;
    let (far, _) = listener.accept().context("accept the baseline")?;
    for stream in [&near, &far] {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
    }
    Ok((near, far))
}

/// The length prefix of a `len`-byte payload.
fn prefix(len: usize) -> anyhow::Result<[u8; PREFIX]> {
    Ok(u32::try_from(len)
        .context("payload over 4 GiB")?
        .to_le_bytes())
}

/// Streams `payloads` (cycling) to a reader thread for `secs`, then waits for it.
pub(crate) fn one_way(
    payloads: &[Bytes],
    mode: Mode,
    secs: Duration,
) -> anyhow::Result<Throughput> {
    let (near, far) = tcp_pair()?;
    let counter = Arc::new(Counter::default());
    let reader = {
        let counter = Arc::clone(&counter);
        thread::Builder::new()
            .name("raw-reader".to_owned())
            .spawn(move || match mode {
                Mode::Small => read_small(far, &counter),
                Mode::Large => read_large(far, &counter),
            })?
    };
    let mut writer = BufWriter::with_capacity(WRITE_BUFFER, near);
    let start = Instant::now();
    let result = write_for(&mut writer, payloads, mode, start + secs);
    let flushed = writer.flush();
    let _ = writer.get_ref().shutdown(Shutdown::Write);
    let sent = result?;
    flushed?;
    counter.wait_for(sent, "baseline reader catching up")?;
    let throughput = counter.throughput(start.elapsed());
    join_within(reader, "baseline reader")?;
    Ok(throughput)
}

/// The writer's loop; returns how many frames it wrote.
fn write_for(
    writer: &mut BufWriter<TcpStream>,
    payloads: &[Bytes],
    mode: Mode,
    deadline: Instant,
) -> anyhow::Result<u64> {
    let mut sent = 0u64;
    let check_every = if mode == Mode::Small { 1024 } else { 1 };
    loop {
        for payload in payloads {
            if sent % check_every == 0 && Instant::now() >= deadline {
                return Ok(sent);
            }
            let head = prefix(payload.len())?;
            match mode {
                Mode::Small => {
                    writer.write_all(&head)?;
                    writer.write_all(payload)?;
                }
                Mode::Large => {
                    writer.flush()?;
                    let mut slices = [IoSlice::new(&head), IoSlice::new(payload)];
                    write_all_vectored(writer.get_mut(), &mut slices)?;
                }
            }
            sent += 1;
        }
    }
}

/// `write_all` for a vectored write: loops, advancing past what was written.
fn write_all_vectored(stream: &mut TcpStream, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
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
/// partial frame at the end of the buffer is moved to its front.
fn read_small(mut stream: TcpStream, counter: &Counter) -> anyhow::Result<()> {
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
            Err(e) => return Err(e).context("baseline reader"),
        };
        end += n;
        let (mut frames, mut bytes) = (0, 0);
        while end - start >= PREFIX {
            let head = [buf[start], buf[start + 1], buf[start + 2], buf[start + 3]];
            let len = u32::from_le_bytes(head) as usize;
            anyhow::ensure!(PREFIX + len <= buf.len(), "baseline frame of {len} bytes");
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

/// Reads each frame's prefix, then its payload into one reused buffer.
fn read_large(mut stream: TcpStream, counter: &Counter) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    loop {
        let mut head = [0u8; PREFIX];
        match stream.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e).context("baseline reader"),
        }
        let len = u32::from_le_bytes(head) as usize;
        if buf.len() < len {
            buf.resize(len, 0);
        }
        stream
            .read_exact(&mut buf[..len])
            .context("baseline reader")?;
        counter.add(1, len as u64);
    }
}

/// Round trips of one frame carrying `payload` against an echo thread, for `secs`.
pub(crate) fn ping_pong(payload: &[u8], secs: Duration) -> anyhow::Result<Rtts> {
    let (mut near, far) = tcp_pair()?;
    let frame = [&prefix(payload.len())?[..], payload].concat();
    let size = frame.len();
    let echo = thread::Builder::new()
        .name("raw-echo".to_owned())
        .spawn(move || raw_echo(far, size))?;
    let mut reply = vec![0u8; size];
    let mut samples = Rtts::default();
    let deadline = Instant::now() + secs;
    let result = (|| {
        while Instant::now() < deadline {
            let start = Instant::now();
            near.write_all(&frame)?;
            near.read_exact(&mut reply)?;
            samples.record(start.elapsed());
        }
        anyhow::Ok(())
    })();
    let _ = near.shutdown(Shutdown::Both);
    let joined = join_within(echo, "baseline echo");
    result.context("baseline ping-pong")?;
    joined?;
    Ok(samples)
}

/// The echo thread: reads one `size`-byte frame at a time and writes it back.
fn raw_echo(mut stream: TcpStream, size: usize) -> anyhow::Result<()> {
    let mut buf = vec![0u8; size];
    loop {
        match stream.read_exact(&mut buf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e).context("baseline echo"),
        }
        stream.write_all(&buf).context("baseline echo")?;
    }
}
