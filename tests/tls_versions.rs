//! TLS versions of the public listeners: HTTPS and the public gRPC API
//! accept TLS 1.2 and 1.3 by default (AEAD cipher suites only), and TLS
//! 1.3 only with `--tls13-only`; both listeners follow the same setting.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::processes::*;
use common::site::*;
use common::sockets::{addr_of, loopback};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

const CONF: &str = "[global]\nrequire-password = false\n";
const PROFILES: &str = "[p]\nname=P\nhost=127.0.0.9\n";

/// The version a client offering only `version` (and `alpn`) agrees on
/// with `addr`, or None when the handshake fails.
fn handshake(
    addr: SocketAddr,
    ca: &Path,
    version: &'static rustls::SupportedProtocolVersion,
    alpn: &[u8],
) -> Option<rustls::ProtocolVersion> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).unwrap();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert: CertificateDer<'static> = cert.unwrap();
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let tls = connector.connect(name, tcp).await.ok()?;
        tls.get_ref().1.protocol_version()
    })
}

fn start(
    site: &Site,
    cert: &Path,
    key: &Path,
    extra: &[&str],
) -> (Running, SocketAddr, SocketAddr) {
    let https = loopback();
    let grpc = loopback();
    let (https_addr, grpc_addr) = (addr_of(&https), addr_of(&grpc));
    let mut args = vec![
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let node = Ours::new(site)
        .listen("--https", https)
        .listen("--grpc", grpc)
        .args(&args)
        .start();
    (node, https_addr, grpc_addr)
}

#[test]
fn tls12_and_13_by_default_13_only_when_asked_on_https_and_grpc_alike() {
    use rustls::version::{TLS12, TLS13};
    use rustls::ProtocolVersion::{TLSv1_2, TLSv1_3};
    let site = Site::new(CONF, PROFILES);
    let (cert, key) = self_signed(site.dir.path());

    let (default, https, grpc) = start(&site, &cert, &key, &[]);
    for (addr, alpn) in [(https, &b"http/1.1"[..]), (grpc, &b"h2"[..])] {
        assert_eq!(
            handshake(addr, &cert, &TLS12, alpn),
            Some(TLSv1_2),
            "{addr}"
        );
        assert_eq!(
            handshake(addr, &cert, &TLS13, alpn),
            Some(TLSv1_3),
            "{addr}"
        );
    }

    drop(default);
    let (_strict, https, grpc) = start(&site, &cert, &key, &["--tls13-only"]);
    for (addr, alpn) in [(https, &b"http/1.1"[..]), (grpc, &b"h2"[..])] {
        assert_eq!(
            handshake(addr, &cert, &TLS12, alpn),
            None,
            "{addr} refuses TLS 1.2"
        );
        assert_eq!(
            handshake(addr, &cert, &TLS13, alpn),
            Some(TLSv1_3),
            "{addr}"
        );
    }
}
