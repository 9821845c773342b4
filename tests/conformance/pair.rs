//! Both brokers on one site, and the requests the tests send to both:
//! each answer pair is compared as it arrives.

use crate::common::http::{form, request, Reply};
use crate::common::processes::{start_ours, start_reference, Running};
use crate::common::site::Site;
use crate::compare::{assert_same, listed_ids};

/// The configuration most tests use: no password needed.
pub const OPEN: &str = "[global]\nrequire-password = false\n";

/// Passwords required, checked by the `none` mechanism (any password will do).
pub const AUTH_NONE: &str = "[global]\nrequire-password = true\ndefault-auth-mech = none\n";

/// Both brokers on one site. Fields drop in order: processes first, then the files.
pub struct Pair {
    pub reference: Running,
    pub ours: Running,
    pub site: Site,
}

/// Start both brokers on `conf` and `profiles`.
pub fn pair(conf: &str, profiles: &str) -> Pair {
    pair_with(conf, profiles, |_| {})
}

/// Like `pair`, with `prepare` run on the site before the brokers start.
pub fn pair_with(conf: &str, profiles: &str, prepare: impl FnOnce(&Site)) -> Pair {
    let site = Site::new(conf, profiles);
    prepare(&site);
    let reference = start_reference(&site);
    let ours = start_ours(&site, &["--allow-get"]);
    Pair {
        reference,
        ours,
        site,
    }
}

/// One request sent to one broker (a form POST unless told otherwise).
pub fn send(
    run: &Running,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if method == "POST"
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        all.push(("Content-Type", "application/x-www-form-urlencoded"));
    }
    request(run.addr, method, path, &all, body.as_bytes())
}

impl Pair {
    /// Send one request to both, assert equivalence, return both answers.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (Reply, Reply) {
        let r = send(&self.reference, method, path, headers, body);
        let o = send(&self.ours, method, path, headers, body);
        assert_same(&format!("{method} {path} {body}"), path, &r, &o);
        (r, o)
    }

    /// POST each (path, form body) to both and compare.
    pub fn compare<S: AsRef<str>>(&self, requests: &[(&str, S)]) {
        for (path, body) in requests {
            self.check("POST", path, &[], body.as_ref());
        }
    }

    /// GET `path` on both and compare.
    pub fn compare_get(&self, path: &str) -> (Reply, Reply) {
        self.check("GET", path, &[], "")
    }
}

/// listsessions (plain) and listprofiles/listsessions (json) for each user.
pub fn list_requests(users: &[&str]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for u in users {
        out.push(("/plain/", form(&[("task", "listsessions"), ("user", u)])));
        out.push(("/json/", form(&[("task", "listprofiles"), ("user", u)])));
    }
    out
}

/// selectsession (plain and json) of each profile as `user`.
pub fn select_requests(user: &str, ids: &[&str]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for id in ids {
        out.push((
            "/plain/",
            form(&[("task", "selectsession"), ("user", user), ("sid", id)]),
        ));
        out.push((
            "/json/",
            form(&[
                ("task", "selectsession"),
                ("user", user),
                ("profile-id", id),
            ]),
        ));
    }
    out
}

/// The ids `user` sees, asserting both brokers agree.
pub fn visible(p: &Pair, user: &str) -> Vec<String> {
    let (r, _) = p.check(
        "POST",
        "/plain/",
        &[],
        &form(&[("task", "listsessions"), ("user", user)]),
    );
    listed_ids(&r.body)
}
