//! Unit and property tests of the key file template and the key edits.

use super::*;
use proptest::prelude::*;

fn alice() -> SessionUser {
    SessionUser {
        name: "alice".into(),
        uid: 1001,
        gid: 1002,
        home: PathBuf::from("/home/alice"),
        groups: vec![1002],
    }
}

#[test]
fn the_template_expands_like_the_reference() {
    let u = alice();
    let cases = [
        ("", "/home/alice/.x2go/authorized_keys"),
        (
            "%h/.x2go/authorized_keys",
            "/home/alice/.x2go/authorized_keys",
        ),
        ("/etc/ssh/keys/%u", "/etc/ssh/keys/alice"),
        ("/k/%U-%G", "/k/1001-1002"),
        // First occurrence of each only.
        ("/k/%u/%u", "/k/alice/%u"),
        // In order: %u first, so "%%u" becomes "%alice", and "%%" then "%".
        ("/k/%%u", "/k/%alice"),
        ("/k/100%%", "/k/100%"),
        // Relative: under the home directory.
        (".ssh/authorized_keys2", "/home/alice/.ssh/authorized_keys2"),
    ];
    for (template, want) in cases {
        assert_eq!(
            expand(template, &u).unwrap(),
            PathBuf::from(want),
            "{template}"
        );
    }
    assert!(matches!(expand("a\0b", &u), Err(KeyError::BadTemplate)));
}

#[test]
fn add_appends_unless_present() {
    assert_eq!(with_key("", "k1").as_deref(), Some("k1\n"));
    assert_eq!(with_key("k0\n", "k1").as_deref(), Some("k0\nk1\n"));
    assert_eq!(
        with_key("k0", "k1").as_deref(),
        Some("k0\nk1\n"),
        "no glued lines"
    );
    assert_eq!(with_key("k1\nk0\n", "k1"), None, "anywhere in the file");
    assert_eq!(
        with_key("k1 extra\n", "k1").as_deref(),
        Some("k1 extra\nk1\n")
    );
}

#[test]
fn remove_drops_every_equal_line_and_keeps_the_rest() {
    assert_eq!(
        without_key("a\nk\n\nb\nk\r\n", "k").as_deref(),
        Some("a\n\nb\n")
    );
    assert_eq!(without_key("a\nb\n", "k"), None);
    assert_eq!(without_key("k", "k").as_deref(), Some(""));
}

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl c";

#[test]
fn keys_must_be_one_well_formed_line() {
    assert_eq!(check_key(&format!("{KEY}\n")).unwrap(), KEY);
    let command = format!("command=\"/bin/sh\" {KEY}");
    for bad in ["", "  ", "a\nb", "a\rb", "a\0b", "ssh-rsa AAA c", &command] {
        assert!(
            matches!(check_key(bad), Err(KeyError::BadKey(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn errors_do_not_show_the_key() {
    let e = KeyError::Io {
        path: PathBuf::from("/home/alice/.x2go/authorized_keys"),
        user: "alice".into(),
        source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
    };
    let text = e.to_string();
    assert!(text.contains("/home/alice/.x2go/authorized_keys") && text.contains("alice"));
}

fn line() -> impl Strategy<Value = String> {
    "[a-z0-9 =+/-]{0,12}"
}

proptest! {
    #[test]
    fn add_then_remove_leaves_no_key_and_add_is_idempotent(
        lines in proptest::collection::vec(line(), 0..8),
        key in "[a-z]{1,4} [A-Za-z0-9+/]{4,12}",
    ) {
        let content: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let added = with_key(&content, &key).unwrap_or_else(|| content.clone());
        prop_assert!(has_key(&added, &key));
        prop_assert_eq!(with_key(&added, &key), None);
        let removed = without_key(&added, &key).unwrap();
        prop_assert!(!has_key(&removed, &key));
        let others: Vec<&str> = content.lines().filter(|l| *l != key).collect();
        prop_assert_eq!(removed.lines().collect::<Vec<_>>(), others);
    }
}
