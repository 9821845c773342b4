//! What a user may see: the profiles their ACLs allow (rendered for them,
//! or the zeroconf backend's one local profile) and their placements. Every
//! entry point waits for the ledger's linearizable read barrier first, so
//! no frontend can forget it: a node cut off from the cluster majority
//! refuses instead of answering from a stale configuration.

use super::refquery::Answers;
use super::resume::live_sessions;
use super::{Backend, Broker, LedgerError, Loaded};
use crate::acl::Acls;
use crate::auth;
use crate::auth::nss::NssError;
use crate::config::value::{self, Value};
use crate::config::BrokerConf;
use crate::placement::{matching_hostnames, UserSession};
use crate::profiles::render::{render, RenderContext};
use crate::profiles::{Profile, BUILTIN_DEFAULTS};
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// A profile as rendered for one user: its id and its settings.
pub type Rendered = (String, Vec<(String, Value)>);

/// One placement of a user: profile id, host, when (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub profile_id: String,
    pub host: String,
    pub at: u64,
}

/// A linearizable view of the profiles for one user and backend: only
/// `Broker::lister` makes one, after the read barrier.
pub struct Lister<'a> {
    loaded: &'a Loaded,
    backend: Backend,
    user: &'a str,
    client: Option<IpAddr>,
    /// The user's groups, read once when some profile has group rules.
    groups: Option<Groups>,
    /// The user's sessions as the X2Go servers' agents report them.
    sessions: Vec<UserSession>,
    /// The profiles with a host whose agent reports (by id).
    covered: BTreeSet<String>,
    /// The user's sessions as the reference's agent lists them, by
    /// profile id: profiles without an agent of ours, queried in `LOCAL`
    /// or `SSH` mode, whose agent answered.
    reference: HashMap<String, Vec<UserSession>>,
}

/// How a profile with agents on its hosts is listed, as the reference
/// lists it when its agent answers: one `host=`, that of the user's
/// session when there is one (with `status=S` or `R`), else the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveStatus {
    pub status: Option<char>,
    pub host: String,
}

/// A user's groups, or why they could not be read.
type Groups = Result<Vec<String>, NssError>;

impl Broker {
    /// Wait for the read barrier, then list for `user` (from `client`).
    pub async fn lister<'a>(
        &'a self,
        loaded: &'a Loaded,
        backend: Backend,
        user: &'a str,
        client: Option<IpAddr>,
    ) -> Result<Lister<'a>, LedgerError> {
        self.ledger.read_barrier().await?;
        let group_rules = backend == Backend::Inifile
            && loaded
                .profiles
                .profiles
                .iter()
                .any(|p| p.acls.has_group_rules());
        let groups = match group_rules {
            true => Some(self.groups_of(loaded, user).await),
            false => None,
        };
        let (sessions, covered) = match backend {
            Backend::Inifile => self.ledger.read(|s| {
                (
                    live_sessions(s, user),
                    covered_profiles(s, &loaded.profiles.profiles),
                )
            }),
            _ => Default::default(),
        };
        let mut reference = HashMap::new();
        if backend == Backend::Inifile {
            let mut answers = Answers::default();
            let uncovered: Vec<&Profile> = loaded
                .profiles
                .profiles
                .iter()
                .map(|p| p.as_ref())
                .filter(|p| {
                    !covered.contains(&p.id) && decide(&p.acls, user, client, groups.as_ref())
                })
                .collect();
            self.ask_first_agents(&loaded.conf, uncovered.iter().copied(), user, &mut answers)
                .await;
            for p in uncovered {
                if let Some((_, sessions)) = self
                    .reference_sessions(&loaded.conf, p, user, &mut answers)
                    .await
                {
                    reference.insert(p.id.clone(), sessions);
                }
            }
        }
        Ok(Lister {
            loaded,
            backend,
            user,
            client,
            groups,
            sessions,
            covered,
            reference,
        })
    }

    /// The profiles `user` may use, rendered for them, sorted by profile id.
    pub async fn list_profiles(
        &self,
        loaded: &Loaded,
        backend: Backend,
        user: &str,
        client: Option<IpAddr>,
    ) -> Result<Vec<Rendered>, LedgerError> {
        Ok(self.lister(loaded, backend, user, client).await?.profiles())
    }

    /// `user`'s placements not yet expired, by profile id.
    pub async fn placements_of(&self, user: &str) -> Result<Vec<Placement>, LedgerError> {
        self.ledger.read_barrier().await?;
        Ok(self.ledger.read(|state| {
            state
                .placements()
                .filter(|((_, u), _)| u == user)
                .map(|((profile, _), rec)| Placement {
                    profile_id: profile.clone(),
                    host: rec.host.clone(),
                    at: rec.at,
                })
                .collect()
        }))
    }

    /// Whether `acls` let `user` (from `client`) use a profile.
    pub(super) async fn permits(
        &self,
        loaded: &Loaded,
        acls: &Acls,
        user: &str,
        client: Option<IpAddr>,
    ) -> bool {
        let groups = match acls.has_group_rules() {
            true => Some(self.groups_of(loaded, user).await),
            false => None,
        };
        decide(acls, user, client, groups.as_ref())
    }

    /// `user`'s groups as the ACLs count them (off the request threads).
    async fn groups_of(&self, loaded: &Loaded, user: &str) -> Groups {
        let primary = !loaded.conf.global_bool("ignore-primary-group-memberships");
        let groups = self.groups.groups_of(user, primary).await;
        if let Err(e) = &groups {
            tracing::warn!(user = %user, error = %e, "group lookup failed; profiles whose ACLs need the groups are denied");
        }
        groups
    }
}

/// The ACL decision with the groups read beforehand: when the decision
/// needs groups that could not be read, the profile is denied.
fn decide(acls: &Acls, user: &str, client: Option<IpAddr>, groups: Option<&Groups>) -> bool {
    let unread = std::cell::Cell::new(false);
    let permitted = acls.permits(user, client, || match groups {
        Some(Ok(groups)) => groups.clone(),
        Some(Err(_)) | None => {
            unread.set(true);
            Vec::new()
        }
    });
    permitted && !unread.get()
}

impl Lister<'_> {
    /// The profile source listed.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the user may use `profile` (an inifile profile).
    pub fn permits(&self, profile: &Profile) -> bool {
        decide(&profile.acls, self.user, self.client, self.groups.as_ref())
    }

    /// How `profile` is listed when agents report for its hosts: the
    /// user's session on one of them (a suspended one first, then a
    /// running one; the host as the reference's host name matching names
    /// it, the first in sorted order), else its first host. None for
    /// profiles without agents and for desktop-sharing profiles.
    pub fn live_status(&self, profile: &Profile) -> Option<LiveStatus> {
        let sessions = if self.covered.contains(&profile.id) {
            &self.sessions
        } else {
            self.reference.get(&profile.id)?
        };
        let names = profile.host_names();
        let on = |suspended: bool| -> Vec<String> {
            sessions
                .iter()
                .filter(|s| s.suspended == suspended)
                .map(|s| s.server.clone())
                .collect()
        };
        let session = [('S', true), ('R', false)]
            .into_iter()
            .find_map(|(status, suspended)| {
                let host = matching_hostnames(&names, &on(suspended))
                    .into_iter()
                    .next()?;
                Some(LiveStatus {
                    status: Some(status),
                    host,
                })
            });
        session.or_else(|| {
            names.first().map(|first| LiveStatus {
                status: None,
                host: first.clone(),
            })
        })
    }

    /// `profile` rendered for the user, with its live status when it has one.
    pub fn render(&self, profile: &Profile) -> Vec<(String, Value)> {
        let ctx = RenderContext {
            user: self.user,
            default_autologin: self.loaded.conf.global_bool("default-session-autologin"),
        };
        let mut entries = render(profile, &ctx);
        if let Some(live) = self.live_status(profile) {
            with_live_status(&mut entries, &live);
        }
        entries
    }

    /// The profiles the user may use, rendered for them, sorted by profile id.
    pub fn profiles(&self) -> Vec<Rendered> {
        match self.backend {
            Backend::Inifile => {
                let mut out: Vec<Rendered> = self
                    .loaded
                    .profiles
                    .profiles
                    .iter()
                    .filter(|p| self.permits(p))
                    .map(|p| (p.id.clone(), self.render(p)))
                    .collect();
                out.sort_by(|a, b| a.0.cmp(&b.0));
                out
            }
            Backend::Zeroconf => vec![(auth::new_cookie(), zeroconf_profile(&self.loaded.conf))],
            Backend::Base => Vec::new(),
        }
    }
}

/// Show `live` in rendered entries: `host=` names the session's server
/// (in place), `status=` follows the other keys.
pub fn with_live_status(entries: &mut Vec<(String, Value)>, live: &LiveStatus) {
    let host = Value::List(vec![live.host.clone()]);
    match entries.iter_mut().find(|(k, _)| k == "host") {
        Some((_, v)) => *v = host,
        None => entries.push(("host".into(), host)),
    }
    if let Some(status) = live.status {
        entries.push(("status".into(), Value::Str(status.to_string())));
    }
}

/// The ids of the (non desktop-sharing) profiles with a host whose agent
/// reports; none at all without agents.
fn covered_profiles(
    state: &crate::state::State,
    profiles: &[std::sync::Arc<Profile>],
) -> BTreeSet<String> {
    if state.server_counts().0 == 0 {
        return BTreeSet::new();
    }
    profiles
        .iter()
        .filter(|p| !p.is_shadow())
        .filter(|p| p.host_names().iter().any(|h| state.server_for(h).is_some()))
        .map(|p| p.id.clone())
        .collect()
}

/// The zeroconf backend's one profile: the local desktop.
fn zeroconf_profile(conf: &BrokerConf) -> Vec<(String, Value)> {
    let shell = conf.str("broker_zeroconf", "desktop-shell").to_uppercase();
    let mut out: Vec<(String, Value)> = BUILTIN_DEFAULTS
        .iter()
        .filter(|(k, _, _)| !k.starts_with("acl-"))
        .map(|(k, raw, kind)| {
            let v = value::coerce(*kind, raw).expect("built-in default");
            (k.to_string(), v)
        })
        .collect();
    let overrides = [
        ("user", Value::Str(String::new())),
        ("useexports", Value::Int(1)),
        ("host", Value::Str("localhost".into())),
        ("multidisp", Value::Int(0)),
        ("rootless", Value::Int(0)),
        ("name", Value::Str("LOCALHOST".into())),
        ("command", Value::Str(shell)),
    ];
    for (k, v) in overrides {
        match out.iter_mut().find(|(key, _)| key == k) {
            Some((_, slot)) => *slot = v,
            None => out.push((k.to_string(), v)),
        }
    }
    out
}
