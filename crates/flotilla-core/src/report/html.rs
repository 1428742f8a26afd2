//! The HTML writer: the daemon's status page, plain HTML with inline CSS,
//! no JavaScript, no outside resources. Every string from a view is escaped.
//! Statuses and counts use the words of [`super::words`], like every other
//! format.

use std::fmt::Write;
use std::time::SystemTime;

use crate::drift::{ClusterDrift, ClusterStatus, ObjectDrift};

use super::view::{ClusterRow, StatusPage, Tone};
use super::words;

/// `s` with `& < > " '` replaced by character references, safe in element
/// content and in quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` percent-encoded for a URL path segment (all but unreserved bytes).
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

const STYLE: &str = r#"
:root { color-scheme: light; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --info: #0969da;
  --muted: #6e7781; --line: #d0d7de; --bg2: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
  color: #1f2328; background: #fff; }
header { background: #24292f; color: #fff; padding: 12px 24px; }
header h1 { margin: 0; font-size: 20px; font-weight: 600; }
header h1 .fleet { color: #8ddb8c; }
main { padding: 8px 24px 24px; }
h2 { font-size: 16px; margin: 20px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; margin: 12px 0; }
dl.summary dt { color: var(--muted); }
dl.summary dd { margin: 0; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--bg2); font-weight: 600; white-space: nowrap; }
.time .mono { white-space: nowrap; }
.scroll { overflow-x: auto; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num.nonzero { color: var(--warn); font-weight: 600; }
td.err { color: var(--bad); max-width: 380px; white-space: pre-wrap; word-break: break-word; }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; font-weight: 600;
  border: 1px solid currentColor; white-space: nowrap; }
.ok { color: var(--ok); } .warn { color: var(--warn); } .bad { color: var(--bad); }
.info { color: var(--info); } .muted { color: var(--muted); }
.banner { border: 1px solid var(--bad); background: #ffebe9; padding: 8px 12px; border-radius: 6px;
  margin: 8px 0; white-space: pre-wrap; }
details { border: 1px solid var(--line); border-radius: 6px; margin: 8px 0; padding: 0 12px; }
details[open] { padding-bottom: 12px; }
summary { cursor: pointer; padding: 8px 0; }
.object h3 { font-size: 14px; margin: 14px 0 6px; font-weight: 600; }
.object h3 small { color: var(--muted); font-weight: normal; }
table.fields { width: auto; min-width: 50%; }
pre { background: var(--bg2); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
  overflow-x: auto; margin: 6px 0; }
pre .add { color: #116329; background: #dafbe1; }
pre .del { color: #82071e; background: #ffebe9; }
pre .hunk { color: var(--info); }
pre .hdr { color: var(--muted); }
section.rollout { border: 1px solid var(--line); border-radius: 6px; padding: 4px 16px 12px; margin: 16px 0; }
section.rollout h2 { border: 0; margin: 10px 0 6px; display: flex; gap: 10px; align-items: center; }
.commit { margin: 4px 0 10px; }
.commit .subject { font-weight: 600; }
.banner.warn { border-color: var(--warn); background: #fff8c5; }
table#waves { width: auto; min-width: 60%; margin: 8px 0; }
.rev-target { color: var(--ok); } .rev-other { color: var(--warn); font-weight: 600; }
tr.wave-head th { background: #eaeef2; font-size: 13px; text-align: left; }
tr.wave-head th .muted { font-weight: normal; }
td.cluster { min-width: 200px; }
#matrix th, #matrix td { padding: 5px 6px; }
td.num.muted[colspan] { text-align: center; }
.labels { margin-top: 3px; display: flex; flex-wrap: wrap; gap: 3px; }
.label { font-size: 11px; background: var(--bg2); border: 1px solid var(--line); border-radius: 4px;
  padding: 0 4px; color: #57606a; white-space: nowrap; }
.actions { display: flex; gap: 8px; align-items: center; margin-top: 8px; flex-wrap: wrap; }
form.inline { display: inline; margin: 0; }
button { font: inherit; font-size: 13px; padding: 3px 10px; border-radius: 6px; border: 1px solid var(--line);
  background: var(--bg2); cursor: pointer; white-space: nowrap; }
button.primary { background: #1f883d; border-color: #1a7f37; color: #fff; }
button.danger { color: var(--bad); }
button:disabled { cursor: not-allowed; opacity: 0.5; }
footer { color: var(--muted); padding: 12px 24px; border-top: 1px solid var(--line); font-size: 12px; }
a { color: var(--info); }
"#;

/// The CSS class of a tone.
fn class(t: Tone) -> &'static str {
    match t {
        Tone::Ok => "ok",
        Tone::Info => "info",
        Tone::Warn => "warn",
        Tone::Bad => "bad",
        Tone::Muted => "muted",
    }
}

/// A badge: the word, escaped, in its tone.
fn badge(word: &str, tone: Tone) -> String {
    format!(
        r#"<span class="badge {}">{}</span>"#,
        class(tone),
        escape(word)
    )
}

/// How long before `now` `t` was: `42s`, `3m`, `2h 5m`, `4d`.
fn age(t: SystemTime, now: SystemTime) -> String {
    let s = now.duration_since(t).map_or(0, |d| d.as_secs());
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d", s / 86400),
    }
}

/// `2024-05-01T12:00:00Z (3m ago)`, or `never`.
fn when(t: Option<SystemTime>, now: SystemTime) -> String {
    let Some(t) = t else {
        return r#"<span class="muted">never</span>"#.to_string();
    };
    format!(
        r#"<span class="time"><span class="mono">{stamp}</span> <span class="muted">({age} ago)</span></span>"#,
        stamp = escape(&humantime::format_rfc3339_seconds(t).to_string()),
        age = escape(&age(t, now)),
    )
}

/// `3m ago`, the time itself in a tooltip; or `never`.
fn ago(t: Option<SystemTime>, now: SystemTime) -> String {
    let Some(t) = t else {
        return r#"<span class="muted">never</span>"#.to_string();
    };
    format!(
        r#"<span class="time" title="{stamp}">{age} ago</span>"#,
        stamp = escape(&humantime::format_rfc3339_seconds(t).to_string()),
        age = escape(&age(t, now)),
    )
}

/// A revision: its first 7 characters, the whole in a tooltip.
fn short_revision(r: Option<&str>) -> String {
    match r {
        Some(r) => format!(
            r#"<code title="{}">{}</code>"#,
            escape(r),
            escape(&r.chars().take(7).collect::<String>())
        ),
        None => r#"<span class="muted">none</span>"#.to_string(),
    }
}

/// The daemon's status page: a summary of the fleet, the fleet x cluster
/// matrix, and the drift of every cluster not in sync.
pub fn status_page(s: &StatusPage<'_>) -> String {
    let now = s.now;
    let mut out = String::with_capacity(8 * 1024);
    let fleet = if s.fleet.is_empty() {
        "(no commit loaded yet)".to_string()
    } else {
        escape(s.fleet)
    };
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="10">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Flotilla: {fleet}</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>Flotilla fleet <span class="fleet">{fleet}</span></h1></header>
<main>
"#
    );
    rollout_header(&mut out, s);
    let _ = write!(
        out,
        r#"<dl class="summary">
<dt>Ready</dt><dd>{ready}</dd>
<dt>Newest revision seen</dt><dd>{seen}</dd>
<dt>Last Git poll</dt><dd>{poll}</dd>
</dl>
"#,
        ready = if s.ready {
            r#"<span class="badge ok">ready</span>"#
        } else {
            r#"<span class="badge warn">not ready</span>"#
        },
        seen = short_revision(s.seen_revision),
        poll = when(s.last_poll, now),
    );
    if let Some(e) = s.commit_error {
        let _ = writeln!(
            out,
            r#"<div class="banner" id="commit-error"><b>The newest commit is not rolled out:</b> {}</div>"#,
            escape(e)
        );
    }
    if let Some(e) = s.git_error {
        let _ = writeln!(
            out,
            r#"<div class="banner" id="git-error"><b>Polling Git failed:</b> {}</div>"#,
            escape(e)
        );
    }
    matrix(&mut out, s, now);
    let drifted: Vec<(&ClusterRow<'_>, &ClusterDrift)> = s
        .clusters
        .iter()
        .filter_map(|c| c.drift.map(|d| (c, d)))
        .filter(|(_, d)| d.status != ClusterStatus::InSync)
        .collect();
    if !drifted.is_empty() {
        let _ = writeln!(out, "<h2>Drift</h2>");
        for (c, d) in drifted {
            drift_details(&mut out, c, d, now);
        }
    }
    let _ = write!(
        out,
        r#"</main>
<footer>Rendered {now} · refreshes every 10 s ·
<a href="/api/v1/fleet">/api/v1/fleet</a> · <a href="/metrics">/metrics</a> ·
<a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a></footer>
</body>
</html>
"#,
        now = escape(&humantime::format_rfc3339_seconds(now).to_string()),
    );
    out
}

/// Where the rollout stands, in a word and a tone.
fn rollout_state(s: &StatusPage<'_>) -> (&'static str, Tone) {
    let on_target = |c: &ClusterRow<'_>| {
        c.revision.is_some() && c.revision == s.good_revision && c.status.tone == Tone::Ok
    };
    if s.paused {
        ("Paused", Tone::Warn)
    } else if s.halt.is_some() {
        ("Halted", Tone::Bad)
    } else if s.clusters.is_empty() || s.good_revision.is_none() {
        ("Waiting", Tone::Muted)
    } else if s.clusters.iter().all(on_target) {
        ("Complete", Tone::Ok)
    } else {
        ("In progress", Tone::Info)
    }
}

/// The waves in page order: the fleet's, then any a cluster names that the
/// fleet's list does not (a cluster shown before the first commit loads).
fn wave_order<'a>(s: &StatusPage<'a>) -> Vec<&'a str> {
    let mut waves: Vec<&str> = s.waves.clone();
    for c in &s.clusters {
        if !waves.contains(&c.wave) {
            waves.push(c.wave);
        }
    }
    waves
}

/// `<code>abc1234</code> ×3`, for each revision the clusters are on, the
/// target's first.
fn revisions_of(clusters: &[&ClusterRow<'_>], target: Option<&str>) -> String {
    let mut counts: Vec<(Option<&str>, usize)> = Vec::new();
    for c in clusters {
        match counts.iter_mut().find(|(r, _)| *r == c.revision) {
            Some((_, n)) => *n += 1,
            None => counts.push((c.revision, 1)),
        }
    }
    counts.sort_by_key(|(r, _)| (*r != target || r.is_none(), r.is_none()));
    counts
        .iter()
        .map(|(r, n)| {
            let class = if r.is_some() && *r == target {
                "rev-target"
            } else {
                "rev-other"
            };
            format!(
                r#"<span class="{class}">{}</span> ×{n}"#,
                short_revision(*r)
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// `2 Synced, 1 Halted`: the statuses of some clusters, counted.
fn statuses_of(clusters: &[&ClusterRow<'_>]) -> String {
    let mut counts: Vec<(super::view::Badge, usize)> = Vec::new();
    for c in clusters {
        match counts.iter_mut().find(|(b, _)| *b == c.status) {
            Some((_, n)) => *n += 1,
            None => counts.push((c.status, 1)),
        }
    }
    counts
        .iter()
        .map(|(b, n)| format!(r#"{n} {}"#, badge(b.word, b.tone)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A POST button (a form with no fields: the cookie carries the session).
fn action_button(path: &str, label: &str, class: &str, disabled: Option<&str>) -> String {
    let (attr, title) = match disabled {
        Some(why) => (" disabled", format!(r#" title="{}""#, escape(why))),
        None => ("", String::new()),
    };
    format!(
        r#"<form class="inline" method="post" action="{path}"><button type="submit" class="{class}"{attr}{title}>{}</button></form>"#,
        escape(label)
    )
}

/// The rollout header: its state, the commit being rolled out (summary,
/// author), why it halted, the revisions of each wave, and the actions.
fn rollout_header(out: &mut String, s: &StatusPage<'_>) {
    let (word, tone) = rollout_state(s);
    let _ = writeln!(
        out,
        r#"<section class="rollout" id="rollout"><h2>Rollout {}</h2>"#,
        badge(word, tone)
    );
    match s.good_revision {
        Some(rev) => {
            let _ = write!(
                out,
                r#"<p class="commit">Target revision {}"#,
                short_revision(Some(rev))
            );
            if let Some(summary) = s.commit_summary {
                let _ = write!(out, r#" <span class="subject">{}</span>"#, escape(summary));
            }
            if let Some(author) = s.commit_author {
                let _ = write!(out, r#" by <span class="author">{}</span>"#, escape(author));
            }
            let on = s
                .clusters
                .iter()
                .filter(|c| c.revision == Some(rev))
                .count();
            let _ = writeln!(
                out,
                r#" · <span id="on-target">{on} of {} clusters on it</span></p>"#,
                s.clusters.len()
            );
        }
        None => {
            let _ = writeln!(
                out,
                r#"<p class="commit muted">No commit rolled out yet.</p>"#
            );
        }
    }
    if let Some(halt) = s.halt {
        let _ = writeln!(
            out,
            r#"<div class="banner" id="halt"><b>Halted:</b> {}. The later waves keep their last good state until a retry or the next round passes.</div>"#,
            escape(halt)
        );
    }
    if s.paused {
        let _ = writeln!(
            out,
            r#"<div class="banner warn" id="paused"><b>Paused by an operator:</b> no new wave starts, no cluster is synced by the rollout or self-healed, until resumed.</div>"#
        );
    }
    let waves = wave_order(s);
    if !waves.is_empty() && !s.clusters.is_empty() {
        let _ = writeln!(
            out,
            r#"<table id="waves"><thead><tr><th>Wave</th><th>Clusters</th><th>Revisions</th><th>Status</th></tr></thead><tbody>"#
        );
        for w in &waves {
            let members: Vec<&ClusterRow<'_>> =
                s.clusters.iter().filter(|c| c.wave == *w).collect();
            let _ = writeln!(
                out,
                r#"<tr id="wave-{id}"><td><b>{name}</b></td><td class="num">{n}</td><td>{revs}</td><td>{statuses}</td></tr>"#,
                id = escape(&path_segment(w)),
                name = escape(w),
                n = members.len(),
                revs = if members.is_empty() {
                    String::new()
                } else {
                    revisions_of(&members, s.good_revision)
                },
                statuses = statuses_of(&members),
            );
        }
        let _ = writeln!(out, "</tbody></table>");
    }
    if s.can_operate {
        let _ = write!(out, r#"<div class="actions" id="actions">"#);
        if s.paused {
            out.push_str(&action_button(
                "/api/v1/rollout/resume",
                "Resume rollout",
                "primary",
                None,
            ));
        } else {
            out.push_str(&action_button(
                "/api/v1/rollout/pause",
                "Pause rollout",
                "",
                None,
            ));
        }
        let failed = s.halt.is_some()
            || s.clusters
                .iter()
                .any(|c| matches!(c.status.tone, Tone::Warn | Tone::Bad));
        let retry_blocked = if s.paused {
            Some("The rollout is paused: resume it instead.")
        } else if !failed {
            Some("Nothing to retry: the rollout is not halted and no cluster failed.")
        } else {
            None
        };
        out.push_str(&action_button(
            "/api/v1/rollout/retry",
            "Retry rollout",
            "danger",
            retry_blocked,
        ));
        let _ = writeln!(out, "</div>");
    } else {
        let _ = writeln!(
            out,
            r#"<p class="muted" id="read-only">Read only: pausing, retrying and syncing need a token with the operate role.</p>"#
        );
    }
    let _ = writeln!(out, "</section>");
}

/// The fleet x cluster table, grouped by wave in rollout order.
fn matrix(out: &mut String, s: &StatusPage<'_>, now: SystemTime) {
    let _ = writeln!(out, "<h2>Clusters</h2>");
    if s.clusters.is_empty() {
        let _ = writeln!(out, r#"<p class="muted">No clusters yet.</p>"#);
        return;
    }
    let columns = 12 + usize::from(s.can_operate);
    let _ = writeln!(
        out,
        r#"<div class="scroll"><table id="matrix">
<thead><tr><th>Cluster</th><th>Revision</th><th>Status</th><th>Health</th><th>Drift</th>{}<th>Last success</th><th>Last error</th>{}</tr></thead>"#,
        words::drift_count_heads()
            .iter()
            .map(|h| format!("<th>{}</th>", escape(h)))
            .collect::<String>(),
        if s.can_operate {
            "<th>Actions</th>"
        } else {
            ""
        },
    );
    for w in wave_order(s) {
        let members: Vec<&ClusterRow<'_>> = s.clusters.iter().filter(|c| c.wave == w).collect();
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            r#"<tbody class="wave" id="wave-group-{id}"><tr class="wave-head"><th colspan="{columns}">Wave {name} <span class="muted">· {n} {clusters}</span></th></tr>"#,
            id = escape(&path_segment(w)),
            name = escape(w),
            n = members.len(),
            clusters = if members.len() == 1 {
                "cluster"
            } else {
                "clusters"
            },
        );
        for c in members {
            cluster_row(out, s, c, now);
        }
        let _ = writeln!(out, "</tbody>");
    }
    let _ = writeln!(out, "</table></div>");
}

/// One cluster's row of the matrix.
fn cluster_row(out: &mut String, s: &StatusPage<'_>, c: &ClusterRow<'_>, now: SystemTime) {
    let name = match c.drift {
        Some(d) if d.status != ClusterStatus::InSync => format!(
            r##"<a href="#drift-{}">{}</a>"##,
            escape(&path_segment(c.name)),
            escape(c.name)
        ),
        _ => escape(c.name),
    };
    let labels = if c.labels.is_empty() {
        String::new()
    } else {
        format!(
            r#"<div class="labels">{}</div>"#,
            c.labels
                .iter()
                .map(|(k, v)| format!(r#"<span class="label">{}={}</span>"#, escape(k), escape(v)))
                .collect::<String>()
        )
    };
    let owner = c
        .owner
        .map(|o| {
            format!(
                r#"<div class="owner muted"><small>owner: {}</small></div>"#,
                escape(o)
            )
        })
        .unwrap_or_default();
    let health = if c.health_judged {
        badge(words::health(c.health), words::health_tone(c.health))
    } else {
        format!(
            r#"<span class="badge muted" title="{}">{}</span>"#,
            escape(words::HEALTH_NOT_JUDGED_WHY),
            escape(words::HEALTH_NOT_JUDGED)
        )
    };
    let _ = write!(
        out,
        r#"<tr id="cluster-{id}"><td class="cluster"><b>{name}</b>{labels}{owner}</td><td>{rev}</td><td>{status}</td><td>{health}</td>"#,
        id = escape(&path_segment(c.name)),
        rev = short_revision(c.revision),
        status = badge(c.status.word, c.status.tone),
    );
    match c.drift {
        Some(d) => {
            let _ = write!(out, "<td>{}", drift_badge(d));
            if let Some(since) = c.drift_since.filter(|_| d.status == ClusterStatus::Drifted) {
                let _ = write!(
                    out,
                    r#"<br><small class="muted" title="{}">for {}</small>"#,
                    escape(&humantime::format_rfc3339_seconds(since).to_string()),
                    escape(&age(since, now)),
                );
            }
            let _ = write!(out, "</td>");
            let _ = write!(out, "{}", count_cell(d.in_sync, false));
            for n in [d.modified, d.missing, d.to_be_pruned] {
                let _ = write!(out, "{}", count_cell(n, true));
            }
        }
        None => {
            let _ = write!(
                out,
                r#"<td><span class="muted">not checked</span></td><td class="num muted" colspan="4">–</td>"#
            );
        }
    }
    let _ = write!(
        out,
        r#"<td>{}</td><td class="err">{}</td>"#,
        ago(c.last_success, now),
        c.last_error.map(escape).unwrap_or_default(),
    );
    if s.can_operate {
        let path = format!("/api/v1/clusters/{}/sync", escape(&path_segment(c.name)));
        let blocked = s
            .paused
            .then_some("The rollout is paused: resume it first.");
        let _ = write!(
            out,
            "<td>{}</td>",
            action_button(&path, "Sync now", "", blocked)
        );
    }
    let _ = writeln!(out, "</tr>");
}

/// The badge of a cluster's drift status.
fn drift_badge(d: &ClusterDrift) -> String {
    badge(
        words::cluster_status(d.status),
        words::cluster_status_tone(d.status),
    )
}

/// `<badge> key <small>(decided by ...)</small>`.
fn object_heading(o: &ObjectDrift) -> String {
    format!(
        "{} {} <small>(decided by {})</small>",
        badge(o.status.describe(), Tone::Warn),
        escape(&o.key.to_string()),
        escape(o.decided_by.describe()),
    )
}

/// A count; drift counts above zero stand out.
fn count_cell(n: usize, is_drift: bool) -> String {
    let class = if is_drift && n > 0 {
        "num nonzero"
    } else {
        "num"
    };
    format!(r#"<td class="{class}">{n}</td>"#)
}

/// One drifted (or uncheckable) cluster: its objects, fields and diffs.
fn drift_details(out: &mut String, c: &ClusterRow<'_>, d: &ClusterDrift, now: SystemTime) {
    let _ = writeln!(
        out,
        r#"<details open id="drift-{id}"><summary><b>{name}</b> {badge} {counts}{since} · <a href="/api/v1/clusters/{id}/drift?format=text">text</a> · <a href="/api/v1/clusters/{id}/drift">JSON</a></summary>"#,
        id = escape(&path_segment(c.name)),
        name = escape(c.name),
        badge = drift_badge(d),
        counts = escape(&words::drift_counts(d)),
        since = match c.drift_since {
            Some(t) if d.status == ClusterStatus::Drifted =>
                format!(", since {}", when(Some(t), now)),
            _ => String::new(),
        },
    );
    if let Some(e) = &d.error {
        let _ = writeln!(out, "<pre class=\"error\">{}</pre>", escape(e));
    }
    for o in &d.objects {
        let _ = writeln!(out, r#"<div class="object"><h3>{}</h3>"#, object_heading(o),);
        if !o.fields.is_empty() {
            let _ = writeln!(
                out,
                r#"<table class="fields"><thead><tr><th>Field</th><th>Desired (Git)</th><th>Live</th></tr></thead><tbody>"#
            );
            for f in &o.fields {
                let _ = writeln!(
                    out,
                    "<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                    escape(&f.path),
                    escape(&words::value(&f.desired)),
                    escape(&words::value(&f.live)),
                );
            }
            let _ = writeln!(out, "</tbody></table>");
        }
        if !o.diff.is_empty() {
            let _ = write!(out, r#"<pre class="diff">"#);
            for line in o.diff.lines() {
                let class = if line.starts_with("+++") || line.starts_with("---") {
                    "hdr"
                } else if line.starts_with('+') {
                    "add"
                } else if line.starts_with('-') {
                    "del"
                } else if line.starts_with("@@") {
                    "hunk"
                } else {
                    "ctx"
                };
                let _ = write!(out, r#"<span class="{class}">{}</span>"#, escape(line));
                out.push('\n');
            }
            let _ = writeln!(out, "</pre>");
        }
        let _ = writeln!(out, "</div>");
    }
    let _ = writeln!(out, "</details>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&amp;</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(escape("plain é"), "plain é");
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("eu-1.prod_a~"), "eu-1.prod_a~");
        assert_eq!(path_segment("a b/<c>"), "a%20b%2F%3Cc%3E");
    }

    #[test]
    fn ages_read_in_the_largest_units() {
        let t = SystemTime::UNIX_EPOCH;
        let at = |s| t + std::time::Duration::from_secs(s);
        assert_eq!(age(t, at(42)), "42s");
        assert_eq!(age(t, at(180)), "3m");
        assert_eq!(age(t, at(2 * 3600 + 300)), "2h 5m");
        assert_eq!(age(t, at(4 * 86400)), "4d");
    }

    fn page<'a>(clusters: Vec<ClusterRow<'a>>) -> StatusPage<'a> {
        StatusPage {
            fleet: "demo",
            ready: true,
            good_revision: Some("0123456789abcdef"),
            seen_revision: None,
            last_poll: None,
            commit_error: None,
            git_error: None,
            commit_summary: None,
            commit_author: None,
            waves: vec!["all"],
            paused: false,
            halt: None,
            can_operate: false,
            clusters,
            now: SystemTime::UNIX_EPOCH,
        }
    }

    fn row<'a>(name: &'a str, drift: Option<&'a ClusterDrift>) -> ClusterRow<'a> {
        ClusterRow {
            name,
            wave: "all",
            revision: None,
            status: super::super::Badge {
                word: "Synced",
                tone: Tone::Ok,
            },
            health: crate::health::HealthStatus::Healthy,
            health_judged: true,
            labels: Vec::new(),
            drift,
            drift_since: None,
            last_success: None,
            last_error: None,
            owner: None,
        }
    }

    #[test]
    fn a_cluster_shows_its_owner_with_many_replicas() {
        let one = status_page(&page(vec![row("eu-1", None)]));
        assert!(!one.contains("owner:"), "{one}");
        let mut r = row("eu-1", None);
        r.owner = Some("hub-<b>");
        let many = status_page(&page(vec![r]));
        assert!(many.contains("owner: hub-&lt;b&gt;"), "{many}");
    }

    #[test]
    fn the_page_uses_the_report_words() {
        let unreachable = ClusterDrift::failed("eu-1", ClusterStatus::Unreachable, "refused <x>");
        let in_sync = ClusterDrift::detected("us-1", crate::drift::Detected::default());
        let html = status_page(&page(vec![
            row("eu-1", Some(&unreachable)),
            row("us-1", Some(&in_sync)),
            row("ap-1", None),
        ]));
        assert!(
            html.contains(r#"<span class="badge bad">Unreachable</span>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<span class="badge ok">InSync</span>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<span class="badge ok">Synced</span>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<span class="badge ok">Healthy</span>"#),
            "{html}"
        );
        assert!(html.contains("<th>To be pruned</th>"), "{html}");
        assert!(
            html.contains("0 in sync, 0 modified, 0 missing, 0 to be pruned"),
            "{html}"
        );
        assert!(html.contains("refused &lt;x&gt;"), "{html}");
        assert!(html.contains(r#"<details open id="drift-eu-1">"#), "{html}");
        assert!(!html.contains(r#"id="drift-us-1""#), "{html}");
        assert!(html.contains("not checked"), "{html}");
        assert!(html.contains(r#"<code title="0123456789abcdef">0123456</code>"#));
    }
}
