//! A host's door, as bookkeeping: slots for connections still in the
//! handshake, each with a deadline (when every slot is taken, the oldest
//! makes way for a newer connection once its grace is over); connections
//! per source address; and counts of who was turned away. Pure: tokens,
//! addresses and instants in, decisions out. The event loop does the I/O
//! (`admit.rs`).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use mio::Token;

use crate::config::Config;
use crate::error::Refusal;
use crate::info::AdmissionStats;

/// How long a connection keeps its handshake slot whatever newer ones
/// arrive, from its accept and again from its challenge. A client that
/// sends its hello as soon as it is connected (ours does) is read well
/// within it, and a challenged one makes way only when no silent one can,
/// so a flood of silent connections cannot push it out; and a burst of
/// honest clients larger than the slots waits in the listener's backlog
/// instead of evicting its own members. (A proof that takes longer than
/// this round trip may be evicted when every slot holds a challenged
/// connection.)
pub(crate) const EVICTION_GRACE: Duration = Duration::from_millis(100);

/// Whether a new connection can have a handshake slot now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Room {
    /// A slot is free.
    Free,
    /// Every slot is taken and this connection, the oldest, is past its
    /// grace: it makes way (unless its hello is in after all).
    Evict(Token),
    /// Every slot is taken by connections still in their grace: leave new
    /// connections in the backlog until then.
    WaitUntil(Instant),
}

/// Why a connection did not become a client; each is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turned {
    /// Refused, or evicted from its handshake slot.
    Refused(Refusal),
    /// No hello within the handshake timeout.
    TimedOut,
    /// Its hello asked for a connected client's name without its token.
    NameTaken,
    /// Its hello was malformed or of another protocol version.
    BadHello,
}

/// One connection waiting for its hello (or, challenged, for its proof).
#[derive(Debug, Clone, Copy)]
struct Pending {
    token: Token,
    /// When it came in, or when it was challenged: its grace runs from here.
    since: Instant,
    /// `None`: no timeout (`Duration::MAX`).
    deadline: Option<Instant>,
    /// Its hello came and was challenged: it makes way only when no
    /// connection still waiting for its hello can.
    proving: bool,
}

/// The door's state, owned by a host's event loop.
#[derive(Debug)]
pub(crate) struct Gate {
    max_handshakes: usize,
    timeout: Duration,
    max_clients: usize,
    per_addr: usize,
    per_loopback_addr: usize,
    /// Connections waiting for their hello, oldest first; they share one
    /// timeout, so this is deadline order too.
    handshakes: VecDeque<Pending>,
    /// Connections from each source address, open or in the handshake
    /// (addresses with none are removed, so this is bounded by the slots).
    per_ip: HashMap<IpAddr, usize>,
    /// Set while connections wait in the backlog for a slot.
    waiting: bool,
    /// What the handles read (see [`Counts`]).
    counts: Arc<Counts>,
}

impl Gate {
    /// A gate with the host's limits, counting into `counts`.
    pub(crate) fn new(config: &Config, counts: Arc<Counts>) -> Gate {
        let limits = &config.admission;
        Gate {
            max_handshakes: limits.max_handshakes.max(1),
            timeout: config.handshake_timeout,
            max_clients: config.max_connections,
            per_addr: limits.per_addr,
            per_loopback_addr: limits.per_loopback_addr,
            handshakes: VecDeque::new(),
            per_ip: HashMap::new(),
            waiting: false,
            counts,
        }
    }

    /// Whether a new connection can have a handshake slot at `now`; on
    /// [`Room::WaitUntil`] the gate remembers that connections are waiting.
    pub(crate) fn room(&mut self, now: Instant) -> Room {
        let silent = self.handshakes.iter().find(|p| !p.proving);
        let Some(oldest) = silent
            .or(self.handshakes.front())
            .filter(|_| self.is_full())
        else {
            return Room::Free;
        };
        // A grace too long to represent never ends.
        match oldest.since.checked_add(EVICTION_GRACE) {
            Some(end) if end <= now => Room::Evict(oldest.token),
            Some(end) => {
                self.waiting = true;
                Room::WaitUntil(end)
            }
            None => {
                self.waiting = true;
                Room::WaitUntil(now + EVICTION_GRACE)
            }
        }
    }

    /// The listener's backlog is empty: nobody waits for a slot.
    pub(crate) fn drained(&mut self) {
        self.waiting = false;
    }

    /// Whether connections left in the backlog can now have a slot.
    pub(crate) fn may_accept_again(&self) -> bool {
        self.waiting && !self.is_full()
    }

    /// Whether a connection from `ip` may come in, with `clients` connected:
    /// the client slots first, then the address's share.
    pub(crate) fn check(&self, ip: IpAddr, clients: usize) -> Result<(), Refusal> {
        self.check_clients(clients)?;
        let ip = ip.to_canonical();
        match self.per_ip.get(&ip).copied().unwrap_or(0) < self.limit(ip) {
            true => Ok(()),
            false => Err(Refusal::AddressLimit),
        }
    }

    /// Whether a connection that completed its handshake may have a client
    /// slot, with `clients` connected.
    pub(crate) fn check_clients(&self, clients: usize) -> Result<(), Refusal> {
        match clients < self.max_clients {
            true => Ok(()),
            false => Err(Refusal::HostFull),
        }
    }

    /// A connection from `ip` takes a handshake slot.
    pub(crate) fn enter(&mut self, token: Token, ip: IpAddr, now: Instant) {
        let deadline = now.checked_add(self.timeout);
        self.handshakes.push_back(Pending {
            token,
            since: now,
            deadline,
            proving: false,
        });
        *self.per_ip.entry(ip.to_canonical()).or_default() += 1;
        self.publish();
    }

    /// The connection's hello came and it was challenged at `now`: a round
    /// trip for its proof begins, with a grace of its own, and it makes way
    /// after every connection still silent.
    pub(crate) fn challenged(&mut self, token: Token, now: Instant) {
        if let Some(pending) = self.handshakes.iter_mut().find(|p| p.token == token) {
            pending.since = now;
            pending.proving = true;
        }
    }

    /// The connection's handshake is complete: it leaves its slot and keeps
    /// its place in its address's count.
    pub(crate) fn finish(&mut self, token: Token) {
        self.handshakes.retain(|p| p.token != token);
        self.publish();
    }

    /// The connection from `ip` closed, in the handshake or after it.
    pub(crate) fn leave(&mut self, token: Token, ip: IpAddr) {
        self.finish(token);
        let ip = ip.to_canonical();
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    /// The next connection whose hello is overdue, taken out of its slot
    /// (the caller closes it, which [`leave`](Self::leave)s its address).
    pub(crate) fn expired(&mut self, now: Instant) -> Option<Token> {
        let overdue = self.handshakes.front()?.deadline.is_some_and(|d| d <= now);
        let token = overdue
            .then(|| self.handshakes.pop_front())
            .flatten()?
            .token;
        self.publish();
        Some(token)
    }

    /// When the oldest handshake's time runs out.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.handshakes.front().and_then(|p| p.deadline)
    }

    /// Whether the connection is still waiting for its hello.
    pub(crate) fn is_handshaking(&self, token: Token) -> bool {
        self.handshakes.iter().any(|p| p.token == token)
    }

    /// The handshake timeout, for the error of one that ran out.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Counts a connection turned away.
    pub(crate) fn count(&self, turned: Turned) {
        self.counts.add(turned);
    }

    fn is_full(&self) -> bool {
        self.handshakes.len() >= self.max_handshakes
    }

    /// The most connections from `ip`: loopback addresses (this machine's
    /// own programs, which all share them) have their own limit.
    fn limit(&self, ip: IpAddr) -> usize {
        match ip.is_loopback() {
            true => self.per_loopback_addr,
            false => self.per_addr,
        }
    }

    fn publish(&self) {
        self.counts
            .handshaking
            .store(self.handshakes.len(), Relaxed);
    }
}

/// What the door did, for [`AdmissionStats`]: written by the event loop,
/// read by any thread that holds the host, hence atomics.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    handshaking: AtomicUsize,
    host_full: AtomicU64,
    address_limit: AtomicU64,
    evicted: AtomicU64,
    timed_out: AtomicU64,
    name_taken: AtomicU64,
    bad_hello: AtomicU64,
    unauthorized: AtomicU64,
}

impl Counts {
    fn add(&self, turned: Turned) {
        let counter = match turned {
            Turned::Refused(Refusal::HostFull) => &self.host_full,
            Turned::Refused(Refusal::AddressLimit) => &self.address_limit,
            Turned::Refused(Refusal::Evicted) => &self.evicted,
            Turned::Refused(Refusal::VersionMismatch | Refusal::Unknown(_)) | Turned::BadHello => {
                &self.bad_hello
            }
            Turned::Refused(Refusal::Unauthorized) => &self.unauthorized,
            Turned::TimedOut => &self.timed_out,
            Turned::NameTaken => &self.name_taken,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> AdmissionStats {
        AdmissionStats {
            handshaking: self.handshaking.load(Relaxed),
            host_full: self.host_full.load(Relaxed),
            address_limit: self.address_limit.load(Relaxed),
            evicted: self.evicted.load(Relaxed),
            timed_out: self.timed_out.load(Relaxed),
            name_taken: self.name_taken.load(Relaxed),
            bad_hello: self.bad_hello.load(Relaxed),
            unauthorized: self.unauthorized.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const TWO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    fn gate(handshakes: usize, clients: usize, per_addr: usize, loopback: usize) -> Gate {
        let mut config = Config {
            max_connections: clients,
            handshake_timeout: Duration::from_secs(2),
            ..Config::default()
        };
        config.admission.max_handshakes = handshakes;
        config.admission.per_addr = per_addr;
        config.admission.per_loopback_addr = loopback;
        Gate::new(&config, Arc::default())
    }

    #[test]
    fn a_full_gate_waits_out_the_oldest_grace_then_evicts_it() {
        let t0 = Instant::now();
        let mut gate = gate(2, 10, 10, 10);
        assert_eq!(gate.room(t0), Room::Free);
        gate.enter(Token(1), ONE, t0);
        gate.enter(Token(2), TWO, t0 + Duration::from_millis(50));
        let cases = [
            (Duration::ZERO, Room::WaitUntil(t0 + EVICTION_GRACE)),
            (EVICTION_GRACE / 2, Room::WaitUntil(t0 + EVICTION_GRACE)),
            (EVICTION_GRACE, Room::Evict(Token(1))),
            (Duration::from_secs(1), Room::Evict(Token(1))),
        ];
        for (after, want) in cases {
            assert_eq!(gate.room(t0 + after), want, "{after:?}");
        }
        assert!(!gate.may_accept_again(), "full");
        gate.finish(Token(1));
        assert!(gate.may_accept_again(), "a slot freed while some waited");
        gate.drained();
        assert!(!gate.may_accept_again());
        assert_eq!(gate.room(t0), Room::Free);
    }

    #[test]
    fn a_challenged_connection_makes_way_last_and_gets_a_grace_of_its_own() {
        let t0 = Instant::now();
        let mut gate = gate(2, 10, 10, 10);
        gate.enter(Token(1), ONE, t0);
        gate.enter(Token(2), TWO, t0);
        gate.challenged(Token(1), t0 + EVICTION_GRACE);
        let later = t0 + EVICTION_GRACE * 3 / 2;
        // The silent one goes first, though the challenged one is older.
        assert_eq!(gate.room(later), Room::Evict(Token(2)));
        gate.leave(Token(2), TWO);
        gate.enter(Token(3), TWO, later);
        gate.challenged(Token(3), later);
        // Both proving: the older, once its grace from the challenge is over.
        assert_eq!(gate.room(later), Room::WaitUntil(t0 + EVICTION_GRACE * 2));
        assert_eq!(gate.room(t0 + EVICTION_GRACE * 2), Room::Evict(Token(1)));
    }

    #[test]
    fn client_slots_then_the_address_share_decide() {
        let mut gate = gate(100, 3, 2, 1);
        let v4_mapped = IpAddr::V6(std::net::Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        let t0 = Instant::now();
        gate.enter(Token(1), ONE, t0);
        gate.enter(Token(2), v4_mapped, t0);
        gate.enter(Token(3), LOOPBACK, t0);
        let cases = [
            (ONE, 0, Err(Refusal::AddressLimit)),
            (v4_mapped, 0, Err(Refusal::AddressLimit)),
            (TWO, 0, Ok(())),
            (TWO, 2, Ok(())),
            (TWO, 3, Err(Refusal::HostFull)),
            (ONE, 3, Err(Refusal::HostFull)),
            (LOOPBACK, 0, Err(Refusal::AddressLimit)),
            (IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2)), 0, Ok(())),
        ];
        for (ip, clients, want) in cases {
            assert_eq!(gate.check(ip, clients), want, "{ip} with {clients} clients");
        }
        // A client leaves its slot and keeps its address's share until it closes.
        gate.finish(Token(1));
        assert_eq!(gate.check(ONE, 0), Err(Refusal::AddressLimit));
        gate.leave(Token(1), ONE);
        assert_eq!(gate.check(ONE, 0), Ok(()));
        assert_eq!(gate.check_clients(2), Ok(()));
    }

    #[test]
    fn loopback_is_unlimited_by_default_and_others_get_64() {
        let mut gate = Gate::new(&Config::default(), Arc::default());
        let t0 = Instant::now();
        for i in 0..64 {
            gate.enter(Token(i), ONE, t0);
            gate.enter(Token(1000 + i), LOOPBACK, t0);
        }
        assert_eq!(gate.check(ONE, 0), Err(Refusal::AddressLimit));
        assert_eq!(gate.check(LOOPBACK, 0), Ok(()));
        assert_eq!(
            gate.check(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), 0),
            Ok(())
        );
    }

    #[test]
    fn only_overdue_handshakes_expire_and_none_without_a_timeout() {
        let t0 = Instant::now();
        let mut gate = gate(10, 10, 10, 10);
        gate.enter(Token(1), ONE, t0);
        gate.enter(Token(2), ONE, t0 + Duration::from_secs(1));
        assert_eq!(gate.next_deadline(), Some(t0 + Duration::from_secs(2)));
        assert_eq!(gate.expired(t0 + Duration::from_millis(1999)), None);
        assert_eq!(gate.expired(t0 + Duration::from_secs(2)), Some(Token(1)));
        assert_eq!(gate.expired(t0 + Duration::from_secs(2)), None);
        assert!(gate.is_handshaking(Token(2)) && !gate.is_handshaking(Token(1)));

        let mut forever = Gate::new(
            &Config {
                handshake_timeout: Duration::MAX,
                ..Config::default()
            },
            Arc::default(),
        );
        forever.enter(Token(1), ONE, t0);
        assert_eq!(forever.next_deadline(), None);
        assert_eq!(forever.expired(t0 + Duration::from_secs(3600)), None);
    }

    #[test]
    fn counts_add_up_by_reason_and_the_handshakes_now() {
        let counts = Arc::new(Counts::default());
        let mut gate = Gate::new(&Config::default(), Arc::clone(&counts));
        gate.enter(Token(1), ONE, Instant::now());
        for turned in [
            Turned::Refused(Refusal::HostFull),
            Turned::Refused(Refusal::AddressLimit),
            Turned::Refused(Refusal::AddressLimit),
            Turned::Refused(Refusal::Evicted),
            Turned::TimedOut,
            Turned::NameTaken,
            Turned::BadHello,
            Turned::Refused(Refusal::VersionMismatch),
            Turned::Refused(Refusal::Unauthorized),
        ] {
            gate.count(turned);
        }
        let want = AdmissionStats {
            handshaking: 1,
            host_full: 1,
            address_limit: 2,
            evicted: 1,
            timed_out: 1,
            name_taken: 1,
            bad_hello: 2,
            unauthorized: 1,
        };
        assert_eq!(counts.stats(), want);
        gate.leave(Token(1), ONE);
        assert_eq!(counts.stats().handshaking, 0);
    }
}
