//! TLS for the relay (`msrps`, RFC 4975 §14, RFC 4976 §9.2): loading the PEM files of a
//! [`TlsConfig`] into rustls configurations (ring provider, TLS 1.2 and 1.3).
//!
//! - [`acceptor`]: the listener's side, presenting the relay's certificate chain; clients are
//!   not asked for a certificate.
//! - [`connector`]: the side of `msrps` next hops. Their certificate must chain to
//!   [`TlsConfig::roots_pem`] and name the URI host, which is also sent as SNI
//!   ([`server_name`]). Without roots there is no connector and `msrps` next hops fail.
//!
//! Mutual TLS between relays (4976-042) is not done yet: the connector presents no certificate.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use msrp::{Host, MsrpUri};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::TlsConfig;

/// Why the TLS configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {source}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: rustls_pki_types::pem::Error,
    },
    /// A PEM file holds no certificate.
    #[error("{0}: no certificate")]
    NoCertificate(PathBuf),
    /// rustls refused the certificates or the key (e.g. the key does not match the leaf).
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The crypto provider: ring (aws-lc is not built).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in the PEM file at `path` (at least one).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |source| TlsError::Pem {
        path: path.to_owned(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

/// The first private key in the PEM file at `path`.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| TlsError::Pem {
        path: path.to_owned(),
        source,
    })
}

/// The acceptor for the `msrps` listener: presents [`TlsConfig::cert_chain_pem`] with
/// [`TlsConfig::key_pem`], asks no client certificate.
pub fn acceptor(cfg: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let certs = load_certs(&cfg.cert_chain_pem)?;
    let key = load_key(&cfg.key_pem)?;
    let server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// The connector for `msrps` next hops, trusting the certificates in
/// [`TlsConfig::roots_pem`]; `None` when no roots are configured.
pub fn connector(cfg: &TlsConfig) -> Result<Option<TlsConnector>, TlsError> {
    let Some(path) = &cfg.roots_pem else {
        return Ok(None);
    };
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert)?;
    }
    let client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(TlsConnector::from(Arc::new(client))))
}

/// The name a next hop's certificate must carry, and the SNI sent to it: the URI's host (a
/// DNS name, or an IP address, for which no SNI is sent).
pub fn server_name(uri: &MsrpUri) -> io::Result<ServerName<'static>> {
    let name = match uri.host() {
        Host::V4(a) => return Ok(ServerName::IpAddress(std::net::IpAddr::V4(a).into())),
        Host::V6(a) => return Ok(ServerName::IpAddress(std::net::IpAddr::V6(a).into())),
        Host::Name(n) => n.to_ascii_lowercase(),
    };
    ServerName::try_from(name)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("next hop host: {e}")))
}
