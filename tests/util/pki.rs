//! Certificates for the TLS tests, made fresh by rcgen: an authority, a host
//! certificate for `localhost` and `127.0.0.1`, client certificates.

#![allow(dead_code)]

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// A certificate and its key, as PEM.
pub(crate) struct Pem {
    pub(crate) cert: String,
    pub(crate) key: String,
}

/// An authority that signs host and client certificates.
pub(crate) struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Authority {
    pub(crate) fn new(name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().expect("ca key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("ca certificate");
        Authority { issuer }
    }

    /// The authority's own certificate, as PEM: what a peer trusts.
    pub(crate) fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate valid for `names` (DNS names or IP addresses).
    pub(crate) fn issue(&self, names: &[&str]) -> Pem {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = CertificateParams::new(names).expect("leaf params");
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// A host certificate for `localhost` and `127.0.0.1`.
    pub(crate) fn host(&self) -> Pem {
        self.issue(&["localhost", "127.0.0.1"])
    }
}
