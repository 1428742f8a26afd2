//! Hostile fleet repositories (issue 13): no commit writes outside its
//! target, crashes the engine or leaks a secret. Each test writes the
//! repository a hostile user would commit to a temporary folder and runs it
//! through the real `flotilla` binary; the diagnostic names the file, the
//! document's position and the field or patch operation.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn flotilla(args: &[&str]) -> Output {
    flotilla_env(args, &[])
}

fn flotilla_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flotilla"));
    cmd.args(args)
        .env_remove("FLOTILLA_REPO")
        .env_remove("FLOTILLA_REV");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the flotilla binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(dir: &Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const FLEET: &str = "apiVersion: flotilla.dev/v1alpha1
kind: Fleet
metadata: {name: demo}
spec:
  clusters:
    - {name: eu-1, labels: {region: eu}, connection: {directory: out/eu-1}}
  bases:
    - {name: web, path: bases/web}
  overlays:
    - {name: eu, path: overlays/eu}
";

const CM: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: shop}
data: {a: \"0123456789\"}
";

/// A repository with the fleet, one ConfigMap in the base, and `files`.
fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "fleet.yaml", FLEET);
    write(dir.path(), "bases/web/web.yaml", CM);
    write(dir.path(), "overlays/eu/README.yaml", "# nothing\n");
    for (p, t) in files {
        write(dir.path(), p, t);
    }
    dir
}

/// `flotilla validate` of `dir`: exit 1 within `limit`, and the output
/// holds every fragment.
fn validate_fails(dir: &Path, expected: &[&str], limit: Duration) -> String {
    let start = Instant::now();
    let o = flotilla(&["validate", "--repo", dir.to_str().unwrap()]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(start.elapsed() < limit, "took {:?}", start.elapsed());
    for e in expected {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
    out
}

fn patch(ops: &str) -> String {
    format!(
        "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {{kind: ConfigMap, name: web}}\njsonPatch:\n{ops}"
    )
}

const FAST: Duration = Duration::from_secs(60);

#[test]
fn object_identity_that_names_a_path_is_rejected_at_load() {
    let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: shop}\n---\napiVersion: ../../x/v1\nkind: Thing\nmetadata: {name: \"../y\", namespace: \"a/b\"}\n---\napiVersion: /abs/path/v1\nkind: Con/fig\nmetadata: {name: x}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: \"..\", namespace: shop}\n";
    let dir = repo(&[("bases/web/bad.yaml", bad)]);
    validate_fails(
        dir.path(),
        &[
            "bases/web/bad.yaml:5: document 2: apiVersion: invalid apiVersion \"../../x/v1\"",
            "bases/web/bad.yaml:5: document 2: metadata.name: invalid name \"../y\": a DNS-1123 subdomain",
            "bases/web/bad.yaml:5: document 2: metadata.namespace: invalid namespace \"a/b\"",
            "bases/web/bad.yaml:9: document 3: apiVersion: invalid apiVersion \"/abs/path/v1\"",
            "bases/web/bad.yaml:9: document 3: kind: invalid kind \"Con/fig\"",
            "bases/web/bad.yaml:13: document 4: metadata.name: invalid name \"..\": may not be '.' or '..'",
        ],
        FAST,
    );
    // sync writes nothing anywhere: the fleet does not load.
    let o = flotilla(&["sync", "--repo", dir.path().to_str().unwrap()]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn a_patch_that_renames_an_object_to_a_path_is_rejected() {
    let p = patch("  - {op: replace, path: /metadata/name, value: ../../../x}\n");
    let dir = repo(&[("overlays/eu/p.yaml", &p)]);
    validate_fails(
        dir.path(),
        &[
            "overlays/eu/p.yaml:1: document 1: jsonPatch: metadata.name: invalid name \"../../../x\"",
        ],
        FAST,
    );
    let merge = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: ConfigMap, name: web}\nmerge: {apiVersion: /etc/v1}\n";
    let dir = repo(&[("overlays/eu/p.yaml", merge)]);
    validate_fails(
        dir.path(),
        &["overlays/eu/p.yaml:1: document 1: merge: apiVersion: invalid apiVersion \"/etc/v1\""],
        FAST,
    );
}

#[test]
fn a_substituted_name_is_checked_after_substitution() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \"web-${cluster.labels.region}\", namespace: shop}\n";
    let fleet = FLEET.replace("{region: eu}", "{region: EU}");
    let dir = repo(&[("bases/web/sub.yaml", cm), ("fleet.yaml", &fleet)]);
    validate_fails(
        dir.path(),
        &[
            "bases/web/sub.yaml:1: document 1: metadata.name: invalid name \"web-EU\"",
            "(cluster eu-1)",
        ],
        FAST,
    );
}

#[test]
fn kinds_that_differ_only_in_case_are_rejected() {
    let cm = "apiVersion: v1\nkind: CONFIGMAP\nmetadata: {name: other, namespace: shop}\n";
    let dir = repo(&[("bases/web/z.yaml", cm)]);
    validate_fails(
        dir.path(),
        &[
            "bases/web/z.yaml:1: document 1: kind: kind \"CONFIGMAP\" differs only in letter case from kind \"ConfigMap\" in bases/web/web.yaml document 1",
        ],
        FAST,
    );
}

#[test]
fn forty_copy_operations_stop_at_the_object_size_budget() {
    let ops: String = (0..40)
        .map(|i| format!("  - {{op: copy, from: /data, path: /data/d{i}}}\n"))
        .collect();
    let p = patch(&ops);
    assert!(p.len() < 2500);
    let dir = repo(&[("overlays/eu/p.yaml", &p)]);
    validate_fails(
        dir.path(),
        &[
            "overlays/eu/p.yaml:1: document 1: jsonPatch[",
            "(copy /data to /data/d",
            "ConfigMap shop/web: the object would be larger than 1.5 MiB as JSON",
        ],
        FAST,
    );
}

#[test]
fn add_and_move_cannot_nest_an_object_past_the_depth_budget() {
    let pair = "  - {op: add, path: /n, value: {}}\n  - {op: move, from: /data, path: /n/x}\n  - {op: move, from: /n, path: /data}\n";
    let dir = repo(&[("overlays/eu/p.yaml", &patch(&pair.repeat(500)))]);
    validate_fails(
        dir.path(),
        &[
            "overlays/eu/p.yaml:1: document 1: jsonPatch[",
            "(move /data to /n/x)",
            "would nest 65 levels deep; at most 64 are allowed",
        ],
        FAST,
    );
    // The same spread over many Patch documents: the object does not keep
    // growing after the first failure.
    let doc = format!("---\n{}", patch(pair));
    let dir = repo(&[("overlays/eu/p.yaml", &doc.repeat(400))]);
    let out = validate_fails(
        dir.path(),
        &[
            "overlays/eu/p.yaml:",
            ": document ",
            "would nest 65 levels deep",
        ],
        FAST,
    );
    assert_eq!(out.matches("levels deep").count(), 1, "{out}");
}

#[test]
fn many_small_patch_documents_render_in_time() {
    let doc = |i: usize| {
        format!(
            "---\napiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {{kind: ConfigMap, name: web}}\nmerge: {{data: {{k{i}: v}}}}\n"
        )
    };
    let docs: String = (0..5000).map(doc).collect();
    let dir = repo(&[("overlays/eu/p.yaml", &docs)]);
    let start = Instant::now();
    let o = flotilla(&["render", "--repo", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(start.elapsed() < FAST, "took {:?}", start.elapsed());
    assert!(String::from_utf8_lossy(&o.stdout).contains("k4999: v"));
}

#[test]
fn a_deep_manifest_is_rejected_at_load() {
    let mut deep = String::from("x");
    for _ in 0..70 {
        deep = format!("[{deep}]");
    }
    let cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: deep, namespace: shop}}\ndata: {deep}\n"
    );
    let dir = repo(&[("bases/web/deep.yaml", &cm)]);
    validate_fails(dir.path(), &["bases/web/deep.yaml:"], FAST);
}
