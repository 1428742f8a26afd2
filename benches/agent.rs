//! Benchmark of pull mode: the hub (`flotilla serve`, a child process) and
//! N agents (the `flotilla-agent` crate, in this process, one task set
//! each), with one in-process test API server per agent cluster, all on
//! 127.0.0.1. Every cluster is `{mode: agent}`, one wave, no health gate,
//! `--concurrency N` (an agent cluster holds its pool slot while its agent
//! applies). It measures:
//!
//! (a) push-to-all-converged latency: from `git push` (announced by a
//!     GitHub webhook) until `/api/v1/fleet` shows every cluster Synced on
//!     the new commit;
//! (b) the hub's memory per agent connection: VmRSS with the fleet loaded
//!     and no agent connected, against VmRSS with N agents connected and
//!     converged, divided by N;
//! (c) the hub's CPU per agent connection while idle (long polls open,
//!     drift checked by the agents): utime + stime over
//!     `FLOTILLA_BENCH_AGENT_IDLE_SECS`, divided by N.
//!
//! `cargo bench --bench agent`. Knobs: `FLOTILLA_BENCH_AGENT_CLUSTERS`
//! (100), `FLOTILLA_BENCH_AGENT_PUSHES` (3), `FLOTILLA_BENCH_AGENT_IDLE_SECS`
//! (20).

#[path = "../tests/agent_support/mod.rs"]
mod agent_support;
#[path = "../tests/daemon_support/mod.rs"]
mod daemon_support;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use agent_support::{Tokens, fleet_yaml};
use daemon_support::*;

const SECRET: &str = "bench-webhook-secret";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seconds(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

async fn push(hub: &Daemon, repo: &FleetRepo, yaml: &str, app: &App, message: &str) -> String {
    repo.write("fleet.yaml", yaml);
    repo.replace_folder("bases/app", &app.files());
    let commit = repo.commit_and_push(message);
    let body = serde_json::json!({"ref": "refs/heads/main", "after": commit}).to_string();
    let signature = github_signature(SECRET, body.as_bytes());
    let r = request(
        &hub.addr,
        "POST",
        "/webhook/github",
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", &signature),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .await
    .expect("webhook");
    assert!(r.status < 300, "webhook: {}", r.text());
    commit
}

fn main() {
    let n = env_usize("FLOTILLA_BENCH_AGENT_CLUSTERS", 100).max(1);
    let pushes = env_usize("FLOTILLA_BENCH_AGENT_PUSHES", 3).max(1);
    let idle = Duration::from_secs(env_usize("FLOTILLA_BENCH_AGENT_IDLE_SECS", 20) as u64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rows: Vec<(String, String)> = Vec::new();
    runtime.block_on(async {
        let names: Vec<String> = (0..n).map(|i| format!("a{i:03}")).collect();
        let clusters = Clusters::start(&names).await;
        let tokens = Tokens::new(&names);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let yaml = fleet_yaml(&[], &refs, &refs, false);
        let repo = FleetRepo::new();
        repo.write("fleet.yaml", &yaml);
        repo.replace_folder("bases/app", &App::small(1).files());
        let first = repo.commit_and_push("first");
        let secret_file = repo.path().join("github-secret");
        std::fs::write(&secret_file, SECRET).unwrap();
        let _controller = RolloutController::start(
            &clusters.servers,
            Default::default(),
            Duration::from_secs(3600),
        );
        let concurrency = n.to_string();
        let hub = Daemon::start(&base_args(
            &repo,
            clusters.kubeconfig_dir(),
            &[
                "--agent-token-dir",
                tokens.dir().to_str().unwrap(),
                "--poll-interval",
                "1h",
                "--reconcile-interval",
                "30s",
                "--health-timeout",
                "60s",
                "--concurrency",
                &concurrency,
                "--github-secret-file",
                secret_file.to_str().unwrap(),
            ],
        ))
        .await;
        hub.wait_fleet("the fleet loaded", Duration::from_secs(120), |v| {
            v.clusters().len() == n
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rss_before = status_kb(hub.pid(), "VmRSS").unwrap_or(0);

        // N agents in this process.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let state = tempfile::tempdir().unwrap();
        let mut agents = Vec::new();
        for name in &names {
            let config = flotilla_agent::AgentConfig {
                hub: format!("http://{}", hub.addr),
                cluster: name.clone(),
                token: tokens.token(name),
                kubeconfig: Some(clusters.kubeconfig_dir().join(format!("{name}.yaml"))),
                context: None,
                ca_file: None,
                state_dir: Some(state.path().join(name)),
                max_backoff: Duration::from_secs(2),
            };
            // Each agent on its own thread and runtime, as a real agent runs
            // (its future is not spawnable on a shared multi-thread runtime).
            let stop = stop_rx.clone();
            agents.push(std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("an agent runtime")
                    .block_on(flotilla_agent::run(config, stop))
            }));
        }
        let started = Instant::now();
        hub.wait_converged(&first, Duration::from_secs(600)).await;
        rows.push((
            format!("{n} agents started -> all converged (first sync)"),
            format!("{} s", seconds(started.elapsed())),
        ));

        let mut latencies = Vec::new();
        for i in 0..pushes {
            let app = App {
                note: format!("v{}", i + 2),
                ..App::small(1)
            };
            let started = Instant::now();
            let commit = push(&hub, &repo, &yaml, &app, &format!("push {i}")).await;
            hub.wait_converged(&commit, Duration::from_secs(600)).await;
            latencies.push(started.elapsed());
        }
        latencies.sort();
        rows.push((
            format!("push -> {n} agent clusters converged, median of {pushes}"),
            format!("{} s", seconds(latencies[latencies.len() / 2])),
        ));
        rows.push((
            "push -> all converged, slowest".into(),
            format!("{} s", seconds(*latencies.last().unwrap())),
        ));

        let rss_after = status_kb(hub.pid(), "VmRSS").unwrap_or(0);
        let ticks_before = cpu_ticks(hub.pid()).unwrap_or(0);
        tokio::time::sleep(idle).await;
        let ticks = cpu_ticks(hub.pid()).unwrap_or(0) - ticks_before;
        let hz = clock_ticks_per_second() as f64;
        let view = hub.fleet().await;
        let connected = view
            .clusters()
            .iter()
            .filter(|c| c["agent"]["connected"] == true)
            .count();
        rows.push((
            "hub RSS: fleet loaded, no agent / all connected".into(),
            format!("{} MiB / {} MiB", rss_before / 1024, rss_after / 1024),
        ));
        rows.push((
            "hub memory per agent connection".into(),
            format!("{} KiB", rss_after.saturating_sub(rss_before) / n as u64),
        ));
        rows.push((
            format!(
                "hub CPU idle over {} s, {connected} long polls open",
                idle.as_secs()
            ),
            format!(
                "{:.1} ms/s in all, {:.3} ms/s per agent",
                ticks as f64 / hz * 1000.0 / idle.as_secs_f64(),
                ticks as f64 / hz * 1000.0 / idle.as_secs_f64() / n as f64
            ),
        ));
        let _ = stop_tx.send(true);
        let _ = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::task::spawn_blocking(move || {
                for a in agents {
                    let _ = a.join();
                }
            }),
        )
        .await;
    });
    println!("\n| measure | value |\n|---|---:|");
    for (k, v) in &rows {
        println!("| {k} | {v} |");
    }
}
