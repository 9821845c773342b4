//! Network frontends of the broker: the reference-compatible HTTP(S)
//! protocols and the public gRPC API.

pub mod grpc;
pub mod http;
