//! From a cluster's `connection` in fleet.yaml, changed by the run's
//! overrides ([`effective_connection`], pure), to a [`Destination`]. Environment
//! variables in paths expand here, at the edge, and nowhere else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::directory::DirectoryDestination;
use super::kube::KubeDestination;
use super::{Applied, ApplyOptions, ClusterError, ConfigError, Destination};
use flotilla_core::model::{Cluster, ObjectKey};
use flotilla_core::model::{Inventory, InventoryEntry};

mod overrides;

pub use overrides::{
    ConnectionOverride, EffectiveConnection, KubeconfigSource, OverrideError, Setting,
    effective_connection, split_cluster_prefix,
};

/// How to open destinations in one run: overrides given on the command line, and
/// settings of the engine. See [`effective_connection`] for how the
/// overrides combine with fleet.yaml.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// Overrides for every cluster (`--kubeconfig PATH`, `--context NAME`):
    /// they change only clusters that connect through a kubeconfig.
    pub global: ConnectionOverride,
    /// Overrides of single clusters, by cluster name
    /// (`--kubeconfig CLUSTER=PATH`, `--context CLUSTER=NAME`): they win
    /// over the global ones and turn any connection into a kubeconfig one.
    pub overrides: std::collections::BTreeMap<String, ConnectionOverride>,
    /// Variables for `${VAR}` in connection paths, consulted before the
    /// environment (e.g. `FLOTILLA_KUBECONFIG_DIR` from the daemon's config).
    pub vars: std::collections::BTreeMap<String, String>,
    /// Read live state of Kubernetes clusters from watch-fed caches (for
    /// the daemon; see [`KubeDestination::with_watch_cache`]).
    pub watch_cache: bool,
    /// How long connecting and each request may take (10 s and 30 s by
    /// default).
    pub timeouts: super::kube::Timeouts,
    /// The folder a relative `directory:` connection resolves against
    /// (the repository folder of a local repository, else the state
    /// folder); `None`: the working directory.
    pub directory_base: Option<PathBuf>,
    /// The `User-Agent` of every request to a Kubernetes cluster (the
    /// daemon's replicas name themselves in it); `None`: none is sent.
    pub user_agent: Option<http::HeaderValue>,
}

impl ConnectOptions {
    /// These options with relative `directory:` paths resolving against `base`.
    pub fn with_directory_base(mut self, base: Option<PathBuf>) -> Self {
        self.directory_base = base;
        self
    }

    /// The folder of a `directory:` connection path (its `${VAR}`s
    /// already expanded): relative paths are joined to
    /// [`ConnectOptions::directory_base`].
    pub fn directory_path(&self, path: &str) -> PathBuf {
        match &self.directory_base {
            Some(base) if Path::new(path).is_relative() => base.join(path),
            _ => PathBuf::from(path),
        }
    }
}

/// Any kind of destination, so one sync loop can drive them all.
pub enum AnyDestination {
    /// A Kubernetes API server.
    Kube(Box<KubeDestination>),
    /// A folder of hydrated manifests.
    Directory(DirectoryDestination),
}

/// Opens the destination of `cluster`: its [`effective_connection`] under
/// `options`, with `${VAR}` in fleet.yaml's paths expanded.
pub async fn connect(
    cluster: &Cluster,
    options: &ConnectOptions,
) -> Result<AnyDestination, ClusterError> {
    match effective_connection(cluster, options) {
        EffectiveConnection::Kubeconfig {
            kubeconfig,
            context,
        } => {
            let context = context.as_deref();
            let mut destination = match kubeconfig {
                KubeconfigSource::Fleet(path) => {
                    let path = PathBuf::from(expand_vars(&path, &options.vars)?);
                    KubeDestination::from_kubeconfig_with(&path, context, options.timeouts).await?
                }
                KubeconfigSource::Given(path) => {
                    KubeDestination::from_kubeconfig_with(&path, context, options.timeouts).await?
                }
                KubeconfigSource::Default => {
                    KubeDestination::from_default_kubeconfig_with(context, options.timeouts).await?
                }
            };
            if let Some(agent) = &options.user_agent {
                destination = destination.with_user_agent(agent.clone())?;
            }
            if options.watch_cache {
                destination = destination.with_watch_cache();
            }
            Ok(AnyDestination::Kube(Box::new(destination)))
        }
        EffectiveConnection::Directory { path } => Ok(AnyDestination::Directory(
            DirectoryDestination::new(options.directory_path(&expand_vars(&path, &options.vars)?)),
        )),
        EffectiveConnection::Agent => Err(ConfigError::AgentUnsupported.into()),
    }
}

/// Expands `${VAR}` from `vars`, then the environment; only variables on
/// the allow-list ([`flotilla_core::model::env_vars`]) expand, and an unset or
/// refused variable is an error naming it (never its value).
pub fn expand_vars(
    text: &str,
    vars: &std::collections::BTreeMap<String, String>,
) -> Result<String, ClusterError> {
    flotilla_core::model::env_vars::check(text)
        .map_err(|reason| ConfigError::VariableNotAllowed { reason })?;
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| ConfigError::UnclosedVariable { text: text.into() })?;
        let name = &after[..end];
        let value = match vars.get(name) {
            Some(v) => v.clone(),
            None => std::env::var(name).map_err(|source| ConfigError::UnsetVariable {
                name: name.into(),
                text: text.into(),
                source,
            })?,
        };
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

macro_rules! each {
    ($self:ident, $t:ident => $e:expr) => {
        match $self {
            AnyDestination::Kube($t) => $e,
            AnyDestination::Directory($t) => $e,
        }
    };
}

impl AnyDestination {
    /// Where the destination is, for messages.
    pub fn describe(&self) -> String {
        match self {
            AnyDestination::Kube(k) => format!("API server {}", k.server()),
            AnyDestination::Directory(d) => format!("directory {}", d.root().display()),
        }
    }

    /// The folder, for a directory destination.
    pub fn directory(&self) -> Option<&Path> {
        match self {
            AnyDestination::Directory(d) => Some(d.root()),
            AnyDestination::Kube(_) => None,
        }
    }
}

impl Destination for AnyDestination {
    async fn live(
        &mut self,
        objects: &[(&str, &ObjectKey)],
    ) -> Result<HashMap<ObjectKey, Arc<Value>>, ClusterError> {
        each!(self, t => t.live(objects).await)
    }
    async fn live_of_round(
        &mut self,
        owned: &[(&str, &ObjectKey)],
        new: &[(&str, &ObjectKey)],
    ) -> Result<HashMap<ObjectKey, Arc<Value>>, ClusterError> {
        each!(self, t => t.live_of_round(owned, new).await)
    }
    async fn apply(
        &mut self,
        object: &Value,
        live: Option<&Value>,
        options: ApplyOptions,
    ) -> Result<Applied, ClusterError> {
        each!(self, t => t.apply(object, live, options).await)
    }
    async fn apply_many(
        &mut self,
        objects: &[(&Value, Option<&Value>)],
        options: ApplyOptions,
    ) -> Vec<Result<Applied, ClusterError>> {
        each!(self, t => t.apply_many(objects, options).await)
    }
    async fn dry_run_apply(&mut self, object: &Value) -> Result<Option<Value>, ClusterError> {
        each!(self, t => t.dry_run_apply(object).await)
    }
    async fn wait_established(
        &mut self,
        crd: &Value,
        timeout: Duration,
    ) -> Result<(), ClusterError> {
        each!(self, t => t.wait_established(crd, timeout).await)
    }
    async fn delete(
        &mut self,
        entry: &InventoryEntry,
        dry_run: bool,
    ) -> Result<bool, ClusterError> {
        each!(self, t => t.delete(entry, dry_run).await)
    }
    async fn read_inventory(
        &mut self,
        fleet: &str,
        cluster: &str,
    ) -> Result<Option<Inventory>, ClusterError> {
        each!(self, t => t.read_inventory(fleet, cluster).await)
    }
    async fn write_inventory(&mut self, inventory: &Inventory) -> Result<(), ClusterError> {
        each!(self, t => t.write_inventory(inventory).await)
    }
    async fn read_prune_window(
        &mut self,
        fleet: &str,
        cluster: &str,
    ) -> Result<flotilla_core::plan::PruneWindow, ClusterError> {
        each!(self, t => t.read_prune_window(fleet, cluster).await)
    }
    async fn write_prune_window(
        &mut self,
        fleet: &str,
        cluster: &str,
        window: &flotilla_core::plan::PruneWindow,
    ) -> Result<(), ClusterError> {
        each!(self, t => t.write_prune_window(fleet, cluster, window).await)
    }
    async fn schema(
        &mut self,
        api_versions: &[&str],
    ) -> std::sync::Arc<flotilla_core::diff::schema::Schema> {
        each!(self, t => t.schema(api_versions).await)
    }
    async fn controllers(
        &mut self,
        reads: &[flotilla_core::diff::controlled::ControllerRead],
    ) -> Result<Vec<Arc<Value>>, ClusterError> {
        each!(self, t => t.controllers(reads).await)
    }
    async fn serves(&mut self, api_version: &str, kind: &str) -> Result<bool, ClusterError> {
        each!(self, t => t.serves(api_version, kind).await)
    }
    fn runs_workloads(&self) -> bool {
        each!(self, t => t.runs_workloads())
    }
    fn act_as(&mut self, user: Option<&str>) -> Result<(), ClusterError> {
        each!(self, t => t.act_as(user))
    }

    fn take_changes(&mut self) -> super::Changes {
        each!(self, t => t.take_changes())
    }

    fn refresh(&mut self) {
        each!(self, t => t.refresh())
    }

    fn take_written(&mut self) -> std::collections::HashMap<ObjectKey, Arc<serde_json::Value>> {
        each!(self, t => t.take_written())
    }

    fn changes_notifier(&self) -> Option<Arc<tokio::sync::Notify>> {
        each!(self, t => t.changes_notifier())
    }

    async fn events(
        &mut self,
        key: &ObjectKey,
        limit: usize,
    ) -> Result<Vec<flotilla_core::agent::ObjectEvent>, ClusterError> {
        each!(self, t => t.events(key, limit).await)
    }
}
