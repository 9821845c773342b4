//! The status dashboard (`/admin/` on HTTPS) against a real one-node
//! cluster with HTTPS, PAM and simulated X2Go servers (`x2gobroker-agent
//! simulate`, the real agent protocol over mutual TLS), driven with curl:
//! off without an admin group and on plain HTTP; refused for a
//! non-member, a wrong password, a POST without the CSRF token or from
//! another origin; a member logs in, sees the servers, drains one and the
//! page and `x2gobrokerctl servers --json` both show it; hostile strings
//! come back escaped. And in a real browser (headless Chromium through
//! chromedriver's WebDriver API): log in, drain, see it, screenshot.

// Each test binary uses only some of the shared helpers.
#[allow(dead_code)]
mod common;

use common::accounts::TestUser;
use common::cluster::*;
use common::http::{request, url_encode};
use common::site::Site;
use common::{unique, wait_until};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CONF: &str =
    "[global]\nrequire-password = true\ndefault-auth-mech = pam\n[broker_inifile]\nenable = true\n";
const PROFILES: &str = "[p]\nname=P\nhost=127.0.0.9\nbroker-portscan-x2goservers = false\n";
/// The simulated servers are `dash-00000` and `dash-00001`.
const PREFIX: &str = "dash-";
const SERVERS: usize = 2;

/// A local group, removed on drop (needs root).
struct TestGroup(String);

impl TestGroup {
    fn create(members: &[&str]) -> TestGroup {
        let name = format!("x2gadm{}n{}", std::process::id(), unique());
        retry(Command::new("groupadd").arg(&name));
        for user in members {
            retry(Command::new("usermod").args(["--append", "--groups", &name, user]));
        }
        TestGroup(name)
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let _ = Command::new("groupdel").arg(&self.0).status();
    }
}

/// Run `cmd` until it succeeds (the account files may be locked by another test).
fn retry(cmd: &mut Command) {
    for _ in 0..50 {
        if cmd.status().map(|s| s.success()).unwrap_or(false) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("command failed: {cmd:?}");
}

/// `x2gobroker-agent simulate`, killed on drop.
struct Simulator(Child);

impl Simulator {
    fn start(site: &Site, gateway: SocketAddr, prefix: &str) -> Simulator {
        let pki = site.path("pki");
        let log = site.path(&format!("simulate-{}.log", unique()));
        let child = Command::new(env!("CARGO_BIN_EXE_x2gobroker-agent"))
            .arg("simulate")
            .args(["--brokers", &gateway.to_string()])
            .arg("--ca")
            .arg(pki.join("ca.pem"))
            .arg("--ca-key")
            .arg(pki.join("ca-key.pem"))
            .args(["--servers", &SERVERS.to_string(), "--sessions", "4"])
            .args(["--name-prefix", prefix, "--transport", "grpc"])
            .args(["--change-every-ms", "600000", "--load-every-ms", "500"])
            .env("RUST_LOG", "x2gobroker=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Simulator(child)
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A one-node cluster with HTTPS (and the dashboard for `group`), two
/// simulated servers reporting to it.
struct Broker {
    site: Site,
    nodes: Vec<ClusterNode>,
    https: SocketAddr,
    cert: PathBuf,
    _sim: Simulator,
}

impl Broker {
    fn start(group: Option<&str>, prefix: &str) -> Broker {
        let site = Site::new(CONF, PROFILES);
        let mut nodes = cluster_nodes(&site, 1, FAST_TIMING);
        let cert = enable_enrollment(&site, &mut nodes);
        if let Some(g) = group {
            nodes[0]
                .args
                .extend(["--admin-group".to_string(), g.to_string()]);
        }
        start_all(&site, &mut nodes);
        let https = nodes[0].https.unwrap();
        let sim = Simulator::start(&site, nodes[0].agents.unwrap(), prefix);
        let b = Broker {
            site,
            nodes,
            https,
            cert,
            _sim: sim,
        };
        wait_until(
            "both simulated servers known",
            Duration::from_secs(30),
            || b.servers().len() == SERVERS,
        );
        b
    }

    /// `x2gobrokerctl servers --json`: hostname -> drained.
    fn servers(&self) -> Vec<(String, bool)> {
        let (ok, out) = ctl(&self.site, &self.nodes[0], &["servers", "--json"]);
        if !ok {
            return Vec::new();
        }
        let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap_or_default();
        rows.iter()
            .map(|r| {
                (
                    r["hostname"].as_str().unwrap_or_default().to_string(),
                    r["drained"].as_bool().unwrap_or_default(),
                )
            })
            .collect()
    }

    fn drained(&self, host: &str) -> bool {
        self.servers().iter().any(|(h, d)| h == host && *d)
    }

    fn base(&self) -> String {
        format!("https://{}", self.https)
    }

    /// A curl "browser" with its own cookie jar.
    fn client(&self) -> Curl {
        Curl {
            base: self.base(),
            cacert: self.cert.clone(),
            jar: self.site.path(&format!("jar-{}", unique())),
            dir: self.site.dir.path().to_path_buf(),
        }
    }
}

/// An answer as curl saw it.
#[derive(Debug)]
struct Page {
    status: u16,
    headers: String,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The value of the page's first hidden `csrf` field.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field")
            + 19;
        self.body[at..].split('"').next().unwrap().to_string()
    }
}

struct Curl {
    base: String,
    cacert: PathBuf,
    jar: PathBuf,
    dir: PathBuf,
}

impl Curl {
    fn get(&self, path: &str) -> Page {
        self.call("GET", path, None, &[])
    }

    fn post(&self, path: &str, form: &str, headers: &[&str]) -> Page {
        self.call("POST", path, Some(form), headers)
    }

    fn call(&self, method: &str, path: &str, form: Option<&str>, headers: &[&str]) -> Page {
        let n = unique();
        let head = self.dir.join(format!("head-{n}"));
        let body = self.dir.join(format!("body-{n}"));
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-X", method, "--cacert"])
            .arg(&self.cacert)
            .arg("-b")
            .arg(&self.jar)
            .arg("-c")
            .arg(&self.jar)
            .arg("-D")
            .arg(&head)
            .arg("-o")
            .arg(&body)
            .args(["-w", "%{http_code}"]);
        for h in headers {
            cmd.args(["-H", h]);
        }
        if let Some(form) = form {
            cmd.args(["--data-raw", form]);
        }
        let out = cmd.arg(format!("{}{path}", self.base)).output().unwrap();
        let status = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        Page {
            status,
            headers: std::fs::read_to_string(head).unwrap_or_default(),
            body: std::fs::read_to_string(body).unwrap_or_default(),
        }
    }

    fn log_in(&self, user: &str, password: &str) -> Page {
        let form = format!(
            "user={}&password={}",
            url_encode(user),
            url_encode(password)
        );
        self.post("/admin/login", &form, &[])
    }
}

#[test]
fn the_dashboard_is_off_without_an_admin_group() {
    let b = Broker::start(None, PREFIX);
    let web = b.client();
    for path in ["/admin/", "/admin/login", "/admin"] {
        assert_eq!(web.get(path).status, 404, "{path}");
    }
    assert_eq!(
        web.post("/admin/login", "user=a&password=b", &[]).status,
        404
    );
    // The rest of the HTTPS listener is unchanged.
    assert_eq!(web.get("/healthz").status, 200);
}

#[test]
#[ignore = "needs root (PAM test accounts and a group)"]
fn members_only_with_csrf_drain_and_see_it_everywhere() {
    let admin = TestUser::create("x2gdash");
    let other = TestUser::create("x2gdsho");
    let group = TestGroup::create(&[&admin.name]);
    let b = Broker::start(Some(&group.0), PREFIX);
    let host = format!("{PREFIX}00000");

    // Plain HTTP never serves it, even with the group set.
    let plain = request(b.nodes[0].http, "GET", "/admin/", &[], b"");
    assert_eq!(plain.status, 404);

    let web = b.client();
    let first = web.get("/admin/");
    assert_eq!(first.status, 303);
    assert_eq!(first.header("location"), Some("/admin/login"));
    let form = web.get("/admin/login");
    assert_eq!(form.status, 200);
    assert!(form.body.contains("name=\"password\""));

    // A non-member with the right password, a member with a wrong one.
    let refused = web.log_in(&other.name, &other.password);
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(refused.body.contains("Login refused"));
    assert!(refused.header("set-cookie").is_none());
    let wrong = web.log_in(&admin.name, "not-the-password");
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none());
    assert_eq!(web.get("/admin/").status, 303, "still logged out");
    // A login posted from another site's page.
    let foreign = web.post(
        "/admin/login",
        &format!(
            "user={}&password={}",
            admin.name,
            url_encode(&admin.password)
        ),
        &["Origin: https://evil.example"],
    );
    assert_eq!(foreign.status, 403);

    // The member logs in: a strict, short-lived cookie.
    let ok = web.log_in(&admin.name, &admin.password);
    assert_eq!(ok.status, 303, "{ok:?}");
    let cookie = ok.header("set-cookie").unwrap().to_string();
    for part in [
        "__Host-x2gobroker-admin=",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Max-Age=900",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let page = web.get("/admin/");
    assert_eq!(page.status, 200, "{page:?}");
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'none'"));
    assert!(page.body.contains(&admin.name));
    assert!(
        page.body.contains("<td class=\"host\">dash-00000</td>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<td class=\"host\">dash-00001</td>"));
    assert!(page.body.contains("<table id=\"cluster\">") && page.body.contains("leader"));
    let token = page.csrf();
    assert!(!b.drained(&host));

    // Without the token, with a wrong one, from another origin: 403, nothing drained.
    let no_token = format!("hostname={host}&action=drain");
    assert_eq!(web.post("/admin/drain", &no_token, &[]).status, 403);
    let bad_token = format!("{no_token}&csrf={}", "0".repeat(64));
    assert_eq!(web.post("/admin/drain", &bad_token, &[]).status, 403);
    let with_token = format!("{no_token}&csrf={token}");
    let cross = web.post(
        "/admin/drain",
        &with_token,
        &["Origin: https://evil.example"],
    );
    assert_eq!(cross.status, 403);
    let cross = web.post(
        "/admin/drain",
        &with_token,
        &["Referer: https://evil.example/admin/"],
    );
    assert_eq!(cross.status, 403);
    // Another client without the session cookie, token or not.
    assert_eq!(
        b.client().post("/admin/drain", &with_token, &[]).status,
        403
    );
    assert!(!b.drained(&host), "refused requests drained nothing");

    // With it (and this origin): drained, on the page and for x2gobrokerctl.
    let origin = format!("Origin: {}", b.base());
    let done = web.post("/admin/drain", &with_token, &[&origin]);
    assert_eq!(done.status, 303, "{done:?}");
    assert!(b.drained(&host), "x2gobrokerctl servers shows the drain");
    let page = web.get("/admin/");
    let row = row_of(&page.body, &host);
    assert!(
        row.contains("<span class=\"drained\">drained</span>"),
        "{row}"
    );
    assert!(row.contains("value=\"undrain\""), "{row}");
    assert!(!row_of(&page.body, &format!("{PREFIX}00001")).contains("drained"));
    // An unknown server is a clear 404, bad input a 400.
    let unknown = web.post(
        "/admin/drain",
        &format!("hostname=no-such-host&action=drain&csrf={token}"),
        &[],
    );
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("no agent has reported"));
    let bad = web.post(
        "/admin/drain",
        &format!("hostname={host}&action=explode&csrf={token}"),
        &[],
    );
    assert_eq!(bad.status, 400);
    // Undrain.
    let undo = format!("hostname={host}&action=undrain&csrf={token}");
    assert_eq!(web.post("/admin/drain", &undo, &[]).status, 303);
    assert!(!b.drained(&host));

    // A user's sessions, by search.
    let found = web.get("/admin/?user=simuser0");
    assert!(
        found.body.contains("session(s) of simuser0"),
        "{}",
        found.body
    );

    // Logged out: the old cookie opens nothing.
    let cookie_value = cookie.split(';').next().unwrap().to_string();
    assert_eq!(
        web.post("/admin/logout", &format!("csrf={token}"), &[])
            .status,
        303
    );
    assert_eq!(web.get("/admin/").status, 303);
    let replay = web.call(
        "GET",
        "/admin/",
        None,
        &[&format!("Cookie: {cookie_value}")],
    );
    assert_eq!(replay.status, 303);

    // The cookie never reaches the log.
    let id = cookie_value.split('=').nth(1).unwrap();
    let log = b.nodes[0].running.as_ref().unwrap().log_text();
    assert!(!log.contains(id), "the session id is logged");
    assert!(log.contains("dashboard drain"));
}

/// The `<tr>` of `host` in the servers table.
fn row_of<'a>(body: &'a str, host: &str) -> &'a str {
    let start = body
        .find(&format!("<tr data-server=\"{host}\">"))
        .unwrap_or_else(|| panic!("no row for {host}: {body}"));
    let end = body[start..].find("</tr>").unwrap() + start;
    &body[start..end]
}

#[test]
#[ignore = "needs root (PAM test accounts and a group)"]
fn hostile_names_from_an_agent_and_a_search_come_back_escaped() {
    use x2gobroker::agent::proto::{agent_message::Body, AgentMessage, Session, SessionList};
    let admin = TestUser::create("x2gdash");
    let group = TestGroup::create(&[&admin.name]);
    let b = Broker::start(Some(&group.0), PREFIX);
    // An agent (its certificate from the cluster CA) reports a session
    // whose user and fields are markup: agents are not trusted for that.
    let evil = "<img src=x onerror=alert(1)>&\"'";
    // A runtime with its own threads keeps the stream going between calls.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let pki = b.site.path("pki");
    let gateway = b.nodes[0].agents.unwrap();
    let kind = x2gobroker::agent::transport::TransportKind::Grpc;
    let (_stream, tx) = rt
        .block_on(common::agents::open_stream(kind, &pki, TEST_AGENT, gateway))
        .unwrap();
    let fields: Vec<String> = (0..16).map(|i| format!("{evil}{i}")).collect();
    let session = Session {
        session_id: format!("{evil}-sid"),
        user: evil.to_string(),
        raw_line: fields.join("|"),
        status: x2gobroker::agent::proto::SessionStatus::Running as i32,
        ..Default::default()
    };
    let list = Body::SessionList(SessionList {
        sessions: vec![session],
        listed_at_unix_ms: 1,
    });
    rt.block_on(tx.send(AgentMessage { body: Some(list) }))
        .unwrap();
    wait_until("the hostile session known", Duration::from_secs(20), || {
        let (ok, out) = ctl(
            &b.site,
            &b.nodes[0],
            &["sessions", "--json", "--user", evil],
        );
        ok && out.contains("-sid")
    });

    let web = b.client();
    assert_eq!(web.log_in(&admin.name, &admin.password).status, 303);
    let page = web.get(&format!("/admin/?user={}", url_encode(evil)));
    assert_eq!(page.status, 200);
    assert!(page.body.contains("1 session(s) of"), "{}", page.body);
    assert!(!page.body.contains("<img"), "{}", page.body);
    let escaped = "&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#39;";
    for shown in ["-sid", "2", "5", "7", "10"] {
        assert!(
            page.body.contains(&format!("{escaped}{shown}</td>")),
            "{shown}: {}",
            page.body
        );
    }
    assert!(
        page.body.contains(&format!("value=\"{escaped}\"")),
        "the search field"
    );
    // The search box itself reflects what was typed, escaped.
    let typed = "<script>alert('x')</script>";
    let page = web.get(&format!("/admin/?user={}", url_encode(typed)));
    assert!(!page.body.contains("<script"), "{}", page.body);
    assert!(page
        .body
        .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(page
        .body
        .contains(&format!("<td class=\"host\">{TEST_AGENT}</td>")));
}

// ---- The browser test: headless Chromium driven through chromedriver. ----

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    addr: SocketAddr,
    session: String,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl Driver {
    fn start(profile: &Path) -> Driver {
        use std::io::BufRead;
        // Port 0: chromedriver picks a free port and says which.
        let mut child = Command::new("chromedriver")
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let port: u16 = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("ChromeDriver was started successfully on port ")?
                    .trim_end_matches('.')
                    .parse()
                    .ok()
            })
            .expect("chromedriver says its port");
        // Keep reading what it prints so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        wait_until("chromedriver", Duration::from_secs(20), || {
            webdriver(addr, "GET", "/status", "")
                .is_ok_and(|(_, body)| body.contains("\"ready\":true"))
        });
        let mut d = Driver {
            child,
            addr,
            session: String::new(),
        };
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let reply = d.call("POST", "/session", Some(caps));
        d.session = reply["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {reply}"))
            .to_string();
        d
    }

    /// One WebDriver command; its `value`.
    fn call(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (status, text) = webdriver(self.addr, method, path, &body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"));
        assert_eq!(status, 200, "{method} {path}: {json}");
        json["value"].clone()
    }

    fn command(
        &self,
        method: &str,
        what: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        self.call(method, &format!("/session/{}{what}", self.session), body)
    }

    fn go(&self, url: &str) {
        self.command("POST", "/url", Some(serde_json::json!({"url": url})));
    }

    /// The element `css` selects, once it is there.
    fn find(&self, css: &str) -> String {
        let mut found = None;
        wait_until(css, Duration::from_secs(20), || {
            let path = format!("/session/{}/element", self.session);
            let body = serde_json::json!({"using": "css selector", "value": css}).to_string();
            let Ok((200, text)) = webdriver(self.addr, "POST", &path, &body) else {
                return false;
            };
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            found = v["value"][ELEMENT].as_str().map(str::to_string);
            found.is_some()
        });
        found.unwrap()
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.command(
            "POST",
            &format!("/element/{e}/value"),
            Some(serde_json::json!({"text": text})),
        );
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.command(
            "POST",
            &format!("/element/{e}/click"),
            Some(serde_json::json!({})),
        );
    }

    /// The text of the element `css` selects. An element found while the
    /// page was being replaced (after a form's POST and redirect) may be
    /// gone when its text is asked for ("does not belong to the
    /// document"): then it is looked up again.
    fn text(&self, css: &str) -> String {
        let mut text = None;
        wait_until(css, Duration::from_secs(20), || {
            let e = self.find(css);
            let path = format!("/session/{}/element/{e}/text", self.session);
            let Ok((200, body)) = webdriver(self.addr, "GET", &path, "") else {
                return false;
            };
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            text = Some(v["value"].as_str().unwrap_or_default().to_string());
            true
        });
        text.unwrap()
    }

    fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let b64 = self.command("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = webdriver(self.addr, "DELETE", &path, "");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One WebDriver request (chromedriver keeps connections open, so the
/// answer is read by its Content-Length): status and body.
fn webdriver(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut length = 0;
    loop {
        line.clear();
        r.read_line(&mut line)?;
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut buf = vec![0; length];
    r.read_exact(&mut buf)?;
    Ok((status, String::from_utf8_lossy(&buf).into_owned()))
}

/// Width, height, and the share of pixels that differ from the most common colour.
fn picture(png_bytes: &[u8]) -> (u32, u32, f64) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let mut counts = std::collections::HashMap::new();
    for p in &pixels {
        *counts.entry(*p).or_insert(0usize) += 1;
    }
    let most = counts.values().copied().max().unwrap_or(0);
    let other = 1.0 - most as f64 / pixels.len().max(1) as f64;
    (info.width, info.height, other)
}

#[test]
#[ignore = "needs root and chromium (PAM test accounts, headless Chromium with chromedriver)"]
fn in_a_real_browser_an_administrator_logs_in_and_drains_a_server() {
    let admin = TestUser::create("x2gdash");
    let group = TestGroup::create(&[&admin.name]);
    let b = Broker::start(Some(&group.0), PREFIX);
    let host = format!("{PREFIX}00001");
    let profile = tempfile::tempdir().unwrap();
    let browser = Driver::start(profile.path());

    browser.go(&format!("{}/admin/", b.base()));
    // Redirected to the login form.
    browser.type_into("#user", &admin.name);
    browser.type_into("#password", &admin.password);
    browser.click("#submit");
    assert_eq!(browser.text("#admin"), admin.name);
    let state = format!("tr[data-server=\"{host}\"] td.state");
    assert_eq!(browser.text(&state), "up");

    // The drain button of that row: the browser posts the form with its token.
    browser.click(&format!("tr[data-server=\"{host}\"] button"));
    wait_until("the page shows the drain", Duration::from_secs(10), || {
        browser.text(&state) == "drained"
    });
    assert!(b.drained(&host), "x2gobrokerctl agrees");
    assert_eq!(
        browser.text(&format!("tr[data-server=\"{PREFIX}00000\"] td.state")),
        "up"
    );
    let page_text = browser.text("body");
    assert!(page_text.contains("Servers (2)"), "{page_text}");

    let shot = browser.screenshot();
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-output/dashboard");
    std::fs::create_dir_all(&out).unwrap();
    let file = out.join("drained.png");
    std::fs::write(&file, &shot).unwrap();
    let (width, height, other) = picture(&std::fs::read(&file).unwrap());
    let size = browser.command(
        "POST",
        "/execute/sync",
        Some(serde_json::json!({"script": "return [window.innerWidth * window.devicePixelRatio, window.innerHeight * window.devicePixelRatio]", "args": []})),
    );
    assert_eq!(
        (width as u64, height as u64),
        (
            size[0].as_f64().unwrap() as u64,
            size[1].as_f64().unwrap() as u64
        ),
        "the screenshot is the viewport"
    );
    assert!(width >= 800 && height >= 600, "{width}x{height}");
    assert!(other > 0.01, "the screenshot is blank ({other})");
}
