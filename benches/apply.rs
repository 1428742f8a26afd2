//! Apply benchmark: Flotilla's first sync of one cluster against a raw
//! parallel server-side-apply client, side by side on the same kind of
//! in-process test API server (`kube-testserver`, 127.0.0.1).
//!
//! Run with `cargo bench --bench apply`. `FLOTILLA_BENCH_OBJECTS=N` (a
//! multiple of 20, default 1,000) sets the size; `FLOTILLA_BENCH_RUNS=N`
//! the runs of each (default 3, the median is reported);
//! `FLOTILLA_BENCH_BIN=PATH` times another `flotilla` build as the
//! whole-process client (to compare before and after a change).
//!
//! The objects are those of the sync bench's base (per namespace: 1
//! Namespace, 9 ConfigMaps, 5 Services, 5 Deployments), rendered by the
//! library so both sides send the same bodies. Each run gets a fresh server:
//!
//! - **flotilla**: the release `flotilla sync` binary, as a user runs it
//!   (process start, load, render, inventory intent and result included);
//! - **flotilla engine, in-process**: `reconcile_cluster` through a
//!   `KubeDestination` on the bench's runtime, as the raw client runs
//!   (inventory read, intent, apply, result; no process start, load or
//!   render): the apply phase alone;
//! - **raw SSA, 8 parallel**: a kube client sending one server-side apply
//!   PATCH per object, the Namespaces first, then the rest 8 at a time;
//! - **raw SSA, 1 at a time**: the same, sequential.
//!
//! The four run in turn within each run, so the ratios are taken pair by
//! pair (the median of the per-run ratios is printed beside the ratio of
//! the medians). The load average is printed before and after: the
//! machine may be shared. Output ends with a markdown table for the README.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube_testserver::TestApiServer;
use serde_json::Value;

const PER_NAMESPACE: usize = 20;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn base(objects: usize) -> String {
    let mut docs = Vec::with_capacity(objects);
    for n in 0..objects / PER_NAMESPACE {
        let ns = format!("team-{n:02}");
        docs.push(format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"
        ));
        for i in 0..9 {
            docs.push(format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings-{i}, namespace: {ns}}}\ndata:\n  CLUSTER: \"${{cluster.name}}\"\n  LOG_LEVEL: info\n  INDEX: \"{i}\"\n"
            ));
        }
        for i in 0..5 {
            docs.push(format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: app-{i}, namespace: {ns}}}\nspec:\n  selector: {{app: app-{i}}}\n  ports:\n    - {{name: http, port: 80, targetPort: http}}\n"
            ));
            docs.push(format!(
                "apiVersion: apps/v1
kind: Deployment
metadata: {{name: app-{i}, namespace: {ns}, labels: {{app: app-{i}}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: app-{i}}}}}
  template:
    metadata: {{labels: {{app: app-{i}}}}}
    spec:
      containers:
        - name: app
          image: ghcr.io/example/app-{i}:1.4.2
          ports: [{{name: http, containerPort: 8080}}]
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
"
            ));
        }
    }
    docs.join("---\n")
}

fn write_fleet(dir: &Path, server: &TestApiServer, objects: usize) -> std::path::PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("bases/apps")).unwrap();
    let kubeconfig = dir.join("c.kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig_yaml()).unwrap();
    std::fs::write(
        repo.join("fleet.yaml"),
        format!(
            "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nmetadata: {{name: bench}}\nspec:\n  clusters:\n    - {{name: c, connection: {{kubeconfig: {}}}}}\n  bases:\n    - {{name: apps, path: bases/apps}}\n",
            kubeconfig.display()
        ),
    )
    .unwrap();
    std::fs::write(repo.join("bases/apps/apps.yaml"), base(objects)).unwrap();
    repo
}

/// The desired state of the fleet's one cluster in `repo` (what Flotilla
/// sends).
fn desired_of(repo: &Path) -> flotilla_core::render::DesiredState {
    let snapshot =
        flotilla_source::snapshot(flotilla_source::SourceSpec::new(repo.to_str().unwrap()))
            .expect("the fleet reads");
    let fleet = flotilla_core::load::load(&snapshot).expect("the fleet loads");
    let (_, state) = flotilla_core::render::render_fleet(&fleet)
        .into_iter()
        .next()
        .expect("one cluster");
    state.expect("renders")
}

async fn raw_apply(server: &TestApiServer, objects: &[Value], parallel: usize) -> Duration {
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&server.kubeconfig_yaml()).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let params = PatchParams::apply("raw-bench");
    let apply = |object: &Value| {
        let client = client.clone();
        let params = params.clone();
        let object = object.clone();
        async move {
            let api_version = object["apiVersion"].as_str().unwrap();
            let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
            let gvk = GroupVersionKind::gvk(group, version, object["kind"].as_str().unwrap());
            let resource = ApiResource::from_gvk(&gvk);
            let name = object["metadata"]["name"].as_str().unwrap().to_string();
            let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
                Some(ns) => Api::namespaced_with(client, ns, &resource),
                None => Api::all_with(client, &resource),
            };
            api.patch(&name, &params, &Patch::Apply(&object))
                .await
                .expect("applied");
        }
    };
    let started = Instant::now();
    let (namespaces, rest): (Vec<&Value>, Vec<&Value>) =
        objects.iter().partition(|o| o["kind"] == "Namespace");
    for stage in [namespaces, rest] {
        futures::stream::iter(stage.into_iter().map(apply))
            .buffer_unordered(parallel)
            .collect::<Vec<()>>()
            .await;
    }
    started.elapsed()
}

fn flotilla_sync(repo: &Path) -> Duration {
    let started = Instant::now();
    // Another build of flotilla to compare with (before/after a change).
    let bin = std::env::var("FLOTILLA_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_flotilla").to_string());
    let out = Command::new(bin)
        .args(["sync", "--repo", repo.to_str().unwrap()])
        .env_remove("FLOTILLA_REPO")
        .env_remove("FLOTILLA_REV")
        .env_remove("KUBECONFIG")
        .output()
        .expect("the flotilla binary runs");
    let wall = started.elapsed();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    wall
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The engine alone: `reconcile_cluster` of the fleet's one cluster into
/// `server`, in this process (the kubeconfig and the desired state ready).
async fn engine_apply(
    server: &TestApiServer,
    desired: &flotilla_core::render::DesiredState,
    dir: &Path,
) -> Duration {
    let kubeconfig = dir.join("engine.kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig_yaml()).unwrap();
    let started = Instant::now();
    let mut destination =
        flotilla_engine::destination::kube::KubeDestination::from_kubeconfig(&kubeconfig, None)
            .await
            .expect("a kube destination");
    let changes = flotilla_engine::reconcile::reconcile_cluster(
        &mut destination,
        "bench",
        None,
        desired,
        flotilla_engine::reconcile::SyncOptions::default(),
        |_, _| {},
    )
    .await;
    let took = started.elapsed();
    assert!(!changes.is_failure(), "the engine's sync failed: {changes}");
    took
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let objects = env_usize("FLOTILLA_BENCH_OBJECTS", 1000) / PER_NAMESPACE * PER_NAMESPACE;
    let runs = env_usize("FLOTILLA_BENCH_RUNS", 3).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let dir = tempfile::tempdir().unwrap();
    let load_before = load_average();
    let mut flotilla = Vec::new();
    let mut engine = Vec::new();
    let mut requests = Vec::new();
    let mut engine_requests = Vec::new();
    let mut raw8 = Vec::new();
    let mut raw1 = Vec::new();
    let mut sent = 0;
    for run in 0..runs {
        let server = runtime.block_on(TestApiServer::start());
        let repo = write_fleet(dir.path(), &server, objects);
        flotilla.push(flotilla_sync(&repo));
        requests.push(server.counters().total);
        let desired = desired_of(&repo);
        let server = runtime.block_on(TestApiServer::start());
        engine.push(runtime.block_on(engine_apply(&server, &desired, dir.path())));
        engine_requests.push(server.counters().total);
        let server = runtime.block_on(TestApiServer::start());
        let bodies: Vec<Value> = desired.objects.iter().map(|o| o.object.clone()).collect();
        sent = bodies.len();
        raw8.push(runtime.block_on(raw_apply(&server, &bodies, 8)));
        let server = runtime.block_on(TestApiServer::start());
        raw1.push(runtime.block_on(raw_apply(&server, &bodies, 1)));
        eprintln!(
            "run {}: flotilla sync {:.3} s, engine {:.3} s, raw 8 parallel {:.3} s, raw 1 at a time {:.3} s",
            run + 1,
            flotilla[run].as_secs_f64(),
            engine[run].as_secs_f64(),
            raw8[run].as_secs_f64(),
            raw1[run].as_secs_f64()
        );
    }
    let load_after = load_average();
    let pairwise = |a: &[Duration]| {
        median_f64(
            a.iter()
                .zip(&raw8)
                .map(|(x, r)| x.as_secs_f64() / r.as_secs_f64())
                .collect(),
        )
    };
    let (whole_ratio, engine_ratio) = (pairwise(&flotilla), pairwise(&engine));
    let (f, e, r8, r1) = (median(flotilla), median(engine), median(raw8), median(raw1));
    let rate = |d: Duration| sent as f64 / d.as_secs_f64();
    println!();
    println!(
        "Apply: first sync of {sent} objects into one cluster (one in-process test API server each), median of {runs}; load average {load_before} before, {load_after} after"
    );
    println!();
    println!("| client | wall time | objects/s | requests |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| `flotilla sync` (whole run: start, load, render, inventory) | {:.3} s | {:.0} | {} |",
        f.as_secs_f64(),
        rate(f),
        requests[requests.len() / 2]
    );
    println!(
        "| flotilla engine in-process (`reconcile_cluster`: inventory, apply) | {:.3} s | {:.0} | {} |",
        e.as_secs_f64(),
        rate(e),
        engine_requests[engine_requests.len() / 2]
    );
    println!(
        "| raw SSA client, 8 parallel | {:.3} s | {:.0} | {sent} |",
        r8.as_secs_f64(),
        rate(r8)
    );
    println!(
        "| raw SSA client, 1 at a time | {:.3} s | {:.0} | {sent} |",
        r1.as_secs_f64(),
        rate(r1)
    );
    println!();
    println!(
        "flotilla sync / raw 8 parallel: {:.2}x (medians), {whole_ratio:.2}x (median of per-run ratios); target at most 1.5x",
        f.as_secs_f64() / r8.as_secs_f64()
    );
    println!(
        "engine in-process / raw 8 parallel: {:.2}x (medians), {engine_ratio:.2}x (median of per-run ratios)",
        e.as_secs_f64() / r8.as_secs_f64()
    );
    runtime.shutdown_timeout(Duration::from_secs(5));
}
