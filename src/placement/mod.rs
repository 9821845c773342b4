//! Pure server selection for `selectsession`: resume > take over > best
//! live host, with the reference's host name matching. No I/O, no clock, no
//! randomness: the same view always gives the same decision.

use std::collections::BTreeSet;
use std::net::IpAddr;

/// What the broker knows of one candidate host of a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct HostView {
    /// The name as written in the profile's `host=` list.
    pub name: String,
    /// Reachable (port scan or agent report), or not checked.
    pub alive: bool,
    /// Taken out of placement by an operator.
    pub drained: bool,
    /// The reference's load factor (higher is better), when known.
    pub load_factor: Option<f64>,
    /// Sessions the server reports.
    pub sessions: u32,
    /// Placements this broker made there recently and agents have not confirmed.
    pub recent_placements: u32,
}

impl HostView {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            alive: true,
            drained: false,
            load_factor: None,
            sessions: 0,
            recent_placements: 0,
        }
    }
}

/// A session of the requesting user, as reported from a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    /// The server's own hostname (field 3 of an x2golistsessions line).
    pub server: String,
    /// `R` running or `S` suspended.
    pub suspended: bool,
    /// The x2golistsessions line, handed to the client as SESSION_INFO.
    pub info: String,
}

/// The outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Resume a suspended session on `host`.
    Resume { host: String, info: String },
    /// Suspend the running session `session` on `host` (reported by
    /// `server`), then resume it; `info` already says suspended.
    TakeOver {
        host: String,
        server: String,
        session: String,
        info: String,
    },
    /// Start a new session on `host`.
    New { host: String },
    /// No host of a multi-host profile is usable.
    NoneAvailable,
}

/// The single-host shortcut, decided here and nowhere else: a profile with
/// exactly one candidate host always gets that host, whatever its state and
/// whatever was placed before, so there is no placement to make (the broker
/// proposes no state command for it). Generic over how a caller describes
/// its candidates.
pub fn sole_host<T>(hosts: &[T]) -> Option<&T> {
    match hosts {
        [only] => Some(only),
        _ => None,
    }
}

/// Decide where `sessions` (the user's) and `hosts` (the profile's, in profile order) lead.
pub fn decide(hosts: &[HostView], sessions: &[UserSession]) -> Decision {
    if let Some(only) = sole_host(hosts) {
        return resume_on(&names_of(hosts), sessions).unwrap_or(Decision::New {
            host: only.name.clone(),
        });
    }
    if let Some(d) = resume_on(&names_of(hosts), sessions) {
        return d;
    }
    let usable: Vec<&HostView> = hosts.iter().filter(|h| h.alive && !h.drained).collect();
    if usable.is_empty() {
        return Decision::NoneAvailable;
    }
    let all_loaded = usable
        .iter()
        .all(|h| h.load_factor.is_some_and(|f| f > 0.0));
    let best = usable
        .iter()
        .enumerate()
        .min_by(|(ia, a), (ib, b)| {
            let by_load = if all_loaded {
                // Higher load factor is better; pending placements weigh like sessions.
                let fa =
                    a.load_factor.unwrap_or(0.0) / f64::from(a.sessions + a.recent_placements + 1);
                let fb =
                    b.load_factor.unwrap_or(0.0) / f64::from(b.sessions + b.recent_placements + 1);
                fb.total_cmp(&fa)
            } else {
                (a.sessions + a.recent_placements).cmp(&(b.sessions + b.recent_placements))
            };
            by_load.then(ia.cmp(ib))
        })
        .map(|(_, h)| h.name.clone())
        .expect("usable is not empty");
    Decision::New { host: best }
}

fn names_of(hosts: &[HostView]) -> Vec<String> {
    hosts.iter().map(|h| h.name.clone()).collect()
}

/// The user's session to hand out on one of the profile hosts `names`
/// (the first suspended one, else the first running one, in `sessions`'
/// order), as the reference resumes; None when no session is on them.
pub fn resume_on(names: &[String], sessions: &[UserSession]) -> Option<Decision> {
    if sessions.is_empty() {
        return None;
    }
    let names = names.to_vec();
    let servers: Vec<String> = sessions.iter().map(|s| s.server.clone()).collect();
    let matching = matching_hostnames(&names, &servers);
    if matching.is_empty() {
        return None;
    }
    let on_match = |s: &&UserSession| {
        let (short, _) = split_first_label(&s.server);
        matching.contains(&s.server) || matching.iter().any(|m| m == short)
    };
    let pick = sessions
        .iter()
        .filter(on_match)
        .find(|s| s.suspended)
        .or_else(|| sessions.iter().filter(on_match).find(|s| !s.suspended))?;
    let host = profile_host_for(&names, &pick.server)?;
    Some(if pick.suspended {
        Decision::Resume {
            host,
            info: pick.info.clone(),
        }
    } else {
        Decision::TakeOver {
            host,
            server: pick.server.clone(),
            session: pick.info.split('|').nth(1).unwrap_or_default().to_string(),
            info: pick.info.replace("|R|", "|S|"),
        }
    })
}

/// The profile host name that denotes `server` (exact, or short/FQDN forms).
pub fn profile_host_for(names: &[String], server: &str) -> Option<String> {
    if let Some(n) = names.iter().find(|n| *n == server) {
        return Some(n.clone());
    }
    let (short, _) = split_first_label(server);
    names
        .iter()
        .find(|n| {
            split_first_label(n).0 == short
                && !matching_hostnames(&[(*n).clone()], &[server.to_string()]).is_empty()
        })
        .cloned()
}

fn split_first_label(name: &str) -> (&str, &str) {
    name.split_once('.').unwrap_or((name, ""))
}

fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// The reference's `normalize_hostnames()`: short names plus the list of
/// domains seen; with more than one domain the names stay as given.
pub fn normalize_hostnames(servers: &[String]) -> (Vec<String>, Vec<String>) {
    let mut short = Vec::new();
    let mut domains: Vec<String> = Vec::new();
    for s in servers {
        if is_ip(s) {
            continue;
        }
        let (host, domain) = split_first_label(s);
        short.push(host.to_string());
        if !domain.is_empty() && !domains.iter().any(|d| d == domain) {
            domains.push(domain.to_string());
        }
    }
    if domains.len() > 1 {
        (servers.to_vec(), domains)
    } else {
        (short, domains)
    }
}

/// The reference's `matching_hostnames()`: names of `a` that denote a
/// server of `b`, comparing short names when at most one side has a domain.
pub fn matching_hostnames(a: &[String], b: &[String]) -> Vec<String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    let (a_norm, a_domains) = normalize_hostnames(a);
    if a_domains.len() <= 1 {
        let (b_norm, b_domains) = normalize_hostnames(b);
        if b_domains.len() <= 1 && (a_domains.is_empty() || b_domains.is_empty()) {
            let bset: BTreeSet<&String> = b_norm.iter().collect();
            out.extend(a_norm.iter().filter(|x| bset.contains(x)).cloned());
        }
    }
    if out.is_empty() {
        let bset: BTreeSet<&String> = b.iter().collect();
        out.extend(a.iter().filter(|x| bset.contains(x)).cloned());
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hosts(names: &[&str]) -> Vec<HostView> {
        names.iter().map(|n| HostView::new(*n)).collect()
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn single_host_always_wins() {
        let mut h = hosts(&["only"]);
        h[0].alive = false;
        assert_eq!(
            decide(&h, &[]),
            Decision::New {
                host: "only".into()
            }
        );
    }

    #[test]
    fn sole_host_only_for_one_candidate() {
        assert_eq!(
            sole_host(&hosts(&["a"])).map(|h| h.name.as_str()),
            Some("a")
        );
        assert!(sole_host(&hosts(&["a", "b"])).is_none());
        assert!(sole_host::<HostView>(&[]).is_none());
    }

    #[test]
    fn fewest_placements_then_profile_order() {
        let mut h = hosts(&["a", "b", "c"]);
        assert_eq!(decide(&h, &[]), Decision::New { host: "a".into() });
        h[0].recent_placements = 2;
        h[1].recent_placements = 1;
        assert_eq!(decide(&h, &[]), Decision::New { host: "c".into() });
        h[2].alive = false;
        assert_eq!(decide(&h, &[]), Decision::New { host: "b".into() });
        h[1].drained = true;
        assert_eq!(decide(&h, &[]), Decision::New { host: "a".into() });
        h[0].alive = false;
        assert_eq!(decide(&h, &[]), Decision::NoneAvailable);
    }

    #[test]
    fn load_factor_when_all_report() {
        let mut h = hosts(&["a", "b"]);
        h[0].load_factor = Some(10.0);
        h[1].load_factor = Some(50.0);
        assert_eq!(decide(&h, &[]), Decision::New { host: "b".into() });
        h[1].load_factor = None;
        h[1].sessions = 3;
        assert_eq!(decide(&h, &[]), Decision::New { host: "a".into() });
    }

    #[test]
    fn resume_prefers_suspended() {
        let h = hosts(&["srv1.example.org", "srv2.example.org"]);
        let sessions = vec![
            UserSession {
                server: "srv1".into(),
                suspended: false,
                info: "x|s1|1|srv1|R|".into(),
            },
            UserSession {
                server: "srv2".into(),
                suspended: true,
                info: "x|s2|1|srv2|S|".into(),
            },
        ];
        assert_eq!(
            decide(&h, &sessions),
            Decision::Resume {
                host: "srv2.example.org".into(),
                info: "x|s2|1|srv2|S|".into()
            }
        );
        assert_eq!(
            decide(&h, &sessions[..1]),
            Decision::TakeOver {
                host: "srv1.example.org".into(),
                server: "srv1".into(),
                session: "s1".into(),
                info: "x|s1|1|srv1|S|".into()
            }
        );
        let elsewhere = vec![UserSession {
            server: "other".into(),
            suspended: true,
            info: String::new(),
        }];
        assert_eq!(
            decide(&h, &elsewhere),
            Decision::New {
                host: "srv1.example.org".into()
            }
        );
    }

    #[test]
    fn hostname_matching_like_the_reference() {
        assert_eq!(
            matching_hostnames(&s(&["a.x.org", "b.x.org"]), &s(&["a", "c"])),
            s(&["a"])
        );
        assert_eq!(
            matching_hostnames(&s(&["a.x.org", "b.y.org"]), &s(&["a"])),
            Vec::<String>::new()
        );
        assert_eq!(
            matching_hostnames(&s(&["a.x.org"]), &s(&["a.x.org"])),
            s(&["a.x.org"])
        );
        assert_eq!(
            matching_hostnames(&s(&["a.x.org"]), &s(&["a.y.org"])),
            Vec::<String>::new()
        );
        let (n, d) = normalize_hostnames(&s(&["a.x.org", "127.0.0.1", "b"]));
        assert_eq!((n, d), (s(&["a", "b"]), s(&["x.org"])));
    }

    proptest! {
        #[test]
        fn decision_is_a_usable_profile_host(
            n in 2usize..8,
            alive in proptest::collection::vec(any::<bool>(), 8),
            counts in proptest::collection::vec(0u32..5, 8),
        ) {
            let mut h: Vec<HostView> = (0..n).map(|i| HostView::new(format!("h{i}"))).collect();
            for (i, v) in h.iter_mut().enumerate() {
                v.alive = alive[i];
                v.recent_placements = counts[i];
            }
            match decide(&h, &[]) {
                Decision::New { host } => {
                    let chosen = h.iter().find(|v| v.name == host).unwrap();
                    prop_assert!(chosen.alive);
                    let min = h.iter().filter(|v| v.alive).map(|v| v.recent_placements).min().unwrap();
                    prop_assert_eq!(chosen.recent_placements, min);
                }
                Decision::NoneAvailable => prop_assert!(h.iter().all(|v| !v.alive)),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }

        #[test]
        fn spreading_is_even(n in 2usize..8, users in 1usize..64) {
            let mut h: Vec<HostView> = (0..n).map(|i| HostView::new(format!("h{i}"))).collect();
            for _ in 0..users {
                if let Decision::New { host } = decide(&h, &[]) {
                    h.iter_mut().find(|v| v.name == host).unwrap().recent_placements += 1;
                }
            }
            let max = h.iter().map(|v| v.recent_placements).max().unwrap();
            let min = h.iter().map(|v| v.recent_placements).min().unwrap();
            prop_assert!(max - min <= 1);
        }
    }
}
