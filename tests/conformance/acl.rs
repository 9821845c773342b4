//! ACLs: users, groups (with and without primary groups) and client
//! addresses, allow/deny orders, `ALL`, and ACLs in the `[DEFAULT]` section.

use crate::common::http::*;
use crate::compare::*;
use crate::pair::*;

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn acl_user_orders() {
    let profiles = profiles!("acl_user_orders");
    let p = pair(OPEN, profiles);
    p.compare(&list_requests(&["root", "alice", "nosuchuser-x2go", ""]));
    // Sanity: the configuration really exercises both outcomes.
    let root = visible(&p, "root");
    assert!(
        root.contains(&"a-allow-root".to_string()) && !root.contains(&"b-deny-root".to_string()),
        "{root:?}"
    );
    assert!(
        root.contains(&"c-both-allow-deny".to_string())
            && !root.contains(&"e-both-unset".to_string()),
        "{root:?}"
    );
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn acl_any_order_is_ignored() {
    let profiles = profiles!("acl_any_order_is_ignored");
    let p = pair(OPEN, profiles);
    p.compare(&list_requests(&["root", "alice"]));
    // The reference reads the per-category orders only: acl-any-order changes nothing.
    let root = visible(&p, "root");
    assert_eq!(root, vec!["any-with-users-order".to_string()], "{root:?}");
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn acl_any_order_in_default_section() {
    let profiles = profiles!("acl_any_order_in_default_section");
    let p = pair(OPEN, profiles);
    p.compare(&list_requests(&["root", "alice"]));
    assert_eq!(visible(&p, "root"), vec!["plain".to_string()]);
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn acl_all_keyword() {
    let profiles = profiles!("acl_all_keyword");
    let p = pair(OPEN, profiles);
    p.compare(&list_requests(&["root", "alice", "all", "ALL"]));
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn acl_clients() {
    let profiles = profiles!("acl_clients");
    let p = pair(OPEN, profiles);
    p.compare(&list_requests(&["root", "alice"]));
    let root = visible(&p, "root");
    assert!(root.contains(&"a-allow-host".to_string()), "{root:?}");
    assert!(
        !root.contains(&"c-net-minus-host-unset".to_string()),
        "{root:?}"
    );
    assert!(
        root.contains(&"d-net-minus-host-ad".to_string()),
        "{root:?}"
    );
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn acl_clients_from_other_addresses() {
    let profiles = profiles!("acl_clients_from_other_addresses");
    let p = pair(OPEN, profiles);
    for src in [
        "127.0.0.1",
        "127.0.0.2",
        "127.0.0.3",
        "127.0.1.5",
        "127.1.0.0",
        "127.2.0.1",
    ] {
        for (path, body) in list_requests(&["root"]) {
            let r = request_from(src, p.reference.addr, "POST", path, &body);
            let o = request_from(src, p.ours.addr, "POST", path, &body);
            assert_same(&format!("from {src}: POST {path} {body}"), path, &r, &o);
        }
    }
}

const GROUP_PROFILES: &str = profiles!("acl_groups");

const GROUP_USERS: &[&str] = &["root", "pulse", "nobody", "alice", "nosuchuser-x2go"];

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn acl_groups_ignoring_primary_groups() {
    let p = pair(OPEN, GROUP_PROFILES);
    p.compare(&list_requests(GROUP_USERS));
    // root's only group is its primary group: not counted by default.
    assert!(!visible(&p, "root").contains(&"a-group-root".to_string()));
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn acl_groups_counting_primary_groups() {
    let conf = "[global]\nrequire-password = false\nignore-primary-group-memberships = false\n";
    let p = pair(conf, GROUP_PROFILES);
    p.compare(&list_requests(GROUP_USERS));
    assert!(visible(&p, "root").contains(&"a-group-root".to_string()));
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn acl_groups_primary_explicitly_ignored() {
    let conf = "[global]\nrequire-password = false\nignore-primary-group-memberships = true\n";
    let p = pair(conf, GROUP_PROFILES);
    p.compare(&list_requests(&["root", "nobody"]));
}

#[test]
#[ignore = "needs the reference broker (x2gobroker-daemon)"]
fn default_section_acls_apply_to_all() {
    let profiles = profiles!("default_section_acls_apply_to_all");
    let p = pair(OPEN, profiles);
    p.compare(&list_requests(&["root", "alice"]));
}
