//! `host=` entries: `name`, or `name (address[:port])` where clients see the
//! name and selectsession hands out the address. The validity rules and the
//! address splitting follow the reference exactly, quirks included.

use std::net::{Ipv4Addr, Ipv6Addr};

/// One parsed `host=` item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostItem {
    /// What clients see and what sessions are matched against.
    pub name: String,
    /// The address handed out, when given as `name (address)` and valid.
    pub address: Option<String>,
    /// A port given inside the parentheses that differs from the profile's `sshport`.
    pub port: Option<i64>,
}

/// Parse one host item with the profile's `sshport` as the default port.
pub fn parse_host(item: &str, default_port: i64) -> HostItem {
    if !has_paren_form(item) {
        return HostItem {
            name: item.to_string(),
            address: None,
            port: None,
        };
    }
    let mut parts = item.split(' ');
    let name = parts.next().unwrap_or("").to_string();
    let token = parts.next().unwrap_or("");
    let inner = strip_one_each_side(token);
    let (address, port) = split_host_address(inner, default_port);
    let valid_name = is_label(&name) || is_fqdn(&name);
    let valid_addr = is_fqdn(&address)
        || address.parse::<Ipv4Addr>().is_ok()
        || address.parse::<Ipv6Addr>().is_ok();
    if valid_name && valid_addr {
        HostItem {
            name,
            address: Some(address),
            port: (port != default_port).then_some(port),
        }
    } else {
        HostItem {
            name,
            address: None,
            port: None,
        }
    }
}

/// `^.* \(.*\)$`: a space followed by a parenthesised part at the end.
fn has_paren_form(s: &str) -> bool {
    if !s.ends_with(')') {
        return false;
    }
    // Some " (" must occur before the final ')'.
    s[..s.len() - 1].contains(" (")
}

/// Python's `s[1:-1]` on a string (by characters).
fn strip_one_each_side(s: &str) -> &str {
    let mut it = s.char_indices();
    let start = match it.next() {
        Some((_, c)) => c.len_utf8(),
        None => return "",
    };
    match s.char_indices().last() {
        Some((end, _)) if end >= start => &s[start..end],
        _ => "",
    }
}

/// The reference's `split_host_address()` (no default address).
pub fn split_host_address(host: &str, default_port: i64) -> (String, i64) {
    let host = host.trim().trim_start_matches('*').trim_start_matches(':');
    let is_ipv6 = host.starts_with('[');
    let (addr, port) = if let Some((a, p)) = host.rsplit_once(':') {
        match crate::config::value::parse_int(p) {
            Some(p) => (Some(a.to_string()), p),
            None => (Some(host.to_string()), default_port),
        }
    } else {
        match crate::config::value::parse_int(host) {
            Some(p) => (None, p),
            None => (
                Some(if host.is_empty() {
                    "0.0.0.0".to_string()
                } else {
                    host.to_string()
                }),
                default_port,
            ),
        }
    };
    let addr = addr.unwrap_or_else(|| "0.0.0.0".to_string());
    let addr = addr.trim_start_matches('[').trim_end_matches(']');
    let addr = if is_ipv6 {
        format!("[{addr}]")
    } else {
        addr.to_string()
    };
    (addr, port)
}

/// A single DNS label: 1-63 of `[A-Za-z0-9-]`, not starting or ending with `-`.
pub fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// The reference's FQDN pattern: one or more groups (a letter first, 1-63 of
/// `[A-Za-z0-9-]`, no trailing `-`, an optional `.`) then at least two
/// letters at the end; 1-254 characters in all.
pub fn is_fqdn(s: &str) -> bool {
    let b = s.as_bytes();
    let n = b.len();
    if n == 0 || n > 254 {
        return false;
    }
    // reach[i]: the input up to i is one or more complete groups.
    let mut reach = vec![false; n + 1];
    let mut starts = vec![false; n + 1];
    starts[0] = true;
    for i in 0..n {
        if !(starts[i]) || !b[i].is_ascii_alphabetic() {
            continue;
        }
        let mut j = i;
        while j < n && j - i < 63 && (b[j].is_ascii_alphanumeric() || b[j] == b'-') {
            j += 1;
            if b[j - 1] != b'-' {
                reach[j] = true;
                starts[j] = true;
                if j < n && b[j] == b'.' {
                    reach[j + 1] = true;
                    starts[j + 1] = true;
                }
            }
        }
    }
    // The tail: at least two letters after a reachable position.
    let mut tail_start = n;
    while tail_start > 0 && b[tail_start - 1].is_ascii_alphabetic() {
        tail_start -= 1;
    }
    (tail_start..=n.saturating_sub(2)).any(|k| reach[k] && n - k >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn name_and_address() {
        let h = parse_host("srv1 (127.0.0.2)", 22);
        assert_eq!(h.name, "srv1");
        assert_eq!(h.address.as_deref(), Some("127.0.0.2"));
        assert_eq!(h.port, None);
        let h = parse_host("srv2 (127.0.0.3:2222)", 22);
        assert_eq!(
            (h.address.as_deref(), h.port),
            (Some("127.0.0.3"), Some(2222))
        );
        let h = parse_host("srv2 (127.0.0.3:22)", 22);
        assert_eq!(h.port, None);
        let h = parse_host("plain.example.org", 22);
        assert_eq!(
            (h.name.as_str(), h.address.as_deref()),
            ("plain.example.org", None)
        );
        // An invalid name keeps the name and drops the address.
        let h = parse_host("-bad (127.0.0.1)", 22);
        assert_eq!((h.name.as_str(), h.address), ("-bad", None));
        // Bracketed IPv6 keeps its brackets and so is not a valid address.
        let h = parse_host("v6 ([::1]:22)", 22);
        assert_eq!(h.address, None);
    }

    #[test]
    fn split_like_the_reference() {
        assert_eq!(split_host_address("host:23", 22), ("host".into(), 23));
        assert_eq!(split_host_address("host", 22), ("host".into(), 22));
        assert_eq!(split_host_address("", 22), ("0.0.0.0".into(), 22));
        assert_eq!(split_host_address("8080", 22), ("0.0.0.0".into(), 8080));
        assert_eq!(split_host_address("[::1]:23", 22), ("[::1]".into(), 23));
        assert_eq!(split_host_address("a:b", 22), ("a:b".into(), 22));
    }

    #[test]
    fn fqdn_pattern() {
        for ok in [
            "example.org",
            "a.example.org",
            "abc",
            "x2go-srv.example.com",
            "ab.c1de",
        ] {
            assert!(is_fqdn(ok), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "1.2.3.4",
            "-a.org",
            "a-.org",
            "exa mple.org",
            "example.1",
            "example.org.",
            "a1.b2c",
            "a--bc",
        ] {
            assert!(!is_fqdn(bad), "{bad}");
        }
        assert!(is_label("srv1") && !is_label("srv_1") && !is_label("-a"));
    }

    proptest! {
        #[test]
        fn parse_host_never_panics(s in ".{0,60}", port in 1i64..65536) {
            let _ = parse_host(&s, port);
        }

        #[test]
        fn valid_pairs_roundtrip(name in "[a-z][a-z0-9]{0,10}", a in 1u8..255, p in 1i64..65536) {
            let item = format!("{name} (127.0.0.{a}:{p})");
            let h = parse_host(&item, 22);
            prop_assert_eq!(h.name, name);
            let expected_addr = format!("127.0.0.{a}");
            prop_assert_eq!(h.address.as_deref(), Some(expected_addr.as_str()));
            prop_assert_eq!(h.port, (p != 22).then_some(p));
        }
    }
}
