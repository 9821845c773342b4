//! The load of `scripts/bench.sh auth`: a burst of failed logins for one
//! user from one address (the attacker) while honest users log in from
//! addresses of their own, each on a fresh HTTP/1.1 connection. Prints the
//! attacker's answers by status and the honest users' success rate and
//! latencies (all of them, and those that overlapped the burst).
//!
//! Usage: auth_load ADDR ATTEMPTS HONEST_WORKERS SECONDS VICTIM
//!   The attacker posts to /plain/zeroconf/ (a backend whose auth-mech
//!   checks passwords), honest users to /plain/ (auth-mech none).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

/// One answer: its status (0 when the exchange failed).
async fn post(source: IpAddr, to: SocketAddr, path: &str, body: &str) -> u16 {
    let exchange = async {
        let sock = TcpSocket::new_v4()?;
        sock.bind(SocketAddr::new(source, 0))?;
        let mut s = sock.connect(to).await?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await?;
        s.write_all(body.as_bytes()).await?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    match tokio::time::timeout(Duration::from_secs(60), exchange).await {
        Ok(Ok(raw)) => std::str::from_utf8(&raw[..raw.len().min(12)])
            .ok()
            .and_then(|l| l.get(9..12))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(what: &str, mut samples: Vec<(Duration, bool)>) {
    let ok = samples.iter().filter(|(_, ok)| *ok).count();
    let n = samples.len();
    samples.sort();
    let times: Vec<Duration> = samples.iter().map(|(t, _)| *t).collect();
    println!(
        "{what}: requests {n}, ok {ok} ({:.2} %), p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        if n == 0 {
            0.0
        } else {
            ok as f64 * 100.0 / n as f64
        },
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().map_or(f64::NAN, |t| t.as_secs_f64() * 1000.0),
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, attempts, workers, seconds, victim] = &args[..] else {
        eprintln!("usage: auth_load ADDR ATTEMPTS HONEST_WORKERS SECONDS VICTIM");
        std::process::exit(2);
    };
    let to: SocketAddr = addr.parse().expect("ADDR");
    let attempts: usize = attempts.parse().expect("ATTEMPTS");
    let workers: u8 = workers.parse().expect("HONEST_WORKERS");
    let run = Duration::from_secs(seconds.parse().expect("SECONDS"));
    let start = Instant::now();
    let deadline = start + run;

    let honest: Vec<_> = (0..workers)
        .map(|w| {
            tokio::spawn(async move {
                let source = IpAddr::V4(Ipv4Addr::new(127, 0, 1, w + 1));
                let mut samples = Vec::new();
                let mut i = 0u32;
                while Instant::now() < deadline {
                    let body = format!("task=listsessions&user=honest{w}x{}&password=pw", i % 8);
                    let t = Instant::now();
                    let status = post(source, to, "/plain/", &body).await;
                    samples.push((t - start, t.elapsed(), status == 200));
                    i += 1;
                }
                samples
            })
        })
        .collect();

    // The burst, a second in: every attempt at once, one user, one address.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let burst_start = start.elapsed();
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let body = format!("task=listsessions&user={victim}&password=not-the-password");
    let burst: Vec<_> = (0..attempts)
        .map(|_| {
            let body = body.clone();
            tokio::spawn(async move { post(attacker, to, "/plain/zeroconf/", &body).await })
        })
        .collect();
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for t in burst {
        *by_status.entry(t.await.unwrap_or(0)).or_default() += 1;
    }
    let burst_end = start.elapsed();
    let statuses: Vec<String> = by_status
        .iter()
        .map(|(s, n)| {
            format!(
                "{}: {n}",
                if *s == 0 {
                    "failed".into()
                } else {
                    s.to_string()
                }
            )
        })
        .collect();
    println!(
        "attacker: {attempts} attempts at once, answered in {:.0} ms; by status {}",
        (burst_end - burst_start).as_secs_f64() * 1000.0,
        statuses.join(", ")
    );

    let mut all = Vec::new();
    let mut during = Vec::new();
    for h in honest {
        for (at, took, ok) in h.await.unwrap_or_default() {
            if at + took >= burst_start && at <= burst_end {
                during.push((took, ok));
            }
            all.push((took, ok));
        }
    }
    report("honest (whole run)", all);
    report("honest (during the burst)", during);
}
