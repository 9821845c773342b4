//! Regression tests of the security review's authentication findings
//! (issue 7): the failed-login limit under concurrency and the bounded
//! PAM queue (finding 2), and group lookups that neither stall the runtime
//! nor fail open (finding 7). The limits on the tables an attacker can grow
//! (finding 6) are unit tests beside the code (`auth::ratelimit`,
//! `state::cookies`, `server::announce`).
//!
//! PAM is the real stack: attempts for a user that does not exist are
//! refused by `pam_unix` after its failure delay, and the broker logs one
//! "PAM refused" line (debug) per conversation, which is what is counted.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::cluster::*;
use common::http::*;
use common::processes::*;
use common::site::*;
use common::wait_until;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PAM_CONF: &str =
    "[global]\nrequire-password = true\ndefault-auth-mech = pam\n[broker_inifile]\nenable = true\n";
const PROFILES: &str = "[p]\nname=P\nhost=127.0.0.9\n";

fn login_body(user: &str, password: &str) -> String {
    form(&[
        ("task", "listsessions"),
        ("user", user),
        ("password", password),
    ])
}

/// How many PAM conversations the log shows for `user`.
fn pam_calls(log: &str, user: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("PAM refused") && l.contains(user))
        .count()
}

/// The PAM conversations the logs (read by `logs`) show for `user`, once
/// the `refused` answers have their log lines; asserted within `1..=limit`.
fn pam_calls_within(
    logs: impl Fn() -> String,
    user: &str,
    refused: usize,
    limit: usize,
    what: &str,
) -> usize {
    wait_until("the PAM log lines", Duration::from_secs(10), || {
        pam_calls(&logs(), user) >= refused
    });
    let calls = pam_calls(&logs(), user);
    assert!(
        (1..=limit).contains(&calls),
        "{calls} PAM conversations for one user (limit {limit}); {what}"
    );
    calls
}

/// Send `n` logins at once (thread per request), `who(i)` giving the
/// source address, user and target; the statuses in order.
fn at_once(
    n: usize,
    who: impl Fn(usize) -> (String, String, std::net::SocketAddr) + Sync,
) -> Vec<u16> {
    let who = &who;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                s.spawn(move || {
                    let (source, user, to) = who(i);
                    request_from(&source, to, "POST", "/plain/", &login_body(&user, "guess")).status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn finding2_parallel_failed_logins_reach_pam_at_most_the_limit() {
    const LIMIT: usize = 3;
    let site = Site::new(PAM_CONF, PROFILES);
    let b = start_ours(&site, &["--max-failed-logins-per-user", "3"]);
    let user = "x2go-no-such-victim";
    let statuses = at_once(40, |_| ("127.0.0.1".into(), user.into(), b.addr));
    let refused = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(refused + limited, 40, "only 401 and 429: {statuses:?}");
    let calls = pam_calls_within(
        || b.log_text(),
        user,
        refused,
        LIMIT,
        &format!("{statuses:?}"),
    );
    assert_eq!(
        refused, calls,
        "every PAM refusal answered 401, the rest 429"
    );
}

#[test]
fn finding2_the_pam_queue_is_bounded() {
    // 16 conversations at once and 64 waiting (auth::pam): 120 attempts of
    // distinct users from distinct addresses leave at least 40 refused at once.
    let site = Site::new(PAM_CONF, PROFILES);
    let b = start_ours(&site, &[]);
    let started = Instant::now();
    let statuses = at_once(120, |i| {
        (
            format!("127.0.{}.{}", 1 + i / 200, 1 + i % 200),
            format!("x2go-no-such-user-{i}"),
            b.addr,
        )
    });
    let busy = statuses.iter().filter(|s| **s == 503).count();
    let refused = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(busy + refused, 120, "only 401 and 503: {statuses:?}");
    assert!(busy >= 40, "{busy} refused as busy: {statuses:?}");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "nobody waited past the bound"
    );
    let r = request_from(
        "127.0.3.1",
        b.addr,
        "POST",
        "/plain/",
        &login_body("x2go-after", "guess"),
    );
    assert_eq!(r.status, 401, "the queue drains: {}", r.body);
    assert!(b.log_text().contains("PAM busy"));
}

#[test]
fn finding2_busy_answer_carries_retry_after() {
    let site = Site::new(PAM_CONF, PROFILES);
    let b = start_ours(&site, &[]);
    let busy = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100)
            .map(|i| {
                let to = b.addr;
                s.spawn(move || {
                    request_from(
                        &format!("127.0.4.{}", 1 + i),
                        to,
                        "POST",
                        "/plain/",
                        &login_body(&format!("x2go-ra-{i}"), "guess"),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .find(|r| r.status == 503)
    })
    .expect("some attempt found the PAM queue full");
    assert!(busy.header("retry-after").is_some(), "{:?}", busy.headers);
}

#[test]
fn finding2_parallel_grpc_calls_on_one_connection_reach_pam_at_most_the_limit() {
    use common::sockets::{addr_of, loopback};
    use x2gobroker::api::grpc::proto::broker_client::BrokerClient;
    use x2gobroker::api::grpc::proto::{Credentials, ListProfilesRequest};
    const LIMIT: usize = 3;
    let site = Site::new(PAM_CONF, PROFILES);
    let listener = loopback();
    let grpc = addr_of(&listener);
    let b = Ours::new(&site)
        .listen("--grpc", listener)
        .args(&["--max-failed-logins-per-user", "3"])
        .start();
    let user = "x2go-no-such-grpc-victim";
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let codes = rt.block_on(async {
        // One client: one HTTP/2 connection, every call a stream on it.
        let client = BrokerClient::connect(format!("http://{grpc}"))
            .await
            .expect("gRPC API reachable");
        let calls: Vec<_> = (0..40)
            .map(|_| {
                let mut c = client.clone();
                tokio::spawn(async move {
                    let request = ListProfilesRequest {
                        credentials: Some(Credentials {
                            user: user.into(),
                            password: "guess".into(),
                            authid: String::new(),
                        }),
                    };
                    c.list_profiles(request).await.unwrap_err().code()
                })
            })
            .collect();
        let mut codes = Vec::new();
        for call in calls {
            codes.push(call.await.unwrap());
        }
        codes
    });
    let refused = codes
        .iter()
        .filter(|c| **c == tonic::Code::Unauthenticated)
        .count();
    let limited = codes
        .iter()
        .filter(|c| **c == tonic::Code::ResourceExhausted)
        .count();
    assert_eq!(refused + limited, 40, "{codes:?}");
    let context = format!("over one connection: {codes:?}");
    pam_calls_within(|| b.log_text(), user, refused, LIMIT, &context);
}

const TIMING: &str = common::cluster::FAST_TIMING;

#[test]
fn finding2_parallel_failed_logins_across_the_cluster_reach_pam_at_most_the_limit() {
    const LIMIT: usize = 3;
    let site = Site::new(PAM_CONF, PROFILES);
    let mut nodes = cluster_nodes(&site, 3, TIMING);
    for n in nodes.iter_mut() {
        n.args = vec!["--max-failed-logins-per-user".into(), LIMIT.to_string()];
    }
    let leader = start_all(&site, &mut nodes);
    wait_until("every node to answer", Duration::from_secs(20), || {
        nodes.iter().all(|n| {
            n.post("/plain/", &login_body("check-credentials", "FALSE"))
                .status
                == 401
        })
    });
    let followers: Vec<std::net::SocketAddr> = nodes
        .iter()
        .filter(|n| n.id != leader)
        .map(|n| n.http)
        .collect();
    let user = "x2go-no-such-cluster-victim";
    // From distinct addresses, so that only the per-user limit counts.
    let statuses = at_once(30, |i| {
        (
            format!("127.0.5.{}", 1 + i),
            user.into(),
            followers[i % followers.len()],
        )
    });
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    let refused = statuses.iter().filter(|s| **s == 401).count();
    let logs = || -> String {
        nodes
            .iter()
            .filter_map(|n| n.running.as_ref())
            .map(|r| r.log_text())
            .collect()
    };
    pam_calls_within(
        logs,
        user,
        refused,
        LIMIT,
        &format!("cluster-wide: {statuses:?}"),
    );
}

/// A stand-in for a broken or slow group database (LDAP, sssd), preloaded
/// into the broker: `X2GO_NSS_SHIM=broken` makes every group lookup fail
/// (EIO), `slow` makes each take 1.5 s.
const NSS_SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int mode(const char *m) { const char *v = getenv("X2GO_NSS_SHIM"); return v && strcmp(v, m) == 0; }
static void maybe_slow(void) { if (mode("slow")) usleep(1500000); }

void setgrent(void) {
    maybe_slow();
    void (*real)(void) = (void (*)(void))dlsym(RTLD_NEXT, "setgrent");
    real();
}
int getgrent_r(struct group *g, char *buf, size_t len, struct group **res) {
    if (mode("broken")) { *res = NULL; return EIO; }
    int (*real)(struct group *, char *, size_t, struct group **) =
        (int (*)(struct group *, char *, size_t, struct group **))dlsym(RTLD_NEXT, "getgrent_r");
    return real(g, buf, len, res);
}
int getgrgid_r(gid_t gid, struct group *g, char *buf, size_t len, struct group **res) {
    if (mode("broken")) { *res = NULL; return EIO; }
    maybe_slow();
    int (*real)(gid_t, struct group *, char *, size_t, struct group **) =
        (int (*)(gid_t, struct group *, char *, size_t, struct group **))dlsym(RTLD_NEXT, "getgrgid_r");
    return real(gid, g, buf, len, res);
}
int getgrouplist(const char *user, gid_t group, gid_t *groups, int *ngroups) {
    if (mode("broken")) return -1;
    maybe_slow();
    int (*real)(const char *, gid_t, gid_t *, int *) =
        (int (*)(const char *, gid_t, gid_t *, int *))dlsym(RTLD_NEXT, "getgrouplist");
    return real(user, group, groups, ngroups);
}
"#;

/// Build the shim into `dir` (the C compiler is the Rust linker's).
fn nss_shim(dir: &Path) -> PathBuf {
    let src = dir.join("nss_shim.c");
    let lib = dir.join("nss_shim.so");
    std::fs::write(&src, NSS_SHIM).unwrap();
    let ok = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .arg("-ldl")
        .status()
        .expect("run cc")
        .success();
    assert!(ok, "compiling the NSS shim");
    lib
}

const OPEN_CONF: &str = "[global]\nrequire-password = false\nignore-primary-group-memberships = false\n[broker_inifile]\nenable = true\n";
/// `root` (primary group `root`) is denied `staff-only`; everyone may use `open`.
const GROUP_PROFILES: &str = "[open]\nname=Open\nhost=127.0.0.9\n\n[staff-only]\nname=Staff\nhost=127.0.0.9\nacl-groups-allow = ALL\nacl-groups-deny = root\n";

fn listed(b: &Running, user: &str) -> Reply {
    b.post(
        "/plain/",
        &form(&[("task", "listsessions"), ("user", user)]),
    )
}

#[test]
fn finding7_a_failing_group_lookup_denies() {
    let site = Site::new(OPEN_CONF, GROUP_PROFILES);
    let healthy = start_ours(&site, &[]);
    let r = listed(&healthy, "root");
    assert_eq!(r.status, 200);
    assert!(
        r.body.contains("[open]") && !r.body.contains("[staff-only]"),
        "{}",
        r.body
    );
    drop(healthy);

    let shim = nss_shim(site.dir.path());
    let broken = Ours::new(&site)
        .env("LD_PRELOAD", shim.to_str().unwrap())
        .env("X2GO_NSS_SHIM", "broken")
        .start();
    let r = listed(&broken, "root");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("[open]"),
        "profiles without group rules stay: {}",
        r.body
    );
    assert!(
        !r.body.contains("[staff-only]"),
        "a failed group lookup must not let acl-groups-deny fail open: {}",
        r.body
    );
    assert!(broken.log_text().contains("group lookup failed"));
}

#[test]
fn finding7_slow_group_lookups_do_not_stall_requests() {
    let site = Site::new(OPEN_CONF, GROUP_PROFILES);
    let shim = nss_shim(site.dir.path());
    let b = Ours::new(&site)
        .env("LD_PRELOAD", shim.to_str().unwrap())
        .env("X2GO_NSS_SHIM", "slow")
        .start();
    let addr = b.addr;
    std::thread::scope(|s| {
        for i in 0..4 {
            s.spawn(move || {
                let r = request(
                    addr,
                    "POST",
                    "/plain/",
                    &[("Content-Type", "application/x-www-form-urlencoded")],
                    form(&[
                        ("task", "listsessions"),
                        ("user", &format!("slow-user-{i}")),
                    ])
                    .as_bytes(),
                );
                assert_eq!(r.status, 200, "{}", r.body);
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        // The lookups are under way; the broker answers other requests meanwhile.
        for _ in 0..5 {
            let t = Instant::now();
            let r = get_within(
                addr,
                "/healthz",
                Duration::from_secs(1),
                Duration::from_secs(10),
            )
            .expect("/healthz answers");
            assert_eq!(r.status, 200);
            assert!(
                t.elapsed() < Duration::from_millis(500),
                "/healthz took {:?} while group lookups ran",
                t.elapsed()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    });
}
