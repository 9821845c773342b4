//! The reference's Perl agent (`x2gobroker-agent`, Debian package
//! `x2gobroker-agent`) for servers that run no agent of ours, as the
//! reference broker queries it: the agent query mode of a profile
//! (`mode`), the agent run on this host (`local`, query mode `LOCAL`) or
//! on a server over SSH (`ssh`, query mode `SSH`, with `hostkey` and
//! `down`), one answer format for both (`answer`). `RefAgent` asks either
//! the same tasks; its answers feed the same placement code as our
//! agents' reports.

pub mod answer;
mod down;
mod error;
pub mod hostkey;
pub mod local;
pub mod mode;
mod pool;
pub mod ssh;

pub use error::RefAgentError;
pub use hostkey::HostKeyPolicy;
pub use local::LocalAgent;
pub use mode::QueryMode;
pub use ssh::{SshAgents, SshTarget};

use crate::state::CheckedLoad;
use answer::{key_arg, session_arg, user_arg};
use std::sync::Arc;

/// One reference agent: the one on this host, or one server's over SSH.
#[derive(Clone)]
pub enum RefAgent {
    Local(LocalAgent),
    Ssh(Arc<SshAgents>, SshTarget),
}

impl RefAgent {
    async fn call(
        &self,
        user: &str,
        task: &'static str,
        args: &[&str],
    ) -> Result<Vec<String>, RefAgentError> {
        let user = user_arg(user)?;
        match self {
            RefAgent::Local(agent) => agent.call(user, task, args).await,
            RefAgent::Ssh(agents, target) => agents.call(target, user, task, args).await,
        }
    }

    /// Which agent this is, for the logs.
    pub fn describe(&self) -> String {
        match self {
            RefAgent::Local(_) => "the local x2gobroker-agent".into(),
            RefAgent::Ssh(_, target) => format!("x2gobroker-agent on {}", target.key()),
        }
    }

    /// `user`'s non-finished sessions on every server of the shared
    /// session database, one `x2golistsessions` line each.
    pub async fn list_sessions(&self, user: &str) -> Result<Vec<String>, RefAgentError> {
        self.call(user, "listsessions", &[]).await
    }

    /// Ask x2goserver to suspend `session` of `user` (`x2gochangestatus S`).
    pub async fn suspend(&self, user: &str, session: &str) -> Result<(), RefAgentError> {
        self.call(user, "suspendsession", &[session_arg(session)?])
            .await
            .map(|_| ())
    }

    /// Whether the agent answers (asked for a placeholder user, as the
    /// reference asks).
    pub async fn ping(&self) -> Result<(), RefAgentError> {
        self.call("foo", "ping", &[]).await.map(|_| ())
    }

    /// The server's load factor as the reference computes it from
    /// `checkload` (higher: less loaded).
    pub async fn load_factor(&self) -> Result<i64, RefAgentError> {
        let lines = self.call("foo", "checkload", &[]).await?;
        load_factor(&lines).ok_or_else(|| RefAgentError::Failed {
            agent: self.describe(),
            task: "checkload",
            said: "the load data lack a value".into(),
        })
    }

    /// What the load checker records for this agent: its load factor,
    /// `Bogus` when it answered without usable load data (as the reference
    /// says `LOAD-DATA-BOGUS`); Err (the reference's `HOST-UNREACHABLE`)
    /// when it could not be asked.
    pub async fn check_load(&self) -> Result<CheckedLoad, RefAgentError> {
        match self.call("foo", "checkload", &[]).await {
            Ok(lines) => Ok(load_factor(&lines).map_or(CheckedLoad::Bogus, CheckedLoad::Factor)),
            Err(RefAgentError::Failed { .. }) => Ok(CheckedLoad::Bogus),
            Err(e) => Err(e),
        }
    }

    /// The number of sessions per server in the agent's session database
    /// (`getservers`, asked for `user` as the reference does).
    pub async fn get_servers(&self, user: &str) -> Result<Vec<(String, u32)>, RefAgentError> {
        let lines = self.call(user, "getservers", &[]).await?;
        Ok(lines
            .iter()
            .filter_map(|l| {
                let (server, count) = l.split_once(' ')?;
                Some((server.to_string(), count.trim().parse().ok()?))
            })
            .collect())
    }

    /// Add the authorized_keys `line` to `user`'s `key_file` (a template:
    /// `%h` home, `%u` user…) unless it is there.
    pub async fn add_key(
        &self,
        user: &str,
        line: &str,
        key_file: &str,
    ) -> Result<(), RefAgentError> {
        self.call(user, "addauthkey", &[key_arg(line)?, key_arg(key_file)?])
            .await
            .map(|_| ())
    }

    /// Remove the authorized_keys `line` from `user`'s `key_file`.
    pub async fn remove_key(
        &self,
        user: &str,
        line: &str,
        key_file: &str,
    ) -> Result<(), RefAgentError> {
        self.call(user, "delauthkey", &[key_arg(line)?, key_arg(key_file)?])
            .await
            .map(|_| ())
    }
}

/// `int((memAvail/1000) * numCPU * typeCPU * 100 / loadavgXX)` from
/// `checkload`'s `key:value` lines, `myMemAvail` standing in for a zero
/// `memAvail`; None when a value is missing or the load is zero.
pub fn load_factor(lines: &[String]) -> Option<i64> {
    let value = |key: &str| -> Option<f64> {
        lines.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
    };
    let mut mem = value("memAvail")?;
    if mem == 0.0 {
        mem = value("myMemAvail")?;
    }
    let load = value("loadavgXX")?;
    if load <= 0.0 {
        return None;
    }
    let factor = (mem / 1000.0) * value("numCPU")? * value("typeCPU")? * 100.0 / load;
    factor.is_finite().then_some(factor as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_factor_as_the_reference_computes_it() {
        let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
        let l = lines("loadavgXX:51\nmemAvail:2000000\nmyMemAvail:1\nnumCPU:4\ntypeCPU:2400");
        assert_eq!(
            load_factor(&l),
            Some(((2000000.0 / 1000.0) * 4.0 * 2400.0 * 100.0 / 51.0) as i64)
        );
        let l = lines("loadavgXX:100\nmemAvail:0\nmyMemAvail:1000\nnumCPU:1\ntypeCPU:1");
        assert_eq!(load_factor(&l), Some(1));
        assert_eq!(load_factor(&lines("loadavgXX:100\nmemAvail:5")), None);
    }

    fn local(dir: &tempfile::TempDir, script: &str) -> LocalAgent {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join("agent");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        LocalAgent::at(&path)
    }

    #[tokio::test]
    async fn tasks_pass_their_checked_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let a = local(&dir, "echo OK; echo \"$1|$2|$3|$4\"; echo");
        let agent = RefAgent::Local(a);
        assert_eq!(
            agent.list_sessions("alice").await.unwrap(),
            vec!["alice|listsessions||".to_string()]
        );
        agent
            .suspend("alice", "alice-50-1_stDXFCE_dp24")
            .await
            .unwrap();
        agent
            .add_key("alice", "ssh-rsa AAAA a@b", "%h/.x2go/authorized_keys")
            .await
            .unwrap();
        for user in ["-x", "a b", "", "a;b"] {
            assert!(matches!(
                agent.list_sessions(user).await,
                Err(RefAgentError::BadUser(_))
            ));
        }
        assert!(matches!(
            agent.suspend("alice", "--all").await,
            Err(RefAgentError::BadSession(_))
        ));
        assert!(matches!(
            agent
                .add_key("alice", "ssh-rsa AAAA a@b\"; id; \"", "f")
                .await,
            Err(RefAgentError::BadArgument)
        ));
        let failing = local(&dir, "echo 'no such user' >&2; exit 2");
        let e = RefAgent::Local(failing)
            .list_sessions("alice")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no such user"), "{e}");
    }
}
