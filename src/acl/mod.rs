//! Profile ACLs: `acl-{users,groups,clients}-{allow,deny,order}`, evaluated
//! exactly as the reference does. Pure: the caller supplies the client
//! address and, lazily, the user's groups.
//!
//! The reference's reading of the orders: a category is evaluated
//! allow-then-deny only when its own `acl-*-order` is `allow-deny`; anything
//! else (including an unset order) means deny-then-allow. `acl-any-order`
//! is read but never changes a decision.

use crate::config::value::{parse_int, Value};
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    AllowDeny,
    #[default]
    DenyAllow,
}

impl Order {
    fn from_str(s: &str) -> Self {
        if s == "allow-deny" {
            Order::AllowDeny
        } else {
            Order::DenyAllow
        }
    }

    /// The verdict of one category: `Some(true)` granted, `Some(false)` denied, `None` no rule matched.
    fn decide(self, allow: bool, deny: bool) -> Option<bool> {
        match self {
            Order::AllowDeny if allow => Some(true),
            Order::AllowDeny if deny => Some(false),
            Order::DenyAllow if deny => Some(false),
            Order::DenyAllow if allow => Some(true),
            _ => None,
        }
    }
}

/// The ACL part of one profile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Acls {
    pub users_allow: Vec<String>,
    pub users_deny: Vec<String>,
    pub users_order: Order,
    pub groups_allow: Vec<String>,
    pub groups_deny: Vec<String>,
    pub groups_order: Order,
    pub clients_allow: Vec<String>,
    pub clients_deny: Vec<String>,
    pub clients_order: Order,
}

impl Acls {
    /// Build from a profile's `acl-*` values; empty values count as unset.
    pub fn from_values(values: &[(String, Value)]) -> Self {
        let mut a = Acls::default();
        for (key, value) in values {
            let list = || match value {
                Value::List(l) if !(l.len() == 1 && l[0].is_empty()) => l.clone(),
                Value::List(_) => Vec::new(),
                other => vec![other.to_string()],
            };
            let order = || Order::from_str(&value.to_string());
            match key.as_str() {
                "acl-users-allow" => a.users_allow = list(),
                "acl-users-deny" => a.users_deny = list(),
                "acl-users-order" => a.users_order = order(),
                "acl-groups-allow" => a.groups_allow = list(),
                "acl-groups-deny" => a.groups_deny = list(),
                "acl-groups-order" => a.groups_order = order(),
                "acl-clients-allow" => a.clients_allow = list(),
                "acl-clients-deny" => a.clients_deny = list(),
                "acl-clients-order" => a.clients_order = order(),
                _ => {}
            }
        }
        a
    }

    pub fn has_group_rules(&self) -> bool {
        !(self.groups_allow.is_empty() && self.groups_deny.is_empty())
    }

    /// Whether `user`, connecting from `client`, may use the profile.
    /// `groups` is called only when group rules have to be consulted.
    pub fn permits(
        &self,
        user: &str,
        client: Option<IpAddr>,
        groups: impl FnOnce() -> Vec<String>,
    ) -> bool {
        if !(self.clients_allow.is_empty() && self.clients_deny.is_empty()) {
            let (allow_set, deny_set) = client_sets(&self.clients_allow, &self.clients_deny);
            let inside =
                |set: &[IpNet]| client.is_some_and(|ip| set.iter().any(|n| n.contains(&ip)));
            if self
                .clients_order
                .decide(inside(&allow_set), inside(&deny_set))
                != Some(true)
            {
                return false;
            }
        }
        let no_user_rules = self.users_allow.is_empty() && self.users_deny.is_empty();
        if no_user_rules && !self.has_group_rules() {
            return true;
        }
        let mut by_user = None;
        if !no_user_rules {
            let hit = |l: &[String]| l.iter().any(|u| u == user || u == "ALL");
            by_user = self
                .users_order
                .decide(hit(&self.users_allow), hit(&self.users_deny));
            if by_user == Some(true) {
                return true;
            }
        }
        if self.has_group_rules() {
            let mut mine = groups();
            mine.push("ALL".into());
            let hit = |l: &[String]| l.iter().any(|g| mine.contains(g));
            let by_group = self
                .groups_order
                .decide(hit(&self.groups_allow), hit(&self.groups_deny));
            if by_group == Some(true) && by_user != Some(false) {
                return true;
            }
        }
        false
    }
}

/// The reference builds both address sets together: an unparsable entry in
/// the allow list empties both, one in the deny list empties the deny set.
fn client_sets(allow: &[String], deny: &[String]) -> (Vec<IpNet>, Vec<IpNet>) {
    match parse_set(allow) {
        Some(a) => (a, parse_set(deny).unwrap_or_default()),
        None => {
            tracing::error!("unparsable address in acl-clients-allow; no client matches");
            (Vec::new(), Vec::new())
        }
    }
}

fn parse_set(items: &[String]) -> Option<Vec<IpNet>> {
    let mut out = Vec::new();
    for item in items {
        if item == "ALL" {
            out.push("0.0.0.0/0".parse().ok()?);
            out.push("::/0".parse().ok()?);
            continue;
        }
        out.push(parse_net(item)?);
    }
    Some(out)
}

/// An address or network as the reference's address library (netaddr 0.8)
/// reads one: IPv4 first, then IPv6. IPv4 is lenient: a partial address is
/// padded with zero octets (`127.1` is 127.1.0.0), octets and prefixes are
/// read as Python integers (leading zeros, `+`, surrounding blanks), and the
/// part after `/` may be a netmask or a hostmask instead of a prefix length.
pub fn parse_net(item: &str) -> Option<IpNet> {
    parse_v4_net(item).or_else(|| parse_v6_net(item))
}

fn parse_v4_net(item: &str) -> Option<IpNet> {
    let (addr, prefix) = split_prefix(item);
    if addr.contains(':') {
        return None;
    }
    let tokens: Vec<&str> = addr.split('.').collect();
    if tokens.len() > 4 {
        return None;
    }
    let mut octets = [0u8; 4];
    for (slot, token) in octets.iter_mut().zip(&tokens) {
        *slot = u8::try_from(parse_int(token)?).ok()?;
    }
    let prefix = match prefix {
        None => 32,
        Some(p) => match parse_int(p) {
            Some(n) => u8::try_from(n).ok().filter(|n| *n <= 32)?,
            None => mask_prefix(u128::from(u32::from(p.parse::<Ipv4Addr>().ok()?)), 32)?,
        },
    };
    IpNet::new(IpAddr::V4(Ipv4Addr::from(octets)), prefix).ok()
}

fn parse_v6_net(item: &str) -> Option<IpNet> {
    let (addr, prefix) = split_prefix(item);
    let addr: Ipv6Addr = addr.parse().ok()?;
    let prefix = match prefix {
        None => 128,
        Some(p) => match parse_int(p) {
            Some(n) => u8::try_from(n).ok().filter(|n| *n <= 128)?,
            None => mask_prefix(u128::from(p.parse::<Ipv6Addr>().ok()?), 128)?,
        },
    };
    IpNet::new(IpAddr::V6(addr), prefix).ok()
}

fn split_prefix(item: &str) -> (&str, Option<&str>) {
    match item.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (item, None),
    }
}

/// The prefix length a netmask (ones first) or a hostmask (ones last) of
/// `width` bits stands for; netmask wins when both readings fit.
fn mask_prefix(mask: u128, width: u32) -> Option<u8> {
    let all = if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    };
    let inverted = !mask & all;
    let ones = mask.count_ones();
    if inverted & inverted.wrapping_add(1) == 0 {
        u8::try_from(ones).ok()
    } else if mask & mask.wrapping_add(1) == 0 {
        u8::try_from(width - ones).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn acls(pairs: &[(&str, &str)]) -> Acls {
        let values: Vec<(String, Value)> = pairs
            .iter()
            .map(|(k, v)| {
                let val = if k.ends_with("order") {
                    Value::Str(v.to_string())
                } else {
                    Value::List(crate::config::value::parse_list(v).unwrap())
                };
                (k.to_string(), val)
            })
            .collect();
        Acls::from_values(&values)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn no_rules_grant() {
        assert!(Acls::default().permits("anyone", None, Vec::new));
    }

    #[test]
    fn user_orders() {
        let a = acls(&[
            ("acl-users-allow", "alice"),
            ("acl-users-deny", "ALL"),
            ("acl-users-order", "allow-deny"),
        ]);
        assert!(a.permits("alice", None, Vec::new));
        assert!(!a.permits("bob", None, Vec::new));
        // deny-allow (and unset): deny ALL wins over the allow.
        let a = acls(&[("acl-users-allow", "alice"), ("acl-users-deny", "ALL")]);
        assert!(!a.permits("alice", None, Vec::new));
        // acl-any-order never changes a decision.
        let mut values = vec![("acl-any-order".to_string(), Value::Str("allow-deny".into()))];
        values.push(("acl-users-allow".into(), Value::List(vec!["alice".into()])));
        values.push(("acl-users-deny".into(), Value::List(vec!["ALL".into()])));
        assert!(!Acls::from_values(&values).permits("alice", None, Vec::new));
    }

    #[test]
    fn groups_after_users() {
        let a = acls(&[("acl-groups-allow", "staff")]);
        assert!(a.permits("u", None, || vec!["staff".into()]));
        assert!(!a.permits("u", None, || vec!["other".into()]));
        // A user denied explicitly is not rescued by a group.
        let a = acls(&[("acl-users-deny", "eve"), ("acl-groups-allow", "staff")]);
        assert!(!a.permits("eve", None, || vec!["staff".into()]));
        assert!(a.permits("bob", None, || vec!["staff".into()]));
        // Groups are only looked up when needed.
        let a = acls(&[("acl-users-allow", "alice"), ("acl-groups-allow", "staff")]);
        assert!(a.permits("alice", None, || panic!("not needed")));
    }

    #[test]
    fn clients_first() {
        let a = acls(&[
            ("acl-clients-allow", "127.0.0.0/8"),
            ("acl-clients-deny", "ALL"),
            ("acl-clients-order", "allow-deny"),
        ]);
        assert!(a.permits("u", ip("127.0.0.1"), Vec::new));
        assert!(!a.permits("u", ip("192.0.2.1"), Vec::new));
        assert!(!a.permits("u", None, Vec::new));
        let a = acls(&[("acl-clients-deny", "127.0.0.2")]);
        // deny without allow: nothing grants, so access is refused.
        assert!(!a.permits("u", ip("127.0.0.1"), Vec::new));
        let a = acls(&[("acl-clients-allow", "bogus, 127.0.0.1")]);
        assert!(!a.permits("u", ip("127.0.0.1"), Vec::new));
        let a = acls(&[("acl-clients-allow", "::1")]);
        assert!(a.permits("u", ip("::1"), Vec::new));
    }

    #[test]
    fn addresses_read_like_netaddr() {
        let net = |s: &str| parse_net(s).map(|n| n.to_string());
        assert_eq!(net("127.0.0.1").as_deref(), Some("127.0.0.1/32"));
        assert_eq!(net("127.0.0.1/8").as_deref(), Some("127.0.0.1/8"));
        assert_eq!(net("127.0.0.0/255.0.0.0").as_deref(), Some("127.0.0.0/8"));
        assert_eq!(
            net("127.0.0.0/0.255.255.255").as_deref(),
            Some("127.0.0.0/8")
        );
        assert_eq!(net("127.0.0.9/0.0.0.0").as_deref(), Some("127.0.0.9/0"));
        assert_eq!(net("127.1").as_deref(), Some("127.1.0.0/32"));
        assert_eq!(net("127").as_deref(), Some("127.0.0.0/32"));
        assert_eq!(net("127.0.1/24").as_deref(), Some("127.0.1.0/24"));
        assert_eq!(net("127.000.000.001").as_deref(), Some("127.0.0.1/32"));
        assert_eq!(net("010.0.0.1").as_deref(), Some("10.0.0.1/32"));
        assert_eq!(net("127.0.0.1/08").as_deref(), Some("127.0.0.1/8"));
        assert_eq!(net("127.0.0.1/ 8").as_deref(), Some("127.0.0.1/8"));
        assert_eq!(net("::1").as_deref(), Some("::1/128"));
        assert_eq!(net("fe80::/10").as_deref(), Some("fe80::/10"));
        for bad in [
            "127.0.0.1/33",
            "127.0.0.1/",
            "0x7f.0.0.1",
            "127.0.0.256",
            "127.0.0.-1",
            "127..1",
            "1.2.3.4.5",
            "127.0.0.1/255.255.0.255",
            "127.0.0.1-127.0.0.5",
            "all",
            "::1/129",
            "",
        ] {
            assert_eq!(net(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn allow_all_users_grants_everyone_under_allow_deny(user in "[a-z]{1,8}", deny in proptest::collection::vec("[a-z]{1,8}", 0..4)) {
            let a = Acls { users_allow: vec!["ALL".into()], users_deny: deny, users_order: Order::AllowDeny, ..Default::default() };
            prop_assert!(a.permits(&user, None, Vec::new));
        }

        #[test]
        fn denied_user_never_granted_under_deny_allow(user in "[a-z]{1,8}", groups in proptest::collection::vec("[a-z]{1,8}", 0..4)) {
            let a = Acls {
                users_deny: vec![user.clone()],
                users_allow: vec!["ALL".into()],
                groups_allow: vec!["ALL".into()],
                ..Default::default()
            };
            prop_assert!(!a.permits(&user, None, || groups.clone()));
        }
    }
}
