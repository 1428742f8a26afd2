//! Support for the pull-mode tests (tests/agent.rs) and their benchmark:
//! `flotilla agent` as a child process (killed on drop), a token folder,
//! fleets with agent clusters, and a TCP relay between agents and the hub
//! on 127.0.0.1 that can cut every connection (a network drop) and be
//! pointed at a restarted hub. Builds on `daemon_support` (include it and
//! `support` too). Every wait is bounded.

#![allow(dead_code)] // the tests and the bench use different parts

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::daemon_support::{Clusters, FLEET, FLOTILLA};

/// A token folder (`serve --agent-token-dir`): `<dir>/<cluster>`.
pub struct Tokens {
    dir: tempfile::TempDir,
}

impl Tokens {
    /// One token per cluster: `token-of-<cluster>-<random>`.
    pub fn new(clusters: &[String]) -> Tokens {
        let dir = tempfile::Builder::new()
            .prefix("flotilla-agent-tokens")
            .tempdir()
            .unwrap();
        for c in clusters {
            let token = format!("token-of-{c}-{}", std::process::id());
            std::fs::write(dir.path().join(c), format!("{token}\n")).unwrap();
        }
        Tokens { dir }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The token file of `cluster`.
    pub fn file(&self, cluster: &str) -> PathBuf {
        self.dir.path().join(cluster)
    }

    /// The token of `cluster`.
    pub fn token(&self, cluster: &str) -> String {
        std::fs::read_to_string(self.file(cluster))
            .unwrap()
            .trim()
            .to_string()
    }
}

/// fleet.yaml: `agents` in pull mode, `push` through
/// `${FLOTILLA_KUBECONFIG_DIR}/<name>.yaml`; wave `canary` (clusters labelled
/// so) first when any, then `rest`; base `app` everywhere.
pub fn fleet_yaml(canary: &[&str], rest: &[&str], agents: &[&str], health_gate: bool) -> String {
    let mut t = format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nmetadata: {{name: {FLEET}}}\nspec:\n  clusters:\n"
    );
    for (name, wave) in canary
        .iter()
        .map(|n| (n, "canary"))
        .chain(rest.iter().map(|n| (n, "rest")))
    {
        let connection = if agents.contains(name) {
            "{mode: agent}".to_string()
        } else {
            format!("{{kubeconfig: \"${{FLOTILLA_KUBECONFIG_DIR}}/{name}.yaml\"}}")
        };
        let _ = writeln!(
            t,
            "    - {{name: {name}, labels: {{wave: {wave}}}, connection: {connection}}}"
        );
    }
    t.push_str("  bases:\n    - {name: app, path: bases/app}\n  rollout:\n    waves:\n");
    if !canary.is_empty() {
        t.push_str("      - {name: canary, clusterSelector: {matchLabels: {wave: canary}}}\n");
    }
    t.push_str("      - {name: rest}\n");
    let _ = writeln!(t, "    healthGate: {health_gate}");
    t.push_str("  prune: true\n");
    t
}

/// A running `flotilla agent`, killed (SIGKILL) when dropped.
pub struct Agent {
    child: Option<Child>,
    stderr_path: PathBuf,
    /// Its state folder (kept across restarts of the same agent).
    pub state_dir: PathBuf,
    _dir: Arc<tempfile::TempDir>,
}

impl Agent {
    /// Starts `flotilla agent` for `cluster` against `hub` (`host:port`),
    /// with `token_file`, the cluster's kubeconfig from `clusters`, a state
    /// folder and a 1 s backoff cap.
    pub fn start(hub: &str, cluster: &str, token_file: &Path, clusters: &Clusters) -> Agent {
        let dir = Arc::new(
            tempfile::Builder::new()
                .prefix("flotilla-agent")
                .tempdir()
                .unwrap(),
        );
        Agent::start_in(dir, hub, cluster, token_file, clusters)
    }

    fn start_in(
        dir: Arc<tempfile::TempDir>,
        hub: &str,
        cluster: &str,
        token_file: &Path,
        clusters: &Clusters,
    ) -> Agent {
        let n = std::fs::read_dir(dir.path()).map_or(0, |d| d.count());
        let stderr_path = dir.path().join(format!("stderr-{n}"));
        let state_dir = dir.path().join("state");
        let kubeconfig = clusters.kubeconfig_dir().join(format!("{cluster}.yaml"));
        let mut cmd = Command::new(FLOTILLA);
        cmd.arg("agent")
            .args(["--hub", &format!("http://{hub}")])
            .args(["--cluster", cluster])
            .arg("--token-file")
            .arg(token_file)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--state-dir")
            .arg(&state_dir)
            .args(["--max-backoff", "1s"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_path).unwrap());
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("FLOTILLA_") || k == "KUBECONFIG" {
                cmd.env_remove(k);
            }
        }
        cmd.env("HOME", dir.path()).env(
            "FLOTILLA_LOG",
            std::env::var("FLOTILLA_TEST_AGENT_LOG")
                .unwrap_or_else(|_| "flotilla=info,flotilla_agent=info".into()),
        );
        let child = cmd.spawn().expect("flotilla agent starts");
        Agent {
            child: Some(child),
            stderr_path,
            state_dir,
            _dir: dir,
        }
    }

    /// Kills this agent and starts it again with the same state folder.
    pub fn restart(
        mut self,
        hub: &str,
        cluster: &str,
        token_file: &Path,
        clusters: &Clusters,
    ) -> Agent {
        self.kill();
        Agent::start_in(self._dir.clone(), hub, cluster, token_file, clusters)
    }

    /// SIGKILL, and wait for the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Everything it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- agent stderr\n{}", self.stderr());
        }
    }
}

/// A TCP relay on 127.0.0.1: every connection accepted is relayed to the
/// current target; [`Relay::cut`] closes every open connection at once (a
/// network drop), [`Relay::set_target`] points new connections elsewhere.
pub struct Relay {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    target: Arc<Mutex<String>>,
    open: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// A relay to `target` (`host:port`).
    pub async fn start(target: &str) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let target = Arc::new(Mutex::new(target.to_string()));
        let open: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (target, open) = (target.clone(), open.clone());
            async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    let to = target.lock().unwrap().clone();
                    let task = tokio::spawn(async move {
                        let Ok(Ok(mut outbound)) = tokio::time::timeout(
                            Duration::from_secs(5),
                            tokio::net::TcpStream::connect(to),
                        )
                        .await
                        else {
                            return;
                        };
                        let _ = tokio::time::timeout(
                            Duration::from_secs(300),
                            tokio::io::copy_bidirectional(&mut inbound, &mut outbound),
                        )
                        .await;
                    });
                    let mut open = open.lock().unwrap();
                    open.retain(|t| !t.is_finished());
                    open.push(task);
                }
            }
        });
        Relay {
            addr,
            target,
            open,
            accept,
        }
    }

    /// Closes every open connection; returns how many there were.
    pub fn cut(&self) -> usize {
        let mut open = self.open.lock().unwrap();
        let n = open.iter().filter(|t| !t.is_finished()).count();
        for t in open.drain(..) {
            t.abort();
        }
        n
    }

    /// Relays new connections to `target`.
    pub fn set_target(&self, target: &str) {
        *self.target.lock().unwrap() = target.to_string();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}
