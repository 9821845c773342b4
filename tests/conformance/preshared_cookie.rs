//! The pre-shared cookie: `my-cookie` with and without a password, and
//! `my-cookie-file`, which wins over it (its placeholder content does not).

use crate::common::http::*;
use crate::pair::*;

const MY_COOKIE: &str = "7d4c1e6a-5b2f-4e8a-9c3d-2a1b0f9e8d7c";

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn auth_my_cookie_without_password() {
    let conf = format!(
        "[global]\nrequire-password = false\nrequire-cookie = true\nmy-cookie = {MY_COOKIE}\n"
    );
    let p = pair(&conf, "[p]\nhost=srv1 (127.0.0.2)\n");
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
                ("authid", MY_COOKIE),
            ]),
        ),
        (
            "/plain/",
            &form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("authid", MY_COOKIE),
            ]),
        ),
        (
            "/plain/",
            &form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("authid", "wrong"),
            ]),
        ),
        (
            "/json/",
            &form(&[
                ("task", "listprofiles"),
                ("user", "root"),
                ("authid", MY_COOKIE),
            ]),
        ),
        (
            "/json/",
            &form(&[("task", "listprofiles"), ("user", "root")]),
        ),
        (
            "/plain/",
            &form(&[
                ("task", "selectsession"),
                ("user", "root"),
                ("authid", MY_COOKIE),
                ("sid", "p"),
            ]),
        ),
    ]);
    for run in [&p.reference, &p.ours] {
        let r = send(
            run,
            "POST",
            "/plain/",
            &[],
            &form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("authid", MY_COOKIE),
            ]),
        );
        assert_eq!(r.authid().as_deref(), Some(MY_COOKIE), "{}", r.body);
    }
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn auth_my_cookie_with_password() {
    let conf =
        format!("[global]\nrequire-password = true\nrequire-cookie = true\ndefault-auth-mech = none\nmy-cookie = {MY_COOKIE}\n");
    let p = pair(&conf, "[p]\nname=p\n");
    // Not covered: the pre-shared cookie plus a password. The reference then
    // tries to delete a cookie file that never existed and fails with 500;
    // ours logs the user in and issues a fresh cookie.
    p.compare(&[
        // no cookie at all -> 401
        (
            "/plain/",
            &form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("password", "x"),
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
        // a wrong cookie -> 401
        (
            "/plain/",
            &form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("password", "x"),
                ("authid", "wrong"),
            ]),
        ),
        (
            "/plain/",
            &form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("authid", "00000000-0000-4000-8000-000000000000"),
            ]),
        ),
    ]);
}

const FILE_COOKIE: &str = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn my_cookie_file_wins_over_my_cookie() {
    let conf = format!(
        "[global]\nrequire-password = false\nrequire-cookie = true\nmy-cookie = {MY_COOKIE}\n"
    );
    let p = pair_with(&conf, "[p]\nname=p\n", |site| {
        let text = format!(
            "# the broker's pre-shared cookie\n\n{FILE_COOKIE} some comment\nsecond-line\n"
        );
        std::fs::write(site.path("x2gobroker.authid"), text).unwrap();
    });
    p.compare(&[
        (
            "/plain/",
            form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("authid", FILE_COOKIE),
            ]),
        ),
        (
            "/plain/",
            form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("authid", MY_COOKIE),
            ]),
        ),
        (
            "/plain/",
            form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("authid", "second-line"),
            ]),
        ),
        (
            "/json/",
            form(&[
                ("task", "listprofiles"),
                ("user", "root"),
                ("authid", FILE_COOKIE),
            ]),
        ),
    ]);
    let (r, _) = p.check(
        "POST",
        "/plain/",
        &[],
        &form(&[
            ("task", "listsessions"),
            ("user", "root"),
            ("authid", FILE_COOKIE),
        ]),
    );
    assert_eq!(r.authid().as_deref(), Some(FILE_COOKIE));
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn my_cookie_file_unconfigured_placeholder() {
    let conf = format!(
        "[global]\nrequire-password = false\nrequire-cookie = true\nmy-cookie = {MY_COOKIE}\n"
    );
    let p = pair_with(&conf, "[p]\nname=p\n", |site| {
        std::fs::write(
            site.path("x2gobroker.authid"),
            "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx\n",
        )
        .unwrap();
    });
    p.compare(&[
        (
            "/plain/",
            form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("authid", MY_COOKIE),
            ]),
        ),
        (
            "/plain/",
            form(&[
                ("task", "listsessions"),
                ("user", "root"),
                ("authid", "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"),
            ]),
        ),
    ]);
}
