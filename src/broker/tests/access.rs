//! Access checks: passwords through a mechanism, authid cookies issued,
//! redeemed and refused, the pre-shared cookie, the failed-login limiter.

use super::{Fixture, MAX_FAILURES};
use crate::broker::{Access, Backend, Credentials};

const NO_MECHANISM: &str = "[global]\nrequire-password = true\ndefault-auth-mech = none\n";
const BROKEN_MECHANISM: &str = "[global]\nrequire-password = true\ndefault-auth-mech = ldap\n";
const PROFILES: &str = "[p]\nhost=127.0.0.1\n";

fn creds<'a>(user: &'a str, password: &'a str, cookie: &'a str, ip: &'a str) -> Credentials<'a> {
    Credentials {
        user,
        password,
        cookie,
        ip,
    }
}

impl Fixture {
    async fn access(&self, c: Credentials<'_>) -> Access {
        let loaded = self.broker.current();
        self.broker
            .check_access(&loaded, Backend::Inifile, c, true)
            .await
            .expect("the local ledger answers")
    }

    /// Replace `x2gobroker.conf` and reload it.
    async fn set_conf(&self, conf: &str) {
        std::fs::write(self.dir.path().join("x2gobroker.conf"), conf).unwrap();
        self.broker
            .reload()
            .await
            .expect("the new configuration loads");
    }

    fn cookie_stored(&self, user: &str, cookie: &str) -> bool {
        self.broker
            .ledger
            .read(|s| s.cookie(user, cookie).is_some())
    }
}

fn granted_cookie(a: Access) -> String {
    match a {
        Access::Granted {
            next_cookie: Some(c),
        } => c,
        other => panic!("expected a granted login with a cookie, got {other:?}"),
    }
}

#[tokio::test]
async fn password_login_issues_a_stored_cookie() {
    let f = Fixture::new(NO_MECHANISM, PROFILES);
    let cookie = granted_cookie(f.access(creds("alice", "pw", "", "127.0.0.1")).await);
    assert_eq!(cookie.len(), 36);
    assert!(f.cookie_stored("alice", &cookie));
    assert!(!f.cookie_stored("bob", &cookie));
}

#[tokio::test]
async fn cookies_are_single_use_and_chain() {
    let f = Fixture::new(NO_MECHANISM, PROFILES);
    let first = granted_cookie(f.access(creds("alice", "pw", "", "127.0.0.1")).await);
    let second = granted_cookie(f.access(creds("alice", "", &first, "127.0.0.1")).await);
    assert_ne!(first, second);
    assert!(
        !f.cookie_stored("alice", &first),
        "redeemed cookies are gone"
    );
    assert!(f.cookie_stored("alice", &second));
    assert_eq!(
        f.access(creds("alice", "", &first, "127.0.0.1")).await,
        Access::Denied,
        "a cookie is accepted once"
    );
    granted_cookie(f.access(creds("alice", "", &second, "127.0.0.1")).await);
}

#[tokio::test]
async fn cookies_are_refused_for_another_user_address_or_unknown() {
    let f = Fixture::new(NO_MECHANISM, PROFILES);
    let c = granted_cookie(f.access(creds("alice", "pw", "", "127.0.0.1")).await);
    assert_eq!(
        f.access(creds("bob", "", &c, "127.0.0.1")).await,
        Access::Denied
    );
    assert_eq!(
        f.access(creds("alice", "", &c, "127.0.0.2")).await,
        Access::Denied,
        "verify-ip binds the cookie to the login address"
    );
    assert!(!f.cookie_stored("alice", &c), "a refused cookie is burnt");
    assert_eq!(
        f.access(creds("alice", "", "not-a-cookie", "127.0.0.1"))
            .await,
        Access::Denied
    );
}

#[tokio::test]
async fn uccs_logins_store_no_cookie() {
    let f = Fixture::new(NO_MECHANISM, PROFILES);
    let loaded = f.broker.current();
    let c = f
        .broker
        .check_access(
            &loaded,
            Backend::Base,
            creds("alice", "pw", "", "127.0.0.1"),
            false,
        )
        .await
        .unwrap();
    assert!(!f.cookie_stored("alice", &granted_cookie(c)));
}

#[tokio::test]
async fn a_failing_mechanism_refuses_and_the_limiter_steps_in() {
    let f = Fixture::new(BROKEN_MECHANISM, PROFILES);
    for _ in 0..MAX_FAILURES {
        assert_eq!(
            f.access(creds("alice", "pw", "", "127.0.0.1")).await,
            Access::Denied
        );
    }
    match f.access(creds("alice", "pw", "", "127.0.0.1")).await {
        Access::Limited(wait) => assert!(wait.as_secs() <= 60 && !wait.is_zero()),
        other => panic!("expected the limiter, got {other:?}"),
    }
    // The client address is limited too, for any user.
    assert!(matches!(
        f.access(creds("bob", "pw", "", "127.0.0.1")).await,
        Access::Limited(_)
    ));
    assert_eq!(
        f.access(creds("bob", "pw", "", "127.0.0.3")).await,
        Access::Denied
    );
}

#[tokio::test]
async fn a_good_login_clears_the_users_failures() {
    // Each attempt from its own address, so that only the per-user limit counts.
    let f = Fixture::new(BROKEN_MECHANISM, PROFILES);
    for i in 0..MAX_FAILURES - 1 {
        let ip = format!("127.0.1.{i}");
        assert_eq!(
            f.access(creds("alice", "pw", "", &ip)).await,
            Access::Denied
        );
    }
    f.set_conf(NO_MECHANISM).await;
    granted_cookie(f.access(creds("alice", "pw", "", "127.0.2.1")).await);
    f.set_conf(BROKEN_MECHANISM).await;
    for i in 0..MAX_FAILURES {
        let ip = format!("127.0.3.{i}");
        assert_eq!(
            f.access(creds("alice", "pw", "", &ip)).await,
            Access::Denied,
            "the earlier failures no longer count"
        );
    }
    assert!(matches!(
        f.access(creds("alice", "pw", "", "127.0.4.1")).await,
        Access::Limited(_)
    ));
}

#[tokio::test]
async fn policies_without_password() {
    let open = Fixture::new("[global]\ncheck-credentials = false\n", PROFILES);
    assert_eq!(
        open.access(creds("anyone", "", "", "127.0.0.1")).await,
        Access::Granted { next_cookie: None }
    );
    let shared = Fixture::new(
        "[global]\nrequire-password = false\nrequire-cookie = true\nmy-cookie = 0123-shared\nmy-cookie-file = /nonexistent\n",
        PROFILES,
    );
    assert_eq!(
        shared
            .access(creds("u", "", "0123-shared", "127.0.0.1"))
            .await,
        Access::Granted {
            next_cookie: Some("0123-shared".into())
        }
    );
    assert_eq!(
        shared.access(creds("u", "", "wrong", "127.0.0.1")).await,
        Access::Denied
    );
    assert_eq!(
        shared.access(creds("u", "", "", "127.0.0.1")).await,
        Access::Denied
    );
    let f = Fixture::new(NO_MECHANISM, PROFILES);
    assert_eq!(
        f.access(creds("check-credentials", "FALSE", "", "127.0.0.1"))
            .await,
        Access::Denied,
        "the reference's anonymous probe"
    );
}

/// Finding 3: unknown authid cookies count against the client address like
/// failed passwords: past the limit the address waits (cookies and
/// passwords alike), while the user's own cookie and logins from other
/// addresses are unaffected.
#[tokio::test]
async fn finding3_cookie_guesses_count_against_the_client() {
    let f = Fixture::new(NO_MECHANISM, PROFILES);
    let good = granted_cookie(f.access(creds("alice", "pw", "", "127.0.0.9")).await);
    for i in 0..MAX_FAILURES {
        let guess = format!("guess-{i}");
        assert_eq!(
            f.access(creds("alice", "", &guess, "127.0.0.5")).await,
            Access::Denied
        );
    }
    assert!(matches!(
        f.access(creds("alice", "", "guess-x", "127.0.0.5")).await,
        Access::Limited(_)
    ));
    assert!(
        matches!(
            f.access(creds("bob", "pw", "", "127.0.0.5")).await,
            Access::Limited(_)
        ),
        "passwords from the guessing address wait too"
    );
    // The guesses named alice, but her cookie and logins elsewhere still work.
    granted_cookie(f.access(creds("alice", "", &good, "127.0.0.9")).await);
    granted_cookie(f.access(creds("alice", "pw", "", "127.0.0.8")).await);
}
