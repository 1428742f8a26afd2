//! `--kubeconfig [CLUSTER=]PATH` and `--context [CLUSTER=]NAME` of `sync`,
//! `drift` and the live `diff`, end to end: the example fleet (every cluster
//! a `directory` connection) pointed at test API servers cluster by cluster,
//! without editing fleet.yaml. The rules themselves are unit-tested in
//! `src/cluster/connect/overrides.rs`.

mod support;
mod sync_support;

use std::path::Path;

use kube_testserver::TestApiServer;
use serde_json::Value;
use sync_support::*;

/// The clusters of the example fleet, in fleet order.
const EXAMPLE_CLUSTERS: [&str; 8] = [
    "gke-staging",
    "eks-us-east",
    "gke-us-east",
    "eks-eu-west",
    "gke-eu-west",
    "dc-frankfurt",
    "ack-hangzhou",
    "ack-beijing",
];

/// A copy of the example fleet at `dir/repo`, as shipped (directory
/// connections, relative to `dir`, where the helpers run flotilla).
fn example_copy(dir: &Path) -> std::path::PathBuf {
    let repo = dir.join("repo");
    copy_dir(Path::new(EXAMPLE), &repo);
    repo
}

/// The desired state of `cluster` in the fleet at `repo`.
fn desired(repo: &Path, cluster: &str) -> flotilla_core::render::DesiredState {
    render(repo)
        .into_iter()
        .find(|s| s.cluster == cluster)
        .unwrap_or_else(|| panic!("cluster {cluster} renders"))
}

/// The cluster name a server's `shop/web-config` was rendered for.
fn web_config_cluster(server: &TestApiServer) -> Option<String> {
    let cm = server.get("", "v1", "configmaps", Some("shop"), "web-config")?;
    Some(cm["data"]["SHOP_CLUSTER"].as_str()?.to_string())
}

/// Files in a cluster's live folder of a directory connection (0 when the
/// folder does not exist): relative `directory:` paths resolve against the
/// repository folder, `dir/repo`.
fn live_files(dir: &Path, cluster: &str) -> usize {
    std::fs::read_dir(dir.join("repo/.flotilla/live").join(cluster))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A kubeconfig with one context per `(name, server)`, current context the
/// first.
fn kubeconfig_with_contexts(contexts: &[(&str, &TestApiServer)]) -> String {
    let mut clusters = String::new();
    let mut ctxs = String::new();
    for (name, server) in contexts {
        clusters.push_str(&format!(
            "- name: {name}\n  cluster:\n    server: {}\n",
            server.url()
        ));
        ctxs.push_str(&format!(
            "- name: {name}\n  context:\n    cluster: {name}\n    user: test\n"
        ));
    }
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n{clusters}contexts:\n{ctxs}current-context: {}\nusers:\n- name: test\n  user: {{}}\npreferences: {{}}\n",
        contexts[0].0
    )
}

/// `flotilla drift -o json` (or another live command) over the fleet at
/// `repo`, run from its parent with `env`; returns the run and the report.
async fn live_report(
    command: &str,
    repo: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Run, Value) {
    let mut args = vec![command, "--repo", repo.to_str().unwrap(), "-o", "json"];
    args.extend_from_slice(extra);
    let run = flotilla_with_env(repo.parent().unwrap(), &args, env, RUN_LIMIT).await;
    let report =
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("a JSON report ({e}):\n{run}"));
    (run, report)
}

/// Each cluster's status in a drift report.
fn statuses(report: &Value) -> Vec<(String, String)> {
    report["clusters"]
        .as_array()
        .expect("clusters")
        .iter()
        .map(|c| {
            (
                c["cluster"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn status_of(report: &Value, cluster: &str) -> String {
    statuses(report)
        .into_iter()
        .find(|(c, _)| c == cluster)
        .unwrap_or_else(|| panic!("{cluster} in the report: {report}"))
        .1
}

#[tokio::test(flavor = "multi_thread")]
async fn per_cluster_kubeconfig_sends_one_directory_cluster_to_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let server = TestApiServer::start().await;
    server.install_gateway_api();
    let repo = example_copy(dir);
    let kubeconfig = write_kubeconfig(dir, "gke-staging", &server);
    let flag = format!("gke-staging={}", kubeconfig.display());

    let run = sync(&repo, &["--kubeconfig", &flag]).await;
    assert_exit(&run, 0);
    let state = desired(&repo, "gke-staging");
    assert_eq!(
        run.cluster("gke-staging"),
        Summary {
            created: state.objects.len(),
            ..Summary::default()
        },
        "{run}"
    );
    // gke-staging is on the server, every object of it, with its inventory...
    for object in &state.objects {
        assert!(
            live_copy(&server, object).is_some(),
            "{} on the server",
            object.key
        );
    }
    assert_eq!(web_config_cluster(&server).as_deref(), Some("gke-staging"));
    assert!(inventory(&server, "shop", "gke-staging").is_some());
    assert_eq!(
        live_files(dir, "gke-staging"),
        0,
        "no folder for gke-staging"
    );
    // ...and the other clusters still went to their folders.
    for name in EXAMPLE_CLUSTERS.iter().filter(|n| **n != "gke-staging") {
        assert!(live_files(dir, name) > 0, "{name} written to its folder");
        assert_eq!(run.cluster(name).failed, 0, "{run}");
    }

    // drift reads the same connections: all in sync.
    let (run, report) = live_report("drift", &repo, &["--kubeconfig", &flag], &[]).await;
    assert_exit(&run, 0);
    for (name, status) in statuses(&report) {
        assert_eq!(status, "InSync", "{name}:\n{run}");
    }
    // Without the override gke-staging is its (empty) folder: drifted.
    let (run, report) = live_report("drift", &repo, &[], &[]).await;
    assert_exit(&run, 1);
    assert_eq!(status_of(&report, "gke-staging"), "Drifted");
    assert_eq!(status_of(&report, "eks-us-east"), "InSync");
}

#[tokio::test(flavor = "multi_thread")]
async fn per_cluster_contexts_pick_servers_in_one_kubeconfig() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (a, b) = (TestApiServer::start().await, TestApiServer::start().await);
    a.install_gateway_api();
    b.install_gateway_api();
    let repo = example_copy(dir);
    let kubeconfig = dir.join("kind.kubeconfig");
    std::fs::write(
        &kubeconfig,
        kubeconfig_with_contexts(&[("kind-a", &a), ("kind-b", &b)]),
    )
    .unwrap();
    let kubeconfig = kubeconfig.to_str().unwrap();

    // A global --kubeconfig fills in the kubeconfig of the clusters that
    // per-cluster contexts switch; alone it would switch nothing.
    let run = sync(
        &repo,
        &[
            "--kubeconfig",
            kubeconfig,
            "--context",
            "eks-eu-west=kind-a",
            "--context",
            "gke-us-east=kind-b",
        ],
    )
    .await;
    assert_exit(&run, 0);
    assert_eq!(web_config_cluster(&a).as_deref(), Some("eks-eu-west"));
    assert_eq!(web_config_cluster(&b).as_deref(), Some("gke-us-east"));
    assert!(inventory(&a, "shop", "eks-eu-west").is_some());
    assert!(inventory(&b, "shop", "gke-us-east").is_some());
    assert_eq!(live_files(dir, "eks-eu-west"), 0);
    assert_eq!(live_files(dir, "gke-us-east"), 0);
    assert!(live_files(dir, "gke-staging") > 0);

    // A context alone reads the default kubeconfig ($KUBECONFIG), as
    // kubectl does: the README's example.
    let contexts = [
        "--context",
        "eks-eu-west=kind-a",
        "--context",
        "gke-us-east=kind-b",
    ];
    let env = [("KUBECONFIG", kubeconfig)];
    for command in ["drift", "diff"] {
        let (run, report) = live_report(command, &repo, &contexts, &env).await;
        assert_exit(&run, 0);
        for (name, status) in statuses(&report) {
            assert_eq!(status, "InSync", "{command} {name}:\n{run}");
        }
    }
    // Swapped contexts: each cluster now reads the other's server.
    let (run, report) = live_report(
        "drift",
        &repo,
        &[
            "--context",
            "eks-eu-west=kind-b",
            "--context",
            "gke-us-east=kind-a",
        ],
        &env,
    )
    .await;
    assert_exit(&run, 1);
    assert_eq!(status_of(&report, "eks-eu-west"), "Drifted");
    assert_eq!(status_of(&report, "gke-us-east"), "Drifted");
}

#[tokio::test(flavor = "multi_thread")]
async fn global_overrides_leave_directory_clusters_alone() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let repo = example_copy(dir);
    let run = sync(
        &repo,
        &[
            "--kubeconfig",
            "/nonexistent/kubeconfig",
            "--context",
            "kind-a",
        ],
    )
    .await;
    assert_exit(&run, 0);
    for name in EXAMPLE_CLUSTERS {
        assert!(live_files(dir, name) > 0, "{name} written to its folder");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_cluster_is_a_usage_error_listing_the_fleet() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let repo = example_copy(dir);
    let repo_arg = repo.to_str().unwrap();
    for (args, message) in [
        (
            vec![
                "sync",
                "--repo",
                repo_arg,
                "--kubeconfig",
                "nope=/tmp/x.yaml",
            ],
            "--kubeconfig \"nope=/tmp/x.yaml\": unknown cluster \"nope\"",
        ),
        (
            vec![
                "drift",
                "--repo",
                repo_arg,
                "--context",
                "eks-eu-wst=kind-a",
            ],
            "--context \"eks-eu-wst=kind-a\": unknown cluster \"eks-eu-wst\"",
        ),
        (
            vec!["diff", "--repo", repo_arg, "--context", "nope=kind-a"],
            "--context \"nope=kind-a\": unknown cluster \"nope\"",
        ),
    ] {
        let run = flotilla(dir, &args).await;
        assert_exit(&run, 2);
        assert!(run.stderr.contains(message), "{args:?}:\n{run}");
        assert!(
            run.stderr.contains(&format!(
                "the fleet's clusters are {}",
                EXAMPLE_CLUSTERS.join(", ")
            )),
            "{args:?}:\n{run}"
        );
        assert!(run.stdout.is_empty(), "{args:?}:\n{run}");
    }
    assert!(!dir.join(".flotilla").exists(), "nothing was synced");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubeconfig_path_with_equals_is_a_global_path() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (old, new) = (TestApiServer::start().await, TestApiServer::start().await);
    // A fleet whose cluster c1 connects to `old` through a kubeconfig.
    let repo = small_fleet(dir, &[("c1", &old)], &["web"]);
    write(
        &repo,
        "bases/web/cm.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: web-config, namespace: shop}\ndata: {SHOP_CLUSTER: \"${cluster.name}\"}\n",
    );
    // The override lives at `k=v/config`: before its `=` is `k`, a valid
    // cluster name, so it must be written `./k=v/config` to be a path.
    write(dir, "k=v/config", &new.kubeconfig_yaml());
    let run = sync(&repo, &["--kubeconfig", "./k=v/config"]).await;
    assert_exit(&run, 0);
    assert_eq!(
        web_config_cluster(&new).as_deref(),
        Some("c1"),
        "synced through ./k=v/config:\n{run}"
    );
    assert_eq!(
        web_config_cluster(&old),
        None,
        "not through fleet.yaml's kubeconfig"
    );
    // Written without ./, `k` is taken for a cluster name, which c1's fleet
    // does not have: a usage error with the hint.
    let run = sync(&repo, &["--kubeconfig", "k=v/config"]).await;
    assert_exit(&run, 2);
    assert!(
        run.stderr
            .contains("unknown cluster \"k\"; the fleet's clusters are c1 (for a file of that name, write ./k=v/config)"),
        "{run}"
    );
}
