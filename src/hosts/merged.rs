//! [`HostsSubscription`]: one channel's messages from every host of a
//! [`Hosts`](super::Hosts), each with its host's key, waited for without
//! polling (one `crossbeam_channel::Select` over the hosts' subscriptions
//! and a wake-up for changes to the set).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, Sender};
use parking_lot::Mutex;

use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::{Client, Message, Subscription};

/// One merged subscription's state, shared by the [`Hosts`](super::Hosts)
/// (which adds and removes hosts) and its readers.
#[derive(Debug)]
pub(super) struct Watch {
    channel: String,
    /// The hosts' subscriptions and whether the `Hosts` closed: a mutex
    /// held to look or change, never across a wait.
    state: Mutex<State>,
    /// A change to `state` wakes a reader waiting on the old set. Bounded
    /// to one: a reader needs to know only that something changed.
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
}

#[derive(Debug, Default)]
struct State {
    members: Vec<(String, Subscription)>,
    /// Where the next look starts, so that a busy host does not starve
    /// the others.
    next: usize,
    closed: bool,
}

impl Watch {
    pub(super) fn new<'a>(
        channel: &str,
        members: impl Iterator<Item = (&'a str, &'a Client)>,
    ) -> Watch {
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        let members = members
            .map(|(key, client)| (key.to_owned(), client.subscribe(channel)))
            .collect();
        Watch {
            channel: channel.to_owned(),
            state: Mutex::new(State {
                members,
                ..State::default()
            }),
            wake_tx,
            wake_rx,
        }
    }

    /// A host added under `key`: its messages from now on.
    pub(super) fn join(&self, key: &str, client: &Client) {
        let sub = client.subscribe(&self.channel);
        self.state.lock().members.push((key.to_owned(), sub));
        self.wake();
    }

    /// The host under `key` removed: nothing more of it, not even what it
    /// holds.
    pub(super) fn leave(&self, key: &str) {
        self.state.lock().members.retain(|(k, _)| k != key);
        self.wake();
    }

    /// The `Hosts` closed: readers take what is held, then hear so.
    pub(super) fn close(&self) {
        self.state.lock().closed = true;
        self.wake();
    }

    fn wake(&self) {
        // Full means a wake-up is pending already.
        let _ = self.wake_tx.try_send(());
    }
}

impl State {
    /// The next message held by any host, looking from `next` on; forgets
    /// the hosts whose clients closed and hold nothing more.
    fn take(&mut self) -> Option<(String, Message)> {
        let count = self.members.len();
        let mut gone = Vec::new();
        for turn in 0..count {
            let at = (self.next + turn) % count;
            let (key, sub) = &self.members[at];
            match sub.try_recv() {
                Ok(msg) => {
                    self.next = at + 1;
                    return Some((key.clone(), msg));
                }
                Err(TryRecvError::Disconnected) => gone.push(at),
                Err(TryRecvError::Empty) => {}
            }
        }
        for at in gone.into_iter().rev() {
            self.members.remove(at);
        }
        None
    }
}

/// Every message on one channel (or pattern) from every host of a
/// [`Hosts`](super::Hosts), with the key of the host it came from: from
/// [`Hosts::subscribe`](super::Hosts::subscribe).
///
/// Hosts added after it was made are included from when they are added;
/// a removed host's messages stop at once, even those it holds. Each host
/// buffers as a [`Subscription`] does (the channel's queue capacity, the
/// overflow counted as dropped on that host's client). Waiting sleeps on
/// all the hosts' buffers at once and wakes for whichever has a message,
/// taking turns so a busy host does not starve the others; adding or
/// removing a host wakes a waiting reader, which goes on waiting on the
/// new set. Once the [`Hosts`](super::Hosts) is closed, the receiving calls
/// return what is held, then report disconnection. Clones share one set of
/// buffers (each message goes to one of them).
///
/// # Examples
///
/// ```
/// use socketengine::{Client, Host, Hosts};
/// use std::time::Duration;
///
/// let host = Host::builder().addr("127.0.0.1:0").start()?;
/// let hosts = Hosts::new(Client::builder());
/// let merged = hosts.subscribe("cmd");
/// hosts.add("lab", host.local_addr().to_string())?; // joins `merged`
/// # let deadline = std::time::Instant::now() + Duration::from_secs(5);
/// # while host.clients().is_empty() {
/// #     assert!(std::time::Instant::now() < deadline);
/// #     std::thread::yield_now();
/// # }
/// host.write_lock("cmd", "go")?;
/// let (key, msg) = merged.recv_timeout(Duration::from_secs(5)).unwrap();
/// assert_eq!((key.as_str(), &msg.payload()[..]), ("lab", &b"go"[..]));
/// # Ok::<(), socketengine::Error>(())
/// ```
#[derive(Clone)]
pub struct HostsSubscription {
    watch: Arc<Watch>,
}

impl HostsSubscription {
    pub(super) fn new(watch: Arc<Watch>) -> HostsSubscription {
        HostsSubscription { watch }
    }

    /// The next message and its host's key, waiting as long as it takes;
    /// an error once the `Hosts` is closed and nothing is left.
    pub fn recv(&self) -> Result<(String, Message), RecvError> {
        self.wait(None).map_err(|_| RecvError)
    }

    /// The next message and its host's key, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<(String, Message), RecvTimeoutError> {
        self.wait(crate::time::deadline(timeout))
    }

    /// The next message and its host's key, waiting until `deadline` at
    /// the latest.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<(String, Message), RecvTimeoutError> {
        self.wait(Some(deadline))
    }

    /// The next message held by any host, without waiting.
    pub fn try_recv(&self) -> Result<(String, Message), TryRecvError> {
        let mut state = self.watch.state.lock();
        match state.take() {
            Some(found) => Ok(found),
            None if state.closed && state.members.is_empty() => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Messages as they arrive, waiting for each; ends once the `Hosts` is
    /// closed and nothing is left.
    pub fn iter(&self) -> impl Iterator<Item = (String, Message)> + '_ {
        std::iter::from_fn(|| self.recv().ok())
    }

    /// The hosts it takes messages from, by key.
    pub fn hosts(&self) -> Vec<String> {
        let state = self.watch.state.lock();
        state.members.iter().map(|(key, _)| key.clone()).collect()
    }

    /// Waits for the next message until `deadline` (`None`: forever).
    fn wait(&self, deadline: Option<Instant>) -> Result<(String, Message), RecvTimeoutError> {
        loop {
            let members = {
                let mut state = self.watch.state.lock();
                if let Some(found) = state.take() {
                    return Ok(found);
                }
                if state.closed && state.members.is_empty() {
                    return Err(RecvTimeoutError::Disconnected);
                }
                state.members.clone()
            };
            // Ready: a message (or a closed host's end) on one of the hosts
            // looked at, or a change to the set; then look again. A wake-up
            // that finds nothing (another reader took it) waits again.
            let mut select = Select::new();
            select.recv(&self.watch.wake_rx);
            for (_, sub) in &members {
                select.recv(sub.receiver());
            }
            let ready = match deadline {
                None => select.ready(),
                Some(deadline) => select
                    .ready_deadline(deadline)
                    .map_err(|_| RecvTimeoutError::Timeout)?,
            };
            if ready == 0 {
                let _ = self.watch.wake_rx.try_recv();
            }
        }
    }
}

impl fmt::Debug for HostsSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostsSubscription")
            .field("channel", &self.watch.channel)
            .field("hosts", &self.hosts())
            .finish()
    }
}
