//! Where a message goes: [`To`], the target of every sending call, and the
//! [`RouteRequest`] a host's route policy judges.

use crate::ClientId;
use crate::protocol::{DecodeError, Pattern, Route};

/// Where a message goes: the argument of [`Host::to`](crate::Host::to) and
/// [`Client::to`](crate::Client::to).
///
/// A client's plain [`write`](crate::Client::write) goes to [`To::Host`]; a
/// host's plain [`write`](crate::Host::write) goes to [`To::All`]. Ids and
/// names convert: `host.to(id)`, `host.to("planner")`.
///
/// A client's target other than [`To::Host`] is routed: the message goes to
/// the host, which delivers it to the clients named, with this client as its
/// sender ([`Message::from`](crate::Message::from)); an id, name or room the
/// host does not know comes back as an
/// [`Event::Undelivered`](crate::Event::Undelivered). A target that cannot
/// be sent to fails at once and hands the payload back: nothing is dropped
/// silently.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum To {
    /// The host; from a host itself, `Unsupported`.
    Host,
    /// Every connected client (from a client: every other one).
    All,
    /// One client, by id.
    Client(ClientId),
    /// Several clients, by id; each must be connected.
    Clients(Vec<ClientId>),
    /// One client, by the name it chose when it connected. A client that
    /// chose none is listed as `client-N` but addressed by its id.
    Name(String),
    /// Several clients, by name; each must be connected.
    Names(Vec<String>),
    /// The connected members of a room the host keeps
    /// ([`Host::join`](crate::Host::join), [`Client::join`](crate::Client::join)),
    /// the sender excepted unless it asks for a [mirror](crate::Target::mirror).
    /// A room without members is unknown: `UnknownRoom` from a host, an
    /// [`Event::Undelivered`](crate::Event::Undelivered) to a client.
    Room(String),
    /// A group: the connected clients whose declared
    /// [interest](crate::Client::interest) overlaps this channel pattern
    /// (`arm/**` takes a client interested in `arm/left/*`, in `**` or in
    /// `arm`), the sender excepted unless it asks for a
    /// [mirror](crate::Target::mirror). A client that declared no interest
    /// is in no group (it still receives every broadcast). A message sent to
    /// a group reaches its members whatever its channel, as one sent to a
    /// room does. A group without members is unknown: `UnknownGroup` from a
    /// host, an [`Event::Undelivered`](crate::Event::Undelivered) to a
    /// client; a malformed pattern is `InvalidTarget`.
    Group(String),
}

impl From<ClientId> for To {
    fn from(id: ClientId) -> To {
        To::Client(id)
    }
}

impl From<&str> for To {
    fn from(name: &str) -> To {
        To::Name(name.to_owned())
    }
}

impl From<String> for To {
    fn from(name: String) -> To {
        To::Name(name)
    }
}

impl From<Vec<ClientId>> for To {
    fn from(ids: Vec<ClientId>) -> To {
        To::Clients(ids)
    }
}

impl From<&[ClientId]> for To {
    fn from(ids: &[ClientId]) -> To {
        To::Clients(ids.to_vec())
    }
}

impl To {
    /// The route a client's frame carries to reach this target through its
    /// host; `None` for the host itself.
    ///
    /// # Errors
    ///
    /// A group that is not a valid pattern, as [`Pattern::new`] says.
    pub(crate) fn route(&self) -> Result<Option<Route>, DecodeError> {
        Ok(match self {
            To::Host => None,
            To::Group(group) => Some(Route::Group(Pattern::new(group)?)),
            To::All => Some(Route::All),
            To::Client(id) => Some(Route::Clients(vec![id.0])),
            To::Clients(ids) => Some(Route::Clients(ids.iter().map(|id| id.0).collect())),
            To::Name(name) => Some(Route::Names(vec![name.clone()])),
            To::Names(names) => Some(Route::Names(names.clone())),
            To::Room(room) => Some(Route::Room(room.clone())),
        })
    }
}

impl From<&Route> for To {
    fn from(route: &Route) -> To {
        match route {
            Route::Host => To::Host,
            Route::All => To::All,
            Route::Clients(ids) => To::Clients(ids.iter().map(|&id| ClientId(id)).collect()),
            Route::Names(names) => To::Names(names.clone()),
            Route::Room(room) => To::Room(room.clone()),
            Route::Group(group) => To::Group(group.as_str().to_owned()),
        }
    }
}

/// A client's request to route a message through the host, as a host's
/// [route policy](crate::HostBuilder::route_policy) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouteRequest<'a> {
    /// The client that sent it.
    pub from: ClientId,
    /// Its channel.
    pub channel: &'a str,
    /// Where it asks the message to go: [`To::All`] (every other client),
    /// [`To::Clients`], [`To::Names`], [`To::Room`] or [`To::Group`].
    pub to: To,
}
