//! The `/plain/` and `/json/` frontends: one request flow (backend checks,
//! fields, access check, task) with two renderings of the answer.

use super::form::Form;
use super::listing;
use super::pyjson::Json;
use super::response::{self, Body, TEXT_JSON, TEXT_PLAIN};
use super::Context;
use crate::broker::{Access, Backend, Credentials, Loaded};
use crate::config::value::Value;
use crate::profiles::render::{render, RenderContext};
use hyper::{Response, StatusCode};
use std::net::IpAddr;

/// Which protocol a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Plain,
    Json,
}

impl Flavour {
    fn output_key(self) -> &'static str {
        match self {
            Flavour::Plain => "enable-plain-output",
            Flavour::Json => "enable-json-output",
        }
    }
}

/// A refusal: status and a reason for the log.
pub type Refusal = (StatusCode, String);

/// The backend named by the path after `/plain/` or `/json/`, if served.
///
/// Read as the reference reads it: the path is percent-decoded; an empty
/// path means the default backend; otherwise trailing slashes are dropped
/// and the part before the first `/` is the name (so `/plain//` names none).
pub fn backend_for(loaded: &Loaded, flavour: Flavour, rest: &str) -> Result<Backend, Refusal> {
    let name = backend_name(rest);
    let name = name.as_str();
    let Some(backend) = Backend::parse(name) else {
        return Err((
            StatusCode::NOT_FOUND,
            format!(
                "no such broker backend '{}'",
                name.chars().take(64).collect::<String>()
            ),
        ));
    };
    if !loaded.conf.global_bool(flavour.output_key()) {
        return Err((
            StatusCode::NOT_FOUND,
            format!("frontend disabled by {}", flavour.output_key()),
        ));
    }
    if !loaded.conf.backend_enabled(backend.name()) {
        return Err((
            StatusCode::NOT_FOUND,
            format!("broker backend '{name}' is not enabled"),
        ));
    }
    Ok(backend)
}

/// The backend name in the path after `/plain/` or `/json/` ("" names none).
fn backend_name(rest: &str) -> String {
    let decoded = percent_decode(rest);
    if decoded.is_empty() {
        return "inifile".into();
    }
    let trimmed = decoded.trim_end_matches('/');
    trimmed.split('/').next().unwrap_or("").to_string()
}

/// `%XX` escapes decoded (`+` stays), as the reference's web framework
/// decodes path arguments; a `%` without two hex digits stays as it is.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|c| hex(*c)),
            b.get(i + 2).and_then(|c| hex(*c)),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Run one broker request; `Err` carries the refusal to log and answer.
pub async fn handle(
    ctx: &Context,
    loaded: &Loaded,
    flavour: Flavour,
    backend: Backend,
    form: &Form,
    client: IpAddr,
) -> Result<Response<Body>, Refusal> {
    let mut task = form.get("task").to_string();
    if flavour == Flavour::Json && task == "listsessions" {
        task = "listprofiles".into();
    }
    // An empty task is a plain authentication check (Python X2Go logs in that way).
    let known = match flavour {
        Flavour::Plain => ["", "testcon", "listsessions", "selectsession", "setpass"],
        Flavour::Json => ["", "testcon", "listprofiles", "selectsession", "setpass"],
    }
    .contains(&task.as_str());
    if !known {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "unknown task '{}'",
                task.chars().take(64).collect::<String>()
            ),
        ));
    }
    let profile_id = match flavour {
        Flavour::Plain => form.get("sid"),
        Flavour::Json if form.has("sid") => form.get("sid"),
        Flavour::Json => form.get("profile-id"),
    };
    if task == "selectsession" && profile_id.is_empty() {
        return Err((
            StatusCode::BAD_REQUEST,
            "selectsession without a profile id".into(),
        ));
    }
    let user = form.get("user");
    let login = match form.get("login") {
        "" => user,
        l => l,
    };
    let ip = client.to_string();
    let broker = &ctx.broker;
    let access = broker
        .check_access(
            loaded,
            backend,
            Credentials {
                user,
                password: form.get("password"),
                cookie: form.get("authid"),
                ip: &ip,
            },
            true,
        )
        .await;
    let next_cookie = match access {
        Access::Granted { next_cookie } => next_cookie,
        Access::Denied => {
            return Err((
                StatusCode::UNAUTHORIZED,
                format!("access denied for user '{user}'"),
            ))
        }
        Access::Limited(wait) => return Ok(response::too_many(wait.as_secs())),
        Access::Unavailable(why) => return Err((StatusCode::SERVICE_UNAVAILABLE, why)),
    };
    let selected = if task == "selectsession" {
        let s = broker
            .select_session(loaded, backend, profile_id, login, Some(client))
            .await
            .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e))?;
        tracing::info!(user = %login, profile = %profile_id, server = %s.server, port = s.port, "session selected");
        Some(s)
    } else {
        None
    };
    let profiles = if task == "listsessions" || task == "listprofiles" {
        // Linearizable: a node cut off from the cluster majority answers 503.
        broker
            .ledger
            .read_barrier()
            .await
            .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e))?;
        listed(ctx, loaded, flavour, backend, user, client)
    } else {
        Vec::new()
    };
    Ok(match flavour {
        Flavour::Plain => {
            if task == "testcon" {
                return Ok(response::ok(TEXT_PLAIN, "OK"));
            }
            let size: usize = profiles.iter().map(|(_, t)| t.len()).sum();
            let mut out = String::with_capacity(128 + size);
            if let Some(c) = &next_cookie {
                out.push_str("AUTHID:");
                out.push_str(c);
                out.push('\n');
            }
            out.push_str("Access granted\n");
            if !profiles.is_empty() {
                out.push_str("START_USER_SESSIONS\n\n");
                for (_, section) in &profiles {
                    out.push_str(section);
                }
                out.push_str("END_USER_SESSIONS\n");
            }
            if let Some(s) = &selected {
                out.push_str(&format!("SERVER:{}:{}\n", s.server, s.port));
            }
            response::ok(TEXT_PLAIN, out)
        }
        Flavour::Json => {
            if task == "testcon" {
                return Ok(response::ok(TEXT_JSON, ""));
            }
            let mut payload = vec![
                ("task".to_string(), Json::str(task.clone())),
                ("auth-status".to_string(), Json::str("Access granted")),
            ];
            if let Some(c) = &next_cookie {
                payload.push(("next-authid".into(), Json::str(c.clone())));
            }
            if task == "listprofiles" {
                let list = profiles
                    .into_iter()
                    .map(|(id, text)| (id, Json::Raw(text)))
                    .collect();
                payload.push(("profiles".into(), Json::object(list)));
            }
            if let Some(s) = &selected {
                let sel = vec![
                    ("server".to_string(), Json::str(s.server.clone())),
                    ("port".to_string(), Json::str(s.port.to_string())),
                ];
                payload.push(("selected_session".into(), Json::object(sel)));
            }
            response::ok(TEXT_JSON, Json::object(payload).to_text())
        }
    })
}

/// The profiles `user` may use, sorted by id, each laid out for `flavour`:
/// a plain `[id]` section, or a JSON object as it sits inside `"profiles"`.
fn listed(
    ctx: &Context,
    loaded: &Loaded,
    flavour: Flavour,
    backend: Backend,
    user: &str,
    client: IpAddr,
) -> Vec<(String, String)> {
    let lay = |id: &str, entries: &[(String, Value)]| match flavour {
        Flavour::Plain => listing::plain_section(id, entries),
        Flavour::Json => listing::json_object(entries),
    };
    if backend != Backend::Inifile {
        return ctx
            .broker
            .list_profiles(loaded, backend, user, Some(client))
            .into_iter()
            .map(|(id, entries)| {
                let text = lay(&id, &entries);
                (id, text)
            })
            .collect();
    }
    let default_autologin = loaded.conf.global_bool("default-session-autologin");
    ctx.listing
        .get(loaded)
        .profiles
        .iter()
        .filter(|(p, _)| ctx.broker.permits(loaded, &p.acls, user, Some(client)))
        .map(|(p, laid)| {
            let mut text = String::new();
            match (laid, flavour) {
                (Some(l), Flavour::Plain) => l.plain.fill(&mut text, user, false),
                (Some(l), Flavour::Json) => l.json.fill(&mut text, user, true),
                (None, _) => {
                    text = lay(
                        &p.id,
                        &render(
                            p,
                            &RenderContext {
                                user,
                                default_autologin,
                            },
                        ),
                    )
                }
            }
            (p.id.clone(), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_names_like_the_reference() {
        assert_eq!(backend_name(""), "inifile");
        assert_eq!(backend_name("inifile"), "inifile");
        assert_eq!(backend_name("inifile/"), "inifile");
        assert_eq!(backend_name("inifile/extra/"), "inifile");
        assert_eq!(backend_name("zeroconf//"), "zeroconf");
        assert_eq!(backend_name("inifil%65/"), "inifile");
        assert_eq!(backend_name("inifile%2F/"), "inifile");
        assert_eq!(backend_name("/"), "");
        assert_eq!(backend_name("/inifile/"), "");
        assert_eq!(backend_name("%2F"), "");
        assert_eq!(backend_name("in%zzfile"), "in%zzfile");
        assert_eq!(backend_name("%"), "%");
    }
}
