//! The pull agent's wire protocol: plain serde types shared by the hub
//! (which renders and assigns) and `flotilla agent` (which applies and
//! reports), so neither depends on the other. JSON over HTTP/1.1 under
//! [`AGENT_API`] on the hub's listener:
//!
//! - `GET /agent/v1/assignment?cluster=NAME&after=GEN&digest=D`: a long
//!   poll. `200` with an [`Assignment`] as soon as the hub holds one of a
//!   generation above `after`; `204` when none came within the hub's wait.
//! - `POST /agent/v1/report`: one [`AgentReport`]; `204` when recorded.
//!
//! Both carry `Authorization: Bearer TOKEN`, the token of the cluster
//! named (`401` otherwise; a token never opens another cluster).
//!
//! Resuming after a drop needs no replay: the agent asks for generations
//! after the last one it received, and an assignment whose [`digest`]
//! matches what the agent last applied successfully is answered from that
//! result, not applied again.
//!
//! [`digest`]: Assignment::digest

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::changeset::ChangeSet;
use crate::drift::ClusterDrift;
use crate::health::HealthStatus;
use crate::model::ObjectKey;
use crate::render::{DesiredObject, DesiredState};

/// The path prefix of the agent endpoints on the hub.
pub const AGENT_API: &str = "/agent/v1";

/// At most this many events are kept per unhealthy object.
pub const MAX_EVENTS_PER_OBJECT: usize = 5;

/// What one cluster should hold: the hub's rendering at one revision, and
/// how to sync it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// The fleet.
    pub fleet: String,
    /// The cluster.
    pub cluster: String,
    /// Increases with every assignment the hub issues for the cluster.
    pub generation: u64,
    /// The commit rendered.
    pub revision: Option<String>,
    /// The cluster's rollout wave.
    pub wave: String,
    /// A digest of the objects and the policy: the same digest is the same
    /// work.
    pub digest: String,
    /// The desired objects, in apply order.
    pub objects: Vec<AssignedObject>,
    /// How to sync, check and heal.
    pub policy: Policy,
}

/// One desired object and the fields drift checks skip on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedObject {
    /// The object, ready to apply.
    pub object: Value,
    /// JSON pointers the fleet's `ignoreDifferences` skip on it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
    /// The tenant whose files it comes from (`spec.tenants`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The user the agent's writes of it impersonate (the tenant's
    /// `serviceAccount`: `system:serviceaccount:<ns>:<name>`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonate: Option<String>,
}

/// How the agent syncs, checks drift and heals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    /// Delete objects that left Git.
    pub prune: bool,
    /// The largest share of the inventory one round may prune.
    pub max_prune_ratio: f64,
    /// The mass-prune guard's window, in pruning rounds (`spec.pruneWindow`).
    #[serde(default = "default_prune_window")]
    pub prune_window: usize,
    /// Take fields back from other managers when applying the assignment.
    pub force_conflicts: bool,
    /// Correct drift when found.
    pub self_heal: bool,
    /// Take fields back from other managers when healing drift (Git wins,
    /// unless the fleet says `spec.conflicts: fail`).
    #[serde(default = "yes")]
    pub heal_force_conflicts: bool,
    /// Seconds between drift checks (jittered by the agent).
    pub reconcile_interval_secs: u64,
    /// Seconds to wait for health after a sync, reporting on the way.
    pub health_timeout_secs: u64,
}

fn yes() -> bool {
    true
}

fn default_prune_window() -> usize {
    crate::plan::DEFAULT_PRUNE_WINDOW
}

impl Assignment {
    /// The digest of `objects` and `policy` (hex SHA-1 of their JSON).
    pub fn digest_of(objects: &[AssignedObject], policy: &Policy) -> String {
        let text = serde_json::to_string(&(objects, policy)).unwrap_or_default();
        crate::digest::sha1_hex(text.as_bytes())
    }

    /// The desired state it carries, for the engine. Objects without an
    /// identity (which the hub never sends) are left out.
    pub fn desired(&self) -> DesiredState {
        let origin = crate::model::Origin {
            file: std::sync::Arc::from("<hub>"),
            document: 0,
            line: 0,
        };
        DesiredState {
            cluster: self.cluster.clone(),
            objects: self
                .objects
                .iter()
                .filter_map(|o| {
                    Some(DesiredObject {
                        key: ObjectKey::of(&o.object)?,
                        object: o.object.clone(),
                        origin: origin.clone(),
                        tenant: o.tenant.as_deref().map(|name| crate::model::TenantRef {
                            name: std::sync::Arc::from(name),
                            user: o.impersonate.as_deref().map(std::sync::Arc::from),
                        }),
                    })
                })
                .collect(),
        }
    }

    /// The JSON pointers drift checks skip on `key`.
    pub fn ignored(&self, key: &ObjectKey) -> Vec<String> {
        self.objects
            .iter()
            .find(|o| ObjectKey::of(&o.object).as_ref() == Some(key))
            .map(|o| o.ignored.clone())
            .unwrap_or_default()
    }
}

/// What an agent reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportEvent {
    /// It (re)connected: its current state.
    Hello,
    /// It synced an assignment.
    Sync,
    /// It checked drift (and healed, when `sync` is set).
    Drift,
    /// The health of its objects changed.
    Health,
}

/// One report of an agent: what it did and where its cluster stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentReport {
    /// The cluster.
    pub cluster: String,
    /// The agent's report number: increases by one per report, kept across
    /// restarts; the hub drops a report it has seen.
    pub seq: u64,
    /// When it happened, seconds since the Unix epoch (agent clock).
    pub at: u64,
    /// What happened.
    pub event: ReportEvent,
    /// The generation of the assignment the cluster is on (0: none yet).
    pub generation: u64,
    /// That assignment's digest ("" when none).
    pub digest: String,
    /// That assignment's revision.
    pub revision: Option<String>,
    /// The sync this report is about (`Sync`, and `Drift` when it healed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncResult>,
    /// The last drift check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<ClusterDrift>,
    /// The aggregated health of the desired objects.
    pub health: HealthStatus,
    /// Every desired object's health; reasons and events for unhealthy ones.
    #[serde(default)]
    pub objects: Vec<ObjectHealth>,
}

/// The outcome of one sync by an agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncResult {
    /// The typed change set.
    pub changes: ChangeSet,
    /// Whether it succeeded (the wave may go on).
    pub synced: bool,
    /// Whether the cluster's API server could not be reached.
    pub unreachable: bool,
    /// Whether this sync corrected drift (self-heal), not a new assignment.
    #[serde(default)]
    pub heal: bool,
}

/// One managed object's health, with the reason and the latest events of
/// the object when it is not healthy (push and pull alike).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectHealth {
    /// The object.
    pub key: ObjectKey,
    /// Its health.
    pub health: HealthStatus,
    /// Why, when not healthy (the health rule's message).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Its latest Kubernetes events, newest first, at most
    /// [`MAX_EVENTS_PER_OBJECT`]; only for objects not healthy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ObjectEvent>,
}

/// One Kubernetes event of an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectEvent {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's reason (`FailedScheduling`, `BackOff`, ...).
    pub reason: String,
    /// Its message.
    pub message: String,
    /// How often it happened.
    pub count: u64,
    /// When it last happened (RFC 3339, as the server wrote it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_seen: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> Policy {
        Policy {
            prune: true,
            max_prune_ratio: 0.5,
            prune_window: 5,
            force_conflicts: true,
            self_heal: true,
            heal_force_conflicts: true,
            reconcile_interval_secs: 300,
            health_timeout_secs: 600,
        }
    }

    fn cm(name: &str) -> AssignedObject {
        AssignedObject {
            object: json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "demo"}}),
            ignored: vec![],
            tenant: None,
            impersonate: None,
        }
    }

    #[test]
    fn a_report_with_a_change_set_and_drift_round_trips() {
        let mut changes = ChangeSet::new("c1", false);
        changes.push(
            ObjectKey::of(&cm("a").object).unwrap(),
            crate::changeset::Action::Created,
            None,
        );
        let report = AgentReport {
            cluster: "c1".into(),
            seq: 3,
            at: 100,
            event: ReportEvent::Sync,
            generation: 9,
            digest: "d".into(),
            revision: None,
            sync: Some(SyncResult {
                changes,
                synced: true,
                unreachable: false,
                heal: false,
            }),
            drift: Some(ClusterDrift::detected("c1", Default::default())),
            health: HealthStatus::Healthy,
            objects: vec![],
        };
        let text = serde_json::to_string(&report).unwrap();
        let back: AgentReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn the_digest_changes_with_the_objects_and_the_policy() {
        let a = Assignment::digest_of(&[cm("a")], &policy());
        assert_eq!(a, Assignment::digest_of(&[cm("a")], &policy()));
        assert_ne!(a, Assignment::digest_of(&[cm("b")], &policy()));
        let mut p = policy();
        p.prune = false;
        assert_ne!(a, Assignment::digest_of(&[cm("a")], &p));
    }

    #[test]
    fn an_assignment_round_trips_and_gives_its_desired_state_in_order() {
        let objects = vec![cm("b"), cm("a")];
        let a = Assignment {
            fleet: "demo".into(),
            cluster: "c1".into(),
            generation: 7,
            revision: Some("abc".into()),
            wave: "canary".into(),
            digest: Assignment::digest_of(&objects, &policy()),
            objects,
            policy: policy(),
        };
        let back: Assignment = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
        let names: Vec<_> = a
            .desired()
            .objects
            .iter()
            .map(|o| o.key.name.clone())
            .collect();
        assert_eq!(names, ["b", "a"]);
    }
}
