//! Query mode `LOCAL` without agents of ours: the broker asks the
//! reference's Perl agent on this host (`/usr/lib/x2go/x2gobroker-agent`,
//! Debian package `x2gobroker-agent`) as the reference broker does, and
//! answers `listsessions` and `selectsession` exactly as the reference in
//! the same mode on the same session database (the line's age field aside;
//! its last-use field too where a status change stamped it between the
//! two requests): a suspended session shows and resumes, a running one is
//! suspended through the Perl agent and handed out, none leaves the
//! profile with its first host.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::farm::{comparable, list, masked, select};
use common::http::Reply;
use common::processes::*;
use common::site::Site;
use common::x2go::*;
use std::net::TcpListener;

fn ask(broker: &Running, request: &str) -> Reply {
    let (path, form) = request.split_once('?').expect("path?form");
    broker.post(path, form)
}

#[test]
#[ignore = "needs root (x2goserver session database, test accounts) and the reference broker with its agent (x2gobroker-daemon, x2gobroker-agent, sudo)"]
fn local_mode_answers_like_the_reference_with_its_perl_agent() {
    let _db = session_db_blocking();
    let x2go1 = TcpListener::bind("127.0.0.61:0").unwrap();
    let x2go2 = TcpListener::bind("127.0.0.62:0").unwrap();
    let port = |l: &TcpListener| l.local_addr().unwrap().port();
    let site = Site::new(
        "[global]\nrequire-password = false\ndefault-agent-query-mode = LOCAL\n[broker_inifile]\nenable = true\n",
        &format!(
            "[pool]\nname=Pool\nhost=x2go1 (127.0.0.61:{}), x2go2 (127.0.0.62:{})\ncommand=XFCE\n",
            port(&x2go1),
            port(&x2go2)
        ),
    );
    let ours = start_ours(&site, &[]);
    let reference = start_reference(&site);
    let user = X2goUser::create("aglo");
    let name = user.name();
    let same = |request: &str, fields: &[usize]| {
        let theirs = masked(&ask(&reference, request), fields);
        assert_eq!(masked(&ask(&ours, request), fields), theirs, "{request}");
    };

    // No session: the profile with its first host.
    for request in [list("plain", name), list("json", name)] {
        same(&request, &[12]);
    }
    let listed = ask(&ours, &list("plain", name)).body;
    assert!(
        listed.contains("host=x2go1\n") && !listed.contains("status="),
        "{listed}"
    );

    // A suspended session on x2go2: listed as S there, resumed.
    let sid = new_session(name, "x2go2", true);
    change_status(name, "S", &sid);
    for request in [
        list("plain", name),
        list("json", name),
        select("plain", name),
        select("json", name),
    ] {
        same(&request, &[12]);
    }
    let resumed = ask(&ours, &select("plain", name));
    assert!(resumed
        .body
        .contains(&format!("SERVER:127.0.0.62:{}\n", port(&x2go2))));
    assert!(
        resumed.body.contains(&format!("|{sid}|")),
        "{}",
        resumed.body
    );

    // Running: listed as R; selecting suspends it through the Perl agent.
    change_status(name, "R", &sid);
    same(&list("plain", name), &[12]);
    let ours_took = ask(&ours, &select("plain", name));
    assert_eq!(
        status_of("x2go2", &sid).as_deref(),
        Some("S"),
        "suspended in the database"
    );
    change_status(name, "R", &sid);
    let theirs = ask(&reference, &select("plain", name));
    assert_eq!(masked(&ours_took, &[10, 12]), masked(&theirs, &[10, 12]));
    assert!(comparable(&ours_took).contains("|S|"));
}
