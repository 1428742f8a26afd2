//! The daemon's HTTP layer (`flotilla_hub::http`) over a real socket on
//! 127.0.0.1: probes, metrics, the JSON API, the webhooks, the status page,
//! and the page as headless Chromium renders it.
//!
//! Requests go through the shared HTTP/1.1 client (`tests/support/http.rs`,
//! every read and write bounded by a timeout); each test starts its own
//! server with a fabricated fleet of two clusters: `eu-1`, drifted (a
//! modified Deployment with a field diff and a unified diff, a missing
//! ConfigMap), and `us-1`, synced and in sync.

mod support;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use flotilla_core::changeset::{Action, ChangeSet};
use flotilla_core::diff::live::FieldDiff;
use flotilla_core::diff::unified_diff;
use flotilla_core::drift::{ClusterDrift, DecidedBy, Detected, ObjectDrift, ObjectStatus};
use flotilla_core::health::HealthStatus;
use flotilla_core::model::ObjectKey;
use flotilla_core::snapshot::CommitInfo;
use flotilla_hub::http::auth::{AuthConfig, Tokens};
use flotilla_hub::http::{
    HttpContext, HttpOptions, WEBHOOK_BODY_LIMIT, WebhookConfig, serve, serve_with,
};
use flotilla_hub::metrics::Metrics;
use flotilla_hub::state::{ClusterState, FleetState, SharedState, SyncStatus};
use serde_json::{Value, json};
use support::http::{Resp, github_signature, request};
use tokio::sync::{Notify, oneshot};

// ----- fixtures --------------------------------------------------------------

const GITHUB_SECRET: &str = "gh-secret-do-not-log";
const GITLAB_TOKEN: &str = "gl-token-do-not-log";
const GOOD: &str = "0123456789abcdef0123456789abcdef01234567";
const SEEN: &str = "fedcba9876543210fedcba9876543210fedcba98";

/// A fixed point in time, so JSON times are predictable.
fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn key(group: &str, kind: &str, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        group: group.into(),
        kind: kind.into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}

/// `eu-1`: a Deployment scaled by hand (replicas 5 live, 3 in Git) and a
/// ConfigMap deleted by hand. `us-1`: synced, in sync.
fn fleet_state() -> FleetState {
    let deployment = key("apps", "Deployment", "shop", "web");
    let live = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 5\n";
    let desired = live.replace("replicas: 5", "replicas: 3");
    let drifted = ClusterDrift::detected(
        "eu-1",
        Detected {
            in_sync: 4,
            drifted: vec![
                ObjectDrift {
                    key: deployment.clone(),
                    status: ObjectStatus::Modified,
                    decided_by: DecidedBy::DryRun,
                    fields: vec![FieldDiff {
                        path: "/spec/replicas".into(),
                        desired: json!(3),
                        live: json!(5),
                    }],
                    diff: unified_diff(live, &desired, "live", "desired"),
                    note: None,
                    taken: Vec::new(),
                },
                ObjectDrift {
                    key: key("", "ConfigMap", "shop", "web-config"),
                    status: ObjectStatus::Missing,
                    decided_by: DecidedBy::Presence,
                    fields: Vec::new(),
                    diff: String::new(),
                    note: None,
                    taken: Vec::new(),
                },
            ],
        },
    );
    let mut eu = ClusterState::new("eu-1", "canary");
    eu.labels = [("region".to_string(), "eu".to_string())].into();
    eu.revision = Some(GOOD.into());
    eu.status = SyncStatus::Synced;
    eu.health = HealthStatus::Healthy;
    eu.drift = Some(drifted);
    eu.drift_since = Some(at(1_700_000_100));
    eu.last_success = Some(at(1_700_000_000));
    let mut sync = ChangeSet::new("eu-1", false);
    sync.push(deployment, Action::Configured, None);
    sync.push(key("", "Namespace", "", "shop"), Action::Unchanged, None);
    eu.last_sync = Some(sync.into());

    let mut us = ClusterState::new("us-1", "prod");
    us.revision = Some(GOOD.into());
    us.status = SyncStatus::Synced;
    us.health = HealthStatus::Healthy;
    us.drift = Some(ClusterDrift::detected(
        "us-1",
        Detected {
            in_sync: 6,
            drifted: Vec::new(),
        },
    ));
    us.last_success = Some(at(1_700_000_050));
    let mut sync = ChangeSet::new("us-1", false);
    sync.push(key("", "Namespace", "", "shop"), Action::Created, None);
    us.last_sync = Some(sync.into());

    FleetState {
        fleet: "demo".into(),
        seen_revision: Some(SEEN.into()),
        good_revision: Some(GOOD.into()),
        commit_error: None,
        git_error: None,
        last_poll: Some(at(1_700_000_200)),
        clusters: [("eu-1".to_string(), eu), ("us-1".to_string(), us)]
            .into_iter()
            .collect(),
        ready: true,
        commit: Some(CommitInfo {
            summary: "Scale the web shop to 3 replicas".into(),
            author: "Ada Operator".into(),
        }),
        waves: vec!["canary".into(), "prod".into()],
        ..FleetState::default()
    }
}

fn webhooks(branch: Option<&str>) -> WebhookConfig {
    WebhookConfig {
        github_secret: Some(GITHUB_SECRET.into()),
        gitlab_token: Some(GITLAB_TOKEN.into()),
        branch: branch.map(str::to_string),
    }
}

/// A server on 127.0.0.1, stopped (gracefully) when dropped.
struct Server {
    addr: SocketAddr,
    state: SharedState,
    trigger: Arc<Notify>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    async fn start(state: FleetState, webhook: WebhookConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(RwLock::new(state));
        let trigger = Arc::new(Notify::new());
        let ctx = HttpContext {
            state: state.clone(),
            metrics: Arc::new(Metrics::default()),
            webhook,
            trigger: trigger.clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, ctx, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            state,
            trigger,
            stop: Some(stop),
            task: Some(task),
        }
    }

    async fn default() -> Self {
        Self::start(fleet_state(), webhooks(None)).await
    }

    async fn get(&self, path: &str) -> Resp {
        request(&self.addr.to_string(), "GET", path, &[], b"")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        request(&self.addr.to_string(), "POST", path, headers, body)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Whether the webhook trigger was notified (a stored permit counts),
    /// waiting at most `wait`.
    async fn triggered(&self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.trigger.notified())
            .await
            .is_ok()
    }

    /// Stops the server and waits (bounded) for `serve` to return.
    async fn shutdown(mut self) -> std::io::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("serve did not return within 10 s of shutdown")
            .expect("serve panicked")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

const SOON: Duration = Duration::from_secs(5);
const NOT_AT_ALL: Duration = Duration::from_millis(200);

// ----- probes and metrics ----------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn healthz_is_ok() {
    let s = Server::default().await;
    let r = s.get("/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_503_before_the_first_commit_and_200_after() {
    let s = Server::start(FleetState::default(), webhooks(None)).await;
    let r = s.get("/readyz").await;
    assert_eq!(r.status, 503);
    assert!(r.text().contains("not ready"), "{}", r.text());

    s.state.write().unwrap().git_error = Some("connection refused".into());
    let r = s.get("/readyz").await;
    assert_eq!(r.status, 503);
    assert!(r.text().contains("connection refused"), "{}", r.text());

    {
        let mut st = s.state.write().unwrap();
        st.git_error = None;
        st.ready = true;
    }
    let r = s.get("/readyz").await;
    assert_eq!(r.status, 200);
    // Liveness does not depend on readiness.
    assert_eq!(s.get("/healthz").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_mirror_drift_in_openmetrics_text() {
    let s = Server::default().await;
    let r = s.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = r.text();
    assert!(
        text.contains("# TYPE flotilla_drifted_objects gauge"),
        "{text}"
    );
    assert!(
        text.contains(r#"flotilla_drifted_objects{cluster="eu-1",tenant=""} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"flotilla_drifted_objects{cluster="us-1",tenant=""} 0"#),
        "{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"), "{text}");

    // The gauges follow the state: drift corrected, a cluster removed.
    {
        let mut st = s.state.write().unwrap();
        st.clusters.remove("us-1");
        st.clusters.get_mut("eu-1").unwrap().drift = None;
    }
    let text = s.get("/metrics").await.text();
    assert!(
        text.contains(r#"flotilla_drifted_objects{cluster="eu-1",tenant=""} 0"#),
        "{text}"
    );
    assert!(!text.contains(r#"cluster="us-1""#), "{text}");
}

// ----- JSON API --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn fleet_api_has_one_row_per_cluster() {
    let s = Server::default().await;
    let r = s.get("/api/v1/fleet").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["fleet"], "demo");
    assert_eq!(v["ready"], true);
    assert_eq!(v["seenRevision"], SEEN);
    assert_eq!(v["goodRevision"], GOOD);
    assert_eq!(v["commitError"], Value::Null);
    assert_eq!(v["gitError"], Value::Null);
    assert_eq!(v["lastPoll"], 1_700_000_200);
    let rows = v["clusters"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0],
        json!({
            "name": "eu-1",
            "wave": "canary",
            "revision": GOOD,
            "status": "Synced",
            "health": "Healthy",
            "healthJudged": true,
            "labels": {"region": "eu"},
            "drift": {"status": "Drifted", "inSync": 4, "modified": 1, "missing": 1, "toBePruned": 0},
            "driftSince": 1_700_000_100,
            "lastSuccess": 1_700_000_000,
            "lastError": null,
            "lastSync": {"dryRun": false, "created": 0, "configured": 1, "unchanged": 1,
                         "pruned": 0, "skipped": 0, "failed": 0},
        })
    );
    assert_eq!(rows[1]["name"], "us-1");
    assert_eq!(
        rows[1]["drift"],
        json!({"status": "InSync", "inSync": 6, "modified": 0, "missing": 0, "toBePruned": 0})
    );
    assert_eq!(rows[1]["driftSince"], Value::Null);
    assert_eq!(rows[1]["lastSync"]["created"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_api_as_json() {
    let s = Server::default().await;
    let r = s.get("/api/v1/clusters/eu-1/drift").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["cluster"], "eu-1");
    assert_eq!(v["status"], "Drifted");
    assert_eq!(v["inSync"], 4);
    assert_eq!(v["modified"], 1);
    assert_eq!(v["missing"], 1);
    assert_eq!(v["toBePruned"], 0);
    let o = &v["objects"][0];
    assert_eq!(o["status"], "Modified");
    assert_eq!(o["decidedBy"], "dryRun");
    assert_eq!(o["key"]["kind"], "Deployment");
    assert_eq!(
        o["fields"],
        json!([{"path": "/spec/replicas", "desired": 3, "live": 5}])
    );
    let diff = o["diff"].as_str().unwrap();
    assert!(diff.contains("-  replicas: 5"), "{diff}");
    assert!(diff.contains("+  replicas: 3"), "{diff}");
    assert_eq!(v["objects"][1]["status"], "Missing");

    let v = s
        .get("/api/v1/clusters/us-1/drift?format=json")
        .await
        .json();
    assert_eq!(v["status"], "InSync");
    assert_eq!(v["objects"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_api_as_text_and_markdown() {
    let s = Server::default().await;
    let r = s.get("/api/v1/clusters/eu-1/drift?format=text").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let text = r.text();
    assert!(
        text.starts_with(&format!("Drift of fleet demo at {GOOD}")),
        "{text}"
    );
    assert!(
        text.contains("eu-1: Drifted (4 in sync, 1 modified, 1 missing, 0 to be pruned)"),
        "{text}"
    );
    assert!(
        text.contains("modified Deployment.apps shop/web (decided by server dry run)"),
        "{text}"
    );
    assert!(text.contains("/spec/replicas: desired 3, live 5"), "{text}");
    assert!(text.contains("+  replicas: 3"), "the diff: {text}");
    assert!(!text.contains("us-1"), "one cluster only: {text}");

    let r = s.get("/api/v1/clusters/eu-1/drift?format=markdown").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/markdown; charset=utf-8")
    );
    let md = r.text();
    assert!(md.contains("| `eu-1` | Drifted | 4 | 1 | 1 | 0 |"), "{md}");
    assert!(
        md.contains("- `/spec/replicas`: desired `3`, live `5`"),
        "{md}"
    );
    assert!(md.contains("```diff"), "{md}");
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_api_errors() {
    let s = Server::default().await;
    let r = s.get("/api/v1/clusters/nope/drift").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"error": "unknown cluster \"nope\""}));

    let r = s.get("/api/v1/clusters/nope/drift?format=text").await;
    assert_eq!(r.status, 404);

    s.state
        .write()
        .unwrap()
        .clusters
        .get_mut("us-1")
        .unwrap()
        .drift = None;
    let r = s.get("/api/v1/clusters/us-1/drift").await;
    assert_eq!(r.status, 404);
    let err = r.json()["error"].as_str().unwrap().to_string();
    assert!(err.contains("not been checked for drift yet"), "{err}");

    let r = s.get("/api/v1/clusters/eu-1/drift?format=yaml").await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("unknown format")
    );

    assert_eq!(s.get("/api/v1/nothing").await.status, 404);
}

// ----- GitHub webhook --------------------------------------------------------

fn push_body(git_ref: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({"ref": git_ref, "after": GOOD, "repository": {"name": "fleet"}}))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn github_push_with_a_good_signature_triggers() {
    let s = Server::start(fleet_state(), webhooks(Some("main"))).await;
    let body = push_body("refs/heads/main");
    let sig = github_signature(GITHUB_SECRET, &body);
    let r = s
        .post(
            "/webhook/github",
            &[
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", &sig),
                ("Content-Type", "application/json"),
            ],
            &body,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["status"], "triggered");
    assert!(s.triggered(SOON).await, "the trigger did not fire");
    assert!(!r.text().contains(GITHUB_SECRET));
}

#[tokio::test(flavor = "multi_thread")]
async fn github_bad_or_missing_signature_is_401_and_does_not_trigger() {
    let s = Server::default().await;
    let body = push_body("refs/heads/main");
    let wrong = github_signature("another secret", &body);
    let tampered = github_signature(GITHUB_SECRET, b"{\"ref\":\"refs/heads/x\"}");
    for sig in [
        wrong.as_str(),
        tampered.as_str(),
        "sha256=zz",
        "sha1=abcd",
        "",
    ] {
        let r = s
            .post(
                "/webhook/github",
                &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", sig)],
                &body,
            )
            .await;
        assert_eq!(r.status, 401, "signature {sig:?}: {}", r.text());
        assert_eq!(r.json()["error"], "bad signature");
    }
    let r = s
        .post("/webhook/github", &[("X-GitHub-Event", "push")], &body)
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "missing X-Hub-Signature-256");
    assert!(
        !s.triggered(NOT_AT_ALL).await,
        "a rejected webhook triggered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn github_ping_other_events_and_other_branches() {
    let s = Server::start(fleet_state(), webhooks(Some("main"))).await;
    let signed = |body: &[u8]| github_signature(GITHUB_SECRET, body);

    let body = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let r = s
        .post(
            "/webhook/github",
            &[
                ("X-GitHub-Event", "ping"),
                ("X-Hub-Signature-256", &signed(body)),
            ],
            body,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"status": "pong"}));

    let body = push_body("refs/heads/feature");
    let r = s
        .post(
            "/webhook/github",
            &[
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", &signed(&body)),
            ],
            &body,
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["status"], "ignored");
    assert_eq!(
        r.json()["reason"],
        "push to refs/heads/feature; following main"
    );

    let body = br#"{"action":"opened"}"#;
    let r = s
        .post(
            "/webhook/github",
            &[
                ("X-GitHub-Event", "pull_request"),
                ("X-Hub-Signature-256", &signed(body)),
            ],
            body,
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["status"], "ignored");

    // A push body that is not JSON cannot be matched against the branch.
    let body = b"payload=%7B%7D";
    let r = s
        .post(
            "/webhook/github",
            &[
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", &signed(body)),
            ],
            body,
        )
        .await;
    assert_eq!(r.status, 400);

    assert!(!s.triggered(NOT_AT_ALL).await, "nothing here may trigger");
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_without_a_secret_are_403() {
    let s = Server::start(fleet_state(), WebhookConfig::default()).await;
    let body = push_body("refs/heads/main");
    let sig = github_signature("", &body);
    let r = s
        .post(
            "/webhook/github",
            &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &sig)],
            &body,
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "webhook not configured");
    let r = s
        .post(
            "/webhook/gitlab",
            &[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", "")],
            &body,
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(!s.triggered(NOT_AT_ALL).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_bodies_are_limited() {
    let s = Server::default().await;
    let body = vec![b' '; WEBHOOK_BODY_LIMIT + 1];
    let sig = github_signature(GITHUB_SECRET, &body);
    let r = s
        .post(
            "/webhook/github",
            &[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", &sig)],
            &body,
        )
        .await;
    assert_eq!(r.status, 413);
    assert!(!s.triggered(NOT_AT_ALL).await);
}

// ----- GitLab webhook --------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_push_with_the_token_triggers() {
    let s = Server::start(fleet_state(), webhooks(Some("main"))).await;
    let body = push_body("refs/heads/main");
    let r = s
        .post(
            "/webhook/gitlab",
            &[
                ("X-Gitlab-Event", "Push Hook"),
                ("X-Gitlab-Token", GITLAB_TOKEN),
            ],
            &body,
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!(r.json()["status"], "triggered");
    assert!(s.triggered(SOON).await, "the trigger did not fire");

    let body = push_body("refs/heads/other");
    let r = s
        .post(
            "/webhook/gitlab",
            &[
                ("X-Gitlab-Event", "Push Hook"),
                ("X-Gitlab-Token", GITLAB_TOKEN),
            ],
            &body,
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["status"], "ignored");

    let r = s
        .post(
            "/webhook/gitlab",
            &[
                ("X-Gitlab-Event", "Issue Hook"),
                ("X-Gitlab-Token", GITLAB_TOKEN),
            ],
            b"{}",
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.json()["status"], "ignored");
    assert!(!s.triggered(NOT_AT_ALL).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn gitlab_wrong_or_missing_token_is_401() {
    let s = Server::default().await;
    let body = push_body("refs/heads/main");
    for token in ["wrong", "gl-token-do-not-lo", "gl-token-do-not-logX", ""] {
        let r = s
            .post(
                "/webhook/gitlab",
                &[("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", token)],
                &body,
            )
            .await;
        assert_eq!(r.status, 401, "token {token:?}");
        assert_eq!(r.json()["error"], "bad token");
    }
    let r = s
        .post("/webhook/gitlab", &[("X-Gitlab-Event", "Push Hook")], &body)
        .await;
    assert_eq!(r.status, 401);
    assert!(!s.triggered(NOT_AT_ALL).await);
}

#[test]
fn webhook_config_debug_hides_secrets() {
    let d = format!("{:?}", webhooks(Some("main")));
    assert!(
        !d.contains(GITHUB_SECRET) && !d.contains(GITLAB_TOKEN),
        "{d}"
    );
    assert!(d.contains("<set>") && d.contains("main"), "{d}");
}

// ----- status page -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn status_page_shows_the_matrix_and_the_drift() {
    let s = Server::default().await;
    let r = s.get("/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(
        r.header("content-security-policy")
            .is_some_and(|c| c.contains("default-src 'none'"))
    );
    let html = r.text();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(r#"<meta http-equiv="refresh" content="10">"#));
    assert!(html.contains(r#"<table id="matrix">"#));
    assert!(html.contains(r#"<tr id="cluster-eu-1">"#));
    assert!(html.contains(r#"<tr id="cluster-us-1">"#));
    assert!(html.contains(&GOOD[..7]));
    assert!(html.contains(r#"<details open id="drift-eu-1">"#));
    assert!(!html.contains(r#"id="drift-us-1""#), "us-1 is in sync");
    // The page says what the CLI says: the drift report's words.
    assert!(
        html.contains(r#"<span class="badge warn">Drifted</span>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="badge ok">InSync</span>"#),
        "{html}"
    );
    assert!(
        html.contains("4 in sync, 1 modified, 1 missing, 0 to be pruned"),
        "{html}"
    );
    assert!(!html.contains(">drifted<") && !html.contains(">in sync<"));
    assert!(html.contains("<code>/spec/replicas</code>"));
    assert!(html.contains(r#"<span class="add">+  replicas: 3</span>"#));
    assert!(html.contains(r#"<span class="del">-  replicas: 5</span>"#));
    assert!(!html.contains("<script"), "no JavaScript");
}

/// A rollout halted in its first wave: the canary on the new commit and
/// failed, the rest halted on the old one.
fn halted_state() -> FleetState {
    let mut s = fleet_state();
    let eu = s.clusters.get_mut("eu-1").unwrap();
    eu.status = SyncStatus::Failed;
    eu.last_error = Some("apply failed".into());
    for name in ["us-1", "us-2", "us-3"] {
        let mut c = ClusterState::new(name, "prod");
        c.revision = Some(SEEN.into());
        c.status = SyncStatus::Halted;
        c.health = HealthStatus::Healthy;
        c.health_judged = name != "us-3";
        s.clusters.insert(name.into(), c);
    }
    s.rollout.halt = Some("wave \"canary\" failed on cluster eu-1".into());
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn status_page_header_says_where_the_rollout_stands() {
    let s = Server::start(halted_state(), webhooks(None)).await;
    let html = s.get("/").await.text();
    // Never "rolled out" while most clusters are on another commit.
    assert!(!html.contains("Rolled-out"), "{html}");
    assert!(
        html.contains(r#"<h2>Rollout <span class="badge bad">Halted</span></h2>"#),
        "{html}"
    );
    assert!(
        html.contains("<b>Halted:</b> wave &quot;canary&quot; failed on cluster eu-1"),
        "{html}"
    );
    assert!(
        html.contains(r#"<span id="on-target">1 of 4 clusters on it</span>"#),
        "{html}"
    );
    assert!(html.contains("Scale the web shop to 3 replicas"), "{html}");
    assert!(
        html.contains(r#"by <span class="author">Ada Operator</span>"#),
        "{html}"
    );
    // Revisions per wave: the prod wave is all on the old commit.
    let prod = html.split(r#"<tr id="wave-prod">"#).nth(1).unwrap();
    let prod = prod.split("</tr>").next().unwrap();
    assert!(
        prod.contains(&format!(
            r#"<code title="{SEEN}">{}</code></span> ×3"#,
            &SEEN[..7]
        )),
        "{prod}"
    );
    assert!(
        prod.contains(r#"3 <span class="badge warn">Halted</span>"#),
        "{prod}"
    );
    // Clusters grouped by wave, in rollout order.
    let canary = html.find(r#"id="wave-group-canary""#).unwrap();
    let prod = html.find(r#"id="wave-group-prod""#).unwrap();
    let eu = html.find(r#"<tr id="cluster-eu-1">"#).unwrap();
    let us = html.find(r#"<tr id="cluster-us-1">"#).unwrap();
    assert!(canary < eu && eu < prod && prod < us, "{html}");
    // Labels, and no health judged where there is no status.
    assert!(
        html.contains(r#"<span class="label">region=eu</span>"#),
        "{html}"
    );
    let us3 = html.split(r#"<tr id="cluster-us-3">"#).nth(1).unwrap();
    let us3 = us3.split("</tr>").next().unwrap();
    assert!(
        us3.contains(">not judged</span>") && !us3.contains(">Healthy<"),
        "{us3}"
    );
    // No auth: the operate role; a halted rollout can be retried.
    assert!(
        html.contains(r#"action="/api/v1/rollout/retry"><button type="submit" class="danger">"#),
        "{html}"
    );

    // Paused.
    s.state.write().unwrap().rollout.paused = true;
    let html = s.get("/").await.text();
    assert!(
        html.contains(r#"<h2>Rollout <span class="badge warn">Paused</span></h2>"#),
        "{html}"
    );
    assert!(html.contains(r#"id="paused""#), "{html}");
    assert!(
        html.contains(r#"action="/api/v1/rollout/resume""#),
        "{html}"
    );
    assert!(
        !html.contains(r#"action="/api/v1/rollout/pause""#),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fleet_api_has_the_rollout_and_commit() {
    let s = Server::start(halted_state(), webhooks(None)).await;
    let v = s.get("/api/v1/fleet").await.json();
    assert_eq!(v["commit"]["summary"], "Scale the web shop to 3 replicas");
    assert_eq!(v["commit"]["author"], "Ada Operator");
    assert_eq!(v["waves"], json!(["canary", "prod"]));
    assert_eq!(v["paused"], false);
    assert_eq!(v["halt"], "wave \"canary\" failed on cluster eu-1");
    let eu = v["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "eu-1")
        .unwrap();
    assert_eq!(eu["labels"], json!({"region": "eu"}));
    assert_eq!(eu["healthJudged"], true);
    let us3 = v["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "us-3")
        .unwrap();
    assert_eq!(us3["healthJudged"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_page_escapes_what_it_shows() {
    let mut state = fleet_state();
    state.fleet = "demo & <co>".into();
    state.commit = Some(CommitInfo {
        summary: "<img src=x onerror=alert(1)>".into(),
        author: "Eve <eve@example>".into(),
    });
    state.commit_error = Some("fleet.yaml: bad 'value' \"x\"".into());
    state.clusters.get_mut("us-1").unwrap().last_error =
        Some(r#"<script>alert("owned")</script>"#.into());
    let s = Server::start(state, webhooks(None)).await;
    let html = s.get("/").await.text();
    assert!(!html.contains("<script"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("demo &amp; &lt;co&gt;"));
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{html}"
    );
    assert!(html.contains("bad &#39;value&#39; &quot;x&quot;"));
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_stops_gracefully() {
    let s = Server::default().await;
    let addr = s.addr;
    assert_eq!(s.get("/healthz").await.status, 200);
    s.shutdown().await.expect("serve returns Ok");
    let refused = tokio::task::spawn_blocking(move || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err()
    })
    .await
    .unwrap();
    assert!(refused, "the listener is closed after shutdown");
}

// ----- the page in a real browser --------------------------------------------

/// The most a Chromium run may take before it is killed.
const CHROMIUM_LIMIT: Duration = Duration::from_secs(60);

/// Runs headless Chromium with `args` then `url`; its stdout. Panics if
/// Chromium is not installed, fails, or outlives [`CHROMIUM_LIMIT`].
fn chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `chromium` ({e}): install Debian's chromium package \
                 (`apt-get install -y chromium`); CI installs it in .ci/run"
            )
        });
    // Read the pipes on threads so a chatty Chromium cannot block on them.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > CHROMIUM_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    match status {
        None => panic!("chromium did not finish within {CHROMIUM_LIMIT:?}; stderr:\n{err}"),
        Some(s) if !s.success() => panic!("chromium failed ({s}); stderr:\n{err}"),
        Some(_) => out,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_renders_the_status_page() {
    let s = Server::default().await;
    let url = format!("http://{}/", s.addr);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let (dom, png) = tokio::task::spawn_blocking(move || {
        let dom = chromium(&dir.join("profile-dom"), &["--dump-dom"], &url);
        let png = dir.join("page.png");
        chromium(
            &dir.join("profile-shot"),
            &[
                &format!("--screenshot={}", png.display()),
                "--window-size=1200,800",
                "--hide-scrollbars",
            ],
            &url,
        );
        (dom, png)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));

    assert!(dom.contains(r#"<table id="matrix">"#), "{dom}");
    assert!(dom.contains("eu-1") && dom.contains("us-1"), "{dom}");
    assert!(dom.contains("/spec/replicas"), "{dom}");
    assert!(dom.contains("Deployment.apps shop/web"), "{dom}");
    // The rollout header: where it stands, the commit and its author.
    assert!(
        dom.contains(r#"<section class="rollout" id="rollout">"#),
        "{dom}"
    );
    assert!(
        dom.contains(r#"<span class="badge ok">Complete</span>"#),
        "{dom}"
    );
    assert!(dom.contains("Scale the web shop to 3 replicas"), "{dom}");
    assert!(dom.contains("Ada Operator"), "{dom}");
    assert!(dom.contains(r#"<tr id="wave-canary">"#) && dom.contains(r#"<tr id="wave-prod">"#));
    // Clusters grouped by wave, canary first.
    let canary = dom
        .find(r#"id="wave-group-canary""#)
        .expect("a canary group");
    let prod = dom.find(r#"id="wave-group-prod""#).expect("a prod group");
    let eu = dom.find(r#"id="cluster-eu-1""#).unwrap();
    let us = dom.find(r#"id="cluster-us-1""#).unwrap();
    assert!(canary < eu && eu < prod && prod < us, "{dom}");
    // No token configured: the operate role, with its buttons.
    assert!(
        dom.contains("Pause rollout") && dom.contains("Sync now"),
        "{dom}"
    );
    assert!(!dom.contains(r#"id="read-only""#), "{dom}");

    let size = std::fs::metadata(&png)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", png.display()))
        .len();
    assert!(size > 0, "the screenshot is empty");
    let mut magic = [0u8; 8];
    std::fs::File::open(&png)
        .unwrap()
        .read_exact(&mut magic)
        .unwrap();
    assert_eq!(&magic, b"\x89PNG\r\n\x1a\n", "the screenshot is a PNG");
    // Keep a copy to look at, when asked to.
    if let Ok(keep) = std::env::var("FLOTILLA_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}

/// The page as a read-only viewer gets it (fetched with the read token,
/// then opened by Chromium): the header and waves, no action.
#[tokio::test(flavor = "multi_thread")]
async fn chromium_renders_the_read_only_page_without_actions() {
    const READ: &str = "read-token-for-the-page-0123";
    const OPERATE: &str = "operate-token-for-the-page-0123";
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let ctx = HttpContext {
        state: Arc::new(RwLock::new(fleet_state())),
        metrics: Arc::new(Metrics::default()),
        webhook: webhooks(None),
        trigger: Arc::new(Notify::new()),
    };
    let tokens = Tokens::parse("t", &format!("{READ}\n{OPERATE} operate\n")).unwrap();
    let options = HttpOptions {
        auth: AuthConfig {
            tokens: Some(Arc::new(RwLock::new(tokens))),
            secure_cookie: false,
        },
        ..HttpOptions::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_with(listener, ctx, options, async move {
        let _ = stopped.await;
    }));
    let page = |token: &'static str| {
        let addr = addr.clone();
        async move {
            let r = request(
                &addr,
                "GET",
                "/",
                &[("Authorization", &format!("Bearer {token}"))],
                b"",
            )
            .await
            .unwrap();
            assert_eq!(r.status, 200);
            r.text()
        }
    };
    let (read, operate) = (page(READ).await, page(OPERATE).await);
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::write(dir.join("read.html"), &read).unwrap();
    std::fs::write(dir.join("operate.html"), &operate).unwrap();
    let (read_dom, operate_dom) = tokio::task::spawn_blocking(move || {
        let url = |f: &str| format!("file://{}", dir.join(f).display());
        (
            chromium(
                &dir.join("profile-read"),
                &["--dump-dom"],
                &url("read.html"),
            ),
            chromium(
                &dir.join("profile-operate"),
                &["--dump-dom"],
                &url("operate.html"),
            ),
        )
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    for dom in [&read_dom, &operate_dom] {
        assert!(dom.contains(r#"id="rollout""#), "{dom}");
        assert!(dom.contains(r#"id="wave-group-canary""#), "{dom}");
    }
    assert!(read_dom.contains(r#"id="read-only""#), "{read_dom}");
    assert!(!read_dom.contains("<button"), "{read_dom}");
    assert!(!read_dom.contains("/api/v1/rollout/"), "{read_dom}");
    assert!(operate_dom.contains("Pause rollout"), "{operate_dom}");
    assert!(
        operate_dom.contains(r#"action="/api/v1/clusters/eu-1/sync""#),
        "{operate_dom}"
    );
    assert!(
        !read.contains(READ) && !operate.contains(OPERATE),
        "no token in the page"
    );
}
