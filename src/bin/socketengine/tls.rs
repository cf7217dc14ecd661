//! The TLS options: a host's certificate and key (and the authority its
//! clients' certificates must come from), a client's trusted authority,
//! server name and certificate. Files are read once at start; what they
//! hold is never printed (errors name the file and what is wrong with it).

use std::path::PathBuf;

use clap::Args;
use socketengine::{ClientBuilder, HostBuilder, TlsClient, TlsServer};

use crate::lib;

/// TLS options of `socketengine host`.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct HostTls {
    /// Speak TLS 1.3 with the certificate chain in FILE (PEM, leaf first);
    /// needs --tls-key. Clients then need --tls-ca.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Admit only clients with a certificate from the authority in FILE
    /// (PEM): mutual TLS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
}

impl HostTls {
    /// `builder`, speaking TLS if asked to.
    pub(crate) fn apply(&self, builder: HostBuilder) -> anyhow::Result<HostBuilder> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(builder);
        };
        let mut tls = TlsServer::from_pem_files(cert, key).map_err(tls_error)?;
        if let Some(ca) = &self.tls_client_ca {
            tls = tls.require_client_certs(ca).map_err(tls_error)?;
        }
        Ok(builder.tls(tls))
    }

    /// How the host is reached, for its first line: "" or " (TLS ...)".
    pub(crate) fn describe(&self) -> &'static str {
        match (&self.tls_cert, &self.tls_client_ca) {
            (None, _) => "",
            (Some(_), None) => " (TLS)",
            (Some(_), Some(_)) => " (TLS, client certificates required)",
        }
    }
}

/// TLS options of the commands that connect as a client.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct ClientTls {
    /// Speak TLS 1.3, trusting the authority certificates in FILE (PEM) to
    /// vouch for the host.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// The name the host's certificate must be valid for (default: the
    /// host part of the address).
    #[arg(long, value_name = "NAME", requires = "tls_ca")]
    tls_name: Option<String>,
    /// Present the certificate chain in FILE (PEM, leaf first) to a host
    /// that requires one (mutual TLS); needs --tls-key.
    #[arg(long, value_name = "FILE", requires_all = ["tls_ca", "tls_key"])]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl ClientTls {
    /// `builder`, speaking TLS if asked to.
    pub(crate) fn apply(&self, builder: ClientBuilder) -> anyhow::Result<ClientBuilder> {
        let Some(ca) = &self.tls_ca else {
            return Ok(builder);
        };
        let mut tls = TlsClient::from_ca_file(ca).map_err(tls_error)?;
        if let Some(name) = &self.tls_name {
            tls = tls.server_name(name.as_str()).map_err(tls_error)?;
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            tls = tls.client_cert(cert, key).map_err(tls_error)?;
        }
        Ok(builder.tls(tls))
    }
}

fn tls_error(err: socketengine::TlsError) -> anyhow::Error {
    lib(err.into())
}
