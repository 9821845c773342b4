//! `x2gobroker --task ...`: the command X2Go Client runs over SSH. It asks
//! the local node over its Unix socket and prints the plain answer the
//! reference's SSH mode prints. Who asks is the process's real uid (the
//! SSH login), never `LOGNAME`, `USER` or `SUDO_USER`; the node checks the
//! same through the socket's peer credentials.

use super::{Reply, Request, DEFAULT_SOCKET, MAX_LINE, TIMEOUT};
use clap::Args;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The reference's SSH-mode options (X2Go Client's `ssh://` broker).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "SSH broker mode (X2Go Client over ssh://)")]
pub struct TaskArgs {
    /// Run one broker task for the user logged in: listsessions, selectsession, testcon (setpass: the access check alone).
    #[arg(long, value_name = "BROKER_TASK")]
    pub task: Option<String>,
    /// The broker user; anyone but the broker's daemon user may name only themselves.
    #[arg(long, value_name = "USER_NAME")]
    pub user: Option<String>,
    /// The user on the X2Go server [default: the broker user].
    #[arg(long, value_name = "LOGIN_NAME")]
    pub login: Option<String>,
    /// The authid cookie of the previous answer.
    #[arg(long, visible_aliases = ["authid", "next-authid"], value_name = "AUTH_ID")]
    pub auth_cookie: Option<String>,
    /// The profile a selectsession chooses a server for.
    #[arg(long, visible_alias = "sid", value_name = "PROFILE_ID")]
    pub profile_id: Option<String>,
    /// The profile source [default: inifile].
    #[arg(long, value_name = "BROKER_BACKEND")]
    pub backend: Option<String>,
    /// Client events are not supported; ignored as the reference ignores them.
    #[arg(long, value_name = "EVENT_NAME")]
    pub event: Option<String>,
    /// The event's details (after `--`); ignored.
    #[arg(last = true, hide = true)]
    pub event_info: Vec<String>,
    /// The local node's SSH-mode socket.
    #[arg(long, env = "X2GOBROKER_SOCKET", value_name = "PATH", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
}

/// Exit status of a refused or failed request.
const FAILED: u8 = 1;
/// Exit status of a command line that names no task.
const USAGE: u8 = 2;

/// Run the task; the answer on stdout, refusals and errors on stderr.
pub fn run(args: &TaskArgs) -> ExitCode {
    if args.event.is_some() {
        return ExitCode::SUCCESS;
    }
    let Some(task) = &args.task else {
        eprintln!("x2gobroker: give a command (serve, check-config, keygen; see --help) or --task (SSH broker mode)");
        return ExitCode::from(USAGE);
    };
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let Some(me) = crate::auth::nss::user_name(uid) else {
        eprintln!("x2gobroker: uid {uid} has no account name");
        return ExitCode::from(FAILED);
    };
    let daemon = crate::broker::pubkeys::daemon_user();
    if let Some(claimed) = args.user.as_deref().filter(|u| !u.is_empty()) {
        if claimed != me && me != daemon {
            eprintln!("x2gobroker: user '{me}' may not act as '{claimed}' (only the broker's daemon user '{daemon}' may)");
            return ExitCode::from(FAILED);
        }
    }
    let request = Request {
        user: args.user.clone().filter(|u| !u.is_empty()),
        task: task.clone(),
        sid: args.profile_id.clone().unwrap_or_default(),
        login: args.login.clone().unwrap_or_default(),
        authid: args.auth_cookie.clone().unwrap_or_default(),
        backend: args.backend.clone().unwrap_or_default(),
        client: ssh_client_address(),
    };
    match ask(&args.socket, &request) {
        Ok(Reply::Ok { output }) => {
            // As the reference prints it: the answer and a newline.
            let mut out = std::io::stdout().lock();
            if output.is_empty() || writeln!(out, "{output}").and_then(|()| out.flush()).is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(FAILED)
            }
        }
        Ok(Reply::Denied { user }) => {
            eprintln!("x2gobroker: access denied for user '{user}'");
            ExitCode::from(FAILED)
        }
        Ok(Reply::Error { error }) => {
            eprintln!("x2gobroker: {error}");
            ExitCode::from(FAILED)
        }
        Err(e) => {
            eprintln!(
                "x2gobroker: the broker node's socket {}: {e}",
                args.socket.display()
            );
            ExitCode::from(FAILED)
        }
    }
}

/// The client's address from `SSH_CLIENT` (what the reference uses), if it
/// holds one.
fn ssh_client_address() -> String {
    std::env::var("SSH_CLIENT")
        .ok()
        .and_then(|v| v.split_whitespace().next().map(str::to_string))
        .filter(|a| a.parse::<std::net::IpAddr>().is_ok())
        .unwrap_or_default()
}

/// One exchange with the node at `socket`.
pub fn ask(socket: &Path, request: &Request) -> std::io::Result<Reply> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut answer = Vec::new();
    BufReader::new(stream.take(MAX_LINE as u64 + 1)).read_until(b'\n', &mut answer)?;
    if answer.len() > MAX_LINE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "answer too long",
        ));
    }
    Ok(serde_json::from_slice(&answer)?)
}
