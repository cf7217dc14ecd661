//! TLS set-up on the loop, below the socketengine handshake: a host's
//! accepted connection makes its TLS handshake in its handshake slot, then
//! sends its hello; a client, once its TCP connect is done, makes its TLS
//! handshake, then sends its hello. Without TLS configured, nothing here runs.

use std::time::Instant;

use mio::Token;

use super::connection::State;
use super::event_loop::EventLoop;
use super::gate::Turned;
use super::tls;
use crate::protocol::{DecodeError, WELCOME_LEN, Welcome};
use crate::tls::TlsError;
use crate::{Error, ErrorKind, Refusal};

impl EventLoop {
    /// A client's TCP connect finished (or failed): with TLS its TLS
    /// handshake starts, otherwise (or once secured) the hello goes.
    pub(super) fn connected(&mut self, token: Token, now: Instant) {
        let secured = self.conn_mut(token).is_some_and(|c| c.tls.is_some());
        let session = match secured {
            true => None,
            false => match tls::dialled(&self.shared.config) {
                Ok(session) => session,
                Err(err) => return self.close(token, Some(err)),
            },
        };
        let Some(session) = session else {
            return self.finish_connect(token, now);
        };
        if !self.connect_done(token) {
            return;
        }
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        conn.tls = Some(session);
        conn.state = State::Securing;
        self.secure(token, now);
    }

    /// Drives the TLS handshake of the connection at `token` as far as the
    /// socket allows; once done, the socketengine handshake follows (a host
    /// reads the hello, a client sends it), and any bytes that came with the
    /// handshake's end are read.
    pub(super) fn secure(&mut self, token: Token, now: Instant) {
        let client = self.client.is_some();
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        let Some(session) = conn.tls.clone() else {
            return;
        };
        if client && !session.received() {
            if let Some(refusal) = peek_refusal(&conn.stream) {
                return self.close(token, Some(ErrorKind::Refused(refusal).into()));
            }
        }
        match session.handshake(&conn.stream) {
            Ok(false) => {}
            Ok(true) if client => {
                conn.state = State::Connecting;
                self.finish_connect(token, now);
            }
            Ok(true) => {
                conn.state = State::Handshake;
                self.read(token, now);
            }
            Err(err) => self.insecure(token, err.into()),
        }
    }

    /// A failed TLS handshake: a client's attempt fails; a host counts a
    /// bad hello and reports it.
    fn insecure(&mut self, token: Token, error: Error) {
        match self.client {
            Some(_) => self.close(token, Some(error)),
            None => self.turn_back(token, Turned::BadHello, None, error),
        }
    }
}

/// A host turns a connection away before any TLS when it has no slot for
/// it, with a plain welcome: a client that has received no TLS yet looks
/// for one, so that it reports the refusal rather than a broken handshake.
fn peek_refusal(stream: &mio::net::TcpStream) -> Option<Refusal> {
    let mut buf = [0u8; WELCOME_LEN];
    let n = stream.peek(&mut buf).ok()?;
    let welcome = Welcome::decode(buf.get(..n)?).ok()??;
    Refusal::from_status(welcome.status)
}

/// The error for bytes that are not a welcome: a TLS record (a host that
/// speaks TLS answering a client that does not) says so.
pub(super) fn not_a_welcome(err: DecodeError, bytes: &[u8]) -> Error {
    match bytes {
        // A record's type (alert, handshake, ...) and TLS's major version.
        [0x14..=0x17, 0x03, ..] => TlsError::Mismatch(
            "the host speaks TLS and this client does not (see ClientBuilder::tls)",
        )
        .into(),
        _ => err.into(),
    }
}
