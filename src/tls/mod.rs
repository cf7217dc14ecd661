//! TLS settings: a host's certificate and key ([`TlsServer`]), a client's
//! trusted authority and optional certificate ([`TlsClient`]), and their
//! error ([`TlsError`]). Behind the `tls` feature, except the error, which
//! [`ErrorKind::Tls`](crate::ErrorKind::Tls) carries in every build.
//!
//! TLS 1.3 through rustls (ring provider) runs below the socketengine
//! handshake: the TCP connect, the TLS handshake, then the same bytes as
//! without TLS (hello, welcome, frames) inside the TLS stream. See the
//! wire format in `protocol` and the README's Security section.
//!
//! Keys are read into memory and never printed: the `Debug` impls show what
//! is configured, not its bytes, and errors name the file and what is wrong
//! with it.

#[cfg(feature = "tls")]
mod creds;

use std::path::PathBuf;

#[cfg(feature = "tls")]
pub(crate) use creds::{SESSION_BUFFER, Tls};
#[cfg(feature = "tls")]
pub use creds::{TlsClient, TlsServer};

/// What went wrong with TLS: reading credentials, configuring, or a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read, or holds nothing of the kind wanted.
    #[error("{what} {path:?}: {reason}")]
    File {
        /// What the file was to hold ("certificate file", "private key file",
        /// "CA file").
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it is unusable (never its contents).
        reason: String,
    },
    /// In-memory PEM holds nothing of the kind wanted, or cannot be parsed.
    #[error("{what}: {reason}")]
    Pem {
        /// What the PEM was to hold.
        what: &'static str,
        /// Why it is unusable (never its contents).
        reason: String,
    },
    /// The credentials do not make a TLS configuration (a key that does not
    /// fit its certificate, a server name that is not a DNS name or IP
    /// address).
    #[error("invalid tls configuration: {0}")]
    Config(String),
    /// A TLS session failed: a handshake refused, a certificate not trusted,
    /// an alert from the peer, a record that did not decrypt. That
    /// connection was closed; others carry on.
    #[error("tls: {0}")]
    Session(String),
    /// The peer does not speak TLS where it should, or speaks it where it
    /// should not: one end configured with TLS, the other without.
    #[error("tls: {0}")]
    Mismatch(&'static str),
}
