//! The `flotilla` binary end to end, as a user runs it: exit codes, output,
//! files written, and `diff --from/--to` over a real Git repository.

mod support;

use support::files::{EXAMPLE, write};
use support::git;
use support::run::{Run, flotilla_blocking as flotilla};

/// `flotilla diff --repo REPO --from FROM --to TO EXTRA...`.
fn diff(repo: &str, from: &str, to: &str, extra: &[&str]) -> Run {
    let mut args = vec!["diff", "--repo", repo, "--from", from, "--to", to];
    args.extend_from_slice(extra);
    flotilla(&args)
}

const FLEET: &str = "apiVersion: flotilla.dev/v1alpha1
kind: Fleet
metadata: {name: demo}
spec:
  clusters:
    - {name: eu-1, labels: {region: eu}, connection: {directory: out/eu-1}}
    - {name: us-1, labels: {region: us}, connection: {directory: out/us-1}}
  bases:
    - {name: web, path: bases/web}
  overlays:
    - {name: eu, path: overlays/eu, clusterSelector: {matchLabels: {region: eu}}}
";

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: shop}
stringData: {password: hunter2-old}
";

const EU: &str = "apiVersion: flotilla.dev/v1alpha1
kind: Patch
target: {kind: Deployment, name: web}
merge: {spec: {replicas: 3}}
";

fn demo_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "fleet.yaml", FLEET);
    write(dir.path(), "bases/web/web.yaml", WEB);
    write(dir.path(), "overlays/eu/replicas.yaml", EU);
    dir
}

#[test]
fn validate_the_example_fleet_succeeds() {
    let o = flotilla(&["validate", "--repo", EXAMPLE]);
    assert!(o.code == 0, "{}{}", o.stdout, o.stderr);
    let out = o.stdout;
    assert!(out.starts_with("ok: "), "{out}");
    let clusters: usize = out[4..].split_whitespace().next().unwrap().parse().unwrap();
    assert!(clusters >= 5, "{out}");
    // A note, not an error: the HPA owns the web Deployment's replicas.
    assert!(
        out.contains("\nnote: Deployment shop/web: spec.replicas is owned by HorizontalPodAutoscaler shop/web and is set on create only (clusters "),
        "{out}"
    );
}

#[test]
fn validate_reports_every_error_with_position_and_exit_1() {
    let dir = demo_repo();
    write(
        dir.path(),
        "overlays/eu/bad.yaml",
        "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: Deployment, name: web}\njsonPatch:\n  - {op: test, path: /spec/replicas, value: 7}\n",
    );
    write(
        dir.path(),
        "bases/web/broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n",
    );
    let o = flotilla(&["validate", "--repo", dir.path().to_str().unwrap()]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    let out = o.stdout;
    assert!(out.contains("bases/web/broken.yaml:3:"), "{out}");
    assert!(
        out.contains(
            "overlays/eu/bad.yaml:1: document 1: jsonPatch[0] (test /spec/replicas): test failed"
        ),
        "{out}"
    );
    assert!(out.contains("2 errors in 2 files"), "{out}");

    let o = flotilla(&[
        "validate",
        "--repo",
        dir.path().to_str().unwrap(),
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"].as_array().unwrap().len(), 2);
    assert_eq!(v["errors"][0]["file"], "bases/web/broken.yaml");
}

#[test]
fn validate_a_missing_repository_is_an_error_exit_2() {
    let o = flotilla(&["validate", "--repo", "/nonexistent/flotilla-repo"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("/nonexistent/flotilla-repo"),
        "{}",
        o.stderr
    );
}

#[test]
fn render_prints_one_cluster_in_apply_order_with_ownership() {
    let dir = demo_repo();
    let o = flotilla(&[
        "render",
        "--repo",
        dir.path().to_str().unwrap(),
        "--cluster",
        "eu-1",
    ]);
    assert!(o.code == 0, "{}", o.stderr);
    let out = o.stdout;
    assert!(out.contains("replicas: 3"), "{out}");
    assert!(
        out.contains("app.kubernetes.io/managed-by: flotilla"),
        "{out}"
    );
    assert!(out.contains("flotilla.dev/source: base/web"), "{out}");
    assert!(!out.contains("# cluster:"), "{out}");
    // Secrets come before Deployments? No: v1 sorts before apps/v1 within a tier.
    let secret = out.find("kind: Secret").unwrap();
    let deploy = out.find("kind: Deployment").unwrap();
    assert!(deploy < secret, "apps/v1 sorts before v1:\n{out}");
}

#[test]
fn render_is_byte_identical_across_runs() {
    let a = flotilla(&["render", "--repo", EXAMPLE]);
    let b = flotilla(&["render", "--repo", EXAMPLE]);
    assert!(a.code == 0);
    assert_eq!(a.stdout, b.stdout);
    assert!(a.stdout.contains("# cluster: "));
}

#[test]
fn render_unknown_cluster_is_an_error() {
    let dir = demo_repo();
    let o = flotilla(&[
        "render",
        "--repo",
        dir.path().to_str().unwrap(),
        "--cluster",
        "mars-1",
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("unknown cluster \"mars-1\"; the fleet has: eu-1, us-1"),
        "{}",
        o.stderr
    );
}

#[test]
fn render_out_writes_one_file_per_object_and_removes_stale_ones() {
    let dir = demo_repo();
    let out = tempfile::tempdir().unwrap();
    let repo = dir.path().to_str().unwrap();
    let o = flotilla(&[
        "render",
        "--repo",
        repo,
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(o.code == 0, "{}", o.stderr);
    let deploy = out.path().join("eu-1/apps_deployment_shop_web.yaml");
    assert!(
        std::fs::read_to_string(&deploy)
            .unwrap()
            .contains("replicas: 3")
    );
    assert!(out.path().join("us-1/core_secret_shop_creds.yaml").exists());

    // Drop the Secret from the base: its file goes on the next render.
    write(
        dir.path(),
        "bases/web/web.yaml",
        WEB.split("---").next().unwrap(),
    );
    let o = flotilla(&[
        "render",
        "--repo",
        repo,
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(o.code == 0);
    assert!(!out.path().join("us-1/core_secret_shop_creds.yaml").exists());
    assert!(deploy.exists());
}

#[test]
fn render_json_is_a_list_per_cluster() {
    let dir = demo_repo();
    let o = flotilla(&[
        "render",
        "--repo",
        dir.path().to_str().unwrap(),
        "--cluster",
        "us-1",
        "-o",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["kind"], "List");
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    assert_eq!(v["items"][0]["spec"]["replicas"], 2);
}

/// `render` prints each cluster as it is rendered (one at a time, for
/// memory): byte for byte the report of all clusters at once, in YAML and
/// in JSON (`{"clusters": [...]}`).
#[test]
fn streamed_render_is_byte_identical_to_the_whole_report() {
    let snapshot =
        flotilla_source::snapshot(flotilla_source::SourceSpec::new(EXAMPLE)).expect("reads");
    let fleet = flotilla_core::load::load(&snapshot).expect("loads");
    let states: Vec<_> = flotilla_core::render::render_fleet(&fleet)
        .into_iter()
        .map(|(_, r)| r.expect("renders"))
        .collect();
    assert!(states.len() > 1);
    use flotilla_core::report::{Manifests, OutputFormat, Report};
    for (flag, format) in [("yaml", OutputFormat::Yaml), ("json", OutputFormat::Json)] {
        let o = flotilla(&["render", "--repo", EXAMPLE, "-o", flag]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert_eq!(
            o.stdout,
            Manifests(&states).render(format).unwrap(),
            "{flag}"
        );
    }
}

/// A Git repository with three commits: `good`, `more` (eu replicas 3 -> 5,
/// a changed Secret, a new ConfigMap), `broken` (a patch with a bad path).
fn history() -> tempfile::TempDir {
    let dir = demo_repo();
    let d = dir.path();
    git(d, &["init", "-q", "-b", "main"]);
    git(d, &["add", "."]);
    git(d, &["commit", "-qm", "good"]);
    git(d, &["tag", "good"]);
    write(
        d,
        "overlays/eu/replicas.yaml",
        &EU.replace("replicas: 3", "replicas: 5"),
    );
    write(
        d,
        "bases/web/web.yaml",
        &WEB.replace("hunter2-old", "hunter2-new"),
    );
    write(
        d,
        "bases/web/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flags, namespace: shop}\ndata: {x: '1'}\n",
    );
    git(d, &["add", "."]);
    git(d, &["commit", "-qm", "more"]);
    git(d, &["tag", "more"]);
    write(
        d,
        "overlays/eu/broken.yaml",
        "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: Deployment, name: web}\njsonPatch: [{op: remove, path: /spec/nothing}]\n",
    );
    git(d, &["add", "."]);
    git(d, &["commit", "-qm", "broken"]);
    git(d, &["tag", "broken"]);
    dir
}

#[test]
fn diff_between_commits_shows_per_cluster_changes_and_exits_1() {
    let dir = history();
    let repo = dir.path().to_str().unwrap();
    let o = diff(repo, "good", "more", &[]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let out = o.stdout;
    assert!(
        out.contains("cluster eu-1: changed (1 added, 2 changed, 0 removed)"),
        "{out}"
    );
    assert!(
        out.contains("cluster us-1: changed (1 added, 1 changed, 0 removed)"),
        "{out}"
    );
    assert!(
        out.contains("-  replicas: 3") && out.contains("+  replicas: 5"),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "a Secret value leaked:\n{out}");
    assert!(
        out.contains("-  password: \"<hidden: value before>\""),
        "{out}"
    );
    assert!(
        out.contains("+  password: \"<hidden: value after>\""),
        "{out}"
    );

    let o = diff(repo, "good", "more", &["-o", "markdown"]);
    let md = o.stdout;
    assert!(md.contains("| `eu-1` | 1 | 2 | 0 | changed |"), "{md}");
    assert!(md.contains("<details><summary><b>eu-1</b>"), "{md}");
    assert!(md.contains("```diff"), "{md}");

    let o = diff(repo, "good", "more", &["-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["clusters"][0]["cluster"], "eu-1");
    assert_eq!(v["clusters"][0]["status"], "compared");
}

#[test]
fn diff_of_identical_trees_exits_0() {
    let dir = history();
    let o = diff(dir.path().to_str().unwrap(), "more", "more", &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("No cluster changes."));
}

#[test]
fn diff_to_a_broken_commit_shows_the_error_and_exits_2() {
    let dir = history();
    let o = diff(dir.path().to_str().unwrap(), "more", "broken", &[]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    let out = o.stdout;
    assert!(out.contains("cluster eu-1: render error in --to"), "{out}");
    assert!(
        out.contains("overlays/eu/broken.yaml:1: document 1: jsonPatch[0] (remove /spec/nothing)"),
        "{out}"
    );
    assert!(out.contains("cluster us-1: no change"), "{out}");
}

#[test]
fn diff_from_a_broken_commit_still_shows_to() {
    let dir = history();
    let d = dir.path();
    // A fix on top of the broken commit.
    std::fs::remove_file(d.join("overlays/eu/broken.yaml")).unwrap();
    git(d, &["add", "-A"]);
    git(d, &["commit", "-qm", "fix"]);
    let o = diff(d.to_str().unwrap(), "broken", "HEAD", &[]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    let out = o.stdout;
    assert!(
        out.contains("cluster eu-1: --from did not render; showing --to (3 added"),
        "{out}"
    );
    assert!(out.contains("error: overlays/eu/broken.yaml"), "{out}");
}

#[test]
fn diff_with_an_unknown_revision_is_an_error() {
    let dir = history();
    let o = diff(dir.path().to_str().unwrap(), "nope", "more", &[]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("nope"), "{}", o.stderr);
}

#[test]
fn validate_watch_revalidates_when_a_file_changes() {
    use std::io::{BufRead, BufReader};
    use std::sync::mpsc;
    use std::time::Duration;

    let dir = demo_repo();
    let mut child = std::process::Command::new(support::run::FLOTILLA)
        .args([
            "validate",
            "--watch",
            "--repo",
            dir.path().to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line_with = |fragment: &str| -> Option<String> {
        // Bounded: at most 20 s for the line to appear.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(fragment) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    };
    let wait_for = |fragment: &str| line_with(fragment).is_some();
    assert!(wait_for("ok: 2 clusters rendered"));
    // Files the loader does not read change nothing: a build folder beside
    // the fleet, a README in a base.
    write(dir.path(), "target/out.yaml", "built: true\n");
    write(dir.path(), "bases/web/README.md", "docs\n");
    std::thread::sleep(Duration::from_millis(600));
    write(
        dir.path(),
        "overlays/eu/bad.yaml",
        "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: Service, name: web}\ndelete: true\n",
    );
    let changed = line_with("# changed:");
    assert_eq!(
        changed.as_deref(),
        Some("# changed: overlays/eu/bad.yaml"),
        "only the file the loader reads is a change"
    );
    let saw_error = wait_for(
        "overlays/eu/bad.yaml:1: document 1: target: target Service web matches no object",
    );
    std::fs::remove_file(dir.path().join("overlays/eu/bad.yaml")).unwrap();
    let saw_fix = saw_error && wait_for("ok: 2 clusters rendered");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(saw_error, "the edit was not re-validated");
    assert!(saw_fix, "the fix was not re-validated");
}

#[test]
fn each_command_accepts_only_its_output_formats() {
    for (command, wrong, accepted) in [
        ("validate", "markdown", "[possible values: text, json]"),
        ("render", "text", "[possible values: yaml, json]"),
        ("sync", "html", "[possible values: text, json]"),
        ("drift", "yaml", "[possible values: text, json, markdown]"),
        ("diff", "html", "[possible values: text, json, markdown]"),
    ] {
        let o = flotilla(&[command, "--repo", EXAMPLE, "-o", wrong]);
        assert_eq!(o.code, 2, "{command} -o {wrong}");
        let err = &o.stderr;
        assert!(
            err.contains(&format!("invalid value '{wrong}' for '--output <OUTPUT>'")),
            "{command}: {err}"
        );
        assert!(err.contains(accepted), "{command}: {err}");
        assert!(o.stdout.is_empty(), "{command}: nothing is printed");
    }
    let o = flotilla(&["validate", "--repo", EXAMPLE, "-o", "json"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["clusters"][0]["rendered"], true);
    // The notes the text form prints are in the JSON too.
    let note = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| {
            n["note"].as_str().unwrap().starts_with(
                "Deployment shop/web: spec.replicas is owned by HorizontalPodAutoscaler",
            )
        })
        .unwrap_or_else(|| panic!("no HPA note in {}", o.stdout));
    assert!(!note["clusters"].as_array().unwrap().is_empty(), "{note}");
}
