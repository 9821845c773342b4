//! The `AgentGateway` gRPC service: the transport-neutral checks and
//! message handling of `connection`, over a tonic bidirectional stream.
//! The reply stream carries the broker's commands for as long as the
//! agent is connected; when its certificate is revoked, the stream ends
//! with `PERMISSION_DENIED` and the reason.

use super::connection::{self, Agents, Refusal, HELLO_TIMEOUT};
use super::proto::agent_gateway_server::{AgentGateway, AgentGatewayServer};
use super::proto::{AgentMessage, BrokerCommand};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

/// The service over this node's gateway.
pub struct Gateway {
    agents: Agents,
}

/// The gRPC service over `agents`.
pub fn server(agents: Agents) -> AgentGatewayServer<Gateway> {
    AgentGatewayServer::new(Gateway { agents })
}

impl From<Refusal> for Status {
    fn from(r: Refusal) -> Self {
        let text = r.to_string();
        match r {
            Refusal::NoCertificate | Refusal::BadCertificate(_) => Status::unauthenticated(text),
            Refusal::NotAnAgent(_) | Refusal::OtherServer { .. } | Refusal::Revoked(_) => {
                Status::permission_denied(text)
            }
            Refusal::HelloTimeout => Status::deadline_exceeded(text),
            Refusal::NoHello => Status::invalid_argument(text),
        }
    }
}

#[tonic::async_trait]
impl AgentGateway for Gateway {
    type ConnectStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<BrokerCommand, Status>> + Send>>;

    async fn connect(
        &self,
        req: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let certs = req.peer_certs();
        let agent = self
            .agents
            .admit(certs.as_deref().and_then(|c| c.first()))
            .await?;
        let mut stream = req.into_inner();
        let first = tokio::time::timeout(HELLO_TIMEOUT, stream.message())
            .await
            .map_err(|_| Refusal::HelloTimeout)??;
        let hello = connection::check_hello(first, &agent.host)?;
        let attached = self.agents.connected(&agent, &hello, "grpc");
        let agents = self.agents.clone();
        let (conn, revoked) = (attached.conn, attached.revoked.clone());
        let host = agent.host;
        let refusal = Refusal::Revoked(host.clone());
        tokio::spawn(async move {
            let why = loop {
                tokio::select! {
                    msg = stream.message() => match msg {
                        Ok(Some(msg)) => agents.receive(&host, msg),
                        Ok(None) => break None,
                        Err(e) => break Some(e.to_string()),
                    },
                    _ = revoked.cancelled() => break Some(Refusal::Revoked(host.clone()).to_string()),
                }
            };
            agents.disconnected(&host, conn, why.as_deref());
        });
        let commands = until_revoked(attached.commands, attached.revoked, refusal);
        Ok(Response::new(commands))
    }
}

/// The commands for the agent, ended by `refusal` once `revoked` is cancelled.
fn until_revoked(
    commands: mpsc::Receiver<BrokerCommand>,
    revoked: CancellationToken,
    refusal: Refusal,
) -> <Gateway as AgentGateway>::ConnectStream {
    let state = (commands, revoked, Some(refusal));
    Box::pin(futures_util::stream::unfold(
        state,
        |(mut commands, revoked, refusal)| async move {
            let refusal = refusal?;
            // The revocation first: the link's end (its commands closing) follows it.
            tokio::select! {
                biased;
                _ = revoked.cancelled() => {
                    Some((Err(Status::from(refusal)), (commands, revoked, None)))
                }
                command = commands.recv() => {
                    command.map(|c| (Ok(c), (commands, revoked, Some(refusal))))
                }
            }
        },
    ))
}
