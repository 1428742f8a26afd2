//! Support for the end-to-end tests of `flotilla serve` (tests/daemon.rs)
//! and its benchmark (benches/daemon.rs): the real binary as a child
//! process (killed on drop), the shared HTTP client (`tests/support/http.rs`), a fleet
//! repository (a bare repository served over `file://`, committed to with
//! the `git` CLI in an isolated `HOME`), fleet and manifest generators, and a
//! "rollout controller" that marks Deployments rolled out on test API
//! servers (they have no controllers of their own).
//!
//! Every wait is bounded; everything listens on 127.0.0.1 only.

#![allow(dead_code)] // the tests and the bench use different parts

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube_testserver::TestApiServer;
use serde_json::Value;

pub use crate::support::run::FLOTILLA;

/// The name of the fleet the tests generate.
pub const FLEET: &str = "demo";

/// The namespace of the generated application.
pub const APP_NS: &str = "demo";

// ----- HTTP client ------------------------------------------------------------

#[allow(unused_imports)] // the tests and the bench use different parts
pub use crate::support::http::{HTTP_TIMEOUT, Resp, get, github_signature, request};

// ----- the daemon -------------------------------------------------------------

/// A running `flotilla serve`, killed (SIGKILL) when dropped.
pub struct Daemon {
    child: Option<Child>,
    /// `127.0.0.1:<port>` of its HTTP server.
    pub addr: String,
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `flotilla serve --listen 127.0.0.1:0 <args>` and waits (at most
    /// 60 s) for its `flotilla serve: http://ADDR/` line on stderr.
    pub async fn start(args: &[String]) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("flotilla-daemon")
            .tempdir()
            .unwrap();
        let stderr_path = dir.path().join("stderr");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        // `FLOTILLA_TEST_DAEMON_WRAPPER`: a command the daemon runs under
        // (e.g. `heaptrack -o /tmp/serve`), for measurements by hand.
        let wrapper = std::env::var("FLOTILLA_TEST_DAEMON_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut cmd = match words.next() {
            Some(program) => {
                let mut cmd = Command::new(program);
                cmd.args(words).arg(FLOTILLA);
                cmd
            }
            None => Command::new(FLOTILLA),
        };
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap());
        clean_env(&mut cmd, &home);
        cmd.env(
            "FLOTILLA_LOG",
            std::env::var("FLOTILLA_TEST_DAEMON_LOG").unwrap_or_else(|_| "flotilla=info".into()),
        );
        let child = cmd.spawn().expect("flotilla serve starts");
        let mut daemon = Daemon {
            child: Some(child),
            addr: String::new(),
            stderr_path,
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            let log = daemon.stderr();
            if let Some(addr) = log
                .lines()
                .find_map(|l| l.strip_prefix("flotilla serve: http://"))
                .and_then(|rest| rest.split('/').next())
            {
                daemon.addr = addr.to_string();
                break;
            }
            if let Some(status) = daemon.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("flotilla serve exited ({status}) before listening:\n{log}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "flotilla serve did not print its address within 60 s:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        daemon
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Everything the daemon wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The last `n` lines of stderr, for failure messages.
    pub fn stderr_tail(&self, n: usize) -> String {
        let log = self.stderr();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `GET path` on the daemon.
    pub async fn get(&self, path: &str) -> Resp {
        match request(&self.addr, "GET", path, &[], &[]).await {
            Ok(r) => r,
            Err(e) => panic!(
                "GET {path}: {e}\n--- daemon stderr\n{}",
                self.stderr_tail(60)
            ),
        }
    }

    /// `POST path` on the daemon, without a body.
    pub async fn post(&self, path: &str) -> Resp {
        match request(&self.addr, "POST", path, &[], &[]).await {
            Ok(r) => r,
            Err(e) => panic!(
                "POST {path}: {e}\n--- daemon stderr\n{}",
                self.stderr_tail(60)
            ),
        }
    }

    /// `GET /api/v1/fleet`, parsed.
    pub async fn fleet(&self) -> FleetView {
        let r = self.get("/api/v1/fleet").await;
        assert_eq!(r.status, 200, "/api/v1/fleet: {}", r.text());
        FleetView(r.json())
    }

    /// Polls `/api/v1/fleet` every 200 ms until `done` holds; panics after
    /// `limit` with the last view and the daemon's log.
    pub async fn wait_fleet(
        &self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&FleetView) -> bool,
    ) -> FleetView {
        let started = Instant::now();
        loop {
            let view = self.fleet().await;
            if done(&view) {
                return view;
            }
            if started.elapsed() > limit {
                panic!(
                    "waited {limit:?} for: {what}\n--- last /api/v1/fleet\n{}\n--- daemon stderr\n{}",
                    serde_json::to_string_pretty(&view.0).unwrap(),
                    self.stderr_tail(80)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until every cluster is Synced on `revision`.
    pub async fn wait_converged(&self, revision: &str, limit: Duration) -> FleetView {
        self.wait_fleet(&format!("every cluster Synced on {revision}"), limit, |v| {
            v.all_synced_on(revision)
        })
        .await
    }

    /// Sends SIGTERM (with the `kill` command).
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits (bounded) for the process to exit; `None` on timeout.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(s) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return Some(s);
            }
            if started.elapsed() > limit {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Clears the `FLOTILLA_*`, `KUBECONFIG` and Git variables a child could
/// inherit, and gives it a private `HOME`.
fn clean_env(cmd: &mut Command, home: &Path) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("FLOTILLA_") || k.starts_with("GIT_") || k == "KUBECONFIG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("GIT_CONFIG_NOSYSTEM", "1");
}

/// The JSON of `/api/v1/fleet`.
#[derive(Clone, Debug)]
pub struct FleetView(pub Value);

impl FleetView {
    /// The row of cluster `name`; panics when absent.
    pub fn cluster(&self, name: &str) -> &Value {
        self.0["clusters"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == name))
            .unwrap_or_else(|| panic!("no cluster {name} in {}", self.0))
    }

    /// Every cluster row.
    pub fn clusters(&self) -> Vec<&Value> {
        self.0["clusters"]
            .as_array()
            .map(|c| c.iter().collect())
            .unwrap_or_default()
    }

    /// The row of cluster `name`, if listed (not before the first commit).
    pub fn row(&self, name: &str) -> Option<&Value> {
        self.0["clusters"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["name"] == name))
    }

    /// A cluster's `status` (`Synced`, `Pending`, ...); "" when not listed.
    pub fn status(&self, name: &str) -> &str {
        self.row(name)
            .and_then(|c| c["status"].as_str())
            .unwrap_or("")
    }

    /// A cluster's `revision`.
    pub fn revision(&self, name: &str) -> Option<&str> {
        self.row(name).and_then(|c| c["revision"].as_str())
    }

    /// A cluster's `health`; "" when not listed.
    pub fn health(&self, name: &str) -> &str {
        self.row(name)
            .and_then(|c| c["health"].as_str())
            .unwrap_or("")
    }

    /// A top-level string field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.0[name].as_str()
    }

    /// Whether there are clusters and every one is Synced on `revision`.
    pub fn all_synced_on(&self, revision: &str) -> bool {
        let cs = self.clusters();
        !cs.is_empty()
            && cs
                .iter()
                .all(|c| c["status"] == "Synced" && c["revision"] == revision)
    }
}

/// The common flags of the tests: short intervals.
pub fn base_args(repo: &FleetRepo, kubeconfig_dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--repo",
        &repo.url(),
        "--rev",
        "main",
        "--cache-dir",
        repo.cache.to_str().unwrap(),
        "--kubeconfig-dir",
        kubeconfig_dir.to_str().unwrap(),
        "--poll-interval",
        "1s",
        "--reconcile-interval",
        "2s",
        "--health-timeout",
        "5s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // `extra` pairs replace the defaults they name (clap takes a flag once).
    let mut i = 0;
    while i + 1 < extra.len() {
        if let Some(pos) = args.iter().position(|a| a == extra[i]) {
            args[pos + 1] = extra[i + 1].to_string();
        } else {
            args.push(extra[i].to_string());
            args.push(extra[i + 1].to_string());
        }
        i += 2;
    }
    args
}

// ----- Git --------------------------------------------------------------------

/// A bare repository (pushed to, read by the daemon over `file://`) and a
/// work clone to commit from.
pub struct FleetRepo {
    dir: tempfile::TempDir,
    /// The bare repository.
    pub bare: PathBuf,
    /// The work tree.
    pub work: PathBuf,
    /// A cache folder for the daemon (`--cache-dir`).
    pub cache: PathBuf,
    home: PathBuf,
}

impl FleetRepo {
    /// An empty bare repository and work tree (branch `main`).
    pub fn new() -> FleetRepo {
        let repo = FleetRepo::without_bare();
        repo.create_bare();
        repo
    }

    /// A work tree whose bare repository does not exist yet (see
    /// [`FleetRepo::create_bare`]).
    pub fn without_bare() -> FleetRepo {
        let dir = tempfile::Builder::new()
            .prefix("flotilla-fleet")
            .tempdir()
            .unwrap();
        let bare = dir.path().join("srv").join("fleet.git");
        let work = dir.path().join("work");
        let cache = dir.path().join("cache");
        let home = dir.path().join("home");
        for d in [&work, &cache, &home] {
            std::fs::create_dir_all(d).unwrap();
        }
        let repo = FleetRepo {
            dir,
            bare,
            work,
            cache,
            home,
        };
        repo.git(&repo.work, &["init", "-q"]);
        repo.git(
            &repo.work,
            &["remote", "add", "origin", repo.bare.to_str().unwrap()],
        );
        repo
    }

    /// Creates the bare repository.
    pub fn create_bare(&self) {
        std::fs::create_dir_all(self.bare.parent().unwrap()).unwrap();
        self.git(
            self.bare.parent().unwrap(),
            &["init", "-q", "--bare", "fleet.git"],
        );
    }

    /// `file://` URL of the bare repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// The folder holding everything.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `git` in `cwd` in isolation; returns stdout, trimmed.
    pub fn git(&self, cwd: &Path, args: &[&str]) -> String {
        let mut cmd = Command::new("git");
        cmd.current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LANG", "C")
            .env("GIT_AUTHOR_NAME", "Flotilla Test")
            .env("GIT_AUTHOR_EMAIL", "test@flotilla.invalid")
            .env("GIT_COMMITTER_NAME", "Flotilla Test")
            .env("GIT_COMMITTER_EMAIL", "test@flotilla.invalid")
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args);
        let out = cmd.output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes a file of the work tree.
    pub fn write(&self, rel: &str, text: &str) {
        let p = self.work.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Writes every `(path, text)` of `files`, removing the other files of
    /// `folder` first (so generated trees are replaced as a whole).
    pub fn replace_folder(&self, folder: &str, files: &[(String, String)]) {
        let dir = self.work.join(folder);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        for (rel, text) in files {
            self.write(&format!("{folder}/{rel}"), text);
        }
    }

    /// Commits everything and pushes to `main`; returns the commit id.
    pub fn commit_and_push(&self, message: &str) -> String {
        self.git(&self.work, &["add", "-A"]);
        self.git(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        self.git(
            &self.work,
            &["push", "-q", "origin", "HEAD:refs/heads/main"],
        );
        self.git(&self.work, &["rev-parse", "HEAD"])
    }
}

impl Default for FleetRepo {
    fn default() -> Self {
        Self::new()
    }
}

// ----- fleets and manifests -------------------------------------------------

/// How a generated fleet is laid out.
#[derive(Clone, Debug)]
pub struct FleetLayout {
    /// Clusters of the first wave (`canary`), by name.
    pub canary: Vec<String>,
    /// The other clusters (wave `rest`), by name.
    pub rest: Vec<String>,
    /// `spec.rollout.healthGate`.
    pub health_gate: bool,
}

impl FleetLayout {
    /// `canary` = `c1`, `rest` = `r1`, `r2`.
    pub fn three(health_gate: bool) -> FleetLayout {
        FleetLayout {
            canary: vec!["c1".into()],
            rest: vec!["r1".into(), "r2".into()],
            health_gate,
        }
    }

    /// Every cluster, canaries first.
    pub fn all(&self) -> Vec<String> {
        self.canary.iter().chain(&self.rest).cloned().collect()
    }

    /// fleet.yaml: clusters connected by
    /// `${FLOTILLA_KUBECONFIG_DIR}/<name>.yaml`, base `app` everywhere, two
    /// waves (`canary` by label, then `rest`) when there are canaries.
    pub fn fleet_yaml(&self) -> String {
        let mut t = format!(
            "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nmetadata: {{name: {FLEET}}}\nspec:\n  clusters:\n"
        );
        for (name, wave) in self
            .canary
            .iter()
            .map(|n| (n, "canary"))
            .chain(self.rest.iter().map(|n| (n, "rest")))
        {
            let _ = writeln!(
                t,
                "    - {{name: {name}, labels: {{wave: {wave}}}, connection: {{kubeconfig: \"${{FLOTILLA_KUBECONFIG_DIR}}/{name}.yaml\"}}}}"
            );
        }
        t.push_str("  bases:\n    - {name: app, path: bases/app}\n");
        t.push_str("  rollout:\n    waves:\n");
        if !self.canary.is_empty() {
            t.push_str("      - {name: canary, clusterSelector: {matchLabels: {wave: canary}}}\n");
        }
        t.push_str("      - {name: rest}\n");
        let _ = writeln!(t, "    healthGate: {}", self.health_gate);
        t.push_str("  prune: true\n");
        t
    }
}

/// What the generated application consists of.
#[derive(Clone, Debug)]
pub struct App {
    /// Replicas of every Deployment.
    pub replicas: u32,
    /// A value written into every ConfigMap (to make a commit change them).
    pub note: String,
    /// Extra ConfigMaps beyond `app-config`.
    pub extra_configmaps: usize,
    /// Services.
    pub services: usize,
    /// Deployments (`web`, `web-1`, ...); at least one.
    pub deployments: usize,
    /// Replicas of Deployment `web` alone, when set (so a commit can change
    /// one object per cluster).
    pub web_replicas: Option<u32>,
}

impl App {
    /// A namespace, a ConfigMap and one Deployment `web` with `replicas`.
    pub fn small(replicas: u32) -> App {
        App {
            replicas,
            note: "v1".into(),
            extra_configmaps: 0,
            services: 0,
            deployments: 1,
            web_replicas: None,
        }
    }

    /// How many objects it renders to.
    pub fn object_count(&self) -> usize {
        2 + self.extra_configmaps + self.services + self.deployments
    }

    /// The files of `bases/app`.
    pub fn files(&self) -> Vec<(String, String)> {
        let mut files = vec![
            (
                "namespace.yaml".to_string(),
                format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {APP_NS}\n"),
            ),
            (
                "configmap.yaml".to_string(),
                configmap("app-config", &self.note),
            ),
        ];
        for i in 0..self.extra_configmaps {
            files.push((
                format!("configmaps/cm-{i:04}.yaml"),
                configmap(&format!("cm-{i:04}"), &self.note),
            ));
        }
        for i in 0..self.services {
            files.push((
                format!("services/svc-{i:04}.yaml"),
                format!(
                    "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i:04}\n  namespace: {APP_NS}\nspec:\n  selector: {{app: web}}\n  ports:\n    - {{name: http, port: 80, targetPort: 8080}}\n"
                ),
            ));
        }
        for i in 0..self.deployments.max(1) {
            let name = if i == 0 {
                "web".to_string()
            } else {
                format!("web-{i:04}")
            };
            files.push((
                format!("deployments/{name}.yaml"),
                deployment(
                    &name,
                    match self.web_replicas {
                        Some(r) if i == 0 => r,
                        _ => self.replicas,
                    },
                ),
            ));
        }
        files
    }
}

fn configmap(name: &str, note: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {APP_NS}\ndata:\n  note: \"{note}\"\n  cluster: \"${{cluster.name}}\"\n"
    )
}

fn deployment(name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {APP_NS}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0
          ports:
            - {{containerPort: 8080}}
"
    )
}

/// Writes fleet.yaml and `bases/app` into `repo`'s work tree.
pub fn write_fleet(repo: &FleetRepo, layout: &FleetLayout, app: &App) {
    repo.write("fleet.yaml", &layout.fleet_yaml());
    repo.replace_folder("bases/app", &app.files());
}

// ----- clusters -----------------------------------------------------------------

/// Test API servers by cluster name, with their kubeconfigs in one folder.
pub struct Clusters {
    /// The servers, by cluster name.
    pub servers: BTreeMap<String, Arc<TestApiServer>>,
    dir: tempfile::TempDir,
}

impl Clusters {
    /// Starts one server per name and writes `<dir>/<name>.yaml`.
    pub async fn start(names: &[String]) -> Clusters {
        let dir = tempfile::Builder::new()
            .prefix("flotilla-kubeconfigs")
            .tempdir()
            .unwrap();
        let mut servers = BTreeMap::new();
        for n in names {
            let s = TestApiServer::start().await;
            std::fs::write(dir.path().join(format!("{n}.yaml")), s.kubeconfig_yaml()).unwrap();
            servers.insert(n.clone(), Arc::new(s));
        }
        Clusters { servers, dir }
    }

    /// The kubeconfig folder (`--kubeconfig-dir`).
    pub fn kubeconfig_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server of cluster `name`.
    pub fn server(&self, name: &str) -> &Arc<TestApiServer> {
        self.servers
            .get(name)
            .unwrap_or_else(|| panic!("no server {name}"))
    }

    /// Replicas of Deployment `name` in the app namespace on `cluster`.
    pub fn replicas(&self, cluster: &str, name: &str) -> Option<i64> {
        self.server(cluster)
            .get("apps", "v1", "deployments", Some(APP_NS), name)
            .and_then(|d| d["spec"]["replicas"].as_i64())
    }
}

/// A merge patch of `spec.replicas` as `kubectl edit`/`kubectl scale` would
/// send it (field manager `kubectl-edit`, an `Update`).
pub async fn hand_edit_replicas(clusters: &Clusters, cluster: &str, replicas: i64) {
    let server = clusters.server(cluster);
    let body = serde_json::json!({"spec": {"replicas": replicas}}).to_string();
    let r = request(
        &server.addr().to_string(),
        "PATCH",
        &format!("/apis/apps/v1/namespaces/{APP_NS}/deployments/web?fieldManager=kubectl-edit"),
        &[("Content-Type", "application/merge-patch+json")],
        body.as_bytes(),
    )
    .await
    .expect("PATCH the Deployment");
    assert_eq!(r.status, 200, "hand edit: {}", r.text());
    assert_eq!(clusters.replicas(cluster, "web"), Some(replicas));
}

/// Writes (POST/PUT/PATCH/DELETE, not dry runs) in a server's request log.
pub fn writes(server: &TestApiServer) -> Vec<String> {
    server
        .request_log()
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") && !r.dry_run)
        .map(|r| format!("{} {}?{}", r.method, r.path, r.query))
        .collect()
}

/// The inventory of fleet [`FLEET`]'s cluster `name` on a server, parsed,
/// if present.
pub fn inventory(server: &TestApiServer, name: &str) -> Option<Value> {
    let cm = server.get(
        "",
        "v1",
        "configmaps",
        Some("flotilla-system"),
        &format!("flotilla-inventory-{FLEET}.{name}"),
    )?;
    let text = cm["data"]["inventory.json"].as_str()?;
    Some(serde_json::from_str(text).expect("the inventory is JSON"))
}

// ----- the rollout controller ---------------------------------------------------

/// Marks every Deployment that appears (or changes) on the watched servers
/// rolled out, as the deployment controller of a real cluster would, every
/// 50 ms, until dropped (and at most `limit`). Per server it can be paused
/// or delayed; it records when it first saw each `(cluster, spec.replicas)`.
pub struct RolloutController {
    stop: Arc<AtomicBool>,
    paused: Arc<Mutex<HashSet<String>>>,
    first_seen: Arc<Mutex<HashMap<(String, i64), Instant>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RolloutController {
    /// Starts marking on `servers`; `delays` holds per-cluster delays
    /// between seeing a new generation and marking it.
    pub fn start(
        servers: &BTreeMap<String, Arc<TestApiServer>>,
        delays: HashMap<String, Duration>,
        limit: Duration,
    ) -> RolloutController {
        let stop = Arc::new(AtomicBool::new(false));
        let paused: Arc<Mutex<HashSet<String>>> = Arc::default();
        let first_seen: Arc<Mutex<HashMap<(String, i64), Instant>>> = Arc::default();
        let servers = servers.clone();
        let task = tokio::spawn({
            let (stop, paused, first_seen) = (stop.clone(), paused.clone(), first_seen.clone());
            async move {
                let started = Instant::now();
                // (cluster, ns, name, generation) -> when first seen unmarked.
                let mut pending: HashMap<(String, String, String, i64), Instant> = HashMap::new();
                while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
                    for (cluster, server) in &servers {
                        for d in server.list("apps", "v1", "deployments", None) {
                            let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
                            first_seen
                                .lock()
                                .unwrap()
                                .entry((cluster.clone(), replicas))
                                .or_insert_with(Instant::now);
                            if paused.lock().unwrap().contains(cluster) {
                                continue;
                            }
                            let generation = d["metadata"]["generation"].as_i64().unwrap_or(0);
                            let observed = d["status"]["observedGeneration"].as_i64().unwrap_or(-1);
                            let updated = d["status"]["updatedReplicas"].as_i64().unwrap_or(-1);
                            if observed == generation && updated == replicas {
                                continue;
                            }
                            let ns = d["metadata"]["namespace"]
                                .as_str()
                                .unwrap_or("")
                                .to_string();
                            let name = d["metadata"]["name"].as_str().unwrap_or("").to_string();
                            let since = *pending
                                .entry((cluster.clone(), ns.clone(), name.clone(), generation))
                                .or_insert_with(Instant::now);
                            let delay = delays.get(cluster).copied().unwrap_or_default();
                            if since.elapsed() >= delay {
                                let _ =
                                    server.mark_rolled_out("apps", "deployments", Some(&ns), &name);
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        });
        RolloutController {
            stop,
            paused,
            first_seen,
            task: Some(task),
        }
    }

    /// Stops (or resumes) marking on `cluster`.
    pub fn pause(&self, cluster: &str, paused: bool) {
        let mut p = self.paused.lock().unwrap();
        if paused {
            p.insert(cluster.to_string());
        } else {
            p.remove(cluster);
        }
    }

    /// When a Deployment with `replicas` was first seen on `cluster`.
    pub fn first_seen(&self, cluster: &str, replicas: i64) -> Option<Instant> {
        self.first_seen
            .lock()
            .unwrap()
            .get(&(cluster.to_string(), replicas))
            .copied()
    }
}

impl Drop for RolloutController {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

// ----- /proc ----------------------------------------------------------------------

/// utime + stime of a process, in clock ticks (`/proc/<pid>/stat`).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: split after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `/proc/<pid>/status` field in kB (`VmRSS`, `VmHWM`).
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 when unknown).
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

/// Runs `flotilla <args>` (blocking-free, bounded by `limit`) with
/// `FLOTILLA_KUBECONFIG_DIR` set; returns (exit code, stdout, stderr).
pub async fn run_flotilla(
    args: &[&str],
    kubeconfig_dir: &Path,
    limit: Duration,
) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut cmd = Command::new(FLOTILLA);
    cmd.args(args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    clean_env(&mut cmd, &home);
    cmd.env("FLOTILLA_KUBECONFIG_DIR", kubeconfig_dir);
    let mut child = cmd.spawn().expect("flotilla starts");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "flotilla {args:?} did not finish within {limit:?}:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(&out).unwrap_or_default(),
        std::fs::read_to_string(&err).unwrap_or_default(),
    )
}
