//! `--repo DIR` as a user meets it on the first day: only the folders
//! fleet.yaml names are read (a build folder, a FIFO or a link elsewhere is
//! never touched), and relative `directory:` connections land in the
//! repository folder whatever the working directory.

mod support;

use std::path::Path;
use std::process::Command;

use support::files::write;
use support::run::{RUN_LIMIT, Run, run};

const FLEET: &str = "apiVersion: flotilla.dev/v1alpha1
kind: Fleet
metadata: {name: demo}
spec:
  clusters:
    - {name: c1, labels: {env: dev}, connection: {directory: .flotilla/live/c1}}
  bases:
    - {name: web, path: bases/web}
";

const WEB: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: shop}
data: {a: '1'}
";

fn flotilla(cwd: &Path, args: &[&str]) -> Run {
    run(cwd, args, &[], RUN_LIMIT)
}

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "fleet.yaml", FLEET);
    write(dir.path(), "bases/web/web.yaml", WEB);
    write(dir.path(), "bases/web/README.md", "# the web base\n");
    dir
}

#[cfg(unix)]
#[test]
fn validate_reads_only_the_named_folders_and_only_yaml() {
    let dir = repo();
    let root = dir.path();
    // A build folder: a big file, a FIFO (reading it would block), a link
    // out of the repository (a link is an error where the fleet reads) and
    // a file nobody may read.
    let target = root.join("target/debug");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("big.rlib"), vec![0u8; 8 << 20]).unwrap();
    let fifo = target.join("pipe.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    std::os::unix::fs::symlink("/etc", target.join("escape")).unwrap();
    let locked = target.join("locked.yaml");
    std::fs::write(&locked, "kind: nope\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Non-YAML and non-UTF-8 files beside the fleet.
    std::fs::write(root.join("notes.bin"), [0xff, 0xfe, 0x00]).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("stray-link.yaml")).unwrap();

    let o = flotilla(root, &["validate", "--repo", "."]);
    assert_eq!(o.code, 0, "{o}");
    assert!(o.stdout.starts_with("ok: 1 cluster"), "{o}");

    // A link inside a named folder is still an error naming it.
    std::os::unix::fs::symlink("web.yaml", root.join("bases/web/alias.yaml")).unwrap();
    let o = flotilla(root, &["validate", "--repo", "."]);
    assert_eq!(o.code, 1, "{o}");
    assert!(
        o.all()
            .contains("bases/web/alias.yaml: symlinks are not followed"),
        "{o}"
    );
    assert!(!o.all().contains("stray-link"), "{o}");
}

#[test]
fn a_relative_directory_connection_is_the_same_from_any_working_directory() {
    let dir = repo();
    let root = dir.path();
    let elsewhere = tempfile::tempdir().unwrap();
    let repo_arg = root.to_str().unwrap();

    let first = flotilla(root, &["sync", "--repo", "."]);
    assert_eq!(first.code, 0, "{first}");
    assert!(first.stdout.contains("c1: 1 created"), "{first}");
    let live = root.join(".flotilla/live/c1");
    assert!(live.is_dir(), "{first}");

    // From another folder, with the repository given by its path: the same
    // live tree, nothing to do.
    let second = flotilla(elsewhere.path(), &["sync", "--repo", repo_arg]);
    assert_eq!(second.code, 0, "{second}");
    assert!(
        second
            .stdout
            .contains("c1: 0 created, 0 configured, 1 unchanged"),
        "{second}"
    );
    assert!(!elsewhere.path().join(".flotilla").exists(), "{second}");

    // drift reads the same tree.
    let drift = flotilla(elsewhere.path(), &["drift", "--repo", repo_arg]);
    assert_eq!(drift.code, 0, "{drift}");
}

#[test]
fn a_git_source_resolves_relative_directories_against_the_state_folder() {
    let fx = support::Fixture::new();
    fx.write("fleet.yaml", FLEET);
    fx.write("bases/web/web.yaml", WEB);
    fx.commit("first");
    fx.push("main");
    let state = fx.path().join("state");
    let (url, cache) = (fx.file_url(), fx.cache.display().to_string());
    let args = [
        "sync",
        "--repo",
        url.as_str(),
        "--cache-dir",
        cache.as_str(),
    ];
    let env = [("FLOTILLA_STATE_DIR", state.to_str().unwrap())];
    let (a, b) = (fx.path().join("a"), fx.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();

    let first = run(&a, &args, &env, RUN_LIMIT);
    assert_eq!(first.code, 0, "{first}");
    assert!(first.stdout.contains("c1: 1 created"), "{first}");
    assert!(state.join(".flotilla/live/c1").is_dir(), "{first}");
    let second = run(&b, &args, &env, RUN_LIMIT);
    assert_eq!(second.code, 0, "{second}");
    assert!(second.stdout.contains("1 unchanged"), "{second}");
    assert!(!a.join(".flotilla").exists() && !b.join(".flotilla").exists());
}
