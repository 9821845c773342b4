//! Comparing two answers to the same request: status, Content-Type, body
//! text and JSON document, with authid cookies masked, and a readable
//! account of the first difference when they disagree.

use crate::common::http::Reply;
use serde_json::Value as Json;

/// Replace every UUID (authid cookies) by a placeholder.
fn mask_uuids(s: &str) -> String {
    fn is_uuid(b: &[u8]) -> bool {
        b.len() >= 36
            && b[..36].iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if is_uuid(&b[i..]) {
            out.push_str("<uuid>");
            i += 36;
        } else {
            let ch = s[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Profile ids listed in a plain listsessions answer.
pub fn listed_ids(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix('[').and_then(|l| l.strip_suffix(']')))
        .map(str::to_string)
        .collect()
}

/// A readable account of two differing answers: listed ids, the first
/// differing line, and the bodies themselves when short.
fn describe(what: &str, r: &Reply, o: &Reply) -> String {
    let mut out = format!("{what}\n");
    let rl: Vec<&str> = r.body.lines().collect();
    let ol: Vec<&str> = o.body.lines().collect();
    let (ri, oi) = (listed_ids(&r.body), listed_ids(&o.body));
    if ri != oi {
        out.push_str(&format!(
            "listed ids: reference {ri:?}\n            ours      {oi:?}\n"
        ));
    }
    if let Some(i) = (0..rl.len().max(ol.len())).find(|i| rl.get(*i) != ol.get(*i)) {
        let section = rl[..i.min(rl.len())]
            .iter()
            .rev()
            .find(|l| l.starts_with('['))
            .unwrap_or(&"");
        out.push_str(&format!(
            "first difference at line {} (in {section}): reference {:?}, ours {:?}\n",
            i + 1,
            rl.get(i),
            ol.get(i)
        ));
    }
    if rl.len() + ol.len() < 80 {
        out.push_str(&format!(
            "--- reference ({}):\n{}\n--- ours ({}):\n{}",
            r.status, r.body, o.status, o.body
        ));
    } else {
        out.push_str(&format!(
            "(status: reference {}, ours {}; bodies too long to show)",
            r.status, o.status
        ));
    }
    out
}

/// Parse a JSON answer for comparison.
fn parse_json(who: &str, text: &str, show: &dyn Fn() -> String) -> Json {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{who} JSON: {e}: {}", show()))
}

/// Assert that two answers to the same request are equivalent.
pub fn assert_same(what: &str, path: &str, r: &Reply, o: &Reply) {
    let show = || describe(what, r, o);
    assert!(r.status == o.status, "status differs: {}", show());
    assert!(
        r.content_type() == o.content_type(),
        "Content-Type differs ({:?} vs {:?}): {}",
        r.content_type(),
        o.content_type(),
        show()
    );
    let (rb, ob) = (mask_uuids(&r.body), mask_uuids(&o.body));
    let is_json = path.starts_with("/json/") || path.starts_with("/uccs/");
    if r.status == 200 && is_json && !rb.trim().is_empty() {
        let rj = parse_json("reference", &rb, &show);
        let oj = parse_json("our", &ob, &show);
        assert!(rj == oj, "JSON documents differ: {}", show());
    }
    assert!(rb == ob, "body text differs: {}", show());
}
