//! `x2gobroker-agent simulate`: one process plays N X2Go servers with M
//! sessions between them, each speaking the real agent protocol over real
//! mutual TLS to the brokers' agent gateways, for load tests of the
//! brokers. Each server (`server`) gets an agent certificate for its name
//! made in memory from the cluster CA (`keygen::AgentIssuer`), starts at
//! broker address `i % len` so the servers spread over the nodes, and lets
//! its sessions and load evolve (`churn`, `hardware`, with `rng`). Servers
//! connect gradually (`RAMP_BATCH` per `RAMP_EVERY`); `stats` counts what
//! they send, and a one-line summary (the command's progress output, not a
//! log) goes to stderr every `SUMMARY_EVERY`. `transport` chooses the
//! agent's transport (gRPC or QUIC) per server.

pub mod churn;
pub mod hardware;
pub mod rng;
pub mod server;
pub mod stats;
pub mod transport;

use crate::keygen::{AgentIssuer, KeygenError};
use rng::Rng;
use server::{SimServer, Timing};
use stats::{Stats, Totals};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::task::JoinSet;
use transport::{Identity, TransportChoice};

/// Servers started at once, and the pause between such batches.
pub const RAMP_BATCH: usize = 200;
pub const RAMP_EVERY: Duration = Duration::from_millis(100);
/// How often the one-line summary is printed.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(5);

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// The brokers' agent gateway addresses.
    pub brokers: Vec<String>,
    pub ca: PathBuf,
    pub ca_key: PathBuf,
    pub servers: usize,
    /// Sessions of all servers together (spread evenly).
    pub sessions: usize,
    pub load_every: Duration,
    pub change_every: Duration,
    /// Servers are named `{name_prefix}{i:05}`.
    pub name_prefix: String,
    pub transport: TransportChoice,
    /// Stop after this long (None: at SIGINT or SIGTERM).
    pub duration: Option<Duration>,
    /// Write the totals here at the end.
    pub stats_json: Option<PathBuf>,
}

/// The simulation cannot start or finish.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no broker address given (--brokers ADDR[,ADDR...])")]
    NoBrokers,
    #[error("--servers must be at least 1")]
    NoServers,
    #[error("{name} must be at least 1 ms")]
    Zero { name: &'static str },
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("certificates from {}: {source}", ca.display())]
    Certificates {
        ca: PathBuf,
        #[source]
        source: KeygenError,
    },
    #[error(transparent)]
    Transport(#[from] crate::agent::transport::TransportError),
    #[error("waiting for signals: {0}")]
    Signal(#[source] std::io::Error),
}

impl SimConfig {
    fn check(&self) -> Result<(), SimError> {
        if self.brokers.is_empty() {
            return Err(SimError::NoBrokers);
        }
        if self.servers == 0 {
            return Err(SimError::NoServers);
        }
        if self.load_every.is_zero() {
            return Err(SimError::Zero {
                name: "--load-every-ms",
            });
        }
        if self.change_every.is_zero() {
            return Err(SimError::Zero {
                name: "--change-every-ms",
            });
        }
        Ok(())
    }

    /// The name of server `i`.
    pub fn hostname(&self, i: usize) -> String {
        format!("{}{i:05}", self.name_prefix)
    }

    /// The number of sessions of server `i`: M/N, the first M%N one more.
    pub fn sessions_of(&self, i: usize) -> usize {
        self.sessions / self.servers + usize::from(i < self.sessions % self.servers)
    }
}

fn read(path: &Path) -> Result<String, SimError> {
    std::fs::read_to_string(path).map_err(|source| SimError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Raise this process's open-file limit to its hard limit; the new limit.
fn raise_open_files() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(limit.rlim_cur)
}

/// Run the simulation until `duration` or a signal; the totals at the end
/// (also written to `stats_json`).
pub async fn run(config: SimConfig) -> Result<Totals, SimError> {
    config.check()?;
    match raise_open_files() {
        Ok(n) if n < config.servers as u64 + 64 => tracing::warn!(
            limit = n,
            servers = config.servers,
            "the open-file limit is below one connection per server (raise ulimit -n)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
    let ca_pem = read(&config.ca)?;
    let issuer = AgentIssuer::from_pem(&ca_pem, &read(&config.ca_key)?).map_err(|source| {
        SimError::Certificates {
            ca: config.ca.clone(),
            source,
        }
    })?;
    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    let servers = config.servers as u64;
    let config = Arc::new(config);
    let mut ramp = tokio::spawn(start_servers(
        Arc::clone(&config),
        issuer,
        ca_pem.into_bytes(),
        Arc::clone(&stats),
    ));
    let mut summary = tokio::time::interval(SUMMARY_EVERY);
    summary.tick().await;
    let stop = stop_signal(config.duration)?;
    tokio::pin!(stop);
    let mut before: Option<Totals> = None;
    let outcome = loop {
        tokio::select! {
            () = &mut stop => break Ok(()),
            _ = summary.tick() => {
                let now = stats.totals(servers, started.elapsed());
                eprintln!("{}", now.line(before.as_ref()));
                before = Some(now);
            }
            ended = &mut ramp => break match ended {
                Ok(Err(e)) => Err(e),
                Ok(Ok(never)) => match never {},
                Err(e) => panic!("the simulated servers' task failed: {e}"),
            },
        }
    };
    outcome?;
    let totals = stats.totals(servers, started.elapsed());
    // Dropping the servers' JoinSet aborts them and closes their connections.
    ramp.abort();
    let _ = ramp.await;
    if let Some(path) = &config.stats_json {
        let json = serde_json::to_string_pretty(&totals).unwrap_or_default();
        std::fs::write(path, json + "\n").map_err(|source| SimError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(totals)
}

/// Completes after `duration`, or at SIGINT or SIGTERM.
fn stop_signal(
    duration: Option<Duration>,
) -> Result<impl std::future::Future<Output = ()>, SimError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(SimError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(SimError::Signal)?;
    Ok(async move {
        let elapsed = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = elapsed => {}
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// Start every server, `RAMP_BATCH` at a time, then keep them running
/// (they stop when this task is aborted).
async fn start_servers(
    config: Arc<SimConfig>,
    issuer: AgentIssuer,
    ca_pem: Vec<u8>,
    stats: Arc<Stats>,
) -> Result<Infallible, SimError> {
    let brokers: Arc<[String]> = config.brokers.clone().into();
    let timing = Timing {
        load_every: config.load_every,
        change_every: config.change_every,
    };
    let mut seeds = Rng::from_entropy();
    let users = config.sessions.max(1) as u64;
    let now = i64::try_from(crate::agent::wire::unix_ms(SystemTime::now()) / 1000).unwrap_or(0);
    let mut running = JoinSet::new();
    let mut first_user = 0u64;
    for i in 0..config.servers {
        if i > 0 && i % RAMP_BATCH == 0 {
            tokio::time::sleep(RAMP_EVERY).await;
        }
        let hostname = config.hostname(i);
        let (cert, key) = issuer
            .issue(&hostname)
            .map_err(|source| SimError::Certificates {
                ca: config.ca.clone(),
                source,
            })?;
        let id = Identity {
            ca_pem: &ca_pem,
            cert_pem: cert.into_bytes(),
            key_pem: key.into_bytes(),
        };
        let link = transport::link(config.transport, i, &hostname, id)?;
        let mut rng = Rng::seeded(seeds.next_u64());
        let count = config.sessions_of(i);
        let model = churn::ServerModel::new(&hostname, count, first_user, users, &mut rng, now);
        first_user += count as u64;
        stats.server_started(count);
        running.spawn(
            SimServer {
                model,
                link,
                brokers: Arc::clone(&brokers),
                first: i % brokers.len(),
                timing,
                stats: Arc::clone(&stats),
                rng,
            }
            .run(),
        );
    }
    tracing::info!(servers = config.servers, "every simulated server started");
    std::future::pending::<()>().await;
    unreachable!("pending never completes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SimConfig {
        SimConfig {
            brokers: vec!["127.0.0.1:1".into()],
            ca: "ca.pem".into(),
            ca_key: "ca-key.pem".into(),
            servers: 3,
            sessions: 10,
            load_every: Duration::from_millis(2000),
            change_every: Duration::from_millis(10_000),
            name_prefix: "sim".into(),
            transport: TransportChoice::Grpc,
            duration: None,
            stats_json: None,
        }
    }

    #[test]
    fn sessions_spread_evenly_and_names_are_numbered() {
        let c = config();
        let per: Vec<usize> = (0..3).map(|i| c.sessions_of(i)).collect();
        assert_eq!(per, vec![4, 3, 3]);
        assert_eq!(c.hostname(7), "sim00007");
        assert!(c.check().is_ok());
        let none = SimConfig {
            servers: 0,
            ..config()
        };
        assert!(matches!(none.check(), Err(SimError::NoServers)));
        let zero = SimConfig {
            change_every: Duration::ZERO,
            ..config()
        };
        assert!(zero
            .check()
            .unwrap_err()
            .to_string()
            .contains("--change-every-ms"));
    }

    #[tokio::test]
    async fn a_ca_key_that_is_not_the_cas_is_refused_before_anything_connects() {
        let dir = tempfile::tempdir().unwrap();
        crate::keygen::generate(dir.path(), &[1], &[], &[]).unwrap();
        let c = SimConfig {
            ca: dir.path().join("ca.pem"),
            ca_key: dir.path().join("node1-key.pem"),
            ..config()
        };
        let e = run(c).await.unwrap_err();
        assert!(
            e.to_string().contains("the key is not this certificate's"),
            "{e}"
        );
        let missing = SimConfig {
            ca: dir.path().join("nope.pem"),
            ..config()
        };
        assert!(matches!(run(missing).await, Err(SimError::Read { .. })));
    }
}
