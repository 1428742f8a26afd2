//! How long it takes to notice and read a new commit of a 10,000-file fleet
//! repository, over `file://` and over `git daemon` (`git://` on 127.0.0.1).
//!
//! Run with `cargo bench --bench git_poll`. Prints the median (and min/max)
//! of several runs for each step:
//!
//! - cold: first fetch into an empty cache, then read the commit in memory;
//! - unchanged: a poll that finds nothing new (fetch negotiation only);
//! - new commit: a poll after a one-file commit was pushed (fetch, then read
//!   all 10,000 files of the new commit into a snapshot);
//! - work tree: reading the same 10,000 files from a local folder.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use flotilla_source::{PollOutcome, Source, SourceSpec};
use support::Fixture;
use support::git_server::GitDaemon;

const FILES: usize = 10_000;
const RUNS: usize = 9;

fn main() {
    let fx = Fixture::new();
    let started = Instant::now();
    populate(&fx);
    println!(
        "fixture: {FILES} files committed and pushed in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let daemon = GitDaemon::start(&fx.srv);
    let mut results = Vec::new();
    for (transport, url) in [
        ("file://", fx.file_url()),
        ("git://", daemon.url("fleet.git")),
    ] {
        results.extend(bench_transport(&fx, transport, &url));
    }
    results.push(("work tree", "read 10,000 files", bench_work_tree(&fx)));

    println!();
    println!(
        "{:<10} {:<28} {:>10} {:>10} {:>10}",
        "source", "step", "median", "min", "max"
    );
    for (source, step, mut times) in results {
        times.sort();
        println!(
            "{source:<10} {step:<28} {:>10} {:>10} {:>10}",
            ms(times[times.len() / 2]),
            ms(times[0]),
            ms(times[times.len() - 1])
        );
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// 10,000 YAML-ish files in nested folders, committed and pushed to `main`.
fn populate(fx: &Fixture) {
    for i in 0..FILES {
        let path = format!(
            "clusters/group-{:02}/cluster-{:03}/ns-{}/object-{i:05}.yaml",
            i % 20,
            i % 200,
            i % 5
        );
        fx.write(&path, &object(i, 1));
    }
    fx.write(
        "fleet.yaml",
        "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\n",
    );
    fx.commit("10,000 objects");
    fx.push("main");
}

fn object(i: usize, replicas: usize) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  namespace: ns-{}\n  \
         labels: {{app: app-{i}, tier: web}}\nspec:\n  replicas: {replicas}\n  template:\n    spec:\n      \
         containers:\n        - name: app\n          image: registry.example.com/app:{i}.0.0\n",
        i % 5
    )
}

fn bench_transport(
    fx: &Fixture,
    transport: &'static str,
    url: &str,
) -> Vec<(&'static str, &'static str, Vec<Duration>)> {
    // Cold: a fresh cache each run.
    let mut cold = Vec::new();
    for run in 0..3 {
        let cache = fx
            .path()
            .join(format!("cold-{transport}-{run}").replace([':', '/'], "_"));
        let mut source = Source::open(SourceSpec::new(url).with_cache_dir(cache)).unwrap();
        let started = Instant::now();
        let snapshot = source.snapshot(None).unwrap();
        cold.push(started.elapsed());
        assert_eq!(snapshot.len(), FILES + 1);
    }

    let mut source = Source::open(fx.spec(url)).unwrap();
    assert!(source.poll().unwrap().is_updated());

    let mut unchanged = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let outcome = source.poll().unwrap();
        unchanged.push(started.elapsed());
        assert!(!outcome.is_updated());
    }

    let mut new_commit = Vec::new();
    for run in 0..RUNS {
        let i = run * 997 % FILES;
        let path = format!(
            "clusters/group-{:02}/cluster-{:03}/ns-{}/object-{i:05}.yaml",
            i % 20,
            i % 200,
            i % 5
        );
        fx.write(&path, &object(i, 2 + run));
        let commit = fx.commit(&format!("scale app-{i}"));
        fx.push("main");
        let started = Instant::now();
        let outcome = source.poll().unwrap();
        new_commit.push(started.elapsed());
        match outcome {
            PollOutcome::Updated { snapshot, .. } => {
                assert_eq!(snapshot.revision(), Some(commit.as_str()));
                assert_eq!(snapshot.len(), FILES + 1);
            }
            other => panic!("expected a new commit, got {other:?}"),
        }
    }

    vec![
        (transport, "cold fetch + read", cold),
        (transport, "poll, unchanged", unchanged),
        (transport, "poll, new commit + read", new_commit),
    ]
}

fn bench_work_tree(fx: &Fixture) -> Vec<Duration> {
    let mut source = Source::open(SourceSpec::new(fx.work.to_str().unwrap())).unwrap();
    (0..5)
        .map(|_| {
            let started = Instant::now();
            let snapshot = source.snapshot(None).unwrap();
            assert_eq!(snapshot.len(), FILES + 1);
            started.elapsed()
        })
        .collect()
}
