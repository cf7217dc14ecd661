//! An open connection's pings and pongs: liveness both ways, and on a
//! client the exchanges its clock estimate rests on (`engine::clock`).

use super::super::Shared;
use super::Open;
use crate::hub::Side;
use crate::protocol::{Frame, Header, Kind};

/// The channel heartbeat pings travel on (pings and pongs never reach the store).
const HEARTBEAT_CHANNEL: &str = "heartbeat";

impl Open {
    /// The heartbeat's turn: a host pings a client that has been `silent`
    /// for an interval; a client pings its host every interval, silent or
    /// not, as its pongs keep its clock estimate fresh.
    pub(crate) fn heartbeat(&self, silent: bool, shared: &Shared) {
        if silent || self.side() == Side::Client {
            self.ping(shared);
        }
    }

    /// Sends a ping (with the next write, whatever the budgets); a client
    /// notes its time, so the pong can be matched to it.
    pub(crate) fn ping(&self, shared: &Shared) {
        let sent_ns = match self.side() {
            Side::Client => shared.clock.ping_time(),
            Side::Host => shared.clock.now_ns(),
        };
        let kind = Kind::Ping { sent_ns };
        if let Ok(ping) = Header::new(kind, HEARTBEAT_CHANNEL).to_bytes(&[]) {
            self.peer.queue_ping(ping);
        }
    }

    /// Answers a ping with this handle's clock.
    pub(super) fn on_ping(&mut self, frame: &Frame, ping_sent_ns: u64, shared: &Shared) {
        let kind = Kind::Pong {
            ping_sent_ns,
            sent_ns: shared.clock.now_ns(),
        };
        if let Ok(pong) = Header::new(kind, frame.channel_str()).to_bytes(&[]) {
            self.peer.queue_pong(pong);
        }
    }

    /// A pong with the peer's clock `sent_ns`: on a client, an exchange for
    /// its clock estimate, and the next quick ping after a welcome (on a
    /// host, its bytes counted as liveness, as any byte read does).
    pub(super) fn on_pong(&self, ping_sent_ns: u64, sent_ns: u64, shared: &Shared) {
        if self.side() == Side::Client && shared.clock.pong(ping_sent_ns, sent_ns) {
            self.ping(shared);
        }
    }
}
