//! The dashboard's pages, rendered on the server as plain HTML (no script):
//! the login form, the overview (cluster members, servers with their drain
//! buttons, one user's sessions, recent placements) and short notices.
//! Every value from the state or the request is escaped (`html`).

use super::html::{query_value, Escape};
use crate::broker::admin::PlacementRow;
use crate::cluster::admin::{ServerRow, SessionRow};
use crate::cluster::Status;
use std::fmt::Write;

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222;background:#fff}\
table{border-collapse:collapse;margin-bottom:1.5em}\
th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left}\
th{background:#e8eef5}.down{color:#a00;font-weight:bold}.drained{color:#a60;font-weight:bold}\
.up{color:#070}header{display:flex;justify-content:space-between;align-items:center}\
.notice{padding:.5em;border:1px solid #a00;background:#fee}form.inline{display:inline}";

/// A whole page around `body`.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        Escape(title)
    )
}

/// The login form, with a notice after a refused attempt.
pub fn login(notice: Option<&str>, user: &str) -> String {
    let mut body = String::from("<h1>x2gobroker status: log in</h1>\n");
    if let Some(n) = notice {
        let _ = writeln!(body, "<p class=\"notice\" id=\"notice\">{}</p>", Escape(n));
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/admin/login\" id=\"login\">\n\
         <p><label>User <input name=\"user\" id=\"user\" value=\"{}\" autocomplete=\"username\" required></label></p>\n\
         <p><label>Password <input name=\"password\" id=\"password\" type=\"password\" autocomplete=\"current-password\" required></label></p>\n\
         <p><button type=\"submit\" id=\"submit\">Log in</button></p>\n</form>\n",
        Escape(user)
    );
    page("x2gobroker status: log in", &body)
}

/// A short page with a message and a way back.
pub fn notice(title: &str, message: &str) -> String {
    page(
        title,
        &format!(
            "<h1>{}</h1>\n<p class=\"notice\" id=\"notice\">{}</p>\n<p><a href=\"/admin/\">Back to the dashboard</a></p>\n",
            Escape(title),
            Escape(message)
        ),
    )
}

/// What the overview shows.
pub struct Overview<'a> {
    pub admin: &'a str,
    pub csrf: &'a str,
    pub status: Option<Status>,
    pub servers: Vec<ServerRow>,
    /// The user searched for and their sessions.
    pub search: Option<(&'a str, Vec<SessionRow>)>,
    pub placements: Vec<PlacementRow>,
    /// Now, in Unix milliseconds (for the ages shown).
    pub now_ms: u64,
}

impl Overview<'_> {
    pub fn render(&self) -> String {
        let mut b = String::new();
        let _ = write!(
            b,
            "<header><h1>x2gobroker status</h1>\n<form method=\"post\" action=\"/admin/logout\" class=\"inline\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">logged in as <b id=\"admin\">{}</b> \
             <button type=\"submit\" id=\"logout\">Log out</button></form></header>\n",
            Escape(self.admin),
            csrf = Escape(self.csrf),
        );
        self.cluster(&mut b);
        self.servers(&mut b);
        self.sessions(&mut b);
        self.placements(&mut b);
        page("x2gobroker status", &b)
    }

    fn cluster(&self, b: &mut String) {
        b.push_str("<h2>Cluster</h2>\n");
        let Some(st) = &self.status else {
            b.push_str("<p id=\"cluster\">A single node on its local store (no cluster).</p>\n");
            return;
        };
        let _ = writeln!(
            b,
            "<p>This node: {} ({}), term {}, applied index {}.</p>",
            st.id,
            Escape(&st.role),
            st.term,
            st.applied_index.map_or("none".into(), |i| i.to_string()),
        );
        b.push_str("<table id=\"cluster\"><tr><th>Node</th><th>Address</th><th>Role</th></tr>\n");
        for (id, addr) in &st.members {
            let role = match st.leader {
                Some(l) if l == *id => "leader",
                Some(_) => "follower",
                None => "unknown (no leader)",
            };
            let here = if *id == st.id { " (this node)" } else { "" };
            let _ = writeln!(
                b,
                "<tr><td>{id}{here}</td><td>{}</td><td>{role}</td></tr>",
                Escape(addr)
            );
        }
        b.push_str("</table>\n");
    }

    fn servers(&self, b: &mut String) {
        let _ = writeln!(b, "<h2>Servers ({})</h2>", self.servers.len());
        if self.servers.is_empty() {
            b.push_str("<p>No agent has reported a server yet.</p>\n");
            return;
        }
        b.push_str(
            "<table id=\"servers\"><tr><th>Server</th><th>State</th><th>Load factor</th><th>Sessions</th>\
             <th>Reports via node</th><th>Last report</th><th></th></tr>\n",
        );
        for s in &self.servers {
            let state = match (s.up, s.drained) {
                (true, false) => "<span class=\"up\">up</span>",
                (true, true) => "<span class=\"drained\">drained</span>",
                (false, false) => "<span class=\"down\">down</span>",
                (false, true) => {
                    "<span class=\"down\">down</span>, <span class=\"drained\">drained</span>"
                }
            };
            let load = s.load_factor.map_or("-".into(), |l| l.to_string());
            let (action, label) = if s.drained {
                ("undrain", "Undrain")
            } else {
                ("drain", "Drain")
            };
            let _ = writeln!(
                b,
                "<tr data-server=\"{host}\"><td class=\"host\">{host}</td><td class=\"state\">{state}</td><td>{load}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/admin/drain\" class=\"inline\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"hostname\" value=\"{host}\">\
                 <input type=\"hidden\" name=\"action\" value=\"{action}\"><button type=\"submit\">{label}</button></form></td></tr>",
                s.sessions,
                s.node,
                ago(self.now_ms, s.last_report_ms),
                host = Escape(&s.hostname),
                csrf = Escape(self.csrf),
            );
        }
        b.push_str("</table>\n");
    }

    fn sessions(&self, b: &mut String) {
        let user = self.search.as_ref().map_or("", |(u, _)| u);
        let _ = writeln!(
            b,
            "<h2>Sessions of a user</h2>\n<form method=\"get\" action=\"/admin/\" id=\"search\">\
             <label>User <input name=\"user\" value=\"{}\"></label> <button type=\"submit\">Show</button></form>",
            Escape(user)
        );
        let Some((user, rows)) = &self.search else {
            return;
        };
        if rows.is_empty() {
            let _ = writeln!(b, "<p id=\"sessions\">No sessions of {}.</p>", Escape(user));
            return;
        }
        let _ = writeln!(
            b,
            "<table id=\"sessions\"><caption>{} session(s) of {}</caption>\
             <tr><th>Server</th><th>Session</th><th>Status</th><th>Display</th><th>Client</th><th>Started</th><th>Last used</th></tr>",
            rows.len(),
            Escape(user)
        );
        for r in rows {
            let status = r.status.to_string();
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                Escape(&r.server),
                Escape(&r.session_id),
                Escape(&status),
                Escape(&r.display),
                Escape(&r.client),
                Escape(&r.started),
                Escape(&r.last_used),
            );
        }
        b.push_str("</table>\n");
    }

    fn placements(&self, b: &mut String) {
        let _ = writeln!(b, "<h2>Recent placements ({})</h2>", self.placements.len());
        if self.placements.is_empty() {
            b.push_str("<p>None within the placement window.</p>\n");
            return;
        }
        b.push_str("<table id=\"placements\"><tr><th>When</th><th>User</th><th>Profile</th><th>Host</th></tr>\n");
        for p in &self.placements {
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td><a href=\"/admin/?user={}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                ago(self.now_ms, p.at_ms),
                Escape(&query_value(&p.user)),
                Escape(&p.user),
                Escape(&p.profile),
                Escape(&p.host),
            );
        }
        b.push_str("</table>\n");
    }
}

/// `at_ms` as UTC time and age: `2026-11-30 04:40:01 UTC (12 s ago)`.
fn ago(now_ms: u64, at_ms: u64) -> String {
    if at_ms == 0 {
        return "never".into();
    }
    let when = time::OffsetDateTime::from_unix_timestamp((at_ms / 1000) as i64)
        .map(|t| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_else(|_| "?".into());
    format!("{when} ({} s ago)", now_ms.saturating_sub(at_ms) / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(hostname: &str, up: bool, drained: bool) -> ServerRow {
        ServerRow {
            hostname: hostname.into(),
            up,
            drained,
            load_factor: Some(42),
            sessions: 3,
            node: 1,
            last_report_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn the_overview_escapes_every_value_and_offers_the_right_button() {
        let evil = "<img src=x onerror=alert(1)>\"'&";
        let o = Overview {
            admin: evil,
            csrf: "tok",
            status: None,
            servers: vec![server(evil, true, false), server("x2go2", true, true)],
            search: Some((
                evil,
                vec![SessionRow {
                    server: evil.into(),
                    session_id: evil.into(),
                    user: evil.into(),
                    status: 'R',
                    display: evil.into(),
                    client: evil.into(),
                    started: evil.into(),
                    last_used: evil.into(),
                }],
            )),
            placements: vec![PlacementRow {
                profile: evil.into(),
                user: evil.into(),
                host: evil.into(),
                at_ms: 1_700_000_001_000,
            }],
            now_ms: 1_700_000_005_000,
        };
        let html = o.render();
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("onerror=alert(1)>"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;"));
        assert!(html.contains("name=\"action\" value=\"drain\""));
        assert!(html.contains("name=\"action\" value=\"undrain\""));
        assert!(html.contains("<span class=\"drained\">drained</span>"));
        assert!(html.contains("2023-11-14 22:13:20 UTC (5 s ago)"), "{html}");
        assert!(html.contains("A single node"));
        assert!(login(Some(evil), evil).contains("&lt;img"));
        assert!(!login(Some(evil), evil).contains("<img"));
    }
}
