//! Sync benchmark: `flotilla sync` of 50 clusters x 200 objects against 50
//! in-process Kubernetes test API servers (`kube-testserver`, 127.0.0.1).
//!
//! Run with `cargo bench --bench sync`. `FLOTILLA_BENCH_CLUSTERS=N` and
//! `FLOTILLA_BENCH_OBJECTS=N` (a multiple of 20) change the size;
//! `FLOTILLA_BENCH_CONCURRENCY=N` is passed as `--concurrency` (default: the
//! CLI's default, 8).
//!
//! The fleet is generated in a temporary folder: one base placed on every
//! cluster holding Namespaces, ConfigMaps, Services and Deployments (per
//! namespace: 1 Namespace, 9 ConfigMaps, 5 Services, 5 Deployments = 20
//! objects), with `${cluster.name}` substituted so every cluster's state
//! differs; every cluster connects through its own kubeconfig. The release
//! `flotilla` binary is run as a user runs it, twice:
//!
//! 1. the first sync (everything created),
//! 2. a no-op resync (nothing changed in Git or on the clusters).
//!
//! For each: wall time of the whole run (load, render, every cluster),
//! requests and requests per object summed over the servers' counters, and
//! write requests (the no-op resync's target is 0). The servers run on this
//! process's Tokio runtime while the binary runs. Output ends with a
//! markdown table.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kube_testserver::{Counters, TestApiServer};

const PER_NAMESPACE: usize = 20;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The base: `objects / 20` namespaces of 20 objects each.
fn base(objects: usize) -> String {
    let mut docs = Vec::with_capacity(objects);
    for n in 0..objects / PER_NAMESPACE {
        let ns = format!("team-{n:02}");
        docs.push(format!(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels: {{team: \"{n}\"}}\n"
        ));
        for i in 0..9 {
            docs.push(format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings-{i}, namespace: {ns}}}\ndata:\n  CLUSTER: \"${{cluster.name}}\"\n  REGION: \"${{cluster.labels.region}}\"\n  LOG_LEVEL: info\n  INDEX: \"{i}\"\n"
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
          env:
            - {{name: CLUSTER, value: \"${{cluster.name}}\"}}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{memory: 256Mi}}
"
            ));
        }
    }
    docs.join("---\n")
}

/// Writes the fleet repository under `dir/repo` and one kubeconfig per
/// cluster under `dir`.
fn write_fleet(dir: &Path, servers: &[TestApiServer], objects: usize) -> std::path::PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("bases/apps")).unwrap();
    let mut fleet = String::from(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nmetadata: {name: bench}\nspec:\n  clusters:\n",
    );
    for (i, server) in servers.iter().enumerate() {
        let name = format!("c{i:02}");
        let kubeconfig = dir.join(format!("{name}.kubeconfig"));
        std::fs::write(&kubeconfig, server.kubeconfig_yaml()).unwrap();
        fleet.push_str(&format!(
            "    - {{name: {name}, labels: {{region: r{}}}, connection: {{kubeconfig: {}}}}}\n",
            i % 5,
            kubeconfig.display()
        ));
    }
    fleet.push_str("  bases:\n    - {name: apps, path: bases/apps}\n");
    std::fs::write(repo.join("fleet.yaml"), fleet).unwrap();
    std::fs::write(repo.join("bases/apps/apps.yaml"), base(objects)).unwrap();
    repo
}

struct Phase {
    name: &'static str,
    wall: Duration,
    counters: Counters,
    objects: usize,
    summary: String,
}

fn sum(servers: &[TestApiServer]) -> Counters {
    let mut total = Counters::default();
    for s in servers {
        let c = s.counters();
        total.total += c.total;
        total.writes += c.writes;
        total.changes += c.changes;
        total.faults += c.faults;
        for (verb, n) in c.by_verb {
            *total.by_verb.entry(verb).or_default() += n;
        }
    }
    total
}

/// Runs the binary (blocking this thread; the servers run on the runtime's
/// workers) and collects the servers' counters.
fn run_sync(
    name: &'static str,
    repo: &Path,
    concurrency: Option<usize>,
    servers: &[TestApiServer],
    objects: usize,
) -> Phase {
    for s in servers {
        s.reset_counters();
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flotilla"));
    cmd.args(["sync", "--repo", repo.to_str().unwrap()])
        .env_remove("FLOTILLA_REPO")
        .env_remove("FLOTILLA_REV")
        .env_remove("KUBECONFIG");
    if let Some(n) = concurrency {
        cmd.args(["--concurrency", &n.to_string()]);
    }
    let started = Instant::now();
    let out = cmd.output().expect("the flotilla binary runs");
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // Totals of the per-cluster summary lines.
    let mut actions: BTreeMap<String, usize> = BTreeMap::new();
    for line in stdout.lines() {
        if let Some((_, counts)) = line.split_once(": ") {
            for part in counts.split(", ") {
                if let Some((n, what)) = part.split_once(' ')
                    && let Ok(n) = n.parse::<usize>()
                {
                    *actions.entry(what.to_string()).or_default() += n;
                }
            }
        }
    }
    let summary = actions
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(w, n)| format!("{n} {w}"))
        .collect::<Vec<_>>()
        .join(", ");
    Phase {
        name,
        wall,
        counters: sum(servers),
        objects,
        summary,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let clusters = env_usize("FLOTILLA_BENCH_CLUSTERS", 50);
    let per_cluster = env_usize("FLOTILLA_BENCH_OBJECTS", 200) / PER_NAMESPACE * PER_NAMESPACE;
    let concurrency: Option<usize> = std::env::var("FLOTILLA_BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let servers: Vec<TestApiServer> = runtime.block_on(async {
        let mut v = Vec::with_capacity(clusters);
        for _ in 0..clusters {
            v.push(TestApiServer::start().await);
        }
        v
    });
    let dir = tempfile::tempdir().unwrap();
    let repo = write_fleet(dir.path(), &servers, per_cluster);
    let objects = clusters * per_cluster;
    eprintln!(
        "sync bench: {clusters} clusters x {per_cluster} objects ({objects} objects), {} test API servers, concurrency {}",
        servers.len(),
        concurrency.map_or("8 (default)".to_string(), |n| n.to_string())
    );

    // Reference: load and render every cluster, no cluster I/O.
    let started = Instant::now();
    let validate = Command::new(env!("CARGO_BIN_EXE_flotilla"))
        .args(["validate", "--repo", repo.to_str().unwrap()])
        .env_remove("FLOTILLA_REPO")
        .env_remove("FLOTILLA_REV")
        .output()
        .expect("the flotilla binary runs");
    let render_wall = started.elapsed();
    assert!(
        validate.status.success(),
        "{}",
        String::from_utf8_lossy(&validate.stdout)
    );

    let first = run_sync("first sync", &repo, concurrency, &servers, objects);
    let noop = run_sync("no-op resync", &repo, concurrency, &servers, objects);

    println!();
    println!(
        "Sync: {clusters} clusters x {per_cluster} objects against {clusters} in-process test API servers (release, `--concurrency {}`)",
        concurrency.map_or("8".to_string(), |n| n.to_string())
    );
    println!();
    println!(
        "| run | wall time | objects/s | requests | requests/object | writes | writes/object | outcome |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for p in [&first, &noop] {
        let secs = p.wall.as_secs_f64();
        println!(
            "| {} | {:.2} s | {:.0} | {} | {:.2} | {} | {:.2} | {} |",
            p.name,
            secs,
            p.objects as f64 / secs,
            p.counters.total,
            p.counters.total as f64 / p.objects as f64,
            p.counters.writes,
            p.counters.writes as f64 / p.objects as f64,
            p.summary
        );
    }
    println!(
        "| (reference) `flotilla validate`: load + render only | {:.2} s | {:.0} | 0 | 0 | 0 | 0 | |",
        render_wall.as_secs_f64(),
        objects as f64 / render_wall.as_secs_f64()
    );
    println!();
    for p in [&first, &noop] {
        println!("{} requests by verb: {:?}", p.name, p.counters.by_verb);
    }
    if noop.counters.writes == 0 {
        println!("no-op resync writes: 0 (target 0): OK");
    } else {
        println!(
            "no-op resync writes: {} (target 0): NOT MET",
            noop.counters.writes
        );
    }
    drop(servers);
    runtime.shutdown_timeout(Duration::from_secs(5));
}
