//! Sync scenarios: first sync, idempotent resync, prune, the mass-prune
//! guard, a CRD with its custom resource, a conflict with another field
//! manager, the inventory across engine restarts, and two fleet clusters
//! sharing one Kubernetes cluster.

use std::time::Duration;

use flotilla_core::changeset::Action;
use flotilla_engine::destination::kube::KubeDestination;
use flotilla_engine::reconcile::{SyncOptions, reconcile_cluster};
use serde_json::{Value, json};

use crate::Scenario;
use crate::backend::{Env, Member, config_map};
use crate::support::objects::resource_version;
use crate::sync_support::{Summary, assert_exit};

/// The scenarios of this module.
pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        crate::scenario!(first_sync_creates_every_object),
        crate::scenario!(second_sync_writes_nothing),
        crate::scenario!(removed_base_is_pruned_on_its_clusters_only),
        crate::scenario!(mass_prune_needs_allow_mass_prune),
        crate::scenario!(mass_prune_window_spans_separate_runs),
        crate::scenario!(crd_and_custom_resource_in_one_sync),
        crate::scenario!(conflict_with_another_manager_needs_force_conflicts),
        crate::scenario!(a_failed_apply_blocks_prune),
        crate::scenario!(git_wins_by_default_unless_the_fleet_says_conflicts_fail),
        crate::scenario!(inventory_survives_an_engine_restart),
        crate::scenario!(two_fleet_clusters_share_one_cluster),
    ]
}

/// The `web` base: a namespace and three objects in it, one of them
/// rendered per cluster.
pub const WEB: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: registry.k8s.io/pause:3.9
          ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
  namespace: shop
data: {CLUSTER: "${cluster.name}"}
"#;

/// The objects of [`WEB`] on `m`, as (apiVersion, kind, namespace, name).
fn web_objects(m: &Member) -> Vec<(&'static str, &'static str, Option<String>, &'static str)> {
    let ns = m.ns("shop");
    vec![
        ("v1", "Namespace", None, "shop"),
        ("apps/v1", "Deployment", Some(ns.clone()), "web"),
        ("v1", "Service", Some(ns.clone()), "web"),
        ("v1", "ConfigMap", Some(ns), "web-config"),
    ]
}

/// The live copies of [`WEB`]'s objects on `m` (`None` for absent ones).
async fn web_on(m: &Member) -> Vec<Option<Value>> {
    let mut out = Vec::new();
    for (api, kind, ns, name) in web_objects(m) {
        let name = if kind == "Namespace" {
            m.ns(name)
        } else {
            name.to_string()
        };
        out.push(m.get(api, kind, ns.as_deref(), &name).await);
    }
    out
}

/// What changes when anyone but a controller writes the object: the
/// resourceVersion, except for kinds whose status a controller updates on a
/// real cluster (Deployments), where it is the generation and Flotilla's
/// managedFields entry (its time moves when Flotilla writes).
fn written_mark(v: &Value) -> String {
    if v["kind"] == "Deployment" {
        let mine: Vec<&Value> = v["metadata"]["managedFields"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|m| m["manager"] == "flotilla")
            .collect();
        format!("generation {} {mine:?}", v["metadata"]["generation"])
    } else {
        resource_version(v)
    }
}

/// The written marks of [`WEB`]'s objects on `m`.
async fn web_marks(m: &Member) -> Vec<String> {
    web_on(m)
        .await
        .iter()
        .map(|o| written_mark(o.as_ref().expect("the object exists")))
        .collect()
}

/// A base of `n` ConfigMaps `<prefix>-<i>` in namespace shop.
fn config_maps(prefix: &str, n: usize) -> String {
    (1..=n)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {prefix}-{i}\n  namespace: shop\ndata: {{index: \"{i}\"}}\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// `e`'s fleet on `members` with the `web` base everywhere; first sync done.
async fn web_synced(e: &Env, members: &[&Member]) {
    e.fleet_yaml(members, &[("web", &[])], "");
    e.write("bases/web/web.yaml", WEB);
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
}

/// ConfigMap `name` in `m`'s namespace shop, if it exists.
async fn shop_config_map(m: &Member, name: &str) -> Option<Value> {
    m.get("v1", "ConfigMap", Some(&m.ns("shop")), name).await
}

/// `e`'s fleet on `members` with the `web` base everywhere and a base
/// `extra` of two ConfigMaps on `extra_on` (every cluster when empty);
/// first sync done.
async fn web_and_extra_synced(e: &Env, members: &[&Member], extra_on: &[&str]) {
    e.fleet_yaml(members, &[("web", &[]), ("extra", extra_on)], "");
    e.write("bases/web/web.yaml", WEB);
    e.write("bases/extra/cms.yaml", &config_maps("extra", 2));
    assert_exit(&e.flotilla("sync", &[]).await, 0);
}

// ----- first sync -----------------------------------------------------------

/// Every object lands on both clusters, with the ownership label and
/// annotations, `${cluster.name}` rendered per cluster; the summary says
/// 4 created on each.
async fn first_sync_creates_every_object(e: &Env) {
    e.fleet_yaml(&[e.alpha(), e.beta()], &[("web", &[])], "");
    e.write("bases/web/web.yaml", WEB);
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    for m in &e.members {
        assert_eq!(
            run.cluster(m.name),
            Summary {
                created: 4,
                ..Summary::default()
            },
            "{run}"
        );
        for (object, (_, kind, _, name)) in web_on(m).await.into_iter().zip(web_objects(m)) {
            let o = object.unwrap_or_else(|| panic!("{}: {kind} {name} created", m.name));
            assert_eq!(
                o["metadata"]["labels"]["app.kubernetes.io/managed-by"], "flotilla",
                "{kind} {name}"
            );
            assert_eq!(
                o["metadata"]["annotations"]["flotilla.dev/fleet"],
                e.fleet(),
                "{o:#}"
            );
            assert!(
                o["metadata"]["annotations"]["flotilla.dev/source"].is_string(),
                "{o:#}"
            );
        }
        let cm = m
            .must_get("v1", "ConfigMap", &m.ns("shop"), "web-config")
            .await;
        assert_eq!(cm["data"]["CLUSTER"], m.name);
        let managers: Vec<&str> = cm["metadata"]["managedFields"]
            .as_array()
            .expect("managedFields")
            .iter()
            .map(|f| f["manager"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(managers, ["flotilla"], "one field manager");
    }
}

// ----- idempotence ----------------------------------------------------------

/// The second sync of an unchanged fleet is all unchanged and writes
/// nothing: no object's resourceVersion (or, for a Deployment, generation
/// and Flotilla's managedFields time) moves, nor the inventory's; the test
/// API server counts zero writes.
async fn second_sync_writes_nothing(e: &Env) {
    web_synced(e, &[e.alpha(), e.beta()]).await;
    let mut before = Vec::new();
    for m in &e.members {
        let versions: Vec<String> = web_marks(m).await;
        let inventory = m
            .inventory_config_map(e.fleet())
            .await
            .expect("an inventory");
        before.push((versions, resource_version(&inventory)));
        m.reset_counters();
    }
    // managedFields times have one-second resolution.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    for (m, (versions, inventory)) in e.members.iter().zip(before) {
        assert_eq!(
            run.cluster(m.name),
            Summary {
                unchanged: 4,
                ..Summary::default()
            },
            "{run}"
        );
        let now: Vec<String> = web_marks(m).await;
        assert_eq!(now, versions, "{}: no object was written", m.name);
        let inv = m
            .inventory_config_map(e.fleet())
            .await
            .expect("an inventory");
        assert_eq!(
            resource_version(&inv),
            inventory,
            "{}: the inventory was not rewritten",
            m.name
        );
        if let Some(c) = m.counters() {
            assert_eq!(c.writes, 0, "{}: {:?}", m.name, c.by_verb);
        }
    }
}

// ----- prune ----------------------------------------------------------------

/// A base placed on alpha only leaves fleet.yaml: alpha prunes its two
/// objects, beta prunes nothing, and every remaining object is untouched.
async fn removed_base_is_pruned_on_its_clusters_only(e: &Env) {
    let both = [e.alpha(), e.beta()];
    web_and_extra_synced(e, &both, &["alpha"]).await;
    let a = e.alpha();
    assert!(shop_config_map(a, "extra-1").await.is_some());
    let mut kept = Vec::new();
    for m in &e.members {
        kept.push(web_marks(m).await);
    }
    e.fleet_yaml(&both, &[("web", &[])], "");
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("alpha"),
        Summary {
            unchanged: 4,
            pruned: 2,
            ..Summary::default()
        },
        "{run}"
    );
    assert_eq!(
        run.cluster("beta"),
        Summary {
            unchanged: 4,
            ..Summary::default()
        },
        "{run}"
    );
    for i in 1..=2 {
        assert!(
            shop_config_map(a, &format!("extra-{i}")).await.is_none(),
            "extra-{i} pruned"
        );
    }
    for (m, kept) in e.members.iter().zip(kept) {
        let now: Vec<String> = web_marks(m).await;
        assert_eq!(now, kept, "{}: remaining objects untouched", m.name);
        let inv = m.inventory(e.fleet()).await.expect("an inventory");
        assert_eq!(
            inv["entries"].as_array().unwrap().len(),
            4,
            "{}: {inv:#}",
            m.name
        );
    }
}

/// Two commits in a row, each pruning under half of what is left, cannot
/// empty the cluster: the second is refused by the window, which each
/// separate `flotilla sync` run reads back from the cluster (ConfigMap
/// `flotilla-prune-window-<fleet>.<cluster>`).
async fn mass_prune_window_spans_separate_runs(e: &Env) {
    let a = e.alpha();
    e.fleet_yaml(&[a], &[("web", &[]), ("one", &[]), ("two", &[])], "");
    e.write("bases/web/web.yaml", WEB);
    e.write("bases/one/cms.yaml", &config_maps("one", 3));
    e.write("bases/two/cms.yaml", &config_maps("two", 3));
    assert_exit(&e.flotilla("sync", &[]).await, 0);
    // 3 of 10 (30%): pruned.
    e.fleet_yaml(&[a], &[("web", &[]), ("two", &[])], "");
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("alpha").pruned, 3, "{run}");
    // 3 of 7 (43%) alone, but 6 of 10 within the window: refused.
    e.fleet_yaml(&[a], &[("web", &[])], "");
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 2);
    assert!(
        run.stdout.contains(
            "with the 3 pruned in the previous 1 pruning round(s), 6 of 10 managed objects"
        ),
        "{run}"
    );
    assert!(run.stdout.contains("window of 5 rounds"), "{run}");
    for i in 1..=3 {
        assert!(
            shop_config_map(a, &format!("two-{i}")).await.is_some(),
            "two-{i} kept"
        );
    }
    // A window of one round is the per-round guard alone.
    let run = e.flotilla("sync", &["--prune-window", "1"]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("alpha").pruned, 3, "{run}");
}

/// Six of ten objects leave Git: the sync refuses to prune them (exit 2,
/// names `--allow-mass-prune`), deletes nothing, and prunes with the flag.
async fn mass_prune_needs_allow_mass_prune(e: &Env) {
    let a = e.alpha();
    e.fleet_yaml(&[a], &[("web", &[]), ("bulk", &[])], "");
    e.write("bases/web/web.yaml", WEB);
    e.write("bases/bulk/cms.yaml", &config_maps("bulk", 6));
    assert_exit(&e.flotilla("sync", &[]).await, 0);
    e.fleet_yaml(&[a], &[("web", &[])], "");
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 2);
    assert!(run.stdout.contains("refusing to prune 6 of 10"), "{run}");
    assert!(run.stdout.contains("--allow-mass-prune"), "{run}");
    let line = run.cluster("alpha");
    assert_eq!(
        (line.pruned, line.skipped, line.unchanged),
        (0, 6, 4),
        "{run}"
    );
    for i in 1..=6 {
        assert!(
            shop_config_map(a, &format!("bulk-{i}")).await.is_some(),
            "bulk-{i} kept"
        );
    }
    let run = e.flotilla("sync", &["--allow-mass-prune"]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("alpha"),
        Summary {
            unchanged: 4,
            pruned: 6,
            ..Summary::default()
        },
        "{run}"
    );
    for i in 1..=6 {
        assert!(
            shop_config_map(a, &format!("bulk-{i}")).await.is_none(),
            "bulk-{i} pruned"
        );
    }
    assert!(web_on(a).await.iter().all(Option::is_some), "web kept");
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("alpha").pruned,
        0,
        "nothing left to prune: {run}"
    );
}

// ----- CRD and custom resource ----------------------------------------------

/// A CRD (in this scenario's own API group) and a custom resource of it in
/// one sync, through the library: the resource is applied after its CRD is
/// Established, and the CLI then finds nothing to do.
async fn crd_and_custom_resource_in_one_sync(e: &Env) {
    let a = e.alpha();
    let group = e.crd_group();
    let base = format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}}
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                page: {{type: string}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: {group}/v1alpha1
kind: Widget
metadata:
  name: banner
  namespace: shop
spec: {{page: home}}
"#
    );
    e.fleet_yaml(&[a], &[("widgets", &[])], "");
    e.write("bases/widgets/all.yaml", &base);
    let desired = crate::sync_support::render(&e.repo()).remove(0);
    let mut destination =
        KubeDestination::from_kubeconfig(&a.connection.kubeconfig, a.connection.context.as_deref())
            .await
            .expect("a kube destination");
    let changes = tokio::time::timeout(
        Duration::from_secs(120),
        reconcile_cluster(
            &mut destination,
            e.fleet(),
            None,
            &desired,
            SyncOptions::default(),
            |_, _| {},
        ),
    )
    .await
    .expect("the sync finishes");
    assert!(!changes.is_failure(), "{changes}\n{:#?}", changes.changes);
    let actions: Vec<(&str, Action)> = changes
        .changes
        .iter()
        .map(|c| (c.key.kind.as_str(), c.action))
        .collect();
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert!(
        actions.iter().all(|(_, a)| *a == Action::Created),
        "{actions:?}"
    );
    let position = |kind: &str| actions.iter().position(|(k, _)| *k == kind).unwrap();
    assert!(
        position("Widget") > position("CustomResourceDefinition"),
        "{actions:?}"
    );
    let widget = a
        .must_get(
            &format!("{group}/v1alpha1"),
            "Widget",
            &a.ns("shop"),
            "banner",
        )
        .await;
    assert_eq!(widget["spec"]["page"], "home");
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("alpha"),
        Summary {
            unchanged: 3,
            ..Summary::default()
        },
        "{run}"
    );
}

// ----- conflicts ------------------------------------------------------------

/// Another field manager (`other`) takes `spec.replicas` of the Deployment,
/// as an autoscaler would.
async fn take_replicas(m: &Member, replicas: i64) {
    m.apply_as(
        "other",
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": m.ns("shop")},
            "spec": {"replicas": replicas},
        }),
        true,
    )
    .await;
}

/// With the opt-out (`--no-force-conflicts`, kubectl's behaviour) the sync
/// fails on the conflict, naming the other manager, the field and
/// `--force-conflicts`, and leaves its value; with the flag Flotilla's value
/// wins and Flotilla owns the field again.
async fn conflict_with_another_manager_needs_force_conflicts(e: &Env) {
    let a = e.alpha();
    web_synced(e, &[a]).await;
    take_replicas(a, 7).await;
    let run = e.flotilla("sync", &["--no-force-conflicts"]).await;
    assert_exit(&run, 2);
    let line = run.cluster("alpha");
    assert_eq!((line.failed, line.unchanged), (1, 3), "{run}");
    let details = run.details("alpha");
    assert_eq!(details.len(), 1, "{run}");
    let detail = details[0];
    assert!(
        detail.contains(&format!("failed Deployment.apps {}/web", a.ns("shop"))),
        "{detail}"
    );
    assert!(detail.contains("conflict"), "{detail}");
    assert!(
        detail.contains("\"other\""),
        "names the other manager: {detail}"
    );
    assert!(
        detail.contains(".spec.replicas"),
        "names the field: {detail}"
    );
    assert!(detail.contains("--force-conflicts"), "{detail}");
    let live = a
        .must_get("apps/v1", "Deployment", &a.ns("shop"), "web")
        .await;
    assert_eq!(live["spec"]["replicas"], 7);

    let run = e.flotilla("sync", &["--force-conflicts"]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("alpha"),
        Summary {
            configured: 1,
            unchanged: 3,
            ..Summary::default()
        },
        "{run}"
    );
    let live = a
        .must_get("apps/v1", "Deployment", &a.ns("shop"), "web")
        .await;
    assert_eq!(live["spec"]["replicas"], 2, "Flotilla's value");
    let owners: Vec<&str> = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["fieldsV1"]["f:spec"]["f:replicas"].is_object())
        .map(|m| m["manager"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(owners, ["flotilla"]);
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("alpha").unchanged, 4, "{run}");
}

/// Git wins by default: a plain sync takes back the field another manager
/// took. `spec.conflicts: fail` in fleet.yaml keeps kubectl's behaviour: the
/// same sync fails on the conflict and leaves the other manager's value.
async fn git_wins_by_default_unless_the_fleet_says_conflicts_fail(e: &Env) {
    let a = e.alpha();
    web_synced(e, &[a]).await;
    take_replicas(a, 7).await;
    e.fleet_yaml(&[a], &[("web", &[])], "  conflicts: fail\n");
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 2);
    assert_eq!(run.cluster("alpha").failed, 1, "{run}");
    let live = a
        .must_get("apps/v1", "Deployment", &a.ns("shop"), "web")
        .await;
    assert_eq!(live["spec"]["replicas"], 7, "the other manager's value");

    e.fleet_yaml(&[a], &[("web", &[])], "");
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("alpha").configured, 1, "{run}");
    let live = a
        .must_get("apps/v1", "Deployment", &a.ns("shop"), "web")
        .await;
    assert_eq!(live["spec"]["replicas"], 2, "Git's value");
}

/// A round in which an apply failed (a conflict, with the opt-out
/// `--no-force-conflicts`) prunes nothing; once the conflict is forced, the
/// prune goes ahead.
async fn a_failed_apply_blocks_prune(e: &Env) {
    let a = e.alpha();
    web_and_extra_synced(e, &[a], &[]).await;
    take_replicas(a, 7).await;
    e.fleet_yaml(&[a], &[("web", &[])], "");
    let run = e.flotilla("sync", &["--no-force-conflicts"]).await;
    assert_exit(&run, 2);
    let line = run.cluster("alpha");
    assert_eq!((line.failed, line.pruned, line.skipped), (1, 0, 2), "{run}");
    let skipped: Vec<&str> = run
        .details("alpha")
        .into_iter()
        .filter(|d| d.starts_with("  skipped"))
        .collect();
    assert_eq!(skipped.len(), 2, "{run}");
    assert!(
        skipped
            .iter()
            .all(|d| d.contains("some objects failed to apply")),
        "{run}"
    );
    for i in 1..=2 {
        assert!(shop_config_map(a, &format!("extra-{i}")).await.is_some());
    }
    let run = e.flotilla("sync", &["--force-conflicts"]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("alpha").pruned, 2, "{run}");
}

// ----- the inventory --------------------------------------------------------

/// One engine process syncs; another (a restart) learns from the in-cluster
/// inventory what the first applied and prunes exactly that: an object
/// carrying Flotilla's labels that it never applied is left alone.
async fn inventory_survives_an_engine_restart(e: &Env) {
    let a = e.alpha();
    web_and_extra_synced(e, &[a], &[]).await;
    // Made by hand, looking like Flotilla's.
    let mut hand_made = config_map(&a.ns("shop"), "hand-made", json!({"k": "v"}));
    hand_made["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "flotilla"});
    hand_made["metadata"]["annotations"] = json!({"flotilla.dev/fleet": e.fleet()});
    a.apply_as("kubectl", hand_made, false).await;
    let entries: Vec<String> = a.inventory(e.fleet()).await.expect("an inventory")["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(entries.len(), 6, "{entries:?}");
    assert!(!entries.contains(&"hand-made".to_string()));

    e.fleet_yaml(&[a], &[("web", &[])], "");
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("alpha"),
        Summary {
            unchanged: 4,
            pruned: 2,
            ..Summary::default()
        },
        "{run}"
    );
    assert!(shop_config_map(a, "extra-1").await.is_none());
    assert!(shop_config_map(a, "extra-2").await.is_none());
    assert!(
        shop_config_map(a, "hand-made").await.is_some(),
        "never applied by Flotilla: not pruned"
    );
}

/// Two fleet clusters on one Kubernetes cluster (split by namespace) keep
/// separate inventories: removing the base from one prunes only its
/// objects, and the other's next sync prunes nothing.
async fn two_fleet_clusters_share_one_cluster(e: &Env) {
    // beta on alpha's cluster, whatever the backend.
    let beta = Member {
        name: "beta",
        namespace_prefix: e.beta().namespace_prefix.clone(),
        connection: e.alpha().connection.clone(),
        client: e.alpha().client.clone(),
        server: e.alpha().server.clone(),
    };
    let alpha = e.alpha();
    e.fleet_yaml(&[alpha, &beta], &[("web", &[])], "");
    e.write("bases/web/web.yaml", WEB);
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    for m in [alpha, &beta] {
        assert_eq!(run.cluster(m.name).created, 4, "{run}");
        assert!(web_on(m).await.iter().all(Option::is_some), "{}", m.name);
        assert_eq!(
            m.inventory(e.fleet()).await.expect("an inventory")["entries"]
                .as_array()
                .unwrap()
                .len(),
            4
        );
    }
    e.fleet_yaml(&[alpha, &beta], &[("web", &["alpha"])], "");
    let run = e.flotilla("sync", &["--allow-mass-prune"]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("alpha"),
        Summary {
            unchanged: 4,
            ..Summary::default()
        },
        "{run}"
    );
    assert_eq!(run.cluster("beta").pruned, 4, "{run}");
    assert!(
        web_on(alpha).await.iter().all(Option::is_some),
        "alpha's objects stay"
    );
    let cm = shop_config_map(&beta, "web-config").await;
    assert!(cm.is_none(), "beta's objects are pruned");
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("alpha"),
        Summary {
            unchanged: 4,
            ..Summary::default()
        },
        "{run}"
    );
}
