//! The node TOML parser (`NodeConfig::parse`): any text gives a node
//! configuration or an error naming the file (and a line that exists when
//! it names one), never a panic; an accepted configuration is one the node
//! can start from (its id among the members, member ids unique, mutual TLS).
#![no_main]

use libfuzzer_sys::fuzz_target;
use x2gobroker::config::node::NodeConfig;

const NAME: &str = "fuzz/node.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines = text.split('\n').count();
    match NodeConfig::parse(NAME, text) {
        Err(e) => {
            assert_eq!(e.file, NAME);
            let shown = e.to_string();
            assert!(shown.starts_with(NAME), "error names the file: {shown}");
            if let Some(line) = e.line {
                assert!((1..=lines).contains(&line), "error line {line} of {lines}");
                assert!(shown.starts_with(&format!("{NAME}:{line}: ")));
            }
        }
        Ok(cfg) => {
            assert!(cfg.members.iter().any(|m| m.id == cfg.id));
            let mut ids: Vec<u64> = cfg.members.iter().map(|m| m.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), cfg.members.len(), "member ids are unique");
            assert!(cfg.cluster_ca.is_some() && cfg.node_cert.is_some() && cfg.node_key.is_some());
        }
    }
});
