//! The `https_get` mechanism against a real HTTPS server on loopback: the
//! broker sends the credentials as basic auth, verifies the server
//! certificate, and grants access only on 200.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use base64::Engine;
use common::http::*;
use common::processes::*;
use common::site::*;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTPS server that answers 200 to `Authorization: Basic <expected>` on `/auth`, 401 otherwise.
fn auth_server(
    cert: &std::path::Path,
    key: &std::path::Path,
    expected: &str,
) -> (u16, std::sync::mpsc::Receiver<String>) {
    let certs: Vec<_> = rustls_pemfile::certs(&mut std::fs::read(cert).unwrap().as_slice())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut std::fs::read(key).unwrap().as_slice())
        .unwrap()
        .unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(expected)
    );
    let (seen_tx, seen_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            listener.set_nonblocking(true).unwrap();
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    continue;
                };
                let mut buf = vec![0u8; 4096];
                let n = tls.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let ok = head.starts_with("GET /auth ")
                    && head
                        .lines()
                        .any(|l| l.trim() == format!("Authorization: {expected}"));
                let _ = seen_tx.send(head.lines().next().unwrap_or("").to_string());
                let status = if ok { "200 OK" } else { "401 Unauthorized" };
                let _ = tls
                    .write_all(
                        format!(
                            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    )
                    .await;
                let _ = tls.shutdown().await;
            }
        });
    });
    (port, seen_rx)
}

#[test]
fn https_get_grants_on_200_only() {
    let site = Site::new("[global]\n", "[p]\nname=P\nhost=127.0.0.9\n");
    let (cert, key) = self_signed(site.dir.path());
    let (port, seen) = auth_server(&cert, &key, "alice:s3cret:with:colons");
    let conf = format!(
        "[global]\nrequire-password = true\ndefault-auth-mech = https_get\nmy-cookie-file = {}/none\n[authmech_https_get]\nhost = 127.0.0.1\nport = {port}\npath = /auth\n",
        site.dir.path().display()
    );
    std::fs::write(site.conf(), conf).unwrap();
    let b = Ours::new(&site)
        .env("SSL_CERT_FILE", cert.to_str().unwrap())
        .start();
    let ok = b.post(
        "/plain/",
        &form(&[
            ("task", "listsessions"),
            ("user", "alice"),
            ("password", "s3cret:with:colons"),
        ]),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.authid().is_some());
    assert_eq!(seen.recv().unwrap(), "GET /auth HTTP/1.1");
    let bad = b.post(
        "/plain/",
        &form(&[
            ("task", "listsessions"),
            ("user", "alice"),
            ("password", "wrong"),
        ]),
    );
    assert_eq!(bad.status, 401);

    // A server whose certificate is not trusted is never asked twice: the TLS handshake fails.
    let b2 = Ours::new(&site)
        .data_dir(&site.path("data2"))
        .env("SSL_CERT_FILE", "/dev/null")
        .start();
    let r = b2.post(
        "/plain/",
        &form(&[
            ("task", "listsessions"),
            ("user", "alice"),
            ("password", "s3cret:with:colons"),
        ]),
    );
    assert_eq!(r.status, 401, "untrusted certificate means no access");
}
