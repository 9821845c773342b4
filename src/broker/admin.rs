//! What the status dashboard asks of the broker: an administrator's login
//! (the frontends' password check and failed-login limits, then membership
//! of the admin group through NSS), the tables `x2gobrokerctl` shows (read
//! after the read barrier, as the Admin service reads them), the recent
//! placements, and drains (the state command `x2gobrokerctl drain` commits).

use super::{Backend, Broker, BrokerError, Credentials};
use crate::auth::Mechanism;
use crate::cluster::admin::{Drain, ServerRow, SessionRow, SessionsQuery};
use crate::logsafe::escaped;

/// The answer to an administrator's login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminLogin {
    /// Password accepted and the user is in the admin group.
    Admitted,
    /// Wrong password, unknown user, or not in the admin group (the
    /// client is not told which).
    Refused,
    /// Too many failed logins: retry after this many seconds.
    Limited(u64),
}

/// One placement as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementRow {
    pub profile: String,
    pub user: String,
    pub host: String,
    /// When it was decided (Unix milliseconds).
    pub at_ms: u64,
}

impl Broker {
    /// Check `user`'s password the way the `inifile` frontends do (same
    /// mechanism, same failed-login limits), then membership of `group`.
    /// A mechanism that checks no password (`none`) admits nobody here.
    pub async fn admin_login(
        &self,
        group: &str,
        user: &str,
        password: &str,
        ip: &str,
    ) -> Result<AdminLogin, BrokerError> {
        let loaded = self.current();
        let mechanism = Mechanism::from_conf(&loaded.conf, Backend::Inifile.name());
        if !mechanism.checks_password() {
            tracing::warn!(user = %escaped(user), client = %ip, "dashboard login refused: the auth-mech checks no password");
            return Ok(AdminLogin::Refused);
        }
        let creds = Credentials {
            user,
            password,
            cookie: "",
            ip,
        };
        match self.check_password(&mechanism, creds).await? {
            Ok(()) => {}
            Err(super::Access::Limited(wait)) => return Ok(AdminLogin::Limited(wait.as_secs())),
            Err(_) => return Ok(AdminLogin::Refused),
        }
        if !self.in_admin_group(group, user).await {
            tracing::warn!(user = %escaped(user), client = %ip, group = %escaped(group), "dashboard login refused: not in the admin group");
            return Ok(AdminLogin::Refused);
        }
        tracing::info!(user = %escaped(user), client = %ip, "dashboard login");
        Ok(AdminLogin::Admitted)
    }

    /// Whether `user` is a member of `group` (the primary group counts);
    /// a failed lookup answers no.
    pub async fn in_admin_group(&self, group: &str, user: &str) -> bool {
        match self.groups.groups_of(user, true).await {
            Ok(groups) => groups.iter().any(|g| g == group),
            Err(e) => {
                tracing::warn!(user = %escaped(user), error = %e, "group lookup failed; not an administrator");
                false
            }
        }
    }

    /// Every X2Go server as `x2gobrokerctl servers` shows it.
    pub async fn server_table(&self) -> Result<Vec<ServerRow>, BrokerError> {
        Ok(self.read_fresh(ServerRow::table).await?)
    }

    /// The sessions `query` asks for, as `x2gobrokerctl sessions` shows them.
    pub async fn session_table(
        &self,
        query: &SessionsQuery,
    ) -> Result<Vec<SessionRow>, BrokerError> {
        Ok(self.read_fresh(|s| SessionRow::table(s, query)).await?)
    }

    /// The `limit` most recent placements, newest first.
    pub async fn recent_placements(&self, limit: usize) -> Result<Vec<PlacementRow>, BrokerError> {
        let mut rows = self
            .read_fresh(|s| {
                s.placements()
                    .map(|((profile, user), p)| PlacementRow {
                        profile: profile.clone(),
                        user: user.clone(),
                        host: p.host.clone(),
                        at_ms: p.at,
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
        rows.sort_by_key(|r| std::cmp::Reverse(r.at_ms));
        rows.truncate(limit);
        Ok(rows)
    }

    /// Drain or undrain a server through the ledger (the leader in a
    /// cluster), as `x2gobrokerctl drain` does: `Ok(Err(why))` when no
    /// agent has reported that server.
    pub async fn set_drained(&self, drain: &Drain) -> Result<Result<(), String>, BrokerError> {
        let outcome = self.submit(drain.command()).await?;
        Ok(drain.settled(&outcome))
    }
}
