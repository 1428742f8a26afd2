//! What a new user and a daily operator meet first (issue 16): `version`,
//! completions, picking clusters (`--cluster a,b`, `-l`), quiet broken
//! pipes, range checks, `sync --dry-run` listing objects, `diff --from`
//! alone, cluster I/O timeouts and error messages, and the logs.

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::files::write;
use support::git;
use support::run::{FLOTILLA, RUN_LIMIT, Run, assert_exit, flotilla_blocking as flotilla, run};

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {colour: blue}
";

/// A fleet of two directory clusters (absolute folders under `dir/live`)
/// labelled `region: eu|us`, `env: prod|dev`, and `extra` clusters.
fn fleet(dir: &Path, extra: &str) -> String {
    let live = dir.join("live");
    format!(
        "apiVersion: flotilla.dev/v1alpha1
kind: Fleet
metadata: {{name: demo}}
spec:
  clusters:
    - {{name: eu-1, labels: {{region: eu, env: prod}}, connection: {{directory: {eu}}}}}
    - {{name: us-1, labels: {{region: us, env: dev}}, connection: {{directory: {us}}}}}
{extra}  bases:
    - {{name: web, path: bases/web}}
",
        eu = live.join("eu-1").display(),
        us = live.join("us-1").display(),
    )
}

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = fleet(dir.path(), "");
    write(dir.path(), "fleet.yaml", &text);
    write(dir.path(), "bases/web/web.yaml", WEB);
    dir
}

/// `flotilla <args>` run in `dir`.
fn in_dir(dir: &Path, args: &[&str]) -> Run {
    run(dir, args, &[], RUN_LIMIT)
}

// ----- version and completion ---------------------------------------------------

#[test]
fn version_prints_the_version_commit_and_build_date() {
    let o = flotilla(&["version"]);
    assert_exit(&o, 0);
    let line = o.stdout.trim();
    assert!(
        line.starts_with(&format!("flotilla {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{o}"
    );
    // `built YYYY-MM-DD)`
    let date = line
        .split("built ")
        .nth(1)
        .and_then(|d| d.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no build date: {o}"));
    assert_eq!(date.len(), 10, "{o}");
    assert!(date.starts_with("20") && date.as_bytes()[4] == b'-', "{o}");
    // The commit: 12 hex digits (optionally -dirty), or "unknown" without Git.
    let commit = line
        .split("(commit ")
        .nth(1)
        .and_then(|c| c.split(',').next())
        .unwrap();
    let hex = commit.trim_end_matches("-dirty");
    assert!(
        commit == "unknown" || (hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit())),
        "{o}"
    );
    let v = flotilla(&["--version"]);
    assert_exit(&v, 0);
    assert_eq!(v.stdout.trim(), line);
}

#[test]
fn completion_scripts_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef flotilla"),
        ("fish", "complete -c flotilla"),
    ] {
        let o = flotilla(&["completion", shell]);
        assert_exit(&o, 0);
        assert!(o.stdout.contains(marker), "{shell}: {o}");
        assert!(o.stdout.contains("selector"), "{shell}: {o}");
    }
    let o = flotilla(&["completion", "powershell"]);
    assert_exit(&o, 2);
    assert!(o.stderr.contains("bash"), "{o}");
}

// ----- help ---------------------------------------------------------------------

#[test]
fn help_has_examples_and_shows_defaults() {
    let o = flotilla(&["--help"]);
    assert_exit(&o, 0);
    assert!(o.stdout.contains("Examples:"), "{o}");
    assert!(o.stdout.contains("FLOTILLA_LOG"), "{o}");
    for cmd in ["validate", "render", "diff", "drift", "sync", "serve"] {
        let o = flotilla(&[cmd, "--help"]);
        assert_exit(&o, 0);
        assert!(o.stdout.contains("Examples:"), "{cmd}: {o}");
    }
    let sync = flotilla(&["sync", "--help"]);
    for default in [
        "[default: 8]",
        "[default: 0.5]",
        "[default: 10s]",
        "[default: 30s]",
    ] {
        assert!(sync.stdout.contains(default), "{default}: {sync}");
    }
    let serve = flotilla(&["serve", "--help"]);
    for default in [
        "[default: 30s]",
        "[default: 5m]",
        "[default: 8]",
        "[default: 0.5]",
        "[default: 10m]",
        "[default: 10s]",
        "[default: 127.0.0.1:8080]",
    ] {
        assert!(serve.stdout.contains(default), "{default}: {serve}");
    }
}

// ----- picking clusters -----------------------------------------------------------

/// The clusters `render --out` wrote folders for.
fn rendered(dir: &Path, select: &[&str]) -> Vec<String> {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "render",
        "--repo",
        ".",
        "--out",
        out.path().to_str().unwrap(),
    ];
    args.extend_from_slice(select);
    let o = in_dir(dir, &args);
    assert_exit(&o, 0);
    let mut names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn clusters_are_picked_by_comma_lists_and_label_selectors() {
    let dir = repo();
    let d = dir.path();
    assert_eq!(rendered(d, &["--cluster", "eu-1,us-1"]), ["eu-1", "us-1"]);
    assert_eq!(rendered(d, &["--cluster", "us-1"]), ["us-1"]);
    assert_eq!(rendered(d, &["-l", "region=eu"]), ["eu-1"]);
    assert_eq!(rendered(d, &["--selector", "env!=prod"]), ["us-1"]);
    assert_eq!(
        rendered(d, &["-l", "region in (eu,us),env"]),
        ["eu-1", "us-1"]
    );
    assert_eq!(
        rendered(d, &["-l", "region=eu", "--cluster", "eu-1,us-1"]),
        ["eu-1"]
    );
}

#[test]
fn a_selector_matching_no_cluster_is_an_error_listing_the_clusters_and_labels() {
    let dir = repo();
    let o = in_dir(dir.path(), &["render", "--repo", ".", "-l", "region=ap"]);
    assert_exit(&o, 2);
    assert!(o.stderr.contains("no cluster matches"), "{o}");
    assert!(o.stderr.contains("eu-1 (env=prod,region=eu)"), "{o}");
    let o = in_dir(dir.path(), &["render", "--repo", ".", "-l", "region=(eu"]);
    assert_exit(&o, 2);
    assert!(o.stderr.contains("--selector"), "{o}");
}

#[test]
fn an_unknown_cluster_lists_the_fleets_clusters_in_every_command() {
    let dir = repo();
    for cmd in ["render", "diff", "drift", "sync"] {
        let o = in_dir(dir.path(), &[cmd, "--repo", ".", "--cluster", "eu-1,eu-9"]);
        assert_exit(&o, 2);
        assert!(
            o.stderr
                .contains("unknown cluster \"eu-9\"; the fleet has: eu-1, us-1"),
            "{cmd}: {o}"
        );
    }
}

// ----- range checks ----------------------------------------------------------------

#[test]
fn numeric_flags_out_of_range_are_usage_errors() {
    let dir = repo();
    for (args, flag) in [
        (vec!["sync", "--concurrency", "0"], "--concurrency"),
        (vec!["drift", "--concurrency", "0"], "--concurrency"),
        (vec!["diff", "--concurrency", "0"], "--concurrency"),
        (vec!["sync", "--max-prune-ratio", "7"], "--max-prune-ratio"),
        (vec!["sync", "--request-timeout", "0s"], "--request-timeout"),
        (
            vec!["drift", "--connect-timeout", "soon"],
            "--connect-timeout",
        ),
        (vec!["serve", "--concurrency", "0"], "--concurrency"),
        (vec!["serve", "--poll-interval", "0s"], "--poll-interval"),
    ] {
        let o = in_dir(dir.path(), &args);
        assert_exit(&o, 2);
        assert!(o.stderr.contains(flag), "{args:?}: {o}");
    }
    // Nothing was synced.
    assert!(!dir.path().join("live").exists());
}

// ----- broken pipe ------------------------------------------------------------------

#[test]
fn a_reader_that_leaves_early_ends_the_output_quietly_with_exit_0() {
    let dir = repo();
    let mut child = Command::new(FLOTILLA)
        .args(["render", "--repo", "."])
        .current_dir(dir.path())
        .env_remove("FLOTILLA_LOG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -0`: the reader is gone before anything is written.
    drop(child.stdout.take());
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < RUN_LIMIT, "render did not finish");
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

// ----- sync --dry-run ---------------------------------------------------------------

#[test]
fn sync_dry_run_lists_each_object_that_would_change() {
    let dir = repo();
    let d = dir.path();
    let o = in_dir(
        d,
        &["sync", "--repo", ".", "--cluster", "eu-1", "--dry-run"],
    );
    assert_exit(&o, 0);
    assert!(
        o.stdout
            .contains("  would create Deployment.apps shop/web\n"),
        "{o}"
    );
    assert!(
        o.stdout
            .contains("  would create ConfigMap shop/settings\n"),
        "{o}"
    );
    assert!(
        !d.join("live/eu-1").exists()
            || std::fs::read_dir(d.join("live/eu-1")).unwrap().count() == 0
    );
    let o = in_dir(d, &["sync", "--repo", ".", "--cluster", "eu-1"]);
    assert_exit(&o, 0);
    assert!(!o.stdout.contains("would"), "{o}");
    // The Deployment changes, the ConfigMap leaves Git.
    write(
        d,
        "bases/web/web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  replicas: 3\n",
    );
    let o = in_dir(
        d,
        &[
            "sync",
            "--repo",
            ".",
            "-l",
            "region=eu",
            "--dry-run",
            "--prune",
        ],
    );
    assert_exit(&o, 0);
    assert!(
        o.stdout
            .contains("  would configure Deployment.apps shop/web\n"),
        "{o}"
    );
    assert!(
        o.stdout.contains("  would prune ConfigMap shop/settings\n"),
        "{o}"
    );
    assert!(!o.stdout.contains("us-1"), "{o}");
}

// ----- diff --from alone ------------------------------------------------------------

#[test]
fn diff_from_alone_compares_the_revision_with_the_work_tree() {
    let dir = repo();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    git(d, &["add", "."]);
    git(d, &["commit", "-qm", "first"]);
    let o = in_dir(d, &["diff", "--repo", ".", "--from", "main"]);
    assert_exit(&o, 0);
    write(
        d,
        "bases/web/web.yaml",
        &WEB.replace("replicas: 2", "replicas: 5"),
    );
    let o = in_dir(d, &["diff", "--repo", ".", "--from", "main"]);
    assert_exit(&o, 1);
    assert!(o.stdout.contains("work tree"), "{o}");
    assert!(o.stdout.contains("replicas: 5"), "{o}");
    let o = in_dir(d, &["diff", "--repo", ".", "--to", "main"]);
    assert_exit(&o, 2);
    assert!(o.stderr.contains("--from"), "{o}");
}

// ----- cluster I/O ---------------------------------------------------------------

/// A server on 127.0.0.1 that accepts connections and never answers; it
/// holds them until dropped (a bounded accept loop).
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            let started = Instant::now();
            while !flag.load(Ordering::Relaxed) && started.elapsed() < RUN_LIMIT {
                if let Ok((socket, _)) = listener.accept() {
                    held.push(socket);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Silent {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A repository whose one cluster connects through a kubeconfig naming
/// `server`.
fn kube_repo(server: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig.yaml");
    write(
        dir.path(),
        "kubeconfig.yaml",
        &format!(
            "apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: \"{server}\"}}}}]
users: [{{name: u, user: {{token: not-a-real-token}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
current-context: c
"
        ),
    );
    write(
        dir.path(),
        "fleet.yaml",
        &format!(
            "apiVersion: flotilla.dev/v1alpha1
kind: Fleet
metadata: {{name: demo}}
spec:
  clusters:
    - {{name: far, connection: {{kubeconfig: {}}}}}
  bases:
    - {{name: web, path: bases/web}}
",
            kubeconfig.display()
        ),
    );
    write(dir.path(), "bases/web/web.yaml", WEB);
    dir
}

#[test]
fn a_server_that_never_answers_fails_its_cluster_after_the_request_timeout() {
    let silent = Silent::start();
    let server = format!("http://127.0.0.1:{}", silent.port);
    let dir = kube_repo(&server);
    let o = in_dir(
        dir.path(),
        &[
            "drift",
            "--repo",
            ".",
            "--connect-timeout",
            "1s",
            "--request-timeout",
            "2s",
            "-o",
            "json",
        ],
    );
    assert_exit(&o, 2);
    let report = o.json();
    let far = &report["clusters"][0];
    assert_eq!(far["status"], "Unreachable", "{o}");
    let error = far["error"].as_str().unwrap_or_default();
    assert!(error.contains(&format!("127.0.0.1:{}", silent.port)), "{o}");
    assert!(error.contains("no answer within 2s"), "{o}");
    drop(silent);
}

#[test]
fn a_refused_connection_names_the_server_and_the_cause_without_client_noise() {
    let port = support::git_server::closed_port();
    let dir = kube_repo(&format!("http://127.0.0.1:{port}"));
    for cmd in ["drift", "sync"] {
        let o = in_dir(dir.path(), &[cmd, "--repo", ".", "--request-timeout", "5s"]);
        assert_exit(&o, 2);
        assert!(
            o.all()
                .contains(&format!("http://127.0.0.1:{port}/: connection refused")),
            "{cmd}: {o}"
        );
        assert!(!o.all().contains("client error (Connect)"), "{cmd}: {o}");
        assert!(!o.stderr.contains("kube_client"), "{cmd}: {o}");
        assert!(!o.stderr.contains("ERROR"), "{cmd}: {o}");
    }
}

// ----- logs ----------------------------------------------------------------------

#[test]
fn flotilla_log_and_rust_log_are_both_honoured_and_flotilla_log_wins() {
    let port = support::git_server::closed_port();
    let dir = kube_repo(&format!("http://127.0.0.1:{port}"));
    let args = ["drift", "--repo", ".", "--request-timeout", "5s"];
    // Retries are logged at debug.
    let debug = run(
        dir.path(),
        &args,
        &[("RUST_LOG", "flotilla_engine=debug")],
        RUN_LIMIT,
    );
    assert_exit(&debug, 2);
    assert!(debug.stderr.contains("retrying"), "{debug}");
    assert!(
        !debug.stderr.contains('\u{1b}'),
        "no ANSI codes in a file: {debug}"
    );
    let flotilla_log = run(
        dir.path(),
        &args,
        &[("FLOTILLA_LOG", "flotilla_engine=debug")],
        RUN_LIMIT,
    );
    assert!(flotilla_log.stderr.contains("retrying"), "{flotilla_log}");
    let both = run(
        dir.path(),
        &args,
        &[
            ("RUST_LOG", "flotilla_engine=debug"),
            ("FLOTILLA_LOG", "error"),
        ],
        RUN_LIMIT,
    );
    assert!(!both.stderr.contains("retrying"), "{both}");
    let quiet = run(dir.path(), &args, &[], RUN_LIMIT);
    assert!(!quiet.stderr.contains("retrying"), "{quiet}");
    // JSON logs: one object a line.
    let json = run(
        dir.path(),
        &[
            "--log-format",
            "json",
            "drift",
            "--repo",
            ".",
            "--request-timeout",
            "5s",
        ],
        &[("FLOTILLA_LOG", "flotilla_engine=debug")],
        RUN_LIMIT,
    );
    let lines: Vec<&str> = json.stderr.lines().filter(|l| l.starts_with('{')).collect();
    assert!(!lines.is_empty(), "{json}");
    let levels: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["level"].clone())
        .collect();
    assert!(levels.iter().any(|l| l == "DEBUG"), "{json}");
}

/// `flotilla serve` at the default log level tells an operator what it
/// does: each wave, each sync, a halt with its cause, drift found and
/// healed, with plain revisions and no ANSI codes.
#[test]
fn serve_logs_waves_syncs_halts_drift_and_heals_at_the_default_level() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = support::git_server::closed_port();
    let kubeconfig = d.join("kubeconfig.yaml");
    write(
        d,
        "kubeconfig.yaml",
        &format!(
            "apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: \"http://127.0.0.1:{port}\"}}}}]
users: [{{name: u, user: {{token: t}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
current-context: c
"
        ),
    );
    let extra = format!(
        "    - {{name: down, labels: {{region: ap}}, connection: {{kubeconfig: {}}}}}\n",
        kubeconfig.display()
    );
    let text = fleet(d, &extra)
        + "  rollout:
    waves:
      - {name: first, clusterSelector: {matchLabels: {region: eu}}}
      - {name: second, clusterSelector: {matchLabels: {region: ap}}}
      - {name: last}
";
    write(d, "fleet.yaml", &text);
    write(d, "bases/web/web.yaml", WEB);
    git(d, &["init", "-q", "-b", "main"]);
    git(d, &["add", "."]);
    git(d, &["commit", "-qm", "first"]);
    let revision = git(d, &["rev-parse", "HEAD"]);
    let err_path = d.join("serve.stderr");
    let mut child = Command::new(FLOTILLA)
        .args([
            "serve",
            "--repo",
            d.to_str().unwrap(),
            "--rev",
            "main",
            "--cache-dir",
            d.join("cache").to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--poll-interval",
            "1s",
            "--reconcile-interval",
            "1s",
            "--request-timeout",
            "5s",
            "--health-timeout",
            "5s",
        ])
        .current_dir(d)
        .env_remove("FLOTILLA_LOG")
        .env_remove("RUST_LOG")
        .env_remove("FLOTILLA_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&err_path).unwrap_or_default();
    let wait_for = |needle: &str| {
        let started = Instant::now();
        while !log().contains(needle) {
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "no {needle:?} in the log within 90 s:\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("rollout halted");
    // Drift on eu-1: its Deployment file edited by hand.
    let eu = d.join("live/eu-1");
    let file = std::fs::read_dir(&eu)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains("kind: Deployment")
        })
        .unwrap_or_else(|| panic!("no Deployment file in {}:\n{}", eu.display(), log()));
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replace("replicas: 2", "replicas: 9");
    std::fs::write(&file, edited).unwrap();
    wait_for("drift found");
    wait_for("self-healing drift");
    let _ = child.kill();
    let _ = child.wait();
    let text = log();
    let line = |needle: &str| -> String {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} line:\n{text}"))
            .to_string()
    };
    assert!(line("wave started").contains("INFO"), "{text}");
    assert!(line("wave started").contains("wave=first"), "{text}");
    assert!(line("wave done").contains("wave=first"), "{text}");
    let synced = line(" synced");
    assert!(
        synced.contains("INFO") && synced.contains("cluster=eu-1"),
        "{text}"
    );
    assert!(synced.contains(&format!("revision={revision}")), "{text}");
    assert!(synced.contains("created=2"), "{text}");
    let halted = line("rollout halted");
    assert!(
        halted.contains("wave=second") && halted.contains("cluster=down"),
        "{text}"
    );
    assert!(halted.contains("connection refused"), "{text}");
    assert!(halted.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(line("drift found").contains("cluster=eu-1"), "{text}");
    assert!(!text.contains("Some(\""), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(!text.contains("kube_client"), "{text}");
}
