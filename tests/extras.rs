//! The small pages: `/`, `/pubkeys/` (with no RSA or DSA key; see
//! `tests/pubkeys.rs`), `/healthz`, the UCCS ping.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::processes::*;
use common::site::*;

#[test]
fn it_works_pubkeys_and_health() {
    let site = Site::new(
        "[global]\nrequire-password = false\n",
        "[p]\nhost=127.0.0.9\n",
    );
    let home = site.path("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    // Only RSA and DSA keys, as the reference: an Ed25519 key is not served.
    std::fs::write(
        home.join(".ssh/id_ed25519.pub"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk0 x2gobroker@old\n",
    )
    .unwrap();
    let b = start_ours(&site, &["--broker-home", home.to_str().unwrap()]);

    let r = b.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        "<body><html><h1>X2Go Session Broker</h1><p>It works...</p></body></html>"
    );
    assert!(r.content_type().starts_with("text/html"));

    let r = b.get("/pubkeys/");
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(b.get("/pubkeys").status, 200);

    assert_eq!(b.get("/healthz").body, "ok\n");
    let ping = b.get("/uccs/");
    assert_eq!(ping.status, 200);
    assert_eq!(ping.body.len(), 26, "a UTC timestamp: {}", ping.body);
}
