//! `flotilla sync` end to end against in-process Kubernetes test API servers
//! (`kube-testserver`, one per cluster, on 127.0.0.1) and folders: what a user
//! notices (exit codes, summary lines, objects on the clusters, requests
//! made).
//!
//! Scenarios that need nothing but the Kubernetes API are in
//! `tests/scenarios/` and run against test API servers or a real cluster;
//! the ones here inject faults, count requests, use the eight-cluster
//! example fleet or directory targets. Each scenario is a function over the cluster handle(s) it is given; the
//! `#[tokio::test]`s start the servers and call it. Every run of the binary
//! is bounded by `sync_support::RUN_LIMIT`.

mod support;
mod sync_support;

use std::path::Path;
use std::time::Duration;

use kube_testserver::TestApiServer;
use serde_json::{Value, json};
use support::objects::resource_version;
use sync_support::*;

// ----- fixtures --------------------------------------------------------------

/// The `web` base of the small fleets: a namespace and three objects in it.
const WEB: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: ghcr.io/example-shop/web:1.4.2
          ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config, namespace: shop}
data: {CLUSTER: "${cluster.name}"}
"#;

/// Objects of the `web` base as (apiVersion, plural, namespace, name).
const WEB_OBJECTS: [(&str, &str, Option<&str>, &str); 4] = [
    ("v1", "namespaces", None, "shop"),
    ("apps/v1", "deployments", Some("shop"), "web"),
    ("v1", "services", Some("shop"), "web"),
    ("v1", "configmaps", Some("shop"), "web-config"),
];

/// A base of `n` ConfigMaps `<prefix>-<i>` in namespace shop.
fn config_maps(prefix: &str, n: usize) -> String {
    (1..=n)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {prefix}-{i}, namespace: shop}}\ndata: {{index: \"{i}\"}}\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

fn deployment(cluster: &impl Cluster, ns: &str, name: &str) -> Option<Value> {
    cluster.object("apps/v1", "deployments", Some(ns), name)
}

fn config_map(cluster: &impl Cluster, ns: &str, name: &str) -> Option<Value> {
    cluster.object("v1", "configmaps", Some(ns), name)
}

/// The example fleet in `dir`, bound to `servers` (Gateway API installed on
/// each), synced once; asserts that first sync succeeded.
async fn example_synced(dir: &Path, servers: &[impl Cluster]) -> (std::path::PathBuf, Vec<String>) {
    for s in servers {
        s.install_gateway_api();
    }
    let (repo, names) = example_fleet(dir, servers);
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    (repo, names)
}

// ----- 1. the example fleet onto eight servers -------------------------------

async fn example_fleet_lands_on_every_cluster(dir: &Path, servers: &[impl Cluster]) {
    for s in servers {
        s.install_gateway_api();
    }
    let (repo, names) = example_fleet(dir, servers);
    let desired = render(&repo);
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    for ((name, server), state) in names.iter().zip(servers).zip(&desired) {
        assert_eq!(&state.cluster, name);
        let line = run.cluster(name);
        assert_eq!(
            line,
            Summary {
                created: state.objects.len(),
                ..Summary::default()
            },
            "{name}:\n{run}"
        );
        // Every desired object is on the cluster's own server, marked as
        // Flotilla's.
        for object in &state.objects {
            let live = live_copy(server, object)
                .unwrap_or_else(|| panic!("{name}: {} is on the server", object.key));
            assert_eq!(
                live["metadata"]["labels"][MANAGED_BY.0], MANAGED_BY.1,
                "{name}: {}",
                object.key
            );
        }
        let want = state
            .objects
            .iter()
            .find(|o| o.key.kind == "Deployment" && o.key.name == "web")
            .expect("Deployment shop/web is placed everywhere");
        let live = deployment(server, "shop", "web").expect("Deployment shop/web exists");
        assert_eq!(
            live["spec"]["replicas"], want.object["spec"]["replicas"],
            "{name}"
        );
        assert_eq!(
            live["spec"]["template"]["spec"]["containers"][0]["image"],
            want.object["spec"]["template"]["spec"]["containers"][0]["image"],
            "{name}"
        );
        assert_eq!(
            live["metadata"]["labels"][MANAGED_BY.0], MANAGED_BY.1,
            "{name}: ownership is visible on the cluster"
        );
        // What a cluster's patches delete is not there.
        let hpa = server.object(
            "autoscaling/v2",
            "horizontalpodautoscalers",
            Some("shop"),
            "web",
        );
        assert_eq!(
            hpa.is_some(),
            name != "dc-frankfurt",
            "{name}: HPA shop/web"
        );
        let cm = config_map(server, "shop", "web-config").expect("ConfigMap shop/web-config");
        assert_eq!(
            cm["data"]["SHOP_CLUSTER"],
            name.as_str(),
            "per-cluster substitution"
        );
        // The CRD of the widgets base got served, and its custom resource exists.
        let crd = server
            .object(
                "apiextensions.k8s.io/v1",
                "customresourcedefinitions",
                None,
                "widgets.example.flotilla.dev",
            )
            .expect("the Widget CRD");
        assert!(
            crd["status"]["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        );
        let widget = server
            .object(
                "example.flotilla.dev/v1alpha1",
                "widgets",
                Some("shop"),
                "spring-sale-banner",
            )
            .expect("the Widget custom resource");
        assert_eq!(widget["spec"]["page"], "home");
        assert!(
            server
                .object(
                    "gateway.networking.k8s.io/v1",
                    "httproutes",
                    Some("shop"),
                    "web"
                )
                .is_some(),
            "{name}: HTTPRoute shop/web"
        );
        // The inventory records exactly the desired objects.
        let inv = inventory(server, "shop", name).expect("the inventory ConfigMap");
        assert_eq!(
            inv["entries"].as_array().unwrap().len(),
            state.objects.len(),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn example_fleet_lands_on_eight_servers() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start_servers(8).await;
    example_fleet_lands_on_every_cluster(dir.path(), &servers).await;
}

// ----- 2. idempotence --------------------------------------------------------

async fn second_sync_is_a_no_op(dir: &Path, servers: &[impl Cluster]) {
    let (repo, names) = example_synced(dir, servers).await;
    let desired = render(&repo);
    for s in servers {
        s.reset_counters();
    }
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    let mut report = Vec::new();
    for ((name, server), state) in names.iter().zip(servers).zip(&desired) {
        assert_eq!(
            run.cluster(name),
            Summary {
                unchanged: state.objects.len(),
                ..Summary::default()
            },
            "{name}:\n{run}"
        );
        let c = server.counters();
        assert_eq!(
            c.writes, 0,
            "{name}: a no-op sync writes nothing, got {:?}",
            c.by_verb
        );
        assert_eq!(c.changes, 0, "{name}");
        let kinds = kinds(state).len() as u64;
        report.push(format!(
            "{name}: {} requests for {} objects of {kinds} kinds ({:?})",
            c.total,
            state.objects.len(),
            c.by_verb
        ));
        // One LIST per kind, nothing per object; plus the LISTs of the
        // HPAs that only the cluster may hold, for the workloads no HPA in
        // Git scales (one per namespace, or one in all).
        let hpa_lists = hpa_lists(state);
        assert_eq!(
            c.by_verb.get("list").copied().unwrap_or(0),
            kinds + hpa_lists,
            "{name}"
        );
        // Budget: the LISTs, one discovery lookup per kind and the inventory
        // (the tighter one, per group version, is
        // `noop_resync_fetches_each_discovery_document_once`).
        assert!(
            c.total <= 2 * kinds + hpa_lists + 3,
            "{name}: {} requests for a no-op sync of {kinds} kinds: {:?}",
            c.total,
            c.by_verb
        );
    }
    eprintln!("no-op resync:\n{}", report.join("\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn second_sync_is_all_unchanged_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start_servers(8).await;
    second_sync_is_a_no_op(dir.path(), &servers).await;
}

/// The LISTs of live HPAs a sync of `state` (every object live) makes:
/// one per namespace of workloads that set replicas and that no HPA in Git
/// scales, or one cluster-wide beyond a bound.
fn hpa_lists(state: &flotilla_core::render::DesiredState) -> u64 {
    flotilla_core::diff::controlled::live_controller_reads(
        state.objects.iter().map(|o| &o.object),
        |_| true,
    )
    .iter()
    .map(|r| {
        if r.namespaces.len() <= flotilla_engine::destination::kube::CONTROLLER_NAMESPACES_MAX {
            r.namespaces.len() as u64
        } else {
            1
        }
    })
    .sum()
}

/// The request budget of a no-op sync: one LIST per kind, one discovery
/// document per group version, one read of the inventory, and one LIST of
/// the HPAs of namespace shop (a Deployment sets replicas and Git holds no
/// HPA: one made by hand would own them).
async fn noop_resync_request_budget(dir: &Path, cluster: &impl Cluster) {
    let repo = small_fleet(dir, &[("solo", cluster)], &["web"]);
    write(&repo, "bases/web/web.yaml", WEB);
    assert_exit(&sync(&repo, &[]).await, 0);
    cluster.reset_counters();
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    let c = cluster.counters();
    assert_eq!(c.writes, 0);
    let (kinds, group_versions) = (4, 2); // v1 and apps/v1
    let twice: Vec<_> = c.by_path.iter().filter(|(_, n)| **n > 1).collect();
    let hpa_lists = 1;
    assert!(
        c.total <= kinds + group_versions + 1 + hpa_lists,
        "{} requests; fetched more than once: {twice:?}",
        c.total
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn noop_resync_fetches_each_discovery_document_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestApiServer::start().await;
    noop_resync_request_budget(dir.path(), &server).await;
}

// ----- 3. prune after a base left fleet.yaml ---------------------------------

async fn removed_base_is_pruned(dir: &Path, servers: &[impl Cluster]) {
    let (repo, names) = example_synced(dir, servers).await;
    let before = render(&repo);
    let fleet = read(&repo, "fleet.yaml");
    write(&repo, "fleet.yaml", &remove_base(&fleet, "eu-data"));
    let after = render(&repo);
    // Every remaining object's resourceVersion, to see it untouched.
    let versions = |s: &_, state: &flotilla_core::render::DesiredState| -> Vec<String> {
        state
            .objects
            .iter()
            .map(|o| resource_version(&live_copy(s, o).unwrap()))
            .collect()
    };
    let kept: Vec<Vec<String>> = servers
        .iter()
        .zip(&after)
        .map(|(s, state)| versions(s, state))
        .collect();
    for s in servers {
        s.reset_counters();
    }
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    let mut pruned_somewhere = false;
    for (i, name) in names.iter().enumerate() {
        let (server, gone) = (
            &servers[i],
            before[i].objects.len() - after[i].objects.len(),
        );
        let line = run.cluster(name);
        assert_eq!(
            line,
            Summary {
                unchanged: after[i].objects.len(),
                pruned: gone,
                ..Summary::default()
            },
            "{name}:\n{run}"
        );
        let eu = before[i]
            .objects
            .iter()
            .any(|o| o.key.name == "customer-db");
        assert_eq!(eu, gone == 3, "{name}: the eu-data base held 3 objects");
        pruned_somewhere |= gone > 0;
        for (api, plural) in [
            ("v1", "services"),
            ("apps/v1", "statefulsets"),
            ("networking.k8s.io/v1", "networkpolicies"),
        ] {
            assert!(
                server
                    .object(api, plural, Some("shop"), "customer-db")
                    .is_none(),
                "{name}: {plural} shop/customer-db pruned"
            );
        }
        let c = server.counters();
        if gone == 0 {
            assert_eq!(c.writes, 0, "{name}: nothing to prune, nothing written");
        } else {
            // The deletes, the mass-prune guard's window record (issue 13),
            // then the inventory.
            assert_eq!(
                c.by_verb.get("delete").copied().unwrap_or(0),
                gone as u64,
                "{name}"
            );
            assert_eq!(c.writes, gone as u64 + 2, "{name}: {:?}", c.by_verb);
        }
        assert_eq!(
            versions(server, &after[i]),
            kept[i],
            "{name}: remaining objects untouched"
        );
        let inv = inventory(server, "shop", name).unwrap();
        assert_eq!(
            inv["entries"].as_array().unwrap().len(),
            after[i].objects.len()
        );
    }
    assert!(
        pruned_somewhere,
        "the example places eu-data on some clusters"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_a_base_prunes_its_objects_only() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start_servers(8).await;
    removed_base_is_pruned(dir.path(), &servers).await;
}

// (The mass-prune guard, a CRD with its custom resource and conflicts with
// another field manager are cluster scenarios: tests/scenarios/sync.rs, run
// against test API servers or a real cluster.)

// ----- 7. one server down -----------------------------------------------------

async fn down_cluster_fails_alone(dir: &Path, up: &[&TestApiServer], down: &TestApiServer) {
    let repo = small_fleet(
        dir,
        &[("up-1", up[0]), ("down", down), ("up-2", up[1])],
        &["web"],
    );
    write(&repo, "bases/web/web.yaml", WEB);
    down.set_down(true);
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 2);
    assert!(run.elapsed < Duration::from_secs(60), "bounded: {run}");
    for (name, server) in [("up-1", up[0]), ("up-2", up[1])] {
        assert_eq!(
            run.cluster(name),
            Summary {
                created: 4,
                ..Summary::default()
            },
            "{run}"
        );
        for (api, plural, ns, obj) in WEB_OBJECTS {
            assert!(
                server.object(api, plural, ns, obj).is_some(),
                "{name}: {plural} {obj}"
            );
        }
    }
    let line = run.cluster("down");
    let error = line
        .error
        .as_deref()
        .unwrap_or_else(|| panic!("a reason: {run}"));
    assert!(error.contains("unreachable"), "{error}");
    eprintln!("down cluster reported after {:?}: {error}", run.elapsed);
    assert_eq!(line.written(), 0);
    down.set_down(false);
    assert!(deployment(down, "shop", "web").is_none());
    // Back up: the next round catches up.
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("down").created, 4, "{run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_down_cluster_fails_alone_and_the_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start_servers(3).await;
    tokio::time::timeout(
        Duration::from_secs(120),
        down_cluster_fails_alone(dir.path(), &[&servers[0], &servers[2]], &servers[1]),
    )
    .await
    .expect("the scenario finishes within 120 s");
}

// ----- 8. a burst of 503s -----------------------------------------------------

async fn transient_errors_are_retried(dir: &Path, cluster: &TestApiServer) {
    let repo = small_fleet(dir, &[("solo", cluster)], &["web"]);
    write(&repo, "bases/web/web.yaml", WEB);
    cluster.fail_next(3, 503);
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("solo"),
        Summary {
            created: 4,
            ..Summary::default()
        },
        "{run}"
    );
    let c = cluster.counters();
    assert_eq!(c.faults, 3, "all three 503s were served");
    assert_eq!(cluster.pending_faults(), 0);
    // The failed request was repeated until it went through.
    let log = cluster.request_log();
    let first = &log[0];
    assert_eq!(first.status, 503);
    let repeat = log
        .iter()
        .find(|r| r.status != 503)
        .expect("a request succeeded");
    assert_eq!((&repeat.method, &repeat.path), (&first.method, &first.path));
    for (api, plural, ns, name) in WEB_OBJECTS {
        assert!(
            cluster.object(api, plural, ns, name).is_some(),
            "{plural} {name}"
        );
    }
    // Applies and deletes too: 503s and a dropped connection on the writes
    // of the next change.
    write(
        &repo,
        "bases/web/web.yaml",
        &WEB.replace("replicas: 2", "replicas: 4"),
    );
    write(&repo, "bases/web/more.yaml", &config_maps("more", 1));
    cluster.inject(kube_testserver::Fault::status(503).times(2).method("PATCH"));
    cluster.inject(kube_testserver::Fault::drop_connection().method("PATCH"));
    cluster.reset_counters();
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("solo"),
        Summary {
            created: 1,
            configured: 1,
            unchanged: 3,
            ..Summary::default()
        },
        "{run}"
    );
    assert_eq!(cluster.counters().faults, 3);
    assert_eq!(
        deployment(cluster, "shop", "web").unwrap()["spec"]["replicas"],
        4
    );
    assert!(config_map(cluster, "shop", "more-1").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_503s_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestApiServer::start().await;
    transient_errors_are_retried(dir.path(), &server).await;
}

// ----- 9. a directory target round trip --------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn directory_target_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, out) = (dir.path().join("repo"), dir.path().join("live"));
    write(
        &repo,
        "fleet.yaml",
        &format!(
            "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nmetadata: {{name: demo}}\nspec:\n  clusters:\n    - {{name: local, connection: {{directory: {}}}}}\n  bases:\n    - {{name: web, path: bases/web}}\n",
            out.display()
        ),
    );
    write(&repo, "bases/web/web.yaml", WEB);
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("local").created, 4, "{run}");
    let file = "apps_deployment_shop_web.yaml";
    let original = read(&out, file);
    assert!(original.contains("replicas: 2"), "{original}");
    // Someone edits the hydrated manifest by hand.
    write(&out, file, &original.replace("replicas: 2", "replicas: 9"));
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("local"),
        Summary {
            configured: 1,
            unchanged: 3,
            ..Summary::default()
        },
        "{run}"
    );
    assert_eq!(read(&out, file), original, "restored");
    // An object leaves Git.
    write(&repo, "bases/web/web.yaml", &WEB.replace("---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: http}]\n", ""));
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("local"),
        Summary {
            unchanged: 3,
            pruned: 1,
            ..Summary::default()
        },
        "{run}"
    );
    assert!(!out.join("core_service_shop_web.yaml").exists(), "pruned");
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("local"),
        Summary {
            unchanged: 3,
            ..Summary::default()
        },
        "{run}"
    );
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "apps_deployment_shop_web.yaml",
            "core_configmap_shop_web-config.yaml",
            "core_namespace__shop.yaml"
        ]
    );
}

// ----- 10. dry run ------------------------------------------------------------

async fn dry_run_stores_nothing(dir: &Path, cluster: &impl Cluster) {
    let repo = small_fleet(dir, &[("solo", cluster)], &["web"]);
    write(&repo, "bases/web/web.yaml", WEB);
    assert_exit(&sync(&repo, &[]).await, 0);
    let inventory_before = inventory(cluster, "demo", "solo").unwrap();
    // Next commit: a new base, and a changed replica count.
    write(
        &repo,
        "bases/web/web.yaml",
        &WEB.replace("replicas: 2", "replicas: 5"),
    );
    write(&repo, "bases/extra/cms.yaml", &config_maps("extra", 2));
    write(
        &repo,
        "fleet.yaml",
        &read(&repo, "fleet.yaml").replace(
            "    - {name: web, path: bases/web}\n",
            "    - {name: web, path: bases/web}\n    - {name: extra, path: bases/extra}\n",
        ),
    );
    cluster.reset_counters();
    let run = sync(&repo, &["--dry-run"]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("solo"),
        Summary {
            created: 2,
            configured: 1,
            unchanged: 3,
            dry_run: true,
            ..Summary::default()
        },
        "{run}"
    );
    let c = cluster.counters();
    assert_eq!((c.writes, c.changes), (0, 0), "{c:?}");
    assert!(config_map(cluster, "shop", "extra-1").is_none());
    assert!(config_map(cluster, "shop", "extra-2").is_none());
    assert_eq!(
        deployment(cluster, "shop", "web").unwrap()["spec"]["replicas"],
        2
    );
    assert_eq!(
        inventory(cluster, "demo", "solo").unwrap(),
        inventory_before
    );
    // The real run does what the dry run said.
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("solo"),
        Summary {
            created: 2,
            configured: 1,
            unchanged: 3,
            ..Summary::default()
        },
        "{run}"
    );
    // A dry run of a prune deletes nothing; `-o json` tells the same.
    let fleet = read(&repo, "fleet.yaml");
    write(&repo, "fleet.yaml", &remove_base(&fleet, "extra"));
    cluster.reset_counters();
    let run = sync(&repo, &["--dry-run", "-o", "json"]).await;
    assert_exit(&run, 0);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON output");
    let solo = &report[0];
    assert_eq!(
        (&solo["cluster"], &solo["dryRun"]),
        (&json!("solo"), &json!(true))
    );
    let pruned: Vec<&str> = solo["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "pruned")
        .map(|c| c["key"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(pruned.len(), 2, "{run}");
    assert!(pruned.iter().all(|n| n.starts_with("extra-")), "{pruned:?}");
    assert_eq!(cluster.counters().writes, 0);
    assert!(config_map(cluster, "shop", "extra-1").is_some());
    assert!(config_map(cluster, "shop", "extra-2").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_reports_changes_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestApiServer::start().await;
    dry_run_stores_nothing(dir.path(), &server).await;
}

/// The first sync of a fresh cluster, as a dry run: the namespace the
/// objects live in does not exist yet.
async fn dry_run_of_a_fresh_cluster(dir: &Path, cluster: &impl Cluster) {
    let repo = small_fleet(dir, &[("solo", cluster)], &["web"]);
    write(&repo, "bases/web/web.yaml", WEB);
    cluster.reset_counters();
    let run = sync(&repo, &["--dry-run"]).await;
    assert_eq!(cluster.counters().writes, 0);
    for (api, plural, ns, name) in WEB_OBJECTS {
        assert!(
            cluster.object(api, plural, ns, name).is_none(),
            "{plural} {name}"
        );
    }
    assert!(inventory(cluster, "demo", "solo").is_none());
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("solo"),
        Summary {
            created: 4,
            dry_run: true,
            ..Summary::default()
        },
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_of_a_fresh_cluster_reports_what_would_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestApiServer::start().await;
    dry_run_of_a_fresh_cluster(dir.path(), &server).await;
}

// (The inventory across engine restarts: tests/scenarios/sync.rs.)

// ----- 12. a render error stops only its cluster -------------------------------

async fn render_error_stops_its_cluster(dir: &Path, good: &impl Cluster, bad: &impl Cluster) {
    let repo = small_fleet(dir, &[("good", good), ("bad", bad)], &["web", "extra"]);
    write(&repo, "bases/web/web.yaml", WEB);
    write(&repo, "bases/extra/cms.yaml", &config_maps("extra", 2));
    assert_exit(&sync(&repo, &[]).await, 0);
    // Next commit: a base leaves Git, and bad's own patch is broken.
    let fleet = read(&repo, "fleet.yaml");
    write(&repo, "fleet.yaml", &remove_base(&fleet, "extra"));
    write(
        &repo,
        "clusters/bad/image.yaml",
        "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: Deployment, name: web, namespace: shop}\njsonPatch:\n  - {op: replace, path: /spec/template/spec/containers/3/image, value: web:2}\n",
    );
    good.reset_counters();
    bad.reset_counters();
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 2);
    assert_eq!(
        run.cluster("good"),
        Summary {
            unchanged: 4,
            pruned: 2,
            ..Summary::default()
        },
        "{run}"
    );
    assert!(config_map(good, "shop", "extra-1").is_none());
    let line = run.cluster("bad");
    assert_eq!(line.written(), 0, "{run}");
    let error = line.error.as_deref().unwrap_or("");
    assert!(error.contains("render error"), "{run}");
    assert!(
        run.stdout.contains("clusters/bad/image.yaml"),
        "names the file: {run}"
    );
    assert!(
        run.stdout
            .contains("/spec/template/spec/containers/3/image"),
        "names the path: {run}"
    );
    assert_eq!(
        bad.counters().total,
        0,
        "not even contacted: {:?}",
        bad.counters()
    );
    assert!(
        config_map(bad, "shop", "extra-1").is_some(),
        "no prune on a render error"
    );
    assert!(
        config_map(bad, "shop", "extra-2").is_some(),
        "no prune on a render error"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn render_error_means_no_apply_and_no_prune_for_that_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start_servers(2).await;
    render_error_stops_its_cluster(dir.path(), &servers[0], &servers[1]).await;
}

// ----- more: what users meet --------------------------------------------------

/// Manifests as `kubectl create --dry-run=client -o yaml` writes them, a
/// Secret with `stringData`, and values the server normalises: a second
/// sync still writes nothing.
const KUBECTL_STYLE: &str = r#"apiVersion: v1
kind: Namespace
metadata: {name: shop, creationTimestamp: null}
spec: {}
status: {}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels: {app: api}
  name: api
  namespace: shop
spec:
  replicas: 1
  selector:
    matchLabels: {app: api}
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels: {app: api}
    spec:
      containers:
        - image: ghcr.io/example-shop/api:1.0
          name: api
          resources:
            requests: {cpu: "0.5", memory: 1Gi}
          ports: [{containerPort: 8080}]
status: {}
---
apiVersion: v1
kind: Secret
metadata: {name: api-token, namespace: shop}
stringData: {token: s3cr3t}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: 8080}]
"#;

async fn kubectl_style_manifests_settle(dir: &Path, cluster: &impl Cluster) {
    let repo = small_fleet(dir, &[("solo", cluster)], &["api"]);
    write(&repo, "bases/api/api.yaml", KUBECTL_STYLE);
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("solo").created, 4, "{run}");
    cluster.reset_counters();
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("solo").unchanged, 4, "{run}");
    assert_eq!(cluster.counters().writes, 0, "{:?}", cluster.counters());
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_style_manifests_are_unchanged_on_the_second_sync() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestApiServer::start().await;
    kubectl_style_manifests_settle(dir.path(), &server).await;
}

/// Someone changes the cluster behind Flotilla's back: deletes an object and
/// strips the ownership label off another (changed fields another manager
/// then owns are conflicts: scenario 6).
async fn out_of_band_changes_are_corrected(dir: &Path, cluster: &TestApiServer) {
    let repo = small_fleet(dir, &[("solo", cluster)], &["web"]);
    write(&repo, "bases/web/web.yaml", WEB);
    assert_exit(&sync(&repo, &[]).await, 0);
    cluster
        .delete("", "v1", "configmaps", Some("shop"), "web-config")
        .unwrap();
    let mut svc = cluster
        .get("", "v1", "services", Some("shop"), "web")
        .unwrap();
    svc["metadata"]["labels"]
        .as_object_mut()
        .unwrap()
        .remove(MANAGED_BY.0);
    cluster.insert(svc).unwrap();
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("solo"),
        Summary {
            created: 1,
            configured: 1,
            unchanged: 2,
            ..Summary::default()
        },
        "{run}"
    );
    assert!(config_map(cluster, "shop", "web-config").is_some());
    let svc = cluster
        .get("", "v1", "services", Some("shop"), "web")
        .unwrap();
    assert_eq!(svc["metadata"]["labels"][MANAGED_BY.0], MANAGED_BY.1);
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_band_changes_on_the_cluster_are_corrected() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestApiServer::start().await;
    out_of_band_changes_are_corrected(dir.path(), &server).await;
}

/// `--no-prune` ("never delete anything this run") keeps what left Git, and
/// Flotilla still owns it: the next normal sync prunes it.
async fn no_prune_keeps_ownership(dir: &Path, cluster: &impl Cluster) {
    let repo = small_fleet(dir, &[("solo", cluster)], &["web", "extra"]);
    write(&repo, "bases/web/web.yaml", WEB);
    write(&repo, "bases/extra/cms.yaml", &config_maps("extra", 2));
    assert_exit(&sync(&repo, &[]).await, 0);
    let fleet = read(&repo, "fleet.yaml");
    write(&repo, "fleet.yaml", &remove_base(&fleet, "extra"));
    let run = sync(&repo, &["--no-prune"]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("solo").pruned, 0, "{run}");
    assert!(config_map(cluster, "shop", "extra-1").is_some());
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("solo").pruned,
        2,
        "still owned, so pruned now: {run}"
    );
    assert!(config_map(cluster, "shop", "extra-1").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_prune_run_keeps_ownership_of_what_left_git() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestApiServer::start().await;
    no_prune_keeps_ownership(dir.path(), &server).await;
}

/// Rollout waves: a canary cluster that cannot be reached stops the rollout
/// before the later wave touches its clusters.
async fn failed_canary_stops_the_rollout(dir: &Path, servers: &[TestApiServer]) {
    for s in servers {
        s.install_gateway_api();
    }
    let (repo, names) = example_fleet(dir, servers);
    // The example's canary wave: clusters labelled canary=true.
    let canary = ["gke-staging", "eks-us-east", "gke-eu-west"];
    let down = names.iter().position(|n| n == "eks-us-east").unwrap();
    servers[down].set_down(true);
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 2);
    for (name, server) in names.iter().zip(servers) {
        let line = run.cluster(name);
        if name == "eks-us-east" {
            assert!(line.error.unwrap().contains("unreachable"), "{run}");
        } else if canary.contains(&name.as_str()) {
            assert!(line.error.is_none() && line.failed == 0, "{run}");
            assert!(line.created > 0, "{run}");
        } else {
            let error = line.error.unwrap_or_default();
            assert!(
                error.contains("not synced") && error.contains("eks-us-east"),
                "{name}: {run}"
            );
            assert_eq!(server.counters().total, 0, "{name}: never contacted");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_canary_wave_stops_the_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let servers = start_servers(8).await;
    tokio::time::timeout(
        Duration::from_secs(120),
        failed_canary_stops_the_rollout(dir.path(), &servers),
    )
    .await
    .expect("the scenario finishes within 120 s");
}

/// A namespaced object written without a namespace goes to the
/// kubeconfig's default namespace, and settles: the second sync writes
/// nothing.
async fn namespace_less_object_settles(dir: &Path, cluster: &impl Cluster) {
    let repo = small_fleet(dir, &[("solo", cluster)], &["plain"]);
    write(
        &repo,
        "bases/plain/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: no-namespace}\ndata: {a: b}\n",
    );
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("solo").created, 1, "{run}");
    assert!(config_map(cluster, "default", "no-namespace").is_some());
    cluster.reset_counters();
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("solo").unchanged, 1, "{run}");
    assert_eq!(cluster.counters().writes, 0, "{:?}", cluster.counters());
    // Removed from Git, it is pruned from where it was put.
    write(
        &repo,
        "bases/plain/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: default}\n",
    );
    let run = sync(&repo, &["--allow-mass-prune"]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("solo").pruned, 1, "{run}");
    assert!(config_map(cluster, "default", "no-namespace").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn object_without_a_namespace_lands_in_the_default_one_and_settles() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestApiServer::start().await;
    namespace_less_object_settles(dir.path(), &server).await;
}

/// A cluster-scoped object with a stray `metadata.namespace` (Kubernetes
/// ignores it: the stored object has none) settles like any other: the
/// second sync writes nothing.
async fn stray_namespace_settles(dir: &Path, cluster: &impl Cluster) {
    let repo = small_fleet(dir, &[("solo", cluster)], &["rbac"]);
    write(
        &repo,
        "bases/rbac/role.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader, namespace: shop}\nrules:\n  - {apiGroups: [\"\"], resources: [configmaps], verbs: [get]}\n",
    );
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("solo").created, 1, "{run}");
    cluster.reset_counters();
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("solo").unchanged, 1, "{run}");
    assert_eq!(cluster.counters().writes, 0, "{:?}", cluster.counters());
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_scoped_object_with_a_stray_namespace_settles() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestApiServer::start().await;
    stray_namespace_settles(dir.path(), &server).await;
}

// ----- the health gate: sync --wait -------------------------------------------

/// A fleet of two clusters in two waves, `canary` then `rest`, each with
/// the `web` base (a Deployment among it), health-gated.
fn gated_fleet(dir: &Path, canary: &TestApiServer, rest: &TestApiServer) -> std::path::PathBuf {
    let repo = small_fleet(dir, &[("canary", canary), ("rest", rest)], &["web"]);
    write(&repo, "bases/web/web.yaml", WEB);
    let fleet = read(&repo, "fleet.yaml").replace(
        "{name: canary, labels: {env: test}",
        "{name: canary, labels: {env: test, wave: canary}",
    );
    write(
        &repo,
        "fleet.yaml",
        &format!(
            "{fleet}  rollout:\n    waves:\n      - {{name: canary, clusterSelector: {{matchLabels: {{wave: canary}}}}}}\n      - {{name: rest}}\n    healthGate: true\n"
        ),
    );
    repo
}

/// Marks every Deployment on `servers` rolled out, as a controller would.
fn mark_deployments_rolled_out(servers: &[&TestApiServer]) {
    for s in servers {
        for d in s.list("apps", "v1", "deployments", None) {
            let ns = d["metadata"]["namespace"].as_str().unwrap_or("");
            let name = d["metadata"]["name"].as_str().unwrap_or("");
            let _ = s.mark_rolled_out("apps", "deployments", Some(ns), name);
        }
    }
}

/// The test API server has no controllers: its Deployments never become
/// Available. `sync --wait` halts the later wave with the cause, untouched,
/// and exits 2; without `--wait` nothing waits and both waves sync.
#[tokio::test(flavor = "multi_thread")]
async fn sync_wait_halts_the_next_wave_while_a_canary_is_unhealthy() {
    let dir = tempfile::tempdir().unwrap();
    let (canary, rest) = (TestApiServer::start().await, TestApiServer::start().await);
    let repo = gated_fleet(dir.path(), &canary, &rest);
    let run = sync(&repo, &["--wait", "--health-timeout", "2s"]).await;
    assert_exit(&run, 2);
    let line = run.cluster("canary");
    assert_eq!(line.created, 4, "the canary synced: {run}");
    assert!(
        line.error
            .as_deref()
            .is_some_and(|e| e.contains("not healthy within 2s")),
        "{run}"
    );
    assert!(
        canary
            .get("apps", "v1", "deployments", Some("shop"), "web")
            .is_some()
    );
    let line = run.cluster("rest");
    assert_eq!(
        line.error.as_deref(),
        Some("not synced: wave \"canary\" was not healthy on cluster canary (Progressing)"),
        "{run}"
    );
    assert_eq!(line.written(), 0, "{run}");
    assert_eq!(rest.counters().total, 0, "rest was never contacted");
    // Without --wait, behaviour is unchanged: no health gate.
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("rest").created, 4, "{run}");
}

/// When the canary becomes healthy (a controller marks its Deployment
/// rolled out), `sync --wait` goes on to the next wave and exits 0 once
/// that one is healthy too.
#[tokio::test(flavor = "multi_thread")]
async fn sync_wait_runs_the_next_wave_once_the_canary_is_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let (canary, rest) = (TestApiServer::start().await, TestApiServer::start().await);
    let repo = gated_fleet(dir.path(), &canary, &rest);
    // Bounded: at most 60 s of 50 ms rounds.
    let controller = async {
        for _ in 0..1200 {
            mark_deployments_rolled_out(&[&canary, &rest]);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let run = tokio::select! {
        run = sync(&repo, &["--wait", "--health-timeout", "60s"]) => run,
        _ = controller => panic!("sync --wait outlived the controller (60 s)"),
    };
    assert_exit(&run, 0);
    for name in ["canary", "rest"] {
        let line = run.cluster(name);
        assert_eq!((line.created, line.error.as_deref()), (4, None), "{run}");
    }
    let web = rest
        .get("apps", "v1", "deployments", Some("shop"), "web")
        .expect("the rest wave got the Deployment");
    assert_eq!(
        web["status"]["observedGeneration"],
        web["metadata"]["generation"]
    );
}

// ----- scale: large inventories and the inventory intent ---------------------

/// The inventory ConfigMaps (head and parts) of cluster `name` of fleet
/// `demo` on `server`, as (name, bytes of data).
fn inventory_config_maps(server: &TestApiServer, name: &str) -> Vec<(String, usize)> {
    let head = format!("flotilla-inventory-demo.{name}");
    let mut found: Vec<(String, usize)> = server
        .list("", "v1", "configmaps", Some("flotilla-system"))
        .into_iter()
        .filter_map(|cm| {
            let n = cm["metadata"]["name"].as_str()?.to_string();
            let bytes = cm["data"]
                .as_object()
                .map(|d| d.values().map(|v| v.as_str().map_or(0, str::len)).sum())
                .unwrap_or(0);
            (n == head || n.starts_with(&format!("{head}."))).then_some((n, bytes))
        })
        .collect();
    found.sort();
    found
}

/// 12,000 objects in one cluster: more than one ConfigMap's 1 MiB can list
/// (the test API server refuses larger ones with a 422, as a real one
/// does). The inventory, one ConfigMap while small, is split into parts of
/// at most 512 KiB once it grows; a resync writes nothing; a later sync
/// reads it back and prunes from it; once small again it is one ConfigMap
/// and the parts are gone.
#[tokio::test(flavor = "multi_thread")]
async fn twelve_thousand_objects_in_one_cluster_sync_resync_and_prune() {
    const N: usize = 12_000;
    let server = TestApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = small_fleet(dir.path(), &[("solo", &server)], &["web"]);
    write(&repo, "bases/web/web.yaml", WEB);
    assert_exit(&sync(&repo, &[]).await, 0);
    // Today's form while small: one ConfigMap listing every entry.
    assert_eq!(inventory_config_maps(&server, "solo").len(), 1);
    assert_eq!(
        inventory(&server, "demo", "solo").unwrap()["entries"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );

    small_fleet(dir.path(), &[("solo", &server)], &["web", "many"]);
    write(&repo, "bases/many/cms.yaml", &config_maps("many", N));
    let limit = Duration::from_secs(900);
    let run = flotilla_within(
        dir.path(),
        &["sync", "--repo", repo.to_str().unwrap()],
        limit,
    )
    .await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("solo"),
        Summary {
            created: N,
            unchanged: 4,
            ..Summary::default()
        },
        "{run}"
    );
    let stored = inventory_config_maps(&server, "solo");
    assert!(stored.len() >= 4, "a head and parts: {stored:?}");
    for (name, bytes) in &stored {
        assert!(*bytes <= 512 * 1024, "{name}: {bytes} bytes");
    }
    assert_eq!(
        server
            .list("", "v1", "configmaps", Some("shop"))
            .iter()
            .filter(|c| c["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("many-")))
            .count(),
        N
    );

    server.reset_counters();
    let run = flotilla_within(
        dir.path(),
        &["sync", "--repo", repo.to_str().unwrap()],
        limit,
    )
    .await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("solo"),
        Summary {
            unchanged: N + 4,
            ..Summary::default()
        },
        "{run}"
    );
    let c = server.counters();
    assert_eq!(c.writes, 0, "the resync writes nothing: {:?}", c.by_verb);
    assert_eq!(inventory_config_maps(&server, "solo"), stored);

    // Half of them leave Git: pruned from the split inventory.
    write(&repo, "bases/many/cms.yaml", &config_maps("many", N / 2));
    let run = flotilla_within(
        dir.path(),
        &[
            "sync",
            "--repo",
            repo.to_str().unwrap(),
            "--allow-mass-prune",
        ],
        limit,
    )
    .await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("solo").pruned, N / 2, "{run}");
    assert!(config_map(&server, "shop", &format!("many-{N}")).is_none());
    assert!(config_map(&server, "shop", &format!("many-{}", N / 2)).is_some());

    // Small again: one ConfigMap, the parts removed.
    small_fleet(dir.path(), &[("solo", &server)], &["web"]);
    let run = flotilla_within(
        dir.path(),
        &[
            "sync",
            "--repo",
            repo.to_str().unwrap(),
            "--allow-mass-prune",
        ],
        limit,
    )
    .await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("solo").pruned, N / 2, "{run}");
    assert_eq!(inventory_config_maps(&server, "solo").len(), 1);
    assert_eq!(
        inventory(&server, "demo", "solo").unwrap()["entries"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
}

/// kill -9 of `flotilla sync` while it creates objects, then a sync of the
/// previous commit: the objects the killed round created are pruned, and
/// drift says so before that (not InSync), because the inventory named them
/// before the first was applied (the intent).
#[tokio::test(flavor = "multi_thread")]
async fn objects_created_by_a_killed_sync_are_pruned_by_the_next() {
    let server = TestApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = small_fleet(dir.path(), &[("solo", &server)], &["web"]);
    write(&repo, "bases/web/web.yaml", WEB);
    assert_exit(&sync(&repo, &[]).await, 0);

    // The next commit adds 400 ConfigMaps; every answer takes 20 ms, so the
    // round lasts long enough to be killed in the middle.
    small_fleet(dir.path(), &[("solo", &server)], &["web", "extra"]);
    write(&repo, "bases/extra/cms.yaml", &config_maps("extra", 400));
    server.set_response_delay(Duration::from_millis(20));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["sync", "--repo", repo.to_str().unwrap()])
        .current_dir(dir.path())
        .env_remove("KUBECONFIG")
        .env_remove("FLOTILLA_REPO")
        .env_remove("FLOTILLA_REV")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("flotilla starts");
    let extra = |server: &TestApiServer| {
        server
            .list("", "v1", "configmaps", Some("shop"))
            .iter()
            .filter(|c| {
                c["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("extra-"))
            })
            .count()
    };
    let started = std::time::Instant::now();
    while extra(&server) < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the sync creates objects"
        );
        assert!(child.try_wait().unwrap().is_none(), "still running");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().expect("kill -9"); // SIGKILL
    child.wait().unwrap();
    // Requests the server had already taken finish.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.set_response_delay(Duration::ZERO);
    let created = extra(&server);
    assert!(
        (20..400).contains(&created),
        "killed mid-round: {created} of 400 created"
    );

    // Back to the previous commit.
    small_fleet(dir.path(), &[("solo", &server)], &["web"]);
    let drift = flotilla(dir.path(), &["drift", "--repo", repo.to_str().unwrap()]).await;
    assert_eq!(drift.code, 1, "not InSync: {drift}");
    assert!(!drift.stdout.contains("solo: InSync"), "{drift}");
    let run = sync(&repo, &["--allow-mass-prune"]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("solo"),
        // The intent named all 400; those never created are dropped from
        // the inventory, not reported as pruned.
        Summary {
            unchanged: 4,
            pruned: created,
            ..Summary::default()
        },
        "{run}"
    );
    assert_eq!(extra(&server), 0, "nothing is left behind");
    let drift = flotilla(dir.path(), &["drift", "--repo", repo.to_str().unwrap()]).await;
    assert_eq!(drift.code, 0, "{drift}");
}

/// A directory destination whose engine stops for good after `left`
/// applies (as a killed process would: the round never finishes).
struct StopsAfter {
    inner: flotilla_engine::destination::directory::DirectoryDestination,
    left: usize,
}

impl flotilla_engine::destination::Destination for StopsAfter {
    async fn live(
        &mut self,
        objects: &[(&str, &flotilla_core::model::ObjectKey)],
    ) -> Result<
        std::collections::HashMap<flotilla_core::model::ObjectKey, std::sync::Arc<Value>>,
        flotilla_engine::destination::ClusterError,
    > {
        self.inner.live(objects).await
    }
    async fn apply(
        &mut self,
        object: &Value,
        live: Option<&Value>,
        options: flotilla_engine::destination::ApplyOptions,
    ) -> Result<flotilla_engine::destination::Applied, flotilla_engine::destination::ClusterError>
    {
        if self.left == 0 {
            std::future::pending::<()>().await;
        }
        self.left -= 1;
        self.inner.apply(object, live, options).await
    }
    async fn dry_run_apply(
        &mut self,
        object: &Value,
    ) -> Result<Option<Value>, flotilla_engine::destination::ClusterError> {
        self.inner.dry_run_apply(object).await
    }
    async fn wait_established(
        &mut self,
        crd: &Value,
        timeout: Duration,
    ) -> Result<(), flotilla_engine::destination::ClusterError> {
        self.inner.wait_established(crd, timeout).await
    }
    async fn delete(
        &mut self,
        entry: &flotilla_core::model::InventoryEntry,
        dry_run: bool,
    ) -> Result<bool, flotilla_engine::destination::ClusterError> {
        self.inner.delete(entry, dry_run).await
    }
    async fn read_inventory(
        &mut self,
        fleet: &str,
        cluster: &str,
    ) -> Result<Option<flotilla_core::model::Inventory>, flotilla_engine::destination::ClusterError>
    {
        self.inner.read_inventory(fleet, cluster).await
    }
    async fn write_inventory(
        &mut self,
        inventory: &flotilla_core::model::Inventory,
    ) -> Result<(), flotilla_engine::destination::ClusterError> {
        self.inner.write_inventory(inventory).await
    }
    async fn read_prune_window(
        &mut self,
        fleet: &str,
        cluster: &str,
    ) -> Result<flotilla_core::plan::PruneWindow, flotilla_engine::destination::ClusterError> {
        self.inner.read_prune_window(fleet, cluster).await
    }
    async fn write_prune_window(
        &mut self,
        fleet: &str,
        cluster: &str,
        window: &flotilla_core::plan::PruneWindow,
    ) -> Result<(), flotilla_engine::destination::ClusterError> {
        self.inner.write_prune_window(fleet, cluster, window).await
    }
    fn runs_workloads(&self) -> bool {
        false
    }
}

/// Directory targets keep the intent too: an engine stopped after 3 of 10
/// new files leaves an inventory naming all 10, and a `flotilla sync` of
/// the previous commit removes the 3 files it wrote (and only reports those).
#[tokio::test(flavor = "multi_thread")]
async fn a_directory_sync_stopped_mid_round_leaves_its_files_prunable() {
    use flotilla_engine::destination::directory::DirectoryDestination;
    use flotilla_engine::reconcile::{SyncOptions, reconcile_cluster};
    let dir = tempfile::tempdir().unwrap();
    let (repo, out) = (dir.path().join("repo"), dir.path().join("live"));
    let fleet = |bases: &str| {
        format!(
            "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nmetadata: {{name: demo}}\nspec:\n  clusters:\n    - {{name: local, connection: {{directory: {}}}}}\n  bases:\n{bases}",
            out.display()
        )
    };
    let web = "    - {name: web, path: bases/web}\n";
    let extra = "    - {name: extra, path: bases/extra}\n";
    write(&repo, "fleet.yaml", &fleet(web));
    write(&repo, "bases/web/web.yaml", WEB);
    write(&repo, "bases/extra/cms.yaml", &config_maps("extra", 10));
    assert_exit(&sync(&repo, &[]).await, 0);

    write(&repo, "fleet.yaml", &fleet(&format!("{web}{extra}")));
    let desired = render(&repo).remove(0);
    let mut stopping = StopsAfter {
        inner: DirectoryDestination::new(&out),
        left: 3,
    };
    let round = reconcile_cluster(
        &mut stopping,
        "demo",
        None,
        &desired,
        SyncOptions::default(),
        |_, _| {},
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(5), round)
            .await
            .is_err(),
        "the round never finishes"
    );
    let written = |out: &Path| {
        std::fs::read_dir(out)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("_extra-")
            })
            .count()
    };
    assert_eq!(written(&out), 3, "stopped after 3 new files");

    write(&repo, "fleet.yaml", &fleet(web));
    let run = sync(&repo, &["--allow-mass-prune"]).await;
    assert_exit(&run, 0);
    // The 7 the intent named but never written are dropped, not pruned.
    assert_eq!(run.cluster("local").pruned, 3, "{run}");
    assert_eq!(written(&out), 0, "nothing is left behind");
}

// ----- intent entries never created, adopted objects -------------------------

/// A round stopped right after writing its intent (10 new ConfigMaps named,
/// none created), then a sync of the previous commit: the 10 entries name
/// objects that never existed, so they are dropped from the inventory,
/// neither reported as pruned nor counted by the mass-prune guard (10 of 14
/// managed would be refused without `--allow-mass-prune`).
#[tokio::test(flavor = "multi_thread")]
async fn intent_entries_of_objects_never_created_are_dropped_not_pruned() {
    use flotilla_engine::destination::Destination;
    use flotilla_engine::destination::directory::DirectoryDestination;
    use flotilla_engine::reconcile::{SyncOptions, reconcile_cluster};
    let dir = tempfile::tempdir().unwrap();
    let (repo, out) = (dir.path().join("repo"), dir.path().join("live"));
    let fleet = |bases: &str| {
        format!(
            "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nmetadata: {{name: demo}}\nspec:\n  clusters:\n    - {{name: local, connection: {{directory: {}}}}}\n  bases:\n{bases}",
            out.display()
        )
    };
    let web = "    - {name: web, path: bases/web}\n";
    let extra = "    - {name: extra, path: bases/extra}\n";
    write(&repo, "fleet.yaml", &fleet(web));
    write(&repo, "bases/web/web.yaml", WEB);
    write(&repo, "bases/extra/cms.yaml", &config_maps("extra", 10));
    assert_exit(&sync(&repo, &[]).await, 0);

    write(&repo, "fleet.yaml", &fleet(&format!("{web}{extra}")));
    let desired = render(&repo).remove(0);
    let mut stopping = StopsAfter {
        inner: DirectoryDestination::new(&out),
        left: 0,
    };
    let round = reconcile_cluster(
        &mut stopping,
        "demo",
        None,
        &desired,
        SyncOptions::default(),
        |_, _| {},
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(5), round)
            .await
            .is_err(),
        "the round never finishes"
    );
    async fn stored(out: &Path) -> usize {
        DirectoryDestination::new(out)
            .read_inventory("demo", "local")
            .await
            .unwrap()
            .expect("an inventory")
            .entries()
            .len()
    }
    assert_eq!(
        stored(&out).await,
        14,
        "the intent names the 10 new objects"
    );

    write(&repo, "fleet.yaml", &fleet(web));
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("local"),
        Summary {
            unchanged: 4,
            ..Summary::default()
        },
        "{run}"
    );
    assert_eq!(
        stored(&out).await,
        4,
        "the entries of what never existed are gone"
    );
    let again = sync(&repo, &[]).await;
    assert_exit(&again, 0);
    assert_eq!(again.cluster("local").unchanged, 4, "{again}");
}

/// The inventory is lost (deleted by hand) while the objects stay: the next
/// sync adopts them. Those Flotilla had labelled and that match Git are
/// reported unchanged (and their resourceVersions do not move), not
/// configured; an object made by hand without Flotilla's label is
/// configured (the label is added). The sync after that is a no-op again.
#[tokio::test(flavor = "multi_thread")]
async fn adopted_objects_that_match_git_are_unchanged() {
    let server = TestApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = small_fleet(dir.path(), &[("solo", &server)], &["web"]);
    write(&repo, "bases/web/web.yaml", WEB);
    assert_exit(&sync(&repo, &[]).await, 0);

    // A ConfigMap created by hand, as Git will have it but unlabelled.
    server
        .insert(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "by-hand", "namespace": "shop"},
            "data": {"A": "1"}
        }))
        .unwrap();
    write(
        &repo,
        "bases/web/by-hand.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: by-hand, namespace: shop}\ndata: {A: \"1\"}\n",
    );
    server
        .delete(
            "",
            "v1",
            "configmaps",
            Some("flotilla-system"),
            "flotilla-inventory-demo.solo",
        )
        .expect("the inventory is there");
    let versions = |server: &TestApiServer| -> Vec<String> {
        WEB_OBJECTS
            .iter()
            .map(|(v, plural, ns, name)| {
                let (group, version) = v.rsplit_once('/').unwrap_or(("", v));
                resource_version(&server.get(group, version, plural, *ns, name).unwrap())
            })
            .collect()
    };
    let before = versions(&server);

    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("solo"),
        Summary {
            unchanged: 4,
            configured: 1,
            ..Summary::default()
        },
        "{run}"
    );
    assert_eq!(versions(&server), before, "nothing Git holds was changed");
    let by_hand = server
        .get("", "v1", "configmaps", Some("shop"), "by-hand")
        .unwrap();
    assert_eq!(
        by_hand["metadata"]["labels"]["app.kubernetes.io/managed-by"], "flotilla",
        "{by_hand}"
    );

    server.reset_counters();
    let again = sync(&repo, &[]).await;
    assert_exit(&again, 0);
    assert_eq!(
        again.cluster("solo"),
        Summary {
            unchanged: 5,
            ..Summary::default()
        },
        "{again}"
    );
    assert_eq!(server.counters().writes, 0, "owned again: a no-op");
}

/// `flotilla sync` writes the objects of one stage (consecutive objects of
/// one kind) concurrently, at most 8 at a time, not one after the other:
/// with every answer taking 50 ms, the server sees several requests at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_stage_of_new_objects_is_written_concurrently_and_bounded() {
    let server = TestApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let repo = small_fleet(dir.path(), &[("solo", &server)], &["web", "extra"]);
    write(&repo, "bases/web/web.yaml", WEB);
    write(&repo, "bases/extra/cms.yaml", &config_maps("extra", 40));
    server.set_response_delay(Duration::from_millis(50));
    let run = sync(&repo, &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("solo").created, 44, "{run}");
    let peak = server.counters().peak_in_flight;
    assert!(
        peak > 1,
        "writes go out one at a time: {peak} in flight at most"
    );
    assert!(peak <= 8, "more than 8 writes at once: {peak}");
}
