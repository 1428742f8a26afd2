//! Prometheus metrics of the daemon.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use flotilla_core::changeset::ChangeSet;
use flotilla_core::model::ObjectKey;

/// A cluster label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabel {
    /// The cluster's name.
    pub cluster: String,
}

/// A cluster, an action and a tenant label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    /// The cluster's name.
    pub cluster: String,
    /// created, configured, unchanged, pruned, skipped or failed.
    pub action: String,
    /// The tenant the object is counted for (see
    /// [`FleetState::tenant_of_object`](crate::state::FleetState::tenant_of_object));
    /// empty for the platform.
    pub tenant: String,
}

/// A cluster and a tenant label (empty for the platform).
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct TenantLabel {
    /// The cluster's name.
    pub cluster: String,
    /// The tenant's name; empty for the platform.
    pub tenant: String,
}

/// A cluster and a field manager label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ManagerLabel {
    /// The cluster's name.
    pub cluster: String,
    /// The field manager a field was taken back from.
    pub manager: String,
}

/// Every metric the daemon exports.
pub struct Metrics {
    /// The registry `/metrics` encodes.
    pub registry: Registry,
    /// `flotilla_sync_duration_seconds{cluster}`.
    pub sync_duration: Family<ClusterLabel, Histogram>,
    /// `flotilla_objects_total{cluster,action,tenant}`: objects by sync
    /// action.
    pub objects: Family<ActionLabel, Counter>,
    /// `flotilla_drifted_objects{cluster,tenant}`.
    pub drifted: Family<TenantLabel, Gauge>,
    /// `flotilla_last_successful_sync_timestamp_seconds{cluster}`.
    pub last_success: Family<ClusterLabel, Gauge>,
    /// `flotilla_git_poll_errors_total`.
    pub git_poll_errors: Counter,
    /// `flotilla_commit_refused`: 1 while the tracked revision's commit is
    /// refused (not signed by an allowed key), 0 otherwise.
    pub commit_refused: Gauge,
    /// `flotilla_fields_taken_total{cluster,manager}`: fields Git sets that
    /// syncs took back from other field managers.
    pub fields_taken: Family<ManagerLabel, Counter>,
    /// `flotilla_owned_clusters`: with many replicas, the clusters this
    /// replica owns (holds the shard Lease of) now.
    pub owned_clusters: Gauge,
    /// `flotilla_lease_renew_failures_total`: failed reads or renewals of
    /// this replica's Leases.
    pub lease_renew_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("flotilla");
        let sync_duration = Family::<ClusterLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.05, 2.0, 12))
        });
        let objects = Family::<ActionLabel, Counter>::default();
        let drifted = Family::<TenantLabel, Gauge>::default();
        let last_success = Family::<ClusterLabel, Gauge>::default();
        let git_poll_errors = Counter::default();
        let commit_refused = Gauge::default();
        registry.register(
            "commit_refused",
            "1 while the newest commit is refused for its signature (clusters stay on the last verified commit)",
            commit_refused.clone(),
        );
        let fields_taken = Family::<ManagerLabel, Counter>::default();
        registry.register(
            "fields_taken",
            "Fields taken back from other field managers by syncs",
            fields_taken.clone(),
        );
        registry.register(
            "sync_duration_seconds",
            "Time to sync one cluster",
            sync_duration.clone(),
        );
        registry.register("objects", "Objects by sync action", objects.clone());
        registry.register(
            "drifted_objects",
            "Objects drifted from Git at the last check",
            drifted.clone(),
        );
        registry.register(
            "last_successful_sync_timestamp_seconds",
            "Unix time of the last successful sync",
            last_success.clone(),
        );
        registry.register(
            "git_poll_errors",
            "Failed polls of the Git repository",
            git_poll_errors.clone(),
        );
        let owned_clusters = Gauge::default();
        registry.register(
            "owned_clusters",
            "Clusters this replica owns (many replicas: it holds their shard Lease)",
            owned_clusters.clone(),
        );
        let lease_renew_failures = Counter::default();
        registry.register(
            "lease_renew_failures",
            "Failed reads or renewals of this replica's Leases on the hub cluster",
            lease_renew_failures.clone(),
        );
        Self {
            owned_clusters,
            lease_renew_failures,
            registry,
            sync_duration,
            objects,
            drifted,
            last_success,
            git_poll_errors,
            commit_refused,
            fields_taken,
        }
    }
}

impl Metrics {
    /// Records a finished sync; `tenant_of` names the tenant each object
    /// is counted for (empty for the platform).
    pub fn record_sync(
        &self,
        changes: &ChangeSet,
        seconds: f64,
        now_unix: i64,
        tenant_of: &dyn Fn(&ObjectKey) -> String,
    ) {
        let cluster = ClusterLabel {
            cluster: changes.cluster.clone(),
        };
        self.sync_duration.get_or_create(&cluster).observe(seconds);
        for c in &changes.changes {
            self.objects
                .get_or_create(&ActionLabel {
                    cluster: changes.cluster.clone(),
                    action: c.action.as_str().to_string(),
                    tenant: tenant_of(&c.key),
                })
                .inc();
        }
        // The engine logs each object whose fields it took back.
        for (_, taken) in changes.fields_taken() {
            self.fields_taken
                .get_or_create(&ManagerLabel {
                    cluster: changes.cluster.clone(),
                    manager: taken.manager.clone(),
                })
                .inc();
        }
        if !changes.is_failure() {
            self.last_success.get_or_create(&cluster).set(now_unix);
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("encoding metrics into a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flotilla_core::changeset::Action;
    use flotilla_core::diff::ownership::FieldTaken;
    use flotilla_core::model::ObjectKey;

    fn taken(path: &str, manager: &str) -> FieldTaken {
        FieldTaken {
            path: path.into(),
            manager: manager.into(),
            operation: "Update".into(),
            subresource: None,
            api_version: "v1".into(),
        }
    }

    #[test]
    fn fields_taken_back_are_counted_per_cluster_and_manager() {
        let m = Metrics::default();
        let key = |name: &str| ObjectKey {
            group: String::new(),
            kind: "Service".into(),
            namespace: "shop".into(),
            name: name.into(),
        };
        let mut c = ChangeSet::new("eu-1", false);
        c.push_taken(
            key("web"),
            Action::Configured,
            vec![
                taken("/spec/selector", "kubectl"),
                taken("/spec/type", "helm"),
            ],
        );
        c.push_taken(
            key("api"),
            Action::Configured,
            vec![taken("/spec/selector", "kubectl")],
        );
        c.push(key("db"), Action::Unchanged, None);
        m.record_sync(&c, 0.1, 0, &|k: &ObjectKey| {
            if k.name == "db" {
                "team-a".into()
            } else {
                String::new()
            }
        });
        let text = m.encode();
        for line in [
            "flotilla_fields_taken_total{cluster=\"eu-1\",manager=\"kubectl\"} 2",
            "flotilla_fields_taken_total{cluster=\"eu-1\",manager=\"helm\"} 1",
            "flotilla_objects_total{cluster=\"eu-1\",action=\"configured\",tenant=\"\"} 2",
            "flotilla_objects_total{cluster=\"eu-1\",action=\"unchanged\",tenant=\"team-a\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
        }
    }
}
