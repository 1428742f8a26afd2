//! The kinds the server serves: built-ins registered at start, kinds added by
//! tests, and kinds registered by established CustomResourceDefinitions.

use std::collections::BTreeMap;

/// One resource served at one group/version, e.g. `apps/v1 deployments`.
///
/// Objects are stored per *group + plural*: several versions of the same
/// resource (a CRD serving `v1alpha1` and `v1`) share one set of objects, and
/// reading through another version only rewrites `apiVersion` (the CRD
/// conversion strategy `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceKind {
    /// API group, empty for the core group.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Plural resource name used in URLs, e.g. `deployments`.
    pub plural: String,
    /// Singular name, e.g. `deployment`.
    pub singular: String,
    /// Namespaced (`true`) or cluster-scoped (`false`).
    pub namespaced: bool,
    /// Short names shown in discovery (`deploy`).
    pub short_names: Vec<String>,
    /// Categories shown in discovery (`all`).
    pub categories: Vec<String>,
    /// Whether the kind has a `/status` subresource: main-resource writes
    /// then ignore `.status`, and status writes ignore everything else.
    pub status_subresource: bool,
    /// Whether objects carry `metadata.generation` (bumped on changes outside
    /// `metadata` and, with a status subresource, `status`).
    pub tracks_generation: bool,
    /// Custom-resource semantics: strategic merge patch is refused (415) and
    /// list items keep `apiVersion`/`kind`.
    pub custom: bool,
    /// Whether an immediate DELETE answers with the deleted object (`true`)
    /// or a `Status` with `status: Success` (`false`), per the real registry.
    pub return_deleted_object: bool,
}

impl ResourceKind {
    /// A custom-resource-like kind: generation tracked, no status subresource,
    /// singular = lower-cased kind, no short names.
    pub fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        ResourceKind {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            namespaced,
            short_names: Vec::new(),
            categories: Vec::new(),
            status_subresource: false,
            tracks_generation: true,
            custom: true,
            return_deleted_object: false,
        }
    }

    /// Adds a `/status` subresource.
    pub fn with_status(mut self) -> Self {
        self.status_subresource = true;
        self
    }

    /// Sets the short names.
    pub fn with_short_names(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Sets the categories.
    pub fn with_categories(mut self, cats: &[&str]) -> Self {
        self.categories = cats.iter().map(|s| s.to_string()).collect();
        self
    }

    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `<Kind>List`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// Verbs on the main resource, as discovery lists them.
    pub(crate) fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }

    fn builtin(self) -> Self {
        ResourceKind {
            custom: false,
            ..self
        }
    }

    fn no_generation(mut self) -> Self {
        self.tracks_generation = false;
        self
    }

    fn returns_object(mut self) -> Self {
        self.return_deleted_object = true;
        self
    }
}

/// The kinds built in at start.
pub(crate) fn builtin_kinds() -> Vec<ResourceKind> {
    let k = |g: &str, v: &str, kind: &str, plural: &str, ns: bool| {
        ResourceKind::new(g, v, kind, plural, ns).builtin()
    };
    vec![
        k("", "v1", "Namespace", "namespaces", false)
            .with_status()
            .with_short_names(&["ns"])
            .no_generation()
            .returns_object(),
        k("", "v1", "ConfigMap", "configmaps", true)
            .with_short_names(&["cm"])
            .no_generation(),
        k("", "v1", "Secret", "secrets", true).no_generation(),
        k("", "v1", "Event", "events", true)
            .with_short_names(&["ev"])
            .no_generation(),
        k("", "v1", "LimitRange", "limitranges", true)
            .with_short_names(&["limits"])
            .no_generation(),
        k("", "v1", "Service", "services", true)
            .with_status()
            .with_short_names(&["svc"])
            .with_categories(&["all"])
            .no_generation(),
        k("", "v1", "ServiceAccount", "serviceaccounts", true)
            .with_short_names(&["sa"])
            .no_generation()
            .returns_object(),
        k(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
        )
        .with_status()
        .with_short_names(&["pvc"])
        .no_generation(),
        k("", "v1", "Pod", "pods", true)
            .with_status()
            .with_short_names(&["po"])
            .with_categories(&["all"])
            .returns_object(),
        k("apps", "v1", "Deployment", "deployments", true)
            .with_status()
            .with_short_names(&["deploy"])
            .with_categories(&["all"]),
        k("apps", "v1", "StatefulSet", "statefulsets", true)
            .with_status()
            .with_short_names(&["sts"])
            .with_categories(&["all"]),
        k("apps", "v1", "DaemonSet", "daemonsets", true)
            .with_status()
            .with_short_names(&["ds"])
            .with_categories(&["all"]),
        k("batch", "v1", "Job", "jobs", true)
            .with_status()
            .with_categories(&["all"]),
        k(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
        )
        .with_status()
        .with_short_names(&["hpa"])
        .with_categories(&["all"]),
        k(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
        )
        .with_short_names(&["netpol"]),
        k("networking.k8s.io", "v1", "Ingress", "ingresses", true)
            .with_status()
            .with_short_names(&["ing"]),
        k(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
        )
        .with_status()
        .with_short_names(&["pdb"]),
        k("coordination.k8s.io", "v1", "Lease", "leases", true).no_generation(),
        k(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
        )
        .no_generation(),
        k(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        )
        .no_generation(),
        k("rbac.authorization.k8s.io", "v1", "Role", "roles", true).no_generation(),
        k(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
        )
        .no_generation(),
        k(
            "storage.k8s.io",
            "v1",
            "StorageClass",
            "storageclasses",
            false,
        )
        .with_short_names(&["sc"])
        .no_generation()
        .returns_object(),
        k(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
        .with_status()
        .with_short_names(&["crd", "crds"])
        .returns_object(),
    ]
}

#[derive(Clone, Debug)]
struct Entry {
    kind: ResourceKind,
    /// Name of the CRD that registered this kind, if any.
    owner_crd: Option<String>,
}

/// All served kinds.
#[derive(Clone, Debug, Default)]
pub(crate) struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// A registry holding the built-in kinds.
    pub(crate) fn with_builtins() -> Self {
        let mut r = Registry::default();
        for k in builtin_kinds() {
            r.register(k, None);
        }
        r
    }

    /// Adds or replaces the kind served at its group/version/plural.
    pub(crate) fn register(&mut self, kind: ResourceKind, owner_crd: Option<String>) {
        self.entries.retain(|e| {
            !(e.kind.group == kind.group
                && e.kind.version == kind.version
                && e.kind.plural == kind.plural)
        });
        self.entries.push(Entry { kind, owner_crd });
    }

    /// Removes the kind at group/version/plural; true if it was served.
    pub(crate) fn unregister(&mut self, group: &str, version: &str, plural: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| {
            !(e.kind.group == group && e.kind.version == version && e.kind.plural == plural)
        });
        before != self.entries.len()
    }

    /// Removes every kind registered by the named CRD.
    pub(crate) fn unregister_crd(&mut self, crd: &str) {
        self.entries.retain(|e| e.owner_crd.as_deref() != Some(crd));
    }

    /// The kind served at group/version/plural.
    pub(crate) fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceKind> {
        self.entries
            .iter()
            .map(|e| &e.kind)
            .find(|k| k.group == group && k.version == version && k.plural == plural)
    }

    /// The kind served at group/version with this `kind`.
    pub(crate) fn lookup_kind(
        &self,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Option<&ResourceKind> {
        self.entries
            .iter()
            .map(|e| &e.kind)
            .find(|k| k.group == group && k.version == version && k.kind == kind)
    }

    /// Any served version of group/plural (preferring the preferred version).
    pub(crate) fn any_version(&self, group: &str, plural: &str) -> Option<&ResourceKind> {
        let versions = self.versions_of_group(group);
        versions.iter().find_map(|v| self.lookup(group, v, plural))
    }

    /// The CRD (by name) owning group/plural, if any.
    pub(crate) fn owner_of(&self, group: &str, plural: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.kind.group == group && e.kind.plural == plural)
            .and_then(|e| e.owner_crd.as_deref())
    }

    /// All kinds, in registration order.
    pub(crate) fn kinds(&self) -> impl Iterator<Item = &ResourceKind> {
        self.entries.iter().map(|e| &e.kind)
    }

    /// Served groups (core group as `""`), each with its versions sorted by
    /// Kubernetes version priority (preferred first).
    pub(crate) fn groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for k in self.kinds() {
            let vs = out.entry(k.group.clone()).or_default();
            if !vs.contains(&k.version) {
                vs.push(k.version.clone());
            }
        }
        for vs in out.values_mut() {
            vs.sort_by(|a, b| version_priority(b).cmp(&version_priority(a)).then(a.cmp(b)));
        }
        out
    }

    /// Versions of one group, preferred first.
    pub(crate) fn versions_of_group(&self, group: &str) -> Vec<String> {
        self.groups().remove(group).unwrap_or_default()
    }

    /// Kinds served at group/version, in registration order.
    pub(crate) fn resources_in(&self, group: &str, version: &str) -> Vec<&ResourceKind> {
        self.kinds()
            .filter(|k| k.group == group && k.version == version)
            .collect()
    }
}

/// Kubernetes version priority: GA > beta > alpha > anything else; higher
/// major/minor numbers first (`v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > foo`).
pub(crate) fn version_priority(v: &str) -> (u8, u64, u64) {
    let parse = || -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if digits.is_empty() {
            return None;
        }
        let major: u64 = digits.parse().ok()?;
        let tail = &rest[digits.len()..];
        if tail.is_empty() {
            return Some((3, major, 0));
        }
        for (label, rank) in [("beta", 2u8), ("alpha", 1u8)] {
            if let Some(n) = tail.strip_prefix(label)
                && !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
            {
                return Some((rank, major, n.parse().ok()?));
            }
        }
        None
    };
    parse().unwrap_or((0, 0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order() {
        let mut v = vec!["v1alpha1", "v1", "foo", "v1beta2", "v2", "v1beta1"];
        v.sort_by_key(|x| std::cmp::Reverse(version_priority(x)));
        assert_eq!(v, vec!["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }

    #[test]
    fn builtins_present() {
        let r = Registry::with_builtins();
        assert!(r.lookup("apps", "v1", "deployments").is_some());
        assert!(
            r.lookup("gateway.networking.k8s.io", "v1", "gateways")
                .is_none()
        );
        assert!(!r.lookup("", "v1", "namespaces").unwrap().namespaced);
    }
}
