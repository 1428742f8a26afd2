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

/// A test API server with `APP` synced into it through a destination with
/// the watch cache (the temporary folder holds its kubeconfig).
async fn synced_cluster() -> (
    TestApiServer,
    tempfile::TempDir,
    flotilla_core::render::DesiredState,
    KubeDestination,
) {
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
    (server, dir, desired, destination)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_cluster_costs_no_list_and_changes_still_show() {
    let (server, _dir, desired, mut destination) = synced_cluster().await;

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

/// With the watch cache, an HPA made by hand on the cluster (no Flotilla
/// label, not in Git) is seen through its own watch: the replicas of the
/// Deployment it targets stop being drift once it shows up, and an
/// unchanged cluster still costs no LIST.
#[tokio::test(flavor = "multi_thread")]
async fn a_live_only_hpa_is_seen_through_the_watch() {
    let (server, _dir, desired, mut destination) = synced_cluster().await;

    // Replicas changed by hand, no HPA yet: drift (once the watch has it).
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
        if d.drifted
            .first()
            .is_some_and(|o| o.fields.first().is_some_and(|f| f.path == "/spec/replicas"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "the hand edit never showed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An HPA made by hand targets it: its replicas are the HPA's.
    server
        .insert(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 2, "maxReplicas": 10}}))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let d = detect(&mut destination, "demo", &desired, |_| Vec::new())
            .await
            .unwrap();
        if d.drifted.is_empty() {
            assert_eq!(d.in_sync, 3);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the HPA never showed: {:?}",
            d.drifted
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.reset_counters();
    let d = detect(&mut destination, "demo", &desired, |_| Vec::new())
        .await
        .unwrap();
    assert!(d.drifted.is_empty());
    let counters = server.counters();
    assert_eq!(counters.by_verb.get("list"), None, "{counters:?}");
}

/// A sync round hands back the live state it saw, each object it wrote as
/// the server stored it (the answer to the server-side apply): the daemon
/// judges health and federated status on it without reading again.
#[tokio::test(flavor = "multi_thread")]
async fn a_round_answers_the_live_state_with_its_writes_as_stored() {
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
    let first = flotilla_engine::reconcile::reconcile_round(
        &mut destination,
        "demo",
        None,
        &desired,
        SyncOptions::default(),
        |_, _| {},
    )
    .await;
    assert!(!first.changes.is_failure(), "{}", first.changes);
    let live = first.live.expect("the round read live state");
    assert_eq!(live.len(), 3, "every object created is in the answer");

    // Git changes the Deployment's replicas: the round's answer holds the
    // Deployment as the server now stores it.
    let changed = APP.replace("replicas: 2", "replicas: 3");
    let snapshot = Snapshot::from_files([("fleet.yaml", FLEET), ("bases/app/app.yaml", &changed)]);
    let fleet = flotilla_core::load::load(&snapshot).unwrap();
    let desired = flotilla_core::render::render_cluster(&fleet, &fleet.clusters[0]).unwrap();
    let second = flotilla_engine::reconcile::reconcile_round(
        &mut destination,
        "demo",
        None,
        &desired,
        SyncOptions::default(),
        |_, _| {},
    )
    .await;
    assert!(!second.changes.is_failure(), "{}", second.changes);
    let live = second.live.expect("the round read live state");
    let stored = server
        .get("apps", "v1", "deployments", Some("shop"), "web")
        .unwrap();
    let web = desired
        .objects
        .iter()
        .find(|o| o.key.name == "web")
        .unwrap();
    let answered = &live[&web.key];
    assert_eq!(answered["spec"]["replicas"], json!(3));
    assert_eq!(
        answered["metadata"]["resourceVersion"],
        stored["metadata"]["resourceVersion"]
    );
    assert_eq!(live.len(), 3);
}

/// `reconcile_cluster` answers no live state, so the answers to its writes
/// are read for what its verdicts need and not kept (a CLI sync of 1,000
/// objects builds no object from them); its verdicts are those of a round
/// that keeps them.
#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_sync_keeps_no_answers_and_tells_created_from_configured() {
    use flotilla_engine::destination::Destination;
    let server = TestApiServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    std::fs::write(&kubeconfig, server.kubeconfig_yaml()).unwrap();
    let desired_of = |app: &str| {
        let snapshot = Snapshot::from_files([("fleet.yaml", FLEET), ("bases/app/app.yaml", app)]);
        let fleet = flotilla_core::load::load(&snapshot).unwrap();
        flotilla_core::render::render_cluster(&fleet, &fleet.clusters[0]).unwrap()
    };
    let mut destination = KubeDestination::from_kubeconfig(&kubeconfig, None)
        .await
        .unwrap();
    let first = reconcile_cluster(
        &mut destination,
        "demo",
        None,
        &desired_of(APP),
        SyncOptions::default(),
        |_, _| {},
    )
    .await;
    assert!(!first.is_failure(), "{first}");
    assert_eq!(first.counts().created, 3, "{first}");
    assert!(destination.take_written().is_empty(), "no answer is kept");

    let changed = APP.replace("replicas: 2", "replicas: 3");
    let second = reconcile_cluster(
        &mut destination,
        "demo",
        None,
        &desired_of(&changed),
        SyncOptions::default(),
        |_, _| {},
    )
    .await;
    assert!(!second.is_failure(), "{second}");
    let counts = second.counts();
    assert_eq!((counts.configured, counts.unchanged), (1, 2), "{second}");
    assert!(destination.take_written().is_empty(), "no answer is kept");
    let stored = server
        .get("apps", "v1", "deployments", Some("shop"), "web")
        .unwrap();
    assert_eq!(stored["spec"]["replicas"], json!(3));
}

/// Waits (bounded) until a drift check shows the Deployment's replicas as
/// `replicas` on the cluster.
async fn wait_for_live_replicas(
    destination: &mut KubeDestination,
    desired: &flotilla_core::render::DesiredState,
    replicas: i64,
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = detect(destination, "demo", desired, |_| Vec::new())
            .await
            .unwrap();
        let live = d
            .drifted
            .first()
            .and_then(|o| o.fields.iter().find(|f| f.path == "/spec/replicas"))
            .map(|f| f.live.clone());
        if live == Some(json!(replicas)) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: never showed ({live:?})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The watches outlive the API server's restarts: a watch the server cuts
/// is resumed from the last version it saw (no new LIST), and when that
/// version is gone (history compacted while the watch was away: 410) the
/// kind is listed again, so an edit made meanwhile still shows.
#[tokio::test(flavor = "multi_thread")]
async fn a_cut_watch_resumes_and_lists_again_when_its_version_is_gone() {
    let (server, _dir, desired, mut destination) = synced_cluster().await;
    let edit = |replicas: i64| {
        let mut live = server
            .get("apps", "v1", "deployments", Some("shop"), "web")
            .unwrap();
        live["spec"]["replicas"] = json!(replicas);
        server.insert(live).unwrap();
    };
    edit(3);
    wait_for_live_replicas(&mut destination, &desired, 3, "an edit through the watch").await;

    // A restart cuts every watch; the edit after it arrives on the resumed
    // watch, which needs no LIST.
    server.set_down(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.set_down(false);
    server.reset_counters();
    edit(5);
    wait_for_live_replicas(&mut destination, &desired, 5, "an edit after a restart").await;
    let counters = server.counters();
    assert_eq!(counters.by_verb.get("list"), None, "{counters:?}");
    assert!(
        counters.by_verb.get("watch").is_some_and(|n| *n >= 1),
        "{counters:?}"
    );

    // Down again; an edit while no watch runs, then the history is gone:
    // the resumed watch gets 410 and the kind is listed again.
    server.set_down(true);
    edit(9);
    server.compact_watch_history();
    server.reset_counters();
    server.set_down(false);
    wait_for_live_replicas(
        &mut destination,
        &desired,
        9,
        "an edit while the watch was away",
    )
    .await;
    let counters = server.counters();
    assert!(
        counters.by_verb.get("list").is_some_and(|n| *n >= 1),
        "{counters:?}"
    );
}
