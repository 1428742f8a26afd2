//! What the daemon knows about the fleet, shared between the reconcile loop
//! (which writes it) and the HTTP server (which reads it).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use flotilla_core::changeset::{ChangeSet, Counts};
use flotilla_core::drift::ClusterDrift;
use flotilla_core::health::HealthStatus;
use flotilla_core::model::ObjectKey;
use flotilla_core::model::tenancy::Tenant;
use flotilla_core::snapshot::CommitInfo;

mod objects;
pub use objects::ObjectsHealth;

/// Where a cluster stands in the rollout of the current commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum SyncStatus {
    /// Waiting for its wave.
    Pending,
    /// Being synced now.
    Syncing,
    /// On the current commit.
    Synced,
    /// Its last sync failed; it keeps its last good state.
    Failed,
    /// Not reached; it keeps its last good state.
    Unreachable,
    /// Its desired state does not render at the current commit.
    RenderError,
    /// Not synced because an earlier wave failed or was unhealthy.
    Halted,
}

/// One cluster as the daemon sees it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterState {
    /// The cluster.
    pub name: String,
    /// Its rollout wave.
    pub wave: String,
    /// The commit last synced to it successfully.
    pub revision: Option<String>,
    /// Its rollout status.
    pub status: SyncStatus,
    /// Aggregated health of its objects after the last sync.
    pub health: HealthStatus,
    /// The last drift check.
    pub drift: Option<ClusterDrift>,
    /// What the last sync did, in counts (not each object's action: the
    /// daemon keeps per cluster only what it shows).
    pub last_sync: Option<LastSync>,
    /// When the last successful sync finished.
    #[serde(with = "time_opt")]
    pub last_success: Option<SystemTime>,
    /// When drift was first seen, while it lasts.
    #[serde(with = "time_opt")]
    pub drift_since: Option<SystemTime>,
    /// The last error, if the cluster is not healthy and synced.
    pub last_error: Option<String>,
    /// Its labels in the fleet.
    pub labels: BTreeMap<String, String>,
    /// Whether its health is judged: `false` for a target without status
    /// (a directory), whose objects no controller reports on.
    pub health_judged: bool,
    /// With many replicas (`ha:`): the replica that owns (writes to) the
    /// cluster, from its shard Lease; `None` without HA or while no live
    /// replica holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// With many replicas: the status record its owner last wrote, when
    /// another replica owns it (what this replica's rollout waits on).
    #[serde(skip)]
    pub remote: Option<Record>,
    /// For a pull-mode cluster (`connection: {mode: agent}`): its agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentContact>,
    /// Federated status: each desired object's health, with the reason and
    /// latest events of those not healthy (push and pull alike).
    #[serde(skip)]
    pub objects: ObjectsHealth,
}

/// What the daemon keeps of a cluster's last sync: the counts of its
/// actions and its error, as `/api/v1/fleet` shows them. A whole
/// [`ChangeSet`] names every object (hundreds per cluster), which the
/// daemon never shows again once the sync is logged and counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastSync {
    /// Whether the sync was a dry run.
    pub dry_run: bool,
    /// How many objects each action reached.
    pub counts: Counts,
    /// The failure of the whole cluster, if any.
    pub error: Option<String>,
}

impl From<&ChangeSet> for LastSync {
    fn from(c: &ChangeSet) -> Self {
        Self {
            dry_run: c.dry_run,
            counts: c.counts(),
            error: c.error.clone(),
        }
    }
}

impl From<ChangeSet> for LastSync {
    fn from(c: ChangeSet) -> Self {
        Self::from(&c)
    }
}

/// What the hub knows of a cluster's agent.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentContact {
    /// When the agent last reached the hub (a poll or a report).
    #[serde(with = "time_opt")]
    pub last_contact: Option<SystemTime>,
    /// Whether a long poll of the agent is open now.
    pub connected: bool,
    /// The generation of the last assignment the hub issued.
    pub generation: u64,
    /// The generation the agent last reported being on.
    pub reported_generation: u64,
    /// What the agent reported lately, newest last (bounded): e.g. what it
    /// did while the hub was away.
    pub recent: Vec<String>,
}

impl ClusterState {
    /// A cluster not synced yet.
    pub fn new(name: impl Into<String>, wave: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            wave: wave.into(),
            revision: None,
            status: SyncStatus::Pending,
            health: HealthStatus::Unknown,
            drift: None,
            last_sync: None,
            last_success: None,
            drift_since: None,
            last_error: None,
            labels: BTreeMap::new(),
            health_judged: true,
            owner: None,
            remote: None,
            agent: None,
            objects: ObjectsHealth::default(),
        }
    }

    /// Objects drifted at the last check.
    pub fn drifted_objects(&self) -> usize {
        self.drift.as_ref().map_or(0, |d| d.objects.len())
    }
}

/// The whole fleet.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetState {
    /// The fleet's name (empty until the first commit loads).
    pub fleet: String,
    /// The newest commit seen.
    pub seen_revision: Option<String>,
    /// The commit being rolled out (the last that loaded and rendered).
    pub good_revision: Option<String>,
    /// Why the newest commit is not rolled out, if it is not.
    pub commit_error: Option<String>,
    /// The last Git error, if the last poll failed.
    pub git_error: Option<String>,
    /// When Git was last polled successfully.
    #[serde(with = "time_opt")]
    pub last_poll: Option<SystemTime>,
    /// Every cluster, by name.
    pub clusters: BTreeMap<String, ClusterState>,
    /// Whether the first commit has been read (for /readyz).
    pub ready: bool,
    /// The summary and author of the commit being rolled out.
    pub commit: Option<CommitInfo>,
    /// The rollout waves of that commit, in order.
    pub waves: Vec<String>,
    /// Where the rollout stands and what operators asked of it.
    pub rollout: RolloutControl,
    /// With many replicas (`ha:`): this replica's id; `None` with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// The tenants (`spec.tenants`) of the commit being rolled out: they
    /// scope what tenant tokens see and label the per-object metrics.
    #[serde(skip)]
    pub tenants: Vec<Tenant>,
}

impl FleetState {
    /// The tenant an object is counted for: the first tenant (in
    /// `spec.tenants` order) one of whose namespace globs matches the
    /// object's namespace; `None` (the platform) for cluster-scoped objects
    /// and namespaces of no tenant.
    pub fn tenant_of_object(&self, key: &ObjectKey) -> Option<&Tenant> {
        tenant_of_namespace(&self.tenants, &key.namespace)
    }

    /// The `tenant` metric label of an object: its tenant's name
    /// ([`FleetState::tenant_of_object`]), empty for the platform.
    pub fn tenant_label(&self, key: &ObjectKey) -> String {
        self.tenant_of_object(key)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    }

    /// A tenant by name.
    pub fn tenant(&self, name: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.name == name)
    }
}

/// The first tenant whose namespace globs match `namespace`; `None` for an
/// empty namespace (a cluster-scoped object) or one of no tenant.
pub fn tenant_of_namespace<'a>(tenants: &'a [Tenant], namespace: &str) -> Option<&'a Tenant> {
    if namespace.is_empty() {
        return None;
    }
    tenants.iter().find(|t| t.allows_namespace(namespace))
}

/// The rollout's pause, its last halt, and the operator requests the
/// reconcile loop has not carried out yet (`/api/v1/rollout/*`,
/// `/api/v1/clusters/{name}/sync`).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutControl {
    /// Paused: no new wave starts, no cluster is synced by the rollout or
    /// self-healed, until resumed. Syncs in progress finish.
    pub paused: bool,
    /// Why the last rollout round halted (`wave "canary" failed on cluster
    /// eu-1`), until a round passes every wave.
    pub halt: Option<String>,
    /// A rollout round was asked for (retry, resume).
    #[serde(skip)]
    pub round_requested: bool,
    /// Clusters asked to sync now.
    #[serde(skip)]
    pub sync_requested: std::collections::BTreeSet<String>,
}

/// The state, shared.
pub type SharedState = Arc<RwLock<FleetState>>;

mod time_opt {
    use std::time::{SystemTime, UNIX_EPOCH};

    use serde::Serializer;

    /// Seconds since the Unix epoch, or null.
    pub fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
            Some(d) => s.serialize_u64(d.as_secs()),
            None => s.serialize_none(),
        }
    }
}

/// One cluster's status record, written by its owner for the other
/// replicas' rollouts (many replicas: [`crate::ha`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The commit the owner is rolling out.
    pub target: Option<String>,
    /// The commit last synced to the cluster.
    pub revision: Option<String>,
    /// Its sync status.
    pub status: SyncStatus,
    /// Its health.
    pub health: HealthStatus,
}
