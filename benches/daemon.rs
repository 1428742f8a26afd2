//! Benchmark of the daemon (`flotilla serve`, the release binary as a child
//! process) against in-process test API servers on 127.0.0.1, one server
//! per cluster, one run at N clusters x 200 objects (a Namespace, 20%
//! Services, 10% Deployments, the rest ConfigMaps), two waves,
//! `healthGate: false`, `--concurrency 32`, `--reconcile-interval 30s`,
//! `--full-resync-interval` at its default (10 minutes), self-heal on:
//!
//! 1. the initial sync, and the CPU time of the first drift checks (a full
//!    pass over every cluster, woken by the sync's own writes);
//! 2. idle: CPU time (utime + stime from /proc/<pid>/stat) over 60 s once
//!    every cluster is checked (and its Deployments marked rolled out, as
//!    a deployment controller would; the test servers bookmark watches
//!    once a minute, as a real API server does), the API requests the clusters get, RSS
//!    (VmRSS, VmHWM), and RSS per cached object beyond the JSON size of
//!    what is cached (the labelled objects of every cluster, as compact
//!    JSON);
//! 3. hand edits (`spec.replicas` of Deployment `web` patched as
//!    `kubectl-edit` on one cluster after the other): from the write to
//!    `/api/v1/clusters/<name>/drift` saying `Drifted` (polled every 20 ms;
//!    or to the value healed, if that came first), and to healed;
//! 4. `git push` (one Deployment per cluster changed) + GitHub webhook ->
//!    every cluster Synced on the new commit (`/api/v1/fleet` polled every
//!    250 ms).
//!
//! `cargo bench --bench daemon`. Knobs (environment):
//! `FLOTILLA_BENCH_DAEMON_CLUSTERS` (100), `FLOTILLA_BENCH_DAEMON_OBJECTS`
//! (200), `FLOTILLA_BENCH_DAEMON_IDLE_SECS` (60),
//! `FLOTILLA_BENCH_DAEMON_EDITS` (10), `FLOTILLA_BENCH_DAEMON_PUSHES` (2),
//! `FLOTILLA_BENCH_DAEMON_CONCURRENCY` (32).

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
    let names: Vec<String> = (0..n).map(|i| format!("k{i:04}")).collect();
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

/// The load average of the machine (1, 5, 15 minutes), as text.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The number and the compact JSON bytes of the objects the daemon's watch
/// caches hold on `clusters`: every object labelled as Flotilla's, of the
/// kinds the fleet uses.
fn cached_json(clusters: &Clusters) -> (usize, usize) {
    let mut n = 0;
    let mut bytes = 0;
    for s in clusters.servers.values() {
        for (group, version, plural) in [
            ("", "v1", "namespaces"),
            ("", "v1", "configmaps"),
            ("", "v1", "services"),
            ("apps", "v1", "deployments"),
        ] {
            for o in s.list(group, version, plural, None) {
                if o["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "flotilla" {
                    n += 1;
                    bytes += serde_json::to_string(&o).unwrap().len();
                }
            }
        }
    }
    (n, bytes)
}

struct Row(String, String);

async fn run(rows: &mut Vec<Row>) {
    let n = env_usize("FLOTILLA_BENCH_DAEMON_CLUSTERS", 100);
    let objects = env_usize("FLOTILLA_BENCH_DAEMON_OBJECTS", 200).max(5);
    let idle = Duration::from_secs(env_usize("FLOTILLA_BENCH_DAEMON_IDLE_SECS", 60) as u64);
    let edits = env_usize("FLOTILLA_BENCH_DAEMON_EDITS", 10).clamp(1, n);
    let pushes = env_usize("FLOTILLA_BENCH_DAEMON_PUSHES", 2).max(1);
    let concurrency = env_usize("FLOTILLA_BENCH_DAEMON_CONCURRENCY", 32).to_string();
    let layout = layout(n);
    let names = layout.all();
    let t = Instant::now();
    let clusters = Clusters::start(&names).await;
    eprintln!("{n} test API servers started in {:?}", t.elapsed());
    // Bookmarks about once a minute, as a real API server sends them (the
    // test server's default is every 5 s).
    for s in clusters.servers.values() {
        s.set_bookmark_interval(Duration::from_secs(60));
    }
    let repo = FleetRepo::new();
    let deployments = (objects / 10).max(1);
    let services = objects / 5;
    let mut app = App {
        replicas: 1,
        note: "bench".into(),
        extra_configmaps: objects - 2 - services - deployments,
        services,
        deployments,
        web_replicas: Some(1),
    };
    assert_eq!(app.object_count(), objects);
    write_fleet(&repo, &layout, &app);
    let first = repo.commit_and_push("first");
    let secret_file = repo.path().join("github-secret");
    std::fs::write(&secret_file, SECRET).unwrap();
    let extra = [
        "--poll-interval",
        "1h",
        "--reconcile-interval",
        "30s",
        "--concurrency",
        concurrency.as_str(),
        "--github-secret-file",
        secret_file.to_str().unwrap(),
    ];
    let started = Instant::now();
    let daemon = Daemon::start(&base_args(&repo, clusters.kubeconfig_dir(), &extra)).await;
    let pid = daemon.pid();
    let poll = Duration::from_millis(250);
    let converged = |revision: &str| {
        let revision = revision.to_string();
        move |v: &FleetView| v.all_synced_on(&revision)
    };
    wait_view(
        &daemon,
        "initial sync",
        Duration::from_secs(3600),
        poll,
        converged(&first),
    )
    .await;
    let initial = started.elapsed();
    let ticks_synced = cpu_ticks(pid).unwrap();
    eprintln!("{n} x {objects}: initial sync in {initial:?}");
    // The test servers run no controllers: mark the Deployments rolled out
    // once, as a cluster's deployment controller would (healthy objects
    // need no event reads).
    for s in clusters.servers.values() {
        for d in s.list("apps", "v1", "deployments", Some(APP_NS)) {
            let name = d["metadata"]["name"].as_str().unwrap_or("");
            s.mark_rolled_out("apps", "deployments", Some(APP_NS), name)
                .unwrap();
        }
    }
    // The first checks (woken by the sync's own writes) compare everything.
    let all_checked = |v: &FleetView| {
        v.clusters()
            .iter()
            .all(|c| c["drift"]["status"] == "InSync")
    };
    wait_view(
        &daemon,
        "every cluster checked",
        Duration::from_secs(1800),
        poll,
        all_checked,
    )
    .await;
    let checked = started.elapsed() - initial;
    let ticks_checked = cpu_ticks(pid).unwrap();
    let hz = clock_ticks_per_second() as f64;
    let load_sync = load_average();
    for c in &names {
        let cms = clusters
            .server(c)
            .list("", "v1", "configmaps", Some(APP_NS))
            .len();
        assert_eq!(cms, 1 + app.extra_configmaps, "{c}: ConfigMaps");
    }

    // 2. idle, once the status changes above are seen.
    tokio::time::sleep(Duration::from_secs(10)).await;
    for s in clusters.servers.values() {
        s.reset_counters();
    }
    let ticks0 = cpu_ticks(pid).unwrap();
    let t0 = Instant::now();
    let mut rss_max = 0;
    while t0.elapsed() < idle {
        tokio::time::sleep(Duration::from_secs(1)).await;
        rss_max = rss_max.max(status_kb(pid, "VmRSS").unwrap_or(0));
    }
    let cpu = (cpu_ticks(pid).unwrap() - ticks0) as f64 / hz;
    let wall = t0.elapsed();
    let load_idle = load_average();
    let rss = status_kb(pid, "VmRSS").unwrap_or(0);
    let hwm = status_kb(pid, "VmHWM").unwrap_or(0);
    let (requests, writes, watches): (u64, u64, u64) = clusters
        .servers
        .values()
        .map(|s| {
            let c = s.counters();
            (
                c.total,
                c.writes,
                c.by_verb.get("watch").copied().unwrap_or(0),
            )
        })
        .fold((0, 0, 0), |(a, b, c), (t, w, x)| (a + t, b + w, c + x));
    let (cached, json_bytes) = cached_json(&clusters);
    if std::env::var_os("FLOTILLA_TEST_DAEMON_WRAPPER").is_some() {
        // Under a wrapper (a heap profiler), stop the daemon itself at the
        // end of idle (SIGKILL: what it holds then is what it "leaks"), so
        // the profile shows what idle keeps; skip the rest.
        let children = std::process::Command::new("pgrep")
            .args(["-P", &pid.to_string()])
            .output()
            .expect("pgrep");
        for child in String::from_utf8_lossy(&children.stdout).split_whitespace() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", child])
                .status();
        }
        tokio::time::sleep(Duration::from_secs(20)).await;
        eprintln!("cached objects {cached}, JSON {json_bytes} B; daemon stopped after idle");
        return;
    }
    let view = daemon.fleet().await;
    assert!(
        view.all_synced_on(&first),
        "a cluster left Synced while idle"
    );
    assert!(all_checked(&view), "a cluster drifted while idle");

    // 3. hand edits, one cluster after the other.
    let mut noticed = Vec::new();
    let mut healed = Vec::new();
    for i in 0..edits {
        let c = &names[i * n / edits];
        let t0 = Instant::now();
        hand_edit_replicas(&clusters, c, 5).await;
        let path = format!("/api/v1/clusters/{c}/drift");
        let mut seen = None;
        loop {
            let r = daemon.get(&path).await;
            let fixed = clusters.replicas(c, "web") == Some(1);
            if seen.is_none() && (fixed || (r.status == 200 && r.json()["status"] == "Drifted")) {
                seen = Some(t0.elapsed());
            }
            if fixed {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "edit on {c} not healed in 120 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = t0.elapsed();
        eprintln!(
            "edit on {c}: noticed after {:?}, healed after {took:?}",
            seen.unwrap()
        );
        noticed.push(seen.unwrap());
        healed.push(took);
        wait_view(
            &daemon,
            "back in sync",
            Duration::from_secs(120),
            poll,
            all_checked,
        )
        .await;
    }
    noticed.sort();
    healed.sort();

    // 4. pushes.
    let mut latencies = Vec::new();
    for s in clusters.servers.values() {
        s.reset_counters();
    }
    let ticks_push0 = cpu_ticks(pid).unwrap();
    for i in 0..pushes {
        app.web_replicas = Some(2 + i as u32);
        write_fleet(&repo, &layout, &app);
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
        wait_view(
            &daemon,
            "push converged",
            Duration::from_secs(1800),
            poll,
            converged(&revision),
        )
        .await;
        let took = t0.elapsed();
        eprintln!("push {i}: converged in {took:?}");
        latencies.push(took);
    }
    let cpu_push = (cpu_ticks(pid).unwrap() - ticks_push0) as f64 / hz;
    let load_push = load_average();
    // The requests the pushes cost the clusters (including the drift checks
    // and status refreshes they wake, and watch renewals), by verb.
    let mut push_verbs: std::collections::BTreeMap<String, u64> = Default::default();
    for s in clusters.servers.values() {
        for (verb, count) in s.counters().by_verb {
            *push_verbs.entry(verb).or_default() += count;
        }
    }
    let push_requests: u64 = push_verbs.values().sum();
    for c in &names {
        assert_eq!(clusters.replicas(c, "web"), Some(1 + pushes as i64), "{c}");
    }
    latencies.sort();

    let total = n * objects;
    let mb = |kb: u64| format!("{:.1} MB", kb as f64 / 1024.0);
    let mut row = |k: String, v: String| rows.push(Row(k, v));
    row(
        format!(
            "initial sync, {n} clusters x {objects} objects ({total}), concurrency {concurrency}"
        ),
        format!("{} s (load average {load_sync})", seconds(initial)),
    );
    row(
        "first drift checks of every cluster (a full pass), after the sync".into(),
        format!(
            "{} s, {:.1} s CPU",
            seconds(checked),
            (ticks_checked - ticks_synced) as f64 / hz
        ),
    );
    row(
        format!("idle CPU over {} s (no full pass due)", wall.as_secs()),
        format!(
            "{cpu:.2} s ({:.2}% of one core; load average {load_idle})",
            100.0 * cpu / wall.as_secs_f64()
        ),
    );
    row(
        "API requests to the clusters while idle".into(),
        format!("{requests} ({writes} writes, {watches} watch renewals)"),
    );
    row(
        "RSS at the end of idle / max while idle / peak (VmHWM)".into(),
        format!("{} / {} / {}", mb(rss), mb(rss_max), mb(hwm)),
    );
    row(
        "cached objects, their compact JSON".into(),
        format!(
            "{cached}, {:.1} MB ({} B each on average)",
            json_bytes as f64 / 1048576.0,
            json_bytes / cached.max(1)
        ),
    );
    row(
        "RSS per cached object beyond its JSON ((RSS - JSON) / objects)".into(),
        format!(
            "{:.2} KB",
            (rss as f64 * 1024.0 - json_bytes as f64) / cached.max(1) as f64 / 1024.0
        ),
    );
    row(
        format!("hand edit -> drift reported, p50 / max of {edits}"),
        format!(
            "{} s / {} s",
            seconds(percentile(&noticed, 0.5)),
            seconds(*noticed.last().unwrap())
        ),
    );
    row(
        format!("hand edit -> self-healed, p50 / max of {edits}"),
        format!(
            "{} s / {} s",
            seconds(percentile(&healed, 0.5)),
            seconds(*healed.last().unwrap())
        ),
    );
    row(
        format!(
            "git push + webhook -> all {n} clusters converged (1 Deployment each changed), p50 / max of {pushes}"
        ),
        format!(
            "{} s / {} s ({cpu_push:.1} s CPU in all; load average {load_push})",
            seconds(percentile(&latencies, 0.5)),
            seconds(*latencies.last().unwrap())
        ),
    );
    row(
        "daemon CPU per cluster sync of a push".into(),
        format!("{:.1} ms", 1000.0 * cpu_push / (n * pushes) as f64),
    );
    row(
        "API requests per cluster sync of a push, by verb".into(),
        format!(
            "{:.1} ({})",
            push_requests as f64 / (n * pushes) as f64,
            push_verbs
                .iter()
                .map(|(v, c)| format!("{v} {:.1}", *c as f64 / (n * pushes) as f64))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
}

/// Polls `/api/v1/fleet` every `every` until `done` holds (at most `limit`).
async fn wait_view(
    daemon: &Daemon,
    what: &str,
    limit: Duration,
    every: Duration,
    done: impl Fn(&FleetView) -> bool,
) {
    let started = Instant::now();
    loop {
        if done(&daemon.fleet().await) {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "waited {limit:?} for {what}:\n{}",
            daemon.stderr_tail(40)
        );
        tokio::time::sleep(every).await;
    }
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
        if wants("daemon") {
            run(&mut rows).await;
        }
    });
    println!("\n| measure | value |\n|---|---:|");
    for Row(k, v) in &rows {
        println!("| {k} | {v} |");
    }
}
