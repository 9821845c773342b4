//! The answer of one SSH-mode request, through the same broker code as the
//! `/plain/` frontend: the reference's SSH mode prints the plain answer,
//! with two differences kept here: `testcon` prints `OK` alone, and a
//! listed profile whose `user` is empty names the server login.

use super::{Reply, Request};
use crate::api::http::frontend::plain_answer;
use crate::api::http::listing::plain_section;
use crate::broker::{Access, Backend, Broker, BrokerError, Credentials, Dialect, Selection, Task};
use crate::config::value::Value;
use crate::logsafe::escaped;
use std::net::IpAddr;

/// Run `req` for `user` (already authenticated by the SSH login).
pub async fn answer(broker: &Broker, user: &str, req: &Request) -> Reply {
    match run(broker, user, req).await {
        Ok(reply) => reply,
        Err(e) => {
            tracing::error!(user = %escaped(user), error = %e, "SSH-mode request failed");
            Reply::Error {
                error: e.public_reason().unwrap_or("internal error").into(),
            }
        }
    }
}

async fn run(broker: &Broker, user: &str, req: &Request) -> Result<Reply, BrokerError> {
    let backend_name = match req.backend.as_str() {
        "" => "inifile",
        b => b,
    };
    let loaded = broker.current();
    let backend = match Backend::parse(backend_name) {
        Some(b) if loaded.conf.backend_enabled(b.name()) => b,
        _ => {
            return Ok(Reply::Error {
                error: format!(
                    "broker backend '{}' is unknown or not enabled",
                    escaped(&backend_name.chars().take(64).collect::<String>())
                ),
            })
        }
    };
    // The reference runs any other task name as the access check alone.
    let task = Task::parse(Dialect::Plain, &req.task, &req.sid).unwrap_or(Task::AuthCheck);
    let server_user = match req.login.as_str() {
        "" => user,
        l => l,
    };
    // The reference takes the address from SSH_CLIENT, else 127.0.0.1.
    let client: IpAddr = req.client.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let ip = client.to_string();
    let creds = Credentials {
        user,
        password: "",
        cookie: &req.authid,
        ip: &ip,
    };
    let next_cookie = match broker
        .check_access_logged_in(&loaded, backend, creds)
        .await?
    {
        Access::Granted { next_cookie } => next_cookie,
        Access::Denied | Access::Limited(_) => {
            tracing::warn!(user = %escaped(user), "SSH-mode access denied");
            return Ok(Reply::Denied { user: user.into() });
        }
    };
    let mut profiles = Vec::new();
    let mut selected = None;
    match &task {
        Task::TestCon => {
            return Ok(Reply::Ok {
                output: "OK".into(),
            })
        }
        Task::AuthCheck | Task::SetPass => {}
        Task::ListProfiles => {
            let lister = broker.lister(&loaded, backend, user, Some(client)).await?;
            for (id, mut entries) in lister.profiles() {
                fill_user(&mut entries, server_user);
                let text = plain_section(&id, &entries);
                profiles.push((id, text));
            }
        }
        Task::SelectSession { profile_id } => {
            let s = broker
                .select_session(
                    &loaded,
                    backend,
                    &Selection {
                        profile_id,
                        user,
                        server_user,
                        client: Some(client),
                        pubkey: None,
                    },
                )
                .await?;
            tracing::info!(user = %escaped(user), server_user = %escaped(server_user), profile = %escaped(profile_id), server = %s.server, port = s.port, "session selected (SSH mode)");
            selected = Some(s);
        }
    }
    Ok(Reply::Ok {
        output: plain_answer(next_cookie.as_deref(), &profiles, selected.as_ref()),
    })
}

/// An empty `user` names the server login, as the reference's SSH mode
/// lists it.
fn fill_user(entries: &mut [(String, Value)], server_user: &str) {
    for (key, value) in entries.iter_mut() {
        if key == "user" && matches!(value, Value::Str(s) if s.is_empty()) {
            *value = Value::Str(server_user.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_user_names_the_login() {
        let mut entries = vec![
            ("name".to_string(), Value::Str(String::new())),
            ("user".to_string(), Value::Str(String::new())),
        ];
        fill_user(&mut entries, "alice");
        assert_eq!(entries[0].1, Value::Str(String::new()));
        assert_eq!(entries[1].1, Value::Str("alice".into()));
        let mut fixed = vec![("user".to_string(), Value::Str("bob".into()))];
        fill_user(&mut fixed, "alice");
        assert_eq!(fixed[0].1, Value::Str("bob".into()));
    }
}
