//! Listing: the profiles a user's ACLs allow, rendered and sorted, and the
//! user's placements.

use super::Fixture;
use crate::broker::Backend;
use crate::config::value::Value;

const CONF: &str = "[global]\nrequire-password = true\ndefault-auth-mech = none\n";

#[tokio::test]
async fn profiles_by_acl_sorted_and_rendered_for_the_user() {
    let f = Fixture::new(
        CONF,
        "[zz]\nhost=127.0.0.1\nuser=BROKER_USER\n[aa]\nhost=127.0.0.1\n[private]\nhost=127.0.0.1\nacl-users-allow = bob\nacl-users-deny = ALL\nacl-users-order = allow-deny\n",
    );
    let loaded = f.broker.current();
    let listed = f
        .broker
        .list_profiles(&loaded, Backend::Inifile, "alice", None)
        .await
        .unwrap();
    let ids: Vec<&str> = listed.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["aa", "zz"]);
    let user = listed[1]
        .1
        .iter()
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v);
    assert_eq!(user, Some(&Value::Str("alice".into())));
    let lister = f
        .broker
        .lister(&loaded, Backend::Inifile, "bob", None)
        .await
        .unwrap();
    let private = loaded.profiles.get("private").unwrap();
    assert!(lister.permits(private));
    assert_eq!(lister.profiles().len(), 3);
}

#[tokio::test]
async fn placements_of_a_user() {
    let f = Fixture::new(
        CONF,
        "[pool]\nhost=a (127.0.0.11), b (127.0.0.12)\nbroker-portscan-x2goservers = false\n",
    );
    let loaded = f.broker.current();
    for user in ["u1", "u2"] {
        f.broker
            .select_session(
                &loaded,
                Backend::Inifile,
                &crate::broker::Selection {
                    profile_id: "pool",
                    user,
                    server_user: user,
                    client: None,
                    pubkey: None,
                },
            )
            .await
            .unwrap();
    }
    let mine = f.broker.placements_of("u2").await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        (mine[0].profile_id.as_str(), mine[0].host.as_str()),
        ("pool", "b")
    );
    assert!(f.broker.placements_of("nobody").await.unwrap().is_empty());
}
