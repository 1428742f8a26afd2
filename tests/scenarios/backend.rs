//! Where the scenarios run: fresh test API servers (the default, and CI), or
//! a real cluster named by `FLOTILLA_TEST_KUBECONFIG` (and optionally
//! `FLOTILLA_TEST_CONTEXTS=a,b`).
//!
//! Each scenario gets an [`Env`]: a unique prefix (`ft-<run>-<nn>`) that
//! names its fleet and every namespace and CRD group it creates, a
//! temporary folder for its fleet repository, and two member clusters,
//! `alpha` and `beta`. With two contexts they are two clusters; with one
//! context they are the same cluster split by namespace prefix
//! (`<prefix>-alpha-…`, `<prefix>-beta-…`). Afterwards [`Env::cleanup`]
//! deletes what the scenario created, and [`Backend::finish`] checks that
//! the cluster is left as it was found.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::ApiResource;
use kube_testserver::{Counters, TestApiServer};
use serde_json::{Value, json};

use crate::support::files::write;
use crate::support::run::{Run, flotilla};

/// The namespace of Flotilla's inventories.
const INVENTORY_NAMESPACE: &str = "flotilla-system";

/// How long cleanup waits for a real cluster to finish deleting namespaces.
const CLEANUP_LIMIT: Duration = Duration::from_secs(180);

/// How a member cluster is reached.
#[derive(Clone, Debug)]
pub struct Connection {
    /// The kubeconfig file.
    pub kubeconfig: PathBuf,
    /// The context in it; the current context when `None`.
    pub context: Option<String>,
}

/// Where the suite runs.
pub enum Backend {
    /// Fresh test API servers for every scenario.
    TestServer,
    /// A long-lived cluster (one context, split by namespace, or two): a
    /// real one, or one test API server shared by every scenario.
    Real {
        /// What it is, for the report.
        label: String,
        /// The user's kubeconfig.
        kubeconfig: PathBuf,
        /// One or two contexts; `[None]` for the current context.
        contexts: Vec<Option<String>>,
        /// Whether `flotilla-system` existed before the suite.
        had_inventory_namespace: std::sync::Mutex<Option<bool>>,
    },
}

impl Backend {
    /// The backend the environment asks for.
    pub fn from_env() -> Backend {
        match std::env::var_os("FLOTILLA_TEST_KUBECONFIG") {
            None => Backend::TestServer,
            Some(path) => {
                let path = expand_home(&PathBuf::from(path));
                let contexts: Vec<Option<String>> = std::env::var("FLOTILLA_TEST_CONTEXTS")
                    .ok()
                    .map(|s| {
                        s.split(',')
                            .map(str::trim)
                            .filter(|c| !c.is_empty())
                            .map(|c| Some(c.to_string()))
                            .collect()
                    })
                    .filter(|v: &Vec<_>| !v.is_empty())
                    .unwrap_or_else(|| vec![None]);
                assert!(
                    contexts.len() <= 2,
                    "FLOTILLA_TEST_CONTEXTS names at most two contexts"
                );
                Backend::Real {
                    label: "real cluster".into(),
                    kubeconfig: path,
                    contexts,
                    had_inventory_namespace: std::sync::Mutex::new(None),
                }
            }
        }
    }

    /// Long-lived test API servers that every scenario shares, reached
    /// through the same code as a real cluster (namespace split, cleanup,
    /// the check that it is left as found): `kubeconfig` is a kubeconfig
    /// file, `contexts` the contexts to use (`[None]`: its current one).
    pub fn shared_test_servers(
        label: &str,
        kubeconfig: PathBuf,
        contexts: Vec<Option<String>>,
    ) -> Backend {
        Backend::Real {
            label: label.into(),
            kubeconfig,
            contexts,
            had_inventory_namespace: std::sync::Mutex::new(None),
        }
    }

    /// One line for the report's header.
    pub fn describe(&self) -> String {
        match self {
            Backend::TestServer => "test API server (kube-testserver, fresh per scenario)".into(),
            Backend::Real {
                label,
                kubeconfig,
                contexts,
                ..
            } => {
                let names: Vec<String> = contexts
                    .iter()
                    .map(|c| c.clone().unwrap_or_else(|| "(current context)".into()))
                    .collect();
                let split = if contexts.len() == 1 {
                    ", two members split by namespace prefix"
                } else {
                    ""
                };
                format!(
                    "{label} via {} context {}{split}",
                    kubeconfig.display(),
                    names.join(" and ")
                )
            }
        }
    }

    /// Whether this is a long-lived cluster that must be left as found.
    pub fn is_shared(&self) -> bool {
        matches!(self, Backend::Real { .. })
    }

    /// Checks the cluster is reachable and notes what it holds before the
    /// suite; returns the server version for the report.
    pub async fn start(&self) -> Result<String, String> {
        match self {
            Backend::TestServer => Ok("kube-testserver".into()),
            Backend::Real {
                kubeconfig,
                contexts,
                had_inventory_namespace,
                ..
            } => {
                let mut versions = Vec::new();
                let mut had = false;
                for context in contexts {
                    let connection = Connection {
                        kubeconfig: kubeconfig.clone(),
                        context: context.clone(),
                    };
                    let client = client(&connection).await?;
                    let v = client
                        .apiserver_version()
                        .await
                        .map_err(|e| format!("{}: {e}", connection.describe()))?;
                    versions.push(v.git_version);
                    had |= exists(&client, "v1", "Namespace", None, INVENTORY_NAMESPACE).await;
                }
                *had_inventory_namespace.lock().unwrap() = Some(had);
                Ok(versions.join(", "))
            }
        }
    }

    /// A fresh environment for scenario number `index` of run `run`.
    pub async fn env(&self, run: &str, index: usize) -> Env {
        let prefix = format!("ft-{run}-{index:02}");
        let dir = tempfile::tempdir().expect("a temporary folder");
        let mut members = Vec::new();
        for (i, name) in ["alpha", "beta"].into_iter().enumerate() {
            let (connection, server) = match self {
                Backend::TestServer => {
                    let server = TestApiServer::start().await;
                    // A real server takes a moment to establish a CRD.
                    server.set_crd_establish_delay(Duration::from_millis(300));
                    let path = dir.path().join(format!("{name}.kubeconfig"));
                    std::fs::write(&path, server.kubeconfig_yaml()).unwrap();
                    (
                        Connection {
                            kubeconfig: path,
                            context: None,
                        },
                        Some(Arc::new(server)),
                    )
                }
                Backend::Real {
                    kubeconfig,
                    contexts,
                    ..
                } => (
                    Connection {
                        kubeconfig: kubeconfig.clone(),
                        context: contexts[i.min(contexts.len() - 1)].clone(),
                    },
                    None,
                ),
            };
            let client = client(&connection)
                .await
                .unwrap_or_else(|e| panic!("a client for {name}: {e}"));
            members.push(Member {
                name,
                namespace_prefix: format!("{prefix}-{name}"),
                connection,
                client,
                server,
            });
        }
        Env {
            prefix,
            dir,
            members,
        }
    }

    /// After the suite: removes the inventory namespace if the suite made
    /// it, and lists what run `run` left behind on the cluster (empty when
    /// the cluster is as it was found).
    pub async fn finish(&self, run: &str) -> Vec<String> {
        let Backend::Real {
            kubeconfig,
            contexts,
            had_inventory_namespace,
            ..
        } = self
        else {
            return Vec::new();
        };
        let had = had_inventory_namespace.lock().unwrap().unwrap_or(true);
        let mut left = Vec::new();
        for context in contexts {
            let connection = Connection {
                kubeconfig: kubeconfig.clone(),
                context: context.clone(),
            };
            let Ok(client) = client(&connection).await else {
                left.push(format!("{}: unreachable", connection.describe()));
                continue;
            };
            if !had {
                delete(&client, "v1", "Namespace", None, INVENTORY_NAMESPACE).await;
            }
            let prefix = format!("ft-{run}-");
            let deadline = Instant::now() + CLEANUP_LIMIT;
            loop {
                let mut now = leftovers(&client, &prefix).await;
                if !had && exists(&client, "v1", "Namespace", None, INVENTORY_NAMESPACE).await {
                    now.push(format!("Namespace {INVENTORY_NAMESPACE}"));
                }
                for cm in names(&client, "v1", "ConfigMap", Some(INVENTORY_NAMESPACE)).await {
                    if cm.starts_with(&format!("flotilla-inventory-{prefix}"))
                        || cm.starts_with(&format!("flotilla-prune-window-{prefix}"))
                    {
                        now.push(format!("ConfigMap {INVENTORY_NAMESPACE}/{cm}"));
                    }
                }
                if now.is_empty() || Instant::now() > deadline {
                    left.extend(
                        now.into_iter()
                            .map(|l| format!("{}: {l}", connection.describe())),
                    );
                    break;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
        left
    }
}

/// One member cluster of a scenario's fleet.
pub struct Member {
    /// Its name in fleet.yaml.
    pub name: &'static str,
    /// Prefix of the namespaces it owns: `<scenario prefix>-<name>`.
    pub namespace_prefix: String,
    /// How it is reached.
    pub connection: Connection,
    /// A client, for what the scenarios check and change by hand.
    pub client: kube::Client,
    /// The test API server behind it, if that is the backend.
    pub server: Option<Arc<TestApiServer>>,
}

impl Member {
    /// The namespace `base` of this member (`<prefix>-<member>-<base>`),
    /// which is what `${prefix}-${cluster.name}-<base>` renders to.
    pub fn ns(&self, base: &str) -> String {
        format!("{}-{base}", self.namespace_prefix)
    }

    /// An object as stored, `None` when absent.
    pub async fn get(
        &self,
        api_version: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        get(&self.client, api_version, kind, ns, name).await
    }

    /// Like [`Member::get`], failing when absent.
    pub async fn must_get(&self, api_version: &str, kind: &str, ns: &str, name: &str) -> Value {
        self.get(api_version, kind, Some(ns), name)
            .await
            .unwrap_or_else(|| panic!("{}: {kind} {ns}/{name} exists", self.name))
    }

    /// Server-side applies `object` as field manager `manager`.
    pub async fn apply_as(&self, manager: &str, object: Value, force: bool) {
        let (api, name) = api_for(&self.client, &object);
        let mut params = PatchParams::apply(manager);
        params.force = force;
        api.patch(&name, &params, &Patch::Apply(&object))
            .await
            .unwrap_or_else(|e| panic!("{}: {manager} applies {name}: {e}", self.name));
    }

    /// Patches an object as field manager `manager`, as `kubectl edit`,
    /// `kubectl label` or `kubectl patch` do.
    pub async fn patch_as(&self, manager: &str, object_ref: Value, patch: Patch<Value>) {
        let (api, name) = api_for(&self.client, &object_ref);
        let params = PatchParams {
            field_manager: Some(manager.into()),
            ..PatchParams::default()
        };
        api.patch(&name, &params, &patch)
            .await
            .unwrap_or_else(|e| panic!("{}: {manager} patches {name}: {e}", self.name));
    }

    /// Sets the replicas of a workload through its `/scale` subresource as
    /// field manager `manager`, as `kubectl scale` (a merge patch of the
    /// Scale) or the HPA controller do.
    pub async fn scale_as(&self, manager: &str, object_ref: Value, replicas: i64) {
        let (api, name) = api_for(&self.client, &object_ref);
        let params = PatchParams {
            field_manager: Some(manager.into()),
            ..PatchParams::default()
        };
        api.patch_scale(
            &name,
            &params,
            &Patch::Merge(json!({"spec": {"replicas": replicas}})),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {manager} scales {name}: {e}", self.name));
    }

    /// Deletes an object and waits (boundedly) until it is gone.
    pub async fn delete(&self, api_version: &str, kind: &str, ns: Option<&str>, name: &str) {
        delete(&self.client, api_version, kind, ns, name).await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while get(&self.client, api_version, kind, ns, name)
            .await
            .is_some()
        {
            assert!(Instant::now() < deadline, "{kind} {name} is deleted");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Request counters of the test API server (none on a real cluster).
    pub fn counters(&self) -> Option<Counters> {
        self.server.as_ref().map(|s| s.counters())
    }

    /// Zeroes the test API server's request counters.
    pub fn reset_counters(&self) {
        if let Some(s) = &self.server {
            s.reset_counters();
        }
    }

    /// The ConfigMap holding the inventory `fleet` keeps for this member.
    pub async fn inventory_config_map(&self, fleet: &str) -> Option<Value> {
        self.get(
            "v1",
            "ConfigMap",
            Some(INVENTORY_NAMESPACE),
            &format!("flotilla-inventory-{fleet}.{}", self.name),
        )
        .await
    }

    /// The parsed inventory this member's fleet keeps on it.
    pub async fn inventory(&self, fleet: &str) -> Option<Value> {
        let cm = self.inventory_config_map(fleet).await?;
        let text = cm["data"]["inventory.json"].as_str()?;
        Some(serde_json::from_str(text).expect("the inventory is JSON"))
    }
}

/// What one scenario works with.
pub struct Env {
    /// Unique to the scenario and the run: names its fleet, namespaces and
    /// CRD groups.
    pub prefix: String,
    /// Holds the fleet repository.
    pub dir: tempfile::TempDir,
    /// `alpha` and `beta`.
    pub members: Vec<Member>,
}

impl Env {
    /// The fleet's name (also the prefix).
    pub fn fleet(&self) -> &str {
        &self.prefix
    }

    /// The first member.
    pub fn alpha(&self) -> &Member {
        &self.members[0]
    }

    /// The second member.
    pub fn beta(&self) -> &Member {
        &self.members[1]
    }

    /// The fleet repository.
    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// The API group of the scenario's custom resources.
    pub fn crd_group(&self) -> String {
        format!("{}.flotilla.test", self.prefix)
    }

    /// `text` with the namespace `shop` of the fixtures made this
    /// scenario's, per cluster: `namespace: shop` and a Namespace's
    /// `name: shop` become `<prefix>-${cluster.name}-shop`.
    pub fn localise(&self, text: &str) -> String {
        let ns = format!("{}-${{cluster.name}}-shop", self.prefix);
        let mut out = String::new();
        let mut namespace_doc = false;
        for line in text.lines() {
            if line.starts_with("kind: ") {
                namespace_doc = line.trim() == "kind: Namespace";
            }
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            if trimmed == "namespace: shop" || (namespace_doc && trimmed == "name: shop") {
                let key = trimmed.split(':').next().unwrap();
                out.push_str(&format!("{indent}{key}: {ns}\n"));
            } else {
                out.push_str(&line.replace("{ns}", &ns));
                out.push('\n');
            }
        }
        out
    }

    /// Writes `rel` in the repository, localised (see [`Env::localise`]).
    pub fn write(&self, rel: &str, text: &str) {
        write(&self.repo(), rel, &self.localise(text));
    }

    /// Writes fleet.yaml: fleet [`Env::fleet`], the given members, and
    /// `bases` as `(name, placement clusters)`; an empty list places a base
    /// on every cluster.
    pub fn fleet_yaml(&self, members: &[&Member], bases: &[(&str, &[&str])], extra: &str) {
        let mut text = format!(
            "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nmetadata:\n  name: {}\nspec:\n  clusters:\n",
            self.fleet()
        );
        for m in members {
            text.push_str(&format!(
                "    - name: {}\n      connection:\n        kubeconfig: \"{}\"\n",
                m.name,
                m.connection.kubeconfig.display()
            ));
            if let Some(c) = &m.connection.context {
                text.push_str(&format!("        context: \"{c}\"\n"));
            }
        }
        text.push_str("  bases:\n");
        for (name, on) in bases {
            text.push_str(&format!("    - name: {name}\n      path: bases/{name}\n"));
            if !on.is_empty() {
                text.push_str(&format!(
                    "      placement: {{clusters: [{}]}}\n",
                    on.join(", ")
                ));
            }
        }
        text.push_str(extra);
        write(&self.repo(), "fleet.yaml", &text);
    }

    /// `flotilla <command> --repo <repo> <rest...>`, bounded in time.
    pub async fn flotilla(&self, command: &str, rest: &[&str]) -> Run {
        let repo = self.repo();
        let mut args = vec![command, "--repo", repo.to_str().expect("a UTF-8 path")];
        args.extend_from_slice(rest);
        flotilla(self.dir.path(), &args).await
    }

    /// Deletes what the scenario created: its namespaces, its CRDs and its
    /// inventories. On fresh test API servers it returns what is still
    /// there (they delete at once); on a long-lived cluster, where a
    /// namespace takes a while to terminate, [`Backend::finish`] waits for
    /// and checks everything at the end.
    pub async fn cleanup(&self) -> Vec<String> {
        let mut left = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            // Members sharing a cluster are cleaned once.
            let shared = self.members[..i].iter().any(|o| {
                o.server.is_none()
                    && o.connection.kubeconfig == m.connection.kubeconfig
                    && o.connection.context == m.connection.context
            });
            if shared {
                continue;
            }
            let c = &m.client;
            let prefix = format!("{}-", self.prefix);
            for cm in names(c, "v1", "ConfigMap", Some(INVENTORY_NAMESPACE)).await {
                if cm.starts_with(&format!("flotilla-inventory-{}.", self.prefix))
                    || cm.starts_with(&format!("flotilla-prune-window-{}.", self.prefix))
                {
                    delete(c, "v1", "ConfigMap", Some(INVENTORY_NAMESPACE), &cm).await;
                }
            }
            for ns in names(c, "v1", "Namespace", None).await {
                if ns.starts_with(&prefix) {
                    delete(c, "v1", "Namespace", None, &ns).await;
                }
            }
            for crd in names(
                c,
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                None,
            )
            .await
            {
                if crd.contains(&format!(".{}.", self.prefix)) {
                    delete(
                        c,
                        "apiextensions.k8s.io/v1",
                        "CustomResourceDefinition",
                        None,
                        &crd,
                    )
                    .await;
                }
            }
            if m.server.is_none() {
                continue;
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let mut now = leftovers(c, &prefix).await;
                for cm in names(c, "v1", "ConfigMap", Some(INVENTORY_NAMESPACE)).await {
                    if cm.starts_with(&format!("flotilla-inventory-{}.", self.prefix))
                        || cm.starts_with(&format!("flotilla-prune-window-{}.", self.prefix))
                    {
                        now.push(format!("ConfigMap {INVENTORY_NAMESPACE}/{cm}"));
                    }
                }
                if now.is_empty() || Instant::now() > deadline {
                    left.extend(now.into_iter().map(|l| format!("{}: {l}", m.name)));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        left
    }
}

impl Connection {
    /// For messages: the file and context, never their contents.
    pub fn describe(&self) -> String {
        match &self.context {
            Some(c) => format!("{} (context {c})", self.kubeconfig.display()),
            None => self.kubeconfig.display().to_string(),
        }
    }
}

/// `~/…` as the shell would expand it.
fn expand_home(path: &Path) -> PathBuf {
    match path.strip_prefix("~") {
        Ok(rest) => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(rest))
            .unwrap_or_else(|| path.to_path_buf()),
        Err(_) => path.to_path_buf(),
    }
}

/// A client for `connection`.
pub async fn client(connection: &Connection) -> Result<kube::Client, String> {
    let kubeconfig = Kubeconfig::read_from(&connection.kubeconfig)
        .map_err(|e| format!("{}: {e}", connection.describe()))?;
    let options = KubeConfigOptions {
        context: connection.context.clone(),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| format!("{}: {e}", connection.describe()))?;
    kube::Client::try_from(config).map_err(|e| format!("{}: {e}", connection.describe()))
}

/// The resource of `kind` in `api_version` (plural by the usual rule, which
/// holds for every kind the scenarios use).
fn resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, kind),
        &crate::support::objects::plural(kind),
    )
}

fn api(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    let r = resource(api_version, kind);
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &r),
        None => Api::all_with(client.clone(), &r),
    }
}

fn api_for(client: &kube::Client, object: &Value) -> (Api<DynamicObject>, String) {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let kind = object["kind"].as_str().expect("kind");
    let ns = object["metadata"]["namespace"].as_str();
    let name = object["metadata"]["name"].as_str().expect("a name");
    (api(client, api_version, kind, ns), name.to_string())
}

async fn get(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    ns: Option<&str>,
    name: &str,
) -> Option<Value> {
    match api(client, api_version, kind, ns).get_opt(name).await {
        Ok(o) => o.map(|o| serde_json::to_value(o).expect("an object is JSON")),
        Err(e) => panic!("reading {kind} {name}: {e}"),
    }
}

async fn exists(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    ns: Option<&str>,
    name: &str,
) -> bool {
    get(client, api_version, kind, ns, name).await.is_some()
}

/// Deletes, ignoring "not found" (cleanup may meet half-made scenarios).
async fn delete(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    ns: Option<&str>,
    name: &str,
) {
    let params = DeleteParams::background();
    match api(client, api_version, kind, ns)
        .delete(name, &params)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => panic!("deleting {kind} {name}: {e}"),
    }
}

/// Names of the objects of a kind; empty when the namespace or kind does
/// not exist.
async fn names(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    ns: Option<&str>,
) -> Vec<String> {
    match api(client, api_version, kind, ns)
        .list(&ListParams::default())
        .await
    {
        Ok(list) => list
            .items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Namespaces and CRDs whose names carry `prefix`.
async fn leftovers(client: &kube::Client, prefix: &str) -> Vec<String> {
    let mut left = Vec::new();
    for ns in names(client, "v1", "Namespace", None).await {
        if ns.starts_with(prefix) {
            left.push(format!("Namespace {ns}"));
        }
    }
    for crd in names(
        client,
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        None,
    )
    .await
    {
        if crd.contains(&format!(".{prefix}")) {
            left.push(format!("CustomResourceDefinition {crd}"));
        }
    }
    left
}

/// A ConfigMap object (for hand-made objects).
pub fn config_map(ns: &str, name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "namespace": ns}, "data": data})
}
