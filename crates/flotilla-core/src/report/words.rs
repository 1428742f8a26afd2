//! The words of every report, in one place: text, markdown, HTML (the status
//! page) and the CLI all take them from here, so a status or a count reads the
//! same everywhere. The words of one type live on the type where it has a
//! `describe` (`ObjectStatus`, `DecidedBy`, `ClusterStatus`) or `as_str`
//! (`Action`); this module gathers them and adds the phrases built from them.

use crate::changeset::{Action, ChangeSet, Counts};
use crate::diff::{ClusterDiff, ClusterOutcome, ObjectChangeKind};
use crate::drift::{ClusterDrift, ClusterStatus, ObjectStatus};
use crate::health::HealthStatus;

use super::view::Tone;

/// `InSync`, `Drifted`, `Unreachable`, `RenderError`.
pub fn cluster_status(s: ClusterStatus) -> &'static str {
    s.describe()
}

/// How a cluster's drift status looks on the page.
pub fn cluster_status_tone(s: ClusterStatus) -> Tone {
    match s {
        ClusterStatus::InSync => Tone::Ok,
        ClusterStatus::Drifted => Tone::Warn,
        ClusterStatus::Unreachable | ClusterStatus::RenderError => Tone::Bad,
    }
}

/// `Healthy`, `Unknown`, `Progressing`, `Degraded`, `Missing` (the JSON
/// names too).
pub fn health(h: HealthStatus) -> &'static str {
    match h {
        HealthStatus::Healthy => "Healthy",
        HealthStatus::Unknown => "Unknown",
        HealthStatus::Progressing => "Progressing",
        HealthStatus::Degraded => "Degraded",
        HealthStatus::Missing => "Missing",
    }
}

/// The health shown for a cluster whose health is not judged.
pub const HEALTH_NOT_JUDGED: &str = "not judged";

/// Why, in a tooltip.
pub const HEALTH_NOT_JUDGED_WHY: &str =
    "This target (a directory) reports no status: nothing to judge health by.";

/// How a health status looks on the page.
pub fn health_tone(h: HealthStatus) -> Tone {
    match h {
        HealthStatus::Healthy => Tone::Ok,
        HealthStatus::Unknown => Tone::Muted,
        HealthStatus::Progressing => Tone::Info,
        HealthStatus::Degraded | HealthStatus::Missing => Tone::Bad,
    }
}

/// A JSON value as reports show it; `(absent)` for null.
pub fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "(absent)".into(),
        other => other.to_string(),
    }
}

/// `4 in sync, 1 modified, 1 missing, 0 to be pruned`.
pub fn drift_counts(c: &ClusterDrift) -> String {
    format!(
        "{} {}, {} {}, {} {}, {} {}",
        c.in_sync,
        ObjectStatus::InSync.describe(),
        c.modified,
        ObjectStatus::Modified.describe(),
        c.missing,
        ObjectStatus::Missing.describe(),
        c.to_be_pruned,
        ObjectStatus::ToBePruned.describe()
    )
}

/// The column heads of the drift counts: `In sync`, `Modified`, `Missing`,
/// `To be pruned`.
pub fn drift_count_heads() -> [String; 4] {
    [
        ObjectStatus::InSync,
        ObjectStatus::Modified,
        ObjectStatus::Missing,
        ObjectStatus::ToBePruned,
    ]
    .map(|s| capitalised(s.describe()))
}

/// `s` with its first letter upper case.
fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `2 created, 1 configured, 40 unchanged, 1 pruned, 0 failed`, then
/// `, 3 skipped` when some were.
pub fn sync_counts(c: &Counts) -> String {
    let mut out = [
        (c.created, Action::Created),
        (c.configured, Action::Configured),
        (c.unchanged, Action::Unchanged),
        (c.pruned, Action::Pruned),
        (c.failed, Action::Failed),
    ]
    .map(|(n, a)| format!("{n} {}", a.as_str()))
    .join(", ");
    if c.skipped > 0 {
        out.push_str(&format!(", {} {}", c.skipped, Action::Skipped.as_str()));
    }
    out
}

/// The summary line of one cluster's sync:
/// `eu-1: 2 created, 1 configured, 40 unchanged, 1 pruned, 0 failed`, then
/// ` (dry run)` and `; error: ...` where they apply.
pub fn sync_line(cs: &ChangeSet) -> String {
    let mut out = format!("{}: {}", cs.cluster, sync_counts(&cs.counts()));
    if cs.dry_run {
        out.push_str(" (dry run)");
    }
    if let Some(e) = &cs.error {
        out.push_str("; error: ");
        out.push_str(e);
    }
    out
}

/// How one cluster of a revisions diff came out: `no change`, `changed`,
/// `new cluster`, ...
pub fn revisions_status(c: &ClusterDiff) -> &'static str {
    match &c.outcome {
        ClusterOutcome::ToFailed { .. } => "render error in --to",
        ClusterOutcome::FromFailed { .. } => "--from did not render; showing --to",
        ClusterOutcome::ClusterAdded { .. } => "new cluster",
        ClusterOutcome::ClusterRemoved { .. } => "cluster removed",
        ClusterOutcome::Compared { changes } if changes.is_empty() => "no change",
        ClusterOutcome::Compared { .. } => "changed",
    }
}

/// `added`, `removed`, `changed`.
pub fn object_change(k: ObjectChangeKind) -> &'static str {
    match k {
        ObjectChangeKind::Added => "added",
        ObjectChangeKind::Removed => "removed",
        ObjectChangeKind::Changed => "changed",
    }
}

/// `1 added, 2 changed, 0 removed`.
pub fn revisions_counts(c: &ClusterDiff) -> String {
    let (a, r, ch) = c.counts();
    format!(
        "{a} {}, {ch} {}, {r} {}",
        object_change(ObjectChangeKind::Added),
        object_change(ObjectChangeKind::Changed),
        object_change(ObjectChangeKind::Removed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ObjectKey;

    #[test]
    fn drift_heads_are_the_drift_words() {
        assert_eq!(
            drift_count_heads(),
            ["In sync", "Modified", "Missing", "To be pruned"]
        );
    }

    #[test]
    fn sync_line_names_every_count() {
        let mut cs = ChangeSet::new("eu-1", true);
        let key = ObjectKey {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "shop".into(),
            name: "c".into(),
        };
        cs.push(key.clone(), Action::Created, None);
        cs.push(key, Action::Skipped, Some("mass prune".into()));
        assert_eq!(
            sync_line(&cs),
            "eu-1: 1 created, 0 configured, 0 unchanged, 0 pruned, 0 failed, 1 skipped (dry run)"
        );
    }
}
