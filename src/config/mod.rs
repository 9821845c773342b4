//! Configuration: the reference's INI files, read with its semantics.

pub mod broker_conf;
pub mod error;
pub mod ini;
pub mod node;
pub mod value;

pub use broker_conf::BrokerConf;
pub use error::ConfigError;
