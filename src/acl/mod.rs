//! Profile ACLs: `acl-{users,groups,clients}-{allow,deny,order}`, evaluated
//! exactly as the reference does. Pure: the caller supplies the client
//! address and, lazily, the user's groups.
//!
//! The reference's reading of the orders: a category is evaluated
//! allow-then-deny only when its own `acl-*-order` is `allow-deny`; anything
//! else (including an unset order) means deny-then-allow. `acl-any-order`
//! is read but never changes a decision.

use crate::config::value::Value;
use ipnet::IpNet;
use std::net::IpAddr;

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
        let net = match item.parse::<IpNet>() {
            Ok(n) => n,
            Err(_) => IpNet::from(item.parse::<IpAddr>().ok()?),
        };
        out.push(net);
    }
    Some(out)
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
