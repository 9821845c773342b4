//! Storage: the I/O under the pure `state` module. `sled_db` opens a sled
//! database with our settings (the single-node store and the Raft store
//! both go through it) in a data directory `private` keeps private; `local`
//! is the single-node store that applies state commands durably with group
//! commit; `visibility` measures how fresh applied agent reports are;
//! `format` checks the store format version of each database; `error`
//! says what can go wrong.

pub mod error;
pub mod format;
pub mod local;
pub mod private;
pub mod sled_db;
pub mod visibility;

pub use error::StorageError;
pub use local::Store;
pub use sled_db::Db;
