//! Many hosts at once: [`Hosts`], one [`Client`] per host under a key of
//! the application's, with writes to all of them and reads merged across
//! them ([`HostsSubscription`]).

mod merged;

pub use merged::HostsSubscription;

use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};

use crate::{
    Client, ClientBuilder, ConnectionState, Error, ErrorKind, Message, Outgoing, Payload, Result,
};
use merged::Watch;

/// A client side connected to several hosts at once: Pocketsocket's lists
/// and dicts of servers. Each host has a key (its address, for a list; the
/// application's name for it, for a map) and its own [`Client`], built from
/// one template [`ClientBuilder`] (name, credential, limits, clock
/// settings) with the host's address.
///
/// * **Add and remove** hosts while running ([`add`](Self::add),
///   [`remove`](Self::remove)); a key is taken once
///   ([`ErrorKind::DuplicateHost`]).
/// * **Each host on its own**: a client is
///   [started without waiting](ClientBuilder::start), so a host that is
///   down, or accepts and never answers, holds up nobody: it stays
///   [`Connecting`](ConnectionState::Connecting) and is dialled again with
///   backoff until it answers ([`last_error`](Self::last_error) says what
///   is in the way), then redials whenever it is lost; a host that refuses
///   the client's credential or protocol version is given up
///   ([`Refused`](ConnectionState::Refused)). See [`state`](Self::state),
///   and [`client`](Self::client) for its events, clock, requests...
/// * **Write to all**: [`write`](Self::write) and
///   [`write_lock`](Self::write_lock) send one payload to every host (the
///   bytes shared, not copied) and return each host's result.
/// * **Read merged**: [`subscribe`](Self::subscribe) is one subscription
///   over every host, now and to come, that yields each message with the
///   key of the host it came from, sleeping until one arrives;
///   [`get`](Self::get) and [`latest`](Self::latest) read a host's store
///   without waiting.
///
/// `Hosts` is a cheap handle (`Clone`, `Send`, `Sync`) that owns its
/// clients: they close when their host is removed, when
/// [`close`](Self::close) is called or the last handle is dropped (a
/// [`client`](Self::client) handed out is a handle on the same connection,
/// closed with it).
///
/// # Examples
///
/// ```
/// use socketengine::{Client, Host, Hosts};
/// use std::time::Duration;
///
/// let (local, dev) = (Host::builder().addr("127.0.0.1:0").start()?,
///                     Host::builder().addr("127.0.0.1:0").start()?);
/// let hosts = Hosts::from_map(
///     Client::builder().name("pocket"),
///     [("local", local.local_addr().to_string()), ("dev", dev.local_addr().to_string())],
/// )?;
/// # let deadline = std::time::Instant::now() + Duration::from_secs(5);
/// # while hosts.states().iter().any(|(_, s)| *s != socketengine::ConnectionState::Connected) {
/// #     assert!(std::time::Instant::now() < deadline);
/// #     std::thread::yield_now();
/// # }
/// // One write, every host.
/// for (key, sent) in hosts.write_lock("socket.message", "milk")? {
///     sent.unwrap_or_else(|e| panic!("{key}: {e}"));
/// }
/// // Every host's messages, each with its host's key.
/// let merged = hosts.subscribe("cmd");
/// dev.write_lock("cmd", "stop")?;
/// let (key, msg) = merged.recv_timeout(Duration::from_secs(5)).unwrap();
/// assert_eq!((key.as_str(), &msg.payload()[..]), ("dev", &b"stop"[..]));
/// # Ok::<(), socketengine::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Hosts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// What every host's client is built from; its address is set per host.
    template: ClientBuilder,
    /// The hosts in the order they were added, and whether `close` was
    /// called: read by every write and read, written by `add`, `remove`
    /// and `close` (never held across a write, a dial or a client's close).
    hosts: RwLock<Table>,
    /// The merged subscriptions still alive (weak: dropping one forgets
    /// it), each given a subscription on every host added later. Locked
    /// after `hosts`, never before.
    watches: Mutex<Vec<Weak<Watch>>>,
}

/// The hosts, and whether the `Hosts` is closed (then there are none, and
/// none are added): one lock, so `add` and `close` cannot cross.
#[derive(Debug, Default)]
struct Table {
    entries: Vec<Entry>,
    closed: bool,
}

/// One host: its key and its client.
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    client: Client,
}

/// Each host's outcome of a write to all of them: its key and what its
/// client's write returned (an error hands the payload back).
pub type HostResults = Vec<(String, Result<()>)>;

impl Hosts {
    /// No hosts yet; each one [added](Self::add) gets a client built from
    /// `template` with the host's address.
    pub fn new(template: ClientBuilder) -> Hosts {
        Hosts {
            inner: Arc::new(Inner {
                template,
                hosts: RwLock::default(),
                watches: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Hosts from a list of addresses (`host:port`), each its own key, in
    /// order. Two spellings of one host's address (`localhost:7000` and
    /// `127.0.0.1:7000`) are two keys, and two clients of the template's
    /// name: a host refuses a name while another connection holds it, so
    /// the second stays [`Connecting`](ConnectionState::Connecting), with
    /// [`ErrorKind::NameTaken`] as its [`last_error`](Self::last_error),
    /// and connects if the first goes away.
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add): [`ErrorKind::DuplicateHost`] for an address
    /// given twice; the clients started so far are closed.
    pub fn from_list<A: Into<String>>(
        template: ClientBuilder,
        addrs: impl IntoIterator<Item = A>,
    ) -> Result<Hosts> {
        Hosts::from_map(
            template,
            addrs.into_iter().map(|a| {
                let addr = a.into();
                (addr.clone(), addr)
            }),
        )
    }

    /// Hosts from `(key, address)` pairs (a map's entries), in the order
    /// given (a `HashMap`'s is arbitrary; a `BTreeMap` is by key).
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add): [`ErrorKind::DuplicateHost`] for a key given
    /// twice; the clients started so far are closed.
    pub fn from_map<K: Into<String>, A: Into<String>>(
        template: ClientBuilder,
        hosts: impl IntoIterator<Item = (K, A)>,
    ) -> Result<Hosts> {
        let made = Hosts::new(template);
        for (key, addr) in hosts {
            if let Err(err) = made.add(key, addr) {
                made.close();
                return Err(err);
            }
        }
        Ok(made)
    }

    /// Adds the host at `addr` under `key` and starts its client, without
    /// waiting for it to connect (see [`ClientBuilder::start`]); every
    /// merged [subscription](Self::subscribe) takes its messages from now.
    /// The address is resolved here, once: the client redials the address
    /// it found (a host whose name comes to resolve elsewhere is
    /// [removed](Self::remove) and added again). Resolving and starting
    /// hold up no other call on the `Hosts`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::DuplicateHost`] when `key` is taken;
    /// [`ErrorKind::Closed`] after [`close`](Self::close); what
    /// [`ClientBuilder::start`] fails with (an address that does not
    /// resolve).
    pub fn add(&self, key: impl Into<String>, addr: impl Into<String>) -> Result<()> {
        let key = key.into();
        // Checked first so as not to dial for nothing, and again below.
        self.inner.hosts.read().admits(&key)?;
        let client = self.inner.template.clone().addr(addr).start()?;
        let mut hosts = self.inner.hosts.write();
        if let Err(err) = hosts.admits(&key) {
            // Another `add` took the key meanwhile, or `close` came.
            drop(hosts);
            client.close();
            return Err(err);
        }
        for watch in self.live_watches() {
            watch.join(&key, &client);
        }
        hosts.entries.push(Entry { key, client });
        Ok(())
    }

    /// Removes the host under `key` and closes its client (as
    /// [`Client::close`]; a [`client`](Self::client) handed out earlier
    /// is closed too). Merged subscriptions stop taking its messages at
    /// once, also those that are waiting: they go on waiting for the others.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::UnknownHost`] when no host has that key;
    /// [`ErrorKind::Closed`] after [`close`](Self::close).
    pub fn remove(&self, key: &str) -> Result<()> {
        let removed = {
            let mut hosts = self.inner.hosts.write();
            if hosts.closed {
                return Err(ErrorKind::Closed.into());
            }
            let at = hosts.entries.iter().position(|e| e.key == key);
            let at = at.ok_or_else(|| Error::new(ErrorKind::UnknownHost(key.to_owned())))?;
            for watch in self.live_watches() {
                watch.leave(key);
            }
            hosts.entries.remove(at)
        };
        // Joins its event loop: not under the lock.
        removed.client.close();
        Ok(())
    }

    /// The hosts' keys, in the order they were added.
    pub fn keys(&self) -> Vec<String> {
        self.entries().into_iter().map(|e| e.key).collect()
    }

    /// How many hosts there are.
    pub fn len(&self) -> usize {
        self.inner.hosts.read().entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The client of the host under `key` (a handle on the same
    /// connection): its events, clock, rooms, requests, anything a
    /// [`Client`] does.
    pub fn client(&self, key: &str) -> Option<Client> {
        let hosts = self.inner.hosts.read();
        hosts
            .entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.client.clone())
    }

    /// Where the connection to the host under `key` is
    /// ([`Client::state`]); `None` for an unknown key. Never blocks.
    pub fn state(&self, key: &str) -> Option<ConnectionState> {
        self.client(key).map(|c| c.state())
    }

    /// Why the last attempt to reach the host under `key` failed, until
    /// it next connects ([`Client::last_error`]): for a host that stays
    /// [`Connecting`](ConnectionState::Connecting), what is in the way
    /// (nothing listening, no answer, the client's name held by another
    /// connection). `None` for an unknown key, or when nothing failed.
    /// Never blocks.
    pub fn last_error(&self, key: &str) -> Option<Error> {
        self.client(key)?.last_error()
    }

    /// Every host's key and connection state, in order. Never blocks.
    pub fn states(&self) -> Vec<(String, ConnectionState)> {
        let entries = self.entries();
        entries
            .into_iter()
            .map(|e| (e.key, e.client.state()))
            .collect()
    }

    /// Queues `payload` on `channel` to every host and returns at once
    /// (each an unlocked [`Client::write`]): each host's result, in order.
    /// One payload serves all (its bytes shared, not copied); each client
    /// stamps and converts its times with its own clock estimate.
    ///
    /// A received message or image written on keeps its times as they came:
    /// its send time and capture time are on the clock of the host it came
    /// from, and every host gets them as they are, unconverted. Hosts on
    /// one machine (or whose clocks are kept in step) share a clock, so they
    /// stay right; across hosts whose clocks differ, each host's client
    /// estimates its offset ([`Client::clock`]): a time from host `a` is on
    /// host `b`'s clock shifted by `b`'s offset minus `a`'s (see
    /// [`ClockEstimate::to_local`](crate::ClockEstimate::to_local) and
    /// [`to_host`](crate::ClockEstimate::to_host)).
    ///
    /// # Errors
    ///
    /// The outer error: a value that does not serialise
    /// ([`ErrorKind::Encode`]), before anything is sent, or
    /// [`ErrorKind::Closed`] after [`close`](Self::close), with the payload
    /// handed back. Per host, what
    /// [`Client::write`] fails with: `NotConnected` for a host that is
    /// down, `Full`, ... each with the payload handed back.
    pub fn write(&self, channel: &str, payload: impl Outgoing) -> Result<HostResults> {
        self.each(payload, |client, payload| client.write(channel, payload))
    }

    /// Sends `payload` on `channel` to every host, one after another, each
    /// returning once its kernel has the bytes (a [`Client::write_lock`]):
    /// each host's result, in order.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write), with `TimedOut` instead of `Full`.
    ///
    /// # Locking
    ///
    /// Blocks for each host in turn, up to its write timeout. A host not
    /// connected when its turn comes fails at once with `NotConnected`
    /// (where a client's own locked write would wait for its connection),
    /// so one host that is down does not hold the write up for the others.
    pub fn write_lock(&self, channel: &str, payload: impl Outgoing) -> Result<HostResults> {
        self.each(payload, |client, payload| match client.state() {
            ConnectionState::Connected => client.write_lock(channel, payload),
            _ => Err(payload.refused(ErrorKind::NotConnected)),
        })
    }

    /// Calls `write` with every host's client and a copy of the payload.
    fn each(
        &self,
        payload: impl Outgoing,
        write: impl Fn(&Client, Payload) -> Result<()>,
    ) -> Result<HostResults> {
        let payload = payload.into_outgoing()?;
        let entries = {
            let hosts = self.inner.hosts.read();
            if hosts.closed {
                return Err(payload.refused(ErrorKind::Closed));
            }
            hosts.entries.clone()
        };
        Ok(entries
            .into_iter()
            .map(|e| {
                let sent = write(&e.client, payload.clone());
                (e.key, sent)
            })
            .collect())
    }

    /// The latest message on `channel` from the host under `key` (as
    /// [`Inbox::get`](crate::Inbox::get)); `None` for an unknown key or
    /// channel. Never blocks.
    pub fn get(&self, key: &str, channel: &str) -> Option<Message> {
        self.client(key)?.get(channel)
    }

    /// The latest message on `channel` from each host that has one, with
    /// its key, in order. Never blocks.
    pub fn latest(&self, channel: &str) -> Vec<(String, Message)> {
        let entries = self.entries();
        let latest = entries.into_iter().map(|e| (e.client.get(channel), e.key));
        latest.filter_map(|(msg, key)| Some((key, msg?))).collect()
    }

    /// Every message on `channel` (a name or a pattern, as
    /// [`Inbox::subscribe`](crate::Inbox::subscribe) takes it) from every
    /// host, those added later included, from now on; see
    /// [`HostsSubscription`].
    ///
    /// After [`close`](Self::close), a subscription that is closed already:
    /// its receiving calls report disconnection at once.
    pub fn subscribe(&self, channel: &str) -> HostsSubscription {
        let hosts = self.inner.hosts.read();
        let members = hosts.entries.iter().map(|e| (e.key.as_str(), &e.client));
        let watch = Arc::new(Watch::new(channel, members));
        if hosts.closed {
            watch.close();
            return HostsSubscription::new(watch);
        }
        let mut watches = self.inner.watches.lock();
        watches.retain(|w| w.strong_count() > 0);
        watches.push(Arc::downgrade(&watch));
        HostsSubscription::new(watch)
    }

    /// Closes every host's client and forgets the hosts; merged
    /// subscriptions return what they hold, then report disconnection.
    /// From then on the `Hosts` stays closed: [`add`](Self::add),
    /// [`remove`](Self::remove) and the writes fail with
    /// [`ErrorKind::Closed`], and a new [subscription](Self::subscribe) is
    /// closed from the start. Idempotent; dropping the last handle does the
    /// same.
    pub fn close(&self) {
        self.inner.close();
    }

    fn entries(&self) -> Vec<Entry> {
        self.inner.hosts.read().entries.clone()
    }

    fn live_watches(&self) -> Vec<Arc<Watch>> {
        let watches = self.inner.watches.lock();
        watches.iter().filter_map(Weak::upgrade).collect()
    }
}

impl Table {
    /// Whether a host may be added under `key`.
    fn admits(&self, key: &str) -> Result<()> {
        if self.closed {
            return Err(ErrorKind::Closed.into());
        }
        if self.entries.iter().any(|e| e.key == key) {
            return Err(ErrorKind::DuplicateHost(key.to_owned()).into());
        }
        Ok(())
    }
}

impl Inner {
    fn close(&self) {
        let entries = {
            let mut hosts = self.hosts.write();
            hosts.closed = true;
            std::mem::take(&mut hosts.entries)
        };
        let watches: Vec<_> = self.watches.lock().drain(..).collect();
        for entry in &entries {
            entry.client.close();
        }
        // After the clients: their subscriptions hold all they will get.
        for watch in watches.iter().filter_map(Weak::upgrade) {
            watch.close();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}
