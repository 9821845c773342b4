//! The `AgentGateway` gRPC service: the transport-neutral checks and
//! message handling of `connection`, over a tonic bidirectional stream.
//! The reply stream carries the broker's commands for as long as the
//! agent is connected.

use super::connection::{self, Agents, Refusal, HELLO_TIMEOUT};
use super::proto::agent_gateway_server::{AgentGateway, AgentGatewayServer};
use super::proto::{AgentMessage, BrokerCommand};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
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
            Refusal::NotAnAgent(_) | Refusal::OtherServer { .. } => Status::permission_denied(text),
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
        let host = connection::agent_of(certs.as_deref().and_then(|c| c.first()))?;
        let mut stream = req.into_inner();
        let first = tokio::time::timeout(HELLO_TIMEOUT, stream.message())
            .await
            .map_err(|_| Refusal::HelloTimeout)??;
        let hello = connection::check_hello(first, &host)?;
        let attached = self.agents.connected(&host, &hello, "grpc");
        let agents = self.agents.clone();
        let conn = attached.conn;
        tokio::spawn(async move {
            let why = loop {
                match stream.message().await {
                    Ok(Some(msg)) => agents.receive(&host, msg),
                    Ok(None) => break None,
                    Err(e) => break Some(e.to_string()),
                }
            };
            agents.disconnected(&host, conn, why.as_deref());
        });
        let commands = ReceiverStream::new(attached.commands).map(Ok);
        Ok(Response::new(Box::pin(commands)))
    }
}
