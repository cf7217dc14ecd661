//! A TLS host and client configuration for the benches' `engine_tls`
//! pairs: a fresh authority and a host certificate for 127.0.0.1 (rcgen).

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use socketengine::{Client, Host, TlsClient, TlsServer};

use super::harness::TIMEOUT;
use super::harness::engine::Tls;

/// A host's and a client's TLS settings that trust each other.
pub(crate) fn settings() -> Tls {
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("ca key"))
        .expect("ca certificate");
    let key = KeyPair::generate().expect("host key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("host params")
        .signed_by(&key, &ca)
        .expect("host certificate");
    let server = TlsServer::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
        .expect("host TLS settings");
    let client = TlsClient::from_ca_pem(ca.pem().as_bytes()).expect("client TLS settings");
    (server, client)
}

/// A host on a free loopback port speaking TLS with `tls`'s host side.
pub(crate) fn host(tls: &Tls) -> Host {
    Host::builder()
        .addr("127.0.0.1:0")
        .write_timeout(TIMEOUT)
        .tls(tls.0.clone())
        .start()
        .expect("start the bench TLS host")
}

/// A client named `name` of `host`, speaking TLS with `tls`'s client side.
pub(crate) fn client(host: &Host, name: &str, tls: &Tls) -> Client {
    Client::builder()
        .addr(host.local_addr().to_string())
        .name(name)
        .write_timeout(TIMEOUT)
        .tls(tls.1.clone())
        .connect()
        .expect("connect a bench TLS client")
}
