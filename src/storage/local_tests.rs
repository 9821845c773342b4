//! Tests of the single-node store: durability across a reopen, and group
//! commit answering every submitter with its own outcome.

use super::*;
use crate::state::{Candidate, PlacedOutcome};
use std::time::Duration;

fn issue(user: &str, cookie: &str) -> Command {
    Command::IssueCookie {
        user: user.into(),
        cookie: cookie.into(),
        ip: "127.0.0.1".into(),
        at: 5,
    }
}

fn redeem(user: &str, cookie: &str, next: &str) -> Command {
    Command::RedeemCookie {
        user: user.into(),
        cookie: cookie.into(),
        ip: "127.0.0.1".into(),
        now: 6,
        verify_ip: true,
        timeout_ms: 100,
        next: next.into(),
    }
}

/// Open `dir` again once the previous store's writer thread has let the database go.
async fn reopen(dir: &Path) -> Store {
    // The writer thread holds the db until its channel closes; wait for the lock to go.
    let mut last = None;
    for _ in 0..100 {
        match Store::open(dir) {
            Ok(s) => return s,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("reopen: {}", last.expect("an error"));
}

#[tokio::test]
async fn survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(&dir.path().join("data")).unwrap();
        store.submit(issue("u", "c")).await.unwrap();
        let o = store
            .submit(Command::Place {
                profile: "p".into(),
                user: "u".into(),
                candidates: vec![
                    Candidate {
                        name: "a".into(),
                        alive: true,
                    },
                    Candidate {
                        name: "b".into(),
                        alive: true,
                    },
                ],
                now: 1,
                window_ms: 100,
            })
            .await
            .unwrap();
        assert_eq!(o, Outcome::Placed(PlacedOutcome::Host("a".into())));
    }
    let store = reopen(&dir.path().join("data")).await;
    // What was acknowledged before is there to read...
    store.read(|s| {
        assert_eq!(s.cookie("u", "c").map(|r| r.issued_at), Some(5));
        assert_eq!(s.placement("p", "u").map(|r| r.host.as_str()), Some("a"));
        assert_eq!(s.placements_on("a"), 1);
    });
    // ...and to act on.
    let o = store.submit(redeem("u", "c", "d")).await.unwrap();
    assert_eq!(o, Outcome::CookieAccepted { next: "d".into() });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_answers_every_submitter() {
    const N: usize = 600;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    // More submitters than one group holds, all at once: each gets its own answer.
    let issued = futures_util::future::join_all(
        (0..N).map(|i| store.submit(issue(&format!("u{i}"), &format!("c{i}")))),
    )
    .await;
    assert_eq!(issued.len(), N);
    assert!(issued.into_iter().all(|o| o.unwrap() == Outcome::Done));
    let redeemed = futures_util::future::join_all((0..N).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .submit(redeem(&format!("u{i}"), &format!("c{i}"), &format!("n{i}")))
                .await
        })
    }))
    .await;
    for (i, o) in redeemed.into_iter().enumerate() {
        assert_eq!(
            o.unwrap().unwrap(),
            Outcome::CookieAccepted {
                next: format!("n{i}")
            }
        );
    }
    drop(store);
    // Every answered command is on disk.
    let store = reopen(&dir.path().join("data")).await;
    store.read(|s| {
        assert_eq!(s.cookie_count(), N);
        assert!((0..N).all(|i| s.cookie(&format!("u{i}"), &format!("n{i}")).is_some()));
    });
}

#[tokio::test]
async fn a_store_of_a_newer_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(Store::open(&data).unwrap());
    // Once the writer thread has let the database go, mark it as written by a newer build.
    let mut db = None;
    for _ in 0..100 {
        match sled::open(data.join(FILE)) {
            Ok(d) => {
                db = Some(d);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let db = db.expect("the store let go of its database");
    assert_eq!(
        &db.get(super::super::format::FORMAT_KEY).unwrap().unwrap()[..],
        b"1"
    );
    db.insert(super::super::format::FORMAT_KEY, "3").unwrap();
    db.flush().unwrap();
    drop(db);
    let e = loop {
        match Store::open(&data) {
            Err(StorageError::Open { .. }) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => break e,
            Ok(_) => panic!("a store of format 3 was opened"),
        }
    };
    assert!(
        matches!(
            e,
            StorageError::FormatUnsupported {
                found: 3,
                newest: 1,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("state.sled is in store format 3"),
        "{e}"
    );
}
