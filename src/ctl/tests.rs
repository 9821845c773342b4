//! Parsing of `x2gobrokerctl`'s command line.

use super::*;

#[test]
fn global_options_go_before_or_after_the_subcommand() {
    for args in [
        &["x2gobrokerctl", "--json", "--node", "127.0.0.1:1", "status"][..],
        &["x2gobrokerctl", "status", "--json", "--node", "127.0.0.1:1"][..],
    ] {
        let ctl = Ctl::try_parse_from(args).unwrap();
        assert!(ctl.json, "{args:?}");
        assert_eq!(ctl.node, "127.0.0.1:1");
        assert!(matches!(ctl.command, CtlCommand::Status));
    }
}

#[test]
fn finding8_no_plain_admin_connections() {
    let ctl = Ctl::try_parse_from(["x2gobrokerctl", "status"]).unwrap();
    assert!(matches!(ctl.tls_files(), Err(CtlError::NoTls)));
    let ctl = Ctl::try_parse_from(["x2gobrokerctl", "--ca", "ca.pem", "status"]).unwrap();
    assert!(matches!(ctl.tls_files(), Err(CtlError::NoTls)));
    let ctl = Ctl::try_parse_from(["x2gobrokerctl", "--pki", "p", "--cert", "ops.pem", "status"])
        .unwrap();
    let files = ctl.tls_files().unwrap();
    assert_eq!(
        files.map(|p| p.display().to_string()),
        ["p/ca.pem", "ops.pem", "p/admin-key.pem"]
    );
}

#[test]
fn agent_token_takes_a_ttl_with_a_unit() {
    let ctl = Ctl::try_parse_from(["x2gobrokerctl", "agent-token", "--ttl", "2h"]).unwrap();
    match ctl.command {
        CtlCommand::AgentToken { ttl, hostname } => {
            assert_eq!(ttl, std::time::Duration::from_secs(7200));
            assert_eq!(hostname, None);
        }
        other => panic!("{other:?}"),
    }
    let ctl = Ctl::try_parse_from(["x2gobrokerctl", "agent-token"]).unwrap();
    assert!(matches!(ctl.command, CtlCommand::AgentToken { ttl, .. } if ttl.as_secs() == 3600));
    assert!(Ctl::try_parse_from(["x2gobrokerctl", "agent-token", "--ttl", "1w"]).is_err());
}

#[test]
fn add_node_takes_an_ip_address_and_port() {
    let add = |raft: &'static str| {
        Ctl::try_parse_from([
            "x2gobrokerctl",
            "add-node",
            "4",
            "--raft",
            raft,
            "--http",
            "h",
        ])
    };
    assert!(add("127.0.0.1:19084").is_ok());
    assert!(add("evil.example:19084").is_err());
}
