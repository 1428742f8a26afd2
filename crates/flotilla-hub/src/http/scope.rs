//! What a request may see: everything for a platform token (or a server
//! without tokens), only its tenant's clusters and namespaces for a tenant
//! token (`TOKEN [ROLE] tenant=NAME` in the token file).
//!
//! A tenant sees the clusters its `clusters` selector matches (every
//! cluster without one) and, in drift views, only the objects whose
//! namespace matches one of its namespace globs (so never a cluster-scoped
//! object). A token naming a tenant the fleet's current commit does not
//! have sees no cluster (it fails closed).

use std::borrow::Cow;
use std::sync::Arc;

use flotilla_core::drift::{ClusterDrift, ClusterStatus, ObjectStatus};
use flotilla_core::model::tenancy::Tenant;

use crate::state::{ClusterState, FleetState};

/// The request's view, from its [`Principal`](super::auth::Principal).
#[derive(Clone, Debug, Default)]
pub(crate) struct Scope {
    /// The tenant; `None`: the platform.
    pub tenant: Option<Arc<str>>,
}

/// What the scope resolves to in one fleet state.
pub(crate) enum View<'a> {
    /// Everything.
    Platform,
    /// One tenant's clusters and namespaces.
    Tenant(&'a Tenant),
    /// A tenant the fleet does not have: nothing.
    Nothing,
}

impl Scope {
    /// Whether the token is a tenant's.
    pub fn is_tenant(&self) -> bool {
        self.tenant.is_some()
    }

    /// The view in `s`.
    pub fn view<'a>(&self, s: &'a FleetState) -> View<'a> {
        match &self.tenant {
            None => View::Platform,
            Some(name) => s.tenant(name).map_or(View::Nothing, View::Tenant),
        }
    }
}

impl View<'_> {
    /// Whether the view shows an object of a cluster it sees: for a tenant
    /// only objects in its namespaces (never a cluster-scoped one).
    pub fn sees_object(&self, key: &flotilla_core::model::ObjectKey) -> bool {
        match self {
            View::Platform => true,
            View::Tenant(t) => !key.namespace.is_empty() && t.allows_namespace(&key.namespace),
            View::Nothing => false,
        }
    }

    /// Whether the view shows this cluster.
    pub fn sees_cluster(&self, c: &ClusterState) -> bool {
        match self {
            View::Platform => true,
            View::Tenant(t) => t.clusters.as_ref().is_none_or(|sel| sel.matches(&c.labels)),
            View::Nothing => false,
        }
    }

    /// A cluster's drift as the view shows it: for a tenant only the
    /// objects in its namespaces, the counts of those, and `InSync` when
    /// none of them drifted. `in_sync` stays the cluster's count (the
    /// state keeps no per-object list of in-sync objects).
    pub fn drift<'d>(&self, d: &'d ClusterDrift) -> Cow<'d, ClusterDrift> {
        let View::Tenant(t) = self else {
            return Cow::Borrowed(d);
        };
        let objects: Vec<_> = d
            .objects
            .iter()
            .filter(|o| !o.key.namespace.is_empty() && t.allows_namespace(&o.key.namespace))
            .cloned()
            .collect();
        let count = |s| objects.iter().filter(|o| o.status == s).count();
        let mut out = ClusterDrift {
            cluster: d.cluster.clone(),
            status: d.status,
            in_sync: d.in_sync,
            modified: count(ObjectStatus::Modified),
            missing: count(ObjectStatus::Missing),
            to_be_pruned: count(ObjectStatus::ToBePruned),
            objects: Vec::new(),
            error: d.error.clone(),
        };
        if out.status == ClusterStatus::Drifted && objects.is_empty() {
            out.status = ClusterStatus::InSync;
        }
        out.objects = objects;
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_core::drift::{DecidedBy, Detected, ObjectDrift};
    use flotilla_core::model::ObjectKey;
    use flotilla_core::model::wildcard::Wildcard;

    fn tenant() -> Tenant {
        Tenant {
            name: "team-a".into(),
            paths: vec!["teams/a".into()],
            namespaces: vec!["team-a".into()],
            namespace_globs: vec![Wildcard::parse("team-a").unwrap()],
            clusters: None,
            allow_kinds: Vec::new(),
            service_account: None,
        }
    }

    fn missing(namespace: &str) -> ObjectDrift {
        ObjectDrift {
            key: ObjectKey {
                group: String::new(),
                kind: "ConfigMap".into(),
                namespace: namespace.into(),
                name: "c".into(),
            },
            status: ObjectStatus::Missing,
            decided_by: DecidedBy::Presence,
            fields: Vec::new(),
            diff: String::new(),
            note: None,
            taken: Vec::new(),
        }
    }

    #[test]
    fn a_tenant_whose_objects_did_not_drift_sees_the_cluster_in_sync() {
        let t = tenant();
        let d = ClusterDrift::detected(
            "eu-1",
            Detected {
                in_sync: 3,
                drifted: vec![missing("platform")],
            },
        );
        let seen = View::Tenant(&t).drift(&d);
        assert_eq!(seen.status, ClusterStatus::InSync);
        assert!(seen.objects.is_empty());
        assert_eq!(seen.missing, 0);
        // The platform sees the drift as it is.
        assert_eq!(View::Platform.drift(&d).status, ClusterStatus::Drifted);
        let d = ClusterDrift::detected(
            "eu-1",
            Detected {
                in_sync: 3,
                drifted: vec![missing("platform"), missing("team-a")],
            },
        );
        let seen = View::Tenant(&t).drift(&d);
        assert_eq!((seen.status, seen.missing), (ClusterStatus::Drifted, 1));
        assert!(!View::Nothing.sees_cluster(&ClusterState::new("eu-1", "w")));
    }
}
