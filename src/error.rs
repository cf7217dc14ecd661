//! The crate's error type.

mod copy;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use crate::ClientId;
use crate::message::Message;
use crate::protocol::{DecodeError, Encoding, WelcomeStatus};

/// A specialised `Result` for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from a host or client: what went wrong ([`ErrorKind`]) and what
/// it hands back: for a write that failed before its bytes were queued, its
/// payload ([`into_payload`](Self::into_payload)); for a received message
/// that did not decode as the type asked for, the whole message
/// ([`into_message`](Self::into_message)), so nothing is lost.
///
/// # Examples
///
/// ```
/// use socketengine::{Client, ErrorKind};
///
/// // Nothing listens on port 1.
/// let err = Client::builder().addr("127.0.0.1:1").connect().unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::Connect { .. }));
/// ```
pub struct Error {
    kind: ErrorKind,
    handed: Option<Handed>,
}

/// What an error hands back.
#[derive(Clone)]
enum Handed {
    /// The payload of a write that was not queued.
    Payload(Bytes),
    /// A received message that did not decode (boxed: errors stay small).
    #[cfg_attr(
        not(feature = "serde"),
        allow(dead_code, reason = "decoding is serde's")
    )]
    Message(Box<Message>),
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The outbox of that connection holds its byte budget already, or the
    /// handle's [memory limit](crate::HostBuilder::memory_limit) is reached
    /// (then `queued` may be under `budget`); the payload was not queued and
    /// is available from [`Error::into_payload`].
    #[error("outbox full: {queued} bytes queued, budget {budget}")]
    Full {
        /// Bytes already queued on the connection.
        queued: usize,
        /// The configured budget ([`HostBuilder::outbox_budget`](crate::HostBuilder::outbox_budget)).
        budget: usize,
    },
    /// The connection is not (or no longer) open.
    #[error("not connected")]
    NotConnected,
    /// The host or client was closed.
    #[error("closed")]
    Closed,
    /// Something did not happen in time: a locked write or flush (the frame
    /// stays queued and is still sent if the peer catches up, unless the error
    /// hands the payload back), or a connection was silent for the
    /// [idle timeout](crate::HostBuilder::idle_timeout) and was closed.
    #[error("timed out after {0:?}")]
    TimedOut(Duration),
    /// The listening address is taken by another socket.
    #[error("address {addr} is already in use")]
    AddrInUse {
        /// The address that could not be bound.
        addr: SocketAddr,
    },
    /// Connecting to a host failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The host turned the connection away before admitting it: on a
    /// client, from the host's welcome; on a host, in an
    /// [`Event::Error`](crate::Event::Error) for the connection it refused.
    #[error("host refused the connection: {0}")]
    Refused(Refusal),
    /// The host refused the handshake because another connection holds this
    /// client's name (and this client could not prove it is that one).
    #[error("name {name:?} is taken by a connected client")]
    NameTaken {
        /// The name asked for.
        name: String,
    },
    /// No client with this id is connected.
    #[error("no connected client {0}")]
    UnknownClient(ClientId),
    /// No connected client has this name.
    #[error("no connected client named {0:?}")]
    UnknownName(String),
    /// No client is in a room of this name (a room exists while it has a
    /// member): from a host's send to it, or in an
    /// [`Event::Undelivered`](crate::Event::Undelivered) for a client's.
    #[error("no room named {0:?}")]
    UnknownRoom(String),
    /// No connected client declared an interest overlapping this group (a
    /// channel pattern; see [`To::Group`](crate::To::Group)): from a host's
    /// send to it, or in an [`Event::Undelivered`](crate::Event::Undelivered)
    /// for a client's.
    #[error("no client is interested in the group {0:?}")]
    UnknownGroup(String),
    /// The host did not keep a message this client sent: a limit of its
    /// own (its [memory limit](crate::HostBuilder::memory_limit), its
    /// channels); the text says which. In an
    /// [`Event::Undelivered`](crate::Event::Undelivered).
    #[error("the host did not keep it: {0:?}")]
    HostLimit(String),
    /// A client is in its maximum number of rooms already
    /// ([`HostBuilder::max_rooms_per_client`](crate::HostBuilder::max_rooms_per_client)).
    #[error("room limit of {max} per client reached")]
    RoomLimit {
        /// The configured maximum.
        max: usize,
    },
    /// The host did not deliver a message this client routed (its policy
    /// refused the route, or it does not support it), or refused a request
    /// to join or leave a room; reported in an
    /// [`Event::Undelivered`](crate::Event::Undelivered).
    /// Shown quoted and escaped: the words come from the host.
    #[error("the host did not deliver: {0:?}")]
    RouteRefused(String),
    /// Nothing answers requests on this channel: the peer asked has no
    /// such service and no [responder](crate::Host::on_request) on it.
    #[error("no responder on {0:?}")]
    NoResponder(String),
    /// The peer could not answer a request (it found it malformed, its
    /// responder returned an error, or panicked); its words, shown quoted
    /// and escaped.
    #[error("the peer could not answer: {0:?}")]
    Remote(String),
    /// A target that cannot go on the wire as given: a list of more than 255
    /// ids or names, an empty name or one over 255 bytes.
    #[error("invalid target: {0}")]
    InvalidTarget(String),
    /// The target or feature is not built yet (or makes no sense from this
    /// side, such as a host sending to [`To::Host`](crate::To::Host)); nothing
    /// was sent.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// A channel name is empty, longer than 255 bytes, or starts with `$`
    /// (reserved for the host's services).
    #[error("invalid channel name {name:?}: {reason}")]
    InvalidChannel {
        /// The name given (cut to 64 characters).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A payload exceeds the maximum frame size.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// Body length of the frame.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The peer broke the wire format; that connection was closed.
    #[error("protocol error: {0}")]
    Protocol(#[from] DecodeError),
    /// A frame on a new channel found the store holding its most channels,
    /// none idle long enough to make way; it was dropped (and its sender
    /// told, with [`HostLimit`](Self::HostLimit)).
    #[error("channel limit of {max} reached")]
    ChannelLimit {
        /// The configured maximum ([`HostBuilder::max_channels`](crate::HostBuilder::max_channels)).
        max: usize,
    },
    /// A frame on a new channel came from a client that made its quota of
    /// channels already; it was dropped (and its sender told, with
    /// [`HostLimit`](Self::HostLimit)).
    #[error("quota of {max} channels per client reached")]
    ChannelQuota {
        /// The configured quota
        /// ([`HostBuilder::max_channels_per_client`](crate::HostBuilder::max_channels_per_client)).
        max: usize,
    },
    /// The peer did not finish the handshake within the timeout: a client's
    /// hello on a host, or a host's welcome on a client (within the
    /// [connect timeout](crate::ClientBuilder::connect_timeout)).
    #[error("handshake not completed within {0:?}")]
    HandshakeTimeout(Duration),
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed mid-frame ({received} of {expected} bytes received)")]
    Truncated {
        /// Bytes of the frame received.
        received: usize,
        /// Bytes the frame declared.
        expected: usize,
    },
    /// The peer did not send a frame whole within the
    /// [partial timeout](crate::HostBuilder::partial_timeout) of its first
    /// byte (a slow body holding a buffer open); that connection was closed.
    #[error("frame not received whole within {0:?}")]
    FrameTimeout(Duration),
    /// The allocator could not give a buffer for a frame from the peer; that
    /// connection was closed, and the others carry on. (An image that does
    /// not fit is dropped instead, and counted in
    /// [`ImageStats::incomplete`](crate::ImageStats::incomplete).)
    #[error("could not allocate {bytes} bytes")]
    AllocFailed {
        /// Bytes of the buffer asked for.
        bytes: usize,
    },
    /// An image does not fit its geometry, or a conversion failed; received,
    /// it closes the connection that sent it.
    #[error("image: {0}")]
    Image(#[from] crate::image::ImageError),
    /// The host's permissions do not allow `action` on `channel` (a
    /// channel, or a room for [`Action::Join`]); see
    /// [`Permissions`](crate::Permissions). For this client's own action
    /// `client` is `None`; for a message it sent to a receiver that may not
    /// [subscribe](Action::Subscribe) to its channel, `client` is that
    /// receiver (its name, or `#id`). Nothing else is affected: the
    /// connection stays open. In an
    /// [`Event::Undelivered`](crate::Event::Undelivered), a confirmed
    /// write's or a request's error, or a host's write to that receiver.
    #[error("{}", forbidden_text(*.action, .channel, .client.as_deref()))]
    Forbidden {
        /// What was tried.
        action: Action,
        /// On what.
        channel: String,
        /// Who lacks the permission, when it is not the one told.
        client: Option<String>,
    },
    /// A credential, key file or auth file could not be used: the text says
    /// which file or line, and why (never the secret itself).
    #[error("credential: {0}")]
    Credential(String),
    /// TLS failed: credentials that cannot be read or used (the builders'
    /// `tls` settings, with the `tls` feature), or a session
    /// (a certificate not trusted, a peer without TLS, an alert, a record
    /// that did not decrypt), which closed that one connection.
    #[error("{0}")]
    Tls(#[from] crate::tls::TlsError),
    /// An operating-system I/O error.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// A value could not be serialised as `encoding` (with the `serde`
    /// feature: a map with keys JSON cannot have, a `Serialize` impl that
    /// failed); nothing was sent.
    #[error("cannot encode as {encoding}: {message}")]
    Encode {
        /// The encoding asked for.
        encoding: Encoding,
        /// The serialiser's message.
        message: String,
    },
    /// A payload does not decode as the type asked for (with the `serde`
    /// feature): not valid JSON or MessagePack, or of another shape. The
    /// message itself is not lost: a non-consuming read leaves it where it
    /// was, and a consuming one hands it back, sender, time and image
    /// fields with its payload ([`Error::into_message`]). The decoder's
    /// message may quote the payload, so it is shown quoted and escaped.
    #[error("cannot decode a {encoding} payload on {channel:?}: {message:?}")]
    Decode {
        /// The channel it arrived on.
        channel: String,
        /// The encoding its frame declared ([`Encoding::Bytes`]: none, and
        /// it was read as JSON).
        encoding: Encoding,
        /// The decoder's message.
        message: String,
    },
    /// A command names no handler in the [`Commands`](crate::Commands)
    /// table it was dispatched to (with the `serde` feature). Shown quoted
    /// and escaped: the name comes from a peer.
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    /// A command's handler returned an error (with the `serde` feature):
    /// its words, shown quoted and escaped.
    #[error("command {name:?} failed: {message:?}")]
    CommandFailed {
        /// The command's name.
        name: String,
        /// What the handler returned.
        message: String,
    },
    /// A request was not sent: this handle has its most requests waiting
    /// for replies ([`max_requests`](crate::HostBuilder::max_requests)); or
    /// a client's request to another client was not forwarded: its host
    /// holds its most forwarded requests, in all or for this client
    /// ([`max_forwards_per_client`](crate::HostBuilder::max_forwards_per_client)).
    #[error("too many requests in flight (at most {max})")]
    TooManyRequests {
        /// The limit that was reached.
        max: usize,
    },
    /// The responder on this channel did not take the request: its
    /// handle's queue of requests for responders is full
    /// ([`responder_queue`](crate::HostBuilder::responder_queue)), as when
    /// a responder takes long or never returns, or has no room for it (its
    /// [bytes](crate::HostBuilder::responder_queue_bytes), the memory
    /// limit, or this client's
    /// [share](crate::HostBuilder::responder_queue_per_client)); or its
    /// answer found no room in the outbox back to the requester. Shown
    /// quoted and escaped.
    #[error("the responder on {0:?} is busy")]
    Busy(String),
    /// The client a request was forwarded to (by name, or `#id`) disconnected
    /// before it answered. Shown quoted and escaped.
    #[error("{0:?} disconnected before it answered")]
    ResponderGone(String),
    /// The responder's answer would not fit a frame: `len` bytes of body
    /// over the responder's (or the forwarding host's) maximum frame; or a
    /// request a host forwards would not, with its origin in place of its
    /// route.
    #[error("an answer of {len} bytes exceeds the maximum frame of {max}")]
    ReplyTooLarge {
        /// The reply frame's body length with the answer.
        len: usize,
        /// The responder's maximum frame.
        max: usize,
    },
    /// A [`Hosts`](crate::Hosts) already has a host under this key.
    #[error("a host named {0:?} is there already")]
    DuplicateHost(String),
    /// A [`Hosts`](crate::Hosts) has no host under this key.
    #[error("no host named {0:?}")]
    UnknownHost(String),
}

/// What a client may be permitted to do, in
/// [`Permissions`](crate::Permissions) and [`ErrorKind::Forbidden`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Write a channel: store it on the host, or route it to other clients.
    Publish,
    /// Receive a channel: what the host relays, routes or latches to the client.
    Subscribe,
    /// Ask a host service (`$clients`, `$channels`, `$lookup`) or responder.
    Request,
    /// Join a room.
    Join,
}

impl Action {
    /// The action's word, as in an auth file (`publish`, `subscribe`,
    /// `request`, `rooms`) and in the wire's notices.
    pub fn word(self) -> &'static str {
        match self {
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
            Action::Request => "request",
            Action::Join => "join",
        }
    }

    /// The action a word names (as [`word`](Self::word) gives, and `rooms`
    /// for [`Action::Join`]).
    pub fn from_word(word: &str) -> Option<Action> {
        match word {
            "publish" => Some(Action::Publish),
            "subscribe" => Some(Action::Subscribe),
            "request" => Some(Action::Request),
            "join" | "rooms" => Some(Action::Join),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// Why a host turned a connection away before admitting it, in
/// [`ErrorKind::Refused`]. Limits are set on the [`HostBuilder`](crate::HostBuilder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// The host has its most clients connected
    /// ([`max_connections`](crate::HostBuilder::max_connections)).
    HostFull,
    /// The host has its most connections from this source address
    /// ([`max_connections_per_addr`](crate::HostBuilder::max_connections_per_addr)).
    AddressLimit,
    /// The connection had not finished its handshake (its hello, or its
    /// proof when challenged) when every handshake slot was taken
    /// ([`max_handshakes`](crate::HostBuilder::max_handshakes)), and it was
    /// the oldest: it made way for a newer one. Trying again is fine.
    Evicted,
    /// The host does not speak this client's protocol version.
    VersionMismatch,
    /// The host requires a credential ([`HostBuilder::auth`](crate::HostBuilder::auth)),
    /// and the client offered none, or one that does not prove the name it
    /// asked for (an unknown name, a wrong key or token: the host does not
    /// say which).
    Unauthorized,
    /// A refusal this build does not know: the welcome's status code.
    Unknown(u8),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::HostFull => f.write_str("host full"),
            Refusal::AddressLimit => f.write_str("too many connections from this address"),
            Refusal::Evicted => f.write_str("handshake evicted for a newer connection"),
            Refusal::VersionMismatch => f.write_str("protocol version mismatch"),
            Refusal::Unauthorized => f.write_str("not authorized: no credential, or a wrong one"),
            Refusal::Unknown(code) => write!(f, "unknown status {code}"),
        }
    }
}

impl Refusal {
    /// The welcome status that tells a client about this refusal.
    pub(crate) fn status(self) -> WelcomeStatus {
        match self {
            Refusal::HostFull => WelcomeStatus::HostFull,
            Refusal::AddressLimit => WelcomeStatus::AddressLimit,
            Refusal::Evicted => WelcomeStatus::Evicted,
            Refusal::VersionMismatch => WelcomeStatus::VersionMismatch,
            Refusal::Unauthorized => WelcomeStatus::Unauthorized,
            Refusal::Unknown(code) => WelcomeStatus::Unknown(code),
        }
    }

    /// The refusal a welcome's status means (`None`: accepted, or a name
    /// taken, which has its own [`ErrorKind::NameTaken`]).
    pub(crate) fn from_status(status: WelcomeStatus) -> Option<Refusal> {
        Some(match status {
            WelcomeStatus::Accepted | WelcomeStatus::NameTaken => return None,
            WelcomeStatus::HostFull => Refusal::HostFull,
            WelcomeStatus::AddressLimit => Refusal::AddressLimit,
            WelcomeStatus::Evicted => Refusal::Evicted,
            WelcomeStatus::VersionMismatch => Refusal::VersionMismatch,
            WelcomeStatus::Unauthorized => Refusal::Unauthorized,
            WelcomeStatus::Unknown(code) => Refusal::Unknown(code),
        })
    }
}

/// How [`ErrorKind::Forbidden`] reads.
fn forbidden_text(action: Action, channel: &str, client: Option<&str>) -> String {
    match client {
        None => format!("not permitted to {action} {channel:?}"),
        Some(client) => format!("{client:?} is not permitted to {action} {channel:?}"),
    }
}

/// The error for `text`, which is not a valid pattern (`err` says why).
pub(crate) fn invalid_pattern(text: &str, err: &DecodeError) -> Error {
    let name = text.chars().take(64).collect();
    let reason = match err {
        DecodeError::EmptyChannel => "empty",
        DecodeError::ChannelTooLong(_) => "longer than 255 bytes",
        _ => "a `*` inside a segment",
    };
    Error::new(ErrorKind::InvalidChannel { name, reason })
}

impl Error {
    /// An error of `kind` with no payload.
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error { kind, handed: None }
    }

    /// Attaches the payload of a write that was not queued.
    pub(crate) fn with_payload(mut self, payload: Bytes) -> Error {
        self.handed = Some(Handed::Payload(payload));
        self
    }

    /// Attaches a received message that did not decode.
    #[cfg_attr(
        not(feature = "serde"),
        allow(dead_code, reason = "decoding is serde's")
    )]
    pub(crate) fn with_message(mut self, message: Message) -> Error {
        self.handed = Some(Handed::Message(Box::new(message)));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Consumes the error, returning its [`ErrorKind`].
    pub fn into_kind(self) -> ErrorKind {
        self.kind
    }

    /// The payload handed back, if any: of a write that was not queued
    /// (to retry it later), or of a received message that did not decode
    /// (whose sender and time [`message`](Self::message) has).
    pub fn payload(&self) -> Option<&Bytes> {
        match self.handed.as_ref()? {
            Handed::Payload(payload) => Some(payload),
            Handed::Message(message) => Some(message.payload()),
        }
    }

    /// Takes the [payload](Self::payload) handed back, if any.
    pub fn into_payload(self) -> Option<Bytes> {
        match self.handed? {
            Handed::Payload(payload) => Some(payload),
            Handed::Message(message) => Some(message.into_payload()),
        }
    }

    /// The received message handed back, if this error is one that did not
    /// decode as the type asked for ([`ErrorKind::Decode`] from a reading
    /// call that takes messages: `get_all_as`, a `TypedSubscription`).
    pub fn message(&self) -> Option<&Message> {
        match self.handed.as_ref()? {
            Handed::Message(message) => Some(message),
            Handed::Payload(_) => None,
        }
    }

    /// Takes the [message](Self::message) handed back, if any.
    pub fn into_message(self) -> Option<Message> {
        match self.handed? {
            Handed::Message(message) => Some(*message),
            Handed::Payload(_) => None,
        }
    }

    /// Whether the error is [`ErrorKind::Full`]: back off and retry.
    pub fn is_full(&self) -> bool {
        matches!(self.kind, ErrorKind::Full { .. })
    }
}

/// Shows the handed-back payload's length, not its bytes: a refused camera
/// frame would print megabytes.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let payload = self.payload().map(|p| PayloadLen(p.len()));
        let mut debug = f.debug_struct("Error");
        debug.field("kind", &self.kind).field("payload", &payload);
        if let Some(message) = self.message() {
            debug.field("from", &message.from());
        }
        debug.finish()
    }
}

/// A payload in `Debug` output: its length.
struct PayloadLen(usize);

impl fmt::Debug for PayloadLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.kind.fmt(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(err) | ErrorKind::Connect { source: err, .. } => Some(err),
            ErrorKind::Protocol(err) => Some(err),
            ErrorKind::Image(err) => Some(err),
            ErrorKind::Tls(err) => Some(err),
            _ => None,
        }
    }
}

impl From<ErrorKind> for Error {
    fn from(kind: ErrorKind) -> Error {
        Error::new(kind)
    }
}

/// A TLS failure met on the read or write path travels as an `io::Error`
/// around a [`TlsError`](crate::TlsError); it comes out as [`ErrorKind::Tls`].
impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        if !err
            .get_ref()
            .is_some_and(|e| e.is::<crate::tls::TlsError>())
        {
            return Error::new(ErrorKind::Io(err));
        }
        let kind = err.kind();
        match err
            .into_inner()
            .map(|e| e.downcast::<crate::tls::TlsError>())
        {
            Some(Ok(tls)) => Error::new(ErrorKind::Tls(*tls)),
            // Not reached: it holds a `TlsError`, checked above.
            Some(Err(other)) => Error::new(ErrorKind::Io(io::Error::new(kind, other))),
            None => Error::new(ErrorKind::Io(kind.into())),
        }
    }
}

impl From<crate::tls::TlsError> for Error {
    fn from(err: crate::tls::TlsError) -> Error {
        Error::new(ErrorKind::Tls(err))
    }
}

impl From<crate::image::ImageError> for Error {
    fn from(err: crate::image::ImageError) -> Error {
        Error::new(ErrorKind::Image(err))
    }
}

impl From<DecodeError> for Error {
    fn from(err: DecodeError) -> Error {
        Error::new(ErrorKind::Protocol(err))
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        let kind = match &err.kind {
            ErrorKind::Io(e) => e.kind(),
            ErrorKind::Full { .. } => io::ErrorKind::WouldBlock,
            ErrorKind::NotConnected => io::ErrorKind::NotConnected,
            ErrorKind::Closed => io::ErrorKind::BrokenPipe,
            ErrorKind::TimedOut(_) | ErrorKind::HandshakeTimeout(_) => io::ErrorKind::TimedOut,
            ErrorKind::AddrInUse { .. } => io::ErrorKind::AddrInUse,
            ErrorKind::Connect { source, .. } => source.kind(),
            ErrorKind::Refused(_) | ErrorKind::NameTaken { .. } => io::ErrorKind::ConnectionRefused,
            ErrorKind::Truncated { .. } => io::ErrorKind::UnexpectedEof,
            ErrorKind::FrameTimeout(_) => io::ErrorKind::TimedOut,
            ErrorKind::AllocFailed { .. } => io::ErrorKind::OutOfMemory,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, err)
    }
}

/// Why a blocking receive returned nothing: the handle was closed and
/// everything buffered has been taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("receiving on a closed handle")]
pub struct RecvError;

/// Why [`try_recv`](crate::Subscription::try_recv) returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing is buffered now.
    #[error("nothing to receive yet")]
    Empty,
    /// The handle was closed and everything buffered has been taken.
    #[error("receiving on a closed handle")]
    Disconnected,
}

/// Why [`recv_timeout`](crate::Subscription::recv_timeout) returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvTimeoutError {
    /// Nothing arrived in time.
    #[error("nothing received in time")]
    Timeout,
    /// The handle was closed and everything buffered has been taken.
    #[error("receiving on a closed handle")]
    Disconnected,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_a_peer_is_displayed_quoted_on_one_line() {
        let forged = "x\n1.000s connected admin (#1) from 10.0.0.1:22\u{1b}[2J\0\u{202e}";
        let kinds = [
            ErrorKind::RouteRefused(forged.to_owned()),
            ErrorKind::Remote(forged.to_owned()),
            ErrorKind::NameTaken {
                name: forged.to_owned(),
            },
            ErrorKind::UnknownName(forged.to_owned()),
            ErrorKind::UnknownRoom(forged.to_owned()),
            ErrorKind::UnknownGroup(forged.to_owned()),
            ErrorKind::NoResponder(forged.to_owned()),
            ErrorKind::UnknownCommand(forged.to_owned()),
            ErrorKind::Decode {
                channel: "pose".to_owned(),
                encoding: Encoding::Json,
                message: forged.to_owned(),
            },
            ErrorKind::CommandFailed {
                name: "move".to_owned(),
                message: forged.to_owned(),
            },
            ErrorKind::Busy(forged.to_owned()),
            ErrorKind::ResponderGone(forged.to_owned()),
        ];
        for kind in kinds {
            let shown = Error::new(kind).to_string();
            assert!(
                shown.contains(
                    r#""x\n1.000s connected admin (#1) from 10.0.0.1:22\u{1b}[2J\0\u{202e}""#
                ),
                "{shown}"
            );
            assert!(!shown.chars().any(|c| c.is_control() || c == '\u{202e}'));
        }
    }

    #[test]
    fn refusals_and_welcome_statuses_correspond() {
        for refusal in [
            Refusal::HostFull,
            Refusal::AddressLimit,
            Refusal::Evicted,
            Refusal::VersionMismatch,
            Refusal::Unknown(200),
        ] {
            assert_eq!(Refusal::from_status(refusal.status()), Some(refusal));
        }
        assert_eq!(Refusal::from_status(WelcomeStatus::Accepted), None);
        assert_eq!(Refusal::from_status(WelcomeStatus::NameTaken), None);
    }

    #[test]
    fn debug_shows_the_payload_length_not_its_bytes() {
        let err = Error::new(ErrorKind::NotConnected).with_payload(Bytes::from(vec![1u8; 1 << 20]));
        assert_eq!(
            format!("{err:?}"),
            "Error { kind: NotConnected, payload: Some(1048576 bytes) }"
        );
    }

    #[test]
    fn a_message_handed_back_comes_whole_and_its_payload_alone_too() {
        let channel = crate::protocol::ChannelName::new("pose").expect("a name");
        let now = std::time::Instant::now();
        let msg = Message::new(channel, Bytes::from("{"), ClientId(7), now);
        let kind = ErrorKind::Closed;
        let err = Error::new(kind).with_message(msg.clone());
        assert_eq!(err.payload(), Some(&Bytes::from("{")));
        assert_eq!(
            format!("{err:?}"),
            "Error { kind: Closed, payload: Some(1 bytes), from: ClientId(7) }"
        );
        assert_eq!(err.duplicate().message(), Some(&msg));
        assert_eq!(err.into_message(), Some(msg.clone()));
        let err = Error::new(ErrorKind::Closed).with_message(msg);
        assert_eq!(err.into_payload(), Some(Bytes::from("{")));
        let written = Error::new(ErrorKind::Closed).with_payload(Bytes::from("x"));
        assert_eq!(written.message(), None);
    }
}
