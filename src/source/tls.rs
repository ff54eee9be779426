//! TLS for every broker source (`tls://` and `nats+tls://`, `mqtts://`, `amqps://`,
//! `rediss://`): one rustls client configuration, built the same way for all four, with
//! ring as the crypto provider.
//!
//! The server's certificate is verified against the platform's trusted roots plus, with
//! `?ca=FILE`, the CA certificates of a PEM file (a private CA). `?insecure=1` skips the
//! verification (chain and host name; the handshake's signatures are still checked), and
//! the source's status says so for as long as it runs.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// How a TLS source checks the server (the `?ca=` and `?insecure=` URL options).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// A PEM file of CA certificates trusted besides the platform's roots.
    pub ca_file: Option<PathBuf>,
    /// Skip the verification of the server's certificate.
    pub insecure: bool,
}

impl TlsOptions {
    /// What the source's status shows about its transport.
    pub fn note(&self) -> &'static str {
        if self.insecure { INSECURE_NOTE } else { "TLS" }
    }
}

/// The status note of a source that does not verify the server's certificate.
pub const INSECURE_NOTE: &str =
    "TLS, certificate verification OFF (insecure=1): the server is not authenticated";

fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The platform's trusted roots, loaded once (unreadable ones are skipped).
fn platform_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!("platform certificates: {e}");
        }
        found.certs
    })
}

/// The CA certificates of a PEM file.
pub fn read_ca_file(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("ca={shown}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("ca={shown}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("ca={shown}: no PEM certificate in the file"));
    }
    Ok(certs)
}

/// The client configuration for these options: verifying against the platform's roots and
/// the CA file, or not verifying at all.
pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let config = if opts.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(platform_roots().iter().cloned());
        if let Some(path) = &opts.ca_file {
            for cert in read_ca_file(path)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("ca={}: {e}", path.display()))?;
            }
        }
        if roots.is_empty() {
            return Err(
                "TLS: no trusted root certificates on this machine: give ?ca=FILE (the server's CA)"
                    .into(),
            );
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// The server name to verify a host against (a DNS name or an IP address).
pub fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_string()).map_err(|e| format!("TLS: host {host:?}: {e}"))
}

/// A TCP connection to `host:port` with the TLS handshake done (for the clients that take a
/// stream rather than a configuration).
pub async fn connect(
    host: &str,
    port: u16,
    config: Arc<ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let name = server_name(host)?;
    let tcp = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let _ = tcp.set_nodelay(true);
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))
}

/// A client error, with what to do about it when it is the server's certificate that
/// failed the verification.
pub fn explain(error: String) -> String {
    let lower = error.to_ascii_lowercase();
    if lower.contains("certificate") && !lower.contains("give ?ca=") {
        format!(
            "{error} (the server's TLS certificate could not be verified: give ?ca=FILE with \
             the CA that signed it, or ?insecure=1 to connect without verifying)"
        )
    } else {
        error
    }
}

/// Accepts any certificate (`?insecure=1`); the handshake signatures are still checked, so
/// the connection is encrypted, but the server is not authenticated.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_ca_file_is_a_clear_error() {
        let e = client_config(&TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            insecure: false,
        })
        .expect_err("no such file");
        assert!(e.starts_with("ca=/nonexistent/ca.pem:"), "{e}");
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let e = read_ca_file(&empty).expect_err("no certificate");
        assert!(e.contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn insecure_needs_no_roots_and_says_so() {
        let opts = TlsOptions {
            ca_file: None,
            insecure: true,
        };
        assert!(client_config(&opts).is_ok());
        assert!(opts.note().contains("verification OFF"));
        assert_eq!(TlsOptions::default().note(), "TLS");
    }

    #[test]
    fn a_certificate_error_says_what_to_do() {
        let e = explain("invalid peer certificate: UnknownIssuer".into());
        assert!(e.contains("?ca=FILE") && e.contains("?insecure=1"), "{e}");
        assert_eq!(explain(e.clone()), e);
        assert_eq!(explain("connection refused".into()), "connection refused");
    }
}
