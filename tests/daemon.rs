//! End-to-end tests of the daemon: the real `flotilla serve` binary as a
//! child process, against test API servers running in the test, reading a
//! fleet repository over `file://`, observed through its HTTP API.
//!
//! Every test starts its own servers, repository and daemon (killed on
//! drop), uses short intervals (poll 1 s, reconcile 2 s, health timeout
//! 5 s) and bounds every wait.

mod daemon_support;
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use daemon_support::*;
use serde_json::Value;

/// The longest a convergence may take in these tests (they take seconds).
const CONVERGE: Duration = Duration::from_secs(60);

/// An app with `replicas` and a note (so a commit changes every object).
fn app(replicas: u32, note: &str) -> App {
    App {
        note: note.into(),
        ..App::small(replicas)
    }
}

/// One cluster, one wave, no health gate.
fn single(name: &str) -> FleetLayout {
    FleetLayout {
        canary: Vec::new(),
        rest: vec![name.into()],
        health_gate: false,
    }
}

/// Asserts the app objects are on `cluster` with `replicas` and that its
/// inventory lists exactly them.
fn assert_app_on(clusters: &Clusters, cluster: &str, replicas: i64, note: &str) {
    let s = clusters.server(cluster);
    assert!(
        s.get("", "v1", "namespaces", None, APP_NS).is_some(),
        "{cluster}: namespace {APP_NS} missing"
    );
    let cm = s
        .get("", "v1", "configmaps", Some(APP_NS), "app-config")
        .unwrap_or_else(|| panic!("{cluster}: ConfigMap app-config missing"));
    assert_eq!(cm["data"]["note"], note, "{cluster}: ConfigMap {cm}");
    assert_eq!(
        cm["data"]["cluster"], cluster,
        "{cluster}: rendered ${{cluster.name}}"
    );
    assert_eq!(
        clusters.replicas(cluster, "web"),
        Some(replicas),
        "{cluster}: replicas"
    );
    let inv = inventory(s, cluster).unwrap_or_else(|| panic!("{cluster}: no inventory"));
    let mut names: Vec<String> = inv["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["kind"].as_str().unwrap(),
                e["name"].as_str().unwrap()
            )
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["ConfigMap/app-config", "Deployment/web", "Namespace/demo"],
        "{cluster}: inventory {inv}"
    );
}

/// Every entry of a server's inventory exists on the server.
fn assert_inventory_consistent(clusters: &Clusters, cluster: &str) -> Option<usize> {
    let s = clusters.server(cluster);
    let inv = inventory(s, cluster)?;
    let entries = inv["entries"].as_array().unwrap();
    for e in entries {
        let api_version = e["apiVersion"].as_str().unwrap();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let ns = e["namespace"].as_str();
        let name = e["name"].as_str().unwrap();
        assert!(
            s.get(
                group,
                version,
                &support::objects::plural(e["kind"].as_str().unwrap()),
                ns,
                name
            )
            .is_some(),
            "{cluster}: the inventory lists {e} but the server does not have it (inventory {inv})"
        );
    }
    Some(entries.len())
}

/// The `/spec/replicas` difference in a drift report, as (desired, live).
fn replicas_drift(report: &Value) -> Option<(i64, i64)> {
    report["objects"].as_array()?.iter().find_map(|o| {
        if o["key"]["kind"] != "Deployment" || o["key"]["name"] != "web" {
            return None;
        }
        o["fields"].as_array()?.iter().find_map(|f| {
            if f["path"] != "/spec/replicas" {
                return None;
            }
            Some((f["desired"].as_i64()?, f["live"].as_i64()?))
        })
    })
}

/// A sample value of `/metrics` (`name{labels}` as written), if present.
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

// ----- 1. a push converges every cluster, wave by wave --------------------------

#[tokio::test(flavor = "multi_thread")]
async fn push_converges_every_cluster_in_waves() {
    let layout = FleetLayout::three(true);
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    // The canary is marked rolled out 1.5 s after it changes, so its wave
    // lasts long enough to be observed; the others at once.
    let controller = RolloutController::start(
        &clusters.servers,
        HashMap::from([("c1".to_string(), Duration::from_millis(1500))]),
        Duration::from_secs(180),
    );
    let daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &[])).await;

    let view = daemon.wait_converged(&first, CONVERGE).await;
    assert_eq!(view.field("fleet"), Some(FLEET));
    assert_eq!(view.field("goodRevision"), Some(first.as_str()));
    for c in layout.all() {
        assert_eq!(view.health(&c), "Healthy", "{c}: {}", view.0);
        assert_eq!(
            view.cluster(&c)["wave"],
            if c == "c1" { "canary" } else { "rest" }
        );
        assert_app_on(&clusters, &c, 2, "v1");
    }

    // A second commit: replicas 2 -> 3 and a new ConfigMap value.
    write_fleet(&repo, &layout, &app(3, "v2"));
    let second = repo.commit_and_push("scale to 3");
    let mut canary_alone = false;
    let mut violations = Vec::new();
    let view = daemon
        .wait_fleet("every cluster Synced on the second commit", CONVERGE, |v| {
            let canary_done = v.status("c1") == "Synced"
                && v.revision("c1") == Some(second.as_str())
                && v.health("c1") == "Healthy";
            for r in ["r1", "r2"] {
                let touched = v.status(r) == "Syncing" || v.revision(r) == Some(second.as_str());
                if touched && !canary_done {
                    violations.push(v.0.clone());
                }
            }
            if v.status("c1") == "Syncing"
                && ["r1", "r2"]
                    .iter()
                    .all(|r| v.status(r) == "Pending" && v.revision(r) == Some(first.as_str()))
            {
                canary_alone = true;
            }
            v.all_synced_on(&second)
        })
        .await;
    assert!(
        violations.is_empty(),
        "a rest cluster was synced before the canary was Synced and Healthy: {violations:#?}"
    );
    assert!(
        canary_alone,
        "never saw the canary Syncing while the rest were Pending on the first commit"
    );
    for c in layout.all() {
        assert_eq!(view.health(&c), "Healthy", "{c}: {}", view.0);
        assert_app_on(&clusters, &c, 3, "v2");
    }
    // The servers' side: the canary got the new Deployment before the rest.
    let canary_at = controller
        .first_seen("c1", 3)
        .expect("canary saw replicas 3");
    for r in ["r1", "r2"] {
        let at = controller.first_seen(r, 3).expect("rest saw replicas 3");
        assert!(
            canary_at < at,
            "{r} got replicas 3 before the canary (or at once)"
        );
    }
    assert_eq!(view.field("commitError"), None);
}

// ----- 2. an unhealthy canary halts the rest ---------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn unhealthy_canary_halts_the_rest_untouched() {
    let layout = FleetLayout::three(true);
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let controller =
        RolloutController::start(&clusters.servers, HashMap::new(), Duration::from_secs(180));
    let daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &[])).await;
    daemon.wait_converged(&first, CONVERGE).await;

    // The canary's new Deployment never rolls out.
    controller.pause("c1", true);
    for r in ["r1", "r2"] {
        clusters.server(r).reset_counters();
    }
    write_fleet(&repo, &layout, &app(3, "v2"));
    let second = repo.commit_and_push("scale to 3");
    let started = Instant::now();
    let view = daemon
        .wait_fleet("the rest Halted", CONVERGE, |v| {
            v.status("r1") == "Halted" && v.status("r2") == "Halted"
        })
        .await;
    // Not before the health timeout (5 s) ran out.
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "halted after {:?}, before the 5 s health timeout",
        started.elapsed()
    );
    assert_eq!(view.revision("c1"), Some(second.as_str()), "{}", view.0);
    assert_ne!(view.health("c1"), "Healthy", "{}", view.0);
    assert_eq!(clusters.replicas("c1", "web"), Some(3));
    for r in ["r1", "r2"] {
        assert_eq!(view.revision(r), Some(first.as_str()), "{}", view.0);
        let why = view.cluster(r)["lastError"].as_str().unwrap_or("");
        assert!(
            why.contains("halted") && why.contains("canary"),
            "{r}: {why:?}"
        );
    }
    // They stay untouched: a few reconcile intervals later, still no write.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let view = daemon.fleet().await;
    for r in ["r1", "r2"] {
        assert_eq!(view.status(r), "Halted", "{}", view.0);
        let w = writes(clusters.server(r));
        assert!(
            w.is_empty(),
            "{r} received writes for the halted commit: {w:#?}"
        );
        assert_app_on(&clusters, r, 2, "v1");
    }
}

// ----- 3. drift is reported and healed ------------------------------------------------

/// Waits until the drift report of `cluster` shows the hand edit
/// (replicas 2 in Git, 5 live) and the live value is back to 2; then until
/// the next check finds the cluster in sync. Panics after 20 s.
async fn assert_drift_reported_and_healed(daemon: &Daemon, clusters: &Clusters, cluster: &str) {
    let started = Instant::now();
    let mut reported = None;
    loop {
        let r = daemon
            .get(&format!("/api/v1/clusters/{cluster}/drift"))
            .await;
        if r.status == 200 && reported.is_none() {
            let report = r.json();
            if report["status"] == "Drifted" {
                reported = Some(report);
            }
        }
        let healed = clusters.replicas(cluster, "web") == Some(2);
        if reported.is_some() && healed {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "after 20 s (10 reconcile intervals): drift reported: {}, live replicas {:?} (Git: 2)\n--- /api/v1/fleet\n{}\n--- daemon stderr\n{}",
            reported.is_some(),
            clusters.replicas(cluster, "web"),
            serde_json::to_string_pretty(&daemon.fleet().await.0).unwrap(),
            daemon.stderr_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = reported.unwrap();
    assert_eq!(
        replicas_drift(&report),
        Some((2, 5)),
        "the report names /spec/replicas: {report}"
    );
    assert_eq!(report["modified"], 1, "{report}");
    let view = daemon
        .wait_fleet("drift back to InSync", Duration::from_secs(30), |v| {
            v.row(cluster)
                .is_some_and(|c| c["drift"]["status"] == "InSync")
        })
        .await;
    assert_eq!(view.status(cluster), "Synced", "{}", view.0);
}

/// The scenario as an operator meets it: `kubectl edit` / `kubectl scale`
/// (an `Update` by field manager `kubectl-edit`) changes `spec.replicas`;
/// with self-heal on (the default) the daemon must put Git's value back,
/// taking the field back from `kubectl-edit` (self-heal applies with force).
#[tokio::test(flavor = "multi_thread")]
async fn hand_edit_is_reported_and_healed() {
    let layout = single("e1");
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &[])).await;
    daemon.wait_converged(&first, CONVERGE).await;

    hand_edit_replicas(&clusters, "e1", 5).await;
    assert_drift_reported_and_healed(&daemon, &clusters, "e1").await;
}

/// The same hand edit with `forceConflicts: true` in a `--config` file: the
/// daemon takes the field back.
#[tokio::test(flavor = "multi_thread")]
async fn hand_edit_is_healed_with_force_conflicts() {
    let layout = single("f1");
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let config = repo.path().join("flotilla.yaml");
    std::fs::write(&config, "forceConflicts: true\nselfHeal: true\n").unwrap();
    let daemon = Daemon::start(&base_args(
        &repo,
        clusters.kubeconfig_dir(),
        &["--config", config.to_str().unwrap()],
    ))
    .await;
    daemon.wait_converged(&first, CONVERGE).await;

    hand_edit_replicas(&clusters, "f1", 5).await;
    assert_drift_reported_and_healed(&daemon, &clusters, "f1").await;
    let m = daemon.get("/metrics").await.text();
    assert!(
        metric(
            &m,
            "flotilla_objects_total{cluster=\"f1\",action=\"configured\",tenant=\"\"}"
        )
        .is_some_and(|v| v >= 1.0),
        "the heal is counted as configured:\n{m}"
    );
    assert!(
        metric(
            &m,
            "flotilla_fields_taken_total{cluster=\"f1\",manager=\"kubectl-edit\"}"
        )
        .is_some_and(|v| v >= 1.0),
        "the heal took /spec/replicas back from kubectl-edit:\n{m}"
    );
}

/// An object deleted by hand is reported Missing and recreated.
#[tokio::test(flavor = "multi_thread")]
async fn hand_deleted_object_is_recreated() {
    let layout = single("d1");
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &[])).await;
    daemon.wait_converged(&first, CONVERGE).await;

    let server = clusters.server("d1");
    let deleted = server.delete("", "v1", "configmaps", Some(APP_NS), "app-config");
    assert!(deleted.is_ok(), "{deleted:?}");
    let started = Instant::now();
    let (mut reported, mut gauge) = (false, false);
    loop {
        let r = daemon.get("/api/v1/clusters/d1/drift").await;
        if r.status == 200 {
            let report = r.json();
            reported |= report["missing"] == 1
                && report["objects"][0]["key"]["name"] == "app-config"
                && report["objects"][0]["status"] == "Missing";
        }
        let m = daemon.get("/metrics").await.text();
        gauge |= metric(&m, "flotilla_drifted_objects{cluster=\"d1\",tenant=\"\"}") == Some(1.0);
        let back = server
            .get("", "v1", "configmaps", Some(APP_NS), "app-config")
            .is_some();
        if reported && back {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "after 30 s: reported {reported}, recreated {back}\n{}",
            daemon.stderr_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The report lasts until the next check (2 s), so the gauge was
    // scraped while it showed the drift.
    assert!(gauge, "flotilla_drifted_objects never showed the drift");
    assert_app_on(&clusters, "d1", 2, "v1");
    let view = daemon
        .wait_fleet("drift back to InSync", Duration::from_secs(30), |v| {
            v.row("d1")
                .is_some_and(|c| c["drift"]["status"] == "InSync")
        })
        .await;
    assert_eq!(view.status("d1"), "Synced", "{}", view.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn hand_edit_without_self_heal_is_reported_not_corrected() {
    let layout = single("n1");
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let daemon = Daemon::start(&base_args(
        &repo,
        clusters.kubeconfig_dir(),
        &["--self-heal", "false"],
    ))
    .await;
    daemon.wait_converged(&first, CONVERGE).await;

    hand_edit_replicas(&clusters, "n1", 5).await;
    clusters.server("n1").reset_counters();
    let view = daemon
        .wait_fleet("drift reported", Duration::from_secs(30), |v| {
            v.cluster("n1")["drift"]["status"] == "Drifted"
        })
        .await;
    assert_eq!(view.cluster("n1")["drift"]["modified"], 1, "{}", view.0);
    let report = daemon.get("/api/v1/clusters/n1/drift").await.json();
    assert_eq!(replicas_drift(&report), Some((2, 5)), "{report}");
    let m = daemon.get("/metrics").await.text();
    assert_eq!(
        metric(&m, "flotilla_drifted_objects{cluster=\"n1\",tenant=\"\"}"),
        Some(1.0),
        "{m}"
    );
    // Three reconcile intervals later: still reported, never corrected.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(clusters.replicas("n1", "web"), Some(5));
    let view = daemon.fleet().await;
    assert_eq!(
        view.cluster("n1")["drift"]["status"],
        "Drifted",
        "{}",
        view.0
    );
    let w = writes(clusters.server("n1"));
    assert!(w.is_empty(), "writes without self-heal: {w:#?}");
    let text = daemon.get("/api/v1/clusters/n1/drift?format=text").await;
    assert_eq!(text.status, 200);
    assert!(text.text().contains("replicas"), "{}", text.text());
}

/// Issue 13: with `selfHeal: false`, a cluster that is behind (here: down)
/// makes every reconcile round roll the commit out again for it; that round
/// must not sync the clusters already on the commit, or it would revert
/// their hand edits although self-heal is off.
#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_behind_does_not_resync_the_others_without_self_heal() {
    let layout = FleetLayout {
        canary: Vec::new(),
        rest: vec!["s1".into(), "s2".into()],
        health_gate: false,
    };
    let clusters = Clusters::start(&layout.all()).await;
    clusters.server("s2").set_down(true);
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let daemon = Daemon::start(&base_args(
        &repo,
        clusters.kubeconfig_dir(),
        &["--self-heal", "false"],
    ))
    .await;
    daemon
        .wait_fleet("s1 Synced, s2 Unreachable", CONVERGE, |v| {
            v.status("s1") == "Synced"
                && v.revision("s1") == Some(first.as_str())
                && v.status("s2") == "Unreachable"
        })
        .await;

    hand_edit_replicas(&clusters, "s1", 5).await;
    clusters.server("s1").reset_counters();
    daemon
        .wait_fleet("s1 drift reported", Duration::from_secs(30), |v| {
            v.cluster("s1")["drift"]["status"] == "Drifted"
        })
        .await;
    // Three reconcile intervals (2 s each), each retrying s2's rollout.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        clusters.replicas("s1", "web"),
        Some(5),
        "s1's hand edit was reverted"
    );
    let w = writes(clusters.server("s1"));
    assert!(w.is_empty(), "writes to s1 without self-heal: {w:#?}");
    let view = daemon.fleet().await;
    assert_eq!(
        view.cluster("s1")["drift"]["status"],
        "Drifted",
        "{}",
        view.0
    );
    // s2 is still behind: unreachable, or being tried again right now.
    assert!(
        matches!(view.status("s2"), "Unreachable" | "Syncing"),
        "{}",
        view.0
    );
    assert_eq!(view.revision("s2"), None, "{}", view.0);
}

// ----- 4. one cluster down ------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn down_cluster_does_not_hold_the_others() {
    let layout = FleetLayout::three(true);
    let clusters = Clusters::start(&layout.all()).await;
    clusters.server("r2").set_down(true);
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let _controller =
        RolloutController::start(&clusters.servers, HashMap::new(), Duration::from_secs(180));
    let daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &[])).await;
    let view = daemon
        .wait_fleet("c1 and r1 Synced, r2 Unreachable", CONVERGE, |v| {
            ["c1", "r1"]
                .iter()
                .all(|c| v.status(c) == "Synced" && v.revision(c) == Some(first.as_str()))
                && matches!(v.status("r2"), "Unreachable" | "Failed")
        })
        .await;
    assert_eq!(view.status("r2"), "Unreachable", "{}", view.0);
    assert_eq!(view.revision("r2"), None);
    let why = view.cluster("r2")["lastError"].as_str().unwrap_or("");
    assert!(why.contains("unreachable"), "r2's reason: {why:?}");
    for c in ["c1", "r1"] {
        assert_app_on(&clusters, c, 2, "v1");
    }
}

/// A cluster that is down when a commit rolls out and comes back later must
/// be synced then (README: "Each cluster is retried on its own schedule
/// with exponential backoff and jitter, so an unreachable cluster never
/// delays the others' checks"): clusters that missed the current commit get
/// it again on every reconcile round.
#[tokio::test(flavor = "multi_thread")]
async fn cluster_down_at_first_rollout_is_synced_when_back() {
    let layout = single("u1");
    let clusters = Clusters::start(&layout.all()).await;
    let server = clusters.server("u1");
    server.set_down(true);
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &[])).await;
    daemon
        .wait_fleet("u1 Unreachable", CONVERGE, |v| {
            v.status("u1") == "Unreachable"
        })
        .await;
    server.reset_counters();
    server.set_down(false);
    let started = Instant::now();
    while !daemon.fleet().await.all_synced_on(&first) {
        if started.elapsed() > Duration::from_secs(16) {
            let view = daemon.fleet().await;
            panic!(
                "u1 is up again but not synced 16 s later (8 reconcile intervals): {} requests reached it; status {}, revision {:?}, lastError {}",
                server.counters().total,
                view.status("u1"),
                view.revision("u1"),
                view.cluster("u1")["lastError"]
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_app_on(&clusters, "u1", 2, "v1");
}

// ----- 5. webhooks ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn github_webhook_triggers_an_immediate_poll() {
    const SECRET: &str = "webhook-secret-for-tests";
    let layout = single("w1");
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let secret_file = repo.path().join("github-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let daemon = Daemon::start(&base_args(
        &repo,
        clusters.kubeconfig_dir(),
        &[
            "--poll-interval",
            "1h",
            "--github-secret-file",
            secret_file.to_str().unwrap(),
        ],
    ))
    .await;
    daemon.wait_converged(&first, CONVERGE).await;

    write_fleet(&repo, &layout, &app(3, "v2"));
    let second = repo.commit_and_push("scale to 3");
    let body = br#"{"ref":"refs/heads/main","after":"0000000000000000000000000000000000000000"}"#;
    let post = |signature: Option<String>| {
        let addr = daemon.addr.clone();
        async move {
            let mut headers = vec![
                ("Content-Type", "application/json".to_string()),
                ("X-GitHub-Event", "push".to_string()),
                ("X-GitHub-Delivery", "test-delivery".to_string()),
            ];
            if let Some(s) = signature {
                headers.push(("X-Hub-Signature-256", s));
            }
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            request(&addr, "POST", "/webhook/github", &headers, body)
                .await
                .expect("POST /webhook/github")
        }
    };
    let wrong = post(Some(github_signature("not-the-secret", body))).await;
    assert_eq!(wrong.status, 401, "{}", wrong.text());
    let missing = post(None).await;
    assert_eq!(missing.status, 401, "{}", missing.text());
    // Rejected pushes trigger nothing (the next poll is an hour away).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let view = daemon.fleet().await;
    assert_eq!(
        view.field("seenRevision"),
        Some(first.as_str()),
        "{}",
        view.0
    );

    let ok = post(Some(github_signature(SECRET, body))).await;
    assert_eq!(ok.status, 202, "{}", ok.text());
    assert_eq!(ok.json()["status"], "triggered");
    let started = Instant::now();
    daemon
        .wait_fleet("the pushed commit seen", Duration::from_secs(10), |v| {
            v.field("seenRevision") == Some(second.as_str())
        })
        .await;
    let picked_up = started.elapsed();
    assert!(
        picked_up < Duration::from_secs(5),
        "picked up {picked_up:?} after the webhook"
    );
    daemon.wait_converged(&second, CONVERGE).await;
    assert_app_on(&clusters, "w1", 3, "v2");
}

// ----- 6. a bad commit ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn bad_commit_keeps_the_last_good_one() {
    let layout = FleetLayout::three(false);
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &[])).await;
    daemon.wait_converged(&first, CONVERGE).await;

    // fleet.yaml broken (and the app changed, which must not roll out).
    write_fleet(&repo, &layout, &app(3, "v2"));
    let broken = layout
        .fleet_yaml()
        .replace("  bases:\n", "  bases:\n    - {name: app, pth: bases/app\n");
    repo.write("fleet.yaml", &broken);
    let bad = repo.commit_and_push("broken fleet.yaml");
    let view = daemon
        .wait_fleet("the bad commit seen", CONVERGE, |v| {
            v.field("seenRevision") == Some(bad.as_str())
        })
        .await;
    let error = view.field("commitError").unwrap_or_default();
    assert!(error.contains("fleet.yaml"), "commitError: {error:?}");
    assert_eq!(view.field("goodRevision"), Some(first.as_str()));
    // A few polls and reconcile intervals later: still on the good one.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let view = daemon.fleet().await;
    assert!(view.all_synced_on(&first), "{}", view.0);
    assert!(view.field("commitError").is_some(), "{}", view.0);
    for c in layout.all() {
        assert_app_on(&clusters, &c, 2, "v1");
    }

    // A later good commit rolls out.
    write_fleet(&repo, &layout, &app(3, "v2"));
    let good = repo.commit_and_push("fixed");
    let view = daemon.wait_converged(&good, CONVERGE).await;
    assert_eq!(view.field("commitError"), None, "{}", view.0);
    for c in layout.all() {
        assert_app_on(&clusters, &c, 3, "v2");
    }
}

/// A hostile commit (issue 13): a Patch of add+move pairs that would nest
/// an object past any parser's depth, and 40 copies that would double it 40
/// times. The daemon stays up, keeps the clusters on the last good commit
/// and says why; a later good commit rolls out.
#[tokio::test(flavor = "multi_thread")]
async fn a_commit_past_the_render_budgets_keeps_the_daemon_up() {
    let layout = single("solo");
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &[])).await;
    daemon.wait_converged(&first, CONVERGE).await;

    let header = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: ConfigMap, name: app-config}\njsonPatch:\n";
    let pair = "  - {op: add, path: /n, value: {}}\n  - {op: move, from: /data, path: /n/x}\n  - {op: move, from: /n, path: /data}\n";
    let copies: String = (0..40)
        .map(|i| format!("  - {{op: copy, from: /data, path: /data/d{i}}}\n"))
        .collect();
    for (file, body) in [("deep.yaml", pair.repeat(2000)), ("wide.yaml", copies)] {
        write_fleet(&repo, &layout, &app(3, "v2"));
        repo.write(&format!("clusters/solo/{file}"), &format!("{header}{body}"));
        let bad = repo.commit_and_push(file);
        let view = daemon
            .wait_fleet("the hostile commit seen and refused", CONVERGE, |v| {
                let text = v.0.to_string();
                v.field("seenRevision") == Some(bad.as_str())
                    && text.contains(&format!("clusters/solo/{file}"))
                    && (text.contains("levels deep") || text.contains("1.5 MiB"))
            })
            .await;
        assert!(
            view.0.to_string().contains(file),
            "names the patch file: {}",
            view.0
        );
        assert_eq!(daemon.get("/healthz").await.status, 200);
        assert_app_on(&clusters, "solo", 2, "v1");
        repo.replace_folder("clusters/solo", &[]);
    }
    write_fleet(&repo, &layout, &app(3, "v2"));
    let good = repo.commit_and_push("fixed");
    daemon.wait_converged(&good, CONVERGE).await;
    assert_app_on(&clusters, "solo", 3, "v2");
}

// ----- 7. SIGTERM mid-sync ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_sync_leaves_a_consistent_inventory() {
    let layout = FleetLayout::three(false);
    let clusters = Clusters::start(&layout.all()).await;
    for s in clusters.servers.values() {
        s.set_response_delay(Duration::from_millis(200));
    }
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let mut daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &[])).await;

    // SIGTERM once the canary has received its first write.
    let started = Instant::now();
    while writes(clusters.server("c1")).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the canary got no write:\n{}",
            daemon.stderr_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.sigterm();
    let status = daemon.wait_exit(Duration::from_secs(60)).await;
    let status = status.unwrap_or_else(|| {
        panic!(
            "flotilla serve still runs 60 s after SIGTERM:\n{}",
            daemon.stderr_tail(40)
        )
    });
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\n{}",
        daemon.stderr_tail(40)
    );
    for s in clusters.servers.values() {
        s.set_response_delay(Duration::ZERO);
    }

    // Every inventory lists only objects that exist.
    for c in layout.all() {
        assert_inventory_consistent(&clusters, &c);
    }
    // The step in progress (the canary's sync) was finished; no new cluster
    // was started.
    assert_app_on(&clusters, "c1", 2, "v1");
    for r in ["r1", "r2"] {
        let w = writes(clusters.server(r));
        assert!(w.is_empty(), "{r} was started after SIGTERM: {w:#?}");
    }

    // A fresh sync of the same fleet succeeds and prunes nothing.
    let (code, stdout, stderr) = run_flotilla(
        &[
            "sync",
            "--repo",
            &repo.url(),
            "--rev",
            "main",
            "--cache-dir",
            repo.cache.to_str().unwrap(),
        ],
        clusters.kubeconfig_dir(),
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(code, 0, "flotilla sync:\n{stdout}\n{stderr}");
    for c in layout.all() {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("{c}: ")))
            .unwrap_or_else(|| panic!("no summary for {c}:\n{stdout}"));
        assert!(
            line.contains(" 0 pruned") && line.contains(" 0 failed"),
            "{line}"
        );
        assert_app_on(&clusters, &c, 2, "v1");
        assert_eq!(assert_inventory_consistent(&clusters, &c), Some(3));
        let inv = inventory(clusters.server(&c), &c).unwrap();
        assert_eq!(inv["revision"], first.as_str(), "{inv}");
    }
}

// ----- 8. probes and metrics -----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn probes_and_metrics() {
    let layout = single("m1");
    let clusters = Clusters::start(&layout.all()).await;
    // The repository does not exist yet: polls fail, the daemon is not ready.
    let repo = FleetRepo::without_bare();
    let daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &[])).await;
    let healthz = daemon.get("/healthz").await;
    assert_eq!((healthz.status, healthz.text().as_str()), (200, "ok"));
    let readyz = daemon.get("/readyz").await;
    assert_eq!(readyz.status, 503, "{}", readyz.text());
    assert!(readyz.text().starts_with("not ready"), "{}", readyz.text());
    let started = Instant::now();
    loop {
        let m = daemon.get("/metrics").await.text();
        if metric(&m, "flotilla_git_poll_errors_total").is_some_and(|v| v >= 1.0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no poll error counted:\n{m}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let readyz = daemon.get("/readyz").await;
    assert_eq!(readyz.status, 503, "{}", readyz.text());
    assert!(readyz.text().contains("Git"), "{}", readyz.text());
    assert!(daemon.fleet().await.field("gitError").is_some());

    // The repository appears: ready, converged, and every family reported.
    repo.create_bare();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    daemon.wait_converged(&first, CONVERGE).await;
    let readyz = daemon.get("/readyz").await;
    assert_eq!(readyz.status, 200, "{}", readyz.text());
    assert_eq!(daemon.fleet().await.field("gitError"), None);
    assert_eq!(daemon.get("/healthz").await.status, 200);

    let m = daemon.get("/metrics").await;
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type")
            .is_some_and(|c| c.contains("openmetrics") || c.contains("text/plain")),
        "{:?}",
        m.headers
    );
    let m = m.text();
    for (family, kind) in [
        ("flotilla_sync_duration_seconds", "histogram"),
        ("flotilla_objects", "counter"),
        ("flotilla_drifted_objects", "gauge"),
        ("flotilla_last_successful_sync_timestamp_seconds", "gauge"),
        ("flotilla_git_poll_errors", "counter"),
    ] {
        assert!(
            m.contains(&format!("# TYPE {family} {kind}")),
            "no {kind} family {family} in:\n{m}"
        );
    }
    assert_eq!(
        metric(
            &m,
            "flotilla_objects_total{cluster=\"m1\",action=\"created\",tenant=\"\"}"
        ),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, "flotilla_sync_duration_seconds_count{cluster=\"m1\"}"),
        Some(1.0),
        "{m}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let last = metric(
        &m,
        "flotilla_last_successful_sync_timestamp_seconds{cluster=\"m1\"}",
    )
    .unwrap_or_else(|| panic!("no last-success sample:\n{m}"));
    assert!((now - last).abs() < 120.0, "last success {last}, now {now}");
    assert_eq!(
        metric(&m, "flotilla_drifted_objects{cluster=\"m1\",tenant=\"\"}"),
        Some(0.0),
        "{m}"
    );
}

/// Each cluster has its own worker: a cluster whose API server hangs (30 s
/// per response) does not delay the drift check and self-heal of another.
#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_cluster_does_not_delay_the_others_self_heal() {
    let layout = FleetLayout {
        canary: Vec::new(),
        rest: vec!["h1".into(), "slow".into()],
        health_gate: false,
    };
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &[])).await;
    daemon.wait_converged(&first, CONVERGE).await;

    clusters
        .server("slow")
        .set_response_delay(Duration::from_secs(30));
    hand_edit_replicas(&clusters, "h1", 5).await;
    // Healed within the usual bound (20 s), although "slow" hangs longer.
    assert_drift_reported_and_healed(&daemon, &clusters, "h1").await;
    clusters.server("slow").set_response_delay(Duration::ZERO);
}

// ----- operator actions ------------------------------------------------------------

/// Issue 16: pause stops the rollout of a new commit (no wave starts, no
/// write reaches a cluster) until resumed; resume rolls it out; "sync now"
/// syncs one cluster at once (here: correcting a hand edit that self-heal,
/// being off, leaves alone); each action is logged.
#[tokio::test(flavor = "multi_thread")]
async fn pause_holds_a_new_commit_resume_rolls_it_out_and_sync_now_syncs() {
    let layout = FleetLayout::three(false);
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let daemon = Daemon::start(&base_args(
        &repo,
        clusters.kubeconfig_dir(),
        &["--self-heal", "false"],
    ))
    .await;
    let view = daemon.wait_converged(&first, CONVERGE).await;
    assert_eq!(view.0["commit"]["summary"], "first", "{}", view.0);
    assert_eq!(view.0["paused"], false);

    let r = daemon.post("/api/v1/rollout/pause").await;
    assert_eq!(r.status, 200, "{}", r.text());
    for c in layout.all() {
        clusters.server(&c).reset_counters();
    }
    write_fleet(&repo, &layout, &app(3, "v2"));
    let second = repo.commit_and_push("scale to 3");
    // The new commit is read, but not rolled out.
    let view = daemon
        .wait_fleet("the second commit read", CONVERGE, |v| {
            v.field("goodRevision") == Some(second.as_str())
        })
        .await;
    assert_eq!(view.0["paused"], true);
    assert_eq!(view.0["commit"]["summary"], "scale to 3", "{}", view.0);
    // Several reconcile intervals later: still nothing written anywhere.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let view = daemon.fleet().await;
    for c in layout.all() {
        assert_eq!(view.revision(&c), Some(first.as_str()), "{c}: {}", view.0);
        let w = writes(clusters.server(&c));
        assert!(w.is_empty(), "{c} was written while paused: {w:#?}");
        assert_app_on(&clusters, &c, 2, "v1");
    }
    // Sync now is refused while paused.
    assert_eq!(daemon.post("/api/v1/clusters/r1/sync").await.status, 409);

    let r = daemon.post("/api/v1/rollout/resume").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let view = daemon
        .wait_fleet("every cluster on the second commit", CONVERGE, |v| {
            v.all_synced_on(&second)
        })
        .await;
    assert_eq!(view.0["paused"], false);
    for c in layout.all() {
        assert_app_on(&clusters, &c, 3, "v2");
    }

    // Sync now: a hand edit self-heal (off) would leave is corrected.
    hand_edit_replicas(&clusters, "r1", 7).await;
    // Once the daemon has seen it (its caches are watch-fed).
    daemon
        .wait_fleet("drift reported on r1", CONVERGE, |v| {
            v.cluster("r1")["drift"]["status"] == "Drifted"
        })
        .await;
    assert_eq!(clusters.replicas("r1", "web"), Some(7), "self-heal is off");
    let r = daemon.post("/api/v1/clusters/r1/sync").await;
    assert_eq!(r.status, 202, "{}", r.text());
    let started = Instant::now();
    while clusters.replicas("r1", "web") != Some(3) {
        assert!(
            started.elapsed() < CONVERGE,
            "r1 not synced now:\n{}",
            daemon.stderr_tail(40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(clusters.replicas("r2", "web"), Some(3));
    assert_eq!(daemon.post("/api/v1/clusters/nope/sync").await.status, 404);
    // Nothing halted or failed: nothing to retry.
    assert_eq!(daemon.post("/api/v1/rollout/retry").await.status, 409);
    let log = daemon.stderr();
    for line in [
        "operator action: rollout paused",
        "operator action: rollout resumed",
        "operator action: sync queued",
        "syncing now, as an operator asked",
    ] {
        assert!(log.contains(line), "no {line:?} in the log:\n{log}");
    }
}

// ----- event-driven drift (issue 15) ----------------------------------------------

/// Waits (at most `limit`) until cluster `name` has a drift verdict of
/// `status` (`InSync`, `Drifted`).
async fn wait_drift(daemon: &Daemon, name: &str, status: &str, limit: Duration) -> FleetView {
    daemon
        .wait_fleet(&format!("{name}'s drift {status}"), limit, |v| {
            v.row(name).is_some_and(|c| c["drift"]["status"] == status)
        })
        .await
}

/// A hand edit is noticed from its watch event, not on the reconcile
/// interval (an hour here): reported and healed within 20 s.
#[tokio::test(flavor = "multi_thread")]
async fn hand_edit_is_noticed_without_waiting_for_the_interval() {
    let layout = single("w1");
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let daemon = Daemon::start(&base_args(
        &repo,
        clusters.kubeconfig_dir(),
        &["--reconcile-interval", "1h", "--full-resync-interval", "1h"],
    ))
    .await;
    daemon.wait_converged(&first, CONVERGE).await;
    // The sync's own writes wake the first check, which finds them in sync.
    wait_drift(&daemon, "w1", "InSync", CONVERGE).await;

    hand_edit_replicas(&clusters, "w1", 5).await;
    assert_drift_reported_and_healed(&daemon, &clusters, "w1").await;
    // A hand deletion too: reported Missing and recreated.
    let server = clusters.server("w1");
    assert!(
        server
            .delete("", "v1", "configmaps", Some(APP_NS), "app-config")
            .is_ok()
    );
    let started = Instant::now();
    while server
        .get("", "v1", "configmaps", Some(APP_NS), "app-config")
        .is_none()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "app-config not recreated within 20 s:\n{}",
            daemon.stderr_tail(30)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_app_on(&clusters, "w1", 2, "v1");
}

/// Between full passes an unchanged cluster costs nothing: its drift
/// checks wait for watch events, so over several reconcile intervals no
/// request reaches it (before, each interval read its inventory), and its
/// verdict stays.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_cluster_is_not_read_between_full_passes() {
    let layout = single("i1");
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let daemon = Daemon::start(&base_args(
        &repo,
        clusters.kubeconfig_dir(),
        &["--full-resync-interval", "1h", "--self-heal", "false"],
    ))
    .await;
    daemon.wait_converged(&first, CONVERGE).await;
    wait_drift(&daemon, "i1", "InSync", CONVERGE).await;
    // The echoes of the sync settle (one check), then nothing changes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let server = clusters.server("i1");
    server.reset_counters();
    // Four reconcile intervals (2 s each).
    tokio::time::sleep(Duration::from_secs(8)).await;
    let log = server.request_log();
    let requests: Vec<String> = log
        .iter()
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .collect();
    assert!(
        requests.is_empty(),
        "an idle cluster was read between full passes: {requests:#?}"
    );
    let view = daemon.fleet().await;
    assert_eq!(
        view.cluster("i1")["drift"]["status"],
        "InSync",
        "{}",
        view.0
    );

    // A change still shows: only the changed object is compared.
    hand_edit_replicas(&clusters, "i1", 4).await;
    let view = wait_drift(&daemon, "i1", "Drifted", Duration::from_secs(20)).await;
    assert_eq!(view.cluster("i1")["drift"]["modified"], 1, "{}", view.0);
    assert_eq!(view.cluster("i1")["drift"]["inSync"], 2, "{}", view.0);
    // Without self-heal, edits made to other objects keep the verdict of
    // the first.
    let cm = serde_json::json!({"metadata": {"labels": {"touched": "yes"}}}).to_string();
    let r = request(
        &server.addr().to_string(),
        "PATCH",
        &format!("/api/v1/namespaces/{APP_NS}/configmaps/app-config?fieldManager=kubectl-edit"),
        &[("Content-Type", "application/merge-patch+json")],
        cm.as_bytes(),
    )
    .await
    .expect("PATCH the ConfigMap");
    assert_eq!(r.status, 200, "{}", r.text());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let view = daemon.fleet().await;
    assert_eq!(view.cluster("i1")["drift"]["modified"], 1, "{}", view.0);
    assert_eq!(view.cluster("i1")["drift"]["inSync"], 2, "{}", view.0);
}

/// A change whose watch event was lost is still found, by the full pass
/// (`--full-resync-interval`).
#[tokio::test(flavor = "multi_thread")]
async fn the_full_pass_finds_a_change_whose_event_was_lost() {
    let layout = single("m1");
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app(2, "v1"));
    let first = repo.commit_and_push("first");
    let daemon = Daemon::start(&base_args(
        &repo,
        clusters.kubeconfig_dir(),
        &["--full-resync-interval", "4s", "--self-heal", "false"],
    ))
    .await;
    daemon.wait_converged(&first, CONVERGE).await;
    wait_drift(&daemon, "m1", "InSync", CONVERGE).await;

    let server = clusters.server("m1");
    server.set_watch_events_dropped(true);
    hand_edit_replicas(&clusters, "m1", 6).await;
    let view = wait_drift(&daemon, "m1", "Drifted", Duration::from_secs(30)).await;
    assert_eq!(view.cluster("m1")["drift"]["modified"], 1, "{}", view.0);
    let report = daemon.get("/api/v1/clusters/m1/drift").await.json();
    assert_eq!(replicas_drift(&report), Some((2, 6)), "{report}");
}
