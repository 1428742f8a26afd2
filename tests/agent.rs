//! Pull mode end to end: the real `flotilla serve` (the hub) and
//! `flotilla agent` binaries as child processes, test API servers as the
//! member clusters, agents reaching the hub through a TCP relay on
//! 127.0.0.1 (to drop connections and to follow a restarted hub). Every wait
//! is bounded; short intervals (poll 1 s, reconcile 2 s, health timeout 5 s).

mod agent_support;
mod daemon_support;
mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use agent_support::*;
use daemon_support::*;

/// The longest a convergence may take in these tests (they take seconds).
const CONVERGE: Duration = Duration::from_secs(60);

fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

/// Writes fleet.yaml and the app, commits and pushes; returns the commit.
fn commit(repo: &FleetRepo, yaml: &str, app: &App, message: &str) -> String {
    repo.write("fleet.yaml", yaml);
    repo.replace_folder("bases/app", &app.files());
    repo.commit_and_push(message)
}

fn app(replicas: u32, note: &str) -> App {
    App {
        note: note.into(),
        ..App::small(replicas)
    }
}

/// The hub's flags: the test defaults and the agent token folder.
fn hub_args(repo: &FleetRepo, clusters: &Clusters, tokens: &Tokens) -> Vec<String> {
    base_args(
        repo,
        clusters.kubeconfig_dir(),
        &["--agent-token-dir", tokens.dir().to_str().unwrap()],
    )
}

/// Non-dry-run writes to Deployment `web` on a server.
fn deployment_writes(clusters: &Clusters, cluster: &str) -> Vec<String> {
    writes(clusters.server(cluster))
        .into_iter()
        .filter(|w| w.contains("/deployments/web"))
        .collect()
}

/// Waits (at most `limit`) until `done` holds.
async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "waited {limit:?} for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ----- 1. first sync through an agent ------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn first_sync_through_an_agent_with_federated_status() {
    let all = names(&["c1", "r1"]);
    let clusters = Clusters::start(&all).await;
    let tokens = Tokens::new(&names(&["c1"]));
    let repo = FleetRepo::new();
    let yaml = fleet_yaml(&["c1"], &["r1"], &["c1"], true);
    let first = commit(&repo, &yaml, &app(2, "v1"), "first");
    let _controller =
        RolloutController::start(&clusters.servers, HashMap::new(), Duration::from_secs(180));
    let hub = Daemon::start(&hub_args(&repo, &clusters, &tokens)).await;
    let relay = Relay::start(&hub.addr).await;
    let agent = Agent::start(&relay.addr, "c1", &tokens.file("c1"), &clusters);

    let view = hub.wait_converged(&first, CONVERGE).await;
    for c in ["c1", "r1"] {
        assert_eq!(view.health(c), "Healthy", "{c}: {}", view.0);
        assert_eq!(
            clusters.replicas(c, "web"),
            Some(2),
            "{c}: replicas\n{}",
            agent.stderr()
        );
        assert!(inventory(clusters.server(c), c).is_some(), "{c}: inventory");
    }
    let c1 = view.cluster("c1");
    assert_eq!(c1["mode"], "agent", "{c1}");
    assert!(
        view.cluster("r1").get("mode").is_none(),
        "push rows are as before"
    );
    assert!(c1["agent"]["lastContact"].as_u64().is_some(), "{c1}");
    assert_eq!(c1["lastSync"]["created"], 3, "the typed change set: {c1}");
    // The canary wave (the agent cluster) went first, once.
    assert_eq!(deployment_writes(&clusters, "c1").len(), 1);

    // Federated status: every object of each cluster, healthy.
    for c in ["c1", "r1"] {
        let r = hub.get(&format!("/api/v1/clusters/{c}/objects")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json();
        let objects = v["objects"].as_array().unwrap();
        assert_eq!(objects.len(), 3, "{c}: {v}");
        assert!(objects.iter().all(|o| o["health"] == "Healthy"), "{c}: {v}");
    }
    assert_eq!(hub.get("/api/v1/clusters/nope/objects").await.status, 404);
    let page = hub.get("/").await.text();
    assert!(
        page.contains("Agent clusters") && page.contains("last contact"),
        "{page}"
    );
}

// ----- 2. tokens ----------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_or_foreign_token_gets_nothing_and_is_not_shown_synced() {
    let all = names(&["a1", "a2"]);
    let clusters = Clusters::start(&all).await;
    let tokens = Tokens::new(&all);
    let repo = FleetRepo::new();
    let yaml = fleet_yaml(&[], &["a1", "a2"], &["a1", "a2"], false);
    commit(&repo, &yaml, &app(1, "v1"), "first");
    let hub = Daemon::start(&hub_args(&repo, &clusters, &tokens)).await;
    hub.wait_fleet("the fleet loaded", CONVERGE, |v| v.clusters().len() == 2)
        .await;

    // By hand: the assignment of a1 with a2's token, with a wrong one, with none.
    let a1_token = tokens.token("a1");
    let a2_token = tokens.token("a2");
    let foreign = format!("Bearer {a2_token}");
    let wrong = "Bearer not-the-token".to_string();
    for auth in [Some(foreign.as_str()), Some(wrong.as_str()), None] {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
        let r = request(
            &hub.addr,
            "GET",
            "/agent/v1/assignment?cluster=a1&after=0",
            &headers,
            &[],
        )
        .await
        .unwrap();
        assert_eq!(r.status, 401, "{auth:?}: {}", r.text());
        assert!(!r.text().contains("token-of"), "{}", r.text());
        // A forged report of a1 is refused too.
        let report = serde_json::json!({
            "cluster": "a1", "seq": 1, "at": 1, "event": "Sync", "generation": 1,
            "digest": "", "revision": null, "health": "Healthy", "objects": [],
        })
        .to_string();
        let r = request(
            &hub.addr,
            "POST",
            "/agent/v1/report?cluster=a1",
            &headers,
            report.as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 401, "{auth:?}: {}", r.text());
    }

    // Real agents: a1 with a2's token, a2 with a wrong one.
    let wrong_file = tokens
        .dir()
        .join("..")
        .join(format!("wrong-{}", std::process::id()));
    std::fs::write(&wrong_file, "not-the-token\n").unwrap();
    let a1 = Agent::start(&hub.addr, "a1", &tokens.file("a2"), &clusters);
    let a2 = Agent::start(&hub.addr, "a2", &wrong_file, &clusters);
    wait_until("both agents told they are refused", CONVERGE, || {
        a1.stderr().contains("refused") && a2.stderr().contains("refused")
    })
    .await;
    // Several rounds later: nothing applied, nothing shown synced.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let view = hub.fleet().await;
    for c in ["a1", "a2"] {
        assert_ne!(view.status(c), "Synced", "{}", view.0);
        assert_eq!(view.revision(c), None, "{}", view.0);
        assert!(
            view.cluster(c)["agent"]["lastContact"].is_null(),
            "a refused agent is no contact: {}",
            view.0
        );
        assert!(
            clusters
                .server(c)
                .get("", "v1", "namespaces", None, APP_NS)
                .is_none(),
            "{c} got objects"
        );
    }
    // No token in any log.
    for log in [hub.stderr(), a1.stderr(), a2.stderr()] {
        for secret in [&a1_token, &a2_token, "not-the-token"] {
            assert!(!log.contains(secret), "a token in a log:\n{log}");
        }
    }
    let _ = std::fs::remove_file(wrong_file);
}

// ----- 3. the health gate --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn an_unhealthy_agent_canary_holds_the_later_waves() {
    let all = names(&["c1", "r1"]);
    let clusters = Clusters::start(&all).await;
    let tokens = Tokens::new(&names(&["c1"]));
    let repo = FleetRepo::new();
    let yaml = fleet_yaml(&["c1"], &["r1"], &["c1"], true);
    commit(&repo, &yaml, &app(2, "v1"), "first");
    // c1's Deployment never rolls out.
    let controller =
        RolloutController::start(&clusters.servers, HashMap::new(), Duration::from_secs(180));
    controller.pause("c1", true);
    let hub = Daemon::start(&hub_args(&repo, &clusters, &tokens)).await;
    let _agent = Agent::start(&hub.addr, "c1", &tokens.file("c1"), &clusters);

    let view = hub
        .wait_fleet("r1 Halted by the canary", CONVERGE, |v| {
            v.status("r1") == "Halted"
        })
        .await;
    assert_ne!(view.health("c1"), "Healthy", "{}", view.0);
    assert_eq!(clusters.replicas("c1", "web"), Some(2), "the agent applied");
    let why = view.cluster("r1")["lastError"].as_str().unwrap_or("");
    assert!(why.contains("canary") && why.contains("c1"), "{why}");
    assert!(
        clusters
            .server("r1")
            .get("", "v1", "namespaces", None, APP_NS)
            .is_none(),
        "r1 was synced past the gate"
    );
    // The hub knows why: the Deployment is not healthy, with a reason.
    let objects = hub.get("/api/v1/clusters/c1/objects").await.json();
    let web = objects["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["key"]["kind"] == "Deployment")
        .cloned()
        .unwrap_or_else(|| panic!("{objects}"));
    assert_ne!(web["health"], "Healthy", "{web}");
    assert!(!web["reason"].as_str().unwrap_or("").is_empty(), "{web}");
    let page = hub.get("/").await.text();
    assert!(page.contains("Unhealthy objects"), "{page}");

    // The agent collects the object's events too (not another object's).
    add_event(&clusters, "c1", "a1", "Deployment", "web", 1);
    add_event(&clusters, "c1", "a2", "Deployment", "web", 2);
    add_event(&clusters, "c1", "other", "Deployment", "other", 3);
    let started = Instant::now();
    let reasons = loop {
        let v = hub.get("/api/v1/clusters/c1/objects").await.json();
        let reasons: Vec<String> = v["objects"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o["key"]["kind"] == "Deployment" && o["key"]["name"] == "web")
            .flat_map(|o| o["events"].as_array().cloned().unwrap_or_default())
            .map(|e| e["reason"].as_str().unwrap_or("").to_string())
            .collect();
        if !reasons.is_empty() {
            break reasons;
        }
        assert!(
            started.elapsed() < CONVERGE,
            "no agent events reached the hub: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(reasons, ["Reason-a2", "Reason-a1"], "newest first");
}

/// A core/v1 Event about `kind`/`name` in the app namespace, last seen at
/// second `at`, inserted straight into `cluster`'s API server.
fn add_event(clusters: &Clusters, cluster: &str, name: &str, kind: &str, object: &str, at: u32) {
    let at = format!("2026-01-01T00:00:{at:02}Z");
    clusters
        .server(cluster)
        .insert(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": APP_NS},
            "involvedObject": {
                "apiVersion": if kind == "Deployment" { "apps/v1" } else { "v1" },
                "kind": kind, "name": object, "namespace": APP_NS
            },
            "reason": format!("Reason-{name}"),
            "message": format!("<b>{name}</b> & more"),
            "type": "Warning",
            "source": {"component": "deployment-controller"},
            "count": 2,
            "firstTimestamp": at,
            "lastTimestamp": at,
        }))
        .expect("insert an Event");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_cluster_unhealthy_object_shows_its_reason_and_latest_events() {
    let all = names(&["p1", "r1"]);
    let clusters = Clusters::start(&all).await;
    let repo = FleetRepo::new();
    let yaml = fleet_yaml(&["p1"], &["r1"], &[], true);
    commit(&repo, &yaml, &app(2, "v1"), "first");
    // p1's Deployment never rolls out.
    let controller =
        RolloutController::start(&clusters.servers, HashMap::new(), Duration::from_secs(180));
    controller.pause("p1", true);
    let hub = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &[])).await;
    hub.wait_fleet("r1 Halted by the canary", CONVERGE, |v| {
        v.status("r1") == "Halted"
    })
    .await;

    // Six events of the Deployment (one more than the bound), out of order,
    // and events of other objects: another Deployment, a Pod named `web`.
    for (name, at) in [
        ("w3", 3),
        ("w1", 1),
        ("w6", 6),
        ("w2", 2),
        ("w5", 5),
        ("w4", 4),
    ] {
        add_event(&clusters, "p1", name, "Deployment", "web", at);
    }
    add_event(&clusters, "p1", "other-deploy", "Deployment", "other", 9);
    add_event(&clusters, "p1", "other-pod", "Pod", "web", 8);

    let started = Instant::now();
    let web = loop {
        let v = hub.get("/api/v1/clusters/p1/objects").await.json();
        let web = v["objects"]
            .as_array()
            .and_then(|o| {
                o.iter()
                    .find(|o| o["key"]["kind"] == "Deployment" && o["key"]["name"] == "web")
            })
            .cloned();
        if let Some(web) = web
            && web["events"].as_array().is_some_and(|e| !e.is_empty())
        {
            break web;
        }
        assert!(
            started.elapsed() < CONVERGE,
            "no events reached the hub: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(web["health"], "Healthy", "{web}");
    assert!(!web["reason"].as_str().unwrap_or("").is_empty(), "{web}");
    let reasons: Vec<&str> = web["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or(""))
        .collect();
    // Newest first, bounded to 5, only this object's.
    assert_eq!(
        reasons,
        [
            "Reason-w6",
            "Reason-w5",
            "Reason-w4",
            "Reason-w3",
            "Reason-w2"
        ],
        "{web}"
    );
    let newest = &web["events"][0];
    assert_eq!(newest["message"], "<b>w6</b> & more", "{web}");
    assert_eq!(newest["count"], 2, "{web}");

    // The status page: the object, its reason and its events, escaped.
    let page = hub.get("/").await.text();
    let section = &page[page
        .find("Unhealthy objects")
        .unwrap_or_else(|| panic!("{page}"))..];
    assert!(section.contains("<code>p1</code>"), "{section}");
    assert!(section.contains("Reason-w6"), "{section}");
    assert!(
        section.contains("&lt;b&gt;w6&lt;/b&gt; &amp; more"),
        "{section}"
    );
    assert!(!section.contains("<b>w6</b>"), "unescaped: {section}");
    assert!(!section.contains("Reason-w1"), "past the bound: {section}");
    assert!(
        !section.contains("other-"),
        "another object's events: {section}"
    );
}

// ----- 4. autonomy: the hub goes away and comes back ----------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn without_its_hub_the_agent_heals_and_a_restarted_hub_learns_it() {
    let all = names(&["c1"]);
    let clusters = Clusters::start(&all).await;
    let tokens = Tokens::new(&all);
    let repo = FleetRepo::new();
    let yaml = fleet_yaml(&[], &["c1"], &["c1"], false);
    let first = commit(&repo, &yaml, &app(2, "v1"), "first");
    let _controller =
        RolloutController::start(&clusters.servers, HashMap::new(), Duration::from_secs(180));
    let hub = Daemon::start(&hub_args(&repo, &clusters, &tokens)).await;
    let relay = Relay::start(&hub.addr).await;
    let agent = Agent::start(&relay.addr, "c1", &tokens.file("c1"), &clusters);
    hub.wait_converged(&first, CONVERGE).await;

    // The hub is killed; a hand edit is healed by the agent alone.
    drop(hub);
    hand_edit_replicas(&clusters, "c1", 5).await;
    wait_until("the agent healed the hand edit", CONVERGE, || {
        clusters.replicas("c1", "web") == Some(2)
    })
    .await;
    clusters.server("c1").clear_request_log();

    // A new hub (same repository, same address for the agent).
    let hub = Daemon::start(&hub_args(&repo, &clusters, &tokens)).await;
    relay.set_target(&hub.addr);
    relay.cut();
    let view = hub.wait_converged(&first, CONVERGE).await;
    let c1 = view.cluster("c1");
    let recent: Vec<String> = c1["agent"]["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect();
    assert!(
        recent.iter().any(|l| l.contains("healed drift")),
        "the heal done while away is reported: {recent:#?}\n{}",
        agent.stderr()
    );
    // The same assignment again: nothing applied twice.
    assert_eq!(
        deployment_writes(&clusters, "c1"),
        Vec::<String>::new(),
        "the restarted hub's assignment was applied again"
    );
}

// ----- 5. a network drop mid-stream -------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_connection_resumes_without_duplicate_work() {
    let all = names(&["c1"]);
    let clusters = Clusters::start(&all).await;
    let tokens = Tokens::new(&all);
    let repo = FleetRepo::new();
    let yaml = fleet_yaml(&[], &["c1"], &["c1"], false);
    let first = commit(&repo, &yaml, &app(2, "v1"), "first");
    let _controller =
        RolloutController::start(&clusters.servers, HashMap::new(), Duration::from_secs(180));
    let hub = Daemon::start(&hub_args(&repo, &clusters, &tokens)).await;
    let relay = Relay::start(&hub.addr).await;
    let agent = Agent::start(&relay.addr, "c1", &tokens.file("c1"), &clusters);
    hub.wait_converged(&first, CONVERGE).await;
    clusters.server("c1").clear_request_log();

    // A new commit, while every connection is cut every 300 ms for 4 s.
    let second = commit(&repo, &yaml, &app(3, "v2"), "scale to 3");
    let mut cut = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        cut += relay.cut();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(cut > 0, "no connection was open to cut");
    let view = hub.wait_converged(&second, CONVERGE).await;
    assert_eq!(clusters.replicas("c1", "web"), Some(3));
    assert_eq!(
        view.cluster("c1")["lastSync"]["configured"],
        2,
        "{}",
        view.0
    );
    let w = deployment_writes(&clusters, "c1");
    assert_eq!(
        w.len(),
        1,
        "the Deployment was written more than once: {w:#?}\n{}",
        agent.stderr()
    );
}

// ----- 6. the agent killed mid-sync -------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_killed_mid_sync_leaves_a_consistent_inventory_after_restart() {
    let all = names(&["c1"]);
    let clusters = Clusters::start(&all).await;
    let tokens = Tokens::new(&all);
    let repo = FleetRepo::new();
    let yaml = fleet_yaml(&[], &["c1"], &["c1"], false);
    let big = App {
        extra_configmaps: 40,
        ..app(1, "v1")
    };
    let first = commit(&repo, &yaml, &big, "first");
    let _controller =
        RolloutController::start(&clusters.servers, HashMap::new(), Duration::from_secs(180));
    // Slow writes, so the kill lands mid-sync.
    clusters
        .server("c1")
        .set_response_delay(Duration::from_millis(50));
    let hub = Daemon::start(&hub_args(&repo, &clusters, &tokens)).await;
    let agent = Agent::start(&hub.addr, "c1", &tokens.file("c1"), &clusters);
    wait_until("the agent started applying", CONVERGE, || {
        clusters
            .server("c1")
            .list("", "v1", "configmaps", Some(APP_NS))
            .len()
            >= 3
    })
    .await;
    let agent = agent.restart(&hub.addr, "c1", &tokens.file("c1"), &clusters);
    clusters.server("c1").set_response_delay(Duration::ZERO);
    hub.wait_converged(&first, CONVERGE).await;
    let inv =
        inventory(clusters.server("c1"), "c1").unwrap_or_else(|| panic!("{}", agent.stderr()));
    let entries = inv["entries"].as_array().unwrap();
    assert_eq!(entries.len(), big.object_count(), "{inv}");
    for e in entries {
        let kind = e["kind"].as_str().unwrap();
        let name = e["name"].as_str().unwrap();
        let (group, version) = match kind {
            "Deployment" => ("apps", "v1"),
            _ => ("", "v1"),
        };
        let ns = e["namespace"].as_str().filter(|n| !n.is_empty());
        assert!(
            clusters
                .server("c1")
                .get(group, version, &support::objects::plural(kind), ns, name)
                .is_some(),
            "the inventory lists {e} but the cluster lacks it"
        );
    }
}
