//! Drift: the typed result of comparing a cluster's desired state with what
//! is live there (per object and per cluster), and the pure helpers the
//! engine's diff verb uses to build it. The comparison itself (which needs
//! the cluster) is `flotilla_engine::diff`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::diff::live::{FieldDiff, as_stored};
use crate::diff::{Side, redact_secret, unified_diff};
use crate::model::ObjectKey;

/// The state of one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ObjectStatus {
    /// Live matches desired.
    InSync,
    /// Live differs from desired in the listed fields.
    Modified,
    /// Desired but not on the cluster.
    Missing,
    /// In the inventory, no longer desired, still on the cluster: the next
    /// sync prunes it.
    ToBePruned,
}

impl ObjectStatus {
    /// The words reports use: `in sync`, `modified`, `missing`, `to be pruned`.
    pub fn describe(self) -> &'static str {
        match self {
            ObjectStatus::InSync => "in sync",
            ObjectStatus::Modified => "modified",
            ObjectStatus::Missing => "missing",
            ObjectStatus::ToBePruned => "to be pruned",
        }
    }
}

/// Which comparison decided an object's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DecidedBy {
    /// The field comparison alone (no difference, or no server to ask).
    FirstPass,
    /// A server-side apply dry run.
    DryRun,
    /// Presence alone (missing, or to be pruned).
    Presence,
}

impl DecidedBy {
    /// The words reports use: `field comparison`, `server dry run`, `presence`.
    pub fn describe(self) -> &'static str {
        match self {
            DecidedBy::FirstPass => "field comparison",
            DecidedBy::DryRun => "server dry run",
            DecidedBy::Presence => "presence",
        }
    }
}

/// One object's drift.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectDrift {
    /// The object.
    pub key: ObjectKey,
    /// Its state.
    pub status: ObjectStatus,
    /// Which comparison decided.
    pub decided_by: DecidedBy,
    /// The fields that differ (Modified only); Secret values hidden.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldDiff>,
    /// Unified diff of the compared fields, desired (`+`) against live (`-`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub diff: String,
    /// Why the dry run could not confirm, e.g. the server refuses the change
    /// (an immutable field): then the next sync of this object fails too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Fields Git sets that other field managers took from Flotilla
    /// (`/spec/replicas taken by manager kubectl (Update, subresource
    /// scale)`): the object is drifted even where the values agree, and the
    /// next sync takes them back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taken: Vec<crate::diff::ownership::FieldTaken>,
}

/// Every non-in-sync object of one cluster, and the counts.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detected {
    /// Objects in sync.
    pub in_sync: usize,
    /// Objects that are modified, missing or to be pruned.
    pub drifted: Vec<ObjectDrift>,
}

impl Detected {
    /// This verdict with the objects of `checked` decided again: `fresh` is
    /// the verdict of those objects alone (a check of the objects a watch
    /// saw change), the others keep theirs. `is_checked` tells whether a
    /// key was among those checked.
    pub fn updated(&self, is_checked: impl Fn(&ObjectKey) -> bool, fresh: Detected) -> Detected {
        let desired = |o: &&ObjectDrift| o.status != ObjectStatus::ToBePruned;
        // Desired objects checked again: in sync now or drifted now.
        let checked_now = fresh.in_sync + fresh.drifted.iter().filter(desired).count();
        let drifted_before = self
            .drifted
            .iter()
            .filter(desired)
            .filter(|o| is_checked(&o.key))
            .count();
        let in_sync_before = checked_now.saturating_sub(drifted_before);
        let mut drifted: Vec<ObjectDrift> = self
            .drifted
            .iter()
            .filter(|o| !is_checked(&o.key))
            .cloned()
            .collect();
        drifted.extend(fresh.drifted);
        // Desired objects first (as a whole check lists them), then leftovers.
        drifted.sort_by_key(|o| o.status == ObjectStatus::ToBePruned);
        Detected {
            in_sync: self.in_sync.saturating_sub(in_sync_before) + fresh.in_sync,
            drifted,
        }
    }
}

/// An object without the fields every write changes (for comparing a
/// dry-run result with the live object).
pub fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in ["managedFields", "resourceVersion", "generation"] {
            meta.remove(f);
        }
    }
    v
}

/// The live object restricted to the fields the desired object sets, so a
/// diff shows only what Git says (server defaults and status left out).
fn project(live: &Value, desired: &Value) -> Value {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => Value::Object(
            d.iter()
                .filter_map(|(k, dv)| l.get(k).map(|lv| (k.clone(), project(lv, dv))))
                .collect(),
        ),
        (Value::Array(d), Value::Array(l)) => {
            let named = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_string);
            Value::Array(
                l.iter()
                    .enumerate()
                    .map(|(i, lv)| {
                        let dv = named(lv)
                            .and_then(|n| d.iter().find(|dv| named(dv).as_deref() == Some(&n)))
                            .or_else(|| d.get(i));
                        dv.map_or_else(|| lv.clone(), |dv| project(lv, dv))
                    })
                    .collect(),
            )
        }
        _ => live.clone(),
    }
}

pub fn object_diff(desired: &Value, live: &Value) -> String {
    let desired = if live.get("stringData").is_some() {
        std::borrow::Cow::Borrowed(desired)
    } else {
        as_stored(desired)
    };
    // Quantities and int-or-strings spelled as in Git where they are equal,
    // so the diff shows only what the field list names.
    let projected = crate::diff::normalize::align(&desired, &project(live, &desired));
    let a = crate::yaml::to_string(&redact_secret(&projected, Some(&desired), Side::Before));
    let b = crate::yaml::to_string(&redact_secret(&desired, Some(&projected), Side::After));
    unified_diff(&a, &b, "live", "desired")
}

/// The state of one cluster in a drift report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ClusterStatus {
    /// Every desired object matches.
    InSync,
    /// Some object is modified, missing or to be pruned.
    Drifted,
    /// The cluster could not be read.
    Unreachable,
    /// The cluster's desired state does not render.
    RenderError,
}

impl ClusterStatus {
    /// The words reports use: `InSync`, `Drifted`, `Unreachable`,
    /// `RenderError` (the JSON names too).
    pub fn describe(self) -> &'static str {
        match self {
            ClusterStatus::InSync => "InSync",
            ClusterStatus::Drifted => "Drifted",
            ClusterStatus::Unreachable => "Unreachable",
            ClusterStatus::RenderError => "RenderError",
        }
    }
}

/// One cluster of a drift report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterDrift {
    /// The cluster.
    pub cluster: String,
    /// Its state.
    pub status: ClusterStatus,
    /// Objects in sync.
    pub in_sync: usize,
    /// Objects modified.
    pub modified: usize,
    /// Objects missing.
    pub missing: usize,
    /// Objects to be pruned.
    pub to_be_pruned: usize,
    /// The objects that are not in sync.
    pub objects: Vec<ObjectDrift>,
    /// Why the cluster is Unreachable or a RenderError.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ClusterDrift {
    /// The report of a cluster that was read.
    pub fn detected(cluster: impl Into<String>, d: Detected) -> Self {
        let count = |s| d.drifted.iter().filter(|o| o.status == s).count();
        Self {
            cluster: cluster.into(),
            status: if d.drifted.is_empty() {
                ClusterStatus::InSync
            } else {
                ClusterStatus::Drifted
            },
            in_sync: d.in_sync,
            modified: count(ObjectStatus::Modified),
            missing: count(ObjectStatus::Missing),
            to_be_pruned: count(ObjectStatus::ToBePruned),
            objects: d.drifted,
            error: None,
        }
    }

    /// The report of a cluster that could not be compared.
    pub fn failed(
        cluster: impl Into<String>,
        status: ClusterStatus,
        error: impl Into<String>,
    ) -> Self {
        Self {
            cluster: cluster.into(),
            status,
            in_sync: 0,
            modified: 0,
            missing: 0,
            to_be_pruned: 0,
            objects: Vec::new(),
            error: Some(error.into()),
        }
    }
}

/// The schema identifier of [`DriftReport`]'s JSON form
/// (`docs/drift-report.schema.json`).
pub const DRIFT_REPORT_SCHEMA: &str = "flotilla.dev/drift-report/v1";

/// Drift across the fleet.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport {
    /// Always [`DRIFT_REPORT_SCHEMA`].
    pub schema: &'static str,
    /// The fleet.
    pub fleet: String,
    /// The commit compared against, where known.
    pub revision: Option<String>,
    /// Every cluster asked for, in fleet order.
    pub clusters: Vec<ClusterDrift>,
}

impl DriftReport {
    /// Whether any cluster drifted.
    pub fn has_drift(&self) -> bool {
        self.clusters
            .iter()
            .any(|c| c.status == ClusterStatus::Drifted)
    }

    /// Whether any cluster could not be compared.
    pub fn has_errors(&self) -> bool {
        self.clusters.iter().any(|c| {
            matches!(
                c.status,
                ClusterStatus::Unreachable | ClusterStatus::RenderError
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "demo".into(),
            name: name.into(),
        }
    }

    fn drifted(name: &str, status: ObjectStatus) -> ObjectDrift {
        ObjectDrift {
            key: key(name),
            status,
            decided_by: DecidedBy::Presence,
            fields: Vec::new(),
            diff: String::new(),
            note: None,
            taken: Vec::new(),
        }
    }

    #[test]
    fn a_partial_check_updates_only_the_objects_it_checked() {
        // 10 desired objects: a and b modified, c to be pruned, 8 in sync.
        let before = Detected {
            in_sync: 8,
            drifted: vec![
                drifted("a", ObjectStatus::Modified),
                drifted("b", ObjectStatus::Modified),
                drifted("c", ObjectStatus::ToBePruned),
            ],
        };
        // a was healed, d (in sync before) was deleted by hand, c is gone.
        let checked = ["a", "d", "c"].map(key);
        let fresh = Detected {
            in_sync: 1,
            drifted: vec![drifted("d", ObjectStatus::Missing)],
        };
        let after = before.updated(|k| checked.contains(k), fresh);
        let names: Vec<&str> = after.drifted.iter().map(|o| o.key.name.as_str()).collect();
        assert_eq!(names, ["b", "d"]);
        assert_eq!(after.in_sync, 8, "a back in sync, d out of it");
        // Nothing checked: nothing changes.
        assert_eq!(after.updated(|_| false, Detected::default()), after);
    }
}
