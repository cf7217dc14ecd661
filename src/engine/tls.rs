//! A connection's TLS session (with the `tls` feature): one rustls state
//! machine shared by the loop's read side and whoever holds the write side
//! (the loop, or a caller writing a locked frame directly), each passing its
//! own descriptor of the socket. Without the feature, [`Session`] is a type
//! with no values, so the plain path compiles to what it was.
//!
//! Written bytes: the engine counts a byte written once the kernel has it.
//! rustls takes plaintext and holds the ciphertext it could not write yet,
//! so a session reports two counts: plaintext *taken* (the outbox advances
//! by it) and plaintext *flushed* (all ciphertext up to it is in the
//! kernel; [`Session::take_flushed`]), which is what `written` grows by.

#[cfg(feature = "tls")]
mod session;

#[cfg(feature = "tls")]
pub(crate) use session::Session;

#[cfg(not(feature = "tls"))]
pub(crate) use stub::Session;

use std::sync::Arc;

use crate::Result;
use crate::config::Config;

/// A host's session for a connection it accepted, if it speaks TLS.
pub(crate) fn accepted(config: &Config) -> Result<Option<Arc<Session>>> {
    #[cfg(feature = "tls")]
    if let Some(crate::tls::Tls::Server(server)) = &config.tls {
        return Ok(Some(Arc::new(Session::server(server.config())?)));
    }
    let _ = config;
    Ok(None)
}

/// A client's session for a connection to its host, if it speaks TLS.
pub(crate) fn dialled(config: &Config) -> Result<Option<Arc<Session>>> {
    #[cfg(feature = "tls")]
    if let Some(crate::tls::Tls::Client(client)) = &config.tls {
        let session = Session::client(client.config(), client.name()?)?;
        return Ok(Some(Arc::new(session)));
    }
    let _ = config;
    Ok(None)
}

#[cfg(not(feature = "tls"))]
mod stub {
    //! No TLS in this build: a session that cannot exist.

    use std::io::{self, IoSlice, Write};

    use bytes::BytesMut;
    use mio::net::TcpStream;

    /// A TLS session; without the `tls` feature there is none.
    #[derive(Debug)]
    pub(crate) enum Session {}

    impl Session {
        pub(crate) fn handshake(&self, _: &TcpStream) -> io::Result<bool> {
            match *self {}
        }
        pub(crate) fn recv_into(
            &self,
            _: &TcpStream,
            _: &mut BytesMut,
            _: usize,
        ) -> io::Result<usize> {
            match *self {}
        }
        pub(crate) fn read(&self, _: &TcpStream, _: &mut [u8]) -> io::Result<usize> {
            match *self {}
        }
        pub(crate) fn write_vectored(
            &self,
            _: &mut dyn Write,
            _: &[IoSlice<'_>],
        ) -> io::Result<usize> {
            match *self {}
        }
        pub(crate) fn write_all(&self, _: &mut dyn Write, _: &[u8]) -> io::Result<()> {
            match *self {}
        }
        pub(crate) fn flush(&self, _: &mut dyn Write) -> io::Result<bool> {
            match *self {}
        }
        pub(crate) fn binding(&self) -> Option<[u8; 32]> {
            match *self {}
        }
        pub(crate) fn received(&self) -> bool {
            match *self {}
        }
        pub(crate) fn take_flushed(&self) -> usize {
            match *self {}
        }
        pub(crate) fn close_notify(&self, _: &mut dyn Write) {
            match *self {}
        }
        pub(crate) fn peer_cert_sha256(&self) -> Option<[u8; 32]> {
            match *self {}
        }
    }
}
