//! Ending connections on purpose: a close frame with a reason, then the close
//! (codes in the wire format's "Close" section).

use std::sync::Arc;

use mio::Token;

use super::connection::{Conn, State};
use super::event_loop::EventLoop;
use crate::protocol::close_frame;
use crate::{ClientId, CloseCode, DisconnectReason};

impl EventLoop {
    /// Tells the peer `reason` in a close frame and closes the connection,
    /// reporting the reason in its `Disconnected` event. Best effort: the frame
    /// is queued after what is already queued and flushed as far as the socket
    /// takes it without blocking (a peer that stopped reading may miss it).
    pub(super) fn hang_up(&mut self, token: Token, reason: DisconnectReason) {
        if let Some(Conn {
            state: State::Open(open),
            ..
        }) = self.conn_mut(token)
        {
            if let Ok(frame) = close_frame(reason.code.code(), &reason.message) {
                open.peer.queue_close(frame);
            }
            open.reason = Some(reason);
        }
        if let Some(conn) = self.conn_mut(token) {
            let _ = conn.flush();
        }
        self.close(token, None);
    }

    /// A host's `disconnect`: kicks `client` if it is still connected.
    pub(super) fn kick(&mut self, client: ClientId, message: String) {
        let Some(peer) = self.shared.registry.get(client) else {
            return;
        };
        let token = peer.token();
        // The slot may hold a newer connection by now.
        let same = matches!(
            self.conn_mut(token),
            Some(Conn { state: State::Open(open), .. }) if Arc::ptr_eq(&open.peer, &peer)
        );
        if same {
            self.hang_up(token, DisconnectReason::new(CloseCode::Kicked, message));
        }
    }

    /// The reason this side gives its peers when it stops.
    pub(super) fn stop_reason(&self) -> DisconnectReason {
        match self.client {
            Some(_) => DisconnectReason::new(CloseCode::Normal, "closing"),
            None => DisconnectReason::new(CloseCode::ShuttingDown, "host shutting down"),
        }
    }

    /// Whether the connection at `token` has a reason to end (a close frame
    /// came): then the loop closes it after its read pass.
    pub(super) fn is_ending(&mut self, token: Token) -> bool {
        matches!(
            self.conn_mut(token),
            Some(Conn { state: State::Open(open), .. }) if open.reason.is_some()
        )
    }
}
