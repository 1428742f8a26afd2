//! The markdown writer: reports fit for a pull-request comment.

use std::fmt::Write;

use crate::diff::{ClusterOutcome, FleetDiff};
use crate::drift::{ClusterStatus, DriftReport};

use super::escape::{cell_code, code, fenced, text};
use super::words;

/// Drift: a status table, then a collapsible section per drifted cluster.
pub fn drift_markdown(r: &DriftReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Flotilla drift: fleet {} at {}\n",
        code(&r.fleet),
        code(r.revision.as_deref().unwrap_or("work tree"))
    );
    let _ = writeln!(
        out,
        "| Cluster | Status | {} |",
        words::drift_count_heads().join(" | ")
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
    for c in &r.clusters {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell_code(&c.cluster),
            words::cluster_status(c.status),
            c.in_sync,
            c.modified,
            c.missing,
            c.to_be_pruned
        );
    }
    let _ = writeln!(out);
    for c in r
        .clusters
        .iter()
        .filter(|c| c.status != ClusterStatus::InSync)
    {
        let _ = writeln!(
            out,
            "<details><summary><b>{}</b>: {}</summary>\n",
            text(&c.cluster),
            words::cluster_status(c.status)
        );
        if let Some(e) = &c.error {
            let _ = writeln!(out, "{}\n", fenced("text", e));
        }
        for o in &c.objects {
            let _ = writeln!(
                out,
                "**{}** {} (decided by {})\n",
                o.status.describe(),
                code(&o.key.to_string()),
                o.decided_by.describe()
            );
            for f in &o.fields {
                let _ = writeln!(
                    out,
                    "- {}: desired {}, live {}",
                    code(&f.path),
                    code(&words::value(&f.desired)),
                    code(&words::value(&f.live))
                );
            }
            for t in &o.taken {
                let mut line = format!(
                    "- {} taken by manager {} ({}",
                    code(&t.path),
                    code(&t.manager),
                    text(&t.operation)
                );
                if let Some(s) = &t.subresource {
                    line.push_str(&format!(", subresource {}", text(s)));
                }
                let _ = writeln!(out, "{line})");
            }
            if let Some(note) = &o.note {
                let _ = writeln!(out, "\n> {}", text(note));
            }
            if !o.diff.is_empty() {
                let _ = writeln!(out, "\n{}", fenced("diff", &o.diff));
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "</details>\n");
    }
    out
}

/// The rendered change between two commits: a summary table first, then one
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
                words::revisions_status(c)
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
        let _ = writeln!(
            out,
            "<details><summary><b>{}</b>: {} ({})</summary>\n",
            text(&c.cluster),
            words::revisions_status(c),
            words::revisions_counts(c)
        );
        if let Some(errors) = errors {
            let _ = writeln!(out, "{}\n", fenced("text", &errors.to_string()));
        }
        for o in c.changes() {
            let _ = writeln!(
                out,
                "**{}** {}\n",
                words::object_change(o.change),
                code(&o.key.to_string())
            );
            let _ = writeln!(out, "{}\n", fenced("diff", &o.diff));
        }
        let _ = writeln!(out, "</details>\n");
    }
    if !d.has_changes() && !d.to_failed() {
        let _ = writeln!(out, "No cluster changes.");
    }
    out
}
