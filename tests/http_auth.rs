//! Authentication and limits of the daemon's HTTP server, as a hostile
//! client sees them: a real socket on 127.0.0.1, a raw HTTP/1.1 client with
//! every read bounded; and the real binary's refusal to listen on a
//! non-loopback address without auth.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use flotilla_hub::http::auth::{AuthConfig, Tokens};
use flotilla_hub::http::{HttpContext, HttpOptions, WebhookConfig, serve_with};
use flotilla_hub::metrics::Metrics;
use flotilla_hub::state::{ClusterState, FleetState, SharedState, SyncStatus};

const READ_TOKEN: &str = "read-token-do-not-log-0123456789";
const OPERATE_TOKEN: &str = "operate-token-do-not-log-0123456789";
/// Scoped to tenant `team-a` (read).
const TENANT_TOKEN: &str = "tenant-token-do-not-log-0123456789";
/// Scoped to tenant `team-a` (operate).
const TENANT_OPERATE_TOKEN: &str = "tenant-operate-token-do-not-log-0123456789";

struct Server {
    addr: SocketAddr,
    state: SharedState,
    trigger: Arc<tokio::sync::Notify>,
    _rt: tokio::runtime::Runtime,
}

fn start(max_connections: usize, header_read_timeout: Duration) -> Server {
    // The idle timeout out of the way: the header-read timeout is what
    // these tests look at.
    start_full(
        max_connections,
        header_read_timeout,
        Duration::from_secs(600),
        FleetState::default(),
    )
}

fn start_with(
    max_connections: usize,
    header_read_timeout: Duration,
    idle_timeout: Duration,
) -> Server {
    start_full(
        max_connections,
        header_read_timeout,
        idle_timeout,
        FleetState::default(),
    )
}

fn start_state(max_connections: usize, header_read_timeout: Duration, state: FleetState) -> Server {
    start_full(
        max_connections,
        header_read_timeout,
        Duration::from_secs(600),
        state,
    )
}

fn start_full(
    max_connections: usize,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    state: FleetState,
) -> Server {
    let state: SharedState = Arc::new(RwLock::new(state));
    let trigger = Arc::new(tokio::sync::Notify::new());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tokens = Tokens::parse(
        "tokens",
        &format!(
            "# test\n{READ_TOKEN}\n{OPERATE_TOKEN} operate\n{TENANT_TOKEN} tenant=team-a\n\
             {TENANT_OPERATE_TOKEN}\toperate tenant=team-a\n"
        ),
    )
    .unwrap();
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let ctx = HttpContext {
            state: state.clone(),
            metrics: Arc::new(Metrics::default()),
            webhook: WebhookConfig {
                github_secret: Some("gh-secret".into()),
                gitlab_token: None,
                branch: None,
            },
            trigger: trigger.clone(),
        };
        let options = HttpOptions {
            auth: AuthConfig {
                tokens: Some(Arc::new(RwLock::new(tokens))),
                secure_cookie: false,
            },
            max_connections,
            header_read_timeout,
            idle_timeout,
        };
        tokio::spawn(serve_with(listener, ctx, options, std::future::pending()));
        addr
    });
    Server {
        addr,
        state,
        trigger,
        _rt: rt,
    }
}

/// One request; returns (status, head, body).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

#[test]
fn protected_routes_need_a_known_token() {
    let srv = start(64, Duration::from_secs(10));
    for path in ["/", "/api/v1/fleet", "/metrics"] {
        let (st, head, body) = request(srv.addr, "GET", path, &[], "");
        assert_eq!(st, 401, "{path} without a token");
        assert!(
            head.to_ascii_lowercase()
                .contains("www-authenticate: bearer"),
            "{head}"
        );
        assert!(!body.contains(READ_TOKEN));
        let (st, _, _) = request(
            srv.addr,
            "GET",
            path,
            &[("Authorization", "Bearer wrong-token-0123456789")],
            "",
        );
        assert_eq!(st, 401, "{path} with a wrong token");
        let bearer = format!("Bearer {READ_TOKEN}");
        let (st, _, body) = request(srv.addr, "GET", path, &[("Authorization", &bearer)], "");
        assert_eq!(st, 200, "{path} with the read token");
        assert!(!body.contains(READ_TOKEN) && !body.contains(OPERATE_TOKEN));
    }
    let (_, _, body) = request(srv.addr, "GET", "/", &[], "");
    assert!(body.contains("action=\"/login\""), "{body}");
    assert_eq!(request(srv.addr, "GET", "/healthz", &[], "").0, 200);
    assert_ne!(request(srv.addr, "GET", "/readyz", &[], "").0, 401);
    // The webhook stays open to the network but still needs its signature.
    let bearer = format!("Bearer {READ_TOKEN}");
    let (st, _, _) = request(
        srv.addr,
        "POST",
        "/webhook/github",
        &[("Authorization", &bearer), ("X-GitHub-Event", "push")],
        "{}",
    );
    assert!(st == 401 || st == 403, "unsigned webhook answered {st}");
}

#[test]
fn login_sets_a_strict_http_only_cookie_without_the_token() {
    let srv = start(64, Duration::from_secs(10));
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (st, head, body) = request(
        srv.addr,
        "POST",
        "/login",
        &form,
        "token=wrong-token-0123456789",
    );
    assert_eq!(st, 401);
    assert!(!head.to_ascii_lowercase().contains("set-cookie"), "{head}");
    assert!(!body.contains("wrong-token-0123456789"));
    let (st, head, body) = request(
        srv.addr,
        "POST",
        "/login",
        &form,
        &format!("token={READ_TOKEN}"),
    );
    assert_eq!(st, 303, "{head}");
    let cookie_line = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .expect("a Set-Cookie header");
    assert!(
        cookie_line.contains("HttpOnly")
            && cookie_line.contains("SameSite=Strict")
            && cookie_line.contains("Path=/"),
        "{cookie_line}"
    );
    assert!(!head.contains(READ_TOKEN) && !body.contains(READ_TOKEN));
    let cookie = cookie_line
        .split_once(':')
        .unwrap()
        .1
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (st, _, body) = request(srv.addr, "GET", "/", &[("Cookie", &cookie)], "");
    assert_eq!(st, 200);
    assert!(!body.contains(READ_TOKEN));
    let (st, _, _) = request(
        srv.addr,
        "GET",
        "/",
        &[("Cookie", "flotilla_session=00ff")],
        "",
    );
    assert_eq!(st, 401);
}

#[test]
fn excess_connections_are_closed_and_idle_ones_time_out() {
    let srv = start(2, Duration::from_secs(1));
    let a = TcpStream::connect(srv.addr).unwrap();
    let _b = TcpStream::connect(srv.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // The third is over the cap: it is not served (only the probes are,
    // tests/http_limits.rs): 503 or closed, never the fleet.
    let mut c = TcpStream::connect(srv.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = c.write_all(
        format!(
            "GET /api/v1/fleet HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {READ_TOKEN}\r\n\r\n"
        )
        .as_bytes(),
    );
    let mut buf = [0u8; 64];
    match c.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => assert!(
            buf[..n].starts_with(b"HTTP/1.1 503"),
            "the connection over the cap was served: {}",
            String::from_utf8_lossy(&buf[..n])
        ),
    }
    drop(a);
    // The idle connections are closed by the header-read timeout; a fresh
    // /healthz is answered (bounded retries while the slot frees).
    let mut ok = false;
    for _ in 0..50 {
        let mut s = TcpStream::connect(srv.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        if out.starts_with(b"HTTP/1.1 200") {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "/healthz not answered after a slot freed");
    // A connection that sends nothing is closed by the server.
    let mut idle = TcpStream::connect(srv.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    match idle.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("the server sent {n} bytes to a silent client"),
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "a silent connection is still open after 10 s"
        ),
    }
}

#[test]
fn non_loopback_listen_without_auth_exits_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args([
            "serve",
            "--repo",
            "/nonexistent-fleet",
            "--listen",
            "0.0.0.0:0",
        ])
        .env_remove("FLOTILLA_AUTH_TOKEN_FILE")
        .env_remove("FLOTILLA_INSECURE_NO_AUTH")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--auth-token-file") && err.contains("--insecure-no-auth"),
        "{err}"
    );
}

/// The real binary, its stderr collected by a thread; killed on drop.
struct Daemon {
    child: std::process::Child,
    stderr: Arc<std::sync::Mutex<String>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_flotilla"));
        cmd.arg("serve")
            .args(args)
            .stderr(std::process::Stdio::piped());
        cmd.stdout(std::process::Stdio::null());
        cmd.env_remove("FLOTILLA_AUTH_TOKEN_FILE")
            .env_remove("FLOTILLA_INSECURE_NO_AUTH");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut err = child.stderr.take().unwrap();
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Daemon { child, stderr }
    }

    /// The address from the start line, waiting at most 60 s.
    fn addr(&mut self) -> SocketAddr {
        for _ in 0..600 {
            let text = self.stderr.lock().unwrap().clone();
            if let Some(rest) = text.split("flotilla serve: http://").nth(1) {
                let addr = rest.split('/').next().unwrap();
                return addr.parse().unwrap();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the daemon exited ({status}): {text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the daemon did not start: {}", self.stderr.lock().unwrap());
    }
}

#[test]
fn insecure_no_auth_starts_on_a_non_loopback_address() {
    let repo = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(
        &[
            "--repo",
            repo.path().to_str().unwrap(),
            "--listen",
            "0.0.0.0:0",
            "--insecure-no-auth",
        ],
        &[],
    );
    let addr = d.addr();
    let local = SocketAddr::from(([127, 0, 0, 1], addr.port()));
    assert_eq!(request(local, "GET", "/healthz", &[], "").0, 200);
}

#[test]
fn tokens_never_reach_the_daemon_log() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    std::fs::write(&file, format!("{READ_TOKEN}\n{OPERATE_TOKEN} operate\n")).unwrap();
    let mut d = Daemon::start(
        &[
            "--repo",
            dir.path().to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--auth-token-file",
            file.to_str().unwrap(),
        ],
        &[("FLOTILLA_LOG", "trace")],
    );
    let addr = d.addr();
    let bearer = format!("Bearer {READ_TOKEN}");
    for path in ["/", "/api/v1/fleet", "/metrics"] {
        let (st, _, body) = request(addr, "GET", path, &[("Authorization", &bearer)], "");
        assert_eq!(st, 200, "{path}");
        assert!(!body.contains(READ_TOKEN));
        assert_eq!(request(addr, "GET", path, &[], "").0, 401);
    }
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (st, _, _) = request(
        addr,
        "POST",
        "/login",
        &form,
        &format!("token={OPERATE_TOKEN}"),
    );
    assert_eq!(st, 303);
    let (st, _, body) = request(
        addr,
        "POST",
        "/login",
        &form,
        "token=not-a-known-token-0123456789",
    );
    assert_eq!(st, 401);
    assert!(!body.contains("not-a-known-token"));
    drop(request(addr, "GET", "/healthz", &[], ""));
    let log = d.stderr.lock().unwrap().clone();
    assert!(!log.is_empty());
    for secret in [READ_TOKEN, OPERATE_TOKEN, "not-a-known-token-0123456789"] {
        assert!(!log.contains(secret), "a token in the daemon's log: {log}");
    }
}

// ----- operator actions ----------------------------------------------------

/// A fleet of two waves: `eu-1` (canary) synced, `us-1` (rest) halted.
fn halted_fleet() -> FleetState {
    let mut eu = ClusterState::new("eu-1", "canary");
    eu.status = SyncStatus::Failed;
    let mut us = ClusterState::new("us-1", "rest");
    us.status = SyncStatus::Halted;
    let mut s = FleetState {
        fleet: "demo".into(),
        ready: true,
        good_revision: Some("0123456789abcdef0123456789abcdef01234567".into()),
        waves: vec!["canary".into(), "rest".into()],
        clusters: [("eu-1".to_string(), eu), ("us-1".to_string(), us)]
            .into_iter()
            .collect(),
        ..FleetState::default()
    };
    s.rollout.halt = Some("wave \"canary\" failed on cluster eu-1".into());
    s
}

const ACTIONS: [&str; 4] = [
    "/api/v1/rollout/pause",
    "/api/v1/rollout/resume",
    "/api/v1/rollout/retry",
    "/api/v1/clusters/us-1/sync",
];

/// The session cookie (`flotilla_session=...`) of a token.
fn login(addr: SocketAddr, token: &str) -> String {
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let (st, head, _) = request(addr, "POST", "/login", &form, &format!("token={token}"));
    assert_eq!(st, 303, "{head}");
    head.lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().split(';').next().unwrap().to_string())
        .expect("a session cookie")
}

#[test]
fn actions_need_the_operate_role() {
    let srv = start_state(64, Duration::from_secs(10), halted_fleet());
    let read = format!("Bearer {READ_TOKEN}");
    for path in ACTIONS {
        let (st, _, _) = request(srv.addr, "POST", path, &[], "");
        assert_eq!(st, 401, "{path} without a token");
        let (st, _, body) = request(srv.addr, "POST", path, &[("Authorization", &read)], "");
        assert_eq!(st, 403, "{path} with the read token: {body}");
        assert!(body.contains("operate role"), "{body}");
        // The read role's cookie does no better.
        let cookie = login(srv.addr, READ_TOKEN);
        let (st, _, _) = request(srv.addr, "POST", path, &[("Cookie", &cookie)], "");
        assert_eq!(st, 403, "{path} with the read cookie");
        // Only POST.
        let operate = format!("Bearer {OPERATE_TOKEN}");
        let (st, _, _) = request(srv.addr, "GET", path, &[("Authorization", &operate)], "");
        assert_eq!(st, 405, "GET {path}");
    }
    // Nothing was recorded.
    let s = srv.state.read().unwrap();
    assert!(!s.rollout.paused && !s.rollout.round_requested);
    assert!(s.rollout.sync_requested.is_empty());
}

#[test]
fn operate_pauses_resumes_retries_and_syncs() {
    let srv = start_state(64, Duration::from_secs(10), halted_fleet());
    let operate = format!("Bearer {OPERATE_TOKEN}");
    let auth = [("Authorization", operate.as_str())];
    let post = |path: &str| request(srv.addr, "POST", path, &auth, "");
    let woke = |srv: &Server| {
        srv._rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(2), srv.trigger.notified())
                .await
                .is_ok()
        })
    };

    let (st, _, body) = post("/api/v1/rollout/pause");
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("\"paused\":true"), "{body}");
    assert!(srv.state.read().unwrap().rollout.paused);
    // Paused: no retry, no sync now.
    let (st, _, body) = post("/api/v1/rollout/retry");
    assert_eq!(st, 409, "{body}");
    assert!(body.contains("paused"), "{body}");
    let (st, _, _) = post("/api/v1/clusters/us-1/sync");
    assert_eq!(st, 409);
    assert!(srv.state.read().unwrap().rollout.sync_requested.is_empty());

    let (st, _, body) = post("/api/v1/rollout/resume");
    assert_eq!(st, 200, "{body}");
    {
        let s = srv.state.read().unwrap();
        assert!(!s.rollout.paused);
        assert!(s.rollout.round_requested, "resume starts a round");
    }
    assert!(woke(&srv), "resume wakes the reconcile loop");
    srv.state.write().unwrap().rollout.round_requested = false;

    let (st, _, body) = post("/api/v1/rollout/retry");
    assert_eq!(st, 202, "{body}");
    assert!(srv.state.read().unwrap().rollout.round_requested);
    assert!(woke(&srv), "retry wakes the reconcile loop");

    let (st, _, body) = post("/api/v1/clusters/us-1/sync");
    assert_eq!(st, 202, "{body}");
    assert!(
        srv.state
            .read()
            .unwrap()
            .rollout
            .sync_requested
            .contains("us-1")
    );
    assert!(woke(&srv));
    let (st, _, body) = post("/api/v1/clusters/nope/sync");
    assert_eq!(st, 404, "{body}");

    // Nothing failed: nothing to retry.
    {
        let mut s = srv.state.write().unwrap();
        s.rollout.halt = None;
        for c in s.clusters.values_mut() {
            c.status = SyncStatus::Synced;
        }
    }
    let (st, _, body) = post("/api/v1/rollout/retry");
    assert_eq!(st, 409, "{body}");
}

#[test]
fn page_forms_post_with_the_cookie_and_come_back_to_the_page() {
    let srv = start_state(64, Duration::from_secs(10), halted_fleet());
    let cookie = login(srv.addr, OPERATE_TOKEN);
    let form = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let (st, head, _) = request(srv.addr, "POST", "/api/v1/rollout/pause", &form, "");
    assert_eq!(st, 303, "{head}");
    assert!(head.to_ascii_lowercase().contains("location: /"), "{head}");
    assert!(srv.state.read().unwrap().rollout.paused);
    // From another origin, even with the cookie: refused.
    let evil = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", "http://evil.example"),
    ];
    let (st, _, _) = request(srv.addr, "POST", "/api/v1/rollout/resume", &evil, "");
    assert_eq!(st, 403);
    assert!(srv.state.read().unwrap().rollout.paused, "still paused");
    // The page's own origin is fine (the test client sends `Host: x`).
    let same = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", "http://x"),
    ];
    let (st, _, _) = request(srv.addr, "POST", "/api/v1/rollout/resume", &same, "");
    assert_eq!(st, 303);
    assert!(!srv.state.read().unwrap().rollout.paused);
}

#[test]
fn the_page_shows_actions_to_operate_only() {
    let srv = start_state(64, Duration::from_secs(10), halted_fleet());
    let read = format!("Bearer {READ_TOKEN}");
    let (st, _, html) = request(srv.addr, "GET", "/", &[("Authorization", &read)], "");
    assert_eq!(st, 200);
    assert!(html.contains(r#"id="rollout""#), "{html}");
    assert!(html.contains(r#"id="read-only""#), "{html}");
    assert!(!html.contains("/api/v1/rollout/pause"), "{html}");
    assert!(!html.contains("Sync now"), "{html}");
    let operate = format!("Bearer {OPERATE_TOKEN}");
    let (st, head, html) = request(srv.addr, "GET", "/", &[("Authorization", &operate)], "");
    assert_eq!(st, 200);
    assert!(
        html.contains(r#"<form class="inline" method="post" action="/api/v1/rollout/pause">"#),
        "{html}"
    );
    assert!(html.contains(r#"action="/api/v1/rollout/retry""#), "{html}");
    assert!(
        html.contains(r#"action="/api/v1/clusters/us-1/sync""#),
        "{html}"
    );
    assert!(!html.contains(r#"id="read-only""#), "{html}");
    // The forms may post to this server (and nowhere else).
    assert!(head.contains("form-action 'self'"), "{head}");
}

/// Reads from `s` until the peer closes it (or 10 s pass): whether it was
/// closed, and what it sent.
fn read_until_closed(s: &mut TcpStream) -> (bool, String) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    let closed = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                break !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    };
    (closed, String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn healthz_is_answered_while_the_connection_cap_is_saturated() {
    let srv = start_with(2, Duration::from_secs(30), Duration::from_secs(30));
    // A hostile client holds every slot with idle connections.
    let _held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // The liveness probe still gets its answer; nothing else is served.
    let (status, _, body) = request(srv.addr, "GET", "/healthz", &[], "");
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, _, _) = request(srv.addr, "GET", "/readyz", &[], "");
    assert_eq!(status, 503, "not ready yet, but answered");
    let auth = format!("Bearer {READ_TOKEN}");
    let (status, _, body) = request(
        srv.addr,
        "GET",
        "/api/v1/fleet",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("connection limit"), "{body}");
    // The probe slots are bounded too: silent connections over them are
    // closed at once, and the probe slots free within their 2 s header
    // timeout (not the 30 s of the main slots).
    let silent: Vec<TcpStream> = (0..flotilla_hub::http::PROBE_CONNECTIONS)
        .map(|_| TcpStream::connect(srv.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut over = TcpStream::connect(srv.addr).unwrap();
    let _ = over.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let (closed, sent) = read_until_closed(&mut over);
    assert!(closed && sent.is_empty(), "served over every slot: {sent}");
    drop(silent);
    let mut ok = false;
    for _ in 0..50 {
        let mut s = TcpStream::connect(srv.addr).unwrap();
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let (_, sent) = read_until_closed(&mut s);
        if sent.starts_with("HTTP/1.1 200") {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ok, "/healthz not answered once the probe slots freed");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_by_the_idle_timeout() {
    // Headers may take 30 s, but a connection idle for 1 s is closed.
    let srv = start_with(4, Duration::from_secs(30), Duration::from_secs(1));
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (closed, sent) = read_until_closed(&mut s);
    assert!(sent.starts_with("HTTP/1.1 200"), "{sent}");
    assert!(sent.ends_with("ok"), "one keep-alive response: {sent}");
    assert!(
        closed,
        "an idle keep-alive connection is still open after 10 s"
    );
}

#[test]
fn headers_sent_a_byte_at_a_time_are_cut_by_the_header_read_timeout() {
    // Idle for 30 s is allowed, but the headers must arrive within 1 s: a
    // client trickling bytes (never idle) is still cut.
    let srv = start_with(4, Duration::from_secs(1), Duration::from_secs(30));
    let mut s = TcpStream::connect(srv.addr).unwrap();
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: {}",
        "a".repeat(100)
    );
    let mut cut = false;
    for b in head.bytes().take(50) {
        if s.write_all(&[b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (closed, sent) = read_until_closed(&mut s);
    assert!(
        cut || closed,
        "a trickling client kept its connection for 10 s"
    );
    assert!(!sent.contains("200 OK"), "{sent}");
}

/// The documents of a file of deploy/kubernetes.
fn deploy_documents(file: &str) -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/kubernetes")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    flotilla_core::yaml::split_documents(&text)
        .iter()
        .map(|d| flotilla_core::yaml::parse(file, d).unwrap())
        .collect()
}

#[test]
fn deploy_ships_the_token_secret_a_network_policy_and_the_limits() {
    // The Deployment reads its tokens from the Secret (so it may listen on
    // 0.0.0.0).
    let secrets = deploy_documents("secret.yaml");
    let tokens = secrets
        .iter()
        .find(|s| s["metadata"]["name"] == "flotilla-auth-tokens")
        .expect("the token Secret");
    assert_eq!(tokens["kind"], "Secret");
    assert!(
        tokens["stringData"]["tokens"]
            .as_str()
            .unwrap()
            .contains(" read")
    );
    let deployment = &deploy_documents("deployment.yaml")[0];
    let pod = &deployment["spec"]["template"]["spec"];
    let args = pod["containers"][0]["args"].as_array().unwrap();
    let at = args
        .iter()
        .position(|a| a == "--auth-token-file")
        .expect("--auth-token-file");
    assert!(
        args[at + 1]
            .as_str()
            .unwrap()
            .starts_with("/etc/flotilla/auth/")
    );
    assert!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["secret"]["secretName"] == "flotilla-auth-tokens")
    );
    // Ingress to the pod only from namespaces that are let in, and the
    // policy is part of the kustomization.
    let policy = &deploy_documents("networkpolicy.yaml")[0];
    assert_eq!(policy["kind"], "NetworkPolicy");
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
        "flotilla"
    );
    assert_eq!(
        policy["spec"]["policyTypes"],
        serde_json::json!(["Ingress"])
    );
    let kustomization = &deploy_documents("kustomization.yaml")[0];
    assert!(
        kustomization["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "networkpolicy.yaml")
    );
    // The daemon config parses, with the HTTP limits set.
    let cm = &deploy_documents("configmap.yaml")[0];
    let config = flotilla_hub::config::DaemonConfig::parse(
        "flotilla.yaml",
        cm["data"]["flotilla.yaml"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(config.http.max_connections, 1024);
    assert_eq!(config.http.header_read_timeout, Duration::from_secs(10));
    assert_eq!(config.http.idle_timeout, Duration::from_secs(5));
}

// ----- views per tenant ----------------------------------------------------

/// A drifted object of `namespace` (`""`: cluster-scoped).
fn drifted(kind: &str, namespace: &str, name: &str) -> flotilla_core::drift::ObjectDrift {
    use flotilla_core::drift::{DecidedBy, ObjectDrift, ObjectStatus};
    use flotilla_core::model::ObjectKey;
    ObjectDrift {
        key: ObjectKey {
            group: String::new(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        },
        status: ObjectStatus::Missing,
        decided_by: DecidedBy::Presence,
        fields: Vec::new(),
        diff: String::new(),
        note: None,
        taken: Vec::new(),
    }
}

/// `prod-1` (env=prod) and `dev-1` (env=dev), both drifted in `team-a`,
/// `team-a-web`, `platform` and a cluster-scoped object; tenant `team-a`
/// (namespaces `team-a`, `team-a-*`) reaches the prod clusters only.
fn tenant_fleet() -> FleetState {
    use flotilla_core::drift::{ClusterDrift, Detected};
    use flotilla_core::model::LabelSelector;
    use flotilla_core::model::tenancy::Tenant;
    use flotilla_core::model::wildcard::Wildcard;
    let mut s = halted_fleet();
    s.clusters.clear();
    for (name, env) in [("prod-1", "prod"), ("dev-1", "dev")] {
        let mut c = ClusterState::new(name, "canary");
        c.labels.insert("env".into(), env.into());
        c.drift = Some(ClusterDrift::detected(
            name,
            Detected {
                in_sync: 1,
                drifted: vec![
                    drifted("ConfigMap", "team-a", "a-settings"),
                    drifted("Service", "team-a-web", "a-web"),
                    drifted("ConfigMap", "platform", "platform-secret-plan"),
                    drifted("ClusterRole", "", "platform-admin"),
                ],
            },
        ));
        s.clusters.insert(name.into(), c);
    }
    let namespaces = vec!["team-a".to_string(), "team-a-*".to_string()];
    s.tenants = vec![Tenant {
        name: "team-a".into(),
        paths: vec!["teams/a".into()],
        namespace_globs: namespaces
            .iter()
            .map(|n| Wildcard::parse(n).unwrap())
            .collect(),
        namespaces,
        clusters: Some(LabelSelector {
            match_labels: [("env".to_string(), "prod".to_string())].into(),
            match_expressions: Vec::new(),
        }),
        allow_kinds: Vec::new(),
        service_account: None,
    }];
    s
}

#[test]
fn a_tenant_token_sees_only_its_clusters_and_namespaces() {
    let srv = start_state(64, Duration::from_secs(10), tenant_fleet());
    let tenant = format!("Bearer {TENANT_TOKEN}");
    let auth = [("Authorization", tenant.as_str())];

    // The fleet: only the cluster its selector matches, its counts only,
    // and no cluster named by the halt.
    let (st, _, body) = request(srv.addr, "GET", "/api/v1/fleet", &auth, "");
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = v["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["prod-1"], "{body}");
    assert_eq!(v["clusters"][0]["drift"]["missing"], 2, "{body}");
    assert!(
        !body.contains("eu-1"),
        "the halt names another cluster: {body}"
    );

    // Drift: only its namespaces, in every format.
    let (st, _, body) = request(srv.addr, "GET", "/api/v1/clusters/prod-1/drift", &auth, "");
    assert_eq!(st, 200, "{body}");
    assert!(
        body.contains("a-settings") && body.contains("a-web"),
        "{body}"
    );
    assert!(!body.contains("platform-secret-plan"), "{body}");
    assert!(!body.contains("platform-admin"), "{body}");
    let (st, _, text) = request(
        srv.addr,
        "GET",
        "/api/v1/clusters/prod-1/drift?format=text",
        &auth,
        "",
    );
    assert_eq!(st, 200, "{text}");
    assert!(
        text.contains("a-settings") && !text.contains("platform-secret-plan"),
        "{text}"
    );
    // A cluster it may not reach is unknown to it.
    let (st, _, body) = request(srv.addr, "GET", "/api/v1/clusters/dev-1/drift", &auth, "");
    assert_eq!(st, 404, "{body}");

    // The page: its cluster and objects only, and no rollout buttons.
    let cookie = login(srv.addr, TENANT_OPERATE_TOKEN);
    let (st, _, page) = request(srv.addr, "GET", "/", &[("Cookie", &cookie)], "");
    assert_eq!(st, 200);
    assert!(
        page.contains("prod-1") && page.contains("a-settings"),
        "{page}"
    );
    assert!(!page.contains("dev-1"), "{page}");
    assert!(
        !page.contains("platform-secret-plan") && !page.contains("platform-admin"),
        "{page}"
    );
    assert!(!page.contains("/api/v1/rollout/pause"), "{page}");

    // A platform token sees everything.
    let platform = format!("Bearer {READ_TOKEN}");
    let pauth = [("Authorization", platform.as_str())];
    let (_, _, body) = request(srv.addr, "GET", "/api/v1/fleet", &pauth, "");
    assert!(body.contains("prod-1") && body.contains("dev-1"), "{body}");
    let (st, _, body) = request(srv.addr, "GET", "/api/v1/clusters/dev-1/drift", &pauth, "");
    assert_eq!(st, 200, "{body}");
    assert!(
        body.contains("platform-secret-plan") && body.contains("platform-admin"),
        "{body}"
    );
    let (_, _, page) = request(srv.addr, "GET", "/", &pauth, "");
    assert!(
        page.contains("dev-1") && page.contains("platform-secret-plan"),
        "{page}"
    );
}

#[test]
fn a_tenant_token_may_not_steer_the_rollout_nor_sync_other_clusters() {
    let srv = start_state(64, Duration::from_secs(10), tenant_fleet());
    let tenant = format!("Bearer {TENANT_OPERATE_TOKEN}");
    let auth = [("Authorization", tenant.as_str())];
    for path in [
        "/api/v1/rollout/pause",
        "/api/v1/rollout/resume",
        "/api/v1/rollout/retry",
    ] {
        let (st, _, body) = request(srv.addr, "POST", path, &auth, "");
        assert_eq!(st, 403, "{path}: {body}");
        assert!(body.contains("platform token"), "{body}");
    }
    let (st, _, body) = request(srv.addr, "POST", "/api/v1/clusters/dev-1/sync", &auth, "");
    assert_eq!(st, 404, "{body}");
    {
        let s = srv.state.read().unwrap();
        assert!(!s.rollout.paused && !s.rollout.round_requested);
        assert!(s.rollout.sync_requested.is_empty());
    }
    // Its own cluster it may sync.
    let (st, _, body) = request(srv.addr, "POST", "/api/v1/clusters/prod-1/sync", &auth, "");
    assert_eq!(st, 202, "{body}");
    assert!(
        srv.state
            .read()
            .unwrap()
            .rollout
            .sync_requested
            .contains("prod-1")
    );
    // The platform's operate token may pause.
    let platform = format!("Bearer {OPERATE_TOKEN}");
    let (st, _, body) = request(
        srv.addr,
        "POST",
        "/api/v1/rollout/pause",
        &[("Authorization", &platform)],
        "",
    );
    assert_eq!(st, 200, "{body}");
}

#[test]
fn drift_metrics_carry_the_tenant_label() {
    let srv = start_state(64, Duration::from_secs(10), tenant_fleet());
    let platform = format!("Bearer {READ_TOKEN}");
    let (st, _, text) = request(
        srv.addr,
        "GET",
        "/metrics",
        &[("Authorization", &platform)],
        "",
    );
    assert_eq!(st, 200);
    for line in [
        r#"flotilla_drifted_objects{cluster="prod-1",tenant="team-a"} 2"#,
        r#"flotilla_drifted_objects{cluster="prod-1",tenant=""} 2"#,
        r#"flotilla_drifted_objects{cluster="dev-1",tenant=""} 2"#,
        // Counted by namespace, even where the tenant may not deploy.
        r#"flotilla_drifted_objects{cluster="dev-1",tenant="team-a"} 2"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
    }
    // The gauges follow the state: the drift corrected on prod-1.
    srv.state
        .write()
        .unwrap()
        .clusters
        .get_mut("prod-1")
        .unwrap()
        .drift = None;
    let (_, _, text) = request(
        srv.addr,
        "GET",
        "/metrics",
        &[("Authorization", &platform)],
        "",
    );
    for line in [
        r#"flotilla_drifted_objects{cluster="prod-1",tenant="team-a"} 0"#,
        r#"flotilla_drifted_objects{cluster="prod-1",tenant=""} 0"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
    }
}

#[test]
fn a_tenant_token_may_not_read_the_metrics_of_every_tenant() {
    let srv = start_state(64, Duration::from_secs(10), tenant_fleet());
    let tenant = format!("Bearer {TENANT_TOKEN}");
    let (st, _, body) = request(
        srv.addr,
        "GET",
        "/metrics",
        &[("Authorization", &tenant)],
        "",
    );
    assert_eq!(st, 403, "{body}");
    assert!(!body.contains("flotilla_drifted_objects"), "{body}");
    assert!(body.contains("without tenant="), "{body}");
    // The same daemon serves them to the platform's read token.
    let platform = format!("Bearer {READ_TOKEN}");
    let (st, _, text) = request(
        srv.addr,
        "GET",
        "/metrics",
        &[("Authorization", &platform)],
        "",
    );
    assert_eq!(st, 200);
    assert!(text.contains("flotilla_drifted_objects{"), "{text}");
}

#[test]
fn a_token_of_an_unknown_tenant_sees_no_cluster() {
    let mut state = tenant_fleet();
    state.tenants.clear();
    let srv = start_state(64, Duration::from_secs(10), state);
    let tenant = format!("Bearer {TENANT_TOKEN}");
    let (st, _, body) = request(
        srv.addr,
        "GET",
        "/api/v1/fleet",
        &[("Authorization", &tenant)],
        "",
    );
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["clusters"].as_array().unwrap().len(), 0, "{body}");
}
