//! A throw-away PKI for the HTTPS tests: one CA, a server certificate for `localhost` and
//! `127.0.0.1`, and a client certificate, all signed by the CA and written as PEM files.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::acs::TlsIdentity;

/// The files (and their contents) [`test_pki`] wrote.
#[derive(Debug, Clone)]
pub struct TestPki {
    pub dir: PathBuf,
    pub ca_cert_pem_path: PathBuf,
    pub ca_cert_pem: String,
    /// Leaf for `localhost` and `127.0.0.1` (serverAuth), signed by the CA.
    pub server_cert_pem_path: PathBuf,
    pub server_cert_pem: String,
    pub server_key_pem_path: PathBuf,
    pub server_key_pem: String,
    /// Leaf with CN `cpe.test` (clientAuth), signed by the CA.
    pub client_cert_pem_path: PathBuf,
    pub client_cert_pem: String,
    pub client_key_pem_path: PathBuf,
    pub client_key_pem: String,
}

impl TestPki {
    /// The ACS's TLS identity (server certificate, no client certificate required).
    pub fn server_identity(&self) -> TlsIdentity {
        TlsIdentity {
            cert_chain_pem: self.server_cert_pem.clone(),
            key_pem: self.server_key_pem.clone(),
            client_ca_pem: None,
        }
    }

    /// The ACS's TLS identity, requiring a client certificate signed by this CA.
    pub fn server_identity_requiring_client_cert(&self) -> TlsIdentity {
        TlsIdentity {
            client_ca_pem: Some(self.ca_cert_pem.clone()),
            ..self.server_identity()
        }
    }
}

/// Generates a fresh CA, server and client certificate (ECDSA P-256) and writes them to `dir`
/// as `ca.pem`, `server.pem`, `server.key`, `client.pem`, `client.key`.
pub fn test_pki(dir: impl AsRef<Path>) -> anyhow::Result<TestPki> {
    let dir = dir.as_ref().to_path_buf();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tr069-client test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut server_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate()?;
    let server_cert = server_params.signed_by(&server_key, &issuer)?;

    let mut client_params = CertificateParams::new(vec!["cpe.test".to_owned()])?;
    client_params
        .distinguished_name
        .push(DnType::CommonName, "cpe.test");
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = KeyPair::generate()?;
    let client_cert = client_params.signed_by(&client_key, &issuer)?;

    let write = |name: &str, text: &str| -> anyhow::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    let ca_cert_pem = ca_cert.pem();
    let server_cert_pem = server_cert.pem();
    let server_key_pem = server_key.serialize_pem();
    let client_cert_pem = client_cert.pem();
    let client_key_pem = client_key.serialize_pem();
    Ok(TestPki {
        ca_cert_pem_path: write("ca.pem", &ca_cert_pem)?,
        server_cert_pem_path: write("server.pem", &server_cert_pem)?,
        server_key_pem_path: write("server.key", &server_key_pem)?,
        client_cert_pem_path: write("client.pem", &client_cert_pem)?,
        client_key_pem_path: write("client.key", &client_key_pem)?,
        dir,
        ca_cert_pem,
        server_cert_pem,
        server_key_pem,
        client_cert_pem,
        client_key_pem,
    })
}
