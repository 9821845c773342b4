//! The `Admin` gRPC service: status, membership changes and snapshots for
//! `x2gobrokerctl`. Membership changes run on the leader; any other node
//! answers with the leader's address so the caller can go there. Only admin
//! certificates may change anything; nodes may also ask for the status
//! (`identity`). Enrollment's join tokens and revocations are in
//! `agent_admin`. A new member's address is an IP address and port, as in
//! the node files.

use super::agent_admin::{self, AgentTokenGranted, AgentTokenRequest, RevokeAgent};
use super::identity::{authorize, Rpc};
use super::network::{decode, encode};
use super::proto::admin_server::{Admin, AdminServer};
use super::proto::Payload;
use super::{Member, Node, NodeId, Status};
use crate::state::{Command, Outcome};
use openraft::ChangeMembers;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use tonic::{Request, Response};

/// Why an admin request was not carried out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminError {
    pub message: String,
    /// The leader (id, node-to-node address) when this node is not it.
    pub leader: Option<(NodeId, String)>,
}

pub type AdminResult<T> = Result<T, AdminError>;

/// A node to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddNode {
    pub id: NodeId,
    pub member: Member,
}

/// One X2Go server as `x2gobrokerctl servers` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRow {
    pub hostname: String,
    pub up: bool,
    pub drained: bool,
    /// The reference's load factor (higher is less loaded), once reported.
    pub load_factor: Option<u64>,
    pub sessions: usize,
    /// The node its agent reported through last.
    pub node: NodeId,
    /// When that node received the last report (Unix milliseconds).
    pub last_report_ms: u64,
}

/// One session as `x2gobrokerctl sessions` shows it (never its cookie).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    /// The server whose agent reports it.
    pub server: String,
    pub session_id: String,
    pub user: String,
    /// x2goserver's status letter (R, S, T, F).
    pub status: char,
    pub display: String,
    /// The X2Go client's address.
    pub client: String,
    /// When it started and was last used (the server's local time).
    pub started: String,
    pub last_used: String,
}

impl ServerRow {
    /// Every server of the applied state, as `x2gobrokerctl servers` and
    /// the dashboard show them (read after the read barrier).
    pub fn table(s: &crate::state::State) -> Vec<ServerRow> {
        s.servers()
            .map(|(hostname, r)| ServerRow {
                hostname: hostname.clone(),
                up: r.up,
                drained: r.drained,
                load_factor: r.load.as_ref().map(|l| l.load_factor),
                sessions: s.sessions_on(hostname).count(),
                node: r.node,
                last_report_ms: r.last_report,
            })
            .collect()
    }
}

impl SessionRow {
    /// The sessions `query` asks for, from the applied state (read after
    /// the read barrier).
    pub fn table(s: &crate::state::State, query: &SessionsQuery) -> Vec<SessionRow> {
        match &query.user {
            Some(user) => s
                .sessions_of(user)
                .map(|(h, r)| SessionRow::of(h, r))
                .collect(),
            None => s
                .all_sessions()
                .map(|(h, r)| SessionRow::of(h, r))
                .collect(),
        }
    }

    fn of(server: &str, s: &crate::state::SessionRecord) -> Self {
        let field = |i: usize| s.line.split('|').nth(i).unwrap_or_default().to_string();
        SessionRow {
            server: server.to_string(),
            session_id: s.id.clone(),
            user: s.user.clone(),
            status: s.status,
            display: field(2),
            client: field(7),
            started: field(5),
            last_used: field(10),
        }
    }
}

/// Which sessions to list: all, or one user's.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SessionsQuery {
    pub user: Option<String>,
}

/// Drain (or undrain) a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drain {
    pub hostname: String,
    pub drained: bool,
}

impl Drain {
    /// The state command that carries it out (through the leader).
    pub fn command(&self) -> Command {
        Command::DrainServer {
            hostname: self.hostname.clone(),
            drained: self.drained,
        }
    }

    /// Whether the committed command did it: an unknown server is refused.
    pub fn settled(&self, outcome: &Outcome) -> Result<(), String> {
        if *outcome == Outcome::UnknownServer {
            return Err(format!(
                "no agent has reported a server named {:?}",
                self.hostname
            ));
        }
        tracing::info!(server = %crate::logsafe::escaped(&self.hostname), drained = self.drained, "server drain changed");
        Ok(())
    }
}

pub struct AdminService {
    node: Arc<Node>,
}

pub fn server(node: Arc<Node>) -> AdminServer<AdminService> {
    AdminServer::new(AdminService { node })
}

fn reply<T: Serialize>(v: &T) -> Result<Response<Payload>, tonic::Status> {
    Ok(encode(v).map(Response::new)?)
}

impl AdminService {
    /// `Ok` when this node leads; otherwise the error that points at the leader.
    fn ensure_leader(&self) -> AdminResult<()> {
        let leader = self.node.raft.metrics().borrow().current_leader;
        match leader {
            Some(l) if l == self.node.id => Ok(()),
            Some(l) => Err(AdminError {
                message: format!("node {} is not the leader", self.node.id),
                leader: self.node.member(l).map(|m| (l, m.raft)),
            }),
            None => Err(AdminError {
                message: "no leader elected".into(),
                leader: None,
            }),
        }
    }

    /// Commit a change of the voter set (no learners kept).
    async fn change_voters(&self, change: ChangeMembers<NodeId, Member>) -> AdminResult<()> {
        self.node
            .raft
            .change_membership(change, false)
            .await
            .map(|_| ())
            .map_err(|e| self.failed(e))
    }

    /// Refuse a node-to-node address that is not `IP:port` (what a node listens on).
    fn check_address(member: &Member) -> AdminResult<()> {
        match member.raft.parse::<SocketAddr>() {
            Ok(_) => Ok(()),
            Err(_) => Err(AdminError {
                message: format!(
                    "node-to-node address {:?} is not an IP address and port",
                    member.raft
                ),
                leader: None,
            }),
        }
    }

    fn failed(&self, e: impl std::fmt::Display) -> AdminError {
        AdminError {
            message: e.to_string(),
            leader: None,
        }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn status(&self, req: Request<Payload>) -> Result<Response<Payload>, tonic::Status> {
        authorize(&req, Rpc::Status)?;
        reply::<Status>(&self.node.status())
    }

    async fn add_node(&self, req: Request<Payload>) -> Result<Response<Payload>, tonic::Status> {
        authorize(&req, Rpc::AddNode)?;
        let add: AddNode = decode(req.get_ref())?;
        let result: AdminResult<()> = async {
            Self::check_address(&add.member)?;
            self.ensure_leader()?;
            tracing::info!(id = add.id, raft = %add.member.raft, "adding a node as learner");
            self.node
                .raft
                .add_learner(add.id, add.member.clone(), true)
                .await
                .map_err(|e| self.failed(e))?;
            tracing::info!(id = add.id, "promoting the learner to voter");
            self.change_voters(ChangeMembers::AddVoterIds(BTreeSet::from([add.id])))
                .await
        }
        .await;
        reply(&result)
    }

    async fn remove_node(&self, req: Request<Payload>) -> Result<Response<Payload>, tonic::Status> {
        authorize(&req, Rpc::RemoveNode)?;
        let id: NodeId = decode(req.get_ref())?;
        let result: AdminResult<()> = async {
            self.ensure_leader()?;
            tracing::info!(id, "removing a node from the voters");
            self.change_voters(ChangeMembers::RemoveVoters(BTreeSet::from([id])))
                .await
        }
        .await;
        reply(&result)
    }

    async fn reload(&self, req: Request<Payload>) -> Result<Response<Payload>, tonic::Status> {
        authorize(&req, Rpc::Reload)?;
        let result: AdminResult<()> = self.node.reload().await.map_err(|e| self.failed(e));
        reply(&result)
    }

    async fn servers(&self, req: Request<Payload>) -> Result<Response<Payload>, tonic::Status> {
        authorize(&req, Rpc::Servers)?;
        let result: AdminResult<Vec<ServerRow>> = async {
            self.node.read_barrier().await.map_err(|e| self.failed(e))?;
            Ok(self.node.read_state(ServerRow::table))
        }
        .await;
        reply(&result)
    }

    async fn sessions(&self, req: Request<Payload>) -> Result<Response<Payload>, tonic::Status> {
        authorize(&req, Rpc::Sessions)?;
        let query: SessionsQuery = decode(req.get_ref())?;
        let result: AdminResult<Vec<SessionRow>> = async {
            self.node.read_barrier().await.map_err(|e| self.failed(e))?;
            Ok(self.node.read_state(|s| SessionRow::table(s, &query)))
        }
        .await;
        reply(&result)
    }

    async fn drain(&self, req: Request<Payload>) -> Result<Response<Payload>, tonic::Status> {
        authorize(&req, Rpc::Drain)?;
        let drain: Drain = decode(req.get_ref())?;
        let result: AdminResult<()> = match self.node.submit(drain.command()).await {
            Ok(outcome) => drain.settled(&outcome).map_err(|e| self.failed(e)),
            Err(e) => Err(self.failed(e)),
        };
        reply(&result)
    }

    async fn agent_token(&self, req: Request<Payload>) -> Result<Response<Payload>, tonic::Status> {
        authorize(&req, Rpc::AgentToken)?;
        let ask: AgentTokenRequest = decode(req.get_ref())?;
        let result: AdminResult<AgentTokenGranted> =
            agent_admin::issue_token(&self.node, ask).await;
        reply(&result)
    }

    async fn revoke_agent(
        &self,
        req: Request<Payload>,
    ) -> Result<Response<Payload>, tonic::Status> {
        authorize(&req, Rpc::RevokeAgent)?;
        let revoke: RevokeAgent = decode(req.get_ref())?;
        let result: AdminResult<()> = agent_admin::revoke(&self.node, revoke).await;
        reply(&result)
    }

    async fn snapshot(&self, req: Request<Payload>) -> Result<Response<Payload>, tonic::Status> {
        authorize(&req, Rpc::Snapshot)?;
        let result: AdminResult<()> = self
            .node
            .raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| self.failed(e));
        reply(&result)
    }
}
