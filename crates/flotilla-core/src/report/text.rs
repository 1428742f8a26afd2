//! The plain-text writer, for a terminal.

use std::fmt::Write;

use crate::changeset::ChangeSet;
use crate::diff::{ClusterOutcome, FleetDiff};
use crate::drift::DriftReport;

use super::view::Validation;
use super::words;

/// Drift: a line per cluster, then each drifted object with its fields;
/// with `diffs`, the unified diff of each modified object too.
pub fn drift_text(r: &DriftReport, diffs: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Drift of fleet {} at {}",
        r.fleet,
        r.revision.as_deref().unwrap_or("the work tree")
    );
    for c in &r.clusters {
        let _ = write!(out, "\n{}: {}", c.cluster, words::cluster_status(c.status));
        match &c.error {
            Some(e) => {
                let _ = writeln!(out, ": {}", e.replace('\n', "\n  "));
            }
            None => {
                let _ = writeln!(out, " ({})", words::drift_counts(c));
            }
        }
        for o in &c.objects {
            let _ = writeln!(
                out,
                "  {} {} (decided by {})",
                o.status.describe(),
                o.key,
                o.decided_by.describe()
            );
            for f in &o.fields {
                let _ = writeln!(
                    out,
                    "    {}: desired {}, live {}",
                    f.path,
                    words::value(&f.desired),
                    words::value(&f.live)
                );
            }
            for t in &o.taken {
                let _ = writeln!(out, "    {t}");
            }
            if let Some(note) = &o.note {
                let _ = writeln!(out, "    note: {note}");
            }
            if diffs {
                for line in o.diff.lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
    }
    out
}

/// The rendered change between two commits: a summary line per cluster,
/// then the diffs.
pub fn diff_text(d: &FleetDiff) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Rendered change {} -> {}", d.from, d.to);
    if let Some(e) = &d.from_errors {
        let _ = writeln!(out, "\n--from {} does not load:\n{e}", d.from);
    }
    if let Some(e) = &d.to_errors {
        let _ = writeln!(out, "\n--to {} does not load:\n{e}", d.to);
    }
    for c in &d.clusters {
        let _ = writeln!(
            out,
            "\ncluster {}: {} ({})",
            c.cluster,
            words::revisions_status(c),
            words::revisions_counts(c)
        );
        match &c.outcome {
            ClusterOutcome::ToFailed { errors } | ClusterOutcome::FromFailed { errors, .. } => {
                for e in errors.iter() {
                    let _ = writeln!(out, "  error: {e}");
                }
            }
            _ => {}
        }
        for o in c.changes() {
            let _ = writeln!(out, "  {} {}", words::object_change(o.change), o.key);
            for line in o.diff.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    if !d.has_changes() && !d.to_failed() {
        let _ = writeln!(out, "\nNo cluster changes.");
    }
    out
}

/// What a sync did: a line of counts per cluster
/// (`gke-staging: 19 created, 0 configured, ...`), then each object that
/// failed or was skipped, with why; for a dry run, each object that would
/// be created, configured or pruned first (`  would create Deployment.apps shop/web`).
pub fn sync_summary(results: &[ChangeSet]) -> String {
    use crate::changeset::Action;
    let mut out = String::new();
    for r in results {
        let _ = writeln!(out, "{}", words::sync_line(r));
        if r.dry_run {
            for c in r.changes.iter().filter(|c| c.message.is_none()) {
                let verb = match c.action {
                    Action::Created => "would create",
                    Action::Configured => "would configure",
                    Action::Pruned => "would prune",
                    _ => continue,
                };
                let _ = writeln!(out, "  {verb} {}", c.key);
            }
        }
        for c in r.changes.iter().filter(|c| c.message.is_some()) {
            let _ = writeln!(
                out,
                "  {} {}: {}",
                c.action.as_str(),
                c.key,
                c.message.as_deref().unwrap_or("")
            );
        }
        for c in &r.changes {
            for line in c.taken_lines() {
                let _ = writeln!(out, "  {} {}: {line}", c.action.as_str(), c.key);
            }
        }
    }
    out
}

/// `flotilla validate`: every error, then one summary line.
pub fn validation(v: &Validation) -> String {
    let mut out = String::new();
    for e in v.errors.iter() {
        let _ = writeln!(out, "{e}");
    }
    if v.is_valid() {
        let objects: usize = v.clusters.iter().filter_map(|c| c.objects).sum();
        let _ = writeln!(
            out,
            "ok: {} clusters rendered, {objects} objects ({})",
            v.clusters.len(),
            v.revision
        );
    } else {
        let files: std::collections::BTreeSet<_> = v.errors.iter().map(|e| &e.file).collect();
        let _ = writeln!(
            out,
            "{} error{} in {} file{} ({})",
            v.errors.len(),
            if v.errors.len() == 1 { "" } else { "s" },
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            v.revision
        );
    }
    for (note, clusters) in &v.notes {
        let _ = writeln!(out, "note: {note} (clusters {})", clusters.join(", "));
    }
    out
}
