//! Authentication through real PAM with a real local account, and the
//! authid cookie flows of the reference (`require-password`,
//! `require-cookie`, `use-static-cookie`, `verify-ip`, `auth-timeout`),
//! plus failed-login limiting and cookies surviving a restart.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::accounts::*;
use common::http::*;
use common::processes::*;
use common::site::*;

const PAM_CONF: &str =
    "[global]\nrequire-password = true\ndefault-auth-mech = pam\n[broker_inifile]\nenable = true\n";
const PROFILES: &str = "[p]\nname=P\nhost=127.0.0.9\n";

fn login(b: &Running, flavour: &str, user: &str, password: &str) -> Reply {
    b.post(
        &format!("/{flavour}/"),
        &form(&[
            ("task", "listsessions"),
            ("user", user),
            ("password", password),
        ]),
    )
}

fn with_cookie(b: &Running, user: &str, cookie: &str) -> Reply {
    b.post(
        "/plain/",
        &form(&[("task", "listsessions"), ("user", user), ("authid", cookie)]),
    )
}

fn json_cookie(r: &Reply) -> String {
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    v["next-authid"].as_str().unwrap().to_string()
}

#[test]
#[ignore = "needs root (PAM test accounts)"]
fn pam_login_then_single_use_cookie_chain() {
    let u = TestUser::create("x2gopam");
    let site = Site::new(PAM_CONF, PROFILES);
    let b = start_ours(&site, &[]);

    let r = login(&b, "plain", &u.name, &u.password);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Access granted") && r.body.contains("[p]"));
    let a = r.authid().expect("AUTHID line");
    assert_eq!(a.len(), 36);

    let r = with_cookie(&b, &u.name, &a);
    assert_eq!(r.status, 200);
    let b2 = r.authid().unwrap();
    assert_ne!(a, b2, "a fresh cookie each time");
    assert_eq!(
        with_cookie(&b, &u.name, &a).status,
        401,
        "cookies are single use"
    );
    assert_eq!(
        with_cookie(&b, "root", &b2).status,
        401,
        "a cookie belongs to its user"
    );
    // The refused attempt above did not burn the owner's cookie? It did not match, so it stays.
    assert_eq!(with_cookie(&b, &u.name, &b2).status, 200);

    assert_eq!(login(&b, "plain", &u.name, "not the password").status, 401);
    assert_eq!(login(&b, "plain", "no-such-user-x2go", "pw").status, 401);
    assert_eq!(login(&b, "plain", &u.name, "").status, 401);

    let j = login(&b, "json", &u.name, &u.password);
    assert_eq!(j.status, 200);
    assert!(j.content_type().starts_with("text/json"));
    assert_eq!(json_cookie(&j).len(), 36);
    assert!(
        !b.log_text().contains(&u.password),
        "passwords never logged"
    );
    assert!(!b.log_text().contains(&a), "cookies never logged");
}

#[test]
#[ignore = "needs root (PAM test accounts) and the reference broker (x2gobroker-daemon)"]
fn pam_answers_match_the_reference() {
    let u = TestUser::create("x2goref");
    let site = Site::new(PAM_CONF, PROFILES);
    let ours = start_ours(&site, &[]);
    let reference = start_reference(&site);
    for (password, status) in [(u.password.as_str(), 200), ("wrong", 401)] {
        for flavour in ["plain", "json"] {
            let a = login(&ours, flavour, &u.name, password);
            let r = login(&reference, flavour, &u.name, password);
            assert_eq!(
                (a.status, r.status),
                (status, status),
                "{flavour}: {} / {}",
                a.body,
                r.body
            );
            if status == 200 && flavour == "plain" {
                let strip = |s: &str| {
                    s.lines()
                        .filter(|l| !l.starts_with("AUTHID:"))
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                assert_eq!(strip(&a.body), strip(&r.body));
                assert!(a.authid().is_some() && r.authid().is_some());
            }
        }
    }
    // The reference's cookies work with the reference, ours with ours; each once.
    for b in [&ours, &reference] {
        let c = login(b, "plain", &u.name, &u.password).authid().unwrap();
        assert_eq!(with_cookie(b, &u.name, &c).status, 200);
        assert_eq!(with_cookie(b, &u.name, &c).status, 401);
    }
}

#[test]
#[ignore = "needs root (PAM test accounts)"]
fn verify_ip_static_cookie_and_timeout() {
    let u = TestUser::create("x2goip");
    let conf = PAM_CONF.replace(
        "[global]\n",
        "[global]\nuse-static-cookie = true\nauth-timeout = 2\n",
    );
    let site = Site::new(&conf, PROFILES);
    let b = start_ours(&site, &[]);
    let c = login(&b, "plain", &u.name, &u.password).authid().unwrap();
    let r = with_cookie(&b, &u.name, &c);
    assert_eq!(
        r.authid().as_deref(),
        Some(c.as_str()),
        "use-static-cookie hands back the same cookie"
    );
    // From another address the cookie is refused (and consumed, as in the reference).
    let r = request_from(
        "127.0.0.2",
        b.addr,
        "POST",
        "/plain/",
        &form(&[("task", "listsessions"), ("user", &u.name), ("authid", &c)]),
    );
    assert_eq!(r.status, 401);
    assert_eq!(with_cookie(&b, &u.name, &c).status, 401);
    // auth-timeout counts from the password login, across the cookie chain.
    let c = login(&b, "plain", &u.name, &u.password).authid().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(with_cookie(&b, &u.name, &c).status, 401, "expired");

    // verify-ip = false lets the cookie travel.
    let conf = PAM_CONF.replace("[global]\n", "[global]\nverify-ip = false\n");
    let site = Site::new(&conf, PROFILES);
    let b = start_ours(&site, &[]);
    let c = login(&b, "plain", &u.name, &u.password).authid().unwrap();
    let r = request_from(
        "127.0.0.3",
        b.addr,
        "POST",
        "/plain/",
        &form(&[("task", "listsessions"), ("user", &u.name), ("authid", &c)]),
    );
    assert_eq!(r.status, 200);
}

#[test]
#[ignore = "needs root (PAM test accounts)"]
fn cookies_survive_a_restart() {
    let u = TestUser::create("x2gors");
    let site = Site::new(PAM_CONF, PROFILES);
    let data = site.path("state");
    let c = {
        let b = start_ours_in(&site, &data, &[]);
        login(&b, "plain", &u.name, &u.password).authid().unwrap()
    };
    let b = start_ours_in(&site, &data, &[]);
    let r = with_cookie(&b, &u.name, &c);
    assert_eq!(
        r.status, 200,
        "issued cookie still valid after restart: {}",
        r.body
    );
}

#[test]
#[ignore = "needs root (PAM test accounts)"]
fn failed_logins_are_limited_per_user_and_client() {
    let u = TestUser::create("x2gorl");
    let site = Site::new(PAM_CONF, PROFILES);
    let b = start_ours(
        &site,
        &[
            "--max-failed-logins-per-user",
            "3",
            "--max-failed-logins-per-client",
            "5",
        ],
    );
    for _ in 0..3 {
        assert_eq!(login(&b, "plain", &u.name, "guess").status, 401);
    }
    let r = login(&b, "plain", &u.name, &u.password);
    assert_eq!(r.status, 429, "even the right password waits: {}", r.body);
    assert!(r.header("retry-after").is_some());
    assert!(b.log_text().contains("too many failed attempts"));
    // Other users from the same address still get in until the client limit.
    let other = TestUser::create("x2gorm");
    assert_eq!(login(&b, "plain", &other.name, &other.password).status, 200);
    assert_eq!(login(&b, "plain", &other.name, "x").status, 401);
    assert_eq!(login(&b, "plain", &other.name, "y").status, 401);
    assert_eq!(
        login(&b, "plain", &other.name, &other.password).status,
        429,
        "client limit reached"
    );
}

#[test]
fn require_cookie_with_my_cookie() {
    let site = Site::new(
        "[global]\nrequire-password = false\nrequire-cookie = true\nmy-cookie = 0f1e2d3c-aaaa-bbbb-cccc-000000000001\n",
        PROFILES,
    );
    let b = start_ours(&site, &[]);
    let r = with_cookie(&b, "anyone", "0f1e2d3c-aaaa-bbbb-cccc-000000000001");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.authid().as_deref(),
        Some("0f1e2d3c-aaaa-bbbb-cccc-000000000001")
    );
    assert_eq!(with_cookie(&b, "anyone", "something-else").status, 401);
    assert_eq!(
        login(&b, "plain", "anyone", "pw").status,
        401,
        "a cookie is required"
    );
}
