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

use common::processes::*;
use common::refcompare::resume_like_the_reference;
use common::site::Site;
use common::x2go::*;
use std::net::TcpListener;

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
    resume_like_the_reference(&ours, &reference, user.name(), port(&x2go2));
}
