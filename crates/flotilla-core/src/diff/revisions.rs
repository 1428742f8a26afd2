//! The rendered change between two commits: per cluster, the objects added,
//! removed and changed, each with a unified diff of its YAML.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::text::{Side, redact_secret, unified_diff};
use crate::diagnostic::Diagnostics;
use crate::model::{Fleet, ObjectKey};
use crate::render::{DesiredState, render_cluster};

/// How an object differs between the two commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectChangeKind {
    /// Only in `--to`.
    Added,
    /// Only in `--from`.
    Removed,
    /// In both, with different content.
    Changed,
}

/// One object that differs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ObjectChange {
    /// Its identity.
    pub key: ObjectKey,
    /// How it differs.
    pub change: ObjectChangeKind,
    /// Unified diff of its YAML (Secret values hidden).
    pub diff: String,
}

/// What happened to one cluster between the two commits.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum ClusterOutcome {
    /// Both commits rendered; these objects differ (possibly none).
    Compared {
        /// The differing objects, in render order of `--to` then removals.
        changes: Vec<ObjectChange>,
    },
    /// The cluster is new in `--to`; every object is added.
    ClusterAdded {
        /// Its objects, all added.
        changes: Vec<ObjectChange>,
    },
    /// The cluster left the fleet in `--to`; every object would go.
    ClusterRemoved {
        /// Its objects, all removed.
        changes: Vec<ObjectChange>,
    },
    /// `--from` did not render for this cluster; `--to` did, and every
    /// object of `--to` is shown as added.
    FromFailed {
        /// Why `--from` failed.
        errors: Diagnostics,
        /// The objects of `--to`.
        changes: Vec<ObjectChange>,
    },
    /// `--to` did not render for this cluster: the change must not land.
    ToFailed {
        /// Why `--to` failed.
        errors: Diagnostics,
    },
}

/// One cluster's part of the diff.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterDiff {
    /// The cluster's name.
    pub cluster: String,
    /// What changed.
    #[serde(flatten)]
    pub outcome: ClusterOutcome,
}

impl ClusterDiff {
    /// The object changes of this cluster (none where `--to` failed).
    pub fn changes(&self) -> &[ObjectChange] {
        match &self.outcome {
            ClusterOutcome::Compared { changes }
            | ClusterOutcome::ClusterAdded { changes }
            | ClusterOutcome::ClusterRemoved { changes }
            | ClusterOutcome::FromFailed { changes, .. } => changes,
            ClusterOutcome::ToFailed { .. } => &[],
        }
    }

    /// Counts of added, removed and changed objects.
    pub fn counts(&self) -> (usize, usize, usize) {
        let c = self.changes();
        let n = |k| c.iter().filter(|o| o.change == k).count();
        (
            n(ObjectChangeKind::Added),
            n(ObjectChangeKind::Removed),
            n(ObjectChangeKind::Changed),
        )
    }
}

/// The rendered change of the whole fleet between two commits.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetDiff {
    /// The `--from` revision as given, and the commit it resolved to.
    pub from: String,
    /// The `--to` revision as given, and the commit it resolved to.
    pub to: String,
    /// Why the whole fleet failed to load at `--from`, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_errors: Option<Diagnostics>,
    /// Why the whole fleet failed to load at `--to`, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_errors: Option<Diagnostics>,
    /// Every cluster of either commit, in `--to`'s fleet order then removed ones.
    pub clusters: Vec<ClusterDiff>,
    /// The rollout waves of `--to` (of `--from` when `--to` does not load),
    /// each with the clusters the change reaches there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<WaveReach>,
}

/// How far a change reaches into one rollout wave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WaveReach {
    /// The wave's name.
    pub name: String,
    /// Every cluster of the wave, in wave order.
    pub clusters: Vec<String>,
    /// The clusters of the wave the change reaches (objects differ, or
    /// `--to` does not render there), in wave order.
    pub changed: Vec<String>,
}

impl FleetDiff {
    /// The wave of `cluster`, if the waves name it.
    pub fn wave_of(&self, cluster: &str) -> Option<&str> {
        self.waves
            .iter()
            .find(|w| w.clusters.iter().any(|c| c == cluster))
            .map(|w| w.name.as_str())
    }
}

impl FleetDiff {
    /// Whether any object of any cluster differs.
    pub fn has_changes(&self) -> bool {
        self.clusters.iter().any(|c| !c.changes().is_empty())
    }

    /// Whether `--to` failed to load or render anywhere.
    pub fn to_failed(&self) -> bool {
        self.to_errors.is_some()
            || self
                .clusters
                .iter()
                .any(|c| matches!(c.outcome, ClusterOutcome::ToFailed { .. }))
    }
}

/// Renders both fleets and compares them cluster by cluster.
pub fn diff_fleets(
    from_label: &str,
    from: Result<&Fleet, &Diagnostics>,
    to_label: &str,
    to: Result<&Fleet, &Diagnostics>,
) -> FleetDiff {
    // One cluster at a time: both renders of a cluster are compared, then
    // dropped (peak memory is the two fleets plus the largest cluster).
    let render_from = |name: &str| -> Option<Result<DesiredState, Diagnostics>> {
        let fleet = from.ok()?;
        let cluster = fleet.cluster(name)?;
        Some(render_cluster(fleet, cluster))
    };
    let from_loaded = from.is_ok();

    let mut clusters = Vec::new();
    if let Ok(to_fleet) = to {
        for cluster in &to_fleet.clusters {
            let name = &cluster.name;
            let to_state = render_cluster(to_fleet, cluster);
            let outcome = match (&to_state, render_from(name)) {
                (Err(e), _) => ClusterOutcome::ToFailed { errors: e.clone() },
                (Ok(b), Some(Ok(a))) => ClusterOutcome::Compared {
                    changes: compare(Some(&a), b),
                },
                (Ok(b), Some(Err(e))) => ClusterOutcome::FromFailed {
                    errors: e,
                    changes: compare(None, b),
                },
                (Ok(b), None) if from_loaded => ClusterOutcome::ClusterAdded {
                    changes: compare(None, b),
                },
                (Ok(b), None) => ClusterOutcome::FromFailed {
                    errors: from.err().cloned().unwrap_or_default(),
                    changes: compare(None, b),
                },
            };
            clusters.push(ClusterDiff {
                cluster: name.clone(),
                outcome,
            });
        }
        if let Ok(from_fleet) = from {
            for cluster in &from_fleet.clusters {
                if to_fleet.cluster(&cluster.name).is_some() {
                    continue;
                }
                if let Ok(state) = render_cluster(from_fleet, cluster) {
                    let changes = state
                        .objects
                        .iter()
                        .map(|o| change(&o.key, Some(&o.object), None))
                        .collect();
                    clusters.push(ClusterDiff {
                        cluster: cluster.name.clone(),
                        outcome: ClusterOutcome::ClusterRemoved { changes },
                    });
                }
            }
        }
    }
    let waves = match to.ok().or(from.ok()) {
        Some(fleet) => fleet
            .rollout
            .waves
            .iter()
            .map(|w| WaveReach {
                name: w.name.clone(),
                clusters: w.clusters.clone(),
                changed: w
                    .clusters
                    .iter()
                    .filter(|name| {
                        clusters.iter().any(|c| {
                            &c.cluster == *name
                                && (!c.changes().is_empty()
                                    || matches!(c.outcome, ClusterOutcome::ToFailed { .. }))
                        })
                    })
                    .cloned()
                    .collect(),
            })
            .collect(),
        None => Vec::new(),
    };
    FleetDiff {
        from: from_label.to_string(),
        to: to_label.to_string(),
        from_errors: from.err().cloned(),
        to_errors: to.err().cloned(),
        clusters,
        waves,
    }
}

/// The objects that differ between two renders of one cluster.
fn compare(from: Option<&DesiredState>, to: &DesiredState) -> Vec<ObjectChange> {
    let before: BTreeMap<&ObjectKey, &Value> = from
        .map(|s| s.objects.iter().map(|o| (&o.key, &o.object)).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for o in &to.objects {
        match before.get(&o.key) {
            Some(old) if *old == &o.object => {}
            old => out.push(change(&o.key, old.copied(), Some(&o.object))),
        }
    }
    if let Some(from) = from {
        let after: std::collections::HashSet<&ObjectKey> =
            to.objects.iter().map(|o| &o.key).collect();
        for o in &from.objects {
            if !after.contains(&o.key) {
                out.push(change(&o.key, Some(&o.object), None));
            }
        }
    }
    out
}

fn change(key: &ObjectKey, old: Option<&Value>, new: Option<&Value>) -> ObjectChange {
    let text = |v: Option<&Value>, other: Option<&Value>, side| {
        v.map(|v| crate::yaml::to_string(&redact_secret(v, other, side)))
            .unwrap_or_default()
    };
    let kind = match (old, new) {
        (None, _) => ObjectChangeKind::Added,
        (_, None) => ObjectChangeKind::Removed,
        _ => ObjectChangeKind::Changed,
    };
    let label = key.file_name();
    ObjectChange {
        key: key.clone(),
        change: kind,
        diff: unified_diff(
            &text(old, new, Side::Before),
            &text(new, old, Side::After),
            &format!("a/{label}"),
            &format!("b/{label}"),
        ),
    }
}
