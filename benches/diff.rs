//! Drift-detection benchmark: `detect` over 10,000 objects with 1% drift on
//! one test API server.
//!
//! Run with `cargo bench --bench diff`. One cluster holds 50 namespaces,
//! each with its Namespace, 99 ConfigMaps and 100 Deployments: 10,000
//! objects, synced with `reconcile_cluster` through a `KubeDestination`. Then 1% of
//! them (one ConfigMap and one Deployment per namespace) are edited by hand
//! through the server's store, and `detect` is timed, with and without the
//! drift. `FLOTILLA_BENCH_NAMESPACES=N` scales the fleet (200 objects each),
//! `FLOTILLA_BENCH_RUNS` sets the timed runs (default 5, after a warm-up).
//!
//! Reported per scenario: the median time, the API requests per object,
//! the LISTs, and the dry-run PATCH requests, which should be exactly the
//! number of drifted objects (none for an object the first pass clears).
//! Output ends with a markdown table.

use std::time::{Duration, Instant};

use flotilla_core::drift::{DecidedBy, Detected, ObjectStatus};
use flotilla_core::load::load;
use flotilla_core::render::render_cluster;
use flotilla_core::snapshot::Snapshot;
use flotilla_engine::destination::Destination;
use flotilla_engine::destination::kube::KubeDestination;
use flotilla_engine::diff::detect;
use flotilla_engine::reconcile::{SyncOptions, reconcile_cluster};
use kube_testserver::TestApiServer;
use serde_json::json;

const CONFIGMAPS: usize = 99;
const DEPLOYMENTS: usize = 100;
/// Objects per namespace, its Namespace included.
const PER_NAMESPACE: usize = 1 + CONFIGMAPS + DEPLOYMENTS;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The fleet repository: one cluster, one base per namespace.
fn fleet(namespaces: usize) -> Snapshot {
    let mut files: Vec<(String, String)> = Vec::new();
    let mut fleet = String::from(
        "apiVersion: flotilla.dev/v1alpha1
kind: Fleet
metadata:
  name: bench
spec:
  clusters:
    - name: bench-1
      connection:
        kubeconfig: kubeconfig.yaml
  bases:
",
    );
    for n in 0..namespaces {
        let ns = format!("ns-{n:03}");
        fleet.push_str(&format!("    - name: {ns}\n      path: bases/{ns}\n"));
        let mut docs = vec![format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"
        )];
        for i in 0..CONFIGMAPS {
            docs.push(format!(
                "apiVersion: v1
kind: ConfigMap
metadata:
  name: config-{i:03}
  namespace: {ns}
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: \"a,b,c\"
  index: \"{i}\"
"
            ));
        }
        for i in 0..DEPLOYMENTS {
            docs.push(format!(
                "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i:03}
  namespace: {ns}
  labels:
    app: app-{i:03}
spec:
  replicas: 2
  selector:
    matchLabels:
      app: app-{i:03}
  template:
    metadata:
      labels:
        app: app-{i:03}
    spec:
      containers:
        - name: app
          image: registry.example.com/bench/app:1.0.{i}
          ports:
            - name: http
              containerPort: 8080
          env:
            - name: MODE
              value: prod
          resources:
            limits:
              cpu: 0.5
              memory: 256Mi
"
            ));
        }
        files.push((format!("bases/{ns}/objects.yaml"), docs.join("---\n")));
    }
    files.push(("fleet.yaml".into(), fleet));
    Snapshot::from_files(files)
}

/// Hand edits 1% of the objects through the store: in each namespace one
/// ConfigMap's data and one Deployment's image. Returns how many.
fn drift(server: &TestApiServer, namespaces: usize) -> usize {
    let mut edited = 0;
    for n in 0..namespaces {
        let ns = format!("ns-{n:03}");
        let mut cm = server
            .get("", "v1", "configmaps", Some(&ns), "config-042")
            .expect("the ConfigMap is stored");
        cm["data"]["LOG_LEVEL"] = json!("debug");
        server.insert(cm).expect("the edit is stored");
        let mut d = server
            .get("apps", "v1", "deployments", Some(&ns), "app-017")
            .expect("the Deployment is stored");
        d["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("registry.example.com/bench/app:hotfix");
        server.insert(d).expect("the edit is stored");
        edited += 2;
    }
    edited
}

/// One scenario's figures.
struct Figures {
    scenario: &'static str,
    objects: usize,
    drifted: usize,
    median: Duration,
    min: Duration,
    requests: u64,
    lists: u64,
    dry_runs: usize,
    writes: u64,
}

/// Times `detect` `runs` times (after a warm-up); request figures are those
/// of the last run.
async fn measure(
    scenario: &'static str,
    server: &TestApiServer,
    destination: &mut KubeDestination,
    desired: &flotilla_core::render::DesiredState,
    runs: usize,
) -> (Figures, Detected) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for run in 0..=runs {
        server.reset_counters();
        let started = Instant::now();
        let d = detect(destination, "bench", desired, |_| Vec::new())
            .await
            .expect("detect reads the cluster");
        let took = started.elapsed();
        if run > 0 {
            times.push(took);
        }
        last = Some(d);
    }
    times.sort();
    let d = last.expect("at least one run");
    let counters = server.counters();
    let log = server.request_log();
    let figures = Figures {
        scenario,
        objects: desired.objects.len(),
        drifted: d.drifted.len(),
        median: times[times.len() / 2],
        min: times[0],
        requests: counters.total,
        lists: counters.by_verb.get("list").copied().unwrap_or(0),
        dry_runs: log
            .iter()
            .filter(|r| r.dry_run && r.method == "PATCH")
            .count(),
        writes: counters.writes,
    };
    (figures, d)
}

/// Times reading the live state alone (`Destination::live`: the LISTs `detect`
/// starts with), for the share of `detect` spent on the wire.
async fn measure_live(
    destination: &mut KubeDestination,
    desired: &flotilla_core::render::DesiredState,
    runs: usize,
) -> Duration {
    let addresses: Vec<(&str, &flotilla_core::model::ObjectKey)> = desired
        .objects
        .iter()
        .map(|o| (o.object["apiVersion"].as_str().unwrap_or(""), &o.key))
        .collect();
    let mut times = Vec::with_capacity(runs);
    for run in 0..=runs {
        let started = Instant::now();
        let live = destination
            .live(&addresses)
            .await
            .expect("the LISTs succeed");
        assert_eq!(live.len(), addresses.len());
        if run > 0 {
            times.push(started.elapsed());
        }
    }
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let namespaces = env_usize("FLOTILLA_BENCH_NAMESPACES", 50).max(1);
    let runs = env_usize("FLOTILLA_BENCH_RUNS", 5).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(bench(namespaces, runs));
}

async fn bench(namespaces: usize, runs: usize) {
    let fleet = load(&fleet(namespaces)).expect("the bench fleet loads");
    let desired = render_cluster(&fleet, &fleet.clusters[0]).expect("the bench fleet renders");
    assert_eq!(desired.objects.len(), namespaces * PER_NAMESPACE);

    let server = TestApiServer::start().await;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    std::fs::write(&kubeconfig, server.kubeconfig_yaml()).expect("write the kubeconfig");
    let mut destination = KubeDestination::from_kubeconfig(&kubeconfig, None)
        .await
        .expect("a kube destination");

    let started = Instant::now();
    let changes = reconcile_cluster(
        &mut destination,
        &fleet.name,
        None,
        &desired,
        SyncOptions::default(),
        |_, _| {},
    )
    .await;
    assert!(!changes.is_failure(), "the sync failed: {changes}");
    println!(
        "synced {} objects in {:.2?} ({} requests)",
        desired.objects.len(),
        started.elapsed(),
        server.counters().total
    );

    let (clean, d) = measure("in sync", &server, &mut destination, &desired, runs).await;
    assert!(d.drifted.is_empty(), "drift right after the sync");

    let edited = drift(&server, namespaces);
    let (drifted, d) = measure("1% drifted", &server, &mut destination, &desired, runs).await;
    assert_eq!(d.drifted.len(), edited, "every hand edit is found");
    assert!(
        d.drifted
            .iter()
            .all(|o| o.status == ObjectStatus::Modified && o.decided_by == DecidedBy::DryRun),
        "every drift is confirmed by a dry run"
    );

    println!();
    println!(
        "| Scenario | Objects | Drifted | detect (median of {runs}) | min | API requests | requests/object | LISTs | dry-run PATCHes | writes |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for f in [&clean, &drifted] {
        println!(
            "| {} | {} | {} | {:.1} ms | {:.1} ms | {} | {:.4} | {} | {} | {} |",
            f.scenario,
            f.objects,
            f.drifted,
            f.median.as_secs_f64() * 1e3,
            f.min.as_secs_f64() * 1e3,
            f.requests,
            f.requests as f64 / f.objects as f64,
            f.lists,
            f.dry_runs,
            f.writes
        );
    }
    let lists = measure_live(&mut destination, &desired, runs).await;
    println!(
        "\nof which reading live state (Destination::live, {} LISTs): {:.1} ms (median)",
        clean.lists,
        lists.as_secs_f64() * 1e3
    );
    let undrifted_dry_runs = drifted.dry_runs.saturating_sub(drifted.drifted) + clean.dry_runs;
    println!(
        "dry-run requests for undrifted objects: {undrifted_dry_runs} (destination 0); for drifted ones: {} of {}",
        drifted.dry_runs, drifted.drifted
    );
    server.shutdown().await;
}
