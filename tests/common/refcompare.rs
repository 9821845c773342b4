//! One user's sessions through the reference's agent, asked of our broker
//! and of the reference broker in the same agent query mode (`LOCAL`,
//! `SSH`) on the same session database, profile `pool` over `x2go1` and
//! `x2go2` (at 127.0.0.61 and 127.0.0.62): with no session the profile
//! shows its first host; a suspended session on x2go2 is listed (`status=S`,
//! `host=x2go2`) and resumed (SERVER and SESSION_INFO); a running one is
//! suspended through the Perl agent and handed out. Every answer equals
//! the reference's, the session line's age field aside (its last-use
//! field too where a status change stamped it between the two requests).

use super::farm::{ask_reference as ask, comparable, list, masked, select};
use super::processes::Running;
use super::x2go::{change_status, new_session, status_of};

/// The whole sequence for `user`; x2go2's SSH port is `x2go2_port`. The
/// session id.
pub fn resume_like_the_reference(
    ours: &Running,
    reference: &Running,
    user: &str,
    x2go2_port: u16,
) -> String {
    let same = |request: &str, fields: &[usize]| {
        let theirs = masked(&ask(reference, request), fields);
        assert_eq!(
            masked(&ask(ours, request), fields),
            theirs,
            "{request}\nours: {}\nreference: {}",
            ours.log_text(),
            reference.log_text()
        );
    };

    // No session: the profile with its first host.
    for request in [list("plain", user), list("json", user)] {
        same(&request, &[12]);
    }
    let listed = ask(ours, &list("plain", user)).body;
    assert!(
        listed.contains("host=x2go1\n") && !listed.contains("status="),
        "{listed}"
    );

    // A suspended session on x2go2: listed as S there, resumed.
    let sid = new_session(user, "x2go2", true);
    change_status(user, "S", &sid);
    for request in [
        list("plain", user),
        list("json", user),
        select("plain", user),
        select("json", user),
    ] {
        same(&request, &[12]);
    }
    let listed = ask(ours, &list("plain", user)).body;
    assert!(
        listed.contains("host=x2go2\n") && listed.contains("status=S\n"),
        "{listed}"
    );
    let resumed = ask(ours, &select("plain", user)).body;
    assert!(
        resumed.contains(&format!("SERVER:127.0.0.62:{x2go2_port}\n")),
        "{resumed}"
    );
    assert!(resumed.contains(&format!("|{sid}|")), "{resumed}");

    // Running: listed as R; selecting suspends it through the Perl agent.
    change_status(user, "R", &sid);
    same(&list("plain", user), &[12]);
    let ours_took = ask(ours, &select("plain", user));
    assert_eq!(
        status_of("x2go2", &sid).as_deref(),
        Some("S"),
        "suspended in the database"
    );
    change_status(user, "R", &sid);
    let theirs = ask(reference, &select("plain", user));
    assert_eq!(masked(&ours_took, &[10, 12]), masked(&theirs, &[10, 12]));
    assert!(comparable(&ours_took).contains("|S|"));
    sid
}
