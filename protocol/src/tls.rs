//! TLS for the client: which certificate authorities it trusts, and telling
//! a refused certificate apart from a network hiccup.
//!
//! The client trusts the system's root certificates (honouring
//! `SSL_CERT_FILE` and `SSL_CERT_DIR`), or, when given a CA file, only the
//! authorities in that file, as `curl --cacert` does. Cryptography is
//! rustls with the `ring` provider; nothing is downloaded, at build or run
//! time.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig, RootCertStore};

/// How a [`Client`](crate::Client) connects, beyond the coordinator's URL.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// PEM file of the certificate authorities to trust for an `https://`
    /// coordinator, instead of the system's roots.
    pub ca_file: Option<PathBuf>,
}

impl ClientOptions {
    /// Trust only the certificate authorities in the PEM file at `path`.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }
}

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The client was given no coordinator URL at all.
    #[error("no coordinator URL given")]
    NoCoordinator,
    /// The CA file could not be read or holds no certificate.
    #[error("cannot use CA file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    /// No root certificate could be loaded from the system.
    #[error(
        "no trusted root certificates found on this system ({0}); install them or name a CA file"
    )]
    NoSystemRoots(String),
    /// rustls refused the configuration (should not happen with its defaults).
    #[error("cannot configure TLS: {0}")]
    Config(#[from] rustls::Error),
}

/// A reqwest client builder with the TLS a [`Client`](crate::Client) uses
/// (rustls with ring; the system's roots, or only `options.ca_file`), for
/// tools that make raw requests beside the typed client. reqwest is built
/// without a TLS provider of its own: a bare `reqwest::Client::new()`
/// panics, so build every client from here.
pub fn http_client_builder(
    base_url: &str,
    options: &ClientOptions,
) -> Result<reqwest::ClientBuilder, SetupError> {
    builder(base_url.starts_with("https://"), options)
}

/// [`http_client_builder`] for coordinators of which some are reached over
/// TLS (`https`) or none are.
pub(crate) fn builder(
    https: bool,
    options: &ClientOptions,
) -> Result<reqwest::ClientBuilder, SetupError> {
    let tls = client_config(https, options)?;
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls))
}

/// The rustls configuration of a client for coordinators of which some are
/// reached over TLS (`https`) or none are. The system's roots are loaded
/// only for TLS without a CA file; a CA file is read whatever the URLs, so
/// a wrong path shows at start-up.
fn client_config(https: bool, options: &ClientOptions) -> Result<ClientConfig, SetupError> {
    let roots = match &options.ca_file {
        Some(path) => roots_from_file(path)?,
        None if https => system_roots()?,
        None => RootCertStore::empty(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // The coordinator speaks HTTP/1.1.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn roots_from_file(path: &Path) -> Result<RootCertStore, SetupError> {
    let ca_file_error = |reason: String| SetupError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ca_file_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(ca_file_error("it holds no PEM certificate".to_owned()));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| ca_file_error(format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, SetupError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = match found.errors.first() {
            Some(error) => error.to_string(),
            None => "the system's certificate store is empty".to_owned(),
        };
        return Err(SetupError::NoSystemRoots(why));
    }
    Ok(roots)
}

/// A TLS failure found among the causes of a transport error.
#[derive(Debug)]
pub(crate) enum TlsFailure {
    /// The coordinator's certificate was refused; the text says why.
    Untrusted(String),
    /// The handshake failed otherwise (no TLS on that port, no common version…).
    Handshake(String),
}

/// Looks through `error`'s causes for a rustls error. (An `io::Error`
/// hides the error it wraps from `source()`, so it is opened by hand.)
pub(crate) fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
    let mut next = Some(error);
    while let Some(cause) = next {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(describe(tls));
        }
        if let Some(inner) = cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && let Some(found) = tls_failure(inner)
        {
            return Some(found);
        }
        next = cause.source();
    }
    None
}

fn describe(error: &rustls::Error) -> TlsFailure {
    let certificate = match error {
        rustls::Error::InvalidCertificate(certificate) => certificate,
        rustls::Error::InvalidMessage(_) => {
            return TlsFailure::Handshake(format!(
                "the server did not answer in TLS ({error}); if it speaks plain HTTP, use an http:// URL"
            ));
        }
        other => return TlsFailure::Handshake(other.to_string()),
    };
    let reason = match certificate {
        CertificateError::UnknownIssuer => {
            "it is not signed by a certificate authority this client trusts".to_owned()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "it is not valid for the coordinator's host name".to_owned()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "it has expired".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "it is not valid yet (check the clocks)".to_owned()
        }
        CertificateError::Revoked => "it has been revoked".to_owned(),
        other => format!("{other:?}"),
    };
    TlsFailure::Untrusted(reason)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_refused_by_name() {
        let options = ClientOptions::default().ca_file("/no/such/ca.pem");
        let err = client_config(true, &options).unwrap_err().to_string();
        assert!(err.contains("/no/such/ca.pem"), "{err}");
        let mut empty = tempfile::NamedTempFile::new().unwrap();
        writeln!(empty, "not a certificate").unwrap();
        let options = ClientOptions::default().ca_file(empty.path());
        let err = client_config(false, &options).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
    }

    #[test]
    fn plain_http_needs_no_roots() {
        assert!(client_config(false, &ClientOptions::default()).is_ok());
    }

    #[test]
    fn certificate_errors_are_found_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::other(tls);
        match tls_failure(&io) {
            Some(TlsFailure::Untrusted(reason)) => {
                assert!(reason.contains("not signed"), "{reason}")
            }
            other => panic!("expected an untrusted certificate, got {other:?}"),
        }
        let plain = std::io::Error::other("connection reset");
        assert!(tls_failure(&plain).is_none());
        let handshake = std::io::Error::other(rustls::Error::HandshakeNotComplete);
        assert!(matches!(
            tls_failure(&handshake),
            Some(TlsFailure::Handshake(_))
        ));
    }
}
