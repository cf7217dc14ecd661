//! The raw-TCP baseline: std sockets on loopback, a 4-byte little-endian length
//! prefix, `TCP_NODELAY`, a large buffered writer for small messages, `writev` for
//! large ones, and readers that parse in place into reused buffers.

use std::io::{self, BufWriter, IoSlice, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use super::{Counter, TIMEOUT, join_within};

/// Capacity of the small-message writer's buffer.
const WRITE_BUFFER: usize = 256 * 1024;

/// Size of the small-message reader's buffer.
const READ_BUFFER: usize = 1 << 20;

/// Bytes of the length prefix.
const PREFIX: usize = 4;

/// A connected pair of loopback streams, both with `TCP_NODELAY` and bounded
/// blocking (a read or write stuck for [`TIMEOUT`] fails).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the baseline listener");
    let addr = listener.local_addr().expect("baseline listener address");
    let near = TcpStream::connect(addr).expect("connect the baseline stream");
    let (far, _) = listener.accept().expect("accept the baseline stream");
    for stream in [&near, &far] {
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("set a read timeout");
        stream
            .set_write_timeout(Some(TIMEOUT))
            .expect("set a write timeout");
    }
    (near, far)
}

/// The 4-byte little-endian length prefix of a `len`-byte payload.
fn prefix(len: usize) -> [u8; PREFIX] {
    u32::try_from(len)
        .expect("baseline payload fits a u32 length")
        .to_le_bytes()
}

/// How the baseline reader takes frames off the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadMode {
    /// Read whatever is available into one big buffer and walk the frames in it.
    Small,
    /// Read each prefix, then the payload straight into a reused buffer.
    Large,
}

/// A writer on the calling thread and a reader thread counting frames.
pub(crate) struct RawOneWay {
    writer: BufWriter<TcpStream>,
    counter: Arc<Counter>,
    reader: JoinHandle<()>,
}

impl RawOneWay {
    /// Connects a pair and starts the reader.
    pub(crate) fn start(mode: ReadMode) -> RawOneWay {
        let (near, far) = tcp_pair();
        let counter = Arc::new(Counter::default());
        let reader = {
            let counter = Arc::clone(&counter);
            thread::Builder::new()
                .name("raw-reader".to_owned())
                .spawn(move || match mode {
                    ReadMode::Small => read_small(far, &counter),
                    ReadMode::Large => read_large(far, &counter),
                })
                .expect("spawn the baseline reader")
        };
        RawOneWay {
            writer: BufWriter::with_capacity(WRITE_BUFFER, near),
            counter,
            reader,
        }
    }

    /// Appends one frame to the write buffer.
    pub(crate) fn send_small(&mut self, payload: &[u8]) {
        let result = (self.writer.write_all(&prefix(payload.len())))
            .and_then(|()| self.writer.write_all(payload));
        result.expect("baseline buffered write");
    }

    /// Writes out the write buffer.
    pub(crate) fn flush(&mut self) {
        self.writer.flush().expect("baseline flush");
    }

    /// Writes one frame, prefix and payload together, with vectored writes.
    pub(crate) fn send_large(&mut self, payload: &[u8]) {
        self.flush();
        let head = prefix(payload.len());
        let mut slices = [IoSlice::new(&head), IoSlice::new(payload)];
        write_all_vectored(self.writer.get_mut(), &mut slices).expect("baseline vectored write");
    }

    /// What the reader has received.
    pub(crate) fn received(&self) -> &Counter {
        &self.counter
    }

    /// Waits until the reader has received `target` frames in all.
    pub(crate) fn wait_for(&self, target: u64, what: &str) {
        self.counter.wait_for(target, what, String::new);
    }

    /// Closes the writing side; the reader sees end of stream and returns.
    pub(crate) fn shutdown(mut self) {
        self.flush();
        let _ = self.writer.get_ref().shutdown(Shutdown::Write);
        join_within(self.reader, "baseline reader");
    }
}

/// `write_all` for a vectored write: loops, advancing past what was written.
fn write_all_vectored(stream: &mut TcpStream, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
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
fn read_small(mut stream: TcpStream, counter: &Counter) {
    let mut buf = vec![0u8; READ_BUFFER];
    let (mut start, mut end) = (0, 0);
    loop {
        if end == buf.len() {
            buf.copy_within(start..end, 0);
            (start, end) = (0, end - start);
        }
        let n = match stream.read(&mut buf[end..]) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("baseline reader: {e}"),
        };
        end += n;
        let (mut frames, mut bytes) = (0, 0);
        while end - start >= PREFIX {
            let head = [buf[start], buf[start + 1], buf[start + 2], buf[start + 3]];
            let len = u32::from_le_bytes(head) as usize;
            assert!(PREFIX + len <= buf.len(), "baseline frame of {len} bytes");
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
fn read_large(mut stream: TcpStream, counter: &Counter) {
    let mut buf = Vec::new();
    loop {
        let mut head = [0u8; PREFIX];
        match stream.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return,
            Err(e) => panic!("baseline reader: {e}"),
        }
        let len = u32::from_le_bytes(head) as usize;
        if buf.len() < len {
            buf.resize(len, 0);
        }
        stream
            .read_exact(&mut buf[..len])
            .unwrap_or_else(|e| panic!("baseline reader, {len}-byte frame: {e}"));
        counter.add(1, len as u64);
    }
}

/// A client stream and an echo thread answering every frame with itself.
pub(crate) struct RawPingPong {
    stream: TcpStream,
    frame: Vec<u8>,
    reply: Vec<u8>,
    echo: JoinHandle<()>,
}

impl RawPingPong {
    /// Connects a pair and starts the echo thread; pings carry `payload`.
    pub(crate) fn start(payload: &[u8]) -> RawPingPong {
        let (near, far) = tcp_pair();
        let frame = [&prefix(payload.len())[..], payload].concat();
        let size = frame.len();
        let echo = thread::Builder::new()
            .name("raw-echo".to_owned())
            .spawn(move || raw_echo(far, size))
            .expect("spawn the baseline echo");
        RawPingPong {
            stream: near,
            reply: vec![0; frame.len()],
            frame,
            echo,
        }
    }

    /// One round trip: write the frame, read the echo.
    pub(crate) fn round_trip(&mut self) {
        self.stream
            .write_all(&self.frame)
            .expect("baseline ping write");
        let read = self.stream.read_exact(&mut self.reply);
        read.unwrap_or_else(|e| panic!("baseline pong did not arrive: {e}"));
    }

    /// Closes the stream; the echo thread sees end of stream and returns.
    pub(crate) fn shutdown(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        join_within(self.echo, "baseline echo");
    }
}

/// The echo thread: reads exactly one `size`-byte frame and writes it back.
fn raw_echo(mut stream: TcpStream, size: usize) {
    let mut buf = vec![0u8; size];
    loop {
        match stream.read_exact(&mut buf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return,
            Err(e) => panic!("baseline echo: {e}"),
        }
        stream.write_all(&buf).expect("baseline echo write");
    }
}
