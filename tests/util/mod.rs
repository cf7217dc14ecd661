//! Helpers shared by the integration tests: loopback hosts and clients, bounded
//! waits, and raw sockets that speak (or break) the wire format by hand.
//!
//! Nothing here sleeps: waits poll with `yield_now` or block on a channel, and
//! every loop is bounded in both iterations and time.

#![allow(dead_code)]

use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use bytes::BytesMut;
use socketengine::protocol::{Decoded, Decoder, Frame, Hello, WELCOME_LEN, Welcome, WelcomeStatus};
use socketengine::{
    Client, ClientBuilder, ClientId, Error, Event, Events, Host, HostBuilder, Image, Message,
    PixelFormat,
};

/// How long any wait may take before the test fails. Generous: the machine is
/// shared and builds run beside the tests; a passing test never waits this long.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// Most iterations of any polling loop, whatever the clock says.
const MAX_POLLS: u64 = 200_000_000;

/// A host on `127.0.0.1:0` with the defaults.
pub(crate) fn host() -> Host {
    host_with(|b| b)
}

/// A host on `127.0.0.1:0`, configured further by `f`.
pub(crate) fn host_with(f: impl FnOnce(HostBuilder) -> HostBuilder) -> Host {
    f(Host::builder().addr("127.0.0.1:0"))
        .start()
        .expect("host starts on 127.0.0.1:0")
}

/// A client named `name` connected to `host`.
pub(crate) fn client(host: &Host, name: &str) -> Client {
    client_with(host, name, |b| b)
}

/// A client named `name` connected to `host`, configured further by `f`.
pub(crate) fn client_with(
    host: &Host,
    name: &str,
    f: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> Client {
    let builder = Client::builder()
        .addr(host.local_addr().to_string())
        .name(name);
    f(builder).connect().expect("client connects")
}

/// Polls `cond` (yielding between tries) until it holds or `timeout` passes;
/// returns whether it held.
pub(crate) fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    for _ in 0..MAX_POLLS {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::yield_now();
    }
    cond()
}

/// A 1080p RGB camera frame numbered `seq`, whose every byte is `seq`.
pub(crate) fn frame_1080p(seq: u64) -> Image {
    let pixels = vec![seq as u8; 1920 * 1080 * 3];
    Image::new(1920, 1080, PixelFormat::Rgb8, pixels)
        .expect("a 1080p RGB frame")
        .with_seq(seq)
}

/// Waits until `get` returns an image with sequence number `seq`.
pub(crate) fn wait_image(get: impl Fn() -> Option<Image>, seq: u64) -> Image {
    let mut got = None;
    let arrived = wait_until(TIMEOUT, || {
        got = get().filter(|i| i.seq() == seq);
        got.is_some()
    });
    assert!(arrived, "image {seq} did not arrive");
    got.expect("checked above")
}

/// Messages received on `channel` so far (0 before the first).
pub(crate) fn received(host: &Host, channel: &str) -> u64 {
    host.channel_stats(channel).map_or(0, |s| s.received)
}

/// Waits until `host` has received `n` messages on `channel`.
pub(crate) fn wait_received(host: &Host, channel: &str, n: u64) {
    let done = wait_until(TIMEOUT, || received(host, channel) >= n);
    assert!(
        done,
        "host received {} of {n} messages on {channel:?}",
        received(host, channel)
    );
}

/// The payloads of `msgs`, in order.
pub(crate) fn payloads(msgs: &[Message]) -> Vec<Bytes> {
    msgs.iter().map(|m| m.payload().clone()).collect()
}

/// `strs` as payloads, for comparing with [`payloads`].
pub(crate) fn bytes_of(strs: &[&str]) -> Vec<Bytes> {
    strs.iter()
        .map(|s| Bytes::copy_from_slice(s.as_bytes()))
        .collect()
}

/// The next event that `pick` accepts, skipping others; panics after [`TIMEOUT`].
pub(crate) fn next_event<T>(events: &Events, mut pick: impl FnMut(Event) -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    for _ in 0..MAX_POLLS {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events
            .recv_timeout(left)
            .expect("the awaited event arrives in time");
        if let Some(found) = pick(event) {
            return found;
        }
    }
    panic!("too many unrelated events");
}

/// The next `Event::Error`: its client, address and error.
pub(crate) fn next_error(events: &Events) -> (Option<ClientId>, SocketAddr, Error) {
    next_event(events, |event| match event {
        Event::Error {
            client,
            addr,
            error,
        } => Some((client, addr, error)),
        _ => None,
    })
}

/// The next `Event::CallbackDropped`: which callback, and how many it missed.
pub(crate) fn next_callback_dropped(events: &Events) -> (String, u64) {
    next_event(events, |event| match event {
        Event::CallbackDropped { callback, dropped } => Some((callback, dropped)),
        _ => None,
    })
}

/// The id of the next client to disconnect.
pub(crate) fn next_disconnect(events: &Events) -> ClientId {
    next_event(events, |event| match event {
        Event::Disconnected { client, .. } => Some(client),
        _ => None,
    })
}

/// An address on 127.0.0.1 where nothing listens: a port the OS just handed out
/// and was released again.
pub(crate) fn closed_port_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr")
}

/// A port on 127.0.0.1 held by a socket that is bound and never listens,
/// for a host that is down and comes up (or goes and comes back) at one
/// address: connecting to it is refused while no host listens there; no
/// other socket can listen there meanwhile (nothing else binds it without
/// `SO_REUSEADDR`, nor beside a listener); and the kernel never picks a
/// bound port as the source of an outgoing connection, so a client
/// redialling it never connects to itself. A host binds it beside this
/// socket (its listener sets `SO_REUSEADDR`), as often as it restarts.
pub(crate) struct ReservedPort {
    /// Held, never listening: the reservation.
    _socket: socket2::Socket,
    pub(crate) addr: SocketAddr,
}

/// Reserves a port; see [`ReservedPort`].
pub(crate) fn reserved_port() -> ReservedPort {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("a socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    socket.bind(&any.into()).expect("bind 127.0.0.1:0");
    let addr = socket.local_addr().expect("local addr").as_socket();
    ReservedPort {
        _socket: socket,
        addr: addr.expect("an IP address"),
    }
}

/// A raw connection to `host` that completed the handshake by hand as `name`;
/// returns it with the id from the welcome.
pub(crate) fn raw_handshake(host: &Host, name: &str) -> (TcpStream, ClientId) {
    handshake(raw_connect(host), name)
}

/// As [`raw_handshake`], on a connection whose receive buffer is the
/// kernel's smallest, set before connecting: what the kernels on both sides
/// can take from the host while this peer reads nothing is a few KiB, and
/// stays so (the window never grows past the buffer).
pub(crate) fn raw_handshake_small(host: &Host, name: &str) -> (TcpStream, ClientId) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("raw socket");
    socket
        .set_recv_buffer_size(8 << 10)
        .expect("receive buffer");
    socket
        .connect(&host.local_addr().into())
        .expect("raw connect");
    handshake(bounded(socket.into()), name)
}

fn handshake(mut stream: TcpStream, name: &str) -> (TcpStream, ClientId) {
    let mut hello = Vec::new();
    Hello::new(name).encode(&mut hello).expect("hello encodes");
    stream.write_all(&hello).expect("send hello");
    let mut buf = [0u8; WELCOME_LEN];
    stream.read_exact(&mut buf).expect("read welcome");
    let welcome = Welcome::decode(&buf)
        .expect("welcome decodes")
        .expect("welcome complete");
    assert_eq!(welcome.status, WelcomeStatus::Accepted);
    (stream, ClientId(welcome.client_id))
}

/// A raw TCP connection to `host`, with bounded blocking reads and writes.
pub(crate) fn raw_connect(host: &Host) -> TcpStream {
    bounded(TcpStream::connect(host.local_addr()).expect("raw connect"))
}

/// `stream`, with reads and writes that block for [`TIMEOUT`] at most.
fn bounded(stream: TcpStream) -> TcpStream {
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(TIMEOUT))
        .expect("write timeout");
    stream
}

/// Reads one whole frame from a raw stream.
pub(crate) fn read_frame(stream: &mut TcpStream) -> Frame {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).expect("frame length");
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    stream.read_exact(&mut body).expect("frame body");
    let mut buf = BytesMut::from(&len[..]);
    buf.extend_from_slice(&body);
    match Decoder::new(1 << 20).step(&mut buf, None) {
        Ok(Decoded::Frame(frame)) => frame,
        other => panic!("not one frame: {other:?}"),
    }
}

/// Asserts that the other end closed `stream`: a read sees end of stream or a
/// reset (a reset when the closer left our bytes unread), not a timeout.
pub(crate) fn assert_closed_by_peer(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    let mut buf = [0u8; 4096];
    for _ in 0..1024 {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    IoKind::ConnectionReset | IoKind::ConnectionAborted
                ) =>
            {
                return;
            }
            Err(e) => panic!("connection was not closed by the host: {e}"),
        }
    }
    panic!("the host kept sending instead of closing");
}

/// A welcome that accepts a client as `client_id` (for [`fake_host`]).
pub(crate) fn accepted_welcome(client_id: u64) -> Welcome {
    Welcome {
        version: socketengine::protocol::VERSION,
        status: WelcomeStatus::Accepted,
        client_id,
        host_time_ns: 0,
        resume: socketengine::protocol::ResumeToken::NONE,
        epoch: 1,
    }
}

/// A fake host on 127.0.0.1:0 that answers one handshake with `welcome` and then
/// never reads. Returns its address and a thread yielding the accepted stream;
/// join it after connecting.
pub(crate) fn fake_host(welcome: Welcome) -> (SocketAddr, JoinHandle<TcpStream>) {
    fake_peer(welcome.encode().to_vec())
}

/// As [`fake_host`], answering the hello with `answer`, whatever it is.
pub(crate) fn fake_peer(answer: Vec<u8>) -> (SocketAddr, JoinHandle<TcpStream>) {
    fake_peer_with(move || answer)
}

/// As [`fake_peer`], answering the hello with what `answer` makes once the
/// hello is in (a welcome with the clock read then).
pub(crate) fn fake_peer_with(
    answer: impl FnOnce() -> Vec<u8> + Send + 'static,
) -> (SocketAddr, JoinHandle<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake host");
    let addr = listener.local_addr().expect("fake host addr");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let thread = std::thread::spawn(move || {
        let mut stream = accept_bounded(&listener);
        stream.set_nonblocking(false).expect("blocking stream");
        stream
            .set_read_timeout(Some(TIMEOUT))
            .expect("read timeout");
        let mut head = [0u8; 7];
        stream.read_exact(&mut head).expect("read hello");
        // The name, then the token's length byte and the token, then the
        // authentication method.
        let mut name = vec![0u8; usize::from(head[6]) + 1];
        stream.read_exact(&mut name).expect("read hello name");
        let mut token = vec![0u8; usize::from(name[name.len() - 1]) + 1];
        stream.read_exact(&mut token).expect("read hello token");
        stream.write_all(&answer()).expect("send answer");
        stream
    });
    (addr, thread)
}

/// Accepts one connection on a non-blocking listener, within [`TIMEOUT`].
fn accept_bounded(listener: &TcpListener) -> TcpStream {
    let mut accepted = None;
    let done = wait_until(TIMEOUT, || match listener.accept() {
        Ok((stream, _)) => {
            accepted = Some(stream);
            true
        }
        Err(e) if e.kind() == IoKind::WouldBlock => false,
        Err(e) => panic!("accept failed: {e}"),
    });
    assert!(done, "nobody connected to the fake host");
    accepted.expect("accepted stream")
}

/// A deterministic pseudo-random byte stream (xorshift64*), for payloads.
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// A message's payload as text.
pub(crate) fn text(msg: &Message) -> String {
    String::from_utf8(msg.payload().to_vec()).expect("a text payload")
}

/// The next `Undelivered` event's channel and error kind.
pub(crate) fn next_undelivered(events: &Events) -> (String, socketengine::ErrorKind) {
    next_event(events, |event| match event {
        Event::Undelivered { channel, error } => Some((channel, error.into_kind())),
        _ => None,
    })
}

/// Every message a subscription receives before one whose payload is
/// `marker`, as (text, sender).
pub(crate) fn until_marker(sub: &socketengine::Subscription) -> Vec<(String, ClientId)> {
    (0..)
        .map(|_| {
            sub.recv_timeout(TIMEOUT)
                .expect("a message before the marker")
        })
        .map(|m| (text(&m), m.from()))
        .take_while(|(t, _)| t != "marker")
        .collect()
}
