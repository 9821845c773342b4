use super::*;
use crate::agent::wire;
use std::collections::{BTreeMap, HashSet};

const NOW: i64 = 1_795_995_008;

fn model(seed: u64, count: usize) -> (ServerModel, Rng) {
    let mut rng = Rng::seeded(seed);
    let m = ServerModel::new("sim00007", count, 70, 1000, &mut rng, NOW);
    (m, rng)
}

/// What a broker knows after applying `changes` to `known`.
fn apply(known: &mut BTreeMap<String, Session>, changes: &Changes) {
    for s in changes.added.iter().chain(&changes.changed) {
        known.insert(s.session_id.clone(), s.clone());
    }
    for id in &changes.removed {
        known.remove(id);
    }
}

#[test]
fn initial_sessions_are_real_session_lines_of_this_server() {
    let (mut m, _) = model(1, 10);
    let sessions = m.listing(NOW + 5).to_vec();
    assert_eq!(sessions.len(), 10);
    let ids: HashSet<&str> = sessions.iter().map(|s| s.session_id.as_str()).collect();
    let displays: HashSet<u32> = sessions.iter().map(|s| s.display).collect();
    assert_eq!((ids.len(), displays.len()), (10, 10));
    for (k, s) in sessions.iter().enumerate() {
        assert_eq!(Session::parse(&s.raw_line).unwrap(), *s);
        assert_eq!(s.raw_line.split('|').count(), 16);
        assert_eq!(s.server, "sim00007");
        assert_eq!(s.user, format!("simuser{}", 70 + k));
        assert!(s.status.is_live());
        assert!(s.display >= 50 && s.cookie.len() == 32);
        assert!(s
            .session_id
            .starts_with(&format!("{}-{}-", s.user, s.display)));
        assert!((5..=5 + 8 * 3600).contains(&s.age_secs), "{}", s.age_secs);
    }
    let statuses: HashSet<SessionStatus> = sessions.iter().map(|s| s.status).collect();
    assert_eq!(statuses.len(), 2, "running and suspended ones");
}

#[test]
fn churn_keeps_the_count_and_a_broker_following_the_deltas_agrees() {
    let (mut m, mut rng) = model(2, 8);
    let mut known: BTreeMap<String, Session> = m
        .listing(NOW)
        .iter()
        .map(|s| (s.session_id.clone(), s.clone()))
        .collect();
    let (mut flips, mut replaced) = (0, 0);
    for step in 1..=500 {
        let now = NOW + step;
        let c = m.churn(&mut rng, now);
        match (c.added.len(), c.changed.len(), c.removed.len()) {
            (0, 1, 0) => {
                flips += 1;
                let s = &c.changed[0];
                let before = known[&s.session_id].status;
                assert_ne!(s.status, before, "a flip changes the status");
                assert_eq!(s.last_time, x2go_time(now));
            }
            (1, 0, 1) => {
                replaced += 1;
                assert_eq!(c.added[0].status, SessionStatus::Running);
                assert_eq!(c.added[0].age_secs, 0);
                assert!(!known.contains_key(&c.added[0].session_id), "a new id");
            }
            other => panic!("one change at a time, not {other:?}"),
        }
        apply(&mut known, &c);
        assert_eq!(m.sessions().len(), 8);
        let ours: BTreeMap<String, Session> = m
            .sessions()
            .iter()
            .map(|s| (s.session_id.clone(), s.clone()))
            .collect();
        assert_eq!(ours, known, "step {step}");
        for s in m.sessions() {
            assert_eq!(Session::parse(&s.raw_line).unwrap(), *s);
        }
    }
    assert!(
        flips > 250 && replaced > 80,
        "{flips} flips, {replaced} replaced"
    );
    let displays: HashSet<u32> = m.sessions().iter().map(|s| s.display).collect();
    assert_eq!(displays.len(), 8, "displays stay unique");
}

#[test]
fn a_seed_replays_a_server_and_no_sessions_means_no_changes() {
    let run = |seed| {
        let (mut m, mut rng) = model(seed, 5);
        (0..50)
            .map(|i| {
                let c = m.churn(&mut rng, NOW + i);
                let l = m.load(&mut rng);
                (c, l.loadavg_xx, l.mem_avail)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(9), run(9));
    assert_ne!(run(9), run(10));
    let (mut empty, mut rng) = model(3, 0);
    assert!(empty.churn(&mut rng, NOW).is_empty());
}

#[test]
fn load_reports_count_live_sessions_and_vary() {
    let (mut m, mut rng) = model(4, 12);
    let mut factors = HashSet::new();
    for _ in 0..10 {
        let metrics = m.load(&mut rng);
        let r = wire::load_report(&metrics, m.sessions(), std::time::SystemTime::now());
        assert_eq!(r.session_count, 12);
        assert_eq!(r.num_cpu, m.hardware().num_cpu);
        assert!(r.load_factor > 0);
        factors.insert(r.load_factor);
    }
    assert!(factors.len() > 5, "{factors:?}");
}

#[test]
fn commands_change_sessions_as_x2goserver_would() {
    let (mut m, _) = model(5, 6);
    let running = m
        .sessions()
        .iter()
        .find(|s| s.status == SessionStatus::Running)
        .unwrap()
        .clone();
    let suspend = |user: &str| Command::Suspend {
        session_id: running.session_id.clone(),
        user: user.into(),
    };
    let (r, c) = m.execute(&suspend(&running.user), NOW + 1);
    assert!(
        matches!(r, Ok(Outcome::Status { changed: true, .. })),
        "{r:?}"
    );
    assert_eq!(c.changed[0].status, SessionStatus::Suspended);
    assert!(c.changed[0].raw_line.contains("|S|"));
    let (again, c) = m.execute(&suspend(""), NOW + 2);
    assert!(matches!(again, Ok(Outcome::Status { changed: false, .. })));
    assert!(c.is_empty());
    let (wrong, c) = m.execute(&suspend("simuser999999"), NOW + 3);
    assert!(
        matches!(wrong, Err(CommandError::WrongUser { .. })),
        "{wrong:?}"
    );
    assert!(c.is_empty());
    let (unknown, _) = m.execute(
        &Command::Terminate {
            session_id: "nobody-50-1_stDXFCE_dp24".into(),
            user: String::new(),
        },
        NOW,
    );
    let msg = wire::command_result(9, &unknown).message;
    assert!(
        msg.contains("not a session of this server (sim00007)"),
        "{msg}"
    );
    let (gone, c) = m.execute(
        &Command::Terminate {
            session_id: running.session_id.clone(),
            user: running.user.clone(),
        },
        NOW + 4,
    );
    assert!(matches!(gone, Ok(Outcome::Gone { .. })));
    assert_eq!(c.removed, vec![running.session_id.clone()]);
    assert_eq!(m.sessions().len(), 5);
    assert!(matches!(
        m.execute(&Command::Ping, NOW).0,
        Ok(Outcome::Pong)
    ));
    let (key, c) = m.execute(
        &Command::AddAuthorizedKey {
            user: "simuser1".into(),
            key: "ssh-ed25519 AAAA test".into(),
            key_file: String::new(),
            remove_after: Some(std::time::Duration::from_secs(20)),
        },
        NOW,
    );
    assert_eq!(
        key.unwrap().to_string(),
        "key added to /home/simuser1/.x2go/authorized_keys"
    );
    assert!(c.is_empty());
    assert!(!std::path::Path::new("/home/simuser1").exists());
}
