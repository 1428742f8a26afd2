//! The daemon reads live state from watch-fed caches: after the initial
//! list, a drift check of an unchanged cluster sends no LIST and no read per
//! object, and a change made on the cluster still shows up (through the
//! watch).

use std::time::{Duration, Instant};

use flotilla_core::drift::ObjectStatus;
use flotilla_core::snapshot::Snapshot;
use flotilla_engine::destination::kube::KubeDestination;
use flotilla_engine::diff::detect;
use flotilla_engine::reconcile::{SyncOptions, reconcile_cluster};
use kube_testserver::TestApiServer;
use serde_json::json;

const FLEET: &str = "apiVersion: flotilla.dev/v1alpha1
kind: Fleet
metadata: {name: demo}
spec:
  clusters:
    - {name: c1, connection: {kubeconfig: unused.yaml}}
  bases:
    - {name: app, path: bases/app}
";

const APP: &str = "apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {mode: normal}
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
      containers: [{name: web, image: 'web:1'}]
";

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_cluster_costs_no_list_and_changes_still_show() {
    let server = TestApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    std::fs::write(&kubeconfig, server.kubeconfig_yaml()).unwrap();
    let snapshot = Snapshot::from_files([("fleet.yaml", FLEET), ("bases/app/app.yaml", APP)]);
    let fleet = flotilla_core::load::load(&snapshot).unwrap();
    let desired = flotilla_core::render::render_cluster(&fleet, &fleet.clusters[0]).unwrap();
    let mut destination = KubeDestination::from_kubeconfig(&kubeconfig, None)
        .await
        .unwrap()
        .with_watch_cache();

    let changes = reconcile_cluster(
        &mut destination,
        "demo",
        None,
        &desired,
        SyncOptions::default(),
        |_, _| {},
    )
    .await;
    assert!(!changes.is_failure(), "{changes}");

    // The watches catch up with the sync's own writes (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = detect(&mut destination, "demo", &desired, |_| Vec::new())
            .await
            .unwrap();
        if d.drifted.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "never settled: {:?}", d.drifted);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    server.reset_counters();
    let d = detect(&mut destination, "demo", &desired, |_| Vec::new())
        .await
        .unwrap();
    assert!(d.drifted.is_empty());
    assert_eq!(d.in_sync, 3);
    let counters = server.counters();
    assert_eq!(counters.by_verb.get("list"), None, "{counters:?}");
    // Only the inventory is read: no read per object.
    assert!(counters.total <= 1, "{counters:?}");

    // A change on the cluster reaches the cache through the watch.
    let mut live = server
        .get("apps", "v1", "deployments", Some("shop"), "web")
        .unwrap();
    live["spec"]["replicas"] = json!(7);
    server.insert(live).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = detect(&mut destination, "demo", &desired, |_| Vec::new())
            .await
            .unwrap();
        if let Some(o) = d.drifted.first() {
            assert_eq!(o.status, ObjectStatus::Modified);
            assert_eq!(o.fields[0].path, "/spec/replicas");
            break;
        }
        assert!(Instant::now() < deadline, "the hand edit never showed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
