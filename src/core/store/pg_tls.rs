//! TLS to Postgres with rustls (no OpenSSL), and the libpq parameters fks reads itself.
//!
//! tokio-postgres knows `sslmode=disable|prefer|require` but refuses `verify-ca`,
//! `verify-full` and `sslrootcert`. fks takes `sslmode` and `sslrootcert` out of the URL (or
//! from `PGSSLMODE` / `PGSSLROOTCERT`), hands tokio-postgres the rest, and decides itself
//! what the server's certificate must prove, as libpq does:
//! - `disable`: no TLS. `prefer` (the default): TLS when the server offers it, unverified.
//! - `require`: TLS or nothing, unverified (encryption only); with an explicit
//!   `sslrootcert` it verifies the chain like `verify-ca`, as libpq does.
//! - `verify-ca`: the chain must lead to a trusted root. `verify-full`: that, and the host
//!   name (or IP address) of the URL must be in the certificate.
//!
//! Roots: the `sslrootcert` PEM file (one or more certificates), else the system's.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            // libpq's `allow` tries plain first, then TLS; fks treats it as `prefer`.
            "allow" => SslMode::Prefer,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// A postgres URL with the parameters fks handles itself taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsParams {
    /// The URL for tokio-postgres: without `sslmode` and `sslrootcert`.
    pub driver_url: String,
    pub sslmode: SslMode,
    pub sslrootcert: Option<String>,
}

/// Split `sslmode` / `sslrootcert` off a URL; the URL wins over the environment
/// (`PGSSLMODE`, `PGSSLROOTCERT`), as in libpq.
pub fn split_url(
    url: &str,
    env_sslmode: Option<&str>,
    env_rootcert: Option<&str>,
) -> Result<TlsParams, String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut mode: Option<String> = None;
    let mut root: Option<String> = None;
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => mode = Some(percent_decode(v)),
            "sslrootcert" => root = Some(percent_decode(v)),
            _ => kept.push(pair),
        }
    }
    let (mode, from) = match (mode, env_sslmode.filter(|s| !s.is_empty())) {
        (Some(m), _) => (m, "sslmode"),
        (None, Some(e)) => (e.to_string(), "PGSSLMODE"),
        (None, None) => ("prefer".to_string(), "sslmode"),
    };
    let sslmode = SslMode::parse(&mode).ok_or_else(|| {
        format!("{from}={mode:?}: use disable, prefer, require, verify-ca or verify-full")
    })?;
    let sslrootcert = root.or_else(|| env_rootcert.filter(|s| !s.is_empty()).map(String::from));
    let driver_url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(TlsParams {
        driver_url,
        sslmode,
        sslrootcert,
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for a mode (None for `disable`).
pub fn client_config(p: &TlsParams) -> Result<Option<ClientConfig>, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let verify = match p.sslmode {
        SslMode::Disable => return Ok(None),
        SslMode::Prefer => false,
        SslMode::Require => p.sslrootcert.is_some(),
        SslMode::VerifyCa | SslMode::VerifyFull => true,
    };
    let config = if !verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth()
    } else {
        let roots = roots(p.sslrootcert.as_deref())?;
        let webpki =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("TLS roots: {e}"))?;
        if p.sslmode == SslMode::VerifyFull {
            builder.with_webpki_verifier(webpki).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
                .with_no_client_auth()
        }
    };
    Ok(Some(config))
}

/// The trusted roots: a PEM file, or the system's (also for `sslrootcert=system`).
fn roots(file: Option<&str>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match file {
        Some(path) if path != "system" => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("sslrootcert {path}: {e}"))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            if certs.is_empty() {
                return Err(format!("sslrootcert {path}: no PEM certificate in it"));
            }
            for c in certs {
                store
                    .add(c)
                    .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            }
        }
        _ => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(
                    "no system root certificates found: give the server's CA with sslrootcert=PATH"
                        .into(),
                );
            }
        }
    }
    Ok(store)
}

/// `prefer` / `require`: encrypt, check the handshake's signatures, trust any certificate.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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

/// `verify-ca`: the chain must lead to a trusted root; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain first and the name last, so a name error means the
        // chain was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// tokio-postgres' TLS hook on rustls.
#[derive(Clone)]
pub struct MakeRustls(pub Arc<ClientConfig>);

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(domain.to_string()).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("host {domain:?}: {e}"))
        })?;
        Ok(RustlsConnect {
            connector: tokio_rustls::TlsConnector::from(self.0.clone()),
            name,
        })
    }
}

pub struct RustlsConnect {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            self.connector
                .connect(self.name, stream)
                .await
                .map(|s| RustlsStream(Box::new(s)))
        })
    }
}

/// A TLS stream to the server. No channel binding is offered, so SCRAM runs as
/// `scram-sha-256` (not `-plus`), which every server accepts unless it demands binding.
pub struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parameters_are_taken_out() {
        let p = split_url(
            "postgres://u:p@db:5433/x?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&connect_timeout=3",
            None,
            None,
        )
        .unwrap();
        assert_eq!(p.driver_url, "postgres://u:p@db:5433/x?connect_timeout=3");
        assert_eq!(p.sslmode, SslMode::VerifyFull);
        assert_eq!(p.sslrootcert.as_deref(), Some("/tmp/ca.pem"));
        // The environment fills in what the URL does not say; the URL wins.
        let p = split_url("postgres://h/x", Some("require"), Some("/ca.pem")).unwrap();
        assert_eq!(
            (p.sslmode, p.sslrootcert.as_deref(), p.driver_url.as_str()),
            (SslMode::Require, Some("/ca.pem"), "postgres://h/x")
        );
        let p = split_url("postgres://h/x?sslmode=disable", Some("verify-full"), None).unwrap();
        assert_eq!(p.sslmode, SslMode::Disable);
        assert_eq!(
            split_url("postgres://h/x", None, None).unwrap().sslmode,
            SslMode::Prefer
        );
        let e = split_url("postgres://h/x?sslmode=strict", None, None).unwrap_err();
        assert!(e.contains("sslmode=\"strict\""), "{e}");
        let e = split_url("postgres://h/x", Some("nope"), None).unwrap_err();
        assert!(e.contains("PGSSLMODE"), "{e}");
    }

    #[test]
    fn modes_choose_verification() {
        let p = |m: SslMode, root: Option<&str>| TlsParams {
            driver_url: String::new(),
            sslmode: m,
            sslrootcert: root.map(String::from),
        };
        assert!(client_config(&p(SslMode::Disable, None)).unwrap().is_none());
        assert!(client_config(&p(SslMode::Require, None)).unwrap().is_some());
        let e = client_config(&p(SslMode::VerifyFull, Some("/nonexistent/ca.pem"))).unwrap_err();
        assert!(e.contains("sslrootcert /nonexistent/ca.pem"), "{e}");
        let e = client_config(&p(SslMode::Require, Some("/nonexistent/ca.pem"))).unwrap_err();
        assert!(e.contains("sslrootcert"), "{e}");
    }
}
