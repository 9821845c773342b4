//! Logs for log shippers: `--log-format json` writes one JSON object per
//! line, and every line of a request carries its id, which the answer's
//! `X-Request-Id` header names (the client's own id when it sent a short
//! token, else one made by the broker).

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::http::request;
use common::processes::*;
use common::site::Site;

#[test]
fn json_lines_carry_the_request_id_the_answer_names() {
    let site = Site::new(
        "[global]\nrequire-password = false\n",
        "[p]\nname=P\nhost=127.0.0.9\n",
    );
    let node = Ours::new(&site)
        .args(&["--log-format", "json"])
        .env("RUST_LOG", "x2gobroker=debug")
        .start();
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let mine = [form[0], ("X-Request-Id", "client-chosen.42")];
    let r = request(
        node.addr,
        "POST",
        "/plain/",
        &mine,
        b"task=selectsession&user=alice&sid=p",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("x-request-id"), Some("client-chosen.42"));
    let bad = [form[0], ("X-Request-Id", "no spaces allowed")];
    let r = request(
        node.addr,
        "POST",
        "/plain/",
        &bad,
        b"task=listsessions&user=bob",
    );
    let made = r.header("x-request-id").expect("an id").to_string();
    assert!(
        made.len() == 16 && made.bytes().all(|b| b.is_ascii_hexdigit()),
        "{made}"
    );

    common::wait_until(
        "both requests logged",
        std::time::Duration::from_secs(5),
        || node.log_text().contains(&made),
    );
    let lines: Vec<serde_json::Value> = node
        .log_text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let of = |id: &str| -> Vec<&serde_json::Value> {
        lines.iter().filter(|l| l["span"]["id"] == id).collect()
    };
    let selected = of("client-chosen.42");
    assert!(
        selected
            .iter()
            .any(|l| l["fields"]["message"] == "session selected"),
        "{selected:?}"
    );
    assert!(selected.iter().any(|l| l["fields"]["message"] == "request"));
    assert!(!of(&made).is_empty());
}
