//! Many replicas of `flotilla serve` sharing one fleet through Leases on a
//! hub cluster (a test API server): every cluster has exactly one owner,
//! a killed replica's clusters are taken over and converge, and a replica
//! cut off from the hub stops writing to its clusters before another
//! replica first writes to them (no two writers).
//!
//! The replicas are the real binary; the member clusters are test API
//! servers that record every request with its `User-Agent`
//! (`flotilla/<version> (replica <id>)`). Every wait is bounded.

mod agent_support;
mod daemon_support;
mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agent_support::Relay;
use daemon_support::*;
use kube_testserver::TestApiServer;
use serde_json::json;

/// The namespace of the Leases on the hub: deploy/kubernetes's.
const LEASE_NS: &str = "flotilla-system";
/// The user deploy/kubernetes runs the daemon as (its service account).
const DEPLOY_USER: &str = "system:serviceaccount:flotilla-system:flotilla";
/// A bound for every convergence wait (a safety net, not a timing claim).
const LIMIT: Duration = Duration::from_secs(60);

fn layout() -> FleetLayout {
    FleetLayout {
        canary: vec!["c1".into()],
        rest: ["r1", "r2", "r3", "r4", "r5"].map(String::from).to_vec(),
        health_gate: true,
    }
}

fn app(note: &str) -> App {
    App {
        note: note.into(),
        ..App::small(1)
    }
}

/// The hub cluster: a test API server with the lease namespace.
async fn hub() -> TestApiServer {
    let hub = TestApiServer::start().await;
    hub.insert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": LEASE_NS}}))
        .expect("the lease namespace");
    hub
}

/// A replica's config file: the `ha:` block with a 3 s lease.
fn ha_config(dir: &Path, id: &str, hub_kubeconfig: &Path) -> PathBuf {
    let path = dir.join(format!("{id}.yaml"));
    std::fs::write(
        &path,
        format!(
            "ha:\n  namespace: {LEASE_NS}\n  kubeconfig: {}\n  replicaId: {id}\n  leaseDuration: 3s\n",
            hub_kubeconfig.display()
        ),
    )
    .unwrap();
    path
}

/// A kubeconfig for the hub, through `addr` (the hub itself or a relay).
fn hub_kubeconfig(dir: &Path, name: &str, hub: &TestApiServer, addr: &str) -> PathBuf {
    let path = dir.join(format!("{name}.kubeconfig"));
    let yaml = hub.kubeconfig_yaml().replace(&hub.addr().to_string(), addr);
    std::fs::write(&path, yaml).unwrap();
    path
}

async fn start_replica(
    repo: &FleetRepo,
    clusters: &Clusters,
    dir: &Path,
    id: &str,
    hub_kubeconfig: &Path,
) -> Daemon {
    let config = ha_config(dir, id, hub_kubeconfig);
    let extra = ["--config", config.to_str().unwrap()];
    Daemon::start(&base_args(repo, clusters.kubeconfig_dir(), &extra)).await
}

/// The holder of each shard Lease on the hub, by shard.
fn shard_holders(hub: &TestApiServer) -> BTreeMap<u32, String> {
    hub.list("coordination.k8s.io", "v1", "leases", Some(LEASE_NS))
        .into_iter()
        .filter_map(|l| {
            let k = l["metadata"]["name"]
                .as_str()?
                .strip_prefix("flotilla-shard-")?
                .parse()
                .ok()?;
            Some((k, l["spec"]["holderIdentity"].as_str()?.to_string()))
        })
        .collect()
}

/// The owner of every cluster as one replica's `/api/v1/fleet` shows it.
fn owners(view: &FleetView) -> BTreeMap<String, Option<String>> {
    view.clusters()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["owner"].as_str().map(str::to_string),
            )
        })
        .collect()
}

/// Waits until every replica shows every cluster Synced on `revision`,
/// with one owner among `ids`, the same on every replica and the holder of
/// the cluster's shard Lease; returns the owners.
async fn wait_owned_and_converged(
    replicas: &[&Daemon],
    ids: &[&str],
    hub: &TestApiServer,
    names: &[String],
    revision: &str,
) -> BTreeMap<String, String> {
    let started = Instant::now();
    let mut last = String::new();
    for _ in 0..600 {
        let mut views = Vec::new();
        for r in replicas {
            views.push(r.fleet().await);
        }
        let holders = shard_holders(hub);
        let first = owners(&views[0]);
        let owned: Option<BTreeMap<String, String>> = names
            .iter()
            .map(|n| {
                let o = first.get(n).cloned().flatten()?;
                let k = flotilla_hub::ha::shard_of(n);
                (ids.contains(&o.as_str()) && holders.get(&k) == Some(&o)).then_some((n.clone(), o))
            })
            .collect();
        let same = views.iter().all(|v| owners(v) == first);
        let converged = views.iter().all(|v| v.all_synced_on(revision));
        if let Some(owned) = owned
            && same
            && converged
        {
            return owned;
        }
        last = views
            .iter()
            .map(|v| serde_json::to_string(&v.0["clusters"]).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        if started.elapsed() > LIMIT {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let logs: Vec<String> = replicas.iter().map(|r| r.stderr_tail(30)).collect();
    panic!(
        "replicas did not converge on {revision} with one owner per cluster\n{last}\nholders: {:?}\n{}",
        shard_holders(hub),
        logs.join("\n-----\n")
    );
}

/// The `note` of the app ConfigMap on a member cluster.
fn note_on(clusters: &Clusters, cluster: &str) -> Option<String> {
    clusters
        .server(cluster)
        .get("", "v1", "configmaps", Some(APP_NS), "app-config")
        .and_then(|cm| cm["data"]["note"].as_str().map(str::to_string))
}

/// The writes in a member server's request log, in order, each with the
/// replica id its `User-Agent` names.
fn writes_by_replica(server: &TestApiServer) -> Vec<String> {
    server
        .request_log()
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") && !r.dry_run)
        .map(|r| {
            r.user_agent
                .as_deref()
                .and_then(|ua| ua.split("(replica ").nth(1))
                .map(|id| id.trim_end_matches(')').to_string())
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_cluster_has_one_owner_and_a_killed_replicas_clusters_are_taken_over() {
    let layout = layout();
    let names = layout.all();
    let clusters = Clusters::start(&names).await;
    let controller = RolloutController::start(&clusters.servers, HashMap::new(), LIMIT * 3);
    let hub = hub().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = hub_kubeconfig(dir.path(), "hub", &hub, &hub.addr().to_string());
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app("v1"));
    let first = repo.commit_and_push("first");

    let ids = ["ha-a", "ha-b", "ha-c"];
    let mut replicas = BTreeMap::new();
    for id in ids {
        replicas.insert(
            id,
            start_replica(&repo, &clusters, dir.path(), id, &kubeconfig).await,
        );
    }
    let all: Vec<&Daemon> = replicas.values().collect();
    let owned = wait_owned_and_converged(&all, &ids, &hub, &names, &first).await;
    for c in &names {
        assert_eq!(note_on(&clusters, c).as_deref(), Some("v1"), "{c}");
    }
    // Each replica's metric counts what it owns; together every cluster once.
    let mut total = 0;
    for (id, r) in &replicas {
        let metrics = r.get("/metrics").await.text();
        let n: usize = metrics
            .lines()
            .find_map(|l| l.strip_prefix("flotilla_owned_clusters "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{id}: no flotilla_owned_clusters in\n{metrics}"));
        assert_eq!(n, owned.values().filter(|o| o == id).count(), "{id}");
        assert_eq!(r.fleet().await.0["replica"], *id);
        let page = r.get("/").await.text();
        assert!(
            page.contains(&format!("owner: {}", owned["c1"])),
            "{id}: {page}"
        );
        total += n;
    }
    assert_eq!(total, names.len());

    // A pause on one replica pauses them all; a resume on another resumes.
    let r = replicas["ha-a"].post("/api/v1/rollout/pause").await;
    assert_eq!(r.status, 200, "{}", r.text());
    for (id, r) in &replicas {
        r.wait_fleet(&format!("{id} paused"), LIMIT, |v| v.0["paused"] == true)
            .await;
    }
    let r = replicas["ha-b"].post("/api/v1/rollout/resume").await;
    assert_eq!(r.status, 200, "{}", r.text());
    for (id, r) in &replicas {
        r.wait_fleet(&format!("{id} resumed"), LIMIT, |v| v.0["paused"] == false)
            .await;
    }

    // Waves gate across replicas: while the canary (owned by one replica)
    // is not healthy, no replica rolls the next wave out.
    let canary_owner = owned["c1"].clone();
    let others: Vec<&String> = names
        .iter()
        .filter(|c| *c != "c1" && owned[*c] != canary_owner)
        .collect();
    assert!(
        !others.is_empty(),
        "every cluster is {canary_owner}'s: {owned:?}"
    );
    controller.pause("c1", true);
    // The Deployment changes (1 -> 2 replicas), so the canary is not
    // healthy until its rollout is marked done.
    write_fleet(
        &repo,
        &layout,
        &App {
            replicas: 2,
            ..app("v1b")
        },
    );
    let gated = repo.commit_and_push("gated");
    let started = Instant::now();
    while note_on(&clusters, "c1").as_deref() != Some("v1b") {
        assert!(started.elapsed() < LIMIT, "the canary never got v1b");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Longer than the health timeout (5 s), after which the owner's record
    // says Synced (with the health it reached, not Healthy).
    for _ in 0..80 {
        for c in &others {
            assert_eq!(
                note_on(&clusters, c).as_deref(),
                Some("v1"),
                "{c} ({}) rolled out before the canary ({canary_owner}) was healthy",
                owned[*c]
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    controller.pause("c1", false);
    let all: Vec<&Daemon> = replicas.values().collect();
    wait_owned_and_converged(&all, &ids, &hub, &names, &gated).await;

    // Kill -9 the replica owning the most clusters: no hand-back, its
    // Leases just stop being renewed.
    let victim = ids
        .iter()
        .copied()
        .max_by_key(|id| owned.values().filter(|o| o == id).count())
        .unwrap();
    let orphans: Vec<String> = owned
        .iter()
        .filter(|(_, o)| *o == victim)
        .map(|(c, _)| c.clone())
        .collect();
    assert!(!orphans.is_empty());
    drop(replicas.remove(victim));
    write_fleet(&repo, &layout, &app("v2"));
    let second = repo.commit_and_push("second");
    let survivors: Vec<&str> = ids.iter().copied().filter(|id| *id != victim).collect();
    let alive: Vec<&Daemon> = replicas.values().collect();
    let after = wait_owned_and_converged(&alive, &survivors, &hub, &names, &second).await;
    for c in &names {
        assert_eq!(note_on(&clusters, c).as_deref(), Some("v2"), "{c}");
    }
    for c in &orphans {
        assert_ne!(after[c], victim, "{c}");
        // The new owner wrote the new commit itself.
        let writers = writes_by_replica(clusters.server(c));
        assert!(writers.contains(&after[c]), "{c}: {writers:?}");
    }

    // SIGTERM: the replica hands its shards back before it exits (no Lease
    // is left held by it), and the last one takes every cluster.
    let (stopping, last) = (survivors[0], survivors[1]);
    let mut r = replicas.remove(stopping).unwrap();
    r.sigterm();
    assert!(r.wait_exit(LIMIT).await.is_some(), "{}", r.stderr_tail(20));
    let held: Vec<u32> = shard_holders(&hub)
        .into_iter()
        .filter(|(_, h)| h == stopping)
        .map(|(k, _)| k)
        .collect();
    assert!(held.is_empty(), "{stopping} still holds shards {held:?}");
    let alone = [&replicas[last]];
    let owners = wait_owned_and_converged(&alone, &[last], &hub, &names, &second).await;
    assert!(owners.values().all(|o| o == last), "{owners:?}");
    drop(controller);
}

/// The rules of the Role `flotilla-ha` in deploy/kubernetes/rbac.yaml, as
/// the test API server enforces them in the Role's namespace.
fn deploy_role_rules() -> Vec<kube_testserver::RbacRule> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/rbac.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let role = flotilla_core::yaml::split_documents(&text)
        .iter()
        .map(|d| flotilla_core::yaml::parse::<serde_json::Value>("rbac.yaml", d).unwrap())
        .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == "flotilla-ha")
        .expect("deploy/kubernetes/rbac.yaml holds the Role flotilla-ha");
    assert_eq!(role["metadata"]["namespace"], LEASE_NS);
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| kube_testserver::RbacRule {
            verbs: strings(&r["verbs"]),
            api_groups: strings(&r["apiGroups"]),
            resources: strings(&r["resources"]),
            resource_names: strings(&r["resourceNames"]),
            namespaces: vec![LEASE_NS.to_string()],
        })
        .collect()
}

/// Two replicas whose every request to the hub is held to the deploy Role's
/// rules (as the deployment's service account): they share the clusters,
/// converge, and pause and resume together, and the hub refused none of
/// their requests. A rule the daemon needs and the Role lacks fails here
/// rather than in a cluster.
#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_need_no_more_than_the_deploy_roles_rules() {
    let layout = layout();
    let names = layout.all();
    let clusters = Clusters::start(&names).await;
    let controller = RolloutController::start(&clusters.servers, HashMap::new(), LIMIT * 3);
    let hub = hub().await;
    hub.set_rbac(DEPLOY_USER, deploy_role_rules());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("hub-as-deploy.kubeconfig");
    let yaml = hub
        .kubeconfig_yaml()
        .replace("  user: {}", &format!("  user:\n    as: {DEPLOY_USER}"));
    std::fs::write(&kubeconfig, yaml).unwrap();
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app("v1"));
    let first = repo.commit_and_push("first");

    let ids = ["rb-a", "rb-b"];
    let a = start_replica(&repo, &clusters, dir.path(), "rb-a", &kubeconfig).await;
    let b = start_replica(&repo, &clusters, dir.path(), "rb-b", &kubeconfig).await;
    wait_owned_and_converged(&[&a, &b], &ids, &hub, &names, &first).await;
    let r = a.post("/api/v1/rollout/pause").await;
    assert_eq!(r.status, 200, "{}", r.text());
    for r in [&a, &b] {
        r.wait_fleet("paused", LIMIT, |v| v.0["paused"] == true)
            .await;
    }
    let r = b.post("/api/v1/rollout/resume").await;
    assert_eq!(r.status, 200, "{}", r.text());
    for r in [&a, &b] {
        r.wait_fleet("resumed", LIMIT, |v| v.0["paused"] == false)
            .await;
    }

    let log = hub.request_log();
    assert!(!log.is_empty());
    let other: Vec<_> = log
        .iter()
        .filter(|r| r.impersonate_user.as_deref() != Some(DEPLOY_USER))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(other.is_empty(), "requests not held to the Role: {other:?}");
    let refused: Vec<_> = log
        .iter()
        .filter(|r| r.status == 403)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(refused.is_empty(), "the deploy Role refused {refused:?}");
    drop(controller);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_partitioned_replica_stops_writing_before_another_takes_its_clusters() {
    let layout = layout();
    let names = layout.all();
    let clusters = Clusters::start(&names).await;
    let controller = RolloutController::start(&clusters.servers, HashMap::new(), LIMIT * 3);
    let hub = hub().await;
    let dir = tempfile::tempdir().unwrap();
    let direct = hub_kubeconfig(dir.path(), "hub", &hub, &hub.addr().to_string());
    let relay = Relay::start(&hub.addr().to_string()).await;
    let relayed = hub_kubeconfig(dir.path(), "relayed", &hub, &relay.addr);
    let repo = FleetRepo::new();
    write_fleet(&repo, &layout, &app("v1"));
    let first = repo.commit_and_push("first");

    let ids = ["pt-a", "pt-b", "pt-p"];
    let a = start_replica(&repo, &clusters, dir.path(), "pt-a", &direct).await;
    let b = start_replica(&repo, &clusters, dir.path(), "pt-b", &direct).await;
    let p = start_replica(&repo, &clusters, dir.path(), "pt-p", &relayed).await;
    let owned = wait_owned_and_converged(&[&a, &b, &p], &ids, &hub, &names, &first).await;
    let cut_off: Vec<String> = owned
        .iter()
        .filter(|(_, o)| *o == "pt-p")
        .map(|(c, _)| c.clone())
        .collect();
    assert!(!cut_off.is_empty(), "pt-p owns nothing: {owned:?}");

    // The partition: pt-p reaches Git and its clusters, not the hub. It
    // would go on writing (drift to heal, a new commit) but for its fence.
    relay.set_target("127.0.0.1:1");
    relay.cut();
    let before: BTreeMap<String, usize> = cut_off
        .iter()
        .map(|c| (c.clone(), writes_by_replica(clusters.server(c)).len()))
        .collect();
    for c in &cut_off {
        let server = clusters.server(c);
        let mut cm = server
            .get("", "v1", "configmaps", Some(APP_NS), "app-config")
            .expect("app-config");
        cm["data"]["note"] = json!("drifted");
        server.insert(cm).expect("drift");
    }
    write_fleet(&repo, &layout, &app("v2"));
    let second = repo.commit_and_push("second");
    let alive = wait_owned_and_converged(&[&a, &b], &ids[..2], &hub, &names, &second).await;
    for c in &cut_off {
        assert_ne!(alive[c], "pt-p", "{c}");
    }
    // A third commit after the takeover: the new owners write it.
    write_fleet(&repo, &layout, &app("v3"));
    let third = repo.commit_and_push("third");
    wait_owned_and_converged(&[&a, &b], &ids[..2], &hub, &names, &third).await;
    for c in &cut_off {
        assert_eq!(note_on(&clusters, c).as_deref(), Some("v3"), "{c}");
        let writers = writes_by_replica(clusters.server(c));
        let after_cut = &writers[before[c]..];
        let last_p = after_cut.iter().rposition(|w| w == "pt-p");
        let first_other = after_cut.iter().position(|w| w != "pt-p");
        let first_other = first_other.unwrap_or_else(|| panic!("{c}: nobody else wrote"));
        if let Some(last_p) = last_p {
            assert!(
                last_p < first_other,
                "{c}: pt-p wrote after another replica took over: {after_cut:?}"
            );
        }
    }
    // The cut-off replica is still up, and no longer claims the clusters.
    let view = p
        .wait_fleet("pt-p lets go of its clusters", LIMIT, |v| {
            cut_off
                .iter()
                .all(|c| v.cluster(c)["owner"].as_str() != Some("pt-p"))
        })
        .await;
    assert!(!view.clusters().is_empty());
    let ids_seen: BTreeSet<String> = writes_by_replica(clusters.server(&cut_off[0]))
        .into_iter()
        .collect();
    assert!(
        ids_seen.iter().all(|id| ids.contains(&id.as_str())),
        "{ids_seen:?}"
    );
    drop(controller);
}

#[test]
fn bad_ha_settings_are_refused_with_a_clear_error() {
    use support::run::{RUN_LIMIT, run};
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("hub.yaml");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: hub, cluster: {server: 'http://127.0.0.1:1'}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: hub, context: {cluster: hub, user: u}}]\ncurrent-context: hub\n",
    )
    .unwrap();
    let serve = ["serve", "--repo", ".", "--listen", "127.0.0.1:0"];
    let bad_id = [
        &serve[..],
        &["--lease-namespace", LEASE_NS, "--lease-kubeconfig"],
        &[kubeconfig.to_str().unwrap(), "--replica-id", "Bad_Id"],
    ]
    .concat();
    let r = run(dir.path(), &bad_id, &[], RUN_LIMIT);
    assert_eq!(r.code, 2, "{r}");
    assert!(
        r.stderr
            .contains("replica id \"Bad_Id\" cannot name a Lease"),
        "{r}"
    );
    let no_namespace = [&serve[..], &["--replica-id", "a"]].concat();
    let r = run(dir.path(), &no_namespace, &[], RUN_LIMIT);
    assert_eq!(r.code, 2, "{r}");
    assert!(r.stderr.contains("need --lease-namespace"), "{r}");
}
