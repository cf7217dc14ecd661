//! Rooms: named sets of clients a host keeps, so a message can go to a room's
//! members. The table is pure data (the engine holds it and carries out
//! changes); [`on_control`] decides what a room operation on the wire means.
//!
//! A member is a client's identity, not its connection: a client that chose
//! a name is a member by that name, so it keeps its rooms when it reconnects
//! (and whoever connects under that name later has them); one without a name
//! is a member by id, which a reconnection does not keep.

use std::collections::{BTreeMap, BTreeSet};

use super::{Side, Verdict};
use crate::ClientId;
use crate::protocol::{
    Frame, Kind, OP_JOIN, OP_LEAVE, OP_ROOMS, Undelivered, decode_rooms, room_name,
};

/// Who is in a room: a client by the name it chose, or by id if it chose none.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Member {
    Name(String),
    Id(ClientId),
}

/// A room operation the engine carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RoomOp {
    /// At a host: the sending client asks to join this room.
    Join(String),
    /// At a host: the sending client asks to leave this room.
    Leave(String),
    /// At a client: the host lists the client's rooms.
    Mine(Vec<String>),
}

/// A join refused because the member is in its maximum number of rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RoomLimit {
    pub(crate) max: usize,
}

/// The host's rooms, both ways: members by room and rooms by member. A room
/// exists while it has a member.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    members: BTreeMap<String, BTreeSet<Member>>,
    rooms: BTreeMap<Member, BTreeSet<String>>,
}

impl Rooms {
    /// Adds `member` to `room`; returns whether it was not in it already.
    ///
    /// # Errors
    ///
    /// [`RoomLimit`] when the member is in `max` rooms already (and not in this one).
    pub(crate) fn join(
        &mut self,
        member: &Member,
        room: &str,
        max: usize,
    ) -> Result<bool, RoomLimit> {
        let mine = self.rooms.get(member);
        if mine.is_some_and(|m| m.contains(room)) {
            return Ok(false);
        }
        if mine.map_or(0, BTreeSet::len) >= max {
            return Err(RoomLimit { max });
        }
        let rooms = self.rooms.entry(member.clone()).or_default();
        rooms.insert(room.to_owned());
        let members = self.members.entry(room.to_owned()).or_default();
        members.insert(member.clone());
        Ok(true)
    }

    /// Takes `member` out of `room`; returns whether it was in it.
    pub(crate) fn leave(&mut self, member: &Member, room: &str) -> bool {
        let Some(rooms) = self.rooms.get_mut(member) else {
            return false;
        };
        if !rooms.remove(room) {
            return false;
        }
        if rooms.is_empty() {
            self.rooms.remove(member);
        }
        if let Some(members) = self.members.get_mut(room) {
            members.remove(member);
            if members.is_empty() {
                self.members.remove(room);
            }
        }
        true
    }

    /// The members of `room`, or `None` if it has none.
    pub(crate) fn members(&self, room: &str) -> Option<Vec<Member>> {
        self.members.get(room).map(|m| m.iter().cloned().collect())
    }

    /// The rooms `member` is in, sorted.
    pub(crate) fn rooms_of(&self, member: &Member) -> Vec<String> {
        let rooms = self.rooms.get(member);
        rooms.map_or_else(Vec::new, |r| r.iter().cloned().collect())
    }

    /// Every room with a member, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
    }

    /// Takes out of every room the members `gone` picks.
    pub(crate) fn forget(&mut self, gone: impl Fn(&Member) -> bool) {
        let leaving: Vec<Member> = self.rooms.keys().filter(|m| gone(m)).cloned().collect();
        for member in leaving {
            for room in self.rooms_of(&member) {
                self.leave(&member, &room);
            }
        }
    }
}

/// A room operation arriving at `side`. At a host a client's join or leave
/// is carried out if `clients_may_join` (the host's policy), else refused;
/// a bad room name is refused with the decoder's words. At a client the
/// host's list of its rooms is taken; a malformed list is dropped. Anything
/// else (a client listing rooms to its host) is dropped.
pub(crate) fn on_control(frame: &Frame, side: Side, clients_may_join: bool) -> Verdict {
    let refuse = |why: String| Verdict::Refuse(Undelivered::Refused(why));
    let name = |payload: &[u8]| room_name(payload).map(str::to_owned);
    match (side, frame.kind) {
        (
            Side::Host,
            Kind::Control {
                op: OP_JOIN | OP_LEAVE,
            },
        ) if !clients_may_join => {
            refuse("this host does not let clients join or leave rooms".to_owned())
        }
        (Side::Host, Kind::Control { op }) if op == OP_JOIN || op == OP_LEAVE => {
            match (name(&frame.payload), op == OP_JOIN) {
                (Ok(room), true) => Verdict::Room(RoomOp::Join(room)),
                (Ok(room), false) => Verdict::Room(RoomOp::Leave(room)),
                (Err(err), _) => refuse(err.to_string()),
            }
        }
        (Side::Client, Kind::Control { op: OP_ROOMS }) => match decode_rooms(&frame.payload) {
            Ok(rooms) => Verdict::Room(RoomOp::Mine(rooms)),
            Err(_) => Verdict::Drop,
        },
        _ => Verdict::Drop,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::protocol::{ChannelName, ROOMS_CHANNEL, encode_rooms};

    fn control(op: u8, payload: impl Into<Bytes>) -> Frame {
        Frame {
            kind: Kind::Control { op },
            channel: ChannelName::new(ROOMS_CHANNEL).expect("a valid name"),
            route: None,
            origin: None,
            mirror: false,
            sent_at: None,
            encoding: crate::protocol::Encoding::Bytes,
            payload: payload.into(),
        }
    }

    fn name(n: &str) -> Member {
        Member::Name(n.to_owned())
    }

    #[test]
    fn members_join_and_leave_and_empty_rooms_vanish() {
        let mut rooms = Rooms::default();
        let (arm, anon) = (name("arm"), Member::Id(ClientId(7)));
        assert_eq!(rooms.join(&arm, "r1", 2), Ok(true));
        assert_eq!(rooms.join(&arm, "r1", 2), Ok(false));
        assert_eq!(rooms.join(&anon, "r1", 2), Ok(true));
        assert_eq!(rooms.join(&arm, "r0", 2), Ok(true));
        assert_eq!(rooms.join(&arm, "r2", 2), Err(RoomLimit { max: 2 }));
        assert_eq!(rooms.join(&arm, "r1", 2), Ok(false), "a room it is in");
        assert_eq!(rooms.names(), ["r0", "r1"]);
        assert_eq!(rooms.rooms_of(&arm), ["r0", "r1"]);
        assert_eq!(rooms.members("r1"), Some(vec![arm.clone(), anon.clone()]));
        assert!(rooms.leave(&arm, "r0") && !rooms.leave(&arm, "r0"));
        assert_eq!(rooms.members("r0"), None);
        rooms.forget(|m| matches!(m, Member::Id(_)));
        assert_eq!(rooms.members("r1"), Some(vec![arm.clone()]));
        assert!(rooms.rooms_of(&anon).is_empty());
        assert!(rooms.leave(&arm, "r1"));
        assert!(rooms.names().is_empty());
    }

    #[test]
    fn a_host_takes_room_requests_if_its_policy_allows_and_a_client_its_list() {
        let join = control(OP_JOIN, "arm");
        let leave = control(OP_LEAVE, "arm");
        let list = control(OP_ROOMS, encode_rooms(&["a".into(), "b".into()]));
        let refused = |why: &str| Verdict::Refuse(Undelivered::Refused(why.to_owned()));
        let policy = refused("this host does not let clients join or leave rooms");
        let table = [
            (
                &join,
                Side::Host,
                true,
                Verdict::Room(RoomOp::Join("arm".into())),
            ),
            (
                &leave,
                Side::Host,
                true,
                Verdict::Room(RoomOp::Leave("arm".into())),
            ),
            (&join, Side::Host, false, policy.clone()),
            (&leave, Side::Host, false, policy),
            (
                &list,
                Side::Client,
                true,
                Verdict::Room(RoomOp::Mine(vec!["a".into(), "b".into()])),
            ),
            (&list, Side::Host, true, Verdict::Drop),
            (&join, Side::Client, true, Verdict::Drop),
            (
                &control(OP_JOIN, ""),
                Side::Host,
                true,
                refused("malformed control payload: empty room name"),
            ),
            (
                &control(OP_ROOMS, "\x05ab"),
                Side::Client,
                true,
                Verdict::Drop,
            ),
        ];
        for (i, (frame, side, policy, want)) in table.into_iter().enumerate() {
            assert_eq!(on_control(frame, side, policy), want, "row {i}");
        }
    }
}
