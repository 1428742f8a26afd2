//! Signed commits: with an allowed signers file (Git's SSH format), only
//! commits signed by an allowed key are read, over file:// and git://;
//! unsigned and wrongly signed commits are refused naming the commit and
//! why, a poll keeps the last verified commit, and a work tree says it
//! cannot be verified. Keys are made in the test with `ssh-keygen`.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use flotilla_source::{Source, SourceError, Verification};
use support::git_server::GitDaemon;
use support::{Fixture, git};

const FLEET: &str = "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nmetadata: {name: shop}\nspec:\n  clusters:\n    - name: c1\n      connection: {directory: out/c1}\n  bases:\n    - name: web\n      path: bases/web\n";
const WEB: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: shop}\ndata: {v: \"1\"}\n";

/// An SSH key pair made by `ssh-keygen` in `dir`; returns the private key path.
fn ssh_key(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// An allowed signers file trusting `key` as `principal`.
fn allowed_signers(dir: &Path, principal: &str, key: &Path) -> PathBuf {
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let path = dir.join("allowed_signers");
    std::fs::write(&path, format!("{principal} namespaces=\"git\" {public}")).unwrap();
    path
}

/// Commits everything, signed with `key` (SSH) or unsigned; returns the id.
fn commit(f: &Fixture, message: &str, key: Option<&Path>) -> String {
    git(&f.work, &["add", "-A"]);
    match key {
        Some(key) => {
            let signing = format!("user.signingkey={}", key.display());
            git(
                &f.work,
                &[
                    "-c",
                    "gpg.format=ssh",
                    "-c",
                    &signing,
                    "commit",
                    "-q",
                    "-S",
                    "--allow-empty",
                    "-m",
                    message,
                ],
            )
        }
        None => git(&f.work, &["commit", "-q", "--allow-empty", "-m", message]),
    };
    git(&f.work, &["rev-parse", "HEAD"])
}

struct Keys {
    alice: PathBuf,
    mallory: PathBuf,
    allowed: PathBuf,
}

fn setup(f: &Fixture) -> Keys {
    let keys = f.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let alice = ssh_key(&keys, "alice");
    let mallory = ssh_key(&keys, "mallory");
    let allowed = allowed_signers(&keys, "alice@example.com", &alice);
    f.write("fleet.yaml", FLEET);
    f.write("bases/web/web.yaml", WEB);
    Keys {
        alice,
        mallory,
        allowed,
    }
}

fn verifying(f: &Fixture, location: &str, keys: &Keys) -> Source {
    Source::open(f.spec(location).with_verification(Verification {
        allowed_signers: Some(keys.allowed.clone()),
        gpg_keyring: None,
    }))
    .unwrap()
}

fn refusal(e: SourceError, commit: &str) -> String {
    match &e {
        SourceError::Unverified { commit: c, .. } => assert_eq!(c, commit),
        other => panic!("expected a refused commit, got {other:?}"),
    }
    let text = e.to_string();
    assert!(text.contains(commit), "{text}");
    text
}

fn signed_unsigned_and_wrongly_signed(f: &Fixture, location: &str, keys: &Keys) {
    let good = commit(f, "signed by alice", Some(&keys.alice));
    f.push("main");
    let snap = verifying(f, location, keys).snapshot(None).unwrap();
    assert_eq!(snap.revision(), Some(good.as_str()));

    f.write("bases/web/web.yaml", &WEB.replace("\"1\"", "\"2\""));
    let unsigned = commit(f, "unsigned", None);
    f.push("main");
    let text = refusal(
        verifying(f, location, keys).snapshot(None).unwrap_err(),
        &unsigned,
    );
    assert!(text.contains("not signed"), "{text}");

    f.write("bases/web/web.yaml", &WEB.replace("\"1\"", "\"3\""));
    let wrong = commit(f, "signed by mallory", Some(&keys.mallory));
    f.push("main");
    let text = refusal(
        verifying(f, location, keys).snapshot(None).unwrap_err(),
        &wrong,
    );
    assert!(text.contains("allowed signers"), "{text}");

    // Without verification, the same commit is read.
    let plain = Source::open(f.spec(location))
        .unwrap()
        .snapshot(None)
        .unwrap();
    assert_eq!(plain.revision(), Some(wrong.as_str()));
}

#[test]
fn only_commits_signed_by_an_allowed_key_are_read_over_file_urls() {
    let f = Fixture::new();
    let keys = setup(&f);
    signed_unsigned_and_wrongly_signed(&f, &f.file_url(), &keys);
}

#[test]
fn only_commits_signed_by_an_allowed_key_are_read_over_git_daemon() {
    let f = Fixture::new();
    let keys = setup(&f);
    let daemon = GitDaemon::start(&f.srv);
    signed_unsigned_and_wrongly_signed(&f, &daemon.url("fleet.git"), &keys);
}

#[test]
fn a_poll_keeps_the_last_verified_commit() {
    let f = Fixture::new();
    let keys = setup(&f);
    let daemon = GitDaemon::start(&f.srv);
    let good = commit(&f, "signed", Some(&keys.alice));
    f.push("main");
    let mut source = verifying(&f, &daemon.url("fleet.git"), &keys);
    assert!(source.poll().unwrap().is_updated());
    assert_eq!(source.last_revision().as_deref(), Some(good.as_str()));

    let bad = commit(&f, "unsigned", None);
    f.push("main");
    let text = refusal(source.poll().unwrap_err(), &bad);
    assert!(text.contains("not signed"), "{text}");
    assert_eq!(source.last_revision().as_deref(), Some(good.as_str()));
    // Still refused on the next poll, never taken.
    refusal(source.poll().unwrap_err(), &bad);

    let fixed = commit(&f, "signed again", Some(&keys.alice));
    f.push("main");
    let outcome = source.poll().unwrap();
    assert_eq!(
        outcome.snapshot().and_then(|s| s.revision()),
        Some(fixed.as_str())
    );
}

#[test]
fn a_work_tree_cannot_be_verified() {
    let f = Fixture::new();
    let keys = setup(&f);
    commit(&f, "signed", Some(&keys.alice));
    let work = f.work.to_str().unwrap().to_string();
    let e = verifying(&f, &work, &keys).snapshot(None).unwrap_err();
    assert!(matches!(e, SourceError::NotVerifiable { .. }), "{e:?}");
    assert!(e.to_string().contains("work tree"), "{e}");
    // A commit of the same folder can be.
    let mut source = Source::open(
        f.spec(&work)
            .with_rev("HEAD")
            .with_verification(Verification {
                allowed_signers: Some(keys.allowed.clone()),
                gpg_keyring: None,
            }),
    )
    .unwrap();
    assert!(source.snapshot(None).is_ok());
}

#[test]
fn validate_refuses_an_unsigned_commit_naming_it() {
    let f = Fixture::new();
    let keys = setup(&f);
    let signed = commit(&f, "signed", Some(&keys.alice));
    let unsigned = commit(&f, "unsigned", None);
    f.push("main");
    let url = f.file_url();
    let allowed = keys.allowed.to_str().unwrap();
    let cache = f.cache.to_str().unwrap();
    let run = support::run::run(
        f.path(),
        &[
            "validate",
            "--repo",
            &url,
            "--cache-dir",
            cache,
            "--allowed-signers",
            allowed,
        ],
        &[],
        Duration::from_secs(60),
    );
    assert_ne!(run.code, 0, "{run}");
    assert!(run.stderr.contains(&unsigned), "{run}");
    assert!(run.stderr.contains("not signed"), "{run}");
    // The signed parent passes.
    let run = support::run::run(
        f.path(),
        &[
            "validate",
            "--repo",
            &url,
            "--cache-dir",
            cache,
            "--allowed-signers",
            allowed,
            "--rev",
            &signed,
        ],
        &[],
        Duration::from_secs(60),
    );
    assert_eq!(run.code, 0, "{run}");
}

/// A GnuPG home with a fresh signing key; returns the home and its
/// exported public keyring. The agent it starts is stopped on drop.
struct GpgHome {
    home: PathBuf,
    keyring: PathBuf,
    email: String,
}

impl GpgHome {
    fn new(dir: &Path, name: &str) -> Self {
        let home = dir.join(format!("gnupg-{name}"));
        std::fs::create_dir_all(&home).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let gpg = |args: &[&str]| {
            let out = std::process::Command::new("gpg")
                .env("GNUPGHOME", &home)
                .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
                .args(args)
                .output()
                .expect("gpg runs");
            assert!(
                out.status.success(),
                "gpg {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        gpg(&[
            "--quick-gen-key",
            &format!("{name} <{name}@example.com>"),
            "ed25519",
            "sign",
            "never",
        ]);
        let keyring = dir.join(format!("{name}.gpg"));
        std::fs::write(&keyring, gpg(&["--export"])).unwrap();
        Self {
            home,
            keyring,
            email: format!("{name}@example.com"),
        }
    }

    fn commit(&self, f: &Fixture, message: &str) -> String {
        git(&f.work, &["add", "-A"]);
        let signing = format!("user.signingkey={}", self.email);
        let out = support::git_command(&f.work)
            .env("GNUPGHOME", &self.home)
            .args([
                "-c",
                "gpg.program=gpg",
                "-c",
                &signing,
                "commit",
                "-q",
                "-S",
                "--allow-empty",
                "-m",
                message,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        git(&f.work, &["rev-parse", "HEAD"])
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        let _ = std::process::Command::new("gpgconf")
            .env("GNUPGHOME", &self.home)
            .args(["--kill", "gpg-agent"])
            .output();
    }
}

#[test]
fn gpg_signed_commits_are_checked_against_the_keyring() {
    let f = Fixture::new();
    let keys = setup(&f);
    let alice = GpgHome::new(f.path(), "alice");
    let mallory = GpgHome::new(f.path(), "mallory");
    let gpg_only = |f: &Fixture| {
        Source::open(f.spec(&f.file_url()).with_verification(Verification {
            allowed_signers: None,
            gpg_keyring: Some(alice.keyring.clone()),
        }))
        .unwrap()
    };
    let good = alice.commit(&f, "signed by alice");
    f.push("main");
    assert_eq!(
        gpg_only(&f).snapshot(None).unwrap().revision(),
        Some(good.as_str())
    );

    let wrong = mallory.commit(&f, "signed by mallory");
    f.push("main");
    let text = refusal(gpg_only(&f).snapshot(None).unwrap_err(), &wrong);
    assert!(
        text.contains("not signed by a key of the GPG keyring"),
        "{text}"
    );

    // An SSH-signed commit with only a GPG keyring configured.
    let ssh = commit(&f, "ssh", Some(&keys.alice));
    f.push("main");
    let text = refusal(gpg_only(&f).snapshot(None).unwrap_err(), &ssh);
    assert!(text.contains("no allowed signers file"), "{text}");
}
