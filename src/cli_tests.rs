//! Tests of the command line: parsing, and flags over the node file.

use super::*;

const NODE: &str = r#"
id = 1
data_dir = "/from/file"
raft = "127.0.0.1:19081"
http = ["127.0.0.1:18081"]
grpc = "127.0.0.1:17081"
x2gobroker_conf = "/file/x2gobroker.conf"
cluster_ca = "pki/ca.pem"
node_cert = "pki/node1.pem"
node_key = "pki/node1-key.pem"
[[members]]
id = 1
raft = "127.0.0.1:19081"
http = "127.0.0.1:18081"
"#;

fn serve(args: &[&'static str]) -> ServeArgs {
    ServeArgs::parse_from(std::iter::once("serve").chain(args.iter().copied()))
}

#[test]
fn the_node_file_fills_in_what_no_flag_gives() {
    let node = NodeConfig::parse("node1.toml", NODE).unwrap();
    let o = serve(&["--config", "node1.toml"]).resolve(Some(node));
    assert_eq!(o.settings.data_dir, PathBuf::from("/from/file"));
    assert_eq!(o.http, vec!["127.0.0.1:18081".parse().unwrap()]);
    assert_eq!(o.grpc, Some("127.0.0.1:17081".parse().unwrap()));
    assert_eq!(
        o.settings.x2gobroker_conf,
        PathBuf::from("/file/x2gobroker.conf")
    );
}

#[test]
fn the_agent_gateway_from_the_node_file_or_the_flags() {
    let with_agents = NODE.replace("[[members]]", "agents = \"127.0.0.1:16081\"\n[[members]]");
    let node = NodeConfig::parse("node1.toml", &with_agents).unwrap();
    let o = serve(&["--config", "node1.toml"]).resolve(Some(node));
    assert_eq!(o.agents, Some("127.0.0.1:16081".parse().unwrap()));
    let tls = o.agent_tls.unwrap();
    assert_eq!(tls.cert, PathBuf::from("pki/node1.pem"));
    assert_eq!(o.agent_timeout, Duration::from_secs(10));
    // A single node names its certificates on the command line.
    let o = serve(&[
        "--agents",
        "127.0.0.1:16082",
        "--cluster-ca",
        "ca.pem",
        "--node-cert",
        "n.pem",
        "--node-key",
        "n-key.pem",
        "--agent-timeout-ms",
        "2500",
    ])
    .resolve(None);
    assert_eq!(o.agents, Some("127.0.0.1:16082".parse().unwrap()));
    assert_eq!(o.agent_tls.unwrap().key, PathBuf::from("n-key.pem"));
    assert_eq!(o.agent_timeout, Duration::from_millis(2500));
    let o = serve(&["--agents", "127.0.0.1:16082"]).resolve(None);
    assert!(o.agent_tls.is_none(), "start refuses a gateway without TLS");
    assert!(o.agent_ca.is_none());
    let o = serve(&["--agent-ca", "a.pem", "--agent-ca-key", "a-key.pem"]).resolve(None);
    assert_eq!(o.agent_ca.unwrap().key, PathBuf::from("a-key.pem"));
}

#[test]
fn an_explicit_flag_wins_over_the_node_file() {
    let node = NodeConfig::parse("node1.toml", NODE).unwrap();
    let o = serve(&[
        "--config",
        "node1.toml",
        "--data-dir",
        "/from/flag",
        "--http",
        "127.0.0.1:28081",
        "--grpc",
        "127.0.0.1:27081",
        "--x2gobroker-conf",
        "/flag/x2gobroker.conf",
    ])
    .resolve(Some(node));
    assert_eq!(o.settings.data_dir, PathBuf::from("/from/flag"));
    assert_eq!(o.http, vec!["127.0.0.1:28081".parse().unwrap()]);
    assert_eq!(o.grpc, Some("127.0.0.1:27081".parse().unwrap()));
    assert_eq!(
        o.settings.x2gobroker_conf,
        PathBuf::from("/flag/x2gobroker.conf")
    );
    assert_eq!(o.node.map(|n| n.id), Some(1));
}

#[test]
fn defaults_without_flags_or_file() {
    let o = serve(&[]).resolve(None);
    assert_eq!(o.settings.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert_eq!(o.http, vec![SocketAddr::from(DEFAULT_HTTP)]);
    assert!(o.https.is_empty() && o.grpc.is_none() && o.node.is_none());
    assert_eq!(o.limits, ListenerLimits::default());
    // https alone means no default plain listener.
    let o = serve(&["--https", "127.0.0.1:8443"]).resolve(None);
    assert!(o.http.is_empty());
}

#[test]
fn the_admin_group_from_the_flag_or_the_node_file_and_off_by_default() {
    assert_eq!(serve(&[]).resolve(None).settings.admin_group, None);
    let with_group = NODE.replace("[[members]]", "admin_group = \"brokeradm\"\n[[members]]");
    let node = NodeConfig::parse("node1.toml", &with_group).unwrap();
    let o = serve(&["--config", "node1.toml"]).resolve(Some(node.clone()));
    assert_eq!(o.settings.admin_group.as_deref(), Some("brokeradm"));
    let o = serve(&["--config", "node1.toml", "--admin-group", "ops"]).resolve(Some(node));
    assert_eq!(o.settings.admin_group.as_deref(), Some("ops"));
    // An empty group name is no group: the dashboard stays off.
    let o = serve(&["--admin-group", ""]).resolve(None);
    assert_eq!(o.settings.admin_group, None);
}

#[test]
fn ssh_mode_flags_beside_the_commands() {
    // X2Go Client's command lines.
    let cli = Cli::try_parse_from([
        "x2gobroker",
        "--user",
        "alice",
        "--authid",
        "c00k1e",
        "--task",
        "selectsession",
        "--sid",
        "p1",
    ])
    .unwrap();
    assert!(cli.command.is_none());
    assert_eq!(cli.task.task.as_deref(), Some("selectsession"));
    assert_eq!(cli.task.user.as_deref(), Some("alice"));
    assert_eq!(cli.task.auth_cookie.as_deref(), Some("c00k1e"));
    assert_eq!(cli.task.profile_id.as_deref(), Some("p1"));
    assert_eq!(
        cli.task.socket,
        PathBuf::from(crate::sshmode::DEFAULT_SOCKET)
    );
    let cli =
        Cli::try_parse_from(["x2gobroker", "--task", "testcon", "--next-authid", "n"]).unwrap();
    assert_eq!(cli.task.auth_cookie.as_deref(), Some("n"));
    // The commands are unchanged, and do not mix with the task flags.
    let cli = Cli::try_parse_from(["x2gobroker", "serve", "--unix-socket", "/run/b.sock"]).unwrap();
    let Some(Command::Serve(serve)) = cli.command else {
        panic!("not serve");
    };
    assert_eq!(serve.unix_socket, Some(PathBuf::from("/run/b.sock")));
    assert!(Cli::try_parse_from(["x2gobroker", "--task", "testcon", "serve"]).is_err());
    assert!(Cli::try_parse_from(["x2gobroker", "check-config", "--task", "testcon"]).is_err());
}

#[test]
fn the_ssh_mode_socket_from_the_node_file() {
    let with_socket = NODE.replace(
        "[[members]]",
        "unix_socket = \"/run/x2gobroker/broker.sock\"\n[[members]]",
    );
    let node = NodeConfig::parse("node1.toml", &with_socket).unwrap();
    let o = serve(&["--config", "node1.toml"]).resolve(Some(node.clone()));
    assert_eq!(
        o.unix_socket,
        Some(PathBuf::from("/run/x2gobroker/broker.sock"))
    );
    let o = serve(&["--unix-socket", "/tmp/b.sock"]).resolve(Some(node));
    assert_eq!(o.unix_socket, Some(PathBuf::from("/tmp/b.sock")));
    let o = serve(&[]).resolve(None);
    assert_eq!(o.unix_socket, None);
}
