//! Bad input gets a clear 4xx and a log line: never a 5xx, a panic or a hang.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::http::*;
use common::processes::*;
use common::site::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

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
