//! The broker service: the reference's tasks (access check with authid
//! cookies, profile listing, session selection) over the loaded
//! configuration, the durable state and the server probes. Frontends call
//! this; it knows nothing of HTTP.

pub mod probe;

use crate::auth::nss::GroupCache;
use crate::auth::pam::Pam;
use crate::auth::ratelimit::{Limit, RateLimiter};
use crate::auth::{self, Mechanism};
use crate::cluster;
use crate::config::value::Value;
use crate::config::BrokerConf;
use crate::profiles::render::{render, RenderContext};
use crate::profiles::{ProfileSet, BUILTIN_DEFAULTS};
use crate::state::{Candidate, Command, ConfigTexts, Outcome, PlacedOutcome};
use crate::storage::Store;
use parking_lot::RwLock;
use probe::Prober;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Operator settings that are ours, not the reference's.
#[derive(Debug, Clone)]
pub struct Settings {
    pub x2gobroker_conf: PathBuf,
    pub session_profiles: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// A user placed within this window goes back to the same host and counts on it.
    pub placement_window: Duration,
    /// How long a port probe result is reused.
    pub probe_ttl: Duration,
    pub pam_service: String,
    pub user_limit: Limit,
    pub client_limit: Limit,
    /// Honour GET on /plain/ and /json/ (the packaged reference always does).
    pub allow_get: bool,
    /// Where the legacy SSH key pair lives (`/pubkeys/`).
    pub broker_home: PathBuf,
}

/// The configuration in force: replaced whole on reload.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub conf: BrokerConf,
    pub profiles: ProfileSet,
    /// The pre-shared cookie (`my-cookie-file`, else `my-cookie`), if configured.
    pub my_cookie: Option<String>,
    /// Distinguishes each load, so frontends can cache what they derive from it.
    pub generation: u64,
}

static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The result of an access check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    Granted {
        next_cookie: Option<String>,
    },
    Denied,
    /// Too many failed logins; retry after this long.
    Limited(Duration),
    /// The state store failed; nothing was decided.
    Unavailable(String),
}

/// What a client presents to be let in.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    pub user: &'a str,
    pub password: &'a str,
    /// The authid cookie, "" when none.
    pub cookie: &'a str,
    /// The client address as text.
    pub ip: &'a str,
}

/// Where a selectsession sends the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub server: String,
    pub port: i64,
}

/// Which profile source a request addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Inifile,
    Zeroconf,
    Base,
}

impl Backend {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "inifile" => Some(Backend::Inifile),
            "zeroconf" => Some(Backend::Zeroconf),
            "base" => Some(Backend::Base),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Inifile => "inifile",
            Backend::Zeroconf => "zeroconf",
            Backend::Base => "base",
        }
    }
}

/// Where state commands go: this node's own store, or the Raft cluster.
pub enum Ledger {
    Local(Store),
    Cluster(Arc<cluster::Node>),
}

impl Ledger {
    /// Apply `cmd` durably (through the leader in a cluster).
    pub async fn submit(&self, cmd: Command) -> Result<Outcome, String> {
        match self {
            Ledger::Local(store) => store.submit(cmd).await.map_err(|e| e.to_string()),
            Ledger::Cluster(node) => node.submit(cmd).await.map_err(|e| e.to_string()),
        }
    }

    /// Return once this node may answer reads linearizably (at once when alone).
    pub async fn read_barrier(&self) -> Result<(), String> {
        match self {
            Ledger::Local(_) => Ok(()),
            Ledger::Cluster(node) => node.read_barrier().await.map_err(|e| e.to_string()),
        }
    }

    /// Read the applied state (after `read_barrier` for a linearizable read).
    pub fn read<T>(&self, f: impl FnOnce(&crate::state::State) -> T) -> T {
        match self {
            Ledger::Local(store) => store.read(f),
            Ledger::Cluster(node) => f(&node.machine.read().state),
        }
    }

    /// The cluster status, when clustered.
    pub fn status(&self) -> Option<cluster::Status> {
        match self {
            Ledger::Local(_) => None,
            Ledger::Cluster(node) => Some(node.status()),
        }
    }
}

const UNCONFIGURED_COOKIE: &str = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

pub struct Broker {
    pub settings: Settings,
    loaded: RwLock<Arc<Loaded>>,
    pub ledger: Ledger,
    prober: Prober,
    limiter: RateLimiter,
    groups: GroupCache,
    pam: Pam,
    hostname: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The machine's host name (the reference hands it out for `localhost`).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Read both configuration files; errors name file, line and key.
pub fn load_config(settings: &Settings) -> Result<Loaded, String> {
    parse_config(&read_config_texts(settings)?)
}

/// The two files' texts, as this node reads them (what a cluster replicates).
pub fn read_config_texts(settings: &Settings) -> Result<ConfigTexts, String> {
    let conf_name = settings.x2gobroker_conf.display().to_string();
    let conf_text = match std::fs::read(&settings.x2gobroker_conf) {
        Ok(bytes) => {
            Some(String::from_utf8(bytes).map_err(|_| format!("{conf_name}: not valid UTF-8"))?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(file = %conf_name, "broker configuration not found, using built-in defaults");
            None
        }
        Err(e) => return Err(format!("{conf_name}: {e}")),
    };
    let conf = match &conf_text {
        Some(text) => BrokerConf::parse(&conf_name, text)?,
        None => BrokerConf::defaults(),
    };
    let profiles_path = match &settings.session_profiles {
        Some(p) => p.clone(),
        None => match std::env::var_os("X2GOBROKER_SESSIONPROFILES") {
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(conf.str("broker_inifile", "session-profiles")),
        },
    };
    let profiles_name = profiles_path.display().to_string();
    let profiles = if conf.backend_enabled("inifile") {
        let bytes = std::fs::read(&profiles_path).map_err(|e| format!("{profiles_name}: {e}"))?;
        Some(String::from_utf8(bytes).map_err(|_| format!("{profiles_name}: not valid UTF-8"))?)
    } else {
        None
    };
    Ok(ConfigTexts {
        conf_name,
        conf: conf_text,
        profiles_name,
        profiles,
    })
}

/// Parse configuration texts; errors name file, line and key.
pub fn parse_config(texts: &ConfigTexts) -> Result<Loaded, String> {
    let conf = match &texts.conf {
        Some(text) => BrokerConf::parse(&texts.conf_name, text)?,
        None => {
            let mut defaults = BrokerConf::defaults();
            defaults.path = texts.conf_name.clone();
            defaults
        }
    };
    let profiles = match &texts.profiles {
        Some(text) => ProfileSet::parse(&texts.profiles_name, text)?,
        None => ProfileSet::default(),
    };
    let my_cookie = read_my_cookie(&conf);
    Ok(Loaded {
        conf,
        profiles,
        my_cookie,
        generation: GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
    })
}

fn read_my_cookie(conf: &BrokerConf) -> Option<String> {
    let file = conf.global_str("my-cookie-file");
    let from_file = std::fs::read_to_string(file).ok().and_then(|text| {
        text.split('\n')
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .and_then(|l| l.split(' ').next())
            .map(str::to_string)
    });
    let configured = conf
        .get("global", "my-cookie")
        .and_then(Value::as_str)
        .map(str::to_string);
    [from_file, configured]
        .into_iter()
        .flatten()
        .find(|c| c != UNCONFIGURED_COOKIE && !c.is_empty())
}

impl Broker {
    pub fn new(settings: Settings, ledger: Ledger) -> Result<Self, String> {
        let loaded = load_config(&settings)?;
        Ok(Self {
            prober: Prober::new(settings.probe_ttl),
            limiter: RateLimiter::new(settings.user_limit, settings.client_limit),
            groups: GroupCache::default(),
            pam: Pam::new(&settings.pam_service, 16),
            hostname: hostname(),
            loaded: RwLock::new(Arc::new(loaded)),
            ledger,
            settings,
        })
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<Loaded> {
        self.loaded.read().clone()
    }

    /// Re-read both files; a broken file keeps the running configuration.
    /// In a cluster the new version goes through the log and every node
    /// installs it when applied (see `follow_replicated_config`).
    pub async fn reload(&self) -> Result<(), String> {
        let texts = read_config_texts(&self.settings)?;
        let fresh = parse_config(&texts)?;
        match &self.ledger {
            Ledger::Local(_) => {
                self.install(fresh);
                Ok(())
            }
            Ledger::Cluster(_) => match self.ledger.submit(Command::SetConfig(texts)).await? {
                Outcome::ConfigVersion(v) => {
                    tracing::info!(version = v, "configuration proposed to the cluster");
                    Ok(())
                }
                other => Err(format!("unexpected outcome {other:?}")),
            },
        }
    }

    /// Serve `loaded` from now on.
    pub fn install(&self, loaded: Loaded) {
        *self.loaded.write() = Arc::new(loaded);
    }

    /// In a cluster: install every configuration version the log brings, and
    /// propose this node's files when the cluster has none yet (first start).
    pub async fn follow_replicated_config(self: Arc<Self>, node: Arc<cluster::Node>) {
        let mut installed = 0u64;
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
        loop {
            tick.tick().await;
            let current = node.machine.read().state.config().cloned();
            match current {
                Some((version, texts)) if version != installed => match parse_config(&texts) {
                    Ok(loaded) => {
                        tracing::info!(
                            version,
                            profiles = loaded.profiles.profiles.len(),
                            "installed replicated configuration"
                        );
                        self.install(loaded);
                        installed = version;
                    }
                    Err(e) => {
                        tracing::error!(version, error = %e, "replicated configuration does not parse here; keeping the running one");
                        installed = version;
                    }
                },
                Some(_) => {}
                None if node.raft.metrics().borrow().current_leader == Some(node.id) => {
                    if let Err(e) = self.reload().await {
                        tracing::warn!(error = %e, "could not propose the configuration files; retrying in 5 s");
                        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                    }
                }
                None => {}
            }
        }
    }

    /// The reference's `check_access()`, with cookies in the state machine.
    /// `issue_cookie` false (UCCS basic auth) skips storing a new cookie.
    pub async fn check_access(
        &self,
        loaded: &Loaded,
        backend: Backend,
        creds: Credentials<'_>,
        issue_cookie: bool,
    ) -> Access {
        let Credentials {
            user,
            password,
            cookie,
            ip,
        } = creds;
        let (require_password, require_cookie) = loaded.conf.credential_policy();
        if !require_password && !require_cookie {
            return Access::Granted { next_cookie: None };
        }
        if user == "check-credentials" && password == "FALSE" {
            return Access::Denied;
        }
        if cookie.is_empty() && require_cookie {
            return Access::Denied;
        }
        let presented_my_cookie = loaded.my_cookie.as_deref().is_some_and(|c| c == cookie);
        if !require_password {
            return if presented_my_cookie {
                Access::Granted {
                    next_cookie: loaded.my_cookie.clone(),
                }
            } else {
                Access::Denied
            };
        }
        if presented_my_cookie || cookie.is_empty() {
            if let Some(wait) = self.limiter.blocked_for(user, ip) {
                tracing::warn!(user = %user, client = %ip, "login refused: too many failed attempts");
                return Access::Limited(wait);
            }
            if !self.authenticate(loaded, backend, user, password).await {
                self.limiter.failure(user, ip);
                tracing::warn!(user = %user, client = %ip, "authentication failed");
                return Access::Denied;
            }
            self.limiter.success(user);
            tracing::info!(user = %user, client = %ip, "authentication succeeded");
            let next = auth::new_cookie();
            if !user.is_empty() && issue_cookie {
                let cmd = Command::IssueCookie {
                    user: user.to_string(),
                    cookie: next.clone(),
                    ip: ip.to_string(),
                    at: now_ms(),
                };
                if let Err(e) = self.ledger.submit(cmd).await {
                    return Access::Unavailable(e);
                }
            }
            return Access::Granted {
                next_cookie: Some(next),
            };
        }
        let next = if loaded.conf.global_bool("use-static-cookie") {
            cookie.to_string()
        } else {
            auth::new_cookie()
        };
        let timeout_s = loaded.conf.int("global", "auth-timeout").max(0) as u64;
        let cmd = Command::RedeemCookie {
            user: user.to_string(),
            cookie: cookie.to_string(),
            ip: ip.to_string(),
            now: now_ms(),
            verify_ip: loaded.conf.global_bool("verify-ip"),
            timeout_ms: timeout_s.saturating_mul(1000),
            next,
        };
        match self.ledger.submit(cmd).await {
            Ok(Outcome::CookieAccepted { next }) => Access::Granted {
                next_cookie: Some(next),
            },
            Ok(Outcome::CookieRefused(why)) => {
                tracing::warn!(user = %user, client = %ip, reason = ?why, "authid cookie refused");
                Access::Denied
            }
            Ok(other) => Access::Unavailable(format!("unexpected outcome {other:?}")),
            Err(e) => Access::Unavailable(e),
        }
    }

    async fn authenticate(
        &self,
        loaded: &Loaded,
        backend: Backend,
        user: &str,
        password: &str,
    ) -> bool {
        match Mechanism::from_conf(&loaded.conf, backend.name()) {
            Mechanism::None => true,
            Mechanism::Pam => self.pam.check(user, password).await,
            Mechanism::HttpsGet(target) => auth::https_get::check(&target, user, password).await,
            Mechanism::Unsupported(name) => {
                tracing::error!(mechanism = %name, "authentication mechanism not available; refusing login");
                false
            }
        }
    }

    /// Whether the ACLs of `profile` let `user` (from `client`) use it.
    pub fn permits(
        &self,
        loaded: &Loaded,
        acls: &crate::acl::Acls,
        user: &str,
        client: Option<IpAddr>,
    ) -> bool {
        let primary = !loaded.conf.global_bool("ignore-primary-group-memberships");
        acls.permits(user, client, || self.groups.groups_of(user, primary))
    }

    /// The profiles `user` may use, rendered for them, sorted by profile id.
    pub fn list_profiles(
        &self,
        loaded: &Loaded,
        backend: Backend,
        user: &str,
        client: Option<IpAddr>,
    ) -> Vec<(String, Vec<(String, Value)>)> {
        match backend {
            Backend::Inifile => {
                let ctx = RenderContext {
                    user,
                    default_autologin: loaded.conf.global_bool("default-session-autologin"),
                };
                let mut out: Vec<(String, Vec<(String, Value)>)> = loaded
                    .profiles
                    .profiles
                    .iter()
                    .filter(|p| self.permits(loaded, &p.acls, user, client))
                    .map(|p| (p.id.clone(), render(p, &ctx)))
                    .collect();
                out.sort_by(|a, b| a.0.cmp(&b.0));
                out
            }
            Backend::Zeroconf => vec![(auth::new_cookie(), zeroconf_profile(&loaded.conf))],
            Backend::Base => Vec::new(),
        }
    }

    /// Choose the server for `user` and profile `profile_id`.
    pub async fn select_session(
        &self,
        loaded: &Loaded,
        backend: Backend,
        profile_id: &str,
        user: &str,
        client: Option<IpAddr>,
    ) -> Result<Selected, String> {
        let unavailable = |port| Selected {
            server: "no-server-available".into(),
            port,
        };
        match backend {
            Backend::Inifile => {}
            Backend::Zeroconf => {
                return Ok(Selected {
                    server: "localhost".into(),
                    port: 22,
                })
            }
            Backend::Base => return Ok(unavailable(22)),
        }
        let Some(profile) = loaded.profiles.get(profile_id) else {
            return Ok(unavailable(22));
        };
        if !self.permits(loaded, &profile.acls, user, client) {
            tracing::warn!(user = %user, profile = %profile_id, "selectsession for a profile the ACLs deny");
            return Ok(unavailable(22));
        }
        let mut names = profile.host_names();
        if names.is_empty() {
            return Ok(unavailable(profile.sshport));
        }
        let initial = names.clone();
        if let Some(pos) = names.iter().position(|h| h == "localhost") {
            names.remove(pos);
            names.push(self.hostname.clone());
        }
        if profile.is_shadow() && names.len() > 1 {
            names.truncate(1);
        }
        let portscan = profile
            .broker_flag("broker-portscan-x2goservers")
            .unwrap_or_else(|| loaded.conf.global_bool("default-portscan-x2goservers"));
        // All candidates are probed at once (the reference scans one after the other).
        let probes = names.iter().map(|name| async move {
            let alive = !portscan || self.host_reachable(profile, name).await;
            Candidate {
                name: name.clone(),
                alive,
            }
        });
        let candidates: Vec<Candidate> = futures_util::future::join_all(probes).await;
        if names.len() == 1 {
            // One candidate (a single-host or a shadow profile): no placement to make.
            let c = &candidates[0];
            return Ok(if c.alive {
                Selected {
                    server: profile.address_of(&c.name),
                    port: profile.port_of(&c.name),
                }
            } else if initial.len() == 1 {
                Selected {
                    server: profile.address_of(&initial[0]),
                    port: profile.port_of(&c.name),
                }
            } else {
                Selected {
                    server: "no-X2Go-Server-available".into(),
                    port: profile.port_of(&c.name),
                }
            });
        }
        let cmd = Command::Place {
            profile: profile.id.clone(),
            user: user.to_string(),
            candidates,
            now: now_ms(),
            window_ms: self.settings.placement_window.as_millis() as u64,
        };
        match self.ledger.submit(cmd).await? {
            Outcome::Placed(PlacedOutcome::Host(h)) => Ok(Selected {
                server: profile.address_of(&h),
                port: profile.port_of(&h),
            }),
            Outcome::Placed(PlacedOutcome::NoneAvailable) => {
                let last = names
                    .last()
                    .map(|n| profile.port_of(n))
                    .unwrap_or(profile.sshport);
                Ok(Selected {
                    server: "no-X2Go-Server-available".into(),
                    port: last,
                })
            }
            other => Err(format!("unexpected outcome {other:?}")),
        }
    }

    async fn host_reachable(&self, profile: &crate::profiles::Profile, name: &str) -> bool {
        let port = profile.port_of(name);
        let addr = profile.address_of(name);
        self.prober.reachable(&addr, port).await
            || (addr != name && self.prober.reachable(name, port).await)
    }

    /// Drop expired cookies and placements (proposed periodically).
    pub async fn purge(&self) -> Result<(), String> {
        let loaded = self.current();
        let ttl = loaded.conf.int("global", "auth-timeout").max(0) as u64;
        self.ledger
            .submit(Command::Purge {
                now: now_ms(),
                cookie_ttl_ms: ttl.saturating_mul(1000),
                placement_window_ms: self.settings.placement_window.as_millis() as u64,
            })
            .await
            .map(|_| ())
    }

    /// The `authorized_keys` lines of `/pubkeys/`.
    pub fn pubkeys(&self) -> String {
        let ssh = self.settings.broker_home.join(".ssh");
        let mut out = String::new();
        for file in ["id_rsa.pub", "id_dsa.pub", "id_ecdsa.pub", "id_ed25519.pub"] {
            if let Some(line) = pubkey_line(&ssh.join(file), &self.hostname) {
                out.push_str(&line);
            }
        }
        out
    }
}

fn pubkey_line(path: &Path, hostname: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut parts = text.split_whitespace();
    let (kind, b64) = (parts.next()?, parts.next()?);
    Some(format!(
        "command=\"/usr/lib/x2go/x2gobroker-agent\",no-port-forwarding,no-X11-forwarding,no-agent-forwarding,no-pty {kind} {b64} x2gobroker@{hostname}\n"
    ))
}

/// The zeroconf backend's one profile: the local desktop.
fn zeroconf_profile(conf: &BrokerConf) -> Vec<(String, Value)> {
    let shell = conf.str("broker_zeroconf", "desktop-shell").to_uppercase();
    let mut out: Vec<(String, Value)> = BUILTIN_DEFAULTS
        .iter()
        .filter(|(k, _, _)| !k.starts_with("acl-"))
        .map(|(k, raw, kind)| {
            let v = crate::config::value::coerce(*kind, raw).expect("built-in default");
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
