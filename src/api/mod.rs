//! Network frontends of the broker.

pub mod http;
