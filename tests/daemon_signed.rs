//! The daemon with signed commits (`--allowed-signers`): a commit not signed
//! by an allowed key is refused, every cluster stays on the last verified
//! commit, and the refusal shows on the API, the status page and the
//! metrics; the next signed commit rolls out.

mod daemon_support;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use daemon_support::*;

const CONVERGE: Duration = Duration::from_secs(60);

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

fn commit_signed(repo: &FleetRepo, message: &str, key: Option<&Path>) -> String {
    repo.git(&repo.work, &["add", "-A"]);
    match key {
        Some(key) => {
            let signing = format!("user.signingkey={}", key.display());
            repo.git(
                &repo.work,
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
        None => repo.git(
            &repo.work,
            &["commit", "-q", "--allow-empty", "-m", message],
        ),
    };
    repo.git(
        &repo.work,
        &["push", "-q", "origin", "HEAD:refs/heads/main"],
    );
    repo.git(&repo.work, &["rev-parse", "HEAD"])
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unsigned_commit_is_refused_and_clusters_stay_on_the_last_verified_one() {
    let layout = FleetLayout {
        canary: Vec::new(),
        rest: vec!["c1".into()],
        health_gate: false,
    };
    let clusters = Clusters::start(&layout.all()).await;
    let repo = FleetRepo::new();
    let keys = repo.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let key = ssh_key(&keys, "alice");
    let allowed = keys.join("allowed_signers");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    std::fs::write(&allowed, format!("alice@example.com {public}")).unwrap();

    write_fleet(
        &repo,
        &layout,
        &App {
            note: "v1".into(),
            ..App::small(1)
        },
    );
    let good = commit_signed(&repo, "signed", Some(&key));
    let args = base_args(
        &repo,
        clusters.kubeconfig_dir(),
        &["--allowed-signers", allowed.to_str().unwrap()],
    );
    let daemon = Daemon::start(&args).await;
    daemon.wait_converged(&good, CONVERGE).await;

    write_fleet(
        &repo,
        &layout,
        &App {
            note: "v2".into(),
            ..App::small(1)
        },
    );
    let bad = commit_signed(&repo, "unsigned", None);
    let view = daemon
        .wait_fleet("the unsigned commit refused", CONVERGE, |v| {
            v.0.to_string().contains(&format!("commit {bad} refused"))
        })
        .await;
    let text = view.0.to_string();
    assert!(text.contains("not signed"), "{text}");
    // Every cluster stays on the verified commit, with its objects.
    assert!(view.all_synced_on(&good), "{text}");
    let cm = clusters
        .server("c1")
        .get("", "v1", "configmaps", Some(APP_NS), "app-config")
        .unwrap();
    assert_eq!(cm["data"]["note"], "v1");
    let page = daemon.get("/").await.text();
    assert!(page.contains(&bad) && page.contains("not signed"), "{page}");
    let m = daemon.get("/metrics").await.text();
    assert_eq!(metric(&m, "flotilla_commit_refused"), Some(1.0), "{m}");

    // The next signed commit rolls out.
    write_fleet(
        &repo,
        &layout,
        &App {
            note: "v3".into(),
            ..App::small(1)
        },
    );
    let fixed = commit_signed(&repo, "signed again", Some(&key));
    daemon.wait_converged(&fixed, CONVERGE).await;
    let m = daemon.get("/metrics").await.text();
    assert_eq!(metric(&m, "flotilla_commit_refused"), Some(0.0), "{m}");
}
