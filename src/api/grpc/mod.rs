//! The public gRPC API (`proto/broker.proto`): profiles, session selection,
//! the user's placements and cluster status, with the HTTP frontends'
//! authentication; server reflection lets grpcurl explore it.

use crate::broker::{
    Access, Backend, Broker, BrokerError, Credentials as Creds, LedgerError, Selection,
};
use crate::config::value::Value;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub mod limits;

pub mod proto {
    tonic::include_proto!("x2gobroker.broker.v1");
    /// The descriptor set served by reflection.
    pub const DESCRIPTOR: &[u8] = tonic::include_file_descriptor_set!("broker_descriptor");
}

use limits::Checked;
use proto::broker_server::{Broker as BrokerApi, BrokerServer};
use proto::*;

pub struct Api {
    broker: Arc<Broker>,
}

/// The Broker service (requests over `limits::MAX_REQUEST_MESSAGE` are refused undecoded).
pub fn server(broker: Arc<Broker>) -> BrokerServer<Api> {
    BrokerServer::new(Api { broker }).max_decoding_message_size(limits::MAX_REQUEST_MESSAGE)
}

/// The reflection service for the public API.
pub fn reflection() -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::Error,
> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::DESCRIPTOR)
        .build_v1()
}

/// The one mapping of broker failures to gRPC statuses: the full text is
/// logged here, the client gets at most the short public reason.
fn status(rpc: &'static str, e: BrokerError) -> Status {
    let reason = e.public_reason();
    match e {
        BrokerError::Ledger(_) | BrokerError::AuthBusy(_) => {
            tracing::warn!(rpc, error = %e, "gRPC request failed");
            Status::unavailable(reason.unwrap_or("state unavailable"))
        }
        BrokerError::Load(_) | BrokerError::UnexpectedOutcome { .. } => {
            tracing::error!(rpc, error = %e, "gRPC request failed");
            Status::internal(reason.unwrap_or("internal error"))
        }
    }
}

/// Count an answered RPC (its gRPC code as the HTTP status it stands for).
fn observe<T>(rpc: &'static str, started: std::time::Instant, answer: &Result<T, Status>) {
    use tonic::Code;
    let status = match answer {
        Ok(_) => 200,
        Err(e) => match e.code() {
            Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => 400,
            Code::Unauthenticated => 401,
            Code::PermissionDenied => 403,
            Code::NotFound => 404,
            Code::ResourceExhausted => 429,
            Code::Unavailable => 503,
            Code::DeadlineExceeded => 504,
            _ => 500,
        },
    };
    crate::metrics::METRICS.request("grpc", rpc, status, started.elapsed().as_secs_f64());
}

fn ledger_status(rpc: &'static str, e: LedgerError) -> Status {
    status(rpc, e.into())
}

fn client_ip<T>(req: &Request<T>) -> IpAddr {
    req.remote_addr()
        .map(|a: SocketAddr| a.ip().to_canonical())
        .unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

impl Api {
    /// The HTTP frontends' access check; the next cookie on success.
    async fn authenticate(
        &self,
        rpc: &'static str,
        creds: Option<&Credentials>,
        client: IpAddr,
    ) -> Result<(String, String), Status> {
        let empty = Credentials::default();
        let c = creds.unwrap_or(&empty);
        let loaded = self.broker.current();
        let ip = client.to_string();
        let creds = Creds {
            user: &c.user,
            password: &c.password,
            cookie: &c.authid,
            ip: &ip,
        };
        let access = self
            .broker
            .check_access(&loaded, Backend::Inifile, creds, true)
            .await
            .map_err(|e| status(rpc, e))?;
        match access {
            Access::Granted { next_cookie } => {
                Ok((c.user.clone(), next_cookie.unwrap_or_default()))
            }
            Access::Denied => Err(Status::unauthenticated("access denied")),
            Access::Limited(wait) => Err(Status::resource_exhausted(format!(
                "too many failed logins; retry in {} s",
                wait.as_secs().max(1)
            ))),
        }
    }
}

#[tonic::async_trait]
impl BrokerApi for Api {
    async fn list_profiles(
        &self,
        req: Request<ListProfilesRequest>,
    ) -> Result<Response<ListProfilesReply>, Status> {
        let started = std::time::Instant::now();
        let answer = async move {
            req.get_ref().check_fields()?;
            let client = client_ip(&req);
            let (user, next_authid) = self
                .authenticate("ListProfiles", req.get_ref().credentials.as_ref(), client)
                .await?;
            let loaded = self.broker.current();
            let profiles = self
                .broker
                .list_profiles(&loaded, Backend::Inifile, &user, Some(client))
                .await
                .map_err(|e| ledger_status("ListProfiles", e))?
                .into_iter()
                .map(|(id, entries)| {
                    let get = |k: &str| entries.iter().find(|(key, _)| key == k).map(|(_, v)| v);
                    Profile {
                        name: get("name")
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| id.clone()),
                        hosts: match get("host") {
                            Some(Value::List(l)) => l.clone(),
                            Some(v) => vec![v.to_string()],
                            None => Vec::new(),
                        },
                        settings: entries
                            .iter()
                            .map(|(k, v)| (k.clone(), v.to_string()))
                            .collect(),
                        id,
                    }
                })
                .collect();
            Ok(Response::new(ListProfilesReply {
                next_authid,
                profiles,
            }))
        }
        .await;
        observe("ListProfiles", started, &answer);
        answer
    }

    async fn select_session(
        &self,
        req: Request<SelectSessionRequest>,
    ) -> Result<Response<SelectSessionReply>, Status> {
        let started = std::time::Instant::now();
        let answer = async move {
            req.get_ref().check_fields()?;
            let client = client_ip(&req);
            let r = req.get_ref();
            if r.profile_id.is_empty() {
                return Err(Status::invalid_argument("profile_id is required"));
            }
            let (user, next_authid) = self
                .authenticate("SelectSession", r.credentials.as_ref(), client)
                .await?;
            // `login` only names the user on the X2Go server; ACLs and placements follow `user`.
            let server_user = if r.login.is_empty() { &user } else { &r.login };
            let pubkey = match r.pubkey.trim() {
                "" => None,
                key => Some(
                    crate::sshkey::check(key, true)
                        .map(|_| key)
                        .map_err(|e| Status::invalid_argument(format!("pubkey: {e}")))?,
                ),
            };
            let loaded = self.broker.current();
            let s = self
                .broker
                .select_session(
                    &loaded,
                    Backend::Inifile,
                    &Selection {
                        profile_id: &r.profile_id,
                        user: &user,
                        server_user,
                        client: Some(client),
                        pubkey,
                    },
                )
                .await
                .map_err(|e| status("SelectSession", e))?;
            tracing::info!(user = %user, server_user = %server_user, profile = %r.profile_id, server = %s.server, port = s.port, "session selected (gRPC)");
            Ok(Response::new(SelectSessionReply {
                next_authid,
                server: s.server,
                port: u32::try_from(s.port).unwrap_or(0),
                session_info: s.session_info.unwrap_or_default(),
                private_key: s.private_key.unwrap_or_default(),
                pubkey_accepted: s.pubkey_accepted,
            }))
        }
        .await;
        observe("SelectSession", started, &answer);
        answer
    }

    async fn list_sessions(
        &self,
        req: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsReply>, Status> {
        let started = std::time::Instant::now();
        let answer = async move {
            req.get_ref().check_fields()?;
            let client = client_ip(&req);
            let (user, next_authid) = self
                .authenticate("ListSessions", req.get_ref().credentials.as_ref(), client)
                .await?;
            let sessions = self
                .broker
                .placements_of(&user)
                .await
                .map_err(|e| ledger_status("ListSessions", e))?
                .into_iter()
                .map(|p| Session {
                    profile_id: p.profile_id,
                    user: user.clone(),
                    host: p.host,
                    placed_at: p.at,
                })
                .collect();
            let live_sessions = self
                .broker
                .live_sessions_of(&user)
                .await
                .map_err(|e| ledger_status("ListSessions", e))?
                .into_iter()
                .map(|(server, s)| LiveSession {
                    server,
                    session_id: s.id,
                    status: s.status.to_string(),
                    session_info: s.line,
                })
                .collect();
            Ok(Response::new(ListSessionsReply {
                next_authid,
                sessions,
                live_sessions,
            }))
        }
        .await;
        observe("ListSessions", started, &answer);
        answer
    }

    async fn cluster_status(
        &self,
        _req: Request<ClusterStatusRequest>,
    ) -> Result<Response<ClusterStatusReply>, Status> {
        let started = std::time::Instant::now();
        let answer = async move {
            let reply = match self.broker.status() {
                Some(s) => ClusterStatusReply {
                    node: Some(NodeStatus {
                        id: s.id,
                        role: s.role,
                        term: s.term,
                        leader: s.leader.unwrap_or(0),
                        last_log_index: s.last_log_index.unwrap_or(0),
                        applied_index: s.applied_index.unwrap_or(0),
                        config_version: s.config_version.unwrap_or(0),
                    }),
                    members: s.members.keys().copied().collect(),
                },
                None => ClusterStatusReply {
                    node: Some(NodeStatus {
                        role: "Standalone".into(),
                        ..Default::default()
                    }),
                    members: Vec::new(),
                },
            };
            Ok(Response::new(reply))
        }
        .await;
        observe("ClusterStatus", started, &answer);
        answer
    }
}
