//! Who may connect to a host, and what each client may do there.
//!
//! A host given an [`Auth`] ([`HostBuilder::auth`](crate::HostBuilder::auth))
//! admits only clients that prove their name: each name is listed with a
//! [`Verifier`] (an Ed25519 public key, or a shared token's SHA-256) and the
//! [`Permissions`] it has. The client, given its [`Credential`], answers the
//! host's fresh random challenge with a proof that covers the challenge and
//! the name (see the wire format's "Authentication" section): the
//! secret never crosses the wire, a proof is worth nothing on another
//! connection, and no one without the credential can take the name.
//!
//! Over plain TCP this proves who connected, not who else listens: anyone on
//! the path can read the traffic, or relay a live handshake. Use TLS where
//! the path is not trusted.

mod credential;
mod file;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub use credential::{Credential, Verifier};

use crate::protocol::{AuthMethod, NONCE_LEN, Pattern, Proof, SERVICE_SYNC, transcript};
use crate::{Action, Error, ErrorKind, Result};

/// What one client may do on a host: for each [`Action`], the patterns of
/// the channels (or, for [`Action::Join`], the rooms) it is permitted.
/// Refusals reach the client as [`ErrorKind::Forbidden`], and its
/// connection stays open.
///
/// * **Publish**: what it writes to the host or routes to others.
/// * **Subscribe**: what it is sent, by anyone: the host's writes to it,
///   to all, to a room or a group, relays, routes, latched values. A
///   broadcast skips it; a write naming it is refused to the writer
///   (`Forbidden` with `client` set; a host's batch naming it, if any
///   channel in it is not permitted).
/// * **Request**: the host's services (`$clients` lists every client,
///   `$channels` every channel), the host's responders, and other clients'
///   responders through the host (then the client asked must be permitted
///   to subscribe to the channel too); `$sync`, which only confirms the
///   client's own writes, is always permitted.
/// * **Join**: the rooms it may join. Routing to a room is publishing.
///
/// A pattern `camera/**` matches `camera` itself too. Notices of what
/// could not be delivered still say whether a name is connected, and
/// whether a receiver may have a channel.
///
/// ```
/// use socketengine::{Action, Permissions};
///
/// let camera = Permissions::none()
///     .allow(Action::Publish, "camera/**")?
///     .allow(Action::Subscribe, "cmd/camera")?;
/// assert!(camera.permits(Action::Publish, "camera/left"));
/// assert!(!camera.permits(Action::Publish, "cmd/camera"));
/// # Ok::<(), socketengine::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    publish: Vec<Pattern>,
    subscribe: Vec<Pattern>,
    request: Vec<Pattern>,
    join: Vec<Pattern>,
}

impl Permissions {
    /// Nothing permitted (the client can connect, and is sent only what the
    /// host writes to it by name).
    pub fn none() -> Permissions {
        Permissions::default()
    }

    /// Everything permitted: every action on `**`.
    pub fn all() -> Permissions {
        let every = vec![Pattern::new("**").unwrap_or_else(|_| unreachable!())];
        Permissions {
            publish: every.clone(),
            subscribe: every.clone(),
            request: every.clone(),
            join: every,
        }
    }

    /// The same permissions, also allowing `action` on what `pattern` names.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidChannel`] for a malformed pattern.
    pub fn allow(mut self, action: Action, pattern: &str) -> Result<Permissions> {
        let pattern =
            Pattern::new(pattern).map_err(|e| crate::error::invalid_pattern(pattern, &e))?;
        self.list_mut(action).push(pattern);
        Ok(self)
    }

    /// Whether `action` is permitted on `name` (a channel, or a room for
    /// [`Action::Join`]).
    pub fn permits(&self, action: Action, name: &str) -> bool {
        self.list(action).iter().any(|p| p.matches(name))
    }

    fn list(&self, action: Action) -> &[Pattern] {
        match action {
            Action::Publish => &self.publish,
            Action::Subscribe => &self.subscribe,
            Action::Request => &self.request,
            Action::Join => &self.join,
        }
    }

    fn list_mut(&mut self, action: Action) -> &mut Vec<Pattern> {
        match action {
            Action::Publish => &mut self.publish,
            Action::Subscribe => &mut self.subscribe,
            Action::Request => &mut self.request,
            Action::Join => &mut self.join,
        }
    }
}

/// A host's list of the clients it admits: each name with its [`Verifier`]
/// and [`Permissions`]
/// ([`HostBuilder::auth`](crate::HostBuilder::auth)). Its `Debug` lists
/// names, never credentials.
///
/// A client proves its name by answering the host's fresh random challenge
/// with a proof made from its [`Credential`], which covers the challenge and
/// the name: the secret never crosses the wire, a proof is worth nothing on
/// another connection, and no one without the credential can take the name.
/// Over plain TCP this proves who connected, not who else listens: anyone
/// on the path can read the traffic, or relay a live handshake. Use TLS
/// where the path is not trusted.
///
/// # The auth file
///
/// [`Auth::from_file`] (and `socketengine host --auth FILE`) reads one client
/// per line: its name, its verifier, then what it may do: `publish=`,
/// `subscribe=`, `request=` and `rooms=` with comma-separated
/// [patterns](crate::Inbox::subscribe), or `all` for everything. What a line
/// does not list is refused. `#` starts a comment.
///
/// ```text
/// # name    credential                     permissions
/// camera    ed25519:Yb0e…=                 publish=camera/**,status subscribe=cmd/camera/**
/// viewer    ed25519:3kqP…=                 subscribe=camera/**,status request=$channels
/// operator  token-sha256:1ec1c26b…         all
/// robot     x509-sha256:3A:F1:…             publish=robot/**
/// ```
///
/// A name listed with `x509-sha256:` proves itself with that client
/// certificate over mutual TLS (the host's
/// [`TlsServer::require_client_certs`](crate::TlsServer)): its hello names
/// no credential, and the host checks the certificate the TLS handshake
/// verified.
#[derive(Clone, Default)]
pub struct Auth {
    clients: HashMap<String, Entry>,
}

#[derive(Clone)]
struct Entry {
    verifier: Verifier,
    permissions: Arc<Permissions>,
}

impl Auth {
    /// An empty list: a host with it admits no one.
    pub fn new() -> Auth {
        Auth::default()
    }

    /// The same list, admitting `name` when it proves `verifier`'s
    /// credential, with `permissions` (a name listed again is replaced).
    pub fn client(
        mut self,
        name: impl Into<String>,
        verifier: Verifier,
        permissions: Permissions,
    ) -> Auth {
        let permissions = Arc::new(permissions);
        let entry = Entry {
            verifier,
            permissions,
        };
        self.clients.insert(name.into(), entry);
        self
    }

    /// Reads an auth file (see [the file form](Auth#the-auth-file)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Credential`] naming the file, and the line and what is
    /// wrong with it.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Auth> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| credential::credential_error(format!("{}: {e}", path.display())))?;
        Auth::parse(&text).map_err(|e| match e.into_kind() {
            ErrorKind::Credential(why) => {
                credential::credential_error(format!("{}: {why}", path.display()))
            }
            other => Error::new(other),
        })
    }

    /// Reads an auth file's text (see [`from_file`](Self::from_file)).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Credential`] naming the line and what is wrong with it.
    pub fn parse(text: &str) -> Result<Auth> {
        file::parse(text)
    }

    /// How many clients are listed.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether no client is listed.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Whether `name` is listed.
    pub fn contains(&self, name: &str) -> bool {
        self.clients.contains_key(name)
    }

    /// The permissions of `name`, if `proof` (made by `method` over the
    /// transcript of `nonce`, `name` and `binding`) proves its credential.
    pub(crate) fn verify(
        &self,
        name: &str,
        method: AuthMethod,
        nonce: &[u8; NONCE_LEN],
        binding: &[u8],
        proof: &Proof,
    ) -> Option<Arc<Permissions>> {
        let entry = self.clients.get(name);
        let entry = entry.filter(|e| e.verifier.method() == method);
        // A name not listed (or listed for another method) is checked
        // against a decoy of the same method, so how long the answer takes
        // does not tell which names are listed.
        let verifier = entry.map_or_else(|| credential::decoy(method), |e| &e.verifier);
        let proven = verifier.verify(method, &transcript(nonce, name, binding), proof);
        entry.filter(|_| proven).map(|e| Arc::clone(&e.permissions))
    }
}

impl Auth {
    /// The permissions of `name`, if it is listed with the certificate whose
    /// SHA-256 is `certificate` (what the host's mutual TLS verified).
    pub(crate) fn verify_certificate(
        &self,
        name: &str,
        certificate: Option<[u8; 32]>,
    ) -> Option<Arc<Permissions>> {
        let entry = self.clients.get(name)?;
        match (&entry.verifier, certificate) {
            (Verifier::Certificate(listed), Some(presented)) if *listed == presented => {
                Some(Arc::clone(&entry.permissions))
            }
            _ => None,
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.clients.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Auth").field("clients", &names).finish()
    }
}

/// Whether a client with `permissions` (`None`: a host without auth, which
/// permits everything) may do `action` on `name`. A request for `$sync` is
/// always permitted: it only confirms the client's own writes.
pub(crate) fn permits(permissions: Option<&Permissions>, action: Action, name: &str) -> bool {
    match permissions {
        None => true,
        Some(_) if action == Action::Request && name == SERVICE_SYNC => true,
        Some(p) => p.permits(action, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_permit_what_they_list_and_only_that() {
        let p = Permissions::none()
            .allow(Action::Publish, "camera/**")
            .and_then(|p| p.allow(Action::Join, "team/*"))
            .expect("valid patterns");
        let table = [
            (Action::Publish, "camera", true),
            (Action::Publish, "camera/left/raw", true),
            (Action::Publish, "cameras", false),
            (Action::Subscribe, "camera", false),
            (Action::Request, "$clients", false),
            (Action::Join, "team/a", true),
            (Action::Join, "team", false),
        ];
        for (action, name, want) in table {
            assert_eq!(p.permits(action, name), want, "{action} {name}");
        }
        assert!(Permissions::none().allow(Action::Publish, "a*b").is_err());
        assert!(permits(
            Some(&Permissions::none()),
            Action::Request,
            "$sync"
        ));
        assert!(!permits(
            Some(&Permissions::none()),
            Action::Request,
            "$clients"
        ));
        assert!(permits(None, Action::Publish, "anything"));
        assert!(Permissions::all().permits(Action::Join, "any/room"));
    }

    #[test]
    fn only_the_listed_credential_proves_a_listed_name() {
        let key = Credential::generate().expect("a key");
        let auth = Auth::new().client("arm", key.verifier(), Permissions::all());
        let nonce = [3u8; NONCE_LEN];
        let proof = key.prove(&transcript(&nonce, "arm", b""));
        let method = AuthMethod::Ed25519;
        assert!(auth.verify("arm", method, &nonce, b"", &proof).is_some());
        assert!(auth.verify("leg", method, &nonce, b"", &proof).is_none());
        assert!(
            auth.verify("arm", method, &[4; NONCE_LEN], b"", &proof)
                .is_none()
        );
        assert!(auth.verify("arm", method, &nonce, b"tls", &proof).is_none());
        assert!(
            auth.verify("arm", AuthMethod::Token, &nonce, b"", &proof)
                .is_none()
        );
        assert_eq!(format!("{auth:?}"), "Auth { clients: [\"arm\"] }");
    }
}
