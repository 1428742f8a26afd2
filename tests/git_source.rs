//! The Git source layer against real Git servers on 127.0.0.1: a bare
//! repository over `file://`, `git daemon` over `git://`, and `git http-backend`
//! over HTTP with basic authentication, all started by the tests themselves.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flotilla_core::snapshot::Snapshot;
use flotilla_source::{Credentials, FolderWatcher, PollOutcome, Source, SourceError, SourceSpec};
use support::git_server::{GitDaemon, HttpGitServer, SilentServer, closed_port};
use support::{Fixture, git};

const USER: &str = "alice";
const PASSWORD: &str = "correct-horse-battery";

/// A loose sanity bound for "fails within a bounded time" (the configured
/// limits are a few seconds; this only catches a hang).
const HANG: Duration = Duration::from_secs(50);

/// Commits and pushes a small fleet to `main`; returns the commit id.
fn seed(fx: &Fixture) -> String {
    fx.write(
        "fleet.yaml",
        "kind: Fleet\nmetadata: {name: shop}\nspec: {bases: [{name: web, path: bases/web}]}\n",
    );
    fx.write("bases/web/deploy.yaml", "kind: Deployment\nreplicas: 1\n");
    fx.write("bases/web/old.yaml", "kind: ConfigMap\n");
    // Neither a file that is not YAML nor a folder fleet.yaml does not
    // name is read (another fleet of a monorepo here).
    fx.write("bases/web/README.md", "docs\n");
    fx.write(
        "fleets/shop/fleet.yaml",
        "kind: Fleet\nspec: {bases: [{name: web, path: bases/web}]}\n",
    );
    fx.write("fleets/shop/bases/web/a.yaml", "kind: ConfigMap\n");
    fx.write(".github/workflows/ci.yaml", "hidden: true\n");
    fx.write("overlays/.scratch.yaml", "hidden: true\n");
    let commit = fx.commit("first");
    fx.push("main");
    commit
}

fn paths(snapshot: &Snapshot) -> Vec<&str> {
    snapshot.paths().collect()
}

fn text<'a>(snapshot: &'a Snapshot, path: &str) -> &'a str {
    std::str::from_utf8(
        snapshot
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing")),
    )
    .unwrap()
}

fn assert_seeded(snapshot: &Snapshot, commit: &str) {
    assert_eq!(snapshot.revision(), Some(commit));
    assert_eq!(
        paths(snapshot),
        ["bases/web/deploy.yaml", "bases/web/old.yaml", "fleet.yaml"]
    );
    assert_eq!(
        text(snapshot, "bases/web/deploy.yaml"),
        "kind: Deployment\nreplicas: 1\n"
    );
}

/// Pushes a second commit that changes one file and deletes another.
fn push_second(fx: &Fixture) -> String {
    fx.write("bases/web/deploy.yaml", "kind: Deployment\nreplicas: 3\n");
    fx.remove("bases/web/old.yaml");
    let commit = fx.commit("scale up");
    fx.push("main");
    commit
}

fn expect_updated(outcome: PollOutcome) -> (Snapshot, Option<String>, bool) {
    match outcome {
        PollOutcome::Updated {
            snapshot,
            previous,
            history_rewritten,
        } => (snapshot, previous, history_rewritten),
        other => panic!("expected a new commit, got {other:?}"),
    }
}

/// The whole poll cycle on one source: first poll, no change, a new commit.
fn check_poll_cycle(fx: &Fixture, source: &mut Source, first: &str) {
    let (snapshot, previous, rewritten) = expect_updated(source.poll().unwrap());
    assert_seeded(&snapshot, first);
    assert_eq!((previous, rewritten), (None, false));

    assert_eq!(
        source.poll().unwrap(),
        PollOutcome::Unchanged {
            revision: Some(first.to_owned())
        }
    );

    let second = push_second(fx);
    let (snapshot, previous, rewritten) = expect_updated(source.poll().unwrap());
    assert_eq!(snapshot.revision(), Some(second.as_str()));
    assert_eq!(
        text(&snapshot, "bases/web/deploy.yaml"),
        "kind: Deployment\nreplicas: 3\n"
    );
    assert!(snapshot.get("bases/web/old.yaml").is_none());
    assert_eq!(previous.as_deref(), Some(first));
    assert!(!rewritten);
    assert_eq!(source.last_revision().as_deref(), Some(second.as_str()));
}

#[test]
fn file_url_reads_the_default_branch_into_a_bare_cache() {
    let fx = Fixture::new();
    let first = seed(&fx);
    let mut source = Source::open(fx.spec(&fx.file_url())).unwrap();
    assert!(source.is_remote());
    let snapshot = source.snapshot(None).unwrap();
    assert_seeded(&snapshot, &first);

    let cache = source.cache_path().unwrap();
    assert!(cache.starts_with(&fx.cache), "{}", cache.display());
    let repo = git2::Repository::open_bare(&cache).unwrap();
    assert!(repo.is_bare());
    assert!(!cache.join("fleet.yaml").exists(), "nothing is checked out");
}

#[test]
fn file_url_poll_reports_unchanged_then_the_new_commit() {
    let fx = Fixture::new();
    let first = seed(&fx);
    let mut source = Source::open(fx.spec(&fx.file_url())).unwrap();
    check_poll_cycle(&fx, &mut source, &first);
}

#[test]
fn git_daemon_clone_read_and_poll() {
    let fx = Fixture::new();
    let first = seed(&fx);
    let daemon = GitDaemon::start(&fx.srv);
    let mut source = Source::open(fx.spec(&daemon.url("fleet.git"))).unwrap();
    assert_seeded(&source.snapshot(None).unwrap(), &first);
    check_poll_cycle(&fx, &mut source, &first);
}

#[test]
fn http_with_the_right_password_reads_and_polls() {
    let fx = Fixture::new();
    let first = seed(&fx);
    let server = HttpGitServer::start(&fx.srv, USER, PASSWORD);
    let spec = fx
        .spec(&server.url("fleet.git"))
        .with_credentials(Credentials::basic(USER, PASSWORD));
    let mut source = Source::open(spec).unwrap();
    assert_seeded(&source.snapshot(None).unwrap(), &first);
    check_poll_cycle(&fx, &mut source, &first);
}

#[test]
fn http_token_is_sent_as_the_password() {
    let fx = Fixture::new();
    let first = seed(&fx);
    let server = HttpGitServer::start(&fx.srv, "x-access-token", "ghp_token123");
    let spec = fx
        .spec(&server.url("fleet.git"))
        .with_credentials(Credentials::token("ghp_token123"));
    assert_seeded(&Source::open(spec).unwrap().snapshot(None).unwrap(), &first);
}

#[test]
fn http_with_a_wrong_password_fails_without_showing_it() {
    let fx = Fixture::new();
    seed(&fx);
    let server = HttpGitServer::start(&fx.srv, USER, PASSWORD);
    let wrong = "wrong-password-1234";
    let spec = fx
        .spec(&server.url("fleet.git"))
        .with_credentials(Credentials::basic(USER, wrong));
    let started = Instant::now();
    let err = Source::open(spec).unwrap().snapshot(None).unwrap_err();
    assert!(started.elapsed() < HANG);
    assert!(matches!(err, SourceError::AuthFailed { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    println!("wrong password: {err}");
    assert!(
        shown.contains("authentication failed for http://127.0.0.1:"),
        "{shown}"
    );
    assert!(!shown.contains(wrong), "{shown}");
    // Given up after one rejected attempt, not looping.
    assert!(
        server.unauthorized_count() <= 4,
        "{} 401s",
        server.unauthorized_count()
    );
}

#[test]
fn http_credentials_in_the_url_work_and_are_never_shown() {
    let fx = Fixture::new();
    let first = seed(&fx);
    let server = HttpGitServer::start(&fx.srv, USER, PASSWORD);

    let url = server.url_with_userinfo("fleet.git", USER, PASSWORD);
    let mut source = Source::open(fx.spec(&url)).unwrap();
    assert!(!source.location().contains(PASSWORD));
    assert!(!format!("{source:?} {:?}", fx.spec(&url)).contains(PASSWORD));
    assert_seeded(&source.snapshot(None).unwrap(), &first);

    let wrong = "wrong-in-url-5678";
    let url = server.url_with_userinfo("fleet.git", USER, wrong);
    let err = Source::open(fx.spec(&url))
        .unwrap()
        .snapshot(None)
        .unwrap_err();
    assert!(matches!(err, SourceError::AuthFailed { .. }), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(
        !shown.contains(wrong) && !shown.contains("alice:"),
        "{shown}"
    );
}

#[test]
fn an_interrupted_fetch_leaves_a_usable_cache() {
    let fx = Fixture::new();
    let first = seed(&fx);
    let server = HttpGitServer::start(&fx.srv, USER, PASSWORD);
    let spec = fx
        .spec(&server.url("fleet.git"))
        .with_credentials(Credentials::basic(USER, PASSWORD));
    let mut source = Source::open(spec).unwrap();
    expect_updated(source.poll().unwrap());

    let second = push_second(&fx);
    server.cut_pack_responses(true);
    let err = source.poll().unwrap_err();
    println!("interrupted: {err}");
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains(&server.url("fleet.git")), "{err}");
    assert!(!format!("{err:?}").contains(PASSWORD));

    // Nothing half-written is visible: refs still point at the first commit.
    let cache = git2::Repository::open_bare(source.cache_path().unwrap()).unwrap();
    let main = cache.find_reference("refs/remotes/origin/main").unwrap();
    assert_eq!(main.target().unwrap().to_string(), first);

    server.cut_pack_responses(false);
    let (snapshot, previous, rewritten) = expect_updated(source.poll().unwrap());
    assert_eq!(snapshot.revision(), Some(second.as_str()));
    assert_eq!(
        (previous.as_deref(), rewritten),
        (Some(first.as_str()), false)
    );
}

#[test]
fn a_snapshot_of_a_rev_pushed_after_the_first_fetch_fetches_again() {
    let fx = Fixture::new();
    seed(&fx);
    let mut source = Source::open(fx.spec(&fx.file_url())).unwrap();
    source.snapshot(None).unwrap();
    let second = push_second(&fx);
    fx.push("later");
    assert_eq!(
        source.snapshot(Some("later")).unwrap().revision(),
        Some(second.as_str())
    );
    assert_eq!(
        source.snapshot(Some(&second[..9])).unwrap().revision(),
        Some(second.as_str())
    );
}

#[test]
fn http_without_credentials_is_an_auth_error() {
    let fx = Fixture::new();
    seed(&fx);
    let server = HttpGitServer::start(&fx.srv, USER, PASSWORD);
    let err = Source::open(fx.spec(&server.url("fleet.git")))
        .unwrap()
        .snapshot(None)
        .unwrap_err();
    assert!(matches!(err, SourceError::AuthFailed { .. }), "{err:?}");
    assert!(err.to_string().contains("none are configured"), "{err}");
}

#[test]
fn force_push_is_a_new_commit_flagged_as_rewritten() {
    let fx = Fixture::new();
    let first = seed(&fx);
    let daemon = GitDaemon::start(&fx.srv);
    let mut source = Source::open(fx.spec(&daemon.url("fleet.git"))).unwrap();
    expect_updated(source.poll().unwrap());

    git(&fx.work, &["reset", "-q", "--hard", "HEAD"]);
    fx.write("fleet.yaml", "kind: Fleet\nmetadata: {name: rewritten}\n");
    git(&fx.work, &["add", "-A"]);
    git(
        &fx.work,
        &["commit", "-q", "--amend", "-m", "rewritten first"],
    );
    let rewritten = git(&fx.work, &["rev-parse", "HEAD"]);
    fx.force_push("main");

    let outcome = source.poll().unwrap();
    assert!(outcome.history_rewritten(), "{outcome:?}");
    let (snapshot, previous, _) = expect_updated(outcome);
    assert_eq!(snapshot.revision(), Some(rewritten.as_str()));
    assert_eq!(previous.as_deref(), Some(first.as_str()));
    assert!(text(&snapshot, "fleet.yaml").contains("rewritten"));

    // A normal commit on top is not flagged.
    push_second(&fx);
    assert!(!source.poll().unwrap().history_rewritten());
}

#[test]
fn a_deleted_tracked_branch_is_an_error_naming_it() {
    let fx = Fixture::new();
    seed(&fx);
    fx.push("feature");
    let mut source = Source::open(fx.spec(&fx.file_url()).with_rev("feature")).unwrap();
    let (_, _, _) = expect_updated(source.poll().unwrap());
    let last = source.last_revision().unwrap();

    fx.delete_branch("feature");
    for _ in 0..2 {
        let err = source.poll().unwrap_err();
        println!("deleted: {err}");
        assert!(matches!(err, SourceError::RefDeleted { .. }), "{err:?}");
        let shown = err.to_string();
        assert!(shown.contains("refs/heads/feature"), "{shown}");
        assert!(shown.contains(&last), "{shown}");
    }

    // The branch comes back: polling resumes.
    fx.write("fleet.yaml", "kind: Fleet\nmetadata: {name: back}\n");
    fx.commit("back");
    fx.push("feature");
    assert!(source.poll().unwrap().is_updated());
}

#[test]
fn an_unknown_branch_is_an_error_naming_it() {
    let fx = Fixture::new();
    seed(&fx);
    let err = Source::open(fx.spec(&fx.file_url()).with_rev("no-such-branch"))
        .unwrap()
        .snapshot(None)
        .unwrap_err();
    assert!(matches!(err, SourceError::RevNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("'no-such-branch'"), "{err}");
}

#[test]
fn an_empty_remote_has_no_default_branch() {
    let fx = Fixture::new();
    let err = Source::open(fx.spec(&fx.file_url()))
        .unwrap()
        .snapshot(None)
        .unwrap_err();
    assert!(
        matches!(err, SourceError::NoDefaultBranch { .. }),
        "{err:?}"
    );
}

#[test]
fn revs_by_branch_tag_short_and_full_commit_id() {
    let fx = Fixture::new();
    let first = seed(&fx);
    fx.tag("v1.0.0");
    let second = push_second(&fx);
    fx.push("release");

    let mut source = Source::open(fx.spec(&fx.file_url())).unwrap();
    for rev in ["v1.0.0", "refs/tags/v1.0.0", &first[..8], first.as_str()] {
        let snapshot = source.snapshot(Some(rev)).unwrap();
        assert_eq!(snapshot.revision(), Some(first.as_str()), "rev {rev}");
        assert_seeded(&snapshot, &first);
    }
    for rev in ["main", "release", "refs/heads/main", &second[..7], "HEAD"] {
        let snapshot = source.snapshot(Some(rev)).unwrap();
        assert_eq!(snapshot.revision(), Some(second.as_str()), "rev {rev}");
    }
    let err = source.snapshot(Some("v9")).unwrap_err();
    assert!(err.to_string().contains("'v9'"), "{err}");

    // A spec's rev is the default of `snapshot(None)`.
    let mut pinned = Source::open(fx.spec(&fx.file_url()).with_rev(&first[..10])).unwrap();
    assert_eq!(
        pinned.snapshot(None).unwrap().revision(),
        Some(first.as_str())
    );
}

#[test]
fn unreachable_remotes_fail_within_a_bounded_time() {
    let fx = Fixture::new();
    let port = closed_port();
    let silent = SilentServer::start();
    let cases = [
        (format!("git://127.0.0.1:{port}/fleet.git"), false),
        (format!("http://127.0.0.1:{port}/fleet.git"), false),
        (format!("git://127.0.0.1:{}/fleet.git", silent.port()), true),
        (
            format!("http://127.0.0.1:{}/fleet.git", silent.port()),
            true,
        ),
    ];
    std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(url, silent)| {
                let spec = fx.spec(url);
                scope.spawn(move || {
                    let started = Instant::now();
                    let err = Source::open(spec).unwrap().snapshot(None).unwrap_err();
                    (url, *silent, err, started.elapsed())
                })
            })
            .collect();
        for handle in handles {
            let (url, silent, err, elapsed) = handle.join().unwrap();
            println!("{url}: {err} (after {elapsed:?})");
            assert!(elapsed < HANG, "{url}: took {elapsed:?}");
            assert!(err.is_transient(), "{url}: {err:?}");
            if silent {
                assert!(matches!(err, SourceError::Timeout { .. }), "{url}: {err:?}");
            } else {
                assert!(
                    matches!(err, SourceError::Unreachable { .. }),
                    "{url}: {err:?}"
                );
            }
            assert!(err.to_string().contains(url.as_str()), "{url}: {err}");
        }
    });
}

#[cfg(unix)]
#[test]
fn a_local_folder_is_read_from_disk_without_hidden_files_or_links() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.yaml"), "outside").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    // Only the folders fleet.yaml names are read (here `bases`): the links
    // are made there; the same links outside them are not touched.
    let fleet = "kind: Fleet\nspec:\n  bases:\n    - {name: all, path: bases}\n";
    for (path, contents) in [
        ("fleet.yaml", fleet),
        ("bases/web/a.yaml", "a"),
        (".flotilla/live/x/obj.yaml", "live"),
        (".hidden.yaml", "hidden"),
        ("bases/.editor.swp", "swap"),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    for dir in ["bases", "other"] {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).unwrap();
        symlink("web/a.yaml", d.join("link.yaml")).unwrap();
        symlink(outside.path().join("secret.yaml"), d.join("escape.yaml")).unwrap();
        symlink(outside.path(), d.join("escape-dir")).unwrap();
        symlink("missing.yaml", d.join("dangling.yaml")).unwrap();
    }
    symlink("..", root.join("bases/loop")).unwrap();
    symlink("web", root.join("bases/web-alias")).unwrap();

    let mut source = Source::open(SourceSpec::new(root.to_str().unwrap())).unwrap();
    let snapshot = source.snapshot(None).unwrap();
    assert_eq!(snapshot.revision(), None);
    assert_eq!(paths(&snapshot), ["bases/web/a.yaml", "fleet.yaml"]);
    // Symlinks are never followed; each is recorded, for load to report.
    assert_eq!(
        snapshot.symlinks().collect::<Vec<_>>(),
        [
            "bases/dangling.yaml",
            "bases/escape-dir",
            "bases/escape.yaml",
            "bases/link.yaml",
            "bases/loop",
            "bases/web-alias",
        ]
    );

    // Polling a work tree compares contents.
    assert!(source.poll().unwrap().is_updated());
    assert!(!source.poll().unwrap().is_updated());
    std::fs::write(root.join("fleet.yaml"), format!("{fleet}# edited\n")).unwrap();
    assert!(source.poll().unwrap().is_updated());
}

#[cfg(unix)]
#[test]
fn symlinks_in_commits_are_recorded_as_in_the_work_tree() {
    use std::os::unix::fs::symlink;
    let fx = Fixture::new();
    // The work tree reader reads only the folders fleet.yaml names: the
    // links are there (and in clusters/, read by convention).
    fx.write(
        "fleet.yaml",
        "kind: Fleet\nspec:\n  bases:\n    - {name: all, path: bases}\n",
    );
    fx.write("bases/web/a.yaml", "a");
    std::fs::create_dir_all(fx.work.join("clusters")).unwrap();
    symlink("../bases/web/a.yaml", fx.work.join("clusters/link.yaml")).unwrap();
    symlink("/etc/hostname", fx.work.join("bases/escape.yaml")).unwrap();
    symlink("../../outside", fx.work.join("bases/escape-dir")).unwrap();
    symlink("..", fx.work.join("bases/loop")).unwrap();
    symlink("web", fx.work.join("bases/web-alias")).unwrap();
    symlink("missing.yaml", fx.work.join("bases/dangling.yaml")).unwrap();
    fx.commit("links");
    fx.push("main");

    let from_git = Source::open(fx.spec(&fx.file_url()))
        .unwrap()
        .snapshot(None)
        .unwrap();
    let from_disk = Source::open(SourceSpec::new(fx.work.to_str().unwrap()))
        .unwrap()
        .snapshot(None)
        .unwrap();
    assert_eq!(paths(&from_git), ["bases/web/a.yaml", "fleet.yaml"]);
    assert_eq!(paths(&from_git), paths(&from_disk));
    assert_eq!(
        from_git.symlinks().collect::<Vec<_>>(),
        [
            "bases/dangling.yaml",
            "bases/escape-dir",
            "bases/escape.yaml",
            "bases/loop",
            "bases/web-alias",
            "clusters/link.yaml"
        ]
    );
    assert_eq!(
        from_git.symlinks().collect::<Vec<_>>(),
        from_disk.symlinks().collect::<Vec<_>>()
    );
}

#[test]
fn a_local_folder_with_a_rev_reads_the_commit_not_the_work_tree() {
    let fx = Fixture::new();
    let first = seed(&fx);
    // The work tree reader reads the folders the uncommitted fleet.yaml names.
    let edited = "# uncommitted edit\nspec: {bases: [{name: web, path: bases/web}]}\n";
    fx.write("fleet.yaml", edited);
    fx.write("bases/web/new.yaml", "untracked\n");
    let work = fx.work.to_str().unwrap();

    let committed = Source::open(SourceSpec::new(work).with_rev("HEAD"))
        .unwrap()
        .snapshot(None)
        .unwrap();
    assert_seeded(&committed, &first);

    let on_disk = Source::open(SourceSpec::new(work))
        .unwrap()
        .snapshot(None)
        .unwrap();
    assert_eq!(on_disk.revision(), None);
    assert_eq!(text(&on_disk, "fleet.yaml"), edited);
    assert!(on_disk.get("bases/web/new.yaml").is_some());

    // A folder inside the repository reads that folder of the commit (a
    // fleet of a monorepo).
    let shop = fx.work.join("fleets/shop");
    let sub = Source::open(SourceSpec::new(shop.to_str().unwrap()).with_rev("main"))
        .unwrap()
        .snapshot(None)
        .unwrap();
    assert_eq!(paths(&sub), ["bases/web/a.yaml", "fleet.yaml"]);
    assert_eq!(sub.revision(), Some(first.as_str()));

    // Reading by rev does not touch the work tree.
    assert_eq!(
        std::fs::read_to_string(fx.work.join("fleet.yaml")).unwrap(),
        edited
    );
}

#[test]
fn a_local_repository_is_polled_by_rev() {
    let fx = Fixture::new();
    let first = seed(&fx);
    let mut source =
        Source::open(SourceSpec::new(fx.work.to_str().unwrap()).with_rev("main")).unwrap();
    expect_updated(source.poll().unwrap());
    assert!(!source.poll().unwrap().is_updated());
    let second = push_second(&fx);
    let (snapshot, previous, rewritten) = expect_updated(source.poll().unwrap());
    assert_eq!(snapshot.revision(), Some(second.as_str()));
    assert_eq!(previous.as_deref(), Some(first.as_str()));
    assert!(!rewritten);
}

/// Files of the cache's object database.
fn object_files(cache: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![cache.join("objects")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn a_corrupted_cache_is_rebuilt() {
    let fx = Fixture::new();
    let first = seed(&fx);
    let mut source = Source::open(fx.spec(&fx.file_url())).unwrap();
    expect_updated(source.poll().unwrap());
    let cache = source.cache_path().unwrap();

    // 1. Truncated packs and objects: the next poll of a new commit recovers.
    for file in object_files(&cache) {
        std::fs::write(&file, b"").unwrap();
    }
    let second = push_second(&fx);
    let (snapshot, _, _) = expect_updated(source.poll().unwrap());
    assert_eq!(snapshot.revision(), Some(second.as_str()));
    assert_eq!(
        text(&snapshot, "bases/web/deploy.yaml"),
        "kind: Deployment\nreplicas: 3\n"
    );

    // 2. Deleted objects with nothing new to fetch: a fresh source recovers.
    for file in object_files(&cache) {
        std::fs::remove_file(file).unwrap();
    }
    let snapshot = Source::open(fx.spec(&fx.file_url()))
        .unwrap()
        .snapshot(Some(&first))
        .unwrap();
    assert_seeded(&snapshot, &first);

    // 3. A broken repository layout (HEAD and config gone).
    std::fs::remove_file(cache.join("HEAD")).unwrap();
    std::fs::remove_file(cache.join("config")).unwrap();
    let snapshot = Source::open(fx.spec(&fx.file_url()))
        .unwrap()
        .snapshot(None)
        .unwrap();
    assert_eq!(snapshot.revision(), Some(second.as_str()));

    // 4. Garbage in a ref, and a stale ref lock from an interrupted fetch.
    let branch_ref = cache.join("refs/remotes/origin/main");
    if branch_ref.exists() {
        std::fs::write(&branch_ref, "not a commit id\n").unwrap();
    }
    std::fs::write(cache.join("refs/remotes/origin/main.lock"), "").unwrap();
    fx.write("fleet.yaml", "kind: Fleet\nmetadata: {name: third}\n");
    let third = fx.commit("third");
    fx.push("main");
    let (snapshot, _, _) = expect_updated(source.poll().unwrap());
    assert_eq!(snapshot.revision(), Some(third.as_str()));
}

#[test]
fn two_sources_share_one_cache_safely() {
    let fx = Fixture::new();
    let first = seed(&fx);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                let spec = fx.spec(&fx.file_url());
                let first = first.clone();
                scope.spawn(move || {
                    let mut source = Source::open(spec).unwrap();
                    for _ in 0..3 {
                        source.fetch().unwrap();
                        assert_seeded(&source.snapshot(None).unwrap(), &first);
                    }
                    source.cache_path().unwrap()
                })
            })
            .collect();
        let caches: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(caches.windows(2).all(|w| w[0] == w[1]));
    });
}

#[test]
fn specs_sources_and_errors_never_show_credentials() {
    let fx = Fixture::new();
    let spec = fx
        .spec("https://bob:url-secret@git.invalid/fleet.git")
        .with_credentials(Credentials::basic("bob", "cred-secret"));
    let source = Source::open(spec.clone()).unwrap();
    let shown = format!("{spec:?} {source:?} {}", source.location());
    assert!(
        !shown.contains("url-secret") && !shown.contains("cred-secret"),
        "{shown}"
    );
    assert!(shown.contains("https://git.invalid/fleet.git"), "{shown}");
}

#[test]
fn a_missing_local_folder_is_a_clear_error() {
    let err = Source::open(SourceSpec::new("/nonexistent/flotilla/fleet")).unwrap_err();
    assert!(matches!(err, SourceError::FolderNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/flotilla/fleet"));
}

#[test]
fn watching_a_folder_reports_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let watcher = FolderWatcher::with_debounce(dir.path(), Duration::from_millis(50)).unwrap();
    std::fs::write(dir.path().join("fleet.yaml"), "kind: Fleet\n").unwrap();
    let change = watcher
        .next_change(Duration::from_secs(10))
        .unwrap()
        .expect("a change within 10 s");
    assert!(
        change.paths.contains(&PathBuf::from("fleet.yaml")),
        "{change:?}"
    );
}
