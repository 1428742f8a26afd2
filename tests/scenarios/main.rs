//! The cluster scenarios, written once and run against either backend:
//!
//! - by default, fresh in-process test API servers (`kube-testserver`), as CI
//!   runs them: `cargo test --test scenarios`;
//! - with `FLOTILLA_TEST_KUBECONFIG=PATH` (and optionally
//!   `FLOTILLA_TEST_CONTEXTS=a,b`), a real cluster:
//!   `FLOTILLA_TEST_KUBECONFIG=~/.kube/config cargo test --test scenarios`.
//!
//! Every scenario drives the `flotilla` binary (or the library, where it
//! needs finer control) and judges the cluster only through the Kubernetes
//! API, so the same assertions hold for both. After the run a table lists
//! each scenario's result, and the suite checks that the cluster was left
//! as it was found.
//!
//! This is a custom test harness (`libtest-mimic`): `--list`, name filters,
//! `--exact` and `--test-threads` work as with `cargo test`.

#[path = "../support/mod.rs"]
mod support;
#[path = "../sync_support/mod.rs"]
mod sync_support;

mod backend;
mod drift;
mod ownership;
mod sync;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backend::{Backend, Env};
use kube_testserver::TestApiServer;
use libtest_mimic::{Arguments, Failed, Trial};

/// A scenario: an async function over its environment.
pub type Scenario = for<'a> fn(&'a Env) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// The longest one scenario may take, cleanup excluded.
const SCENARIO_LIMIT: Duration = Duration::from_secs(300);

/// Builds a `(name, Scenario)` pair from an `async fn(&Env)`.
#[macro_export]
macro_rules! scenario {
    ($f:ident) => {
        (stringify!($f), (|e| Box::pin($f(e))) as $crate::Scenario)
    };
}

/// One row of the final table.
struct Row {
    group: &'static str,
    name: &'static str,
    passed: bool,
    took: Duration,
    note: String,
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Where each thread last panicked (`file:line`), for the table.
static PANIC_AT: Mutex<Vec<(std::thread::ThreadId, String)>> = Mutex::new(Vec::new());

fn main() {
    let args = Arguments::from_args();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(at) = info.location() {
            let mut all = PANIC_AT.lock().unwrap_or_else(|e| e.into_inner());
            all.retain(|(t, _)| *t != std::thread::current().id());
            all.push((
                std::thread::current().id(),
                format!("{}:{}", at.file(), at.line()),
            ));
        }
        default_hook(info);
    }));
    let run = run_id();
    // Without FLOTILLA_TEST_KUBECONFIG: every scenario on fresh test API
    // servers, then again through the real-cluster code path on one test API
    // server they all share (one context, split by namespace), and on two
    // (two contexts of one kubeconfig). The shared servers live on their own
    // runtime until the suite ends.
    let host = runtime();
    let host_dir = tempfile::tempdir().expect("a temporary folder");
    let mut _shared_servers = Vec::new();
    let groups: Vec<(&'static str, Arc<Backend>)> = match Backend::from_env() {
        Backend::TestServer => {
            let servers: Vec<TestApiServer> = (0..3)
                .map(|_| {
                    let server = host.block_on(TestApiServer::start());
                    // A real server takes a moment to establish a CRD.
                    server.set_crd_establish_delay(Duration::from_millis(300));
                    server
                })
                .collect();
            let one = host_dir.path().join("shared.kubeconfig");
            std::fs::write(&one, servers[0].kubeconfig_yaml()).expect("a kubeconfig");
            let two = host_dir.path().join("contexts.kubeconfig");
            std::fs::write(
                &two,
                kubeconfig_with_contexts(&[("a", &servers[1]), ("b", &servers[2])]),
            )
            .expect("a kubeconfig");
            _shared_servers = servers;
            vec![
                ("testserver", Arc::new(Backend::TestServer)),
                (
                    "shared",
                    Arc::new(Backend::shared_test_servers(
                        "one shared test API server",
                        one,
                        vec![None],
                    )),
                ),
                (
                    "contexts",
                    Arc::new(Backend::shared_test_servers(
                        "two shared test API servers",
                        two,
                        vec![Some("a".into()), Some("b".into())],
                    )),
                ),
            ]
        }
        real => vec![("cluster", Arc::new(real))],
    };
    for (group, backend) in &groups {
        match runtime().block_on(backend.start()) {
            Ok(version) => println!("{group}: {} ({version}), run {run}", backend.describe()),
            Err(e) => {
                eprintln!("the scenario backend is not reachable: {e}");
                std::process::exit(2);
            }
        }
    }

    let rows: Arc<Mutex<Vec<Row>>> = Arc::default();
    let mut scenarios: Vec<(&'static str, Scenario)> = Vec::new();
    scenarios.extend(sync::all());
    scenarios.extend(drift::all());
    scenarios.extend(ownership::all());
    let mut trials = Vec::new();
    let mut index = 0;
    for (group, backend) in &groups {
        for (name, scenario) in &scenarios {
            index += 1;
            let (group, name, scenario) = (*group, *name, *scenario);
            let (backend, rows, run) = (backend.clone(), rows.clone(), run.clone());
            trials.push(Trial::test(format!("{group}::{name}"), move || {
                let started = Instant::now();
                let rt = runtime();
                let env = rt.block_on(backend.env(&run, index));
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    rt.block_on(async {
                        tokio::time::timeout(SCENARIO_LIMIT, scenario(&env))
                            .await
                            .unwrap_or_else(|_| panic!("did not finish within {SCENARIO_LIMIT:?}"))
                    })
                }));
                let left = rt.block_on(env.cleanup());
                let mut failure = match outcome {
                    Ok(()) => None,
                    Err(panic) => {
                        let at = PANIC_AT
                            .lock()
                            .unwrap()
                            .iter()
                            .find(|(t, _)| *t == std::thread::current().id())
                            .map(|(_, at)| format!("at {at}: "))
                            .unwrap_or_default();
                        Some(format!("{at}{}", panic_message(&panic)))
                    }
                };
                if !left.is_empty() && failure.is_none() {
                    failure = Some(format!("cleanup left {}", left.join(", ")));
                }
                rows.lock().unwrap().push(Row {
                    group,
                    name,
                    passed: failure.is_none(),
                    took: started.elapsed(),
                    note: failure.as_deref().map(summary_of).unwrap_or_default(),
                });
                match failure {
                    None => Ok(()),
                    Some(f) => Err(Failed::from(f)),
                }
            }));
        }
    }

    let conclusion = libtest_mimic::run(&args, trials);
    if args.list {
        return;
    }
    let mut left = Vec::new();
    for (group, backend) in &groups {
        let rows = rows.lock().unwrap();
        if rows.iter().any(|r| r.group == *group) {
            left.extend(
                runtime()
                    .block_on(backend.finish(&run))
                    .into_iter()
                    .map(|l| format!("{group}: {l}")),
            );
        }
    }
    print_table(&groups, &rows.lock().unwrap(), &left);
    drop(_shared_servers);
    if !left.is_empty() {
        std::process::exit(101);
    }
    conclusion.exit();
}

/// The first line of a failure that says something: for `assert_eq!`, the
/// message and the two values.
fn summary_of(failure: &str) -> String {
    let mut lines = failure.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let mut out = first.to_string();
    if first.ends_with(['{', '[']) || first.contains("assertion `left == right` failed") {
        let values: Vec<&str> = failure
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("left:") || l.starts_with("right:"))
            .collect();
        if !values.is_empty() {
            out = format!(
                "{} {}",
                first.trim_end_matches(['{', '[']),
                values.join(" ")
            );
        }
    }
    out.chars().take(140).collect()
}

/// The per-scenario pass/fail table, and whether each long-lived cluster
/// was left as it was found.
fn print_table(groups: &[(&'static str, Arc<Backend>)], rows: &[Row], left: &[String]) {
    let mut rows: Vec<&Row> = rows.iter().collect();
    rows.sort_by_key(|r| (groups.iter().position(|g| g.0 == r.group), r.name));
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
    println!("\n{:<10}  {:<width$}  result  time", "backend", "scenario");
    println!("{:-<10}  {:-<width$}  ------  ------", "", "");
    for r in &rows {
        println!(
            "{:<10}  {:<width$}  {:<6}  {:>5.1}s{}",
            r.group,
            r.name,
            if r.passed { "pass" } else { "FAIL" },
            r.took.as_secs_f64(),
            if r.note.is_empty() {
                String::new()
            } else {
                format!("  {}", r.note)
            }
        );
    }
    let passed = rows.iter().filter(|r| r.passed).count();
    println!("{passed} of {} scenarios passed", rows.len());
    for (group, backend) in groups {
        if !backend.is_shared() || !rows.iter().any(|r| r.group == *group) {
            continue;
        }
        let mine: Vec<&String> = left
            .iter()
            .filter(|l| l.starts_with(&format!("{group}: ")))
            .collect();
        if mine.is_empty() {
            println!(
                "{group}: left as found (every namespace, CRD and inventory the run made is gone)"
            );
        } else {
            println!("{group}: NOT left as found:");
            for l in mine {
                println!("  {l}");
            }
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else {
        "panicked".into()
    }
}

/// A kubeconfig with one context per `(name, server)`; the first is current.
fn kubeconfig_with_contexts(contexts: &[(&str, &TestApiServer)]) -> String {
    let mut clusters = String::new();
    let mut named = String::new();
    for (name, server) in contexts {
        clusters.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {}\n",
            server.url()
        ));
        named.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: test\n"
        ));
    }
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}contexts:\n{named}current-context: {}\nusers:\n- name: test\n  user: {{}}\n",
        contexts[0].0
    )
}

/// Six characters unique to this run (names namespaces `ft-<run>-<nn>-…`).
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mixed = nanos ^ ((std::process::id() as u128) << 40);
    format!("{:06x}", (mixed % 0xff_ffff) as u32)
}
