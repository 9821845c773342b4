//! Per-user rendering of a profile, as the reference's
//! `get_profile_for_user()` does it without agent data: `not-set` keys
//! dropped, `BROKER_USER` replaced, autologin marker keys, desktop commands
//! upper-cased with `rootless` off, shadow profiles reduced to one host.

use super::{Profile, DESKTOP_SESSIONS};
use crate::config::value::Value;

/// The placeholder the reference sends instead of a key in profile lists.
pub const AUTOLOGIN_KEY_PLACEHOLDER: &str = "<will-be-exchanged-during-session-selection>";

/// What rendering needs beyond the profile.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    pub user: &'a str,
    /// `[global] default-session-autologin`.
    pub default_autologin: bool,
}

/// Whether session autologin applies to a profile.
pub fn session_autologin(profile: &Profile, default_autologin: bool) -> bool {
    profile
        .broker_flag("broker-session-autologin")
        .unwrap_or(default_autologin)
}

/// The client-visible key/value pairs of `profile` for one user, in order.
pub fn render(profile: &Profile, ctx: &RenderContext<'_>) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::with_capacity(profile.entries.len() + 2);
    for (key, value) in &profile.entries {
        if value.is_not_set() {
            continue;
        }
        if key == "user" && value.as_str() == Some("BROKER_USER") {
            out.push((key.clone(), Value::Str(ctx.user.to_string())));
        } else {
            out.push((key.clone(), value.clone()));
        }
    }
    if session_autologin(profile, ctx.default_autologin) {
        out.push(("autologin".into(), Value::Bool(true)));
        out.push(("key".into(), Value::Str(AUTOLOGIN_KEY_PLACEHOLDER.into())));
    }
    let command = out
        .iter()
        .find(|(k, _)| k == "command")
        .and_then(|(_, v)| v.as_str())
        .map(str::to_uppercase);
    if let Some(cmd) = command.filter(|c| DESKTOP_SESSIONS.contains(&c.as_str())) {
        set(&mut out, "rootless", Value::Bool(false));
        set(&mut out, "command", Value::Str(cmd));
    }
    if profile.is_shadow() {
        if let Some((_, Value::List(hosts))) = out.iter_mut().find(|(k, _)| k == "host") {
            hosts.truncate(1);
        }
    }
    out
}

fn set(out: &mut Vec<(String, Value)>, key: &str, value: Value) {
    match out.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = value,
        None => out.push((key.to_string(), value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::ProfileSet;

    fn one(text: &str) -> Profile {
        (*ProfileSet::parse("t", text).unwrap().profiles[0]).clone()
    }

    #[test]
    fn user_and_not_set() {
        let p = one("[p]\nwidth=not-set\nhost=a (127.0.0.2)\n");
        let r = render(
            &p,
            &RenderContext {
                user: "alice",
                default_autologin: false,
            },
        );
        assert!(r.iter().all(|(k, _)| k != "width"));
        assert!(r.contains(&("user".into(), Value::Str("alice".into()))));
        assert!(r.contains(&("host".into(), Value::List(vec!["a".into()]))));
    }

    #[test]
    fn desktop_and_autologin() {
        let p = one("[p]\ncommand=xfce\nbroker-session-autologin=TRUE\n");
        let r = render(
            &p,
            &RenderContext {
                user: "u",
                default_autologin: false,
            },
        );
        assert!(r.contains(&("command".into(), Value::Str("XFCE".into()))));
        assert!(r.contains(&("rootless".into(), Value::Bool(false))));
        let n = r.len();
        assert_eq!(r[n - 2], ("autologin".into(), Value::Bool(true)));
        assert_eq!(r[n - 1].0, "key");
        // The profile's explicit false beats a global default of true.
        let p = one("[p]\nbroker-session-autologin=false\n");
        let r = render(
            &p,
            &RenderContext {
                user: "u",
                default_autologin: true,
            },
        );
        assert!(r.iter().all(|(k, _)| k != "autologin"));
    }

    #[test]
    fn shadow_gets_first_host() {
        let p = one("[p]\ncommand=SHADOW\nhost=a,b\n");
        let r = render(
            &p,
            &RenderContext {
                user: "u",
                default_autologin: false,
            },
        );
        assert!(r.contains(&("host".into(), Value::List(vec!["a".into()]))));
    }
}
