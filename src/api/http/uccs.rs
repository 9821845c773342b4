//! The UCCS frontend (`/uccs/{backend}/api/{version}`): the profiles a user
//! may use as a UCCS management-server document, behind HTTP basic auth.

use super::error::HttpError;
use super::pyjson::Json;
use super::response::{self, Body, TEXT_PLAIN};
use crate::broker::{Access, Backend, Broker, BrokerError, Credentials, Loaded};
use crate::config::value::Value;
use crate::profiles::DESKTOP_SESSIONS;
use base64::Engine;
use hyper::header::{HeaderValue, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use std::net::IpAddr;

/// A UCCS API path: `/uccs/{backend}/api/{digit}` with optional trailing slashes.
pub fn parse_api_path(path: &str) -> Option<(String, u32)> {
    let rest = path.strip_prefix("/uccs/")?;
    let rest = rest.trim_end_matches('/');
    let (backend, version) = rest.rsplit_once("/api/")?;
    let mut chars = version.chars();
    let digit = chars.next()?.to_digit(10)?;
    if chars.next().is_some() {
        return None;
    }
    Some((backend.to_string(), digit))
}

/// The UCCS "ping" path: `/uccs/` plus letters, plus optional slashes.
pub fn is_ping_path(path: &str) -> bool {
    path.strip_prefix("/uccs/").is_some_and(|rest| {
        let letters = rest.trim_end_matches('/');
        letters.chars().all(|c| c.is_ascii_alphabetic())
    })
}

fn unauthorized() -> Response<Body> {
    let mut r = response::error(StatusCode::UNAUTHORIZED);
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Authentication required\""),
    );
    r
}

/// Decode `Authorization: Basic ...` into user and password.
fn basic_credentials(header: Option<&str>) -> Option<(String, String)> {
    let token = header?.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// The access check for basic-auth credentials (no cookie, none issued).
async fn check(
    broker: &Broker,
    loaded: &Loaded,
    user: &str,
    password: &str,
    ip: &str,
) -> Result<Access, BrokerError> {
    let creds = Credentials {
        user,
        password,
        cookie: "",
        ip,
    };
    broker
        .check_access(loaded, Backend::Base, creds, false)
        .await
}

/// Answer one API request.
pub async fn handle(
    broker: &Broker,
    loaded: &Loaded,
    backend_name: &str,
    api_version: u32,
    authorization: Option<&str>,
    client: IpAddr,
) -> Result<Response<Body>, HttpError> {
    // The path is percent-decoded, as the reference's web framework does.
    let decoded = super::frontend::percent_decode(backend_name);
    let name = if decoded.is_empty() {
        "inifile"
    } else {
        decoded.as_str()
    };
    let backend =
        Backend::parse(name).ok_or_else(|| HttpError::NotFound("no such broker backend".into()))?;
    if !loaded.conf.global_bool("enable-uccs-output") {
        return Err(HttpError::NotFound(
            "UCCS frontend disabled by enable-uccs-output".into(),
        ));
    }
    if !loaded.conf.backend_enabled(backend.name()) {
        return Err(HttpError::NotFound(format!(
            "broker backend '{name}' is not enabled"
        )));
    }
    let ip = client.to_string();
    let check = |user, password| check(broker, loaded, user, password, &ip);
    // Anonymous access first, as the reference does; then the credentials.
    let user = match check("check-credentials", "FALSE").await {
        Ok(Access::Granted { .. }) => "anonymous".to_string(),
        _ => {
            let Some((user, password)) = basic_credentials(authorization) else {
                return Ok(unauthorized());
            };
            crate::api::fields::check_all(&[("user", &user), ("password", &password)])
                .map_err(super::form::FormError::from)?;
            match check(&user, &password).await? {
                Access::Granted { .. } => user,
                Access::Limited(wait) => return Ok(response::too_many(wait.as_secs())),
                Access::Denied => match user.split_once('@') {
                    Some((short, _)) => match check(short, &password).await {
                        Ok(Access::Granted { .. }) => short.to_string(),
                        _ => return Ok(unauthorized()),
                    },
                    None => return Ok(unauthorized()),
                },
            }
        }
    };
    let base = loaded
        .conf
        .global_str("my-uccs-url-base")
        .trim_end_matches('/');
    let mut servers = Vec::new();
    let mut default_server = None;
    let profiles = broker
        .list_profiles(loaded, backend, &user, Some(client))
        .await?;
    for (id, entries) in profiles {
        let get = |k: &str| entries.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        let hosts: Vec<String> = match get("host") {
            Some(Value::List(l)) => l.clone(),
            Some(v) => vec![v.to_string()],
            None => Vec::new(),
        };
        let first = hosts.first().cloned().unwrap_or_default();
        let name = get("name")
            .map(|v| v.to_string())
            .unwrap_or_else(|| id.clone());
        let username = get("user").map(|v| v.to_string()).unwrap_or_default();
        let mut fields = vec![
            ("Name".to_string(), Json::str(name.clone())),
            ("Username".to_string(), Json::str(username)),
            ("Password".to_string(), Json::str("")),
        ];
        if get("directrdp").is_some_and(Value::truthy) {
            fields.push(("URL".into(), Json::str(format!("http://{first}/"))));
            fields.push(("Protocol".into(), Json::str("rdp")));
            fields.push(("DomainRequired".into(), Json::Bool(true)));
            fields.push(("WindowsDomain".into(), Json::str("LOCAL")));
        } else {
            let profile = loaded.profiles.get(&id);
            let (addr, port) = match profile {
                Some(p) => (p.address_of(&first), p.port_of(&first)),
                None => (first.clone(), 22),
            };
            fields.push(("URL".into(), Json::str(format!("http://{addr}:{port}/"))));
            fields.push(("Protocol".into(), Json::str("x2go")));
            let mut command = get("command").map(|v| v.to_string()).unwrap_or_default();
            if DESKTOP_SESSIONS.contains(&command.to_uppercase().as_str()) {
                command = command.to_uppercase();
            }
            if api_version == 4 {
                fields.push(("SessionTypeRequired".into(), Json::Bool(true)));
                fields.push(("SessionType".into(), Json::str(command)));
            } else {
                fields.push(("CommandRequired".into(), Json::Bool(true)));
                fields.push(("Command".into(), Json::str(command)));
            }
        }
        default_server = Some(name);
        servers.push(Json::object(fields));
    }
    let mut doc = vec![
        (
            "AdditionalManagementServers".to_string(),
            Json::List(Vec::new()),
        ),
        ("Name".to_string(), Json::str("X2Go Session Broker")),
        ("RemoteDesktopServers".to_string(), Json::List(servers)),
        (
            "URL".to_string(),
            Json::str(format!("{base}/uccs/{backend_name}/")),
        ),
    ];
    if let Some(d) = default_server {
        doc.push(("DefaultServer".into(), Json::str(d)));
    }
    Ok(response::ok(
        TEXT_PLAIN,
        Json::object(doc).to_text_indented(2),
    ))
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` in UTC, as the reference's ping answers.
pub fn utc_now_text() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            parse_api_path("/uccs/inifile/api/5"),
            Some(("inifile".into(), 5))
        );
        assert_eq!(parse_api_path("/uccs//api/4//"), Some(("".into(), 4)));
        assert_eq!(parse_api_path("/uccs/inifile/api/10"), None);
        assert_eq!(parse_api_path("/uccs/api/5"), None);
        assert!(is_ping_path("/uccs/") && is_ping_path("/uccs/inifile//"));
        assert!(!is_ping_path("/uccs/x1"));
    }

    #[test]
    fn basic_auth_header() {
        assert_eq!(
            basic_credentials(Some("Basic YTpiOmM=")),
            Some(("a".into(), "b:c".into()))
        );
        assert_eq!(basic_credentials(Some("Bearer x")), None);
        assert_eq!(basic_credentials(Some("Basic !!!")), None);
    }

    #[test]
    fn utc_text_shape() {
        let t = utc_now_text();
        assert_eq!(t.len(), 26);
        assert_eq!(&t[4..5], "-");
        assert_eq!(&t[19..20], ".");
    }
}
