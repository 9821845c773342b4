//! Listening sockets for the processes under test. Ours inherit theirs the
//! systemd way: the test binds `127.0.0.1:0`, writes the address it got
//! into the command line or node file, and the child finds the socket as fd
//! 3, 4, ... with `LISTEN_FDS` set, so no port is ever guessed. An agent
//! gateway gets a TCP listener and a UDP socket (QUIC) on one port. The
//! reference broker cannot inherit sockets: it binds port 0 itself and the
//! port is read back from `/proc`.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// A listening socket on a port the kernel chose.
pub fn loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

/// A TCP listener and a UDP socket on the same loopback port, which the
/// kernel chose for TCP and UDP had free (an agent gateway's).
pub fn loopback_pair() -> (TcpListener, UdpSocket) {
    for _ in 0..100 {
        let tcp = loopback();
        if let Ok(udp) = UdpSocket::bind(addr_of(&tcp)) {
            return (tcp, udp);
        }
    }
    panic!("no loopback port free for both TCP and UDP");
}

/// A UDP socket on `addr` again (see `rebind`).
pub fn rebind_udp(addr: SocketAddr) -> UdpSocket {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match UdpSocket::bind(addr) {
            Ok(s) => return s,
            Err(e) if Instant::now() < deadline => {
                eprintln!("rebinding UDP {addr}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("rebinding UDP {addr}: {e}"),
        }
    }
}

/// A listening socket on `addr` again, for a process restarted on its
/// known address (retrying briefly while the old socket goes away).
pub fn rebind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(addr) {
            Ok(l) => return l,
            Err(e) if Instant::now() < deadline => {
                eprintln!("rebinding {addr}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("rebinding {addr}: {e}"),
        }
    }
}

/// The address a listener is bound to.
pub fn addr_of(l: &TcpListener) -> SocketAddr {
    l.local_addr().unwrap()
}

/// Hand `listeners` (TCP listeners or UDP sockets) to the process `cmd`
/// starts, as fds 3, 4, ... in this order, with `LISTEN_FDS` set (systemd
/// socket activation, no `LISTEN_PID`). The caller may drop its own copies
/// once the child is spawned.
pub fn inherit<S: AsRawFd>(cmd: &mut Command, listeners: &[S]) {
    let sources: Vec<RawFd> = listeners.iter().map(|l| l.as_raw_fd()).collect();
    let count = sources.len() as RawFd;
    // Allocated here: the closure runs between fork and exec, where allocating is unsafe.
    let mut moved: Vec<RawFd> = vec![-1; sources.len()];
    cmd.env("LISTEN_FDS", sources.len().to_string())
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES");
    let place = move || -> std::io::Result<()> {
        // First copy every socket above 3..3+count, so that no dup2 below
        // overwrites a source that is still to be placed.
        for (i, fd) in sources.iter().enumerate() {
            // SAFETY: fcntl on a descriptor this process owns; async-signal-safe.
            let high = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3 + count) };
            if high < 0 {
                return Err(std::io::Error::last_os_error());
            }
            moved[i] = high;
        }
        for (i, fd) in moved.iter().enumerate() {
            // SAFETY: dup2 is async-signal-safe; the new descriptor has
            // FD_CLOEXEC cleared, so it survives the exec.
            if unsafe { libc::dup2(*fd, 3 + i as RawFd) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the closure only calls fcntl and dup2 and writes into memory
    // allocated before the fork.
    unsafe {
        cmd.pre_exec(place);
    }
}

/// The TCP port process `pid` listens on (IPv4 or IPv6), if any yet.
pub fn listening_port(pid: u32) -> Option<u16> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|target| {
            let t = target.to_string_lossy();
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    ["tcp", "tcp6"].iter().find_map(|table| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok()?;
        text.lines().skip(1).find_map(|line| {
            // sl local_address rem_address st ... uid timeout inode
            let f: Vec<&str> = line.split_whitespace().collect();
            const LISTEN: &str = "0A";
            if f.len() > 9 && f[3] == LISTEN && inodes.contains(f[9]) {
                u16::from_str_radix(f[1].rsplit(':').next()?, 16).ok()
            } else {
                None
            }
        })
    })
}
