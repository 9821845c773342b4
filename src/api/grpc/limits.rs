//! Size limits of the public gRPC API: the largest request message decoded
//! at all, and the HTTP frontends' field limits (`api::fields`) applied to
//! every request's fields before it reaches the broker.

use super::proto::*;
use crate::api::fields::{self, TooLong};
use tonic::Status;

/// The largest request message decoded (a valid request needs under 3 KiB;
/// the HTTP frontends accept bodies of the same size).
pub const MAX_REQUEST_MESSAGE: usize = crate::api::http::MAX_BODY;

/// A request whose fields are checked against the shared field limits.
pub trait Checked {
    /// `InvalidArgument` naming the first field over its limit.
    fn check_fields(&self) -> Result<(), Status>;
}

fn refused(e: TooLong) -> Status {
    Status::invalid_argument(e.to_string())
}

fn credentials(c: Option<&Credentials>) -> Result<(), TooLong> {
    let Some(c) = c else { return Ok(()) };
    fields::check_all(&[
        ("user", &c.user),
        ("password", &c.password),
        ("authid", &c.authid),
    ])
}

impl Checked for ListProfilesRequest {
    fn check_fields(&self) -> Result<(), Status> {
        credentials(self.credentials.as_ref()).map_err(refused)
    }
}

impl Checked for ListSessionsRequest {
    fn check_fields(&self) -> Result<(), Status> {
        credentials(self.credentials.as_ref()).map_err(refused)
    }
}

impl Checked for SelectSessionRequest {
    fn check_fields(&self) -> Result<(), Status> {
        credentials(self.credentials.as_ref())
            .and_then(|()| {
                fields::check_all(&[
                    ("profile-id", &self.profile_id),
                    ("login", &self.login),
                    ("pubkey", &self.pubkey),
                ])
            })
            .map_err(refused)
    }
}

impl Checked for ClusterStatusRequest {
    fn check_fields(&self) -> Result<(), Status> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_checked() {
        let c = |user: &str, password: &str, authid: &str| {
            Some(Credentials {
                user: user.into(),
                password: password.into(),
                authid: authid.into(),
            })
        };
        let long = "x".repeat(2000);
        for creds in [c(&long, "", ""), c("", &long, ""), c("", "", &long)] {
            let e = ListProfilesRequest {
                credentials: creds.clone(),
            }
            .check_fields()
            .unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            assert!(ListSessionsRequest {
                credentials: creds.clone()
            }
            .check_fields()
            .is_err());
            assert!(SelectSessionRequest {
                credentials: creds,
                ..Default::default()
            }
            .check_fields()
            .is_err());
        }
        let select = |profile_id: &str, login: &str| SelectSessionRequest {
            credentials: c("alice", "pw", ""),
            profile_id: profile_id.into(),
            login: login.into(),
            pubkey: String::new(),
        };
        assert!(select("p", "bob").check_fields().is_ok());
        assert!(select(&long, "").check_fields().is_err());
        assert!(select("p", &long).check_fields().is_err());
        assert!(ListProfilesRequest { credentials: None }
            .check_fields()
            .is_ok());
    }
}
