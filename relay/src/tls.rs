//! TLS for the relay (`msrps`, RFC 4975 §14, RFC 4976 §9.2): loading the PEM files of a
//! [`TlsConfig`] into rustls configurations (ring provider, TLS 1.2 and 1.3).
//!
//! RFC 4976 §9.2 (4976-042): a relay is a TLS server with a dnsName SubjectAltName matching its
//! URI host; relay-to-relay hops use mutual TLS; clients send SNI and SHOULD present an empty
//! certificate list.
//!
//! - [`acceptor`]: the listener's side, presenting the relay's certificate chain. Peers are
//!   asked for a certificate as [`TlsConfig::client_auth`] says, verified by rustls'
//!   [`WebPkiClientVerifier`] against [`TlsConfig::client_roots_pem`]:
//!   [`ClientAuth::Optional`] accepts a peer without one (an ordinary MSRP client) but fails the
//!   handshake of one whose certificate does not verify; [`ClientAuth::Required`] accepts only
//!   peers with a valid certificate (other relays).
//! - [`connector`]: the side of `msrps` next hops. Their certificate must chain to
//!   [`TlsConfig::roots_pem`] and name the URI host, which is also sent as SNI
//!   ([`server_name`]). The relay presents its own certificate chain as client certificate
//!   (mutual TLS), unless [`TlsConfig::present_client_cert`] is off. Without roots there is no
//!   connector and `msrps` next hops fail.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use msrp::{Host, MsrpUri};
use rustls::server::{VerifierBuilderError, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::{ClientAuth, TlsConfig};

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
    /// [`ClientAuth::Required`] without [`TlsConfig::client_roots_pem`]: no client certificate
    /// could ever verify.
    #[error("TLS: client certificates are required but no client roots are configured")]
    NoClientRoots,
    /// The client certificate verifier could not be built from
    /// [`TlsConfig::client_roots_pem`] (e.g. no usable trust anchor).
    #[error("TLS client roots: {0}")]
    ClientVerifier(#[from] VerifierBuilderError),
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

/// The certificates in the PEM file at `path`, as a root store.
fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(path)? {
        roots.add(cert)?;
    }
    Ok(roots)
}

/// The acceptor for the `msrps` listener: presents [`TlsConfig::cert_chain_pem`] with
/// [`TlsConfig::key_pem`], and asks peers for a certificate as [`TlsConfig::client_auth`] says
/// (RFC 4976 §9.2, 4976-042), verifying it against [`TlsConfig::client_roots_pem`]:
///
/// - [`ClientAuth::None`], or [`ClientAuth::Optional`] without client roots: none asked;
/// - [`ClientAuth::Optional`]: asked, a peer without one accepted, one whose certificate does
///   not verify refused (`allow_unauthenticated`);
/// - [`ClientAuth::Required`]: every peer must present a valid one; without client roots this
///   is [`TlsError::NoClientRoots`].
pub fn acceptor(cfg: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let certs = load_certs(&cfg.cert_chain_pem)?;
    let key = load_key(&cfg.key_pem)?;
    let verifier = match (cfg.client_auth, &cfg.client_roots_pem) {
        (ClientAuth::None, _) | (ClientAuth::Optional, None) => {
            WebPkiClientVerifier::no_client_auth()
        }
        (ClientAuth::Required, None) => return Err(TlsError::NoClientRoots),
        (mode, Some(path)) => {
            let builder = WebPkiClientVerifier::builder_with_provider(
                Arc::new(load_roots(path)?),
                provider(),
            );
            match mode {
                ClientAuth::Optional => builder.allow_unauthenticated().build()?,
                _ => builder.build()?,
            }
        }
    };
    let server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// The connector for `msrps` next hops, trusting the certificates in
/// [`TlsConfig::roots_pem`], and presenting [`TlsConfig::cert_chain_pem`] with
/// [`TlsConfig::key_pem`] as client certificate (RFC 4976 §9.2, 4976-042: mutual TLS between
/// relays) unless [`TlsConfig::present_client_cert`] is off; `None` when no roots are
/// configured. The SNI is the next hop's host ([`server_name`]).
pub fn connector(cfg: &TlsConfig) -> Result<Option<TlsConnector>, TlsError> {
    let Some(path) = &cfg.roots_pem else {
        return Ok(None);
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(load_roots(path)?);
    let client = if cfg.present_client_cert {
        let certs = load_certs(&cfg.cert_chain_pem)?;
        let key = load_key(&cfg.key_pem)?;
        builder.with_client_auth_cert(certs, key)?
    } else {
        builder.with_no_client_auth()
    };
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
