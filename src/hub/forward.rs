//! A host's table of requests it forwarded from one client to another: the
//! id it gave each on the responder's connection, and who asked under which
//! id, so the reply can go back as the requester's. Layouts in the
//! [wire format](crate::protocol#requests-and-replies).
//!
//! Generic over `K`, what names a connection (the engine's token), and `P`,
//! the requester's handle (the engine's peer), so it is tested as a plain
//! table. Bounded: at most `max` entries, each at most `max_age` old (a
//! responder that never answers does not hold its entries for ever); the
//! host's ids only grow, so the first entry is the oldest.

use std::collections::BTreeMap;
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

/// The forwarded requests waiting for their replies, by the host's id.
#[derive(Debug)]
pub(crate) struct Forwards<K, P> {
    entries: BTreeMap<u64, Forward<K, P>>,
    max: usize,
    max_age: Duration,
}

/// Why a request was not forwarded: the table holds `max` already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableFull {
    pub(crate) max: usize,
}

impl<K: Copy + Eq, P> Forwards<K, P> {
    pub(crate) fn new(max: usize, max_age: Duration) -> Self {
        Forwards {
            entries: BTreeMap::new(),
            max,
            max_age,
        }
    }

    /// Records `forward` under the host's `id` (larger than every id
    /// before it), after letting go of entries older than the age limit.
    pub(crate) fn insert(&mut self, id: u64, forward: Forward<K, P>) -> Result<(), TableFull> {
        let now = forward.since;
        while let Some(oldest) = self.entries.first_entry() {
            if now.saturating_duration_since(oldest.get().since) < self.max_age {
                break;
            }
            oldest.remove();
        }
        if self.entries.len() >= self.max {
            return Err(TableFull { max: self.max });
        }
        self.entries.insert(id, forward);
        Ok(())
    }

    /// The reply to `id` came from `from`: the entry it completes, if that
    /// is where the request went (a reply from elsewhere leaves it be).
    pub(crate) fn complete(&mut self, id: u64, from: K) -> Option<Forward<K, P>> {
        match self.entries.get(&id) {
            Some(forward) if forward.responder == from => self.entries.remove(&id),
            _ => None,
        }
    }

    /// Forgets `id` (a request that could not be sent after all).
    pub(crate) fn remove(&mut self, id: u64) {
        self.entries.remove(&id);
    }

    /// The connection `key` closed: its requests are forgotten, and the
    /// entries waiting for its answers are returned, for their requesters
    /// to be told.
    pub(crate) fn peer_closed(&mut self, key: K) -> Vec<Forward<K, P>> {
        let mut orphans = Vec::new();
        let entries = std::mem::take(&mut self.entries);
        for (id, forward) in entries {
            match (forward.requester.0 == key, forward.responder == key) {
                (true, _) => {}
                (false, true) => orphans.push(forward),
                (false, false) => {
                    self.entries.insert(id, forward);
                }
            }
        }
        orphans
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(requester: u8, original: u64, responder: u8, since: Instant) -> Forward<u8, char> {
        Forward {
            requester: (requester, char::from(b'a' + requester)),
            original,
            channel: ChannelName::new("grip").expect("a valid name"),
            responder,
            since,
        }
    }

    #[test]
    fn a_reply_completes_its_entry_only_from_the_responder_and_only_once() {
        let now = Instant::now();
        let mut table = Forwards::new(8, Duration::from_secs(60));
        table.insert(10, forward(1, 7, 2, now)).expect("room");
        table.insert(11, forward(1, 8, 3, now)).expect("room");
        assert_eq!(table.complete(10, 3), None, "from another connection");
        assert_eq!(table.complete(99, 2), None, "an id never given");
        assert_eq!(table.complete(10, 2), Some(forward(1, 7, 2, now)));
        assert_eq!(table.complete(10, 2), None, "answered already");
        table.remove(11);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_full_table_refuses_until_old_entries_age_out() {
        let start = Instant::now();
        let age = Duration::from_secs(60);
        let mut table = Forwards::new(2, age);
        for id in 1..=2 {
            table.insert(id, forward(1, id, 2, start)).expect("room");
        }
        let later = start + Duration::from_secs(30);
        assert_eq!(
            table.insert(3, forward(1, 3, 2, later)),
            Err(TableFull { max: 2 })
        );
        let aged = start + age;
        table
            .insert(4, forward(1, 4, 2, aged))
            .expect("the old ones made way");
        assert_eq!(table.len(), 1);
        assert_eq!(table.complete(1, 2), None, "aged out");
        assert!(table.complete(4, 2).is_some());
    }

    #[test]
    fn a_closed_connection_orphans_what_it_owed_and_drops_what_it_asked() {
        let now = Instant::now();
        let mut table = Forwards::new(8, Duration::from_secs(60));
        let rows = [(1, 1, 2), (2, 2, 1), (3, 1, 1), (4, 3, 2), (5, 3, 4)];
        for (id, requester, responder) in rows {
            table
                .insert(id, forward(requester, id, responder, now))
                .expect("room");
        }
        let orphans = table.peer_closed(1);
        // Entry 2 waited for client 1's answer; 1 and 3 were client 1's own.
        assert_eq!(orphans, vec![forward(2, 2, 1, now)]);
        assert_eq!(table.len(), 2);
        let orphans: Vec<u64> = table.peer_closed(2).iter().map(|f| f.original).collect();
        assert_eq!(orphans, [4]);
        assert!(table.complete(5, 4).is_some());
    }
}
