//! Stand-ins for the servers outbound requests reach: a private certificate authority made per run
//! (rcgen), and real HTTP/1.1 receivers, plain or behind rustls, that count what reaches them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

/// A private CA and a server certificate it issued for `localhost` and `127.0.0.1`.
pub struct PrivateCa {
    /// The CA certificate, PEM: what a client must trust.
    pub ca_pem: String,
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key_der: Vec<u8>,
}

impl PrivateCa {
    pub fn new() -> PrivateCa {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Tranche test private CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let mut server_params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        server_params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
        PrivateCa {
            ca_pem: ca_cert.pem(),
            server_chain: vec![server_cert.der().clone()],
            server_key_der: server_key.serialize_der(),
        }
    }

    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), key)
            .unwrap();
        Arc::new(config)
    }
}

/// A receiver on 127.0.0.1: counts TCP connections accepted and HTTP requests read in full, and
/// answers every request with `response` (a whole HTTP/1.1 response, `{port}` not substituted).
pub struct Receiver {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    /// TLS handshakes that failed (the client refused our certificate, or spoke no TLS).
    pub handshake_failures: Arc<AtomicUsize>,
}

impl Receiver {
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    pub fn handshake_failures(&self) -> usize {
        self.handshake_failures.load(Ordering::SeqCst)
    }
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

pub const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";

/// A plain-HTTP receiver.
pub async fn http_receiver(response: String) -> Receiver {
    spawn(response, None).await
}

/// An HTTPS receiver presenting a certificate from `ca`.
pub async fn https_receiver(ca: &PrivateCa, response: String) -> Receiver {
    spawn(
        response,
        Some(tokio_rustls::TlsAcceptor::from(ca.server_config())),
    )
    .await
}

async fn spawn(response: String, tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = Receiver {
        addr: listener.local_addr().unwrap(),
        connections: Arc::default(),
        requests: Arc::default(),
        handshake_failures: Arc::default(),
    };
    let (connections, requests, failures) = (
        receiver.connections.clone(),
        receiver.requests.clone(),
        receiver.handshake_failures.clone(),
    );
    let response = Arc::new(response);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            connections.fetch_add(1, Ordering::SeqCst);
            let (requests, failures, response, tls) =
                (requests.clone(), failures.clone(), response.clone(), tls.clone());
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(stream) => serve(stream, &requests, &response).await,
                        Err(_) => {
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                    },
                    None => serve(stream, &requests, &response).await,
                }
            });
        }
    });
    receiver
}

/// Reads one request (head and a `content-length` body), counts it, answers, closes.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, requests: &AtomicUsize, response: &str) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    stream.write_all(response.as_bytes()).await.ok();
    stream.shutdown().await.ok();
}

/// The settings `tranche_api::outbound::client` reads, with private destinations allowed or not.
pub fn settings(allow_private: bool) -> tranche_api::config::Settings {
    let mut settings = tranche_api::config::Settings::default();
    settings.erp.allow_private_destinations = allow_private;
    settings
}

/// The whole error chain as one line, to assert on causes reqwest wraps.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
