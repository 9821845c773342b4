//! Conformance: the reference daemon (`x2gobroker -M HTTP`) and our broker
//! are started on the SAME configuration files and must give the same
//! answers to the same requests: status, Content-Type, the exact plain text
//! and the JSON documents (parsed and as text, since we reproduce Python's
//! `json.dumps` layout). Random cookies are masked before comparing.
//!
//! Every test needs the reference (Debian `x2gobroker-daemon`), so every
//! test is `#[ignore]`d with that reason: `cargo test` reports them as
//! skipped, and `scripts/test.sh` runs them where the reference is
//! installed (or run `cargo test --test conformance -- --include-ignored`).
//! Known, deliberate differences of ours (400 for malformed or repeated
//! fields and unknown tasks, 405 for other methods than GET on `/` and
//! `/pubkeys/` where the reference never answers, `not-set` on boolean keys,
//! https_get and authenticated UCCS) are not exercised, nor are the
//! requests that make the reference fail with 500 (noted where they apply).
//! Addresses in the configurations are all in 127.0.0.0/8.
//!
//! One file per area: `acl`, `profiles` (profile keys and INI syntax),
//! `tasks` (the tasks and selectsession), `auth` (mechanisms), `cookies`
//! (authid cookies), `preshared_cookie` (`my-cookie`, `my-cookie-file`),
//! `routing` (paths, methods, frontends and backends), `uccs`. The session
//! profiles files are under `tests/fixtures/conformance/`.

/// A session profiles file from `tests/fixtures/conformance/`, compiled in.
macro_rules! profiles {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/conformance/",
            $name,
            ".ini"
        ))
    };
}

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;

mod compare;
mod pair;

mod acl;
mod auth;
mod cookies;
mod preshared_cookie;
mod profiles;
mod routing;
mod tasks;
mod uccs;
