//! What a connection reads from and writes to: its socket, plain or through
//! its TLS [`Session`]. The plain path is the socket call it always was
//! (one branch on an `Option`, no lock, no copy); the TLS path copies
//! through rustls's records.

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream as StdStream;
use std::sync::Arc;

use bytes::BytesMut;
use mio::net::TcpStream;
use socket2::SockRef;

use super::connection::Conn;
use super::read_buf;
use super::tls::Session;
use crate::Result;

/// A connection's read side, for the loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) stream: &'a TcpStream,
    pub(crate) tls: Option<&'a Session>,
}

impl Source<'_> {
    /// Reads at most `want` bytes onto the end of `buf`, within its
    /// capacity; 0 means end of stream.
    pub(crate) fn recv_into(self, buf: &mut BytesMut, want: usize) -> io::Result<usize> {
        match self.tls {
            None => read_buf::recv_into(self.stream, buf, want),
            Some(tls) => tls.recv_into(self.stream, buf, want),
        }
    }

    /// Reads into `out`; 0 means end of stream.
    pub(crate) fn read(self, out: &mut [u8]) -> io::Result<usize> {
        match self.tls {
            None => {
                let mut stream = self.stream;
                stream.read(out)
            }
            Some(tls) => tls.read(self.stream, out),
        }
    }
}

/// What one write did.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wrote {
    /// Bytes taken from the slices given: the caller advances by these.
    pub(crate) taken: usize,
    /// Bytes now in the kernel, which `written` counts: as many as taken on
    /// a plain socket; through TLS, the plaintext whose ciphertext went out,
    /// from this write or an earlier one.
    pub(crate) written: usize,
}

/// Writes `bufs` to `stream`, through `tls` if the connection has a session.
pub(crate) fn write_vectored<W: Write>(
    mut stream: W,
    tls: Option<&Session>,
    bufs: &[IoSlice<'_>],
) -> io::Result<Wrote> {
    match tls {
        None => {
            let n = stream.write_vectored(bufs)?;
            Ok(Wrote {
                taken: n,
                written: n,
            })
        }
        Some(tls) => {
            let taken = tls.write_vectored(&mut stream, bufs)?;
            let written = tls.take_flushed();
            Ok(Wrote { taken, written })
        }
    }
}

/// A peer's write side for direct writes from a caller's thread: a
/// duplicate of the connection's socket (the loop reads and flushes
/// through its own) and the session it shares with the loop.
#[derive(Debug)]
pub(crate) struct Sink {
    stream: StdStream,
    tls: Option<Arc<Session>>,
}

impl Sink {
    pub(crate) fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<Wrote> {
        write_vectored(&self.stream, self.tls.as_deref(), bufs)
    }

    /// Shuts the socket down both ways, so the peer sees the close.
    pub(crate) fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

impl Conn {
    /// The write side a peer keeps for direct writes.
    pub(crate) fn sink(&self) -> io::Result<Sink> {
        let stream = StdStream::from(SockRef::from(&self.stream).try_clone()?);
        let tls = self.tls.clone();
        Ok(Sink { stream, tls })
    }

    /// Writes all of `bytes` to a fresh connection (a hello fits an empty
    /// send buffer, and a session's; not taking it all counts as a failure).
    pub(crate) fn send_all(&mut self, bytes: &[u8]) -> Result<()> {
        if let Some(tls) = &self.tls {
            return Ok(tls.write_all(&mut &self.stream, bytes)?);
        }
        match (&self.stream).write(bytes) {
            Ok(n) if n == bytes.len() => Ok(()),
            Ok(_) => Err(io::Error::from(io::ErrorKind::WriteZero).into()),
            Err(err) => Err(err.into()),
        }
    }

    /// Writes `bytes` best effort: a refusal on a connection about to close.
    pub(crate) fn send_best_effort(&mut self, bytes: &[u8]) {
        let _ = self.send_all(bytes);
    }

    /// Ends the TLS stream, best effort, before the socket closes.
    pub(crate) fn close_notify(&mut self) {
        if let Some(tls) = &self.tls {
            tls.close_notify(&mut &self.stream);
        }
    }

    /// Writes ciphertext left in the session; returns whether none is left
    /// and the bytes now counted written. A plain connection has none.
    pub(crate) fn flush_tls(&mut self) -> io::Result<(bool, usize)> {
        let Some(tls) = &self.tls else {
            return Ok((true, 0));
        };
        let done = tls.flush(&mut &self.stream)?;
        Ok((done, tls.take_flushed()))
    }

    /// The SHA-256 of the peer's verified TLS certificate: on a host that
    /// requires client certificates
    /// ([`TlsServer::require_client_certs`](crate::TlsServer)), the client's
    /// leaf certificate, set when the TLS handshake ended (so from the hello
    /// on); `None` without TLS or without a client certificate.
    /// A host with auth admits a hello without a credential whose name the
    /// auth file lists with this certificate (`engine::proving`).
    pub(crate) fn peer_cert_sha256(&self) -> Option<[u8; 32]> {
        self.tls.as_ref().and_then(|tls| tls.peer_cert_sha256())
    }

    /// What an authentication proof on this connection covers besides the
    /// nonce and the name: over TLS, the session's exported keying material
    /// (so a proof relayed from another session proves nothing); over plain
    /// TCP, nothing.
    pub(crate) fn auth_binding(&self) -> Vec<u8> {
        let binding = self.tls.as_ref().and_then(|tls| tls.binding());
        binding.map_or_else(Vec::new, |b| b.to_vec())
    }
}
