//! What the reference's agent is asked and what it answers, whichever way
//! it is reached: its arguments (checked here, since over SSH they pass
//! through a shell run as root on the server) and its answer (first line
//! `OK`, then data lines; anything else is a failure).

use super::RefAgentError;

/// The most of an answer read (a session list of thousands of lines fits).
pub const MAX_ANSWER: usize = 4 << 20;

/// A name safe to hand the agent as a bare argument: not an option, and
/// nothing a shell or the agent's `sudo` would read specially.
pub fn plain_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// An argument safe inside the double quotes of the reference's remote
/// command (`sh -c '... "ARG"'`): an authorized_keys line with its
/// options, or a key file template (`%h/.x2go/authorized_keys`). No quote,
/// `$`, backquote, backslash, `;` (the agent cuts its command there) or
/// control character.
pub fn quotable(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 16 * 1024
        && !s.starts_with('-')
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b' ' | b',' | b'.' | b'=' | b'+' | b'/' | b'@' | b'_' | b'%' | b':' | b'-'
                )
        })
}

/// The user argument, checked.
pub fn user_arg(user: &str) -> Result<&str, RefAgentError> {
    match plain_word(user) {
        true => Ok(user),
        false => Err(RefAgentError::BadUser(user.to_string())),
    }
}

/// A session id argument, checked.
pub fn session_arg(session: &str) -> Result<&str, RefAgentError> {
    match plain_word(session) {
        true => Ok(session),
        false => Err(RefAgentError::BadSession(session.to_string())),
    }
}

/// A key or key file argument, checked.
pub fn key_arg(arg: &str) -> Result<&str, RefAgentError> {
    match quotable(arg) {
        true => Ok(arg),
        false => Err(RefAgentError::BadArgument),
    }
}

/// The agent's answer on standard output: its data lines (empty ones
/// dropped) when the first line starts with `OK`; else a failure quoting
/// what it said on standard error (escaped, shortened).
pub fn parse(
    agent: &str,
    task: &'static str,
    stdout: &[u8],
    stderr: &[u8],
) -> Result<Vec<String>, RefAgentError> {
    let stdout = String::from_utf8_lossy(stdout);
    let mut lines = stdout.lines();
    match lines.next() {
        Some(first) if first.starts_with("OK") => Ok(lines
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()),
        _ => Err(RefAgentError::Failed {
            agent: agent.to_string(),
            task,
            said: said(stderr),
        }),
    }
}

/// What an agent wrote on standard error, safe to log and short.
pub fn said(stderr: &[u8]) -> String {
    crate::logsafe::escaped(String::from_utf8_lossy(stderr).trim())
        .to_string()
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_answers_carry_their_non_empty_lines() {
        let lines = parse("a", "listsessions", b"OK\nx|y\n\nz\n", b"").unwrap();
        assert_eq!(lines, vec!["x|y".to_string(), "z".to_string()]);
        assert!(parse("a", "ping", b"OK\n", b"").unwrap().is_empty());
        let e = parse("a", "ping", b"", b"died\n\x1b[1m").unwrap_err();
        assert!(e.to_string().contains("died"), "{e}");
        assert!(!e.to_string().contains('\x1b'), "{e}");
        assert!(parse("a", "ping", b"NOK\n", b"").is_err());
    }

    #[test]
    fn arguments_that_a_shell_would_read_are_refused() {
        assert!(plain_word("alice") && plain_word("alice-50-1700000000_stDXFCE_dp24"));
        for bad in ["", "-x", "a b", "a;b", "a'b", "a$b"] {
            assert!(!plain_word(bad), "{bad:?}");
        }
        assert!(quotable(
            "no-X11-forwarding,no-pty,no-user-rc ssh-rsa AAAAB3Nz+/a= alice@127.0.0.1"
        ));
        assert!(quotable("%h/.x2go/authorized_keys"));
        for bad in [
            "a\"b", "a'b", "$(id)", "`id`", "a\\b", "a;b", "a\nb", "-x", "",
        ] {
            assert!(!quotable(bad), "{bad:?}");
        }
    }
}
