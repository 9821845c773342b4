//! Regression tests for the listener findings of the security review
//! (issue 7): field limits on the gRPC path (finding 4), limits on every
//! listener (5), control characters in logged client values (10), and HTTP
//! robustness: half-closed clients and readable 413 answers (11).

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::grpc::{client as grpc_client, creds, runtime};
use common::http::*;
use common::processes::*;
use common::site::*;
use common::sockets::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};
use tonic::Code;
use x2gobroker::api::grpc::proto::broker_client::BrokerClient;
use x2gobroker::api::grpc::proto::*;

const OPEN: &str = "[global]\nrequire-password = true\ndefault-auth-mech = none\n";
const PROFILES: &str = "[p]\nname=P\nhost=127.0.0.9\n";

/// Finding 4: the gRPC API refuses what the HTTP frontends refuse (a user
/// name over 256 bytes, a password over 1 KiB, ...), and a request message
/// far larger than any valid one, before anything reaches the state.
#[test]
fn grpc_requests_get_the_http_field_limits() {
    let site = Site::new(OPEN, PROFILES);
    let listener = loopback();
    let grpc = addr_of(&listener);
    let b = Ours::new(&site).listen("--grpc", listener).start();
    runtime().block_on(async {
        let mut c = grpc_client(grpc).await;
        // Within the limits: served (auth-mech none).
        let ok = c
            .list_profiles(ListProfilesRequest {
                credentials: creds(&"u".repeat(256), "pw", ""),
            })
            .await;
        assert!(ok.is_ok(), "{ok:?}");
        for (what, request) in [
            ("user", creds(&"u".repeat(257), "pw", "")),
            ("password", creds("alice", &"p".repeat(1025), "")),
            ("authid", creds("alice", "", &"a".repeat(257))),
        ] {
            let e = c
                .list_profiles(ListProfilesRequest {
                    credentials: request.clone(),
                })
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e:?}");
            assert!(e.message().contains(what), "{what}: {}", e.message());
            let e = c
                .list_sessions(ListSessionsRequest {
                    credentials: request,
                })
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e:?}");
        }
        for (what, profile_id, login) in [
            ("profile-id", "p".repeat(257), String::new()),
            ("login", "p".to_string(), "l".repeat(257)),
        ] {
            let e = c
                .select_session(SelectSessionRequest {
                    credentials: creds("alice", "pw", ""),
                    profile_id,
                    login,
                    pubkey: String::new(),
                })
                .await
                .unwrap_err();
            assert_eq!(e.code(), Code::InvalidArgument, "{what}: {e:?}");
        }
        // Megabytes in one field never get decoded, let alone replicated.
        let e = c
            .list_profiles(ListProfilesRequest {
                credentials: creds(&"u".repeat(3 << 20), "pw", ""),
            })
            .await
            .unwrap_err();
        assert_ne!(e.code(), Code::Ok);
        assert!(
            c.list_profiles(ListProfilesRequest {
                credentials: creds("alice", "pw", ""),
            })
            .await
            .is_ok(),
            "still serving"
        );
    });
    assert!(!b.log_text().contains(&"u".repeat(257)));
}

/// Wait up to `within` for an answer on `s`; None when none came.
fn answer_within(mut s: &TcpStream, within: Duration) -> Option<Vec<u8>> {
    s.set_read_timeout(Some(within)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) if out.is_empty() => return None,
            Err(_) => return Some(out),
        }
    }
}

/// Finding 5: the HTTP listener holds at most --max-connections
/// connections (the next waits until one closes), and a TLS listener drops
/// a client that does not complete its handshake within
/// --handshake-timeout.
#[test]
fn listeners_cap_connections_and_time_out_handshakes() {
    let site = Site::new(OPEN, PROFILES);
    let (cert, key) = self_signed(site.dir.path());
    let tls_grpc = loopback();
    let tls_grpc_addr = addr_of(&tls_grpc);
    let https = loopback();
    let https_addr = addr_of(&https);
    let b = Ours::new(&site)
        .listen("--grpc", tls_grpc)
        .listen("--https", https)
        .args(&[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--max-connections",
            "2",
            "--handshake-timeout",
            "1",
        ])
        .start();

    // Two idle connections fill the plain listener; a third client waits.
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(b.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut third = TcpStream::connect(b.addr).unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    assert_eq!(
        answer_within(&third, Duration::from_millis(1500)),
        None,
        "a third connection is not served while two are open"
    );
    drop(idle);
    let answer = answer_within(&third, Duration::from_secs(10)).expect("served once a slot frees");
    assert_eq!(parse_reply(&answer).status, 200);

    // Silent clients on the TLS listeners are dropped after the handshake timeout.
    for (what, addr) in [("gRPC", tls_grpc_addr), ("HTTPS", https_addr)] {
        let started = Instant::now();
        let silent = TcpStream::connect(addr).unwrap();
        let got = answer_within(&silent, Duration::from_secs(10));
        assert_eq!(got, Some(Vec::new()), "{what}: closed without an answer");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{what}: closed after {:?}",
            started.elapsed()
        );
    }
    assert_eq!(b.get("/healthz").status, 200, "still serving");
}

/// Finding 5: the plain gRPC listener is capped too, and a connection that
/// never sends the HTTP/2 preface does not hold its slot forever.
#[test]
fn grpc_listener_caps_connections() {
    let site = Site::new(OPEN, PROFILES);
    let listener = loopback();
    let grpc = addr_of(&listener);
    let _b = Ours::new(&site)
        .listen("--grpc", listener)
        .args(&["--max-connections", "2", "--handshake-timeout", "2"])
        .start();
    runtime().block_on(async {
        let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(grpc).unwrap()).collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let call = async {
            let mut c = BrokerClient::connect(format!("http://{grpc}")).await?;
            c.cluster_status(ClusterStatusRequest {})
                .await
                .map_err(|e| e.into())
                .map(|_| ())
        };
        let capped: Result<Result<(), Box<dyn std::error::Error>>, _> =
            tokio::time::timeout(Duration::from_millis(1000), call).await;
        assert!(
            !matches!(capped, Ok(Ok(()))),
            "served while two connections fill the listener"
        );
        // The silent connections are dropped after the handshake timeout.
        let started = Instant::now();
        let mut c = grpc_client(grpc).await;
        c.cluster_status(ClusterStatusRequest {}).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(8));
        drop(idle);
    });
}

/// Finding 10: CR, LF and other control characters a client puts into a
/// user name or a path reach the log escaped, so no line can be forged.
#[test]
fn control_characters_in_client_values_are_escaped_in_the_log() {
    let site = Site::new(OPEN, PROFILES);
    let b = start_ours(&site, &[]);
    let forged = "FORGED authentication failed user=root client=10.0.0.1";
    let user = format!("alice\r\n{forged}\x1b[2J");
    let r = b.post(
        "/plain/",
        &form(&[("task", "listsessions"), ("user", &user), ("password", "x")]),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let path = format!("/plain/a%0D%0A{}%1B%5B2J/", forged.replace(' ', "%20"));
    assert_eq!(b.post(&path, "task=testcon").status, 404);
    let r = b.post("/plain/", &form(&[("task", &format!("x\n{forged}"))]));
    assert_eq!(r.status, 400);
    let log = b.log_text();
    assert!(log.contains("FORGED"), "the values are logged: {log}");
    for line in log.lines() {
        assert!(
            !line.trim_start().starts_with("FORGED"),
            "a forged line: {line:?}"
        );
        assert!(!line.contains('\x1b'), "an escape sequence: {line:?}");
    }
    assert!(log.contains("alice\\r\\nFORGED"), "{log}");
}

/// A server that accepts TCP connections and closes each after `delay`
/// without a word (a slow authentication backend).
fn slow_server(delay: Duration) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                drop(s);
            });
        }
    });
    port
}

/// Finding 11: a client that shuts down its sending side after the request
/// still gets the answer, even when the answer takes a while (here a slow
/// https_get authentication server).
#[test]
fn half_closed_client_gets_its_answer() {
    let site = Site::new("[global]\n", PROFILES);
    let port = slow_server(Duration::from_millis(1500));
    let conf = format!(
        "[global]\nrequire-password = true\ndefault-auth-mech = https_get\nmy-cookie-file = {}/none\n[authmech_https_get]\nhost = 127.0.0.1\nport = {port}\npath = /auth\n",
        site.dir.path().display()
    );
    std::fs::write(site.conf(), conf).unwrap();
    let b = start_ours(&site, &[]);
    let body = form(&[
        ("task", "listsessions"),
        ("user", "alice"),
        ("password", "wrong"),
    ]);
    let mut s = TcpStream::connect(b.addr).unwrap();
    write!(
        s,
        "POST /plain/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let started = Instant::now();
    let answer = answer_within(&s, Duration::from_secs(20)).unwrap_or_default();
    assert!(
        !answer.is_empty(),
        "no answer to a half-closed client (after {:?})",
        started.elapsed()
    );
    assert_eq!(parse_reply(&answer).status, 401);
}

/// Finding 11: a body over the limit is answered with a 413 the client can
/// read, not a connection reset: a client that writes its whole (8 MiB)
/// body before reading, as simple clients do, gets the answer.
#[test]
fn oversized_body_gets_a_readable_413() {
    let site = Site::new(OPEN, PROFILES);
    let b = start_ours(&site, &[]);
    let body = vec![b'x'; 8 << 20];
    for declared in [true, false] {
        let mut s = TcpStream::connect(b.addr).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
        let sent = if declared {
            write!(
                s,
                "POST /plain/ HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .and_then(|()| s.write_all(&body))
        } else {
            s.write_all(b"POST /json/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                .and_then(|()| {
                    for chunk in body.chunks(64 * 1024) {
                        write!(s, "{:x}\r\n", chunk.len())?;
                        s.write_all(chunk)?;
                        s.write_all(b"\r\n")?;
                    }
                    s.write_all(b"0\r\n\r\n")
                })
        };
        assert!(
            sent.is_ok(),
            "declared length {declared}: sending: {sent:?}"
        );
        let answer = answer_within(&s, Duration::from_secs(20)).unwrap_or_default();
        assert!(
            answer.starts_with(b"HTTP/1.1 413"),
            "declared length {declared}: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(200)])
        );
    }
    assert_eq!(b.get("/healthz").status, 200);
}
