//! The `/plain/` and `/json/` frontends: one request flow (backend checks,
//! fields, access check, task) with two renderings of the answer.

use super::error::HttpError;
use super::form::Form;
use super::listing;
use super::pyjson::Json;
use super::response::{self, Body, TEXT_JSON, TEXT_PLAIN};
use super::Context;
use crate::broker::{
    Access, Backend, Credentials, Dialect, Lister, Loaded, Selected, Selection, Task,
};
use crate::config::value::Value;
use crate::logsafe::escaped;
use hyper::Response;
use std::net::IpAddr;

/// The `x2gobroker.conf` switch of a dialect's frontend.
fn output_key(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Plain => "enable-plain-output",
        Dialect::Json => "enable-json-output",
    }
}

/// The backend named by the path after `/plain/` or `/json/`, if served.
///
/// Read as the reference reads it: the path is percent-decoded; an empty
/// path means the default backend; otherwise trailing slashes are dropped
/// and the part before the first `/` is the name (so `/plain//` names none).
pub fn backend_for(loaded: &Loaded, dialect: Dialect, rest: &str) -> Result<Backend, HttpError> {
    let name = backend_name(rest);
    let name = name.as_str();
    let Some(backend) = Backend::parse(name) else {
        return Err(HttpError::NotFound(format!(
            "no such broker backend '{}'",
            name.chars().take(64).collect::<String>()
        )));
    };
    if !loaded.conf.global_bool(output_key(dialect)) {
        return Err(HttpError::NotFound(format!(
            "frontend disabled by {}",
            output_key(dialect)
        )));
    }
    if !loaded.conf.backend_enabled(backend.name()) {
        return Err(HttpError::NotFound(format!(
            "broker backend '{name}' is not enabled"
        )));
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
    dialect: Dialect,
    backend: Backend,
    form: &Form,
    client: IpAddr,
) -> Result<Response<Body>, HttpError> {
    let profile_id = match dialect {
        Dialect::Plain => form.get("sid"),
        Dialect::Json if form.has("sid") => form.get("sid"),
        Dialect::Json => form.get("profile-id"),
    };
    let task = Task::parse(dialect, form.get("task"), profile_id)?;
    let user = form.get("user");
    // The name handed to the X2Go server; ACLs and placements follow `user`.
    let server_user = match form.get("login") {
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
        .await?;
    let next_cookie = match access {
        Access::Granted { next_cookie } => next_cookie,
        Access::Denied => return Err(HttpError::AccessDenied(user.to_string())),
        Access::Limited(wait) => return Ok(response::too_many(wait.as_secs())),
    };
    let mut answer = Answer {
        dialect,
        task: &task,
        next_cookie,
        profiles: Vec::new(),
        selected: None,
    };
    match &task {
        Task::TestCon => {
            return Ok(match dialect {
                Dialect::Plain => response::ok(TEXT_PLAIN, "OK"),
                Dialect::Json => response::ok(TEXT_JSON, ""),
            })
        }
        Task::AuthCheck | Task::SetPass => {}
        Task::ListProfiles => {
            let lister = broker.lister(loaded, backend, user, Some(client)).await?;
            answer.profiles = listed(ctx, loaded, dialect, &lister, user);
        }
        Task::SelectSession { profile_id } => {
            let s = broker
                .select_session(
                    loaded,
                    backend,
                    &Selection {
                        profile_id,
                        user,
                        server_user,
                        client: Some(client),
                        pubkey: client_pubkey(form.get("pubkey"))?,
                    },
                )
                .await?;
            tracing::info!(user = %escaped(&user), server_user = %escaped(&server_user), profile = %escaped(&profile_id), server = %s.server, port = s.port, "session selected");
            answer.selected = Some(s);
        }
    }
    Ok(answer.render())
}

/// The client's `pubkey` for session autologin: absent when empty, else
/// one public key line (options only restricting it, as Python X2Go sends).
fn client_pubkey(field: &str) -> Result<Option<&str>, HttpError> {
    match field.trim() {
        "" => Ok(None),
        key => Ok(Some(crate::sshkey::check(key, true).map(|_| key)?)),
    }
}

/// What a granted request answers, before it is laid out for its dialect.
struct Answer<'a> {
    dialect: Dialect,
    task: &'a Task,
    next_cookie: Option<String>,
    /// Profile id and its text as laid out for the dialect.
    profiles: Vec<(String, String)>,
    selected: Option<Selected>,
}

impl Answer<'_> {
    fn render(self) -> Response<Body> {
        match self.dialect {
            Dialect::Plain => response::ok(
                TEXT_PLAIN,
                plain_answer(
                    self.next_cookie.as_deref(),
                    &self.profiles,
                    self.selected.as_ref(),
                ),
            ),
            Dialect::Json => {
                let mut payload = vec![
                    ("task".to_string(), Json::str(self.task.name(self.dialect))),
                    ("auth-status".to_string(), Json::str("Access granted")),
                ];
                if let Some(c) = self.next_cookie {
                    payload.push(("next-authid".into(), Json::str(c)));
                }
                if *self.task == Task::ListProfiles {
                    let list = self
                        .profiles
                        .into_iter()
                        .map(|(id, text)| (id, Json::Raw(text)))
                        .collect();
                    payload.push(("profiles".into(), Json::object(list)));
                }
                if let Some(s) = self.selected {
                    let mut sel = vec![
                        ("server".to_string(), Json::str(s.server)),
                        ("port".to_string(), Json::str(s.port.to_string())),
                    ];
                    if let Some(key) = s.private_key {
                        sel.push(("key".to_string(), Json::str(key)));
                    }
                    if s.pubkey_accepted {
                        sel.push(("authentication_pubkey".to_string(), Json::str("ACCEPTED")));
                    }
                    if let Some(info) = s.session_info {
                        sel.push(("session_info".to_string(), Json::str(info)));
                    }
                    payload.push(("selected_session".into(), Json::object(sel)));
                }
                response::ok(TEXT_JSON, Json::object(payload).to_text())
            }
        }
    }
}

/// The plain answer of a granted request: the next cookie, `Access
/// granted`, the profile sections (laid out) and the selected server.
/// SSH broker mode prints the same text.
pub fn plain_answer(
    next_cookie: Option<&str>,
    profiles: &[(String, String)],
    selected: Option<&Selected>,
) -> String {
    let size: usize = profiles.iter().map(|(_, t)| t.len()).sum();
    let mut out = String::with_capacity(128 + size);
    if let Some(c) = next_cookie {
        out.push_str("AUTHID:");
        out.push_str(c);
        out.push('\n');
    }
    out.push_str("Access granted\n");
    if !profiles.is_empty() {
        out.push_str("START_USER_SESSIONS\n\n");
        for (_, section) in profiles {
            out.push_str(section);
        }
        out.push_str("END_USER_SESSIONS\n");
    }
    if let Some(s) = selected {
        out.push_str(&format!("SERVER:{}:{}\n", s.server, s.port));
        if let Some(key) = &s.private_key {
            out.push_str(key);
        }
        if let Some(info) = &s.session_info {
            out.push_str("SESSION_INFO:");
            out.push_str(info);
            out.push('\n');
        }
    }
    out
}

/// The profiles `user` may use, sorted by id, each laid out for `dialect`:
/// a plain `[id]` section, or a JSON object as it sits inside `"profiles"`.
fn listed(
    ctx: &Context,
    loaded: &Loaded,
    dialect: Dialect,
    lister: &Lister<'_>,
    user: &str,
) -> Vec<(String, String)> {
    let lay = |id: &str, entries: &[(String, Value)]| match dialect {
        Dialect::Plain => listing::plain_section(id, entries),
        Dialect::Json => listing::json_object(entries),
    };
    if lister.backend() != Backend::Inifile {
        return lister
            .profiles()
            .into_iter()
            .map(|(id, entries)| {
                let text = lay(&id, &entries);
                (id, text)
            })
            .collect();
    }
    ctx.listing
        .get(loaded)
        .profiles
        .iter()
        .filter(|(p, _)| lister.permits(p))
        .map(|(p, laid)| {
            let mut text = String::new();
            match (laid, dialect) {
                // A profile with the user's session differs per user: rendered now.
                _ if lister.live_status(p).is_some() => text = lay(&p.id, &lister.render(p)),
                (Some(l), Dialect::Plain) => l.plain.fill(&mut text, user, false),
                (Some(l), Dialect::Json) => l.json.fill(&mut text, user, true),
                (None, _) => text = lay(&p.id, &lister.render(p)),
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
