//! What the handles report about connections: the client list and events.

use std::net::SocketAddr;
use std::time::Instant;

use crate::protocol::{
    CLOSE_KICKED, CLOSE_NORMAL, CLOSE_REPLACED, CLOSE_SHUTTING_DOWN, CLOSE_SLOW_CONSUMER,
};
use crate::{ClientId, Error, Refusal};

/// A snapshot of one client, from [`Host::clients`](crate::Host::clients).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The client's id.
    pub id: ClientId,
    /// The name it gave in the handshake (or `client-N` if it gave none).
    pub name: String,
    /// Its address.
    pub addr: SocketAddr,
    /// Whether it is connected now.
    pub connected: bool,
    /// When its connection opened (for a disconnected client: its last one).
    pub connected_since: Instant,
    /// When the host last received bytes from it.
    pub last_seen: Instant,
    /// The rooms it is in, sorted.
    pub rooms: Vec<String>,
    /// Bytes queued to it and not yet written (0 in a list from
    /// [`Client::clients`](crate::Client::clients), which does not carry it).
    pub queued_bytes: usize,
    /// Writes to it given up: unlocked writes refused because its outbox was
    /// full (or the host's [memory](crate::HostBuilder::memory_limit) spent),
    /// locked broadcasts that timed out, pings and pongs replaced by newer
    /// ones before they went out.
    pub dropped: u64,
    /// Images to it dropped whole before they were sent: replaced by a newer
    /// image on their channel (conflation), refused for lack of room, or lost
    /// when it disconnected (0 in a list from
    /// [`Client::clients`](crate::Client::clients)).
    pub images_dropped: u64,
}

/// One of a host's channels and its counters, from
/// [`Client::host_channels`](crate::Client::host_channels).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelInfo {
    /// The channel's name.
    pub name: String,
    /// Its counters on the host.
    pub stats: ChannelStats,
}

/// Counters of one channel, from [`channel_stats`](crate::Inbox::channel_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ChannelStats {
    /// Messages received on the channel.
    pub received: u64,
    /// Payload bytes received on the channel.
    pub bytes: u64,
    /// Messages dropped from the full queue (oldest first), or that skipped a
    /// full subscription or [callback](crate::Host::on).
    pub dropped: u64,
    /// Messages waiting in the queue for `get_all`.
    pub queued: usize,
    /// The queue's capacity.
    pub capacity: usize,
}

/// How a host's door has been used, from
/// [`Host::admission_stats`](crate::Host::admission_stats): connections in the
/// handshake now, and counts (since the host started) of the connections
/// that never became clients, by reason. Each of them was also reported as
/// an [`Event::Error`] with no client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AdmissionStats {
    /// Connections accepted whose hello has not arrived yet.
    pub handshaking: usize,
    /// Refused because every client slot was taken
    /// ([`Refusal::HostFull`](crate::Refusal::HostFull)).
    pub host_full: u64,
    /// Refused because their address had its share
    /// ([`Refusal::AddressLimit`](crate::Refusal::AddressLimit)).
    pub address_limit: u64,
    /// Dropped before their hello to give their handshake slot to a newer
    /// connection ([`Refusal::Evicted`](crate::Refusal::Evicted)).
    pub evicted: u64,
    /// Dropped for sending no hello within the handshake timeout.
    pub timed_out: u64,
    /// Refused for asking for a connected client's name without its token.
    pub name_taken: u64,
    /// Closed for a malformed hello or one of another protocol version.
    pub bad_hello: u64,
    /// Refused for offering no credential, or one that did not prove the
    /// name ([`Refusal::Unauthorized`](crate::Refusal::Unauthorized)).
    pub unauthorized: u64,
}

/// A handle's requests and responders, from
/// [`Host::request_stats`](crate::Host::request_stats) and
/// [`Client::request_stats`](crate::Client::request_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RequestStats {
    /// This handle's requests waiting for their replies (at most
    /// [`max_requests`](crate::HostBuilder::max_requests)).
    pub in_flight: usize,
    /// A host's requests forwarded between its clients, waiting for their
    /// replies (0 on a client).
    pub forwarded: usize,
    /// Requests waiting for this handle's responders to run.
    pub queued: usize,
    /// Requests answered "busy" because that queue was full
    /// ([`responder_queue`](crate::HostBuilder::responder_queue)).
    pub busy: u64,
    /// Responders that panicked (each reported as an
    /// [`Event::CallbackPanicked`]).
    pub panicked: u64,
}

/// A handle's images through shared memory (see
/// [`shared_memory_images`](crate::HostBuilder::shared_memory_images)), from
/// [`shared_memory_stats`](crate::Inbox::shared_memory_stats), summed over
/// its connected peers. All zero with the setting off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SharedMemoryStats {
    /// Connected peers that mapped this handle's segment: its images to
    /// them go through it.
    pub mapped: usize,
    /// Images sent through a peer's mapping of this handle's segment (also
    /// counted in their channel's [`ImageStats::sent`](crate::ImageStats::sent)).
    pub sent: u64,
    /// Images sent over the socket because every slot of the segment was
    /// held by the receiver, or behind such an image of their channel still
    /// being sent (so none overtakes it): the lane then keeps the newest of
    /// a channel, as for a full window; a locked image never waits for a
    /// slot.
    pub full: u64,
    /// Times a connection on loopback had its images go over the socket
    /// instead: the peer declined the segment (its setting off, or it
    /// could not map it), this handle could not make one (counted once a
    /// connection, though a later image may get one when the limit has
    /// room again), or the peer did not answer the offer in time.
    pub fallbacks: u64,
    /// Of the fallbacks, offers the peer did not answer within
    /// [`shared_memory_answer_timeout`](crate::HostBuilder::shared_memory_answer_timeout)
    /// (a peer of an older build, or a broken one): their segments were
    /// withdrawn, their files closed.
    pub unanswered: u64,
    /// Offers of peers this handle refused, their images left on the
    /// socket: a segment out of reach (another user's process, another
    /// process namespace), not a memory file sealed against shrinking,
    /// shorter than offered, or not the one offered to this connection.
    pub refused: u64,
}

/// A handle's message callbacks and hooks, from
/// [`Host::callback_stats`](crate::Host::callback_stats) and
/// [`Client::callback_stats`](crate::Client::callback_stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CallbackStats {
    /// Message callbacks and hooks registered.
    pub registered: usize,
    /// Messages and events waiting for them to run.
    pub queued: usize,
    /// Messages and events they missed because their queue was full
    /// ([`callback_queue`](crate::HostBuilder::callback_queue)), each also
    /// reported in an [`Event::CallbackDropped`] once the callback runs again.
    pub dropped: u64,
    /// Calls that panicked (each reported in an [`Event::CallbackPanicked`]).
    pub panicked: u64,
}

/// Something that happened to a connection, from
/// [`events`](crate::Inbox::events) on a host or a client.
///
/// On a client, `client` and `name` are the client's own id and name, and `addr`
/// the host's address.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A peer completed the handshake.
    Connected {
        /// The client's id.
        client: ClientId,
        /// The client's name.
        name: String,
        /// The peer's address.
        addr: SocketAddr,
    },
    /// A connection closed. An [`Event::Error`] precedes it if an error closed it.
    Disconnected {
        /// The client's id.
        client: ClientId,
        /// The client's name.
        name: String,
        /// The peer's address.
        addr: SocketAddr,
        /// Why, when one side said so with a close frame: the reason the peer
        /// sent, or the one this side sent (a host's `disconnect`, a replaced
        /// client, shutting down). `None` when the connection just ended.
        reason: Option<DisconnectReason>,
    },
    /// A client lost its connection and will try again after `delay` (the
    /// `attempt`-th try since the loss). Followed by [`Event::Connected`] once
    /// it is back, or by an [`Event::Error`] for each failed attempt.
    Reconnecting {
        /// The client's id (from before the loss).
        client: ClientId,
        /// The host's address.
        addr: SocketAddr,
        /// Attempts since the connection was lost, this one included.
        attempt: u32,
        /// How long the client waits before this attempt.
        delay: std::time::Duration,
    },
    /// A client stopped trying to reach its host, which refused it for a
    /// reason trying again will not change: its credential
    /// ([`Refusal::Unauthorized`]) or its protocol version
    /// ([`Refusal::VersionMismatch`]). Follows the [`Event::Error`] of the
    /// attempt. The client is closed for good: its
    /// [`state`](crate::Client::state) is
    /// [`Refused`](ConnectionState::Refused), and writes fail. (A refusal
    /// that may clear, such as a full host or a name still held, is
    /// retried.)
    Refused {
        /// The client's id (from its last connection; [`ClientId::HOST`]
        /// if it never had one).
        client: ClientId,
        /// The host's address.
        addr: SocketAddr,
        /// Why the host refused it.
        refusal: Refusal,
    },
    /// A client reconnected to a host that is not the one it left: the host
    /// restarted (its epoch in the welcome changed), so whatever it held
    /// from this client is gone: latest values, queued messages, rooms, and
    /// writes that had not reached it (a [confirmed
    /// write](crate::Target::write_confirmed) that failed meanwhile did not
    /// arrive). Follows the [`Event::Connected`] of the new connection.
    HostRestarted {
        /// The client's id from the new host.
        client: ClientId,
        /// The host's address.
        addr: SocketAddr,
    },
    /// The host did not deliver a message this client routed to other
    /// clients (or to some of them): an unknown id or name, or a route the
    /// host refused. The connection stays open; other targets of the same
    /// message got it.
    Undelivered {
        /// The channel of the message.
        channel: String,
        /// Why: [`ErrorKind::UnknownClient`](crate::ErrorKind::UnknownClient),
        /// [`ErrorKind::UnknownName`](crate::ErrorKind::UnknownName),
        /// [`ErrorKind::UnknownRoom`](crate::ErrorKind::UnknownRoom) or
        /// [`ErrorKind::RouteRefused`](crate::ErrorKind::RouteRefused) (also
        /// a refused [`Client::join`](crate::Client::join) or `leave`, on the
        /// channel `rooms`).
        error: Error,
    },
    /// A connection failed: bad bytes, a handshake that never came, an I/O error.
    /// `client` is `None` when the peer had not completed the handshake.
    Error {
        /// The client, if it had completed the handshake.
        client: Option<ClientId>,
        /// The peer's address.
        addr: SocketAddr,
        /// What went wrong.
        error: Error,
    },
    /// User code this handle runs on its dispatcher thread panicked: a
    /// [responder](crate::Host::on_request) (its request was answered with
    /// a [`Remote`](crate::ErrorKind::Remote) failure carrying the
    /// message), a [message callback](crate::Host::on) or a
    /// [hook](crate::Host::on_connect). The panic was caught and the
    /// dispatcher goes on; the callback stays registered. A hook's own
    /// panic is reported here only, not to the hooks.
    CallbackPanicked {
        /// Which callback, such as `responder on "grip"` or
        /// `callback "log" on "pose"`.
        callback: String,
        /// The panic's message.
        message: String,
    },
    /// A callback fell behind: its queue held its
    /// [most](crate::HostBuilder::callback_queue), so `dropped` messages
    /// (or, for the hooks, events) skipped it since the last report. Sent
    /// when the callback next runs, so a callback that never returns is
    /// told nothing: [`callback_stats`](crate::Host::callback_stats) counts
    /// them at once. The hooks' own drops are reported here only.
    CallbackDropped {
        /// Which callback, such as `callback "log" on "pose"` or `hooks`.
        callback: String,
        /// Messages or events it missed.
        dropped: u64,
    },
    /// A [command](crate::Host::on_command) that came as a message on the
    /// command channel was not run, or its handler failed:
    /// [`UnknownCommand`](crate::ErrorKind::UnknownCommand),
    /// [`CommandFailed`](crate::ErrorKind::CommandFailed), or
    /// [`Decode`](crate::ErrorKind::Decode) for a payload that is not a
    /// command. (A command that came as a request is answered with the
    /// failure, and reported here too.)
    CommandFailed {
        /// Who sent it (on a client: [`ClientId::HOST`], or the client the
        /// host relayed or routed it from).
        from: ClientId,
        /// Why.
        error: Error,
    },
    /// This handle's responder answered, but the answer could not go back
    /// as it was: too large for a frame
    /// ([`ReplyTooLarge`](crate::ErrorKind::ReplyTooLarge); the requester
    /// was told so), the requester's outbox full (the requester was told
    /// [`Busy`](crate::ErrorKind::Busy)), or its connection gone (not
    /// reported once the request's connection has closed: nobody waits).
    ReplyFailed {
        /// The request's channel.
        channel: String,
        /// Who asked (on a client: [`ClientId::HOST`], or the client whose
        /// request the host forwarded).
        client: ClientId,
        /// Why.
        error: Error,
    },
}

impl Event {
    /// The client the event is about, where it names one: the peer that
    /// connected, disconnected or failed (on a client, itself), or the
    /// sender of a failed command or requester of a failed reply.
    pub fn client(&self) -> Option<ClientId> {
        match self {
            Event::Connected { client, .. }
            | Event::Disconnected { client, .. }
            | Event::Reconnecting { client, .. }
            | Event::Refused { client, .. }
            | Event::HostRestarted { client, .. }
            | Event::ReplyFailed { client, .. }
            | Event::CommandFailed { from: client, .. } => Some(*client),
            Event::Error { client, .. } => *client,
            Event::Undelivered { .. }
            | Event::CallbackPanicked { .. }
            | Event::CallbackDropped { .. } => None,
        }
    }

    /// Why a connection closed, for a [`Disconnected`](Event::Disconnected)
    /// whose peer or this side said so.
    pub fn reason(&self) -> Option<&DisconnectReason> {
        match self {
            Event::Disconnected { reason, .. } => reason.as_ref(),
            _ => None,
        }
    }

    /// The error the event reports, if it carries one.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Event::Undelivered { error, .. }
            | Event::Error { error, .. }
            | Event::ReplyFailed { error, .. }
            | Event::CommandFailed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// A copy, for the hooks that see the event beside the reader of
    /// `events()` (see [`Error::duplicate`]).
    pub(crate) fn duplicate(&self) -> Event {
        match self {
            Event::Connected { client, name, addr } => Event::Connected {
                client: *client,
                name: name.clone(),
                addr: *addr,
            },
            Event::Disconnected {
                client,
                name,
                addr,
                reason,
            } => Event::Disconnected {
                client: *client,
                name: name.clone(),
                addr: *addr,
                reason: reason.clone(),
            },
            Event::Reconnecting {
                client,
                addr,
                attempt,
                delay,
            } => Event::Reconnecting {
                client: *client,
                addr: *addr,
                attempt: *attempt,
                delay: *delay,
            },
            Event::Refused {
                client,
                addr,
                refusal,
            } => Event::Refused {
                client: *client,
                addr: *addr,
                refusal: *refusal,
            },
            Event::HostRestarted { client, addr } => Event::HostRestarted {
                client: *client,
                addr: *addr,
            },
            Event::Undelivered { channel, error } => Event::Undelivered {
                channel: channel.clone(),
                error: error.duplicate(),
            },
            Event::Error {
                client,
                addr,
                error,
            } => Event::Error {
                client: *client,
                addr: *addr,
                error: error.duplicate(),
            },
            Event::CallbackPanicked { callback, message } => Event::CallbackPanicked {
                callback: callback.clone(),
                message: message.clone(),
            },
            Event::CallbackDropped { callback, dropped } => Event::CallbackDropped {
                callback: callback.clone(),
                dropped: *dropped,
            },
            Event::ReplyFailed {
                channel,
                client,
                error,
            } => Event::ReplyFailed {
                channel: channel.clone(),
                client: *client,
                error: error.duplicate(),
            },
            Event::CommandFailed { from, error } => Event::CommandFailed {
                from: *from,
                error: error.duplicate(),
            },
        }
    }
}

/// Why a connection was closed on purpose, as sent in a close frame (codes in
/// the wire format's "Close" section).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DisconnectReason {
    /// What kind of close.
    pub code: CloseCode,
    /// Words for people, at most 1 KiB.
    pub message: String,
}

impl DisconnectReason {
    /// A reason with `code` and `message`.
    pub fn new(code: CloseCode, message: impl Into<String>) -> DisconnectReason {
        DisconnectReason {
            code,
            message: message.into(),
        }
    }
}

/// Where a client's connection to its host is: [`Client::state`](crate::Client::state),
/// and per host in [`Hosts`](crate::Hosts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Not connected yet: the first attempt is under way (for a client
    /// [started](crate::ClientBuilder::start) without waiting, the attempts
    /// until the host first answers).
    Connecting,
    /// Connected: writes go out.
    Connected,
    /// The connection was lost and the client is redialing.
    Reconnecting,
    /// Closed for good because the host refused the client for a reason
    /// trying again will not change (its credential, its protocol version):
    /// it stopped dialling ([`Event::Refused`]).
    Refused(Refusal),
    /// Closed for good: the application closed the client, or the host
    /// kicked it (and it does not redial after a kick), gave its name to
    /// another connection, or the connection was lost with reconnection off.
    Closed,
}

/// The kind of a [`DisconnectReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCode {
    /// The peer closed normally (a client's `close`).
    Normal,
    /// The host disconnected the client ([`Host::disconnect`](crate::Host::disconnect)).
    Kicked,
    /// Another connection proved it is the same client and took over its name.
    Replaced,
    /// The host is shutting down.
    ShuttingDown,
    /// A slow consumer: bytes waited for the peer to read them longer than
    /// the sender's [write deadline](crate::HostBuilder::write_deadline).
    SlowConsumer,
    /// A code this build does not know.
    Other(u8),
}

impl CloseCode {
    /// The code on the wire.
    pub fn code(self) -> u8 {
        match self {
            CloseCode::Normal => CLOSE_NORMAL,
            CloseCode::Kicked => CLOSE_KICKED,
            CloseCode::Replaced => CLOSE_REPLACED,
            CloseCode::ShuttingDown => CLOSE_SHUTTING_DOWN,
            CloseCode::SlowConsumer => CLOSE_SLOW_CONSUMER,
            CloseCode::Other(code) => code,
        }
    }

    /// The code for a byte on the wire.
    pub fn from_code(code: u8) -> CloseCode {
        match code {
            CLOSE_NORMAL => CloseCode::Normal,
            CLOSE_KICKED => CloseCode::Kicked,
            CLOSE_REPLACED => CloseCode::Replaced,
            CLOSE_SHUTTING_DOWN => CloseCode::ShuttingDown,
            CLOSE_SLOW_CONSUMER => CloseCode::SlowConsumer,
            other => CloseCode::Other(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn an_event_logged_with_debug_or_its_error_displayed_stays_on_one_line() {
        let forged = "x\n   0.001s connected admin (#1)\u{1b}[2J\0\u{202e}".to_owned();
        let addr = SocketAddr::from(([127, 0, 0, 1], 9));
        let events = [
            Event::Connected {
                client: ClientId(1),
                name: forged.clone(),
                addr,
            },
            Event::Disconnected {
                client: ClientId(1),
                name: forged.clone(),
                addr,
                reason: Some(DisconnectReason::new(CloseCode::Kicked, forged.clone())),
            },
            Event::Undelivered {
                channel: forged.clone(),
                error: ErrorKind::RouteRefused(forged.clone()).into(),
            },
        ];
        for event in events {
            let logged = format!("{event:?}");
            assert!(
                !logged.chars().any(|c| c.is_control() || c == '\u{202e}'),
                "{logged}"
            );
            if let Event::Undelivered { error, .. } = event {
                let shown = error.to_string();
                assert!(
                    !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
                    "{shown}"
                );
            }
        }
    }
}
