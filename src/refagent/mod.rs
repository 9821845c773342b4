//! The reference's Perl agent (`x2gobroker-agent`, Debian package
//! `x2gobroker-agent`) for servers that run no agent of ours, as the
//! reference broker queries it: the agent query mode of a profile
//! (`mode`), and the agent run on this host (`local`, query mode `LOCAL`).
//! Its answers feed the same placement code as our agents' reports.

pub mod local;
pub mod mode;

pub use local::{LocalAgent, RefAgentError};
pub use mode::QueryMode;
