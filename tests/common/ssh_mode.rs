//! The broker's side of agent query mode `SSH` in the tests: its key pair
//! (`x2gobroker keygen --ssh`) in a broker home, that key installed for
//! the agent account on the "servers" by Debian's
//! `x2gobroker-pubkeyauthorizer` from a broker's `/pubkeys/`, and the
//! broker home's known_hosts.

use super::processes::{ours_bin, Ours};
use super::site::Site;
use super::sshd::AgentAccount;
use std::path::Path;
use std::process::Command;

/// The broker's SSH key pair in `home/.ssh` (`x2gobroker keygen --ssh`).
pub fn keygen_ssh(home: &Path) {
    let keygen = Command::new(ours_bin())
        .args(["keygen", "--ssh", "--home"])
        .arg(home)
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{keygen:?}");
}

/// Install the key a broker serves on `pubkeys_url` (`.../pubkeys/`) for
/// `account`, as `x2gobroker-pubkeyauthorizer` does on an X2Go server.
pub fn authorize(pubkeys_url: &str, account: &AgentAccount) {
    let authorize = Command::new("/usr/bin/python3")
        .args(["/usr/sbin/x2gobroker-pubkeyauthorizer", "--broker-url"])
        .arg(pubkeys_url)
        .env("X2GOBROKER_DAEMON_USER", &account.name)
        .env("X2GOBROKER_DAEMON_GROUP", &account.name)
        .output()
        .unwrap();
    assert!(authorize.status.success(), "{authorize:?}");
}

/// `authorize` the key pair in `home`, served for the purpose by a broker
/// of ours on a site of its own (so that the brokers under test find the
/// key installed from their first query on).
pub fn authorize_home(home: &Path, account: &AgentAccount) {
    let site = Site::new(
        "[global]\nrequire-password = false\n[broker_inifile]\nenable = true\n",
        "[none]\nhost=nowhere\n",
    );
    let server = Ours::new(&site)
        .args(&["--broker-home", home.to_str().unwrap()])
        .start();
    authorize(&server.url("/pubkeys/"), account);
}

/// The brokers' known_hosts in `home/.ssh`: `lines` (as `Sshd::known_hosts_line` makes them).
pub fn write_known_hosts(home: &Path, lines: &str) {
    let dir = home.join(".ssh");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("known_hosts"), lines).unwrap();
}
