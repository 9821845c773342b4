//! The tasks (testcon, setpass, listsessions, listprofiles) and
//! selectsession: single and multi-host profiles with hosts down and live,
//! port scans on and off, shadow profiles, ACL-denied profiles, client keys.

use crate::common::http::*;
use crate::pair::*;
use serde_json::Value as Json;
use std::net::TcpListener;

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn tasks() {
    let profiles = profiles!("tasks");
    let p = pair(OPEN, profiles);
    p.compare(&[
        ("/plain/", &form(&[("task", "testcon")])),
        ("/json/", &form(&[("task", "testcon")])),
        ("/plain/", &form(&[("task", "setpass"), ("user", "root")])),
        ("/json/", &form(&[("task", "setpass"), ("user", "root")])),
        (
            "/plain/",
            &form(&[("task", "listsessions"), ("user", "root")]),
        ),
        (
            "/json/",
            &form(&[("task", "listprofiles"), ("user", "root")]),
        ),
        (
            "/json/",
            &form(&[("task", "listsessions"), ("user", "root")]),
        ),
        (
            "/plain/inifile/",
            &form(&[("task", "listsessions"), ("user", "root")]),
        ),
        (
            "/json/inifile/",
            &form(&[("task", "listprofiles"), ("user", "root")]),
        ),
        (
            "/plain/",
            &form(&[
                ("task", "selectsession"),
                ("user", "root"),
                ("sid", "single"),
            ]),
        ),
        (
            "/json/",
            &form(&[
                ("task", "selectsession"),
                ("user", "root"),
                ("profile-id", "single"),
            ]),
        ),
        (
            "/json/",
            &form(&[
                ("task", "selectsession"),
                ("user", "root"),
                ("sid", "single"),
            ]),
        ),
        (
            "/plain/",
            &form(&[
                ("task", "selectsession"),
                ("user", "root"),
                ("sid", "nosuchprofile"),
            ]),
        ),
        (
            "/json/",
            &form(&[
                ("task", "selectsession"),
                ("user", "root"),
                ("profile-id", "nosuchprofile"),
            ]),
        ),
        (
            "/plain/",
            &form(&[
                ("task", "selectsession"),
                ("user", "root"),
                ("sid", "multi-down"),
            ]),
        ),
        (
            "/json/",
            &form(&[
                ("task", "selectsession"),
                ("user", "root"),
                ("profile-id", "multi-down"),
            ]),
        ),
        // `login` overrides the server-side user name.
        (
            "/plain/",
            &form(&[
                ("task", "selectsession"),
                ("user", "root"),
                ("login", "other"),
                ("sid", "single"),
            ]),
        ),
        // Extra fields are ignored.
        (
            "/plain/",
            &form(&[("task", "listsessions"), ("user", "root"), ("foo", "bar")]),
        ),
    ]);
    let (r, _) = p.check(
        "POST",
        "/plain/",
        &[],
        &form(&[
            ("task", "selectsession"),
            ("user", "root"),
            ("sid", "multi-down"),
        ]),
    );
    assert!(
        r.body.contains("SERVER:no-X2Go-Server-available:2299\n"),
        "{}",
        r.body
    );
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn select_multi_host_down_with_differing_ports() {
    let profiles = profiles!("select_multi_host_down_with_differing_ports");
    let p = pair(OPEN, profiles);
    // The reference's port is the one of the last host it tried at random: compare the server only.
    for _ in 0..3 {
        let body = form(&[
            ("task", "selectsession"),
            ("user", "root"),
            ("sid", "multi"),
        ]);
        let r = send(&p.reference, "POST", "/plain/", &[], &body);
        let o = send(&p.ours, "POST", "/plain/", &[], &body);
        assert_eq!((r.status, o.status), (200, 200));
        for reply in [&r, &o] {
            let server = reply
                .body
                .lines()
                .find_map(|l| l.strip_prefix("SERVER:"))
                .unwrap_or("");
            let (name, port) = server.rsplit_once(':').unwrap();
            assert_eq!(name, "no-X2Go-Server-available", "{}", reply.body);
            assert!(["2201", "2202"].contains(&port), "{}", reply.body);
        }
        let body = form(&[
            ("task", "selectsession"),
            ("user", "root"),
            ("profile-id", "multi"),
        ]);
        let r = send(&p.reference, "POST", "/json/", &[], &body);
        let o = send(&p.ours, "POST", "/json/", &[], &body);
        let rj: Json = serde_json::from_str(&r.body).unwrap();
        let oj: Json = serde_json::from_str(&o.body).unwrap();
        assert_eq!(
            rj["selected_session"]["server"],
            oj["selected_session"]["server"]
        );
        assert_eq!(rj["task"], oj["task"]);
        assert_eq!(rj["auth-status"], oj["auth-status"]);
    }
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn select_multi_host_live() {
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let hosts: Vec<String> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| format!("h{i} (127.0.0.1:{port})"))
        .collect();
    let profiles = format!(
        "[live]\nhost={}\n\n[half-live]\nhost=dead (127.0.0.2:1), {}\n",
        hosts.join(", "),
        hosts[0]
    );
    let p = pair(OPEN, &profiles);
    p.compare(&list_requests(&["root"]));
    let live: Vec<String> = ports
        .iter()
        .map(|port| format!("127.0.0.1:{port}"))
        .collect();
    for run in [&p.reference, &p.ours] {
        for _ in 0..3 {
            let r = send(
                run,
                "POST",
                "/plain/",
                &[],
                &form(&[("task", "selectsession"), ("user", "root"), ("sid", "live")]),
            );
            assert_eq!(r.status, 200);
            let server = r
                .body
                .lines()
                .find_map(|l| l.strip_prefix("SERVER:"))
                .unwrap_or("")
                .to_string();
            assert!(
                live.contains(&server),
                "{server} not live ({:?}): {}",
                live,
                r.body
            );
            let r = send(
                run,
                "POST",
                "/json/",
                &[],
                &form(&[
                    ("task", "selectsession"),
                    ("user", "root"),
                    ("profile-id", "live"),
                ]),
            );
            let j: Json = serde_json::from_str(&r.body).unwrap();
            let server = format!(
                "{}:{}",
                j["selected_session"]["server"].as_str().unwrap(),
                j["selected_session"]["port"].as_str().unwrap()
            );
            assert!(live.contains(&server), "{server} not live: {}", r.body);
        }
    }
    // With one host down and one up, both must pick the live one.
    p.compare(&select_requests("root", &["half-live"]));
    drop(listeners);
}

/// The reference hands out a server for a profile the user may not list:
/// selectsession does not check the ACLs there.
#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn select_acl_denied_profile() {
    // A deliberate difference (docs/compat.md): the reference hands out a
    // server for a profile the ACLs deny; ours answers as for an unknown profile.
    let profiles = profiles!("select_acl_denied_profile");
    let p = pair(OPEN, profiles);
    for (sid, server) in [
        ("denied", "127.0.0.2:2201"),
        ("clients-denied", "127.0.0.3:2202"),
    ] {
        let body = form(&[("task", "selectsession"), ("user", "root"), ("sid", sid)]);
        let reference = p.reference.post("/plain/", &body);
        let ours = p.ours.post("/plain/", &body);
        assert_eq!(
            server_of(&reference),
            server,
            "the reference ignores the ACLs"
        );
        assert_eq!(
            server_of(&ours),
            "no-server-available:22",
            "ours refuses like an unknown profile"
        );
        assert_eq!((reference.status, ours.status), (200, 200));
    }
}

/// SHADOW profiles use their first host only; when it is down, a multi-host
/// shadow profile gets `no-X2Go-Server-available` (the reference treats the
/// profile as load-balanced, not as a single-host one).
#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn select_shadow_multi_host_all_down() {
    let profiles = profiles!("select_shadow_multi_host_all_down");
    let p = pair(OPEN, profiles);
    p.compare(&select_requests("root", &["shadow"]));
}

/// The server handed out by a plain selectsession answer.
fn server_of(reply: &Reply) -> String {
    reply
        .body
        .lines()
        .find_map(|l| l.strip_prefix("SERVER:"))
        .unwrap_or("")
        .to_string()
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn select_without_portscan() {
    let conf = "[global]\nrequire-password = false\ndefault-portscan-x2goservers = false\n";
    let profiles = profiles!("select_without_portscan");
    let p = pair(conf, profiles);
    p.compare(&select_requests(
        "root",
        &["single-down", "multi-probed", "single-probed"],
    ));
    // Without probing the reference picks any host at random.
    let body = form(&[
        ("task", "selectsession"),
        ("user", "root"),
        ("sid", "multi"),
    ]);
    for run in [&p.reference, &p.ours] {
        for _ in 0..3 {
            let server = server_of(&send(run, "POST", "/plain/", &[], &body));
            assert!(
                ["127.0.0.3:2203", "127.0.0.4:2204"].contains(&server.as_str()),
                "{server}"
            );
        }
    }
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn select_portscan_off_per_profile() {
    let profiles = profiles!("select_portscan_off_per_profile");
    let p = pair(OPEN, profiles);
    p.compare(&select_requests("root", &["single"]));
    let body = form(&[
        ("task", "selectsession"),
        ("user", "root"),
        ("sid", "multi"),
    ]);
    for run in [&p.reference, &p.ours] {
        let server = server_of(&send(run, "POST", "/plain/", &[], &body));
        assert!(
            ["127.0.0.3:2203", "127.0.0.4:2204"].contains(&server.as_str()),
            "{server}"
        );
    }
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn select_with_client_pubkey() {
    let conf = "[global]\nrequire-password = false\ndefault-session-autologin = true\n";
    let p = pair(conf, "[p]\nhost=srv1 (127.0.0.2:2201)\n");
    let key = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@client";
    p.compare(&[
        (
            "/plain/",
            form(&[
                ("task", "selectsession"),
                ("user", "root"),
                ("sid", "p"),
                ("pubkey", key),
            ]),
        ),
        (
            "/json/",
            form(&[
                ("task", "selectsession"),
                ("user", "root"),
                ("profile-id", "p"),
                ("pubkey", key),
            ]),
        ),
    ]);
}
