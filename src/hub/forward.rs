//! A host's table of requests it forwarded from one client to another: the
//! id it gave each on the responder's connection, and who asked under which
//! id, so the reply can go back as the requester's. Layouts in the
//! [wire format](crate::protocol#requests-and-replies).
//!
//! Generic over `K`, what names a connection (the engine's token), and `P`,
//! the requester's handle (the engine's peer), so it is tested as a plain
//! table. Bounded: at most `max` entries, at most `per_requester` of them
//! asked by one connection (so one client cannot take every place), each
//! at most `max_age` old (a responder that never answers does not hold its
//! entries for ever; the engine tells their requesters). The host's ids only
//! grow, so the first entry is the oldest. Entries are indexed by both
//! connections, so a closed one costs its own entries, not a scan.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::protocol::ChannelName;

/// One forwarded request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Forward<K, P> {
    /// Who asked: its connection, and its handle to send the reply on.
    pub(crate) requester: (K, P),
    /// The id the requester gave the request.
    pub(crate) original: u64,
    /// Its channel, which every reply to it carries.
    pub(crate) channel: ChannelName,
    /// The connection it was forwarded on: only a reply from there counts.
    pub(crate) responder: K,
    /// When the host forwarded it.
    pub(crate) since: Instant,
}

/// The table's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Entries in all.
    pub(crate) max: usize,
    /// Entries one connection asked.
    pub(crate) per_requester: usize,
    /// How long an entry waits for its reply.
    pub(crate) max_age: Duration,
}

/// The forwarded requests waiting for their replies, by the host's id.
#[derive(Debug)]
pub(crate) struct Forwards<K, P> {
    entries: BTreeMap<u64, Forward<K, P>>,
    /// The ids of the entries each connection asked.
    asked: HashMap<K, HashSet<u64>>,
    /// The ids of the entries waiting for each connection's answer.
    owed: HashMap<K, HashSet<u64>>,
    limits: Limits,
}

/// Why a request was not forwarded: the table, or its requester, holds
/// `max` already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableFull {
    pub(crate) max: usize,
}

impl<K: Copy + Eq + Hash, P> Forwards<K, P> {
    pub(crate) fn new(limits: Limits) -> Self {
        Forwards {
            entries: BTreeMap::new(),
            asked: HashMap::new(),
            owed: HashMap::new(),
            limits,
        }
    }

    /// Records `forward` under the host's `id` (larger than every id
    /// before it). Entries past their age should be [expired](Self::expire)
    /// first, to make way.
    pub(crate) fn insert(&mut self, id: u64, forward: Forward<K, P>) -> Result<(), TableFull> {
        let asked = self.asked.get(&forward.requester.0).map_or(0, HashSet::len);
        if asked >= self.limits.per_requester {
            let max = self.limits.per_requester;
            return Err(TableFull { max });
        }
        if self.entries.len() >= self.limits.max {
            return Err(TableFull {
                max: self.limits.max,
            });
        }
        let (requester, responder) = (forward.requester.0, forward.responder);
        self.asked.entry(requester).or_default().insert(id);
        self.owed.entry(responder).or_default().insert(id);
        self.entries.insert(id, forward);
        Ok(())
    }

    /// Takes out the entries `max_age` old or older as of `now`, for their
    /// requesters to be told.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Forward<K, P>> {
        let mut expired = Vec::new();
        while let Some((&id, oldest)) = self.entries.first_key_value() {
            if now.saturating_duration_since(oldest.since) < self.limits.max_age {
                break;
            }
            expired.extend(self.take(id));
        }
        expired
    }

    /// When the oldest entry reaches its age: the next [`expire`](Self::expire)
    /// worth calling; `None` when the table is empty.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        let oldest = self.entries.first_key_value()?.1;
        Some(
            oldest
                .since
                .checked_add(self.limits.max_age)
                .unwrap_or(oldest.since),
        )
    }

    /// The reply to `id` came from `from`: the entry it completes, if that
    /// is where the request went (a reply from elsewhere leaves it be).
    pub(crate) fn complete(&mut self, id: u64, from: K) -> Option<Forward<K, P>> {
        match self.entries.get(&id) {
            Some(forward) if forward.responder == from => self.take(id),
            _ => None,
        }
    }

    /// Forgets `id` (a request that could not be sent after all).
    pub(crate) fn remove(&mut self, id: u64) {
        self.take(id);
    }

    /// The connection `key` closed: its requests are forgotten, and the
    /// entries waiting for its answers are returned, for their requesters
    /// to be told.
    pub(crate) fn peer_closed(&mut self, key: K) -> Vec<Forward<K, P>> {
        for id in self.asked.remove(&key).unwrap_or_default() {
            self.take(id);
        }
        let owed = self.owed.remove(&key).unwrap_or_default();
        let mut orphans: Vec<(u64, Forward<K, P>)> = owed
            .into_iter()
            .filter_map(|id| Some((id, self.take(id)?)))
            .collect();
        // In the order they were forwarded.
        orphans.sort_unstable_by_key(|&(id, _)| id);
        orphans.into_iter().map(|(_, forward)| forward).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Takes entry `id` out of the table and both its indexes.
    fn take(&mut self, id: u64) -> Option<Forward<K, P>> {
        let forward = self.entries.remove(&id)?;
        unindex(&mut self.asked, forward.requester.0, id);
        unindex(&mut self.owed, forward.responder, id);
        Some(forward)
    }
}

/// Removes `id` from `key`'s ids, and `key` once it has none.
fn unindex<K: Eq + Hash>(index: &mut HashMap<K, HashSet<u64>>, key: K, id: u64) {
    if let Some(ids) = index.get_mut(&key) {
        ids.remove(&id);
        if ids.is_empty() {
            index.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: Duration = Duration::from_secs(60);

    fn forward(requester: u8, original: u64, responder: u8, since: Instant) -> Forward<u8, char> {
        Forward {
            requester: (requester, char::from(b'a' + requester)),
            original,
            channel: ChannelName::new("grip").expect("a valid name"),
            responder,
            since,
        }
    }

    fn table(max: usize, per_requester: usize) -> Forwards<u8, char> {
        Forwards::new(Limits {
            max,
            per_requester,
            max_age: AGE,
        })
    }

    #[test]
    fn a_reply_completes_its_entry_only_from_the_responder_and_only_once() {
        let now = Instant::now();
        let mut table = table(8, 8);
        table.insert(10, forward(1, 7, 2, now)).expect("room");
        table.insert(11, forward(1, 8, 3, now)).expect("room");
        assert_eq!(table.complete(10, 3), None, "from another connection");
        assert_eq!(table.complete(99, 2), None, "an id never given");
        assert_eq!(table.complete(10, 2), Some(forward(1, 7, 2, now)));
        assert_eq!(table.complete(10, 2), None, "answered already");
        table.remove(11);
        assert_eq!(table.len(), 0);
        assert!(table.asked.is_empty() && table.owed.is_empty());
    }

    #[test]
    fn a_full_table_refuses_until_old_entries_expire_and_they_are_handed_back() {
        let start = Instant::now();
        let mut table = table(2, 8);
        for id in 1..=2 {
            table.insert(id, forward(1, id, 2, start)).expect("room");
        }
        let later = start + Duration::from_secs(30);
        assert!(table.expire(later).is_empty());
        assert_eq!(
            table.insert(3, forward(1, 3, 2, later)),
            Err(TableFull { max: 2 })
        );
        assert_eq!(table.next_expiry(), Some(start + AGE));
        let aged = start + AGE;
        let expired: Vec<u64> = table.expire(aged).iter().map(|f| f.original).collect();
        assert_eq!(expired, [1, 2], "handed back for their requesters");
        table
            .insert(4, forward(1, 4, 2, aged))
            .expect("the old ones made way");
        assert_eq!(table.len(), 1);
        assert_eq!(table.complete(1, 2), None, "expired");
        assert!(table.complete(4, 2).is_some());
        assert_eq!(table.next_expiry(), None);
    }

    #[test]
    fn one_requester_cannot_take_every_place() {
        let now = Instant::now();
        let mut table = table(8, 3);
        for id in 1..=3 {
            table.insert(id, forward(1, id, 2, now)).expect("room");
        }
        assert_eq!(
            table.insert(4, forward(1, 4, 2, now)),
            Err(TableFull { max: 3 })
        );
        table
            .insert(5, forward(3, 5, 2, now))
            .expect("another requester");
        assert!(table.complete(1, 2).is_some());
        table
            .insert(6, forward(1, 6, 2, now))
            .expect("a place freed");
    }

    #[test]
    fn a_closed_connection_orphans_what_it_owed_and_drops_what_it_asked() {
        let now = Instant::now();
        let mut table = table(8, 8);
        let rows = [
            (1, 1, 2),
            (2, 2, 1),
            (3, 1, 1),
            (4, 3, 2),
            (5, 3, 4),
            (6, 4, 2),
        ];
        for (id, requester, responder) in rows {
            table
                .insert(id, forward(requester, id, responder, now))
                .expect("room");
        }
        let orphans = table.peer_closed(1);
        // Entry 2 waited for client 1's answer; 1 and 3 were client 1's own.
        assert_eq!(orphans, vec![forward(2, 2, 1, now)]);
        assert_eq!(table.len(), 3);
        let orphans: Vec<u64> = table.peer_closed(2).iter().map(|f| f.original).collect();
        assert_eq!(orphans, [4, 6]);
        assert!(table.complete(5, 4).is_some());
        assert!(table.asked.is_empty() && table.owed.is_empty());
    }
}
