//! The rustls session behind a TLS connection and its non-blocking I/O.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::sync::{Arc, OnceLock};

use bytes::BytesMut;
use mio::net::TcpStream;
use parking_lot::Mutex;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

use crate::tls::{SESSION_BUFFER, TlsError};

/// One connection's TLS session.
pub(crate) struct Session {
    /// rustls's one state machine for both directions. A mutex because the
    /// loop reads while a caller thread may write; held for one call (a read
    /// and its decryption, or an encryption and its write), never across a wait.
    inner: Mutex<Inner>,
    /// The SHA-256 of the peer's leaf certificate, set once when the
    /// handshake ends (on a host requiring client certificates: the verified
    /// client's). Read by any thread, written once: a `OnceLock`.
    peer_cert: OnceLock<[u8; 32]>,
}

struct Inner {
    conn: Connection,
    /// Plaintext taken since the ciphertext buffer was last empty: not in
    /// the kernel yet.
    unflushed: usize,
    /// Plaintext whose ciphertext is in the kernel, not yet reported.
    flushed: usize,
    /// Whether a TLS record has been received, to tell a peer that does not
    /// speak TLS from one that fails.
    received: bool,
    /// Decrypted bytes rustls holds, as of the last decryption less what was
    /// read since (so a read needs no call into rustls to know).
    ready: usize,
    /// Whether the peer's close_notify came.
    closed: bool,
}

impl Session {
    /// A host's session on an accepted connection.
    pub(crate) fn server(config: Arc<ServerConfig>) -> Result<Session, TlsError> {
        let conn = ServerConnection::new(config).map_err(session_error)?;
        Ok(Session::new(conn.into()))
    }

    /// A client's session to a host that must prove it is `name`.
    pub(crate) fn client(
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<Session, TlsError> {
        let conn = ClientConnection::new(config, name).map_err(session_error)?;
        Ok(Session::new(conn.into()))
    }

    fn new(mut conn: Connection) -> Session {
        // What rustls holds for a connection stays bounded: ciphertext
        // waiting for the socket (and, before the handshake ends, plaintext).
        conn.set_buffer_limit(Some(SESSION_BUFFER));
        let inner = Inner {
            conn,
            unflushed: 0,
            flushed: 0,
            received: false,
            ready: 0,
            closed: false,
        };
        Session {
            inner: Mutex::new(inner),
            peer_cert: OnceLock::new(),
        }
    }

    /// Drives the TLS handshake as far as the socket allows; returns whether
    /// it is done (then application bytes may already wait decrypted: read
    /// them before waiting for readiness).
    ///
    /// # Errors
    ///
    /// The handshake failed ([`TlsError`] inside the `io::Error`), or the
    /// socket did.
    pub(crate) fn handshake(&self, stream: &TcpStream) -> io::Result<bool> {
        let mut inner = self.inner.lock();
        loop {
            inner.push(&mut &*stream)?;
            if !inner.conn.is_handshaking() {
                self.note_peer_cert(&inner.conn);
                return Ok(true);
            }
            match inner.conn.read_tls(&mut &*stream) {
                Ok(0) => return Err(closed_in_handshake(&inner)),
                Ok(_) => inner.process(&mut &*stream)?,
                // A peer without TLS may reset rather than close.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !inner.received => {
                    return Err(closed_in_handshake(&inner));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads at most `want` plaintext bytes onto the end of `buf`, within its
    /// capacity (as `read_buf::recv_into`); 0 means end of stream. Only the
    /// room the bytes ready will fill is zeroed first (rustls reads into
    /// initialised memory only).
    pub(crate) fn recv_into(
        &self,
        stream: &TcpStream,
        buf: &mut BytesMut,
        want: usize,
    ) -> io::Result<usize> {
        let mut inner = self.inner.lock();
        let ready = inner.decrypted(stream)?;
        let len = buf.len();
        let n = want.min(buf.capacity() - len).min(ready);
        buf.resize(len + n, 0);
        let read = inner.read_plain(&mut buf[len..]);
        buf.truncate(len + read.as_ref().map_or(0, |n| *n));
        read
    }

    /// Reads plaintext into `out`: what rustls holds decrypted, else what
    /// the socket has, decrypted. `WouldBlock` only once both are drained, so
    /// edge-triggered readiness holds. 0 means end of stream.
    pub(crate) fn read(&self, stream: &TcpStream, out: &mut [u8]) -> io::Result<usize> {
        let mut inner = self.inner.lock();
        match inner.decrypted(stream)? {
            0 => Ok(0),
            _ => inner.read_plain(out),
        }
    }

    /// Encrypts what of `bufs` rustls takes and writes as much ciphertext as
    /// the socket takes; returns the plaintext bytes taken. `WouldBlock` while
    /// earlier ciphertext still waits (so rustls holds one buffer's worth at
    /// most). What reached the kernel is counted in [`take_flushed`](Self::take_flushed).
    pub(crate) fn write_vectored(
        &self,
        wr: &mut dyn Write,
        bufs: &[IoSlice<'_>],
    ) -> io::Result<usize> {
        let mut inner = self.inner.lock();
        if !inner.push(wr)? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let taken = inner.conn.writer().write_vectored(bufs)?;
        inner.unflushed += taken;
        inner.push(wr)?;
        Ok(taken)
    }

    /// Encrypts all of `bytes` (a hello, a refusal: far less than the
    /// session's buffer) even while earlier ciphertext waits, and writes what
    /// the socket takes; the rest goes with the next flush.
    pub(crate) fn write_all(&self, wr: &mut dyn Write, bytes: &[u8]) -> io::Result<()> {
        let mut inner = self.inner.lock();
        inner.conn.writer().write_all(bytes)?;
        inner.unflushed += bytes.len();
        inner.push(wr).map(drop)
    }

    /// Writes the ciphertext waiting in rustls; returns whether none is left.
    pub(crate) fn flush(&self, wr: &mut dyn Write) -> io::Result<bool> {
        self.inner.lock().push(wr)
    }

    /// Plaintext bytes whose ciphertext reached the kernel since the last call.
    pub(crate) fn take_flushed(&self) -> usize {
        std::mem::take(&mut self.inner.lock().flushed)
    }

    /// Tells the peer the stream ends here, best effort (a connection closing).
    pub(crate) fn close_notify(&self, wr: &mut dyn Write) {
        let mut inner = self.inner.lock();
        inner.conn.send_close_notify();
        let _ = inner.push(wr);
    }

    /// Whether a TLS record has been received from the peer.
    pub(crate) fn received(&self) -> bool {
        self.inner.lock().received
    }

    /// 32 bytes both ends of this TLS session derive alike, and no other
    /// session does (RFC 5705 keying material, label
    /// `EXPORTER-socketengine-auth`): what an authentication proof is bound
    /// to, so a proof relayed from another session proves nothing. `None`
    /// before the handshake ends.
    pub(crate) fn binding(&self) -> Option<[u8; 32]> {
        let inner = self.inner.lock();
        let mut out = [0u8; 32];
        let label = b"EXPORTER-socketengine-auth";
        inner
            .conn
            .export_keying_material(&mut out, label, None)
            .ok()?;
        Some(out)
    }

    /// The SHA-256 of the peer's leaf certificate, once the handshake is done
    /// and if it presented one (see `Conn::peer_cert_sha256`).
    pub(crate) fn peer_cert_sha256(&self) -> Option<[u8; 32]> {
        self.peer_cert.get().copied()
    }

    fn note_peer_cert(&self, conn: &Connection) {
        let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) else {
            return;
        };
        let digest = ring::digest::digest(&ring::digest::SHA256, leaf);
        if let Ok(sha) = <[u8; 32]>::try_from(digest.as_ref()) {
            let _ = self.peer_cert.set(sha);
        }
    }
}

impl Inner {
    /// The plaintext bytes ready to read, reading from the socket and
    /// decrypting while there are none; 0 at the end of the stream,
    /// `WouldBlock` when none are ready and the socket has none.
    fn decrypted(&mut self, stream: &TcpStream) -> io::Result<usize> {
        loop {
            match self.ready {
                0 if self.closed => return Ok(0),
                0 => {}
                ready => return Ok(ready),
            }
            match self.conn.read_tls(&mut &*stream) {
                Ok(0) => return Ok(0),
                Ok(_) => self.process(&mut &*stream)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads decrypted bytes into `out`; 0 means end of stream (with or
    /// without the peer's close_notify: the framing tells a cut frame).
    fn read_plain(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self.conn.reader().read(out) {
            Ok(n) => {
                self.ready = self.ready.saturating_sub(n);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Writes ciphertext until none waits (then everything taken counts as
    /// flushed) or the socket would block; returns whether none waits.
    fn push(&mut self, wr: &mut dyn Write) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(wr) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.flushed += std::mem::take(&mut self.unflushed);
        Ok(true)
    }

    /// Decrypts what was read. On failure rustls has queued an alert for
    /// the peer, sent best effort; the error closes this connection.
    fn process(&mut self, wr: &mut dyn Write) -> io::Result<()> {
        match self.conn.process_new_packets() {
            Ok(state) => {
                self.received = true;
                self.ready = state.plaintext_bytes_to_read();
                self.closed = state.peer_has_closed();
                // A key update or an alert to answer; a blocked socket
                // leaves it for the next flush.
                self.push(wr).map(drop)
            }
            Err(err) => {
                let _ = self.push(wr);
                let first = !std::mem::replace(&mut self.received, true);
                Err(failure(err, first))
            }
        }
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("peer_cert", &self.peer_cert.get().is_some())
            .finish_non_exhaustive()
    }
}

/// A session's failure as the `io::Error` the read and write paths return;
/// `Error::from` turns it back into [`ErrorKind::Tls`](crate::ErrorKind::Tls).
fn failure(err: rustls::Error, first_record: bool) -> io::Error {
    let error = match err {
        // Not even a TLS record: the peer speaks plain socketengine.
        rustls::Error::InvalidMessage(_) if first_record => {
            TlsError::Mismatch("the peer does not speak TLS (its end has no TLS configured?)")
        }
        err => session_error(err),
    };
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// The peer closed the connection before the handshake ended.
fn closed_in_handshake(inner: &Inner) -> io::Error {
    let error = match (inner.received, inner.conn.is_handshaking()) {
        (false, true) => TlsError::Mismatch(
            "the peer closed the connection during the TLS handshake (its end has no TLS configured?)",
        ),
        _ => TlsError::Session("the peer closed the connection during the handshake".to_owned()),
    };
    io::Error::new(io::ErrorKind::UnexpectedEof, error)
}

fn session_error(err: rustls::Error) -> TlsError {
    TlsError::Session(err.to_string())
}

#[cfg(test)]
mod tests;
