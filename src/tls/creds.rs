//! The TLS credentials a host and a client are configured with, read from
//! PEM files or from PEM in memory, and the rustls configurations made of them.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::TlsError;

/// The plaintext and ciphertext rustls may buffer per connection and
/// direction; the engine sets it on every session.
pub(crate) const SESSION_BUFFER: usize = 64 << 10;

/// What a handle was configured with: a host's side or a client's.
#[derive(Clone, Debug)]
pub(crate) enum Tls {
    Server(TlsServer),
    Client(TlsClient),
}

/// A host's TLS settings: its certificate chain and private key, and, for
/// mutual TLS, the authority its clients' certificates must chain to.
///
/// Give it to [`HostBuilder::tls`](crate::HostBuilder::tls). TLS 1.3 only.
///
/// # Examples
///
/// A host and a client on loopback over TLS, with a self-signed certificate
/// made on the spot (in practice: `from_pem_files("host.crt", "host.key")`,
/// and the authority's certificate on the client):
///
/// ```
/// use socketengine::{Client, Host, TlsClient, TlsServer};
///
/// let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])?;
/// let (cert, key) = (made.cert.pem(), made.signing_key.serialize_pem());
///
/// let tls = TlsServer::from_pem(cert.as_bytes(), key.as_bytes())?;
/// let host = Host::builder().addr("127.0.0.1:0").tls(tls).start()?;
/// let client = Client::builder()
///     .addr(host.local_addr().to_string())
///     .tls(TlsClient::from_ca_pem(cert.as_bytes())?)
///     .connect()?;
/// client.write_confirmed("pose", "x=1")?;
/// assert_eq!(&host.get("pose").unwrap().payload()[..], b"x=1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Mutual TLS: only clients with a certificate from `clients-ca.crt` get in.
///
/// ```no_run
/// use socketengine::TlsServer;
///
/// let tls = TlsServer::from_pem_files("host.crt", "host.key")?
///     .require_client_certs("clients-ca.crt")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TlsServer {
    chain: Vec<CertificateDer<'static>>,
    /// Shared, not copied, by clones: the one copy of the key in memory
    /// besides rustls's own.
    key: Arc<PrivateKeyDer<'static>>,
    client_roots: Option<Arc<RootCertStore>>,
    /// Built from the above whenever they change, so a mistake shows where
    /// it is made; shared by every session.
    config: Arc<ServerConfig>,
}

impl TlsServer {
    /// Reads the certificate chain (leaf first) and the private key (PKCS#8,
    /// PKCS#1 or SEC1) from PEM files.
    ///
    /// # Errors
    ///
    /// [`TlsError::File`] naming the file that cannot be read or holds no
    /// certificate or key; [`TlsError::Config`] for a key that does not fit
    /// the certificate.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsServer, TlsError> {
        let chain = certs_from_file("certificate file", cert.as_ref())?;
        let key = key_from_file(key.as_ref())?;
        TlsServer::new(chain, key, None)
    }

    /// As [`from_pem_files`](Self::from_pem_files), from PEM text in memory.
    ///
    /// # Errors
    ///
    /// [`TlsError::Pem`] or [`TlsError::Config`].
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<TlsServer, TlsError> {
        let chain = certs_from_pem("certificate", cert)?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| pem_error("private key", &e))?;
        TlsServer::new(chain, key, None)
    }

    /// Requires every client to present a certificate that chains to an
    /// authority in `ca_file` (PEM; mutual TLS). A client without one, or
    /// with another, fails the TLS handshake and never reaches the hello.
    ///
    /// # Errors
    ///
    /// [`TlsError::File`] if the file cannot be read or holds no certificate.
    pub fn require_client_certs(self, ca_file: impl AsRef<Path>) -> Result<TlsServer, TlsError> {
        let roots = certs_from_file("CA file", ca_file.as_ref())?;
        self.with_client_roots(roots)
    }

    /// As [`require_client_certs`](Self::require_client_certs), from PEM
    /// text in memory.
    ///
    /// # Errors
    ///
    /// [`TlsError::Pem`] or [`TlsError::Config`].
    pub fn require_client_certs_pem(self, ca: &[u8]) -> Result<TlsServer, TlsError> {
        let roots = certs_from_pem("CA certificate", ca)?;
        self.with_client_roots(roots)
    }

    fn with_client_roots(self, roots: Vec<CertificateDer<'static>>) -> Result<TlsServer, TlsError> {
        let store = root_store(roots)?;
        TlsServer::new(self.chain, self.key.clone_key(), Some(Arc::new(store)))
    }

    fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        client_roots: Option<Arc<RootCertStore>>,
    ) -> Result<TlsServer, TlsError> {
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(config_error)?;
        let builder = match &client_roots {
            Some(roots) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::clone(roots), provider)
                        .build()
                        .map_err(|e| TlsError::Config(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(config_error)?;
        // No resumption: a reconnecting client makes a full handshake (and
        // no tickets cross the wire after each one).
        config.send_tls13_tickets = 0;
        Ok(TlsServer {
            chain,
            key: Arc::new(key),
            client_roots,
            config: Arc::new(config),
        })
    }

    pub(crate) fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }
}

/// Shows what is configured, never the key.
impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsServer")
            .field("certificates", &self.chain.len())
            .field("key", &"<hidden>")
            .field("client_certs_required", &self.client_roots.is_some())
            .finish()
    }
}

/// A client's TLS settings: the authority the host's certificate must
/// chain to, the name it must be valid for, and, for mutual TLS, the
/// client's own certificate and key.
///
/// Give it to [`ClientBuilder::tls`](crate::ClientBuilder::tls). TLS 1.3 only.
///
/// # Examples
///
/// ```no_run
/// use socketengine::{Client, TlsClient};
///
/// let tls = TlsClient::from_ca_file("ca.crt")?.server_name("camera-host.local")?;
/// let client = Client::builder().addr("10.0.0.2:8080").tls(tls).connect()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TlsClient {
    roots: Arc<RootCertStore>,
    /// The client's chain and key, for mutual TLS.
    identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
    /// The name the host's certificate must be valid for; `None`: the host
    /// part of the address connected to.
    name: Option<ServerName<'static>>,
    config: Arc<ClientConfig>,
}

impl TlsClient {
    /// Trusts the authorities in `ca_file` (PEM) to vouch for hosts.
    ///
    /// # Errors
    ///
    /// [`TlsError::File`] if the file cannot be read or holds no certificate.
    pub fn from_ca_file(ca_file: impl AsRef<Path>) -> Result<TlsClient, TlsError> {
        let roots = certs_from_file("CA file", ca_file.as_ref())?;
        TlsClient::new(Arc::new(root_store(roots)?), None, None)
    }

    /// As [`from_ca_file`](Self::from_ca_file), from PEM text in memory.
    ///
    /// # Errors
    ///
    /// [`TlsError::Pem`] or [`TlsError::Config`].
    pub fn from_ca_pem(ca: &[u8]) -> Result<TlsClient, TlsError> {
        let roots = certs_from_pem("CA certificate", ca)?;
        TlsClient::new(Arc::new(root_store(roots)?), None, None)
    }

    /// The name the host's certificate must be valid for (a DNS name or an
    /// IP address). Default: the host part of the address connected to.
    ///
    /// # Errors
    ///
    /// [`TlsError::Config`] if `name` is neither.
    pub fn server_name(mut self, name: impl Into<String>) -> Result<TlsClient, TlsError> {
        let name = ServerName::try_from(name.into())
            .map_err(|e| TlsError::Config(format!("server name: {e}")))?;
        self.name = Some(name);
        Ok(self)
    }

    /// Presents the certificate chain in `cert` (leaf first) with the key in
    /// `key` (PEM files) to hosts that ask for one: mutual TLS.
    ///
    /// # Errors
    ///
    /// [`TlsError::File`] naming the file that cannot be read or holds no
    /// certificate or key; [`TlsError::Config`] for a key that does not fit.
    pub fn client_cert(
        self,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsClient, TlsError> {
        let chain = certs_from_file("certificate file", cert.as_ref())?;
        let key = key_from_file(key.as_ref())?;
        TlsClient::new(self.roots, Some((chain, Arc::new(key))), self.name)
    }

    /// As [`client_cert`](Self::client_cert), from PEM text in memory.
    ///
    /// # Errors
    ///
    /// [`TlsError::Pem`] or [`TlsError::Config`].
    pub fn client_cert_pem(self, cert: &[u8], key: &[u8]) -> Result<TlsClient, TlsError> {
        let chain = certs_from_pem("certificate", cert)?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| pem_error("private key", &e))?;
        TlsClient::new(self.roots, Some((chain, Arc::new(key))), self.name)
    }

    fn new(
        roots: Arc<RootCertStore>,
        identity: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
        name: Option<ServerName<'static>>,
    ) -> Result<TlsClient, TlsError> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .with_root_certificates(Arc::clone(&roots));
        let config = match &identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(config_error)?,
            None => builder.with_no_client_auth(),
        };
        Ok(TlsClient {
            roots,
            identity,
            name,
            config: Arc::new(config),
        })
    }

    pub(crate) fn config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.config)
    }

    /// Takes the server name from `addr` (`host:port`, as the client was
    /// given it) unless one was set.
    pub(crate) fn name_from(&mut self, addr: &str) -> Result<(), TlsError> {
        if self.name.is_none() {
            self.name = Some(server_name_of(addr)?);
        }
        Ok(())
    }

    /// The name the host's certificate must be valid for.
    pub(crate) fn name(&self) -> Result<ServerName<'static>, TlsError> {
        self.name
            .clone()
            .ok_or(TlsError::Config("no server name".to_owned()))
    }
}

/// Shows what is configured, never the key.
impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("authorities", &self.roots.len())
            .field("server_name", &self.name)
            .field("client_cert", &self.identity.is_some())
            .finish()
    }
}

/// The server name in `addr` (`host:port`, `[v6]:port`): its host part.
pub(crate) fn server_name_of(addr: &str) -> Result<ServerName<'static>, TlsError> {
    let host = match addr.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .map_err(|e| TlsError::Config(format!("server name from {addr:?}: {e}")))
}

/// The crypto of every configuration: ring's, TLS 1.3 only.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(err: rustls::Error) -> TlsError {
    TlsError::Config(err.to_string())
}

fn root_store(roots: Vec<CertificateDer<'static>>) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in roots {
        store.add(cert).map_err(config_error)?;
    }
    Ok(store)
}

fn certs_from_file(
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_error = |reason: String| TlsError::File {
        what,
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(pem_reason(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(pem_reason(&e)))?;
    match certs.is_empty() {
        true => Err(file_error("no certificate in it".to_owned())),
        false => Ok(certs),
    }
}

fn certs_from_pem(
    what: &'static str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(what, &e))?;
    match certs.is_empty() {
        true => Err(TlsError::Pem {
            what,
            reason: "no certificate in it".to_owned(),
        }),
        false => Ok(certs),
    }
}

fn key_from_file(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        what: "private key file",
        path: path.to_owned(),
        reason: pem_reason(&e),
    })
}

fn pem_error(what: &'static str, err: &rustls::pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        what,
        reason: pem_reason(err),
    }
}

/// Why PEM is unusable, in words that quote none of it.
fn pem_reason(err: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match err {
        Error::NoItemsFound => "no item of this kind in it".to_owned(),
        Error::Io(e) => e.to_string(),
        Error::MissingSectionEnd { .. } => "a PEM section has no end line".to_owned(),
        Error::IllegalSectionStart { .. } => "a PEM section start line is malformed".to_owned(),
        Error::Base64Decode(_) => "a PEM section is not valid base64".to_owned(),
        _ => "not valid PEM".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_come_from_the_host_part() {
        for (addr, name) in [
            ("127.0.0.1:8080", "127.0.0.1"),
            ("localhost:1", "localhost"),
            ("[::1]:9", "::1"),
            ("camera.local", "camera.local"),
        ] {
            let got = server_name_of(addr).expect("a name");
            assert_eq!(got.to_str(), name, "{addr}");
        }
        assert!(server_name_of("bad name:80").is_err());
    }

    #[test]
    fn errors_name_the_file_and_never_its_contents() {
        let err = TlsServer::from_pem(b"not pem", b"-----BEGIN PRIVATE KEY-----\nsecret")
            .expect_err("no certificate");
        assert!(!err.to_string().contains("secret"), "{err}");
        let missing = TlsClient::from_ca_file("/nonexistent/ca.pem").expect_err("no file");
        assert!(
            matches!(
                missing,
                TlsError::File {
                    what: "CA file",
                    ..
                }
            ),
            "{missing}"
        );
        assert!(
            missing.to_string().contains("/nonexistent/ca.pem"),
            "{missing}"
        );
    }
}
