//! Who calls a node-to-node or admin RPC, and whether they may: the role
//! `x2gobroker keygen` wrote into the peer's certificate (one URI subject
//! alternative name `urn:x2gobroker:ROLE:NAME`) decides which RPCs it may
//! call. Nodes run Raft; admins (`x2gobrokerctl`) change membership, reload
//! and snapshot; both may ask for the status; agents may do none of these.

use rustls::pki_types::CertificateDer;
use std::fmt;
use tonic::{Request, Status};

/// What every role URI starts with.
pub const URI_PREFIX: &str = "urn:x2gobroker:";

/// The role a certificate grants, with the name it was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A broker node, by its id.
    Node(u64),
    /// An administrator's client certificate (`keygen --clients NAME`).
    Admin(String),
    /// An X2Go server's agent: none of the node-to-node or admin RPCs.
    Agent(String),
}

impl Role {
    /// The URI subject alternative name that carries this role.
    pub fn uri(&self) -> String {
        match self {
            Role::Node(id) => format!("{URI_PREFIX}node:{id}"),
            Role::Admin(name) => format!("{URI_PREFIX}admin:{name}"),
            Role::Agent(name) => format!("{URI_PREFIX}agent:{name}"),
        }
    }

    /// The role named by `uri`, if it is one of ours.
    pub fn from_uri(uri: &str) -> Option<Role> {
        let (kind, name) = uri.strip_prefix(URI_PREFIX)?.split_once(':')?;
        if name.is_empty() {
            return None;
        }
        match kind {
            "node" => name.parse().ok().map(Role::Node),
            "admin" => Some(Role::Admin(name.to_string())),
            "agent" => Some(Role::Agent(name.to_string())),
            _ => None,
        }
    }

    /// The role of the first certificate in a PEM file.
    pub fn of_pem(pem: &[u8]) -> Result<Role, IdentityError> {
        match rustls_pemfile::certs(&mut &pem[..]).next() {
            Some(Ok(der)) => Role::of_certificate(&der),
            Some(Err(e)) => Err(IdentityError::Unreadable(e.to_string())),
            None => Err(IdentityError::Unreadable(
                "no certificate in the file".into(),
            )),
        }
    }

    /// The role of a DER certificate (already verified against the cluster CA).
    pub fn of_certificate(der: &CertificateDer<'_>) -> Result<Role, IdentityError> {
        let cert = webpki::EndEntityCert::try_from(der)
            .map_err(|e| IdentityError::Unreadable(e.to_string()))?;
        let mut ours = cert
            .valid_uri_names()
            .filter(|uri| uri.starts_with(URI_PREFIX));
        let (Some(first), None) = (ours.next(), ours.next()) else {
            return Err(IdentityError::NoRole);
        };
        Role::from_uri(first).ok_or_else(|| IdentityError::UnknownRole(first.to_string()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Node(id) => write!(f, "node {id}"),
            Role::Admin(name) => write!(f, "admin {name:?}"),
            Role::Agent(name) => write!(f, "agent {name:?}"),
        }
    }
}

/// Why a certificate names no role we know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("unreadable certificate: {0}")]
    Unreadable(String),
    #[error(
        "the certificate carries no x2gobroker role (made before roles existed?): \
         create it again with `x2gobroker keygen`"
    )]
    NoRole,
    #[error("unknown x2gobroker role {0:?}")]
    UnknownRole(String),
}

/// The RPCs of the node-to-node listener (`RaftTransport` and `Admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rpc {
    AppendEntries,
    Vote,
    InstallSnapshot,
    Submit,
    ReadIndex,
    LoginLimit,
    AgentOrder,
    TakeOver,
    Status,
    AddNode,
    RemoveNode,
    Reload,
    Snapshot,
    Servers,
    Drain,
    Sessions,
    AgentToken,
    RevokeAgent,
}

/// The roles an RPC is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Callers {
    Nodes,
    Admins,
    NodesAndAdmins,
}

impl Rpc {
    /// Who may call this RPC: the one place that says so.
    fn callers_are(self) -> Callers {
        match self {
            Rpc::AppendEntries
            | Rpc::Vote
            | Rpc::InstallSnapshot
            | Rpc::Submit
            | Rpc::ReadIndex
            | Rpc::LoginLimit
            | Rpc::AgentOrder
            | Rpc::TakeOver => Callers::Nodes,
            Rpc::AddNode
            | Rpc::RemoveNode
            | Rpc::Reload
            | Rpc::Snapshot
            | Rpc::Servers
            | Rpc::Drain
            | Rpc::Sessions
            | Rpc::AgentToken
            | Rpc::RevokeAgent => Callers::Admins,
            Rpc::Status => Callers::NodesAndAdmins,
        }
    }

    /// Whether `role` may call this RPC.
    pub fn allows(self, role: &Role) -> bool {
        match self.callers_are() {
            Callers::Nodes => matches!(role, Role::Node(_)),
            Callers::Admins => matches!(role, Role::Admin(_)),
            Callers::NodesAndAdmins => matches!(role, Role::Node(_) | Role::Admin(_)),
        }
    }

    /// Who may call it, for refusals.
    fn callers(self) -> &'static str {
        match self.callers_are() {
            Callers::Nodes => "cluster nodes",
            Callers::Admins => "admin certificates",
            Callers::NodesAndAdmins => "nodes and admins",
        }
    }
}

/// The caller's role when it may call `rpc`; `Unauthenticated` without a
/// certificate with a role, `PermissionDenied` for a role that may not.
pub fn authorize<T>(req: &Request<T>, rpc: Rpc) -> Result<Role, Status> {
    let certs = req.peer_certs();
    let Some(cert) = certs.as_deref().and_then(|c| c.first()) else {
        return Err(Status::unauthenticated(
            "a client certificate of the cluster CA is required",
        ));
    };
    let role = Role::of_certificate(cert).map_err(|e| {
        tracing::warn!(?rpc, error = %e, "refused a certificate without a role");
        Status::unauthenticated(e.to_string())
    })?;
    if !rpc.allows(&role) {
        tracing::warn!(?rpc, peer = %role, "refused an RPC the certificate's role may not call");
        return Err(Status::permission_denied(format!(
            "{role} may not call {rpc:?} (only {})",
            rpc.callers()
        )));
    }
    Ok(role)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair, SanType};

    const ALL: [Rpc; 18] = [
        Rpc::AppendEntries,
        Rpc::Vote,
        Rpc::InstallSnapshot,
        Rpc::Submit,
        Rpc::ReadIndex,
        Rpc::LoginLimit,
        Rpc::AgentOrder,
        Rpc::TakeOver,
        Rpc::Status,
        Rpc::AddNode,
        Rpc::RemoveNode,
        Rpc::Reload,
        Rpc::Snapshot,
        Rpc::Servers,
        Rpc::Drain,
        Rpc::Sessions,
        Rpc::AgentToken,
        Rpc::RevokeAgent,
    ];

    fn certificate(dns: &[&str], uris: &[&str]) -> CertificateDer<'static> {
        let mut params =
            CertificateParams::new(dns.iter().map(|d| d.to_string()).collect::<Vec<_>>()).unwrap();
        for uri in uris {
            params
                .subject_alt_names
                .push(SanType::URI(uri.to_string().try_into().unwrap()));
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn roles_round_trip_through_their_uri() {
        for role in [
            Role::Node(7),
            Role::Admin("admin".into()),
            Role::Agent("x2go1".into()),
        ] {
            assert_eq!(Role::from_uri(&role.uri()), Some(role.clone()));
            let cert = certificate(&[], &[&role.uri()]);
            assert_eq!(Role::of_certificate(&cert), Ok(role));
        }
        assert_eq!(Role::from_uri("urn:x2gobroker:node:one"), None);
        assert_eq!(Role::from_uri("urn:x2gobroker:admin:"), None);
        assert_eq!(Role::from_uri("urn:x2gobroker:root:x"), None);
    }

    #[test]
    fn finding8_a_certificate_without_exactly_one_role_is_nobody() {
        // What keygen made before roles: the node name only, for nodes and admins alike.
        let legacy = certificate(&["x2gobroker-node", "admin.x2gobroker-node"], &[]);
        assert_eq!(Role::of_certificate(&legacy), Err(IdentityError::NoRole));
        let both = certificate(&[], &["urn:x2gobroker:node:1", "urn:x2gobroker:admin:a"]);
        assert_eq!(Role::of_certificate(&both), Err(IdentityError::NoRole));
        let odd = certificate(&[], &["urn:x2gobroker:root:a"]);
        assert!(matches!(
            Role::of_certificate(&odd),
            Err(IdentityError::UnknownRole(_))
        ));
    }

    #[test]
    fn finding8_each_rpc_is_open_to_its_role_only() {
        let node = Role::Node(1);
        let admin = Role::Admin("admin".into());
        let agent = Role::Agent("x2go1".into());
        for rpc in ALL {
            let raft = !matches!(
                rpc,
                Rpc::Status
                    | Rpc::AddNode
                    | Rpc::RemoveNode
                    | Rpc::Reload
                    | Rpc::Snapshot
                    | Rpc::Servers
                    | Rpc::Drain
                    | Rpc::Sessions
                    | Rpc::AgentToken
                    | Rpc::RevokeAgent
            );
            assert_eq!(rpc.allows(&node), raft || rpc == Rpc::Status, "{rpc:?}");
            assert_eq!(rpc.allows(&admin), !raft, "{rpc:?}");
            assert!(!rpc.allows(&agent), "an agent may not call {rpc:?}");
        }
    }

    #[test]
    fn a_request_without_a_certificate_is_unauthenticated() {
        let status = authorize(&Request::new(()), Rpc::Status).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
}
