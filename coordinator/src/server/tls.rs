//! Serving HTTPS: the certificate chain and key come from PEM files and are
//! read again on SIGHUP. A new handshake gets the certificate in force when
//! it starts; open connections keep theirs. A reload that fails (a missing
//! file, a key that does not match) keeps the current certificate.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// The certificate the server presents, replaceable while it runs.
#[derive(Debug)]
pub struct CertStore {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    /// Reads the certificate chain at `cert` and its private key at `key`.
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<Self>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = read_pair(&provider, cert, key)?;
        tracing::info!(
            cert = %cert.display(),
            sha256 = %fingerprint(&certified),
            "TLS certificate loaded"
        );
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            provider,
            current: RwLock::new(Arc::new(certified)),
        }))
    }

    /// Reads both files again and, if they make a valid pair, presents the
    /// new certificate from the next handshake on. Returns the new
    /// certificate's SHA-256 fingerprint (hex).
    pub fn reload(&self) -> anyhow::Result<String> {
        let certified = read_pair(&self.provider, &self.cert, &self.key)?;
        let fingerprint = fingerprint(&certified);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(certified);
        Ok(fingerprint)
    }

    /// An acceptor that presents this store's current certificate.
    pub fn acceptor(self: &Arc<Self>) -> anyhow::Result<TlsAcceptor> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .context("failed to choose TLS versions")?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        // The server speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

/// Reloads `store` on every SIGHUP until `stop` fires; without TLS (`None`),
/// notes the signal and carries on (its default action would end the process).
pub async fn reload_on_sighup(store: Option<Arc<CertStore>>, stop: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGHUP; the TLS certificate will not be reloaded");
            return;
        }
    };
    while let Some(Some(())) = stop.run_until_cancelled(hangups.recv()).await {
        // Without TLS there is nothing to reload, but SIGHUP (a logrotate
        // or `systemctl reload`) must not kill the coordinator either.
        let Some(store) = &store else {
            tracing::info!("SIGHUP: serving plain HTTP, no certificate to reload");
            continue;
        };
        let reloading = Arc::clone(store);
        match tokio::task::spawn_blocking(move || reloading.reload()).await {
            Ok(Ok(sha256)) => tracing::info!(%sha256, "TLS certificate reloaded"),
            Ok(Err(error)) => tracing::error!(
                error = format!("{error:#}"),
                "failed to reload the TLS certificate; keeping the current one"
            ),
            Err(error) => tracing::error!(%error, "the TLS certificate reload panicked"),
        }
    }
}

fn read_pair(provider: &CryptoProvider, cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| {
            format!(
                "failed to read the certificate chain from {}",
                cert.display()
            )
        })?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no PEM certificate",
        cert.display()
    );
    let der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("failed to read a private key from {}", key.display()))?;
    let signing_key = provider
        .key_provider
        .load_private_key(der)
        .with_context(|| format!("{} is not a usable private key", key.display()))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified.keys_match().with_context(|| {
        format!(
            "the key in {} does not belong to the certificate in {}",
            key.display(),
            cert.display()
        )
    })?;
    Ok(certified)
}

/// SHA-256 of the leaf certificate, in hex, as `openssl x509 -fingerprint -sha256` shows it (without colons).
fn fingerprint(certified: &CertifiedKey) -> String {
    let leaf = certified.cert.first().map_or(&[][..], |cert| cert.as_ref());
    Sha256::digest(leaf)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}
