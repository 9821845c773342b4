//! The reference's agent on an X2Go server over SSH (query mode `SSH`),
//! reached as the reference reaches it: as user `x2gobroker`
//! (`X2GOBROKER_AGENT_USER`) with the broker's own private key
//! (`<broker home>/.ssh/id_rsa`, else `id_ecdsa`, else `id_ed25519`),
//! which `x2gobroker-pubkeyauthorizer` installed on the server with the
//! forced command `/usr/lib/x2go/x2gobroker-agent`; that agent runs what
//! it was asked, `sh -c '/usr/lib/x2go/x2gobroker-agent USER TASK "ARG"…'`.
//! The server is reached by its host name when that connects, else by
//! its address (`host=name (address)`), on its SSH port (`sshport`, or
//! the port in `host=name (address:port)`); its host key is checked
//! (`hostkey`). Any output on standard error is a failure, as there. Each
//! call is one channel (the reference: one connection), on a connection
//! kept from an earlier call within `KEEP_IDLE` (`pool`) or a new one,
//! bounded as a whole by the timeout; an agent that cannot be reached is
//! skipped for the retry period (`down`).

use super::answer::{parse, said, MAX_ANSWER};
use super::down::DownCache;
use super::hostkey::{known_hosts_of, Check, HostKeyPolicy, Pins, Verdict};
use super::local::AGENT;
use super::pool::Pool;
use super::RefAgentError;
use crate::config::BrokerConf;
use crate::profiles::Profile;
use russh::client;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::ChannelMsg;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long a connection to an agent is kept for the next call.
const KEEP_IDLE: Duration = Duration::from_secs(30);
/// How long opening a channel on a kept connection may take before a new
/// connection is made instead (one that went silent).
const REUSE_OPEN: Duration = Duration::from_secs(1);

/// The key files tried, in order.
const KEY_FILES: [&str; 3] = ["id_rsa", "id_ecdsa", "id_ed25519"];

/// Whether one of the key files is in `home/.ssh` (the reference's test
/// before it uses SSH mode at all).
pub fn key_present(home: &Path) -> bool {
    KEY_FILES.iter().any(|f| home.join(".ssh").join(f).exists())
}

/// The user the broker logs in as on the X2Go servers.
pub fn agent_user() -> String {
    std::env::var("X2GOBROKER_AGENT_USER").unwrap_or_else(|_| "x2gobroker".into())
}

/// One server's agent as a profile names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// The profile's host name (tried first).
    pub name: String,
    /// Its address (`host=name (address)`; the name without one).
    pub address: String,
    pub port: u16,
    pub policy: HostKeyPolicy,
}

impl SshTarget {
    /// The agents of `profile`'s hosts, in the profile's order.
    pub fn of_profile(conf: &BrokerConf, profile: &Profile) -> Vec<SshTarget> {
        let policy = HostKeyPolicy::of(conf, profile);
        profile
            .host_names()
            .into_iter()
            .filter_map(|name| {
                let port = u16::try_from(profile.port_of(&name)).ok()?;
                Some(SshTarget {
                    address: profile.address_of(&name),
                    name,
                    port,
                    policy,
                })
            })
            .collect()
    }

    /// The agents of `profile`'s hosts to ask about `user`, all of them,
    /// starting at a host that depends on the user (the reference picks
    /// one at random), so that the listings of a profile with many
    /// servers spread over their agents instead of all going to the
    /// first; each user's start stays the same.
    pub fn for_user(conf: &BrokerConf, profile: &Profile, user: &str) -> Vec<SshTarget> {
        let mut targets = Self::of_profile(conf, profile);
        if !targets.is_empty() {
            // FNV-1a: the same on every node and in every build.
            let hash = user.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            });
            let start = (hash % targets.len() as u64) as usize;
            targets.rotate_left(start);
        }
        targets
    }

    /// The key this agent is remembered by.
    pub fn key(&self) -> String {
        format!("{} ({}) port {}", self.name, self.address, self.port)
    }

    fn label(&self) -> String {
        format!("x2gobroker-agent on {}", self.key())
    }
}

/// The broker's side of the SSH calls: key, known hosts, timeout, and
/// the agents found unreachable.
pub struct SshAgents {
    home: PathBuf,
    user: String,
    timeout: Duration,
    down: DownCache,
    pins: Pins,
    /// Logged-in connections for the next calls.
    pool: Pool<client::Handle<HostKeyHandler>>,
}

impl SshAgents {
    /// Calls as `user` (`agent_user()`) with the keys in `home/.ssh`,
    /// each within `timeout`; an unreachable agent skipped for `retry`.
    pub fn new(home: &Path, user: &str, timeout: Duration, retry: Duration) -> Self {
        SshAgents {
            home: home.to_path_buf(),
            user: user.to_string(),
            timeout,
            down: DownCache::new(retry),
            pins: Pins::default(),
            pool: Pool::new(KEEP_IDLE),
        }
    }

    /// Whether `target`'s agent is remembered as unreachable.
    pub fn remembered_down(&self, target: &SshTarget) -> bool {
        self.down.is_down(&target.key())
    }

    /// Run `task` for `user` with `args` (checked by the caller) on
    /// `target`'s agent; its data lines.
    pub async fn call(
        &self,
        target: &SshTarget,
        user: &str,
        task: &'static str,
        args: &[&str],
    ) -> Result<Vec<String>, RefAgentError> {
        let agent = target.label();
        let key = target.key();
        if self.down.skip(&key, self.timeout) {
            return Err(RefAgentError::RecentlyDown {
                agent,
                retry: self.down.retry(),
            });
        }
        let command = command(user, task, args);
        let result = match tokio::time::timeout(self.timeout, self.exchange(target, &command)).await
        {
            Ok(Ok((_, stderr))) if !stderr.is_empty() => Err(RefAgentError::Failed {
                agent: agent.clone(),
                task,
                said: said(&stderr),
            }),
            Ok(Ok((stdout, stderr))) => parse(&agent, task, &stdout, &stderr),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(RefAgentError::Timeout {
                agent: agent.clone(),
                timeout: self.timeout,
            }),
        };
        match &result {
            Err(e) if e.host_down() => self.down.mark_down(&key),
            Err(RefAgentError::NoKey { .. }) => {}
            _ => self.down.mark_up(&key),
        }
        result
    }

    /// Run `command` on `target`'s agent, on the connection an earlier
    /// call left (`pool`) or a new one: its standard output and error.
    async fn exchange(
        &self,
        target: &SshTarget,
        command: &str,
    ) -> Result<(Vec<u8>, Vec<u8>), RefAgentError> {
        let agent = target.label();
        let key = target.key();
        if let Some(conn) = self.pool.get(&key) {
            match tokio::time::timeout(REUSE_OPEN, conn.channel_open_session()).await {
                Ok(Ok(channel)) => {
                    let answer = run(channel, command, &agent).await;
                    match &answer {
                        Ok(_) => self.pool.put(&key, conn),
                        Err(_) => self.pool.forget(&key, &conn),
                    }
                    return answer;
                }
                // Closed by the server, gone silent, or full: a new one.
                _ => {
                    tracing::debug!(agent = %agent, "the kept SSH connection is not usable: connecting anew");
                    self.pool.forget(&key, &conn);
                }
            }
        }
        let conn = Arc::new(self.connect(target).await?);
        let channel = conn
            .channel_open_session()
            .await
            .map_err(|e| ssh_error(&agent, e))?;
        let answer = run(channel, command, &agent).await?;
        self.pool.put(&key, conn);
        Ok(answer)
    }

    /// Connect to `target` and log in.
    async fn connect(
        &self,
        target: &SshTarget,
    ) -> Result<client::Handle<HostKeyHandler>, RefAgentError> {
        let agent = target.label();
        let key = Arc::new(self.private_key().await?);
        let (host, stream) = reach(target).await?;
        let check = Check {
            known_hosts: known_hosts_of(&self.home),
            host,
            port: target.port,
            policy: target.policy,
            pins: self.pins.clone(),
        };
        let defaults = russh::Preferred::default();
        let config = client::Config {
            // A kept connection closes by itself once unused for longer
            // than the pool keeps it.
            inactivity_timeout: Some(self.pool.idle() + self.timeout),
            preferred: russh::Preferred {
                key: Cow::Owned(check.preferred(&defaults.key)),
                ..defaults
            },
            nodelay: true,
            ..Default::default()
        };
        let refused = Arc::new(parking_lot::Mutex::new(None));
        let handler = HostKeyHandler {
            check,
            refused: refused.clone(),
        };
        let ssh_error = |e| ssh_error(&agent, e);
        let mut session = match client::connect_stream(Arc::new(config), stream, handler).await {
            Ok(s) => s,
            Err(e) => {
                return Err(match refused.lock().take() {
                    Some(why) => RefAgentError::HostKey {
                        agent: agent.clone(),
                        why,
                    },
                    None => ssh_error(e),
                })
            }
        };
        let hash = session
            .best_supported_rsa_hash()
            .await
            .map_err(ssh_error)?
            .flatten();
        let auth = session
            .authenticate_publickey(&self.user, PrivateKeyWithHashAlg::new(key, hash))
            .await
            .map_err(ssh_error)?;
        if !auth.success() {
            return Err(RefAgentError::Auth {
                agent,
                user: self.user.clone(),
            });
        }
        Ok(session)
    }

    /// The broker's private key (read for every new connection: `keygen
    /// --ssh --force` takes effect with the next one).
    async fn private_key(&self) -> Result<PrivateKey, RefAgentError> {
        let dir = self.home.join(".ssh");
        let mut why = String::from("none of them exists");
        for file in KEY_FILES {
            let path = dir.join(file);
            match tokio::fs::read_to_string(&path).await {
                Ok(text) => match russh::keys::decode_secret_key(&text, None) {
                    Ok(key) => return Ok(key),
                    Err(e) => why = format!("{}: {e}", path.display()),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => why = format!("{}: {e}", path.display()),
            }
        }
        Err(RefAgentError::NoKey {
            dir: dir.display().to_string(),
            why,
        })
    }
}

/// Run `command` on `channel`: its standard output and error.
async fn run(
    mut channel: russh::Channel<client::Msg>,
    command: &str,
    agent: &str,
) -> Result<(Vec<u8>, Vec<u8>), RefAgentError> {
    channel
        .exec(true, command)
        .await
        .map_err(|e| ssh_error(agent, e))?;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some(msg) = channel.wait().await {
        match msg {
            ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
            ChannelMsg::ExtendedData { data, ext: 1 } => stderr.extend_from_slice(&data),
            ChannelMsg::Close => break,
            _ => {}
        }
        if stdout.len() + stderr.len() > MAX_ANSWER {
            return Err(RefAgentError::Ssh {
                agent: agent.to_string(),
                why: format!("the answer is longer than {MAX_ANSWER} bytes"),
            });
        }
    }
    Ok((stdout, stderr))
}

/// An SSH failure talking to `agent`.
fn ssh_error(agent: &str, e: russh::Error) -> RefAgentError {
    RefAgentError::Ssh {
        agent: agent.to_string(),
        why: e.to_string(),
    }
}

/// The remote command, as the reference builds it (arguments in double
/// quotes, all of it in single quotes for `sh -c`).
fn command(user: &str, task: &str, args: &[&str]) -> String {
    let mut line = format!("{AGENT} {user} {task}");
    for arg in args {
        line.push_str(&format!(" \"{arg}\""));
    }
    format!("sh -c '{line}'")
}

/// How long one attempt to connect (name lookup included) may take: the
/// reference's port scan waits 2 s, then tries the address.
const PORT_SCAN: Duration = Duration::from_secs(2);

/// A connection to the target: by its name when that connects, else by
/// its address; the host connected to, as known_hosts names it.
async fn reach(target: &SshTarget) -> Result<(String, tokio::net::TcpStream), RefAgentError> {
    let mut why = String::new();
    let mut hosts = vec![target.name.as_str()];
    if target.address != target.name {
        hosts.push(&target.address);
    }
    for host in hosts {
        let attempt = tokio::net::TcpStream::connect((host, target.port));
        match tokio::time::timeout(PORT_SCAN, attempt).await {
            Ok(Ok(stream)) => return Ok((host.to_string(), stream)),
            Ok(Err(e)) => why = format!("{host} port {}: {e}", target.port),
            Err(_) => {
                why = format!(
                    "{host} port {}: no connection within {PORT_SCAN:?}",
                    target.port
                )
            }
        }
    }
    Err(RefAgentError::Unreachable {
        agent: target.label(),
        why,
    })
}

/// Checks the server's host key during the handshake; keeps why it was refused.
struct HostKeyHandler {
    check: Check,
    refused: Arc<parking_lot::Mutex<Option<String>>>,
}

impl client::Handler for HostKeyHandler {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let verdict = match server_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.check.decide(key),
            PublicKeyOrCertificate::Certificate(_) => {
                Verdict::Refused("host certificates are not accepted".into())
            }
        };
        match verdict {
            Verdict::Known | Verdict::Accepted => Ok(true),
            Verdict::Refused(why) => {
                tracing::error!(host = %self.check.host, port = self.check.port, why = %why, "agent host key refused");
                *self.refused.lock() = Some(why);
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_command_is_the_references() {
        assert_eq!(
            command("alice", "listsessions", &[]),
            "sh -c '/usr/lib/x2go/x2gobroker-agent alice listsessions'"
        );
        assert_eq!(
            command("alice", "addauthkey", &["ssh-rsa AAAA a@b", "%h/.x2go/authorized_keys"]),
            "sh -c '/usr/lib/x2go/x2gobroker-agent alice addauthkey \"ssh-rsa AAAA a@b\" \"%h/.x2go/authorized_keys\"'"
        );
    }

    #[test]
    fn targets_are_the_profiles_hosts_with_their_addresses_and_ports() {
        let conf = BrokerConf::parse(
            "c",
            "[global]\ndefault-agent-hostkey-policy = AutoAddPolicy\n",
        )
        .unwrap();
        let set = crate::profiles::ProfileSet::parse(
            "p",
            "[p]\nhost=a (127.0.0.2:2022), b\nsshport=23\n",
        )
        .unwrap();
        let t = SshTarget::of_profile(&conf, &set.profiles[0]);
        assert_eq!(
            t,
            vec![
                SshTarget {
                    name: "a".into(),
                    address: "127.0.0.2".into(),
                    port: 2022,
                    policy: HostKeyPolicy::AutoAdd
                },
                SshTarget {
                    name: "b".into(),
                    address: "b".into(),
                    port: 23,
                    policy: HostKeyPolicy::AutoAdd
                },
            ]
        );
    }

    #[test]
    fn users_start_at_different_agents_and_ask_them_all() {
        let conf = BrokerConf::parse("c", "").unwrap();
        let set = crate::profiles::ProfileSet::parse("p", "[p]\nhost=a, b, c, d\n").unwrap();
        let profile = &set.profiles[0];
        let mut starts = std::collections::BTreeSet::new();
        for i in 0..64 {
            let user = format!("user{i}");
            let t = SshTarget::for_user(&conf, profile, &user);
            let mut names: Vec<String> = t.iter().map(|t| t.name.clone()).collect();
            // Every agent, in the profile's (cyclic) order from the start.
            let first = names[0].clone();
            names.sort();
            assert_eq!(names, ["a", "b", "c", "d"]);
            let again = SshTarget::for_user(&conf, profile, &user);
            assert_eq!(again, t, "the same start for the same user");
            let order: String = t.iter().map(|t| t.name.as_str()).collect();
            assert!("abcdabcd".contains(&order), "{order}");
            starts.insert(first);
        }
        assert_eq!(starts.len(), 4, "64 users start at every agent");
    }

    /// An agent on 127.0.0.1 at `port`, asked with the keys in `home`.
    fn loopback(home: &Path, port: u16) -> (SshTarget, SshAgents) {
        let target = SshTarget {
            name: "127.0.0.1".into(),
            address: "127.0.0.1".into(),
            port,
            policy: HostKeyPolicy::Reject,
        };
        let agents = SshAgents::new(
            home,
            "x2gobroker",
            Duration::from_secs(2),
            Duration::from_secs(60),
        );
        (target, agents)
    }

    #[tokio::test]
    async fn an_unreachable_agent_is_skipped_for_the_retry_period() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        let pair = crate::sshkey::generate("x", "y").unwrap();
        std::fs::write(home.path().join(".ssh/id_rsa"), &pair.private_pem).unwrap();
        // A port nobody listens on.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (target, agents) = loopback(home.path(), port);
        let first = agents.call(&target, "alice", "listsessions", &[]).await;
        assert!(
            matches!(first, Err(RefAgentError::Unreachable { .. })),
            "{first:?}"
        );
        let second = agents.call(&target, "alice", "listsessions", &[]).await;
        assert!(
            matches!(second, Err(RefAgentError::RecentlyDown { .. })),
            "{second:?}"
        );
    }

    #[tokio::test]
    async fn without_a_key_nothing_is_asked() {
        let home = tempfile::tempdir().unwrap();
        let (target, agents) = loopback(home.path(), 1);
        let e = agents
            .call(&target, "alice", "ping", &[])
            .await
            .unwrap_err();
        assert!(matches!(e, RefAgentError::NoKey { .. }), "{e}");
    }
}
