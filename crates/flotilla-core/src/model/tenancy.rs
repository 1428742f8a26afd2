//! Tenants: teams that share one fleet repository. A tenant owns some
//! folders of the repository; what those folders place must stay in the
//! tenant's namespaces (cluster-scoped kinds only where allowed), on the
//! clusters it may reach, and its patches may only change its own objects.
//! Files outside every tenant belong to the platform, which may do anything.
//!
//! The rules here are pure: [`Tenant::check_object`] and
//! [`Tenant::check_cluster`] say what is wrong in words; render turns the
//! words into diagnostics naming the file and document.

use std::sync::Arc;

use super::Cluster;
use super::object::{ObjectKey, is_cluster_scoped_kind};
use super::selector::LabelSelector;
use super::wildcard::Wildcard;

/// One tenant of `spec.tenants`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tenant {
    /// DNS-1123 label, unique in the fleet.
    pub name: String,
    /// Repository-relative folders the tenant owns (normalised, no
    /// trailing `/`).
    pub paths: Vec<String>,
    /// Namespace globs (`*`, `?`, `[...]`) its objects may live in, as
    /// written.
    pub namespaces: Vec<String>,
    /// The parsed globs, in the order of `namespaces`.
    pub namespace_globs: Vec<Wildcard>,
    /// The clusters it may reach; every cluster when `None`.
    pub clusters: Option<LabelSelector>,
    /// Kinds it may use beyond namespaced objects in its namespaces:
    /// `Kind` (any group) or `group/Kind` (empty group for core: `/Kind`).
    pub allow_kinds: Vec<String>,
    /// The service account its writes impersonate, if any.
    pub service_account: Option<ServiceAccount>,
}

/// A Kubernetes service account, `namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceAccount {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl ServiceAccount {
    /// Parses `namespace/name`; `None` unless both parts are DNS-1123
    /// labels.
    pub fn parse(s: &str) -> Option<Self> {
        let (namespace, name) = s.split_once('/')?;
        (super::names::is_dns1123_label(namespace) && super::names::is_dns1123_label(name)).then(
            || Self {
                namespace: namespace.to_string(),
                name: name.to_string(),
            },
        )
    }

    /// The user name Kubernetes gives it, as sent in `Impersonate-User`:
    /// `system:serviceaccount:<namespace>:<name>`.
    pub fn user(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }
}

/// Which tenant a rendered object comes from: its provenance, carried on
/// [`crate::render::DesiredObject`] (never written into the object).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantRef {
    /// The tenant's name.
    pub name: Arc<str>,
    /// The user its writes impersonate
    /// (`system:serviceaccount:<ns>:<name>`), if any.
    pub user: Option<Arc<str>>,
}

/// Whether `file` is `folder` or inside it.
pub fn in_folder(file: &str, folder: &str) -> bool {
    file == folder
        || (file.len() > folder.len()
            && file.starts_with(folder)
            && file.as_bytes()[folder.len()] == b'/')
}

impl Tenant {
    /// Whether the tenant owns this repository-relative file.
    pub fn owns(&self, file: &str) -> bool {
        self.paths.iter().any(|p| in_folder(file, p))
    }

    /// Its provenance mark.
    pub fn reference(&self) -> TenantRef {
        TenantRef {
            name: Arc::from(self.name.as_str()),
            user: self
                .service_account
                .as_ref()
                .map(|sa| Arc::from(sa.user().as_str())),
        }
    }

    /// Whether `namespace` matches one of its namespace globs.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        self.namespace_globs.iter().any(|g| g.is_match(namespace))
    }

    /// Whether `allowKinds` lists this kind.
    pub fn allows_kind(&self, group: &str, kind: &str) -> bool {
        self.allow_kinds.iter().any(|k| match k.split_once('/') {
            Some((g, k)) => g == group && k == kind,
            None => k == kind,
        })
    }

    /// Why the tenant may not reach `cluster`, if it may not.
    pub fn check_cluster(&self, cluster: &Cluster) -> Result<(), String> {
        match &self.clusters {
            Some(sel) if !sel.matches(&cluster.labels) => Err(format!(
                "tenant {:?} may not reach cluster {:?} (its clusters selector does not match the cluster's labels)",
                self.name, cluster.name
            )),
            _ => Ok(()),
        }
    }

    /// Why the tenant may not place this object, if it may not. `cluster_scoped`
    /// tells whether the kind is cluster-scoped where the core knows it
    /// (built-in kinds and the CRDs of the same desired state).
    pub fn check_object(&self, key: &ObjectKey, cluster_scoped: bool) -> Result<(), String> {
        let allowed_kind = self.allows_kind(&key.group, &key.kind);
        let scoped = cluster_scoped || is_cluster_scoped_kind(&key.group, &key.kind);
        if scoped {
            if !allowed_kind {
                return Err(format!(
                    "tenant {:?} may not create the cluster-scoped {key}: {} is not in its allowKinds",
                    self.name, key.kind
                ));
            }
            if key.group.is_empty() && key.kind == "Namespace" && !self.allows_namespace(&key.name)
            {
                return Err(format!(
                    "tenant {:?} may not create namespace {:?}: it is not one of its namespaces ({})",
                    self.name,
                    key.name,
                    self.namespaces.join(", ")
                ));
            }
            return Ok(());
        }
        if key.namespace.is_empty() {
            if allowed_kind {
                return Ok(());
            }
            return Err(format!(
                "tenant {:?}: {key} sets no metadata.namespace; a tenant's objects must name one of its namespaces ({})",
                self.name,
                self.namespaces.join(", ")
            ));
        }
        if !self.allows_namespace(&key.namespace) {
            return Err(format!(
                "tenant {:?} may not place {key} in namespace {:?}: its namespaces are {}",
                self.name,
                key.namespace,
                self.namespaces.join(", ")
            ));
        }
        Ok(())
    }
}

/// The tenant owning `file`, if any (paths of tenants never overlap: load
/// refuses that).
pub fn tenant_of<'a>(tenants: &'a [Tenant], file: &str) -> Option<&'a Tenant> {
    tenants.iter().find(|t| t.owns(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team_a() -> Tenant {
        let namespaces = vec!["team-a".to_string(), "team-a-*".to_string()];
        Tenant {
            name: "team-a".into(),
            paths: vec!["bases/team-a".into()],
            namespace_globs: namespaces
                .iter()
                .map(|n| Wildcard::parse(n).unwrap())
                .collect(),
            namespaces,
            clusters: None,
            allow_kinds: vec![],
            service_account: ServiceAccount::parse("team-a/flotilla"),
        }
    }

    fn key(group: &str, kind: &str, ns: &str, name: &str) -> ObjectKey {
        ObjectKey {
            group: group.into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn owns_files_below_its_folders_only() {
        let t = team_a();
        assert!(t.owns("bases/team-a/app.yaml"));
        assert!(t.owns("bases/team-a/sub/app.yaml"));
        assert!(!t.owns("bases/team-ab/app.yaml"));
        assert!(!t.owns("bases/app.yaml"));
    }

    #[test]
    fn namespaces_and_kinds_are_checked() {
        let mut t = team_a();
        assert!(
            t.check_object(&key("apps", "Deployment", "team-a", "web"), false)
                .is_ok()
        );
        assert!(
            t.check_object(&key("apps", "Deployment", "team-a-dev", "web"), false)
                .is_ok()
        );
        let e = t
            .check_object(&key("apps", "Deployment", "team-b", "web"), false)
            .unwrap_err();
        assert!(e.contains("team-b") && e.contains("team-a"), "{e}");
        let e = t
            .check_object(&key("", "ConfigMap", "", "c"), false)
            .unwrap_err();
        assert!(e.contains("metadata.namespace"), "{e}");
        // A cluster-scoped kind is refused even with a namespace set.
        let cr = key(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            "team-a",
            "admin",
        );
        assert!(
            t.check_object(&cr, false)
                .unwrap_err()
                .contains("ClusterRole")
        );
        t.allow_kinds = vec![
            "rbac.authorization.k8s.io/ClusterRole".into(),
            "Namespace".into(),
        ];
        assert!(t.check_object(&cr, false).is_ok());
        assert!(
            t.check_object(&key("", "Namespace", "", "team-a-x"), false)
                .is_ok()
        );
        assert!(
            t.check_object(&key("", "Namespace", "", "kube-system"), false)
                .is_err()
        );
        // A custom cluster-scoped kind (known from its CRD).
        assert!(
            t.check_object(&key("x.io", "Thing", "", "t"), true)
                .is_err()
        );
    }

    #[test]
    fn service_account_user_name() {
        let sa = ServiceAccount::parse("team-a/flotilla").unwrap();
        assert_eq!(sa.user(), "system:serviceaccount:team-a:flotilla");
        assert!(ServiceAccount::parse("team-a").is_none());
        assert!(ServiceAccount::parse("Team/x").is_none());
    }
}
