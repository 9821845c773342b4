//! The UCCS frontend: profiles without credentials, disabled, and its ping.

use crate::pair::*;

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn uccs_without_credentials() {
    let conf = "[global]\nrequire-password = false\nenable-uccs-output = true\nmy-uccs-url-base = http://127.0.0.1:8080/\n";
    let profiles = profiles!("uccs_without_credentials");
    let p = pair(conf, profiles);
    for path in [
        "/uccs/inifile/api/5",
        "/uccs/inifile/api/4",
        "/uccs/inifile/api/5/",
        "/uccs/inifile/api/0",
        "/uccs/inifile/api/3",
        "/uccs/inifile/api/9",
        "/uccs/nosuch/api/5",
        "/uccs/zeroconf/api/5",
    ] {
        p.compare_get(path);
    }
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn uccs_disabled() {
    let p = pair(OPEN, "[p]\nhost=srv1 (127.0.0.2)\n");
    p.compare_get("/uccs/inifile/api/5");
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn uccs_ping() {
    let conf = "[global]\nrequire-password = false\nenable-uccs-output = true\n";
    let p = pair(conf, "[p]\nname=p\n");
    // The body is the current UTC time: compare status and type only.
    for path in ["/uccs/inifile", "/uccs/inifile/", "/uccs/"] {
        let r = send(&p.reference, "GET", path, &[], "");
        let o = send(&p.ours, "GET", path, &[], "");
        assert_eq!(
            (r.status, r.content_type()),
            (o.status, o.content_type()),
            "{path}\n{}\n{}",
            r.body,
            o.body
        );
    }
}
