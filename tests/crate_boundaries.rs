//! The crate boundaries carry the architecture (ARCHITECTURE.md): this test
//! reads `cargo metadata` and fails when a crate gains a dependency that
//! would let data flow backwards or bring I/O into the pure core.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// Crates that do I/O (async runtimes, clients, servers, Git, file watching).
const IO_CRATES: &[&str] = &[
    "tokio",
    "kube",
    "kube-client",
    "kube-runtime",
    "k8s-openapi",
    "git2",
    "axum",
    "hyper",
    "hyper-util",
    "reqwest",
    "notify",
    "tonic",
    "mio",
];

/// The resolved dependency graph of the workspace (normal dependencies
/// only: dev- and build-dependencies do not reach a user's binary).
struct Graph {
    /// package id -> (name, normal dependency ids)
    nodes: BTreeMap<String, (String, Vec<String>)>,
    by_name: BTreeMap<String, String>,
}

fn graph() -> Graph {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata is JSON");
    let names: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut nodes = BTreeMap::new();
    let mut by_name = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let id = node["id"].as_str().unwrap().to_string();
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| d["pkg"].as_str().unwrap().to_string())
            .collect();
        let name = names[&id].clone();
        by_name.insert(name.clone(), id.clone());
        nodes.insert(id, (name, deps));
    }
    Graph { nodes, by_name }
}

impl Graph {
    /// Every package `crate_name` depends on, directly or not.
    fn closure(&self, crate_name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![self.by_name[crate_name].clone()];
        while let Some(id) = todo.pop() {
            for dep in &self.nodes[&id].1 {
                if seen.insert(self.nodes[dep].0.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        seen
    }
}

#[test]
fn the_core_has_no_io_dependency_anywhere_in_its_tree() {
    let g = graph();
    let found: Vec<_> = g
        .closure("flotilla-core")
        .into_iter()
        .chain(g.closure("flotilla-redact"))
        .filter(|n| IO_CRATES.contains(&n.as_str()))
        .collect();
    assert!(
        found.is_empty(),
        "flotilla-core and flotilla-redact must stay pure, but their dependency trees have {found:?}"
    );
}

#[test]
fn data_flows_one_way_between_the_crates() {
    let g = graph();
    // crate -> the workspace crates it must never depend on.
    let forbidden: &[(&str, &[&str])] = &[
        (
            "flotilla-core",
            &[
                "flotilla-source",
                "flotilla-engine",
                "flotilla-hub",
                "flotilla",
            ],
        ),
        (
            "flotilla-source",
            &["flotilla-engine", "flotilla-hub", "flotilla"],
        ),
        (
            "flotilla-engine",
            &["flotilla-source", "flotilla-hub", "flotilla"],
        ),
        ("flotilla-hub", &["flotilla", "flotilla-agent"]),
        // The pull agent: core and engine only (no Git, no hub, no server).
        (
            "flotilla-agent",
            &["flotilla-source", "flotilla-hub", "flotilla"],
        ),
    ];
    for (krate, never) in forbidden {
        let deps = g.closure(krate);
        for n in *never {
            assert!(
                !deps.contains(*n),
                "{krate} depends on {n}: data would flow backwards"
            );
        }
    }
    // The engine works on one cluster from desired state: it needs no Git.
    let engine = g.closure("flotilla-engine");
    assert!(!engine.contains("git2"), "flotilla-engine depends on git2");
    // Nor does the agent, and it serves nothing: no axum in its tree.
    let agent = g.closure("flotilla-agent");
    for n in ["git2", "axum"] {
        assert!(!agent.contains(n), "flotilla-agent depends on {n}");
    }
    // No library crate depends on the test server.
    for krate in [
        "flotilla-core",
        "flotilla-source",
        "flotilla-engine",
        "flotilla-hub",
        "flotilla-agent",
        "flotilla",
    ] {
        assert!(
            !g.closure(krate).contains("kube-testserver"),
            "{krate} depends on kube-testserver (dev-only)"
        );
    }
}

#[test]
fn only_the_binary_uses_anyhow_and_clap() {
    let g = graph();
    for krate in [
        "flotilla-core",
        "flotilla-source",
        "flotilla-engine",
        "flotilla-hub",
        "flotilla-agent",
    ] {
        let deps = g.closure(krate);
        for n in ["anyhow", "clap"] {
            assert!(
                !deps.contains(n),
                "{krate} depends on {n}: only the CLI may"
            );
        }
    }
}
