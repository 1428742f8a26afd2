//! Connection overrides given for one run (`--kubeconfig [CLUSTER=]PATH`,
//! `--context [CLUSTER=]NAME`), and the pure rule that combines them with a
//! cluster's `connection` from fleet.yaml: [`effective_connection`].
//!
//! The rules:
//!
//! - An argument is `CLUSTER=VALUE` when the text before its first `=` is a
//!   DNS-1123 label (what cluster names are); otherwise the whole argument is
//!   a value for every cluster. So `./a=b/config` and `/tmp/x=y` are global
//!   paths, while `a=b/config` names cluster `a` (write `./a=b/config` for a
//!   file of that name). A named cluster must be in the fleet.
//! - A per-cluster override turns any connection (`directory`, `agent`) into
//!   a kubeconfig connection. With a context but no kubeconfig, the kubeconfig
//!   is the default one: `$KUBECONFIG` (a list of files, merged) or
//!   `~/.kube/config`, as kubectl reads it.
//! - A global override (no `CLUSTER=`) changes only clusters that connect
//!   through a kubeconfig: fleet.yaml's own kubeconfig clusters, and clusters
//!   switched by a per-cluster override. It never switches a `directory` or
//!   `agent` cluster by itself.
//! - Field by field, the kubeconfig path and the context are the
//!   per-cluster value, else the global value, else fleet.yaml's value, else
//!   the default (the default kubeconfig; its current context).

use std::fmt;
use std::path::PathBuf;

use super::ConnectOptions;
use flotilla_core::load::is_dns1123_label;
use flotilla_core::model::{Cluster, Connection};

/// Connection settings given for one run, overriding fleet.yaml.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionOverride {
    /// Use this kubeconfig file (taken as given: no `${VAR}` expansion).
    pub kubeconfig: Option<PathBuf>,
    /// Use this context of the kubeconfig.
    pub context: Option<String>,
}

impl ConnectionOverride {
    /// Whether it overrides nothing.
    pub fn is_empty(&self) -> bool {
        self.kubeconfig.is_none() && self.context.is_none()
    }
}

/// Where the kubeconfig of an effective connection comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KubeconfigSource {
    /// fleet.yaml's path, `${VAR}` not yet expanded.
    Fleet(String),
    /// A path given for this run, used as is.
    Given(PathBuf),
    /// The default kubeconfig, as kubectl finds it: the files listed in
    /// `$KUBECONFIG` (merged), else `~/.kube/config`.
    Default,
}

/// How a cluster is reached in this run: its fleet.yaml connection with
/// the run's overrides applied (see [`effective_connection`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EffectiveConnection {
    /// Through a kubeconfig.
    Kubeconfig {
        /// Which kubeconfig.
        kubeconfig: KubeconfigSource,
        /// The context; the kubeconfig's current context when `None`.
        context: Option<String>,
    },
    /// A folder of hydrated manifests (path as in fleet.yaml, `${VAR}` not
    /// yet expanded).
    Directory {
        /// The folder.
        path: String,
    },
    /// Pull mode (not built yet).
    Agent,
}

/// The connection `cluster` gets in a run with `options`: fleet.yaml's
/// `connection` changed by the per-cluster override of `cluster` (in
/// `options.overrides`) and the global one (`options.global`), by the rules
/// of this module. Pure: nothing is read or expanded here.
pub fn effective_connection(cluster: &Cluster, options: &ConnectOptions) -> EffectiveConnection {
    let own = options
        .overrides
        .get(&cluster.name)
        .filter(|o| !o.is_empty());
    let global = &options.global;
    // The per-cluster value, else the global one.
    let kubeconfig = own
        .and_then(|o| o.kubeconfig.clone())
        .or_else(|| global.kubeconfig.clone())
        .map(KubeconfigSource::Given);
    let context = own
        .and_then(|o| o.context.clone())
        .or_else(|| global.context.clone());
    match &cluster.connection {
        Connection::Kubeconfig {
            path,
            context: fleet_context,
        } => EffectiveConnection::Kubeconfig {
            kubeconfig: kubeconfig.unwrap_or_else(|| KubeconfigSource::Fleet(path.clone())),
            context: context.or_else(|| fleet_context.clone()),
        },
        // Switched by its own override.
        _ if own.is_some() => EffectiveConnection::Kubeconfig {
            kubeconfig: kubeconfig.unwrap_or(KubeconfigSource::Default),
            context,
        },
        Connection::Directory { path } => EffectiveConnection::Directory { path: path.clone() },
        Connection::Agent => EffectiveConnection::Agent,
    }
}

/// Which setting an override argument gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// `--kubeconfig [CLUSTER=]PATH`.
    Kubeconfig,
    /// `--context [CLUSTER=]NAME`.
    Context,
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Setting::Kubeconfig => "--kubeconfig",
            Setting::Context => "--context",
        })
    }
}

/// A bad override argument (a usage error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    /// `CLUSTER=` names no cluster of the fleet.
    #[error(
        "{setting} {arg:?}: unknown cluster {cluster:?}; the fleet's clusters are {}{}",
        known.join(", "),
        if *setting == Setting::Kubeconfig {
            format!(" (for a file of that name, write ./{arg})")
        } else {
            String::new()
        }
    )]
    UnknownCluster {
        /// Which setting.
        setting: Setting,
        /// The argument as given.
        arg: String,
        /// The name before the `=`.
        cluster: String,
        /// The fleet's clusters, in fleet order.
        known: Vec<String>,
    },
    /// The value is empty (`--context eks-eu-west=`).
    #[error("{setting} {arg:?}: the value is empty")]
    Empty {
        /// Which setting.
        setting: Setting,
        /// The argument as given.
        arg: String,
    },
    /// The same setting twice for the same cluster (or twice globally).
    #[error("{setting} given twice for {}", match cluster {
        Some(c) => format!("cluster {c}"),
        None => "every cluster (no CLUSTER=)".to_string(),
    })]
    Twice {
        /// Which setting.
        setting: Setting,
        /// The cluster; `None` for the global value.
        cluster: Option<String>,
    },
}

/// Splits an override argument `[CLUSTER=]VALUE` at its first `=`, when the
/// text before it is a DNS-1123 label; otherwise the whole argument is the
/// value (for every cluster). `"eks-eu-west=kind-a"` gives
/// `(Some("eks-eu-west"), "kind-a")`, `"./a=b/config"` gives
/// `(None, "./a=b/config")`.
pub fn split_cluster_prefix(arg: &str) -> (Option<&str>, &str) {
    match arg.split_once('=') {
        Some((name, value)) if is_dns1123_label(name) => (Some(name), value),
        _ => (None, arg),
    }
}

impl ConnectOptions {
    /// Records one `[CLUSTER=]VALUE` argument of `setting` (see
    /// [`split_cluster_prefix`]): as the override of the cluster it names,
    /// which must be one of `clusters` (the fleet's), or as the global
    /// override. A setting given twice for the same cluster, or twice
    /// globally, is an error, as is an empty value.
    pub fn add_override(
        &mut self,
        setting: Setting,
        arg: &str,
        clusters: &[Cluster],
    ) -> Result<(), OverrideError> {
        let (cluster, value) = split_cluster_prefix(arg);
        if value.is_empty() {
            return Err(OverrideError::Empty {
                setting,
                arg: arg.to_string(),
            });
        }
        let target = match cluster {
            Some(name) => {
                if !clusters.iter().any(|c| c.name == name) {
                    return Err(OverrideError::UnknownCluster {
                        setting,
                        arg: arg.to_string(),
                        cluster: name.to_string(),
                        known: clusters.iter().map(|c| c.name.clone()).collect(),
                    });
                }
                self.overrides.entry(name.to_string()).or_default()
            }
            None => &mut self.global,
        };
        let twice = match setting {
            Setting::Kubeconfig => target.kubeconfig.replace(PathBuf::from(value)).is_some(),
            Setting::Context => target.context.replace(value.to_string()).is_some(),
        };
        if twice {
            return Err(OverrideError::Twice {
                setting,
                cluster: cluster.map(str::to_string),
            });
        }
        Ok(())
    }

    /// The options with every argument of `kubeconfigs` (`--kubeconfig`)
    /// and `contexts` (`--context`) added (see [`Self::add_override`]).
    pub fn with_overrides(
        mut self,
        kubeconfigs: &[String],
        contexts: &[String],
        clusters: &[Cluster],
    ) -> Result<Self, OverrideError> {
        for arg in kubeconfigs {
            self.add_override(Setting::Kubeconfig, arg, clusters)?;
        }
        for arg in contexts {
            self.add_override(Setting::Context, arg, clusters)?;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn cluster(name: &str, connection: Connection) -> Cluster {
        Cluster {
            name: name.into(),
            labels: BTreeMap::new(),
            connection,
        }
    }

    fn directory(name: &str) -> Cluster {
        cluster(
            name,
            Connection::Directory {
                path: format!(".flotilla/live/{name}"),
            },
        )
    }

    fn kubeconfig(name: &str, context: Option<&str>) -> Cluster {
        cluster(
            name,
            Connection::Kubeconfig {
                path: "${DIR}/fleet.yaml".into(),
                context: context.map(str::to_string),
            },
        )
    }

    fn fleet() -> Vec<Cluster> {
        vec![
            directory("dir"),
            kubeconfig("kube", Some("fleet-ctx")),
            cluster("agent", Connection::Agent),
        ]
    }

    /// Options from command-line style arguments, against [`fleet`].
    fn options(kubeconfigs: &[&str], contexts: &[&str]) -> ConnectOptions {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ConnectOptions::default()
            .with_overrides(&own(kubeconfigs), &own(contexts), &fleet())
            .expect("valid overrides")
    }

    fn kube(source: KubeconfigSource, context: Option<&str>) -> EffectiveConnection {
        EffectiveConnection::Kubeconfig {
            kubeconfig: source,
            context: context.map(str::to_string),
        }
    }

    fn given(path: &str) -> KubeconfigSource {
        KubeconfigSource::Given(PathBuf::from(path))
    }

    fn effective(name: &str, options: &ConnectOptions) -> EffectiveConnection {
        let clusters = fleet();
        let c = clusters.iter().find(|c| c.name == name).unwrap();
        effective_connection(c, options)
    }

    #[test]
    fn without_overrides_fleet_yaml_decides() {
        let o = ConnectOptions::default();
        assert_eq!(
            effective("dir", &o),
            EffectiveConnection::Directory {
                path: ".flotilla/live/dir".into()
            }
        );
        assert_eq!(
            effective("kube", &o),
            kube(
                KubeconfigSource::Fleet("${DIR}/fleet.yaml".into()),
                Some("fleet-ctx")
            )
        );
        assert_eq!(effective("agent", &o), EffectiveConnection::Agent);
    }

    #[test]
    fn global_overrides_change_only_kubeconfig_clusters() {
        let o = options(&["/tmp/all.yaml"], &["all-ctx"]);
        assert_eq!(
            effective("kube", &o),
            kube(given("/tmp/all.yaml"), Some("all-ctx"))
        );
        assert!(matches!(
            effective("dir", &o),
            EffectiveConnection::Directory { .. }
        ));
        assert_eq!(effective("agent", &o), EffectiveConnection::Agent);
    }

    #[test]
    fn global_kubeconfig_alone_keeps_the_fleet_context() {
        let o = options(&["/tmp/all.yaml"], &[]);
        assert_eq!(
            effective("kube", &o),
            kube(given("/tmp/all.yaml"), Some("fleet-ctx"))
        );
    }

    #[test]
    fn global_context_alone_keeps_the_fleet_kubeconfig() {
        let o = options(&[], &["all-ctx"]);
        assert_eq!(
            effective("kube", &o),
            kube(
                KubeconfigSource::Fleet("${DIR}/fleet.yaml".into()),
                Some("all-ctx")
            )
        );
    }

    #[test]
    fn per_cluster_values_win_over_global_ones() {
        let o = options(
            &["/tmp/all.yaml", "kube=/tmp/kube.yaml"],
            &["kube=kube-ctx", "all-ctx"],
        );
        assert_eq!(
            effective("kube", &o),
            kube(given("/tmp/kube.yaml"), Some("kube-ctx"))
        );
    }

    #[test]
    fn per_cluster_kubeconfig_keeps_the_fleet_context_unless_one_is_given() {
        let o = options(&["kube=/tmp/kube.yaml"], &[]);
        assert_eq!(
            effective("kube", &o),
            kube(given("/tmp/kube.yaml"), Some("fleet-ctx"))
        );
        let o = options(&["kube=/tmp/kube.yaml"], &["all-ctx"]);
        assert_eq!(
            effective("kube", &o),
            kube(given("/tmp/kube.yaml"), Some("all-ctx"))
        );
    }

    #[test]
    fn per_cluster_kubeconfig_switches_a_directory_cluster() {
        let o = options(&["dir=/tmp/dir.yaml"], &[]);
        assert_eq!(effective("dir", &o), kube(given("/tmp/dir.yaml"), None));
        // The other clusters keep their connection.
        assert!(matches!(
            effective("kube", &o),
            EffectiveConnection::Kubeconfig {
                kubeconfig: KubeconfigSource::Fleet(_),
                ..
            }
        ));
    }

    #[test]
    fn per_cluster_context_alone_switches_to_the_default_kubeconfig() {
        let o = options(&[], &["dir=kind-a"]);
        assert_eq!(
            effective("dir", &o),
            kube(KubeconfigSource::Default, Some("kind-a"))
        );
    }

    #[test]
    fn per_cluster_override_switches_an_agent_cluster() {
        let o = options(&[], &["agent=kind-b"]);
        assert_eq!(
            effective("agent", &o),
            kube(KubeconfigSource::Default, Some("kind-b"))
        );
    }

    #[test]
    fn a_switched_cluster_takes_the_global_values_it_lacks() {
        // One kubeconfig for all, one context per cluster.
        let o = options(&["/tmp/kind.yaml"], &["dir=kind-a", "agent=kind-b"]);
        assert_eq!(
            effective("dir", &o),
            kube(given("/tmp/kind.yaml"), Some("kind-a"))
        );
        assert_eq!(
            effective("agent", &o),
            kube(given("/tmp/kind.yaml"), Some("kind-b"))
        );
        // And the other way round: a per-cluster kubeconfig, a global context.
        let o = options(&["dir=/tmp/dir.yaml"], &["all-ctx"]);
        assert_eq!(
            effective("dir", &o),
            kube(given("/tmp/dir.yaml"), Some("all-ctx"))
        );
    }

    #[test]
    fn an_empty_override_entry_switches_nothing() {
        let mut o = ConnectOptions::default();
        o.overrides
            .insert("dir".into(), ConnectionOverride::default());
        assert!(matches!(
            effective("dir", &o),
            EffectiveConnection::Directory { .. }
        ));
    }

    #[test]
    fn split_only_at_the_first_equals_after_a_cluster_name() {
        assert_eq!(
            split_cluster_prefix("eks-eu-west=kind-a"),
            (Some("eks-eu-west"), "kind-a")
        );
        assert_eq!(split_cluster_prefix("c=a=b"), (Some("c"), "a=b"));
        assert_eq!(split_cluster_prefix("kind-a"), (None, "kind-a"));
        assert_eq!(split_cluster_prefix("./a=b/config"), (None, "./a=b/config"));
        assert_eq!(split_cluster_prefix("/tmp/x=y"), (None, "/tmp/x=y"));
        assert_eq!(
            split_cluster_prefix(r"C:\k=v\config"),
            (None, r"C:\k=v\config")
        );
        assert_eq!(split_cluster_prefix("Upper=x"), (None, "Upper=x"));
        assert_eq!(split_cluster_prefix("=x"), (None, "=x"));
        assert_eq!(
            split_cluster_prefix("arn:aws:eks:eu-west-1:1:cluster/a"),
            (None, "arn:aws:eks:eu-west-1:1:cluster/a")
        );
    }

    #[test]
    fn a_path_with_equals_is_a_global_path() {
        let o = options(&["./a=b/config"], &[]);
        assert_eq!(o.global.kubeconfig, Some(PathBuf::from("./a=b/config")));
        assert!(o.overrides.is_empty());
        // The cluster part is split at the first `=` only.
        let o = options(&["dir=/tmp/x=y/config"], &[]);
        assert_eq!(
            o.overrides["dir"].kubeconfig,
            Some(PathBuf::from("/tmp/x=y/config"))
        );
    }

    #[test]
    fn unknown_cluster_is_an_error_listing_the_fleet() {
        let err = ConnectOptions::default()
            .with_overrides(&["nope=/tmp/x.yaml".into()], &[], &fleet())
            .unwrap_err();
        assert_eq!(
            err,
            OverrideError::UnknownCluster {
                setting: Setting::Kubeconfig,
                arg: "nope=/tmp/x.yaml".into(),
                cluster: "nope".into(),
                known: vec!["dir".into(), "kube".into(), "agent".into()],
            }
        );
        assert_eq!(
            err.to_string(),
            "--kubeconfig \"nope=/tmp/x.yaml\": unknown cluster \"nope\"; the fleet's clusters \
             are dir, kube, agent (for a file of that name, write ./nope=/tmp/x.yaml)"
        );
        let err = ConnectOptions::default()
            .with_overrides(&[], &["nope=kind-a".into()], &fleet())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--context \"nope=kind-a\": unknown cluster \"nope\"; the fleet's clusters are dir, kube, agent"
        );
    }

    #[test]
    fn twice_and_empty_are_errors() {
        let check = |kubeconfigs: &[&str], contexts: &[&str], message: &str| {
            let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            let err = ConnectOptions::default()
                .with_overrides(&own(kubeconfigs), &own(contexts), &fleet())
                .unwrap_err();
            assert_eq!(err.to_string(), message);
        };
        check(
            &[],
            &["dir=a", "dir=b"],
            "--context given twice for cluster dir",
        );
        check(
            &["/a", "/b"],
            &[],
            "--kubeconfig given twice for every cluster (no CLUSTER=)",
        );
        check(&[], &["dir="], "--context \"dir=\": the value is empty");
        check(&[""], &[], "--kubeconfig \"\": the value is empty");
    }

    #[test]
    fn the_same_cluster_may_get_both_settings() {
        let o = options(&["dir=/tmp/d.yaml"], &["dir=ctx"]);
        assert_eq!(
            o.overrides["dir"],
            ConnectionOverride {
                kubeconfig: Some("/tmp/d.yaml".into()),
                context: Some("ctx".into()),
            }
        );
    }
}
