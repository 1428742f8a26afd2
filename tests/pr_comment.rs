//! The pull-request comment of `flotilla diff --from --to -o markdown`:
//! identical per-cluster changes shown once with their clusters, the rollout
//! waves the change reaches, and a size budget with the full report kept in
//! `--out-file`. Built on the example fleet (8 clusters, waves `canary` and
//! `rest`). Golden snapshots: review a changed one like code.

mod support;

use std::path::Path;

use flotilla_core::diff::diff_fleets;
use flotilla_core::report::{CommentOptions, DEFAULT_MAX_COMMENT_CHARS, diff_comment};
use flotilla_core::snapshot::Snapshot;
use flotilla_source::{Source, SourceSpec};
use support::files::{copy_dir, write};
use support::git;
use support::run::run;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/fleet-repo");

fn example() -> Snapshot {
    let mut source = Source::open(SourceSpec::new(EXAMPLE)).expect("open the example fleet");
    source.snapshot(None).expect("read the example fleet")
}

/// A ConfigMap of `lines` data lines (about 150 lines of YAML for 145);
/// `per_cluster` makes every cluster's copy different.
fn big_config_map(lines: usize, per_cluster: bool) -> String {
    let mut s = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: feature-flags\n  namespace: shop\ndata:\n",
    );
    for i in 0..lines {
        if per_cluster {
            s.push_str(&format!(
                "  flag-{i:03}: \"${{cluster.name}}: checkout experiment {i}, ticket SHOP-{i:04}\"\n"
            ));
        } else {
            s.push_str(&format!(
                "  flag-{i:03}: \"checkout experiment {i}, owner team-web, ticket SHOP-{i:04}\"\n"
            ));
        }
    }
    s
}

fn with_file(base: &Snapshot, path: &str, text: &str) -> Snapshot {
    let mut s = base.clone();
    s.insert(path, text.as_bytes());
    s
}

#[test]
fn one_config_map_on_eight_clusters_is_shown_once_within_the_budget() {
    let old = example();
    let new = with_file(
        &old,
        "bases/web/feature-flags.yaml",
        &big_config_map(145, false),
    );
    let (a, b) = (
        flotilla_core::load::load(&old).unwrap(),
        flotilla_core::load::load(&new).unwrap(),
    );
    assert_eq!(b.clusters.len(), 8);
    let diff = diff_fleets("main", Ok(&a), "feature", Ok(&b));
    let comment = diff_comment(&diff, &CommentOptions::default());
    let md = comment.text;
    assert!(!comment.truncated);
    assert!(
        md.chars().count() < DEFAULT_MAX_COMMENT_CHARS,
        "{}",
        md.len()
    );
    // One diff, with the eight clusters named once.
    assert_eq!(md.matches("```diff").count(), 1, "{md}");
    assert!(
        md.contains("(8 clusters): changed (1 added, 0 changed, 0 removed)"),
        "{md}"
    );
    assert!(
        md.contains(
            "**Rollout waves reached:** `canary` (3 of 3 clusters), `rest` (5 of 5 clusters)."
        ),
        "{md}"
    );
    assert!(
        md.contains("| `gke-staging` | 1 | 0 | 0 | changed | `canary` |"),
        "{md}"
    );
    insta::assert_snapshot!("grouped", md);
}

#[test]
fn a_change_to_some_clusters_names_the_waves_not_reached() {
    let old = example();
    let new = with_file(
        &old,
        "clusters/dc-frankfurt/extra.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: shop}\ndata: {a: '1'}\n",
    );
    let (a, b) = (
        flotilla_core::load::load(&old).unwrap(),
        flotilla_core::load::load(&new).unwrap(),
    );
    let md = diff_comment(
        &diff_fleets("main", Ok(&a), "feature", Ok(&b)),
        &CommentOptions::default(),
    )
    .text;
    assert!(
        md.contains("**Rollout waves reached:** `rest` (1 of 5 clusters); not reached: `canary`."),
        "{md}"
    );
}

#[test]
fn a_huge_change_is_truncated_with_a_note() {
    let old = example();
    let new = with_file(
        &old,
        "bases/web/feature-flags.yaml",
        &big_config_map(400, true),
    );
    let (a, b) = (
        flotilla_core::load::load(&old).unwrap(),
        flotilla_core::load::load(&new).unwrap(),
    );
    let diff = diff_fleets("main", Ok(&a), "feature", Ok(&b));
    let whole = flotilla_core::report::diff_markdown(&diff);
    assert!(whole.chars().count() > DEFAULT_MAX_COMMENT_CHARS);
    let comment = diff_comment(
        &diff,
        &CommentOptions {
            max_chars: DEFAULT_MAX_COMMENT_CHARS,
            full_report: Some("flotilla-diff.md"),
        },
    );
    assert!(comment.truncated);
    let md = &comment.text;
    assert!(
        md.chars().count() <= DEFAULT_MAX_COMMENT_CHARS,
        "{}",
        md.len()
    );
    // Every cluster is still in the table; cut sections are whole.
    for c in &b.clusters {
        assert!(md.contains(&format!("| `{}` |", c.name)), "{md}");
    }
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count()
    );
    assert!(
        md.contains("The full report is in `flotilla-diff.md` (`--out-file`)."),
        "{md}"
    );
    // Only the note and the cut are golden; the kept sections are long.
    let note = md.lines().find(|l| l.contains("truncated")).unwrap();
    insta::assert_snapshot!("truncated_note", note);
}

/// The CLI: the comment on stdout within the budget, the whole report in
/// `--out-file`.
#[test]
fn the_cli_writes_the_whole_report_to_the_out_file() {
    support::init();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    copy_dir(Path::new(EXAMPLE), d);
    git(d, &["init", "-q"]);
    git(d, &["add", "."]);
    git(d, &["commit", "-qm", "base"]);
    git(d, &["tag", "base"]);
    write(
        d,
        "bases/web/feature-flags.yaml",
        &big_config_map(400, true),
    );
    git(d, &["add", "."]);
    git(d, &["commit", "-qm", "flags"]);
    git(d, &["tag", "flags"]);
    let out_file = d.join("full.md");
    let repo = d.to_str().unwrap();
    let o = run(
        d,
        &[
            "diff",
            "--repo",
            repo,
            "--from",
            "base",
            "--to",
            "flags",
            "-o",
            "markdown",
            "--out-file",
            out_file.to_str().unwrap(),
        ],
        &[],
        support::run::RUN_LIMIT,
    );
    assert_eq!(o.code, 1, "{}", o.all());
    assert!(o.stdout.chars().count() <= DEFAULT_MAX_COMMENT_CHARS);
    assert!(
        o.stdout.contains("This comment is truncated"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("full.md"), "{}", o.stdout);
    let full = std::fs::read_to_string(&out_file).unwrap();
    assert!(!full.contains("truncated"));
    // Every cluster's own copy of the ConfigMap is in the file.
    for c in [
        "gke-staging",
        "eks-us-east",
        "gke-us-east",
        "eks-eu-west",
        "gke-eu-west",
        "dc-frankfurt",
        "ack-hangzhou",
        "ack-beijing",
    ] {
        assert!(
            full.contains(&format!("{c}: checkout experiment 399")),
            "{c}"
        );
    }
    assert_eq!(full.matches("```diff").count(), 8);

    // A smaller budget is honoured; one below the floor is refused.
    let o = run(
        d,
        &[
            "diff",
            "--repo",
            repo,
            "--from",
            "base",
            "--to",
            "flags",
            "-o",
            "markdown",
            "--max-comment-chars",
            "5000",
        ],
        &[],
        support::run::RUN_LIMIT,
    );
    assert!(o.stdout.chars().count() <= 5000, "{}", o.stdout.len());
    assert!(o.stdout.contains("--out-file FILE"), "{}", o.stdout);
    let o = run(
        d,
        &[
            "diff",
            "--repo",
            repo,
            "--from",
            "base",
            "--to",
            "flags",
            "--max-comment-chars",
            "10",
        ],
        &[],
        support::run::RUN_LIMIT,
    );
    assert_eq!(o.code, 2, "{}", o.all());
    assert!(o.stderr.contains("--max-comment-chars"), "{}", o.stderr);
}
