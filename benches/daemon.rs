//! Benchmark of the daemon (`flotilla serve`, the release binary as a child
//! process) against in-process test API servers on 127.0.0.1:
//!
//! (a) latency from `git push` to every cluster converged, for 100
//!     clusters with a small fleet each (namespace, ConfigMap, Deployment;
//!     two waves, `healthGate: false`), the push announced by a GitHub
//!     webhook (`--poll-interval 1h`, so only the webhook triggers);
//! (b) CPU and memory of the daemon idling over 100 clusters x 200 objects
//!     with `--reconcile-interval 30s` (drift checks every 30 s): CPU time
//!     (utime + stime from /proc/<pid>/stat) over 60 s after convergence,
//!     and RSS (VmRSS, VmHWM from /proc/<pid>/status).
//!
//! `cargo bench --bench daemon`. Knobs (environment):
//! `FLOTILLA_BENCH_DAEMON_CLUSTERS` (100), `FLOTILLA_BENCH_DAEMON_PUSHES`
//! (3), `FLOTILLA_BENCH_DAEMON_OBJECTS` (200), `FLOTILLA_BENCH_DAEMON_IDLE_SECS`
//! (60), `FLOTILLA_BENCH_DAEMON_CONCURRENCY` (the daemon's default, 8).

#[path = "../tests/daemon_support/mod.rs"]
mod daemon_support;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use daemon_support::*;

const SECRET: &str = "bench-webhook-secret";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` clusters: the first 5% (at least one) in wave `canary`.
fn layout(n: usize) -> FleetLayout {
    let canaries = (n / 20).max(1).min(n);
    let names: Vec<String> = (0..n).map(|i| format!("k{i:03}")).collect();
    FleetLayout {
        canary: names[..canaries].to_vec(),
        rest: names[canaries..].to_vec(),
        health_gate: false,
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Row(String, String);

async fn push_latency(rows: &mut Vec<Row>) {
    let n = env_usize("FLOTILLA_BENCH_DAEMON_CLUSTERS", 100);
    let pushes = env_usize("FLOTILLA_BENCH_DAEMON_PUSHES", 3).max(1);
    let concurrency = std::env::var("FLOTILLA_BENCH_DAEMON_CONCURRENCY").ok();
    let layout = layout(n);
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &App::small(1));
    let first = repo.commit_and_push("first");
    let secret_file = repo.path().join("github-secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let mut extra = vec![
        "--poll-interval",
        "1h",
        "--reconcile-interval",
        "5m",
        "--github-secret-file",
        secret_file.to_str().unwrap(),
    ];
    if let Some(c) = &concurrency {
        extra.extend(["--concurrency", c.as_str()]);
    }
    let started = Instant::now();
    let daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &extra)).await;
    daemon
        .wait_converged(&first, Duration::from_secs(600))
        .await;
    let initial = started.elapsed();
    eprintln!("(a) {n} clusters: initial sync in {initial:?}");

    let mut latencies = Vec::new();
    for i in 0..pushes {
        write_fleet(
            &repo,
            &layout,
            &App {
                note: format!("push-{i}"),
                ..App::small(2 + i as u32)
            },
        );
        let t0 = Instant::now();
        let revision = repo.commit_and_push(&format!("push {i}"));
        let body = br#"{"ref":"refs/heads/main"}"#;
        let signature = github_signature(SECRET, body);
        let r = request(
            &daemon.addr,
            "POST",
            "/webhook/github",
            &[
                ("Content-Type", "application/json"),
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", &signature),
            ],
            body,
        )
        .await
        .expect("webhook");
        assert_eq!(r.status, 202, "{}", r.text());
        loop {
            if daemon.fleet().await.all_synced_on(&revision) {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(600),
                "push {i} not converged in 600 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = t0.elapsed();
        eprintln!("(a) push {i}: converged in {took:?}");
        latencies.push(took);
    }
    let replicas = 2 + pushes as i64 - 1;
    for c in layout.all() {
        assert_eq!(clusters.replicas(&c, "web"), Some(replicas), "{c}");
    }
    latencies.sort();
    let conc = concurrency.as_deref().unwrap_or("8 (default)");
    rows.push(Row(
        format!("(a) initial sync, {n} clusters x 3 objects, concurrency {conc}"),
        format!("{} s", seconds(initial)),
    ));
    rows.push(Row(
        format!(
            "(a) git commit + push + webhook -> all {n} clusters converged, p50 of {pushes} pushes"
        ),
        format!("{} s", seconds(percentile(&latencies, 0.5))),
    ));
    rows.push(Row(
        format!(
            "(a) git commit + push + webhook -> all {n} clusters converged, max of {pushes} pushes"
        ),
        format!("{} s", seconds(*latencies.last().unwrap())),
    ));
}

async fn idle_cost(rows: &mut Vec<Row>) {
    let n = env_usize("FLOTILLA_BENCH_DAEMON_CLUSTERS", 100);
    let objects = env_usize("FLOTILLA_BENCH_DAEMON_OBJECTS", 200).max(5);
    let idle = Duration::from_secs(env_usize("FLOTILLA_BENCH_DAEMON_IDLE_SECS", 60) as u64);
    let concurrency = std::env::var("FLOTILLA_BENCH_DAEMON_CONCURRENCY").ok();
    let layout = layout(n);
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    // namespace + app-config + ConfigMaps + 20% Services + 10% Deployments.
    let deployments = (objects / 10).max(1);
    let services = objects / 5;
    let app = App {
        replicas: 1,
        note: "idle".into(),
        extra_configmaps: objects - 2 - services - deployments,
        services,
        deployments,
    };
    assert_eq!(app.object_count(), objects);
    write_fleet(&repo, &layout, &app);
    let first = repo.commit_and_push("first");
    let mut extra = vec!["--poll-interval", "30s", "--reconcile-interval", "30s"];
    if let Some(c) = &concurrency {
        extra.extend(["--concurrency", c.as_str()]);
    }
    let started = Instant::now();
    let daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &extra)).await;
    daemon
        .wait_converged(&first, Duration::from_secs(1800))
        .await;
    let initial = started.elapsed();
    eprintln!("(b) {n} clusters x {objects} objects: initial sync in {initial:?}");
    for c in layout.all() {
        let cms = clusters
            .server(&c)
            .list("", "v1", "configmaps", Some(APP_NS))
            .len();
        assert_eq!(cms, 1 + app.extra_configmaps, "{c}: ConfigMaps");
    }
    let pid = daemon.pid();
    let rss_converged = status_kb(pid, "VmRSS").unwrap_or(0);
    // Drift checks come 30 s after convergence, then every 30 s: start the
    // window 5 s in, so a 60 s window holds two rounds.
    tokio::time::sleep(Duration::from_secs(5)).await;
    for s in clusters.servers.values() {
        s.reset_counters();
    }
    let ticks0 = cpu_ticks(pid).expect("read /proc/<pid>/stat");
    let t0 = Instant::now();
    let mut rss_max = 0;
    while t0.elapsed() < idle {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_max = rss_max.max(status_kb(pid, "VmRSS").unwrap_or(0));
    }
    let ticks1 = cpu_ticks(pid).expect("read /proc/<pid>/stat");
    let wall = t0.elapsed();
    let rss_end = status_kb(pid, "VmRSS").unwrap_or(0);
    let hwm = status_kb(pid, "VmHWM").unwrap_or(0);
    let cpu = (ticks1 - ticks0) as f64 / clock_ticks_per_second() as f64;
    let (requests, writes): (u64, u64) = clusters
        .servers
        .values()
        .map(|s| {
            let c = s.counters();
            (c.total, c.writes)
        })
        .fold((0, 0), |(a, b), (t, w)| (a + t, b + w));
    let view = daemon.fleet().await;
    let drifted = view
        .clusters()
        .iter()
        .filter(|c| c["drift"]["status"] != "InSync")
        .count();
    assert!(
        view.all_synced_on(&first),
        "a cluster left Synced while idle: {}",
        view.0
    );
    let mb = |kb: u64| format!("{:.1} MB", kb as f64 / 1024.0);
    rows.push(Row(
        format!(
            "(b) initial sync, {n} clusters x {objects} objects ({} objects), concurrency {}",
            n * objects,
            concurrency.as_deref().unwrap_or("8 (default)")
        ),
        format!("{} s", seconds(initial)),
    ));
    rows.push(Row(
        format!(
            "(b) idle CPU time over {} s (drift checks every 30 s), from 5 s after convergence",
            wall.as_secs()
        ),
        format!(
            "{cpu:.2} s ({:.1}% of one core)",
            100.0 * cpu / wall.as_secs_f64()
        ),
    ));
    rows.push(Row(
        "(b) API requests to the clusters while idle (all clusters)".into(),
        format!("{requests} ({writes} writes)"),
    ));
    rows.push(Row(
        "(b) clusters not InSync at the end".into(),
        drifted.to_string(),
    ));
    rows.push(Row("(b) RSS after convergence".into(), mb(rss_converged)));
    rows.push(Row(
        "(b) RSS while idle (max of 1 s samples)".into(),
        mb(rss_max),
    ));
    rows.push(Row("(b) RSS at the end".into(), mb(rss_end)));
    rows.push(Row("(b) peak RSS since start (VmHWM)".into(), mb(hwm)));
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that names neither
    // part skips the run (so `cargo bench other` does not run this).
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |part: &str| filter.is_empty() || filter.iter().any(|f| part.contains(f.as_str()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    runtime.block_on(async {
        if wants("daemon push_latency") {
            push_latency(&mut rows).await;
        }
        if wants("daemon idle_cost") {
            idle_cost(&mut rows).await;
        }
    });
    println!("\n| measure | value |\n|---|---:|");
    for Row(k, v) in &rows {
        println!("| {k} | {v} |");
    }
}
