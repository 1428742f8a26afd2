//! Text and markdown forms of a [`FleetDiff`].

use std::fmt::Write;

use super::markdown::{cell_code, code, fenced, text};

use crate::diff::{ClusterDiff, ClusterOutcome, FleetDiff, ObjectChangeKind};

fn status(c: &ClusterDiff) -> &'static str {
    match &c.outcome {
        ClusterOutcome::ToFailed { .. } => "render error in --to",
        ClusterOutcome::FromFailed { .. } => "--from did not render; showing --to",
        ClusterOutcome::ClusterAdded { .. } => "new cluster",
        ClusterOutcome::ClusterRemoved { .. } => "cluster removed",
        ClusterOutcome::Compared { changes } if changes.is_empty() => "no change",
        ClusterOutcome::Compared { .. } => "changed",
    }
}

fn verb(k: ObjectChangeKind) -> &'static str {
    match k {
        ObjectChangeKind::Added => "added",
        ObjectChangeKind::Removed => "removed",
        ObjectChangeKind::Changed => "changed",
    }
}

/// Plain text: a summary line per cluster, then the diffs.
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
        let (a, r, ch) = c.counts();
        let _ = writeln!(
            out,
            "\ncluster {}: {} ({a} added, {ch} changed, {r} removed)",
            c.cluster,
            status(c)
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
            let _ = writeln!(out, "  {} {}", verb(o.change), o.key);
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

/// Markdown for a pull-request comment: a summary table first, then one
/// collapsible section per changed cluster with a diff per object.
pub fn diff_markdown(d: &FleetDiff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Flotilla: rendered change {} → {}\n",
        code(&d.from),
        code(&d.to)
    );
    if let Some(e) = &d.to_errors {
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> {} does not load: this change must not merge.\n\n{}\n",
            code(&d.to),
            fenced("text", &e.to_string())
        );
    }
    if let Some(e) = &d.from_errors {
        let _ = writeln!(
            out,
            "> [!WARNING]\n> {} does not load, so every object of {} is shown as added.\n\n{}\n",
            code(&d.from),
            code(&d.to),
            fenced("text", &e.to_string())
        );
    }
    if !d.clusters.is_empty() {
        let _ = writeln!(out, "| Cluster | Added | Changed | Removed | Status |");
        let _ = writeln!(out, "|---|---:|---:|---:|---|");
        for c in &d.clusters {
            let (a, r, ch) = c.counts();
            let _ = writeln!(
                out,
                "| {} | {a} | {ch} | {r} | {} |",
                cell_code(&c.cluster),
                status(c)
            );
        }
        let _ = writeln!(out);
    }
    for c in &d.clusters {
        let errors = match &c.outcome {
            ClusterOutcome::ToFailed { errors } | ClusterOutcome::FromFailed { errors, .. } => {
                Some(errors)
            }
            _ => None,
        };
        if c.changes().is_empty() && errors.is_none() {
            continue;
        }
        let (a, r, ch) = c.counts();
        let _ = writeln!(
            out,
            "<details><summary><b>{}</b>: {} ({a} added, {ch} changed, {r} removed)</summary>\n",
            text(&c.cluster),
            status(c)
        );
        if let Some(errors) = errors {
            let _ = writeln!(out, "{}\n", fenced("text", &errors.to_string()));
        }
        for o in c.changes() {
            let _ = writeln!(out, "**{}** {}\n", verb(o.change), code(&o.key.to_string()));
            let _ = writeln!(out, "{}\n", fenced("diff", &o.diff));
        }
        let _ = writeln!(out, "</details>\n");
    }
    if !d.has_changes() && !d.to_failed() {
        let _ = writeln!(out, "No cluster changes.");
    }
    out
}
