//! Text and markdown forms of a [`DriftReport`].

use std::fmt::Write;

use super::markdown::{cell_code, code, fenced, text};

use crate::drift::{ClusterDrift, ClusterStatus, DriftReport};

fn status(s: ClusterStatus) -> &'static str {
    match s {
        ClusterStatus::InSync => "InSync",
        ClusterStatus::Drifted => "Drifted",
        ClusterStatus::Unreachable => "Unreachable",
        ClusterStatus::RenderError => "RenderError",
    }
}

fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "(absent)".into(),
        other => other.to_string(),
    }
}

fn counts(c: &ClusterDrift) -> String {
    format!(
        "{} in sync, {} modified, {} missing, {} to be pruned",
        c.in_sync, c.modified, c.missing, c.to_be_pruned
    )
}

/// Plain text: a line per cluster, then each drifted object with its fields;
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
        let _ = write!(out, "\n{}: {}", c.cluster, status(c.status));
        match &c.error {
            Some(e) => {
                let _ = writeln!(out, ": {}", e.replace('\n', "\n  "));
            }
            None => {
                let _ = writeln!(out, " ({})", counts(c));
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
                    value(&f.desired),
                    value(&f.live)
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

/// Markdown: a status table, then a collapsible section per drifted cluster.
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
        "| Cluster | Status | In sync | Modified | Missing | To be pruned |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
    for c in &r.clusters {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell_code(&c.cluster),
            status(c.status),
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
            status(c.status)
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
                    code(&value(&f.desired)),
                    code(&value(&f.live))
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
