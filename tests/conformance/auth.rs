//! Authentication mechanisms: no password required, `none`, `pam` with a
//! wrong password, the mechanism per backend, unknown mechanisms, the legacy
//! `check-credentials`, and special user names.

use crate::common::http::*;
use crate::compare::*;
use crate::cookies::compare_flow;
use crate::pair::*;

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn auth_not_required() {
    let profiles = "[p]\nhost=srv1 (127.0.0.2)\n";
    let conf = "[global]\nrequire-password = false\nrequire-cookie = false\n";
    let p = pair(conf, profiles);
    p.compare(&[
        (
            "/plain/",
            &form(&[("task", "listsessions"), ("user", "root")]),
        ),
        (
            "/plain/",
            &form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("password", "wrong"),
            ]),
        ),
        (
            "/plain/",
            &form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("authid", "whatever"),
            ]),
        ),
        (
            "/json/",
            &form(&[
                ("task", "listprofiles"),
                ("user", "root"),
                ("authid", "whatever"),
            ]),
        ),
    ]);
    let (r, _) = p.check(
        "POST",
        "/plain/",
        &[],
        &form(&[("task", "listsessions"), ("user", "root")]),
    );
    assert!(!r.body.contains("AUTHID"), "{}", r.body);
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn auth_mech_none_with_password() {
    let profiles = "[p]\nhost=srv1 (127.0.0.2)\nuser=BROKER_USER\n";
    let p = pair(AUTH_NONE, profiles);
    p.compare(&[
        (
            "/plain/",
            &form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("password", "x"),
            ]),
        ),
        (
            "/plain/",
            &form(&[
                ("task", "listsessions"),
                ("user", "someone"),
                ("password", ""),
            ]),
        ),
        (
            "/json/",
            &form(&[
                ("task", "listprofiles"),
                ("user", "root"),
                ("password", "x"),
            ]),
        ),
        (
            "/plain/",
            &form(&[
                ("task", "selectsession"),
                ("user", "root"),
                ("password", "x"),
                ("sid", "p"),
            ]),
        ),
        (
            "/json/",
            &form(&[
                ("task", "selectsession"),
                ("user", "root"),
                ("password", "x"),
                ("profile-id", "p"),
            ]),
        ),
        (
            "/plain/",
            &form(&[("task", "testcon"), ("user", "root"), ("password", "x")]),
        ),
        // An unknown cookie is refused.
        (
            "/plain/",
            &form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("authid", "00000000-0000-4000-8000-000000000000"),
            ]),
        ),
        (
            "/json/",
            &form(&[
                ("task", "listprofiles"),
                ("user", "root"),
                ("authid", "not-a-cookie"),
            ]),
        ),
    ]);
    let (r, o) = p.check(
        "POST",
        "/plain/",
        &[],
        &form(&[
            ("task", "listsessions"),
            ("user", "root"),
            ("password", "x"),
        ]),
    );
    assert!(
        r.body.starts_with("AUTHID:") && o.body.starts_with("AUTHID:"),
        "{}\n{}",
        r.body,
        o.body
    );
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn auth_mech_in_backend_section() {
    let conf = "[global]\nrequire-password = true\ndefault-auth-mech = pam\n[broker_inifile]\nauth-mech = NONE\n";
    let p = pair(conf, "[p]\nname=p\n");
    p.compare(&[
        (
            "/plain/",
            form(&[
                ("task", "listsessions"),
                ("user", "alice"),
                ("password", "anything"),
            ]),
        ),
        (
            "/json/",
            form(&[
                ("task", "listprofiles"),
                ("user", "alice"),
                ("password", "anything"),
            ]),
        ),
    ]);
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn auth_mech_unknown() {
    let conf = "[global]\nrequire-password = true\ndefault-auth-mech = nosuchmech\n";
    let p = pair(conf, "[p]\nname=p\n");
    p.compare(&[
        (
            "/plain/",
            form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("password", "x"),
            ]),
        ),
        (
            "/json/",
            form(&[
                ("task", "listprofiles"),
                ("user", "root"),
                ("password", "x"),
            ]),
        ),
    ]);
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn auth_pam_wrong_password() {
    let conf = "[global]\nrequire-password = true\n";
    let p = pair(conf, "[p]\nname=p\n");
    // PAM delays failures by seconds: send all four requests at once.
    let requests = [
        (
            "/plain/",
            form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("password", "certainly-wrong"),
            ]),
        ),
        (
            "/json/",
            form(&[
                ("task", "listprofiles"),
                ("user", "nosuchuser-x2go"),
                ("password", "x"),
            ]),
        ),
    ];
    std::thread::scope(|scope| {
        let handles: Vec<_> = requests
            .iter()
            .map(|(path, body)| {
                let r = scope.spawn(|| send(&p.reference, "POST", path, &[], body));
                let o = scope.spawn(|| send(&p.ours, "POST", path, &[], body));
                (path, body, r, o)
            })
            .collect();
        for (path, body, r, o) in handles {
            let (r, o) = (r.join().unwrap(), o.join().unwrap());
            assert_same(&format!("POST {path} {body}"), path, &r, &o);
            assert_eq!(r.status, 401);
        }
    });
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn legacy_check_credentials_false() {
    let conf =
        "[global]\ncheck-credentials = false\nrequire-password = true\nrequire-cookie = true\n";
    let p = pair(conf, "[p]\nname=p\n");
    p.compare(&list_requests(&["root", "alice"]));
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn auth_special_users() {
    let p = pair(AUTH_NONE, "[p]\nname=p\n");
    // The UCCS frontend's probe user never gets in.
    p.compare(&[
        (
            "/plain/",
            form(&[
                ("task", "listsessions"),
                ("user", "check-credentials"),
                ("password", "FALSE"),
            ]),
        ),
        (
            "/plain/",
            form(&[
                ("task", "listsessions"),
                ("user", "check-credentials"),
                ("password", "false"),
            ]),
        ),
    ]);
    // A login without a user name gets a cookie that is never stored.
    let steps: &[(&str, &[(&str, &str)])] = &[
        (
            "/plain/",
            &[("task", "listsessions"), ("user", ""), ("password", "x")],
        ),
        (
            "/plain/",
            &[("task", "listsessions"), ("user", ""), ("authid", "{A}")],
        ),
    ];
    let (r, _) = compare_flow(&p, steps);
    assert_eq!(
        r.iter().map(|x| x.status).collect::<Vec<_>>(),
        vec![200, 401]
    );
}
