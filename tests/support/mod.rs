//! The helpers the integration tests share, one copy each. A test binary
//! includes this folder with `mod support;` (from a sub-folder or a bench:
//! `#[path = "../support/mod.rs"] mod support;`) and uses what it needs:
//!
//! - [`run`]: the `flotilla` binary, run as a user would, bounded in time;
//! - [`files`]: fleet repositories in temporary folders, `tests/testdata/`;
//! - [`report`]: reading drift reports in assertions;
//! - [`objects`]: reading Kubernetes objects (plural names, resource versions);
//! - [`http`]: a minimal HTTP/1.1 client for the daemon, webhook signing;
//! - this module: isolated `git` commands and fixture repositories, and
//!   [`git_server`]: real Git servers on 127.0.0.1.
//!
//! `tests/sync_support` (clusters behind the `Cluster` trait, sync summaries)
//! and `tests/daemon_support` (a daemon child process) build on these.
//!
//! Nothing here reads the user's Git configuration: child processes get a
//! private `HOME` and `GIT_CONFIG_NOSYSTEM`, and libgit2 in the test process is
//! pointed at an empty configuration folder.

#![allow(dead_code)] // each test binary uses a different part of the support

pub mod files;
pub mod git_server;
pub mod http;
pub mod objects;
pub mod report;
pub mod run;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Once, OnceLock};
use std::time::Duration;

use flotilla_source::{NetworkTimeouts, SourceSpec, set_network_timeouts};

/// The network time limits of the tests: short, so that the "server never
/// answers" cases finish quickly, yet ample for servers on 127.0.0.1.
pub const TEST_TIMEOUTS: NetworkTimeouts = NetworkTimeouts {
    connect: Duration::from_secs(5),
    io: Duration::from_secs(4),
};

/// A private home folder for the `git` children and libgit2's global config.
pub fn isolated_home() -> &'static Path {
    static HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    HOME.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("flotilla-test-home")
            .tempdir()
            .expect("create an isolated home folder")
    })
    .path()
}

/// Once per test binary: hide the user's Git configuration from libgit2 and set
/// the test network time limits. Call it first in every test. With
/// `FLOTILLA_TEST_LOG` set (e.g. `flotilla=debug`), logs go to the test output.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Ok(filter) = std::env::var("FLOTILLA_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let home = isolated_home();
        for level in [
            git2::ConfigLevel::System,
            git2::ConfigLevel::XDG,
            git2::ConfigLevel::Global,
            git2::ConfigLevel::ProgramData,
        ] {
            // SAFETY: runs once, before any test of this binary touches libgit2
            // (every test calls `init` first, and `Once` makes the others wait).
            unsafe { git2::opts::set_search_path(level, home) }.expect("set libgit2 search path");
        }
        set_network_timeouts(TEST_TIMEOUTS);
    });
}

/// A `git` command in `dir` that sees no user or system configuration.
pub fn git_command(dir: &Path) -> Command {
    let home = isolated_home();
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", home.join("gitconfig"))
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("LANG", "C")
        .env("GIT_AUTHOR_NAME", "Flotilla Test")
        .env("GIT_AUTHOR_EMAIL", "test@flotilla.invalid")
        .env("GIT_COMMITTER_NAME", "Flotilla Test")
        .env("GIT_COMMITTER_EMAIL", "test@flotilla.invalid");
    cmd
}

/// Runs `git args...` in `dir`, panicking with its stderr on failure; returns stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = git_command(dir)
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {args:?} failed in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A served bare repository (`srv/fleet.git`), a work clone to commit and push
/// from, and a cache folder for the sources under test.
pub struct Fixture {
    dir: tempfile::TempDir,
    /// The folder servers export (`--base-path`, `GIT_PROJECT_ROOT`).
    pub srv: PathBuf,
    /// The bare repository, `srv/fleet.git`.
    pub bare: PathBuf,
    /// The work clone.
    pub work: PathBuf,
    /// The cache folder for sources.
    pub cache: PathBuf,
}

impl Fixture {
    /// An empty bare repository and a work clone on branch `main`.
    pub fn new() -> Self {
        init();
        let dir = tempfile::Builder::new()
            .prefix("flotilla-git-test")
            .tempdir()
            .expect("tempdir");
        let srv = dir.path().join("srv");
        let bare = srv.join("fleet.git");
        let work = dir.path().join("work");
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(&srv).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        git(&srv, &["init", "-q", "--bare", "fleet.git"]);
        git(&work, &["init", "-q"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        Self {
            dir,
            srv,
            bare,
            work,
            cache,
        }
    }

    /// The fixture's temporary folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file of the work clone (creating folders).
    pub fn write(&self, rel: &str, contents: &str) {
        let path = self.work.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    /// Removes a file of the work clone.
    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.work.join(rel)).unwrap();
    }

    /// Commits everything; returns the commit id.
    pub fn commit(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(
            &self.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        );
        git(&self.work, &["rev-parse", "HEAD"])
    }

    /// Pushes the current commit to `branch`.
    pub fn push(&self, branch: &str) {
        git(
            &self.work,
            &["push", "-q", "origin", &format!("HEAD:refs/heads/{branch}")],
        );
    }

    /// Force-pushes the current commit to `branch`.
    pub fn force_push(&self, branch: &str) {
        git(
            &self.work,
            &[
                "push",
                "-q",
                "--force",
                "origin",
                &format!("HEAD:refs/heads/{branch}"),
            ],
        );
    }

    /// Deletes `branch` on the served repository.
    pub fn delete_branch(&self, branch: &str) {
        git(&self.work, &["push", "-q", "origin", "--delete", branch]);
    }

    /// Tags the current commit (annotated) and pushes the tag.
    pub fn tag(&self, name: &str) {
        git(&self.work, &["tag", "-a", "-m", name, name]);
        git(
            &self.work,
            &["push", "-q", "origin", &format!("refs/tags/{name}")],
        );
    }

    /// `file://` URL of the served repository.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// A spec for `location` that caches into this fixture's cache folder.
    pub fn spec(&self, location: &str) -> SourceSpec {
        SourceSpec::new(location).with_cache_dir(&self.cache)
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}
