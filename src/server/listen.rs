//! Listening sockets: taken over from the service manager when it passed one
//! bound to the wanted address (systemd socket activation: `LISTEN_FDS`,
//! optionally `LISTEN_PID`), bound here otherwise. Tests use the same path to
//! hand a node sockets they bound on port 0, so no port is ever guessed.

use super::ServerError;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, RawFd};

/// The first file descriptor passed by socket activation.
const FIRST_FD: RawFd = 3;
/// More than any node needs; a larger `LISTEN_FDS` is refused.
const MAX_FDS: RawFd = 64;

/// Sockets passed to this process, not yet claimed.
#[derive(Debug, Default)]
pub struct Inherited {
    tcp: Vec<(SocketAddr, std::net::TcpListener)>,
    udp: Vec<(SocketAddr, std::net::UdpSocket)>,
}

impl Inherited {
    /// Take the sockets announced by `LISTEN_FDS` (ignored when `LISTEN_PID`
    /// names another process). The variables are removed so that nothing this
    /// process starts inherits the announcement.
    pub fn from_env() -> Result<Self, ServerError> {
        let count = std::env::var("LISTEN_FDS").ok();
        let pid = std::env::var("LISTEN_PID").ok();
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDNAMES");
        let Some(count) = count else {
            return Ok(Self::default());
        };
        if pid.is_some_and(|p| p.trim() != std::process::id().to_string()) {
            return Ok(Self::default());
        }
        let n: RawFd = count
            .trim()
            .parse()
            .ok()
            .filter(|n| (0..=MAX_FDS).contains(n))
            .ok_or_else(|| {
                ServerError::Inherited(format!("LISTEN_FDS={count}: not a count of 0 to {MAX_FDS}"))
            })?;
        let mut out = Self::default();
        for fd in FIRST_FD..FIRST_FD + n {
            out.adopt(fd)?;
        }
        Ok(out)
    }

    fn adopt(&mut self, fd: RawFd) -> Result<(), ServerError> {
        let kind = socket_type(fd)
            .map_err(|e| ServerError::Inherited(format!("file descriptor {fd}: {e}")))?;
        // SAFETY: the service manager passed this descriptor to us to own; it
        // is checked to be a socket above and claimed exactly once here.
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        let local = |r: std::io::Result<SocketAddr>| {
            r.map_err(|e| ServerError::Inherited(format!("file descriptor {fd}: {e}")))
        };
        match kind {
            libc::SOCK_STREAM => {
                // SAFETY: see above.
                let l = unsafe { std::net::TcpListener::from_raw_fd(fd) };
                self.tcp.push((local(l.local_addr())?, l));
            }
            libc::SOCK_DGRAM => {
                // SAFETY: see above.
                let s = unsafe { std::net::UdpSocket::from_raw_fd(fd) };
                self.udp.push((local(s.local_addr())?, s));
            }
            other => {
                return Err(ServerError::Inherited(format!(
                    "file descriptor {fd}: socket type {other} is neither TCP nor UDP"
                )))
            }
        }
        Ok(())
    }

    /// A TCP listener on `addr`: the inherited one bound there, else a new one.
    pub fn tcp(&mut self, addr: SocketAddr) -> Result<tokio::net::TcpListener, ServerError> {
        let bind_err = |source| ServerError::Bind { addr, source };
        let std = match self.tcp.iter().position(|(a, _)| *a == addr) {
            Some(i) => {
                let (_, l) = self.tcp.swap_remove(i);
                tracing::debug!(address = %addr, "using the inherited socket");
                l
            }
            None => std::net::TcpListener::bind(addr).map_err(bind_err)?,
        };
        std.set_nonblocking(true).map_err(bind_err)?;
        tokio::net::TcpListener::from_std(std).map_err(bind_err)
    }

    /// A UDP socket on `addr`: the inherited one bound there, else a new one.
    pub fn udp(&mut self, addr: SocketAddr) -> Result<std::net::UdpSocket, ServerError> {
        match self.udp.iter().position(|(a, _)| *a == addr) {
            Some(i) => Ok(self.udp.swap_remove(i).1),
            None => std::net::UdpSocket::bind(addr)
                .map_err(|source| ServerError::BindUdp { addr, source }),
        }
    }

    /// Close what no listener claimed, saying so.
    pub fn close_unclaimed(self) {
        for addr in self
            .tcp
            .iter()
            .map(|(a, _)| a)
            .chain(self.udp.iter().map(|(a, _)| a))
        {
            tracing::warn!(address = %addr, "an inherited socket matches no configured listener; closing it");
        }
    }
}

/// `SO_TYPE` of a descriptor (an error when it is not a socket).
fn socket_type(fd: RawFd) -> std::io::Result<libc::c_int> {
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `kind`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut kind as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    #[tokio::test]
    async fn claims_the_socket_bound_to_the_address_and_binds_the_rest() {
        let bound = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = bound.local_addr().unwrap();
        let mut inherited = Inherited::default();
        inherited.adopt(bound.into_raw_fd()).unwrap();
        let l = inherited.tcp(addr).unwrap();
        assert_eq!(l.local_addr().unwrap(), addr);
        assert!(inherited.tcp.is_empty());
        let fresh = inherited.tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(fresh.local_addr().unwrap().port(), 0);
        // The claimed socket accepts.
        let client = tokio::net::TcpStream::connect(addr);
        let (accepted, connected) = tokio::join!(l.accept(), client);
        assert!(accepted.is_ok() && connected.is_ok());
    }

    #[test]
    fn claims_the_udp_socket_bound_to_the_address() {
        let bound = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = bound.local_addr().unwrap();
        let mut inherited = Inherited::default();
        inherited.adopt(bound.into_raw_fd()).unwrap();
        let claimed = inherited.udp(addr).unwrap();
        assert_eq!(claimed.local_addr().unwrap(), addr);
        assert!(inherited.udp.is_empty());
        // Bound here otherwise; taken is an error naming UDP.
        let e = inherited.udp(addr).unwrap_err();
        assert!(e.to_string().starts_with("binding UDP"), "{e}");
    }

    #[test]
    fn refuses_what_is_not_a_socket() {
        let file = std::fs::File::open("/dev/null").unwrap();
        let fd = file.into_raw_fd();
        let e = Inherited::default().adopt(fd).unwrap_err();
        assert!(
            e.to_string().contains(&format!("file descriptor {fd}")),
            "{e}"
        );
        // SAFETY: the descriptor was not adopted and is still ours.
        unsafe { libc::close(fd) };
    }
}
