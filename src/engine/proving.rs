//! Authentication in the handshake, both halves: a host that requires
//! credentials answers a hello with a [`Challenge`] and checks the proof that
//! comes back before it admits the client; a client answers a challenge with
//! the proof its credential makes. The proof's layout and what it covers are
//! in the wire format's "Authentication" section; the checking is
//! [`Auth::verify`](crate::auth::Auth::verify).

use std::time::Instant;

use bytes::Buf;
use mio::Token;

use super::connection::State;
use super::event_loop::EventLoop;
use super::gate::Turned;
use crate::protocol::{
    AuthMethod, Challenge, Hello, MAX_PROOF, NONCE_LEN, Proof, VERSION, transcript,
};
use crate::{Error, ErrorKind, Refusal};

/// A connection whose hello asked for a name, waiting for its proof.
#[derive(Debug)]
pub(crate) struct Proving {
    hello: Hello,
    nonce: [u8; NONCE_LEN],
}

impl EventLoop {
    /// A complete hello: a host without auth opens the client at once; one
    /// with auth challenges it first, or refuses a hello that offers no
    /// credential.
    pub(super) fn greet(&mut self, token: Token, hello: Hello, now: Instant) {
        if self.shared.config.auth.is_none() {
            return self.open(token, hello, None, now);
        }
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        if hello.auth == AuthMethod::None {
            // A client certificate mutual TLS verified is the only proof
            // such a hello can have.
            let certificate = conn.peer_cert_sha256();
            let auth = self.shared.config.auth.as_deref();
            return match auth.and_then(|a| a.verify_certificate(&hello.name, certificate)) {
                Some(permissions) => self.open(token, hello, Some(permissions), now),
                None => self.unauthorized(token),
            };
        }
        let challenge = Challenge {
            version: VERSION,
            nonce: crate::random::bytes(),
        };
        // 39 bytes on a socket that has sent nothing else: the send buffer
        // takes them whole, or the connection is broken.
        if let Err(err) = conn.send_all(&challenge.encode()) {
            return self.close(token, Some(err));
        }
        let proving = Proving {
            hello,
            nonce: challenge.nonce,
        };
        conn.state = State::Proving(proving);
        self.gate.challenged(token, now);
        // The proof may have come with the hello.
        self.read_proof(token, now);
    }

    /// Reads a challenged client's proof; admits the client if it proves
    /// the name its hello asked for, else refuses it (the client is not
    /// told which part failed).
    pub(super) fn read_proof(&mut self, token: Token, now: Instant) {
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        let open = match conn.read_some(1 + MAX_PROOF) {
            Ok(open) => open,
            Err(err) => return self.close(token, Some(err.into())),
        };
        let (proof, used) = match Proof::decode(&conn.rbuf.buf) {
            Ok(Some(decoded)) => decoded,
            Ok(None) if open => return,
            Ok(None) => return self.close(token, None),
            Err(err) => return self.turn_back(token, Turned::BadHello, None, err.into()),
        };
        conn.rbuf.buf.advance(used);
        let State::Proving(proving) = std::mem::replace(&mut conn.state, State::Handshake) else {
            return;
        };
        let Proving { hello, nonce } = proving;
        let binding = conn.auth_binding();
        let auth = self.shared.config.auth.as_deref();
        let verified =
            auth.and_then(|a| a.verify(&hello.name, hello.auth, &nonce, &binding, &proof));
        match verified {
            Some(permissions) => self.open(token, hello, Some(permissions), now),
            None => self.unauthorized(token),
        }
    }

    /// Refuses a connection that did not prove a listed name.
    fn unauthorized(&mut self, token: Token) {
        let refusal = Refusal::Unauthorized;
        let error = ErrorKind::Refused(refusal).into();
        self.turn_back(
            token,
            Turned::Refused(refusal),
            Some(refusal.status()),
            error,
        );
    }

    /// A client's answer to its host's challenge: the proof of the name it
    /// asked for, sent on the connection.
    pub(super) fn answer_challenge(&mut self, token: Token, challenge: &Challenge) {
        let name = self.client_name();
        let credential = self.shared.config.credential.clone();
        let Some(conn) = self.conn_mut(token) else {
            return;
        };
        // A host challenges only a hello that offered a credential.
        let Some(credential) = credential else {
            let refused = ErrorKind::Refused(Refusal::Unauthorized);
            return self.close(token, Some(refused.into()));
        };
        let binding = conn.auth_binding();
        let proof = credential.prove(&transcript(&challenge.nonce, &name, &binding));
        let mut wire = Vec::with_capacity(1 + MAX_PROOF);
        let sent = proof
            .encode(&mut wire)
            .map_err(Error::from)
            .and_then(|()| conn.send_all(&wire));
        if let Err(err) = sent {
            self.close(token, Some(err));
        }
    }
}
