//! The public gRPC API's request decoding: any bytes decoded as each request
//! message of `proto/broker.proto` (as tonic's prost codec does), then the
//! field limits the server applies (`limits::Checked`); never a panic, a
//! refusal is `InvalidArgument` naming the first field over its limit, and
//! an accepted request has every field within the shared limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use x2gobroker::api::fields;
use x2gobroker::api::grpc::limits::{Checked, MAX_REQUEST_MESSAGE};
use x2gobroker::api::grpc::proto::{
    ClusterStatusRequest, Credentials, ListProfilesRequest, ListSessionsRequest,
    SelectSessionRequest,
};

/// The fields of a request in the order the server checks them.
fn credential_fields(c: &Option<Credentials>) -> Vec<(&'static str, &str)> {
    c.as_ref().map_or_else(Vec::new, |c| {
        vec![
            ("user", c.user.as_str()),
            ("password", c.password.as_str()),
            ("authid", c.authid.as_str()),
        ]
    })
}

/// Decode `data` as `M`; when it decodes, the server's check must agree
/// with the field table, and the message must survive a re-encoding.
fn exercise<M>(data: &[u8], values: impl Fn(&M) -> Vec<(&'static str, &str)>)
where
    M: Message + Checked + Default + PartialEq + std::fmt::Debug,
{
    let Ok(req) = M::decode(data) else {
        return;
    };
    let over = values(&req).into_iter().find(|(name, value)| {
        let (_, max) = fields::field(name.as_bytes()).expect("a field of the protocol");
        value.len() > max
    });
    match (req.check_fields(), over) {
        (Ok(()), None) => {}
        (Err(status), Some((name, _))) => {
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert!(
                status.message().contains(&format!("'{name}'")),
                "refusal names {name}: {}",
                status.message()
            );
        }
        (result, over) => panic!("check_fields gave {result:?}, first field over: {over:?}"),
    }
    let again = M::decode(req.encode_to_vec().as_slice()).expect("re-encoded request decodes");
    assert_eq!(again, req);
}

fuzz_target!(|data: &[u8]| {
    // tonic refuses larger messages before decoding them.
    if data.len() > MAX_REQUEST_MESSAGE {
        return;
    }
    exercise::<ListProfilesRequest>(data, |r| credential_fields(&r.credentials));
    exercise::<ListSessionsRequest>(data, |r| credential_fields(&r.credentials));
    exercise::<SelectSessionRequest>(data, |r| {
        let mut v = credential_fields(&r.credentials);
        v.push(("profile-id", &r.profile_id));
        v.push(("login", &r.login));
        v
    });
    exercise::<ClusterStatusRequest>(data, |_| Vec::new());
});
