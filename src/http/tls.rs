//! rustls client configuration (ring provider): webpki roots plus an optional CA file, an optional
//! client certificate, and an explicit `insecure` lab mode.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// TLS settings for `https://` URLs.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// Extra trusted CA certificates (PEM, one or several), on top of the compiled-in webpki roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate for mutual TLS.
    pub client_certificate: Option<ClientCertificate>,
    /// Lab mode: accept any server certificate. Logged as a warning on every connection setup.
    pub insecure: bool,
}

/// A PEM certificate chain (leaf first) and its PEM private key (PKCS#8, PKCS#1 or SEC1).
/// Both may name the same file when it holds the certificate and the key.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub cert_chain_pem: PathBuf,
    pub private_key_pem: PathBuf,
}

/// Unusable TLS settings (unreadable CA file or client certificate); the message is a complete
/// sentence naming the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsConfigError(pub String);

/// Builds the client configuration (ALPN `http/1.1`).
pub fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError(format!("TLS setup failed: {e}")))?;
    let builder = if settings.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert { provider }))
    } else {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(ca_file) = &settings.ca_file {
            let added = add_ca_file(&mut roots, ca_file)?;
            tracing::debug!(ca_file = %ca_file.display(), added, "loaded ACS CA certificates");
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match &settings.client_certificate {
        Some(cc) => {
            let chain = load_cert_chain(&cc.cert_chain_pem)?;
            let key = PrivateKeyDer::from_pem_file(&cc.private_key_pem).map_err(|e| {
                TlsConfigError(format!(
                    "TLS: cannot read the client private key from {}: {e}",
                    cc.private_key_pem.display()
                ))
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                TlsConfigError(format!(
                    "TLS: the client certificate {} and key {} are unusable: {e}",
                    cc.cert_chain_pem.display(),
                    cc.private_key_pem.display()
                ))
            })?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<usize, TlsConfigError> {
    let certs = read_certs(path, "CA file")?;
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TlsConfigError(format!(
            "TLS: the CA file {} holds no usable certificate",
            path.display()
        )));
    }
    Ok(added)
}

fn load_cert_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    read_certs(path, "client certificate")
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let err = |e: &dyn std::fmt::Display| {
        TlsConfigError(format!(
            "TLS: cannot read the {what} {}: {e}",
            path.display()
        ))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(&e))?;
    if certs.is_empty() {
        return Err(err(&"no PEM certificate in it"));
    }
    Ok(certs)
}

/// Lab mode: accepts any server certificate (signatures are still checked, so the handshake is
/// with whoever holds the presented key — but nobody vouches for that key).
#[derive(Debug)]
struct AcceptAnyServerCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_builds_with_alpn() {
        let cfg = client_config(&TlsSettings::default()).unwrap();
        assert_eq!(cfg.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn missing_files_are_config_errors_naming_the_file() {
        let s = TlsSettings {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsSettings::default()
        };
        let e = client_config(&s).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let s = TlsSettings {
            client_certificate: Some(ClientCertificate {
                cert_chain_pem: "/nonexistent/c.pem".into(),
                private_key_pem: "/nonexistent/k.pem".into(),
            }),
            ..TlsSettings::default()
        };
        let e = client_config(&s).unwrap_err();
        assert!(e.to_string().contains("client certificate"), "{e}");
    }
}
