//! Running the `flotilla` binary as a user would, bounded in time: exit
//! code, stdout and stderr of one run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test.
pub const FLOTILLA: &str = env!("CARGO_BIN_EXE_flotilla");

/// The longest any one `flotilla` run may take before the test fails (the
/// runs take well under a second, or a few seconds of retries against an
/// unreachable cluster; this only catches a hang).
pub const RUN_LIMIT: Duration = Duration::from_secs(120);

/// The outcome of one `flotilla` run.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl Run {
    /// Standard output as JSON; panics with the whole run otherwise.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{self}"))
    }

    /// Standard output then standard error.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Runs `flotilla <args>` in `cwd` with `env` set, and every other
/// `FLOTILLA_*` variable, `KUBECONFIG` and `RUST_LOG` removed; kills it and
/// fails after `limit` (a bounded loop of 10 ms polls). Blocks the thread.
pub fn run(cwd: &Path, args: &[&str], env: &[(&str, &str)], limit: Duration) -> Run {
    let out_dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (out_dir.path().join("out"), out_dir.path().join("err"));
    let started = Instant::now();
    let mut cmd = Command::new(FLOTILLA);
    cmd.args(args).current_dir(cwd);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("FLOTILLA_") || k == "KUBECONFIG" || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("the flotilla binary starts");
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for flotilla") {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let run = Run {
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        elapsed: started.elapsed(),
    };
    assert!(
        status.is_some(),
        "flotilla {args:?} did not finish within {limit:?}:\n{run}"
    );
    run
}

/// `flotilla <args>` from the package folder, blocking, within [`RUN_LIMIT`]:
/// for tests without a runtime.
pub fn flotilla_blocking(args: &[&str]) -> Run {
    run(Path::new(env!("CARGO_MANIFEST_DIR")), args, &[], RUN_LIMIT)
}

/// Runs `flotilla <args>` in `cwd` off the async threads (so test API
/// servers on this runtime keep serving it), within [`RUN_LIMIT`].
pub async fn flotilla(cwd: &Path, args: &[&str]) -> Run {
    flotilla_within(cwd, args, RUN_LIMIT).await
}

/// [`flotilla`] with another time limit.
pub async fn flotilla_within(cwd: &Path, args: &[&str], limit: Duration) -> Run {
    flotilla_with_env(cwd, args, &[], limit).await
}

/// [`flotilla_within`] with the environment variables `env` set.
pub async fn flotilla_with_env(
    cwd: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> Run {
    let cwd = cwd.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run(&cwd, &args, &env, limit)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Asserts a run exited with `code`, showing the whole run otherwise.
#[track_caller]
pub fn assert_exit(run: &Run, code: i32) {
    assert_eq!(run.code, code, "unexpected exit code:\n{run}");
}
