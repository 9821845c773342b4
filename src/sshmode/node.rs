//! The node's side of SSH broker mode: a Unix socket anyone on the host
//! may connect to (mode 0666, in a 0755 directory), whose callers are
//! known by their peer credentials (the kernel's `SO_PEERCRED`: the uid of
//! the process that connected, which it cannot forge). A request acts for
//! that uid's login name; for another user only when the caller is the
//! broker's daemon user.

use super::{answer::answer, Reply, Request, MAX_REQUEST, TIMEOUT};
use crate::broker::Broker;
use crate::logsafe::escaped;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// Requests handled at once; further callers wait in the socket's backlog.
const MAX_CONNECTIONS: usize = 64;

/// Bind the socket at `path`: its directory created (0755) when missing,
/// a stale socket replaced (one a live node answers on is refused), the
/// socket made connectable for everyone (0666).
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another process answers on this socket",
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    Ok(listener)
}

/// Serve SSH-mode requests on `listener` until `stop` turns true.
pub async fn serve(
    broker: Arc<Broker>,
    listener: UnixListener,
    mut stop: watch::Receiver<bool>,
    tracker: TaskTracker,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "SSH-mode socket: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let broker = broker.clone();
        tracker.spawn(async move {
            let _permit = permit;
            if tokio::time::timeout(TIMEOUT, connection(&broker, stream))
                .await
                .is_err()
            {
                tracing::warn!("SSH-mode request timed out");
            }
        });
    }
}

/// One request and its reply.
async fn connection(broker: &Broker, stream: UnixStream) {
    let uid = match stream.peer_cred() {
        Ok(cred) => cred.uid(),
        Err(e) => {
            tracing::warn!(error = %e, "SSH-mode socket: no peer credentials; closing");
            return;
        }
    };
    let (read, mut write) = stream.into_split();
    let mut line = Vec::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST as u64 + 1);
    let reply = match reader.read_until(b'\n', &mut line).await {
        Err(e) => Reply::Error {
            error: format!("reading the request: {e}"),
        },
        Ok(_) if line.len() > MAX_REQUEST => Reply::Error {
            error: format!("request longer than {MAX_REQUEST} bytes"),
        },
        Ok(_) => match serde_json::from_slice::<Request>(&line) {
            Err(e) => Reply::Error {
                error: format!("malformed request: {e}"),
            },
            Ok(req) => handle(broker, uid, &req).await,
        },
    };
    let mut text = serde_json::to_string(&reply).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    if let Err(e) = write.write_all(text.as_bytes()).await {
        tracing::debug!(error = %e, "SSH-mode reply not delivered");
    }
    let _ = write.shutdown().await;
}

/// The request of the process with `uid`, for the user it may act as.
async fn handle(broker: &Broker, uid: u32, req: &Request) -> Reply {
    let name = tokio::task::spawn_blocking(move || crate::auth::nss::user_name(uid))
        .await
        .ok()
        .flatten();
    let Some(caller) = name else {
        tracing::warn!(
            uid,
            "SSH-mode request from a uid without an account; refused"
        );
        return Reply::Error {
            error: format!("uid {uid} has no account name"),
        };
    };
    let user = match acting_user(&caller, req.user.as_deref(), &daemon_user()) {
        Ok(user) => user,
        Err(refusal) => {
            tracing::warn!(caller = %escaped(&caller), claimed = %escaped(req.user.as_deref().unwrap_or("")), "SSH-mode request for another user refused");
            return refusal;
        }
    };
    answer(broker, user, req).await
}

/// The broker's daemon user as this node knows it (its environment, not
/// the caller's).
fn daemon_user() -> String {
    crate::broker::pubkeys::daemon_user()
}

/// Whom a request of `caller` acts for: itself, or `claimed` when that is
/// itself or the caller is the daemon user.
fn acting_user<'a>(
    caller: &'a str,
    claimed: Option<&'a str>,
    daemon: &str,
) -> Result<&'a str, Reply> {
    match claimed {
        None | Some("") => Ok(caller),
        Some(c) if c == caller || caller == daemon => Ok(c),
        Some(c) => Err(Reply::Error {
            error: format!(
                "user '{}' may not act as '{}' (only the broker's daemon user '{}' may)",
                escaped(caller),
                escaped(&c.chars().take(64).collect::<String>()),
                escaped(daemon)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_daemon_user_acts_for_others() {
        assert_eq!(acting_user("alice", None, "x2gobroker").ok(), Some("alice"));
        assert_eq!(
            acting_user("alice", Some(""), "x2gobroker").ok(),
            Some("alice")
        );
        assert_eq!(
            acting_user("alice", Some("alice"), "x2gobroker").ok(),
            Some("alice")
        );
        assert!(acting_user("alice", Some("bob"), "x2gobroker").is_err());
        assert!(acting_user("root", Some("bob"), "x2gobroker").is_err());
        assert_eq!(
            acting_user("x2gobroker", Some("bob"), "x2gobroker").ok(),
            Some("bob")
        );
    }

    #[tokio::test]
    async fn binds_a_world_connectable_socket_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/broker.sock");
        let listener = bind(&path).unwrap();
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o666);
        assert_eq!(mode(path.parent().unwrap()), 0o755);
        // A live socket is not taken over; a stale one is replaced.
        assert!(bind(&path).is_err());
        drop(listener);
        let again = bind(&path);
        assert!(again.is_ok(), "{again:?}");
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(bind(&file).is_err());
    }
}
