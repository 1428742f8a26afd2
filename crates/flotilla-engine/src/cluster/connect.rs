//! From a cluster's `connection` in fleet.yaml, changed by the run's
//! overrides ([`effective_connection`], pure), to a [`Target`]. Environment
//! variables in paths expand here, at the edge, and nowhere else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::directory::DirectoryTarget;
use super::kube::KubeTarget;
use super::{Applied, ApplyOptions, ClusterError, Target};
use flotilla_core::model::{Cluster, ObjectKey};
use flotilla_core::model::{Inventory, InventoryEntry};

mod overrides;

pub use overrides::{
    ConnectionOverride, EffectiveConnection, KubeconfigSource, OverrideError, Setting,
    effective_connection, split_cluster_prefix,
};

/// How to open targets in one run: overrides given on the command line, and
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
    /// the daemon; see [`KubeTarget::with_watch_cache`]).
    pub watch_cache: bool,
}

/// Any kind of target, so one sync loop can drive them all.
pub enum AnyTarget {
    /// A Kubernetes API server.
    Kube(Box<KubeTarget>),
    /// A folder of hydrated manifests.
    Directory(DirectoryTarget),
}

/// Opens the target of `cluster`: its [`effective_connection`] under
/// `options`, with `${VAR}` in fleet.yaml's paths expanded.
pub async fn connect(
    cluster: &Cluster,
    options: &ConnectOptions,
) -> Result<AnyTarget, ClusterError> {
    match effective_connection(cluster, options) {
        EffectiveConnection::Kubeconfig {
            kubeconfig,
            context,
        } => {
            let context = context.as_deref();
            let mut target = match kubeconfig {
                KubeconfigSource::Fleet(path) => {
                    let path = PathBuf::from(expand_vars(&path, &options.vars)?);
                    KubeTarget::from_kubeconfig(&path, context).await?
                }
                KubeconfigSource::Given(path) => KubeTarget::from_kubeconfig(&path, context).await?,
                KubeconfigSource::Default => KubeTarget::from_default_kubeconfig(context).await?,
            };
            if options.watch_cache {
                target = target.with_watch_cache();
            }
            Ok(AnyTarget::Kube(Box::new(target)))
        }
        EffectiveConnection::Directory { path } => Ok(AnyTarget::Directory(
            DirectoryTarget::new(expand_vars(&path, &options.vars)?),
        )),
        EffectiveConnection::Agent => Err(ClusterError::Config(
            "connection mode agent is not supported yet: the agent (pull mode) is not built; use kubeconfig or directory".into(),
        )),
    }
}

/// Expands `${VAR}` from `vars`, then the environment; only variables on
/// the allow-list ([`flotilla_core::model::env_vars`]) expand, and an unset or
/// refused variable is an error naming it (never its value).
pub fn expand_vars(
    text: &str,
    vars: &std::collections::BTreeMap<String, String>,
) -> Result<String, ClusterError> {
    flotilla_core::model::env_vars::check(text).map_err(ClusterError::Config)?;
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find("${") {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| ClusterError::Config(format!("unclosed ${{ in path {text:?}")))?;
        let name = &after[..end];
        let value = match vars.get(name) {
            Some(v) => v.clone(),
            None => std::env::var(name).map_err(|_| {
                ClusterError::Config(format!(
                    "environment variable {name} is not set (used in {text:?})"
                ))
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
            AnyTarget::Kube($t) => $e,
            AnyTarget::Directory($t) => $e,
        }
    };
}

impl AnyTarget {
    /// Where the target is, for messages.
    pub fn describe(&self) -> String {
        match self {
            AnyTarget::Kube(k) => format!("API server {}", k.server()),
            AnyTarget::Directory(d) => format!("directory {}", d.root().display()),
        }
    }

    /// The folder, for a directory target.
    pub fn directory(&self) -> Option<&Path> {
        match self {
            AnyTarget::Directory(d) => Some(d.root()),
            AnyTarget::Kube(_) => None,
        }
    }
}

impl Target for AnyTarget {
    async fn live(
        &mut self,
        objects: &[(&str, &ObjectKey)],
    ) -> Result<HashMap<ObjectKey, Value>, ClusterError> {
        each!(self, t => t.live(objects).await)
    }
    async fn apply(
        &mut self,
        object: &Value,
        live: Option<&Value>,
        options: ApplyOptions,
    ) -> Result<Applied, ClusterError> {
        each!(self, t => t.apply(object, live, options).await)
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
    async fn schema(
        &mut self,
        api_versions: &[&str],
    ) -> std::sync::Arc<flotilla_core::diff::schema::Schema> {
        each!(self, t => t.schema(api_versions).await)
    }
    async fn serves(&mut self, api_version: &str, kind: &str) -> Result<bool, ClusterError> {
        each!(self, t => t.serves(api_version, kind).await)
    }
}
