//! Hostile fleet repositories (issue 13): no commit writes outside its
//! target, crashes the engine or leaks a secret. Each test writes the
//! repository a hostile user would commit to a temporary folder and runs it
//! through the real `flotilla` binary; the diagnostic names the file, the
//! document's position and the field or patch operation.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use support::files::write;

fn flotilla(args: &[&str]) -> Output {
    flotilla_env(args, &[])
}

fn flotilla_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    flotilla_in(Path::new("."), args, env)
}

/// Runs the binary in `cwd` (directory targets are relative to it).
fn flotilla_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flotilla"));
    cmd.current_dir(cwd);
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

/// `flotilla validate` of `dir`: exit 1 (killed and failed if it stalls
/// beyond `limit`), and the output holds every fragment.
fn validate_fails(dir: &Path, expected: &[&str], limit: Duration) -> String {
    let o = support::run::run(
        Path::new("."),
        &["validate", "--repo", dir.to_str().unwrap()],
        &[],
        limit,
    );
    let out = format!("{}{}", o.stdout, o.stderr);
    assert_eq!(o.code, 1, "{out}");
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

/// A hostile repository must never stall the binary: past this it is
/// killed and the test fails. A guard against a hang (exponential work), not
/// a speed figure (those are in benches/).
const STALL_LIMIT: Duration = Duration::from_secs(60);

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
        STALL_LIMIT,
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
        STALL_LIMIT,
    );
    let merge = "apiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {kind: ConfigMap, name: web}\nmerge: {apiVersion: /etc/v1}\n";
    let dir = repo(&[("overlays/eu/p.yaml", merge)]);
    validate_fails(
        dir.path(),
        &["overlays/eu/p.yaml:1: document 1: merge: apiVersion: invalid apiVersion \"/etc/v1\""],
        STALL_LIMIT,
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
        STALL_LIMIT,
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
        STALL_LIMIT,
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
        STALL_LIMIT,
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
        STALL_LIMIT,
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
        STALL_LIMIT,
    );
    assert_eq!(out.matches("levels deep").count(), 1, "{out}");
}

#[test]
fn many_small_patch_documents_render_without_stalling() {
    // Plain names and globs alike: neither costs a regular expression each.
    let doc = |i: usize| {
        let name = if i.is_multiple_of(2) {
            "web"
        } else {
            "w[a-z]b*"
        };
        format!(
            "---\napiVersion: flotilla.dev/v1alpha1\nkind: Patch\ntarget: {{kind: ConfigMap, name: \"{name}\"}}\nmerge: {{data: {{k{i}: v}}}}\n"
        )
    };
    let docs: String = (0..5000).map(doc).collect();
    let dir = repo(&[("overlays/eu/p.yaml", &docs)]);
    let o = support::run::run(
        Path::new("."),
        &["render", "--repo", dir.path().to_str().unwrap()],
        &[],
        STALL_LIMIT,
    );
    assert_eq!(o.code, 0, "{o}");
    assert!(o.stdout.contains("k4999: v"));
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
    validate_fails(dir.path(), &["bases/web/deep.yaml:"], STALL_LIMIT);

    // The deepest manifest that loads goes through substitution, YAML
    // output, sync to a folder and the live comparison without trouble.
    let mut deep = String::from("\"${cluster.name}\"");
    for _ in 0..62 {
        deep = format!("[{deep}]");
    }
    let cm = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: deep, namespace: shop}}\ndata: {deep}\n"
    );
    let dir = repo(&[("bases/web/deep.yaml", &cm)]);
    let o = flotilla(&["render", "--repo", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("eu-1"));
    for _ in 0..2 {
        let o = flotilla_in(dir.path(), &["sync", "--repo", "."], &[]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = flotilla_in(dir.path(), &["drift", "--repo", "."], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

fn render_out(repo: &Path, out: &Path) -> Output {
    flotilla(&[
        "render",
        "--repo",
        repo.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn render_out_removes_only_files_it_wrote() {
    let extra = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: shop}\n";
    let dir = repo(&[("bases/web/extra.yaml", extra)]);
    let out = tempfile::tempdir().unwrap();
    let victim = out.path().join("victim.yaml");
    write(out.path(), "victim.yaml", "mine");
    write(out.path(), "eu-1/notes.yaml", "mine");
    write(out.path(), "eu-1/kept.json", "mine");
    let o = render_out(dir.path(), out.path());
    assert!(o.status.success(), "{}", text(&o));
    let cluster = out.path().join("eu-1");
    assert_eq!(
        files(&cluster),
        [
            ".flotilla-render.json",
            "core_configmap_shop_extra.yaml",
            "core_configmap_shop_web.yaml",
            "kept.json",
            "notes.yaml"
        ]
    );
    // A manifest edited to name files outside the folder is not trusted.
    let manifest = std::fs::read_to_string(cluster.join(".flotilla-render.json")).unwrap();
    let hostile = manifest.replace(
        "\"core_configmap_shop_extra.yaml\"",
        "\"core_configmap_shop_extra.yaml\", \"../victim.yaml\", \"notes.yaml/..\"",
    );
    std::fs::write(cluster.join(".flotilla-render.json"), hostile).unwrap();
    std::fs::remove_file(dir.path().join("bases/web/extra.yaml")).unwrap();
    let o = render_out(dir.path(), out.path());
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        files(&cluster),
        [
            ".flotilla-render.json",
            "core_configmap_shop_web.yaml",
            "kept.json",
            "notes.yaml"
        ]
    );
    assert_eq!(std::fs::read_to_string(victim).unwrap(), "mine");
}

#[test]
fn a_long_name_is_written_whole_under_a_capped_file_name() {
    let label = "a".repeat(62);
    let name = [label.as_str(); 4].join(".");
    assert_eq!(name.len(), 251);
    let cm =
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\n");
    let dir = repo(&[("bases/web/long.yaml", &cm)]);
    let out = tempfile::tempdir().unwrap();
    let o = render_out(dir.path(), out.path());
    assert!(o.status.success(), "{}", text(&o));
    let names = files(&out.path().join("eu-1"));
    assert_eq!(names.len(), 3, "{names:?}");
    let long = names
        .iter()
        .find(|n| n.contains('~'))
        .expect("a capped name");
    assert!(long.len() <= 200 && long.ends_with(".yaml"), "{long}");
    let body = std::fs::read_to_string(out.path().join("eu-1").join(long)).unwrap();
    assert!(body.contains(&name), "{body}");
}

#[test]
fn sync_to_a_folder_stays_inside_it_and_keeps_secrets_private() {
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: shop}\nstringData: {password: hunter2}\n";
    let dir = repo(&[("bases/web/secret.yaml", secret)]);
    let o = flotilla_in(dir.path(), &["sync", "--repo", "."], &[]);
    assert!(o.status.success(), "{}", text(&o));
    let folder = dir.path().join("out/eu-1");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(folder.join("core_secret_shop_creds.yaml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // An inventory edited to name paths outside the folder: prune derives
    // each file name from the entry's identity, escaped, so nothing outside
    // is ever deleted.
    write(dir.path(), "victim.yaml", "mine");
    write(dir.path(), "out/victim.yaml", "mine");
    let inv_path = folder.join(".flotilla-inventory-demo.eu-1.json");
    let mut inv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&inv_path).unwrap()).unwrap();
    for name in ["../../../victim", "../victim"] {
        inv["entries"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "apiVersion": "../..//v1", "kind": "..", "namespace": "..", "name": name,
            }));
    }
    std::fs::write(&inv_path, inv.to_string()).unwrap();
    let o = flotilla_in(
        dir.path(),
        &["sync", "--repo", ".", "--allow-mass-prune"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    // An inventory entry naming a file put there by hand: prune deletes
    // only a file holding that object labelled as Flotilla's.
    let mine = folder.join("core_configmap_shop_mine.yaml");
    std::fs::write(
        &mine,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mine, namespace: shop}\n",
    )
    .unwrap();
    let mut inv: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&inv_path).unwrap()).unwrap();
    inv["entries"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap", "namespace": "shop", "name": "mine",
        }));
    std::fs::write(&inv_path, inv.to_string()).unwrap();
    let o = flotilla_in(
        dir.path(),
        &["sync", "--repo", ".", "--allow-mass-prune"],
        &[],
    );
    assert!(text(&o).contains("refusing to delete"), "{}", text(&o));
    assert!(mine.exists());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("victim.yaml")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/victim.yaml")).unwrap(),
        "mine"
    );
}

#[test]
fn connection_variables_come_only_from_the_allow_list() {
    let fleet = FLEET.replace(
        "connection: {directory: out/eu-1}",
        "connection: {directory: \"/proc/${FLOTILLA_GIT_PASSWORD}/x\"}",
    );
    let dir = repo(&[("fleet.yaml", &fleet)]);
    let env = [("FLOTILLA_GIT_PASSWORD", "hunter2-secret")];
    let o = flotilla_env(&["validate", "--repo", dir.path().to_str().unwrap()], &env);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("fleet.yaml:6: document 1: spec.clusters[0].connection.directory: ${FLOTILLA_GIT_PASSWORD} is not allowed"),
        "{out}"
    );
    assert!(!out.contains("hunter2"), "{out}");
    let o = flotilla_in(dir.path(), &["sync", "--repo", "."], &env);
    assert_ne!(o.status.code(), Some(0));
    assert!(!text(&o).contains("hunter2"), "{}", text(&o));

    // FLOTILLA_FLEET_* expands.
    let fleet = FLEET.replace(
        "connection: {directory: out/eu-1}",
        "connection: {directory: \"out/${FLOTILLA_FLEET_ZONE}\"}",
    );
    let dir = repo(&[("fleet.yaml", &fleet)]);
    let o = flotilla_in(
        dir.path(),
        &["sync", "--repo", "."],
        &[("FLOTILLA_FLEET_ZONE", "zone-a")],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        dir.path()
            .join("out/zone-a/core_configmap_shop_web.yaml")
            .exists()
    );
}

#[test]
fn two_clusters_in_one_folder_are_rejected() {
    let fleet = FLEET.replace(
        "  bases:",
        "    - {name: eu-2, labels: {region: eu}, connection: {directory: ./out//eu-1/}}\n  bases:",
    );
    let dir = repo(&[("fleet.yaml", &fleet)]);
    validate_fails(
        dir.path(),
        &[
            "fleet.yaml:7: document 1: spec.clusters[1].connection.directory: cluster \"eu-2\" writes to the same folder as cluster \"eu-1\"",
        ],
        STALL_LIMIT,
    );
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

#[cfg(unix)]
#[test]
fn a_symlinked_manifest_is_an_error_in_the_work_tree_and_in_a_commit() {
    use std::os::unix::fs::symlink;
    let dir = repo(&[]);
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "cm.yaml", CM);
    symlink(
        outside.path().join("cm.yaml"),
        dir.path().join("bases/web/outside.yaml"),
    )
    .unwrap();
    symlink("web.yaml", dir.path().join("bases/web/inside.yaml")).unwrap();
    symlink("missing.yaml", dir.path().join("overlays/eu/dangling.yaml")).unwrap();
    let expected = [
        "bases/web/inside.yaml: symlinks are not followed: bases/web/inside.yaml",
        "bases/web/outside.yaml: symlinks are not followed: bases/web/outside.yaml",
        "overlays/eu/dangling.yaml: symlinks are not followed: overlays/eu/dangling.yaml",
    ];
    validate_fails(dir.path(), &expected, STALL_LIMIT);
    // sync refuses too, so nothing is pruned.
    let o = flotilla_in(dir.path(), &["sync", "--repo", "."], &[]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!dir.path().join("out").exists());

    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-qm", "links"]);
    let o = flotilla(&[
        "validate",
        "--repo",
        dir.path().to_str().unwrap(),
        "--rev",
        "HEAD",
    ]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    for e in expected {
        assert!(out.contains(e), "missing {e:?} in:\n{out}");
    }
}

#[test]
fn a_pull_request_comment_cannot_be_injected() {
    let dir = repo(&[]);
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-qm", "one"]);
    let hostile = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: shop}\ndata:\n  a: |\n    ```\n    </details><script>alert(1)</script>\n";
    write(dir.path(), "bases/web/web.yaml", hostile);
    let branch = "x`<script>|y";
    git(dir.path(), &["checkout", "-qb", branch]);
    git(dir.path(), &["commit", "-qam", "two"]);
    let o = flotilla(&[
        "diff",
        "--repo",
        dir.path().to_str().unwrap(),
        "--from",
        "main",
        "--to",
        branch,
        "-o",
        "markdown",
    ]);
    let md = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // The revision name stays inside its code span.
    assert!(md.contains("``x`<script>|y ("), "{md}");
    // The value's ``` cannot close the diff block: the fence is longer.
    assert!(md.contains("````diff\n"), "{md}");
    let mut open: Option<String> = None;
    for line in md.lines() {
        let ticks: String = line.chars().take_while(|c| *c == '`').collect();
        match &open {
            None if ticks.len() >= 3 => open = Some(ticks),
            Some(f) if line == f.as_str() => open = None,
            Some(_) => {}
            None => assert!(
                !line.contains("</details><script>"),
                "the value outside a code block: {line}\n{md}"
            ),
        }
    }
    assert!(open.is_none(), "unclosed code block:\n{md}");
}

#[test]
fn a_prune_ratio_that_is_not_a_share_is_refused() {
    let dir = repo(&[]);
    for bad in ["NaN", "-0.1", "1.5", "inf", "x"] {
        let arg = format!("--max-prune-ratio={bad}");
        let o = flotilla_in(dir.path(), &["sync", "--repo", ".", &arg], &[]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(text(&o).contains("--max-prune-ratio"), "{}", text(&o));
        assert!(!dir.path().join("out").exists());
    }
    let o = flotilla_in(
        dir.path(),
        &["sync", "--repo", ".", "--max-prune-ratio", "1"],
        &[],
    );
    assert!(o.status.success(), "{}", text(&o));
    // The daemon's config file is checked the same way.
    write(dir.path(), "daemon.yaml", "repo: .\nmaxPruneRatio: .nan\n");
    let o = flotilla_in(dir.path(), &["serve", "--config", "daemon.yaml"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("maxPruneRatio"), "{}", text(&o));
}

/// A repository whose base holds ConfigMaps `cm-0`..`cm-<n-1>`.
fn many_objects(dir: &Path, n: usize) {
    let _ = std::fs::remove_dir_all(dir.join("bases/web"));
    for i in 0..n {
        let cm = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: shop}}\n"
        );
        write(dir, &format!("bases/web/cm-{i}.yaml"), &cm);
    }
}

#[test]
fn a_few_commits_each_under_the_ratio_cannot_empty_a_cluster() {
    let dir = repo(&[]);
    let sync = |extra: &[&str]| {
        let mut args = vec!["sync", "--repo", "."];
        args.extend_from_slice(extra);
        flotilla_in(dir.path(), &args, &[])
    };
    let count = || {
        std::fs::read_dir(dir.path().join("out/eu-1"))
            .unwrap()
            .filter(|e| {
                let name = e.as_ref().unwrap().file_name();
                !name.to_string_lossy().starts_with('.')
            })
            .count()
    };
    many_objects(dir.path(), 10);
    let o = sync(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(count(), 10);
    // Commit 1 removes 4 of 10 (40%, under the per-round 50%): pruned.
    many_objects(dir.path(), 6);
    let o = sync(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(count(), 6);
    // The window is kept beside the inventory, for the next run.
    let record = dir
        .path()
        .join("out/eu-1/.flotilla-prune-window-demo.eu-1.json");
    assert!(record.exists());
    // Commit 2 removes 3 of 6 (50%, allowed alone): with the 4 before,
    // 7 of 10 within the window. Refused, nothing deleted.
    many_objects(dir.path(), 3);
    let o = sync(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains(
            "with the 4 pruned in the previous 1 pruning round(s), 7 of 10 managed objects"
        ),
        "{out}"
    );
    assert!(out.contains("window of 5 rounds"), "{out}");
    assert_eq!(count(), 6);
    // A hand-edited record cannot switch the guard off silently: a record
    // that does not read refuses the prune.
    let kept = std::fs::read_to_string(&record).unwrap();
    std::fs::write(&record, "{\"rounds\": 7}").unwrap();
    let o = sync(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("window cannot be read"), "{}", text(&o));
    assert_eq!(count(), 6);
    std::fs::write(&record, kept).unwrap();
    // The window is configurable: the flag (and spec.pruneWindow) with 1
    // round is the per-round guard alone.
    let o = sync(&["--prune-window", "1", "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(count(), 6);
    let fleet = FLEET.replace("  clusters:", "  pruneWindow: 1\n  clusters:");
    write(dir.path(), "fleet.yaml", &fleet);
    let o = sync(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(count(), 3);
    // An out-of-range window is an error naming the field.
    write(
        dir.path(),
        "fleet.yaml",
        &fleet.replace("pruneWindow: 1", "pruneWindow: 1000"),
    );
    let o = flotilla_in(dir.path(), &["validate", "--repo", "."], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("spec.pruneWindow"), "{}", text(&o));
    let o = sync(&["--prune-window", "-1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
