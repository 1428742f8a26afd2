//! Support for the `sync` end-to-end tests: kubeconfigs pointing at test API
//! servers, small fleets, and reading `flotilla sync`'s per-cluster summary
//! lines. Running the binary and writing files are the shared helpers of
//! `tests/support` (re-exported here); a test binary that includes this
//! module includes `support` too.
//!
//! The scenarios in `tests/sync.rs` reach clusters only through the
//! [`Cluster`] trait (plus a `TestApiServer` where they inject faults), so
//! they can be pointed at real clusters by implementing it for a kube client.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kube_testserver::{Counters, ResourceKind, TestApiServer};
use serde_json::Value;

// The shared helpers these tests reach through `sync_support::*`; each test
// binary uses a different part.
#[allow(unused_imports)]
pub use crate::support::files::{EXAMPLE, copy_dir, read, write};
#[allow(unused_imports)]
pub use crate::support::objects::plural;
#[allow(unused_imports)]
pub use crate::support::run::{
    RUN_LIMIT, Run, assert_exit, flotilla, flotilla_with_env, flotilla_within,
};

/// The label every object Flotilla applies carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "flotilla");

/// What the scenarios need from a cluster.
pub trait Cluster {
    /// A kubeconfig (YAML) whose current context reaches the cluster.
    fn kubeconfig_yaml(&self) -> String;
    /// An object as stored, `None` when absent. `api_version` is
    /// `group/version` (or `v1`), `plural` the resource name.
    fn object(
        &self,
        api_version: &str,
        plural: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value>;
    /// Stores an object directly (as another tool would have).
    fn put(&self, object: Value);
    /// Request counters since the last reset.
    fn counters(&self) -> Counters;
    /// Zeroes the request counters.
    fn reset_counters(&self);
    /// Makes the Gateway API kinds available, as a cluster with the Gateway
    /// API installed has them.
    fn install_gateway_api(&self);
}

fn split(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

impl Cluster for TestApiServer {
    fn kubeconfig_yaml(&self) -> String {
        TestApiServer::kubeconfig_yaml(self)
    }
    fn object(
        &self,
        api_version: &str,
        plural: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let (group, version) = split(api_version);
        self.get(group, version, plural, ns, name)
    }
    fn put(&self, object: Value) {
        self.insert(object)
            .expect("the test server stores the object");
    }
    fn counters(&self) -> Counters {
        TestApiServer::counters(self)
    }
    fn reset_counters(&self) {
        TestApiServer::reset_counters(self)
    }
    fn install_gateway_api(&self) {
        for (kind, plural, namespaced) in [
            ("GatewayClass", "gatewayclasses", false),
            ("Gateway", "gateways", true),
            ("HTTPRoute", "httproutes", true),
        ] {
            let mut k =
                ResourceKind::new("gateway.networking.k8s.io", "v1", kind, plural, namespaced);
            k.status_subresource = true;
            self.register_kind(k);
        }
    }
}

/// Starts `n` test API servers.
pub async fn start_servers(n: usize) -> Vec<TestApiServer> {
    let mut servers = Vec::with_capacity(n);
    for _ in 0..n {
        servers.push(TestApiServer::start().await);
    }
    servers
}

/// Writes `<dir>/<name>.kubeconfig` for `cluster`; returns its path.
pub fn write_kubeconfig(dir: &Path, name: &str, cluster: &impl Cluster) -> PathBuf {
    let path = dir.join(format!("{name}.kubeconfig"));
    std::fs::write(&path, cluster.kubeconfig_yaml()).unwrap();
    path
}

/// A copy of the example fleet in `dir/repo` whose clusters connect through
/// `dir/<cluster>.kubeconfig` (written for `clusters`, in fleet order)
/// instead of folders. Returns the repository folder and the cluster names.
pub fn example_fleet(dir: &Path, clusters: &[impl Cluster]) -> (PathBuf, Vec<String>) {
    let repo = dir.join("repo");
    copy_dir(Path::new(EXAMPLE), &repo);
    let fleet = read(&repo, "fleet.yaml");
    let mut names = Vec::new();
    let mut out = String::new();
    for line in fleet.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("- name: ")
            && out.contains("clusters:")
            && !out.contains("bases:")
        {
            names.push(name.trim().to_string());
        }
        if let Some(pos) = line.find("connection: {directory:") {
            let name = names.last().expect("a connection follows a cluster name");
            let cluster = clusters
                .get(names.len() - 1)
                .expect("one server per example cluster");
            let path = write_kubeconfig(dir, name, cluster);
            out.push_str(&line[..pos]);
            out.push_str(&format!("connection: {{kubeconfig: {}}}\n", path.display()));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert_eq!(
        names.len(),
        clusters.len(),
        "one server per cluster of the example fleet: {names:?}"
    );
    std::fs::write(repo.join("fleet.yaml"), out).unwrap();
    (repo, names)
}

/// `fleet.yaml` without the base `name` (its list item and everything
/// indented under it).
pub fn remove_base(fleet_yaml: &str, name: &str) -> String {
    let lines: Vec<&str> = fleet_yaml.lines().collect();
    let start = lines
        .iter()
        .position(|l| {
            let l = l.trim();
            l == format!("- name: {name}") || l.starts_with(&format!("- {{name: {name},"))
        })
        .unwrap_or_else(|| panic!("base {name} in fleet.yaml"));
    let indent = lines[start].len() - lines[start].trim_start().len();
    let mut end = start + 1;
    while end < lines.len() {
        let l = lines[end];
        let i = l.len() - l.trim_start().len();
        if !l.trim().is_empty() && i <= indent {
            break;
        }
        end += 1;
    }
    let mut out: Vec<&str> = lines[..start].to_vec();
    out.extend_from_slice(&lines[end..]);
    out.join("\n") + "\n"
}

/// Reading `flotilla sync`'s text output.
impl Run {
    /// The summary line of `cluster`, parsed; panics when absent.
    pub fn cluster(&self, cluster: &str) -> Summary {
        let prefix = format!("{cluster}: ");
        let line = self
            .stdout
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no summary line for {cluster} in:\n{self}"));
        Summary::parse(line).unwrap_or_else(|| panic!("unparsable summary line {line:?}"))
    }

    /// The indented detail lines (failed or skipped objects) after the
    /// summary line of `cluster`.
    pub fn details(&self, cluster: &str) -> Vec<&str> {
        let prefix = format!("{cluster}: ");
        self.stdout
            .lines()
            .skip_while(|l| !l.starts_with(&prefix))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .collect()
    }
}

/// One cluster's summary line:
/// `name: N created, N configured, N unchanged, N pruned, N failed[, N skipped][ (dry run)][; error: ..]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub created: usize,
    pub configured: usize,
    pub unchanged: usize,
    pub pruned: usize,
    pub failed: usize,
    pub skipped: usize,
    pub dry_run: bool,
    pub error: Option<String>,
}

impl Summary {
    /// Parses a summary line.
    pub fn parse(line: &str) -> Option<Summary> {
        let (_, rest) = line.split_once(": ")?;
        let (counts, error) = match rest.split_once("; error: ") {
            Some((c, e)) => (c, Some(e.to_string())),
            None => (rest, None),
        };
        let (counts, dry_run) = match counts.strip_suffix(" (dry run)") {
            Some(c) => (c, true),
            None => (counts, false),
        };
        let mut s = Summary {
            dry_run,
            error,
            ..Summary::default()
        };
        for part in counts.split(", ") {
            let (n, what) = part.split_once(' ')?;
            let n: usize = n.parse().ok()?;
            match what {
                "created" => s.created = n,
                "configured" => s.configured = n,
                "unchanged" => s.unchanged = n,
                "pruned" => s.pruned = n,
                "failed" => s.failed = n,
                "skipped" => s.skipped = n,
                _ => return None,
            }
        }
        Some(s)
    }

    /// Objects in the summary that were written (or would be).
    pub fn written(&self) -> usize {
        self.created + self.configured + self.pruned
    }
}

/// `flotilla sync --repo <repo> <extra>` run from `repo`'s parent.
pub async fn sync(repo: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["sync", "--repo", repo.to_str().unwrap()];
    args.extend_from_slice(extra);
    flotilla(repo.parent().unwrap(), &args).await
}

/// The desired state of every cluster of the fleet in `repo`, by name, as
/// the library renders it (the reference for spot checks).
pub fn render(repo: &Path) -> Vec<flotilla_core::render::DesiredState> {
    let snapshot =
        flotilla_source::snapshot(flotilla_source::SourceSpec::new(repo.to_str().unwrap()))
            .expect("the fleet repository reads");
    let fleet = flotilla_core::load::load(&snapshot).expect("the fleet loads");
    flotilla_core::render::render_fleet(&fleet)
        .into_iter()
        .map(|(c, r)| r.unwrap_or_else(|e| panic!("{} renders: {e}", c.name)))
        .collect()
}

/// Distinct `(apiVersion, kind)` pairs of a desired state.
pub fn kinds(state: &flotilla_core::render::DesiredState) -> Vec<(String, String)> {
    let mut kinds: Vec<(String, String)> = state
        .objects
        .iter()
        .map(|o| {
            (
                o.object["apiVersion"].as_str().unwrap_or("").to_string(),
                o.key.kind.clone(),
            )
        })
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// The live copy of a desired object, if the cluster has it.
pub fn live_copy(
    cluster: &impl Cluster,
    object: &flotilla_core::render::DesiredObject,
) -> Option<Value> {
    let ns = Some(object.key.namespace.as_str()).filter(|n| !n.is_empty());
    cluster.object(
        object.object["apiVersion"].as_str().unwrap_or(""),
        &plural(&object.key.kind),
        ns,
        &object.key.name,
    )
}

/// The inventory a fleet keeps for its cluster `name` on a cluster, parsed,
/// if present.
pub fn inventory(cluster: &impl Cluster, fleet: &str, name: &str) -> Option<Value> {
    let cm = cluster.object(
        "v1",
        "configmaps",
        Some("flotilla-system"),
        &format!("flotilla-inventory-{fleet}.{name}"),
    )?;
    let text = cm["data"]["inventory.json"].as_str()?;
    Some(serde_json::from_str(text).expect("the inventory is JSON"))
}

/// Writes `repo/fleet.yaml` for a fleet named `demo` whose clusters connect
/// through kubeconfigs written next to the repository, with one base per
/// name in `bases` (at `bases/<name>`, placed everywhere) and no rollout
/// (one wave). Returns the repository folder.
pub fn small_fleet(
    dir: &Path,
    clusters: &[(&str, &dyn KubeconfigSource)],
    bases: &[&str],
) -> PathBuf {
    let repo = dir.join("repo");
    let mut text = String::from(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nmetadata: {name: demo}\nspec:\n  clusters:\n",
    );
    for (name, cluster) in clusters {
        let path = dir.join(format!("{name}.kubeconfig"));
        std::fs::write(&path, cluster.kubeconfig()).unwrap();
        text.push_str(&format!(
            "    - {{name: {name}, labels: {{env: test}}, connection: {{kubeconfig: {}}}}}\n",
            path.display()
        ));
    }
    text.push_str("  bases:\n");
    for b in bases {
        text.push_str(&format!("    - {{name: {b}, path: bases/{b}}}\n"));
    }
    write(&repo, "fleet.yaml", &text);
    repo
}

/// Object-safe access to a cluster's kubeconfig, for [`small_fleet`].
pub trait KubeconfigSource {
    /// The kubeconfig YAML.
    fn kubeconfig(&self) -> String;
}

impl<T: Cluster> KubeconfigSource for T {
    fn kubeconfig(&self) -> String {
        self.kubeconfig_yaml()
    }
}
