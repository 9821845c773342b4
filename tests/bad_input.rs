//! Bad input gets a clear 4xx and a log line: never a 5xx, a panic or a
//! hang, on every frontend: plain, JSON, UCCS and the gRPC API, including
//! half-closed clients, oversized bodies and headers, and garbage on the
//! gRPC port.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::grpc::{creds, runtime};
use common::http::*;
use common::processes::*;
use common::site::*;
use common::sockets::*;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tonic::Code;
use x2gobroker::api::grpc::proto::*;

const CONF: &str = "[global]\nrequire-password = false\n[broker_inifile]\nenable = true\n";
const PROFILES: &str = "[p]\nname=P\nhost=127.0.0.9\n";

fn raw(b: &Running, bytes: &[u8]) -> Reply {
    let mut s = TcpStream::connect(b.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse_reply(&out)
}

fn post_bytes(b: &Running, path: &str, body: &[u8]) -> Reply {
    request(
        b.addr,
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body,
    )
}

#[test]
fn oversized_bodies_get_413() {
    let site = Site::new(CONF, PROFILES);
    let b = start_ours(&site, &[]);
    let big = format!("task=listsessions&user=u&pad={}", "x".repeat(70 * 1024));
    assert_eq!(b.post("/plain/", &big).status, 413);
    // Chunked, without a Content-Length.
    let chunk = "y".repeat(40 * 1024);
    let mut req = b"POST /json/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..2 {
        req.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    req.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(raw(&b, &req).status, 413);
    assert!(b.log_text().contains("413"), "logged");
}

#[test]
fn malformed_fields_get_400() {
    let site = Site::new(CONF, PROFILES);
    let b = start_ours(&site, &[]);
    for flavour in ["/plain/", "/json/"] {
        for body in [
            &b"task=listsessions&user=%ff%fe"[..],
            b"task=listsessions&task=selectsession",
            b"task=listsessions&user=a%zz",
            b"task=nosuchtask",
            b"task=selectsession&user=u",
        ] {
            let r = post_bytes(&b, flavour, body);
            assert_eq!(
                r.status,
                400,
                "{flavour} {:?}: {}",
                String::from_utf8_lossy(body),
                r.body
            );
        }
        let long = format!("task=listsessions&user={}", "u".repeat(5000));
        assert_eq!(b.post(flavour, &long).status, 400);
        // Unknown fields are ignored, whatever they contain.
        assert_eq!(
            post_bytes(&b, flavour, b"task=testcon&%ff=%fe&x").status,
            200
        );
    }
    let log = b.log_text();
    assert!(
        log.contains("not valid UTF-8")
            && log.contains("given more than once")
            && log.contains("too long")
    );
}

#[test]
fn odd_paths_and_methods() {
    let site = Site::new(CONF, PROFILES);
    let b = start_ours(&site, &[]);
    for path in [
        "/plain/nosuch/",
        "/json/../../etc/passwd",
        "/plain",
        "/x",
        "/plain/%00/",
        "//plain/",
    ] {
        let r = b.post(path, "task=testcon");
        assert_eq!(r.status, 404, "{path}");
    }
    assert_eq!(
        b.get("/uccs/inifile/api/5").status,
        404,
        "UCCS is off by default"
    );
    assert_eq!(b.post("/uccs/inifile/api/5", "").status, 405);
    assert_eq!(
        request(b.addr, "PUT", "/plain/", &[], b"task=testcon").status,
        405
    );
    assert_eq!(request(b.addr, "DELETE", "/json/", &[], b"").status, 405);
    assert_eq!(
        b.get("/plain/?task=testcon").status,
        405,
        "GET needs --allow-get"
    );
    assert_eq!(b.post("/", "x=1").status, 405);
    let long_path = format!("/plain/{}", "a".repeat(100_000));
    let r = raw(&b, format!("POST {long_path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
    assert!((400..500).contains(&r.status), "{}", r.status);
    let r = raw(&b, b"GARBAGE\r\n\r\n");
    assert!((400..500).contains(&r.status), "{}", r.status);
    assert_eq!(b.get("/healthz").status, 200, "still serving");
}

#[test]
fn incomplete_body_times_out_instead_of_hanging() {
    let site = Site::new(CONF, PROFILES);
    let b = start_ours(&site, &[]);
    let started = Instant::now();
    let r = raw(
        &b,
        b"POST /plain/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\ntask=testcon",
    );
    assert_eq!(r.status, 408);
    assert!(started.elapsed() < Duration::from_secs(25));
}

#[test]
fn random_bodies_never_get_5xx() {
    let site = Site::new(CONF, PROFILES);
    let b = start_ours(&site, &["--allow-get"]);
    // A fixed-seed generator: the same inputs every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let pieces: [&[u8]; 12] = [
        b"task=",
        b"listsessions",
        b"selectsession",
        b"&",
        b"=",
        b"%",
        b"%ff",
        b"+",
        b"sid=p",
        b"user=",
        b"\x00",
        b"\xc3\x28",
    ];
    for i in 0..300 {
        let mut body = Vec::new();
        for _ in 0..(next() % 12) {
            body.extend_from_slice(pieces[(next() % 12) as usize]);
        }
        let path = if i % 2 == 0 { "/plain/" } else { "/json/" };
        let r = post_bytes(&b, path, &body);
        assert!(
            r.status < 500,
            "{path} {:?} -> {}",
            String::from_utf8_lossy(&body),
            r.status
        );
    }
    assert_eq!(b.get("/healthz").status, 200);
}

/// A fixed-seed generator: the same inputs every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }

    /// A string of `len` characters drawn from a hostile alphabet.
    fn text(&mut self, len: usize) -> String {
        const ALPHABET: &[char] = &[
            'a', 'Z', '0', ' ', ':', '@', '%', '+', '&', '=', '/', '\\', '\r', '\n', '\0', '\x1b',
            '\u{7f}', '\u{85}', '\u{2028}', 'é', '€', '😀', '"', '\'', '<',
        ];
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64)])
            .collect()
    }

    /// A hostile value: lengths around the field limits, at most `max`.
    fn field(&mut self, max: usize) -> String {
        let len = [0, 1, 255, 256, 257, 1024, 1025, 5000, 20_000][self.below(9)];
        self.text(len.min(max))
    }
}

/// Every frontend on, passwords checked (against an https_get server that
/// refuses connections, so every login fails fast).
const EVERY_FRONTEND: &str = "[global]\nrequire-password = true\ndefault-auth-mech = https_get\nenable-uccs-output = true\n[authmech_https_get]\nhost = 127.0.0.1\nport = 1\npath = /\n[broker_inifile]\nenable = true\n";

/// Send `head` and `body`, shut down the sending side, read the answer.
fn half_closed(addr: SocketAddr, head: &str, body: &[u8]) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse_reply(&out)
}

#[test]
fn hostile_input_over_every_frontend() {
    let site = Site::new(EVERY_FRONTEND, PROFILES);
    let listener = loopback();
    let grpc = addr_of(&listener);
    let mut b = Ours::new(&site)
        .listen("--grpc", listener)
        .args(&["--allow-get"])
        .start();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let started = Instant::now();

    // Half-closed clients get their answer on every HTTP frontend.
    for (method, path, body) in [
        ("POST", "/plain/", "task=listsessions&user=u"),
        ("POST", "/json/", "task=listprofiles&user=u"),
        ("GET", "/uccs/inifile/api/5", ""),
        ("POST", "/plain/", "task=%zz"),
    ] {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let r = half_closed(b.addr, &head, body.as_bytes());
        assert!(
            (200..500).contains(&r.status),
            "half-closed {path}: {}",
            r.status
        );
    }

    // Oversized bodies and headers: 4xx on every HTTP frontend.
    let big = vec![b'x'; 200 * 1024];
    for path in ["/plain/", "/json/", "/uccs/inifile/api/5"] {
        let r = post_bytes(&b, path, &big);
        assert!((400..500).contains(&r.status), "{path}: {}", r.status);
    }
    let huge_header = format!("Basic {}", "A".repeat(100 * 1024));
    let r = try_request(
        b.addr,
        "GET",
        "/uccs/inifile/api/5",
        &[("Authorization", &huge_header)],
        b"",
    );
    if let Ok(r) = r {
        assert!((400..500).contains(&r.status), "huge header: {}", r.status);
    }

    // Hostile field values on the forms and the UCCS credentials.
    for i in 0..150 {
        let user = rng.field(2000);
        let password = rng.field(2000);
        let body = form(&[
            (
                "task",
                ["listsessions", "selectsession", "listprofiles", "auth"][i % 4],
            ),
            ("user", &user),
            ("password", &password),
            ("sid", &rng.field(300)),
            ("authid", &rng.field(300)),
        ]);
        let path = ["/plain/", "/json/"][i % 2];
        let r = b.post(path, &body);
        assert!(r.status < 500, "{path} {body:?}: {}", r.status);
        let basic = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{user}:{password}"),
        );
        let len = rng.below(40);
        let garbage = rng.text(len).replace(['\r', '\n', '\0'], "");
        for auth in [
            format!("Basic {basic}"),
            format!("Basic {garbage}"),
            garbage,
        ] {
            if let Ok(r) = try_request(
                b.addr,
                "GET",
                "/uccs/inifile/api/5",
                &[("Authorization", &auth)],
                b"",
            ) {
                assert!(r.status < 500, "UCCS {auth:?}: {}", r.status);
            }
        }
    }

    // The gRPC API: hostile fields on every RPC, never an internal error.
    runtime().block_on(async {
        let mut c = common::grpc::client(grpc).await;
        let bad = |code: Code| {
            matches!(
                code,
                Code::Internal | Code::Unknown | Code::DataLoss | Code::Unimplemented
            )
        };
        for _ in 0..100 {
            let credentials = creds(
                &rng.field(usize::MAX),
                &rng.field(usize::MAX),
                &rng.field(usize::MAX),
            );
            let r = c
                .list_profiles(ListProfilesRequest {
                    credentials: credentials.clone(),
                })
                .await;
            assert!(!r.as_ref().is_err_and(|e| bad(e.code())), "{r:?}");
            let r = c
                .list_sessions(ListSessionsRequest {
                    credentials: credentials.clone(),
                })
                .await;
            assert!(!r.as_ref().is_err_and(|e| bad(e.code())), "{r:?}");
            let r = c
                .select_session(SelectSessionRequest {
                    credentials,
                    profile_id: rng.field(usize::MAX),
                    login: rng.field(usize::MAX),
                    pubkey: rng.field(usize::MAX),
                })
                .await;
            assert!(!r.as_ref().is_err_and(|e| bad(e.code())), "{r:?}");
        }
        // A message far over the limit is refused, not decoded.
        let r = c
            .list_profiles(ListProfilesRequest {
                credentials: creds(&"u".repeat(1 << 20), "", ""),
            })
            .await;
        assert!(r.is_err_and(|e| !bad(e.code())));
    });

    // Garbage on the gRPC port: the connection is dropped, the API still answers.
    for garbage in [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x04\x01\x00\x00\x00\x00\x00\xff\xff".to_vec(),
        (0..4096).map(|_| rng.next() as u8).collect(),
    ] {
        let mut s = TcpStream::connect(grpc).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let _ = s.write_all(&garbage);
        let _ = s.shutdown(Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    runtime().block_on(async {
        let mut c = common::grpc::client(grpc).await;
        c.cluster_status(ClusterStatusRequest {}).await.unwrap();
    });

    assert!(started.elapsed() < Duration::from_secs(240), "no hangs");
    assert_eq!(b.get("/healthz").status, 200, "still serving");
    assert!(matches!(b.child.try_wait(), Ok(None)), "still running");
    let log = b.log_text();
    assert!(!log.contains("panicked"), "no panic");
    let answered = log
        .lines()
        .filter(|l| l.contains("x2gobroker::api::http"))
        .count();
    // The form posts and the well-formed basic credentials at least.
    assert!(answered >= 300, "{answered} HTTP requests logged");
}
