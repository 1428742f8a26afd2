//! The markdown writer: reports fit for a pull-request comment.

use std::fmt::Write;

use crate::diff::{ClusterDiff, ClusterOutcome, FleetDiff, ObjectChange};
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

/// The default budget of a pull-request comment, in characters: under
/// GitHub's limit of 65,536 with room for what a CI job adds around it.
pub const DEFAULT_MAX_COMMENT_CHARS: usize = 60_000;

/// The smallest budget [`diff_comment`] accepts (the title, the summary
/// and the truncation note fit in it).
pub const MIN_COMMENT_CHARS: usize = 2_000;

/// How [`diff_comment`] bounds a comment.
#[derive(Clone, Copy, Debug)]
pub struct CommentOptions<'a> {
    /// The most characters (Unicode scalar values) the comment may hold.
    pub max_chars: usize,
    /// Where the full report was written (named in the truncation note).
    pub full_report: Option<&'a str>,
}

impl Default for CommentOptions<'_> {
    fn default() -> Self {
        Self {
            max_chars: DEFAULT_MAX_COMMENT_CHARS,
            full_report: None,
        }
    }
}

/// A comment cut to its budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// The markdown.
    pub text: String,
    /// Whether sections were left out to fit the budget.
    pub truncated: bool,
}

/// The rendered change between two commits, whole: see [`diff_comment`]
/// for the layout. This is the full report `--out-file` keeps.
pub fn diff_markdown(d: &FleetDiff) -> String {
    let parts = diff_parts(d);
    let mut out = parts.head;
    out.push_str(&parts.table.concat());
    for s in &parts.sections {
        out.push_str(&s.text);
    }
    out.push_str(&parts.tail);
    out
}

/// The rendered change between two commits as a pull-request comment: the
/// title, which rollout waves the change reaches, a summary table (one row
/// per cluster, with its wave), then one collapsible section per group of
/// clusters whose changes are identical (shown once, with the list of
/// clusters); an object change already shown for another group is named
/// without its diff again. When the whole exceeds `options.max_chars`, the
/// sections (then table rows) that do not fit are left out and a note says
/// so and where the full report is.
pub fn diff_comment(d: &FleetDiff, options: &CommentOptions<'_>) -> Comment {
    let full = diff_markdown(d);
    let max = options.max_chars.max(MIN_COMMENT_CHARS);
    if full.chars().count() <= max {
        return Comment {
            text: full,
            truncated: false,
        };
    }
    let parts = diff_parts(d);
    let total_changes: usize = parts.sections.iter().map(|s| s.changes).sum();
    // The note's length depends on the counts; reserve its longest form.
    let all = parts.sections.len();
    let reserve = note(
        (all, all),
        (total_changes, total_changes),
        max,
        options.full_report,
    )
    .chars()
    .count()
        + parts.tail.chars().count();
    let mut out = parts.head;
    let mut used = out.chars().count();
    for (i, row) in parts.table.iter().enumerate() {
        let n = row.chars().count();
        // The last table element is the closing blank line: always kept.
        if used + n + reserve + 64 > max && i + 1 < parts.table.len() {
            let rows_left = parts.table.len() - 1 - i;
            let skipped = format!("| … | | | | {rows_left} more clusters not shown | |\n");
            out.push_str(&skipped);
            used += skipped.chars().count();
            out.push('\n');
            break;
        }
        out.push_str(row);
        used += n;
    }
    let (mut shown, mut hidden_sections) = (0, 0);
    for s in &parts.sections {
        let n = s.text.chars().count();
        if used + n + reserve > max {
            hidden_sections += 1;
            continue;
        }
        out.push_str(&s.text);
        used += n;
        shown += s.changes;
    }
    out.push_str(&note(
        (hidden_sections, parts.sections.len()),
        (total_changes - shown, total_changes),
        max,
        options.full_report,
    ));
    out.push_str(&parts.tail);
    Comment {
        text: out,
        truncated: true,
    }
}

/// The note ending a truncated comment.
fn note(
    (hidden_sections, sections): (usize, usize),
    (hidden, total): (usize, usize),
    max: usize,
    full_report: Option<&str>,
) -> String {
    let counts = format!(
        "{hidden_sections} of {sections} sections ({hidden} of {total} object changes) are"
    );
    let where_ = match full_report {
        Some(f) => format!("The full report is in {} (`--out-file`).", code(f)),
        None => "Run `flotilla diff` with `--out-file FILE` to keep the full report.".to_string(),
    };
    format!(
        "> [!NOTE]\n> This comment is truncated to fit {max} characters: {counts} not shown. {where_}\n\n"
    )
}

/// One collapsible section of the comment.
struct Section {
    text: String,
    /// The object changes it shows.
    changes: usize,
}

/// The pieces of the comment, in order.
struct Parts {
    /// Title, warnings, the waves reached.
    head: String,
    /// The summary table: header, one line per cluster, a closing blank
    /// line (empty when there are no clusters).
    table: Vec<String>,
    sections: Vec<Section>,
    /// `No cluster changes.`, when so.
    tail: String,
}

/// `a, b and c`.
fn list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => text(one),
        [init @ .., last] => format!(
            "{} and {}",
            init.iter().map(|n| text(n)).collect::<Vec<_>>().join(", "),
            text(last)
        ),
    }
}

fn diff_parts(d: &FleetDiff) -> Parts {
    let mut head = String::new();
    let _ = writeln!(
        head,
        "### Flotilla: rendered change {} → {}\n",
        code(&d.from),
        code(&d.to)
    );
    // The load errors are sections of their own (after the table), so a
    // long list of them cannot push the comment over its budget.
    let mut load_errors = Vec::new();
    if let Some(e) = &d.to_errors {
        let _ = writeln!(
            head,
            "> [!CAUTION]\n> {} does not load: this change must not merge.\n",
            code(&d.to)
        );
        load_errors.push(Section {
            text: format!("{}\n\n", fenced("text", &e.to_string())),
            changes: 0,
        });
    }
    if let Some(e) = &d.from_errors {
        let _ = writeln!(
            head,
            "> [!WARNING]\n> {} does not load, so every object of {} is shown as added.\n",
            code(&d.from),
            code(&d.to)
        );
        load_errors.push(Section {
            text: format!("{}\n\n", fenced("text", &e.to_string())),
            changes: 0,
        });
    }
    if let Some(line) = waves_line(d) {
        let _ = writeln!(head, "{line}\n");
    }
    let mut table = Vec::new();
    if !d.clusters.is_empty() {
        table.push(
            "| Cluster | Added | Changed | Removed | Status | Wave |\n|---|---:|---:|---:|---|---|\n"
                .to_string(),
        );
        for c in &d.clusters {
            let (a, r, ch) = c.counts();
            table.push(format!(
                "| {} | {a} | {ch} | {r} | {} | {} |\n",
                cell_code(&c.cluster),
                words::revisions_status(c),
                d.wave_of(&c.cluster).map(cell_code).unwrap_or_default()
            ));
        }
        table.push("\n".to_string());
    }
    let mut sections = load_errors;
    sections.extend(groups(d));
    let tail = if !d.has_changes() && !d.to_failed() {
        "No cluster changes.\n".to_string()
    } else {
        String::new()
    };
    Parts {
        head,
        table,
        sections,
        tail,
    }
}

/// `**Reaches waves:** `canary` (1 of 1 clusters), `prod` (7 of 7
/// clusters); not `later` (0 of 2 clusters).`
fn waves_line(d: &FleetDiff) -> Option<String> {
    if d.waves.is_empty() || (!d.has_changes() && !d.to_failed()) {
        return None;
    }
    let wave = |w: &crate::diff::WaveReach| {
        format!(
            "{} ({} of {} clusters)",
            code(&w.name),
            w.changed.len(),
            w.clusters.len()
        )
    };
    let (reached, not): (Vec<_>, Vec<_>) = d.waves.iter().partition(|w| !w.changed.is_empty());
    let mut line = match reached.as_slice() {
        [] => "**Rollout waves reached:** none".to_string(),
        r => format!(
            "**Rollout waves reached:** {}",
            r.iter().map(|w| wave(w)).collect::<Vec<_>>().join(", ")
        ),
    };
    if !not.is_empty() {
        let _ = write!(
            line,
            "; not reached: {}",
            not.iter()
                .map(|w| code(&w.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    line.push('.');
    Some(line)
}

/// One section per group of clusters with identical changes (and errors),
/// in the order of their first cluster.
fn groups(d: &FleetDiff) -> Vec<Section> {
    // Group clusters whose status, errors and changes are all identical.
    let mut groups: Vec<(&ClusterDiff, Vec<&str>)> = Vec::new();
    for c in &d.clusters {
        let errors = cluster_errors(c);
        if c.changes().is_empty() && errors.is_none() {
            continue;
        }
        match groups.iter_mut().find(|(first, _)| {
            words::revisions_status(first) == words::revisions_status(c)
                && cluster_errors(first).map(|e| e.to_string()) == errors.map(|e| e.to_string())
                && first.changes() == c.changes()
        }) {
            Some((_, names)) => names.push(&c.cluster),
            None => groups.push((c, vec![&c.cluster])),
        }
    }
    // An object change shown in an earlier group is named, not repeated.
    let mut shown: Vec<(&ObjectChange, &str)> = Vec::new();
    let mut out = Vec::new();
    for (c, names) in groups {
        let mut s = String::new();
        let who = match names.as_slice() {
            [one] => format!("<b>{}</b>", text(one)),
            many => format!("<b>{}</b> ({} clusters)", list(many), many.len()),
        };
        let _ = writeln!(
            s,
            "<details><summary>{who}: {} ({})</summary>\n",
            words::revisions_status(c),
            words::revisions_counts(c)
        );
        if let Some(errors) = cluster_errors(c) {
            let _ = writeln!(s, "{}\n", fenced("text", &errors.to_string()));
        }
        for o in c.changes() {
            let _ = writeln!(
                s,
                "**{}** {}\n",
                words::object_change(o.change),
                code(&o.key.to_string())
            );
            match shown.iter().find(|(seen, _)| *seen == o) {
                Some((_, on)) => {
                    let _ = writeln!(s, "Same change as on {} above.\n", code(on));
                }
                None => {
                    let _ = writeln!(s, "{}\n", fenced("diff", &o.diff));
                    shown.push((o, names[0]));
                }
            }
        }
        let _ = writeln!(s, "</details>\n");
        out.push(Section {
            text: s,
            changes: c.changes().len() * names.len(),
        });
    }
    out
}

/// The render errors of one cluster, if any.
fn cluster_errors(c: &ClusterDiff) -> Option<&crate::diagnostic::Diagnostics> {
    match &c.outcome {
        ClusterOutcome::ToFailed { errors } | ClusterOutcome::FromFailed { errors, .. } => {
            Some(errors)
        }
        _ => None,
    }
}
