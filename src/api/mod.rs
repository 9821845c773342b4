//! Network frontends of the broker: the reference-compatible HTTP(S)
//! protocols and the public gRPC API, and the field limits they share.

pub mod fields;
pub mod grpc;
pub mod http;
