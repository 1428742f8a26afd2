//! Ownership scenarios (issue 12): another field manager extends atomic
//! values (a Service selector, a NetworkPolicy's `podSelector`, an atomic
//! list) or takes `spec.replicas` through `/scale`; `drift` names the JSON
//! pointer and who took it, and a plain `sync` (Git wins by default) takes
//! it back, saying so, even though Git did not change. A workload an HPA
//! targets (the HPA in Git or made by hand on the cluster) keeps the
//! replicas its scaler set; custom resources the server
//! defaulted are in sync right after a sync.

use kube::api::Patch;
use serde_json::{Value, json};

use crate::Scenario;
use crate::backend::{Env, Member};
use crate::support::objects::resource_version;
use crate::support::report::{cluster, fields, object};
use crate::sync_support::{Summary, assert_exit};

/// The scenarios of this module.
pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        crate::scenario!(atomic_values_another_manager_extended_are_taken_back),
        crate::scenario!(scale_subresource_takes_replicas_and_sync_restores_them),
        crate::scenario!(a_field_taken_with_the_same_value_is_taken_back),
        crate::scenario!(an_hpa_targets_replicas_are_left_to_its_scaler),
        crate::scenario!(a_live_only_hpa_targets_replicas_are_left_to_its_scaler),
        crate::scenario!(crd_defaulted_custom_resources_are_in_sync),
    ]
}

/// A Service, a NetworkPolicy (a LabelSelector and an atomic `ingress`
/// list) and a Deployment.
const APP: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
  namespace: shop
spec:
  podSelector:
    matchLabels: {app: web}
  policyTypes: [Ingress]
  ingress:
    - from:
        - podSelector:
            matchLabels: {app: frontend}
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
"#;

/// A reference to `kind`/`name` in `m`'s namespace shop.
fn shop_ref(m: &Member, api_version: &str, kind: &str, name: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind,
           "metadata": {"name": name, "namespace": m.ns("shop")}})
}

/// A one-cluster fleet (alpha) with base `app` holding `text`, synced.
async fn synced(e: &Env, text: &str) {
    e.fleet_yaml(&[e.alpha()], &[("app", &[])], "");
    e.write("bases/app/app.yaml", text);
    assert_exit(&e.flotilla("sync", &[]).await, 0);
}

/// The `taken` entries of a drift report's object, as their text.
fn taken(o: &Value) -> Vec<String> {
    o["taken"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let mut s = format!(
                "{} by {} ({}",
                t["path"].as_str().unwrap_or(""),
                t["manager"].as_str().unwrap_or(""),
                t["operation"].as_str().unwrap_or("")
            );
            if let Some(sub) = t["subresource"].as_str() {
                s.push_str(&format!(", {sub}"));
            }
            s.push(')');
            s
        })
        .collect()
}

/// The second sync of the same state writes nothing (all unchanged, no
/// write on a test API server), and `drift` says InSync.
async fn settled(e: &Env, objects: usize) {
    let a = e.alpha();
    a.reset_counters();
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("alpha"),
        Summary {
            unchanged: objects,
            ..Summary::default()
        },
        "{run}"
    );
    if let Some(c) = a.counters() {
        assert_eq!(c.writes, 0, "an untouched cluster: {:?}", c.by_verb);
    }
    let run = e.flotilla("drift", &[]).await;
    assert_exit(&run, 0);
    assert!(
        run.stdout
            .contains(&format!("alpha: InSync ({objects} in sync")),
        "{run}"
    );
}

/// Another manager's merge patches (as `kubectl patch` sends them) add a
/// key to the Service's atomic selector, a label to the NetworkPolicy's
/// atomic `podSelector` and a rule to its atomic `ingress` list: each one
/// takes the whole value from Flotilla. `drift` names each pointer and the
/// manager; a plain sync takes them back (saying so) and the cluster is in
/// sync again.
async fn atomic_values_another_manager_extended_are_taken_back(e: &Env) {
    synced(e, APP).await;
    let a = e.alpha();
    let svc = shop_ref(a, "v1", "Service", "web");
    let netpol = shop_ref(a, "networking.k8s.io/v1", "NetworkPolicy", "web");
    a.patch_as(
        "kubectl-patch",
        svc.clone(),
        Patch::Merge(json!({"spec": {"selector": {"track": "canary"}}})),
    )
    .await;
    a.patch_as(
        "kubectl-patch",
        netpol.clone(),
        Patch::Merge(json!({"spec": {"podSelector": {"matchLabels": {"track": "canary"}}}})),
    )
    .await;
    let live = a
        .must_get(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            &a.ns("shop"),
            "web",
        )
        .await;
    let mut ingress = live["spec"]["ingress"].as_array().unwrap().clone();
    ingress.push(json!({"from": [{"podSelector": {"matchLabels": {"app": "debug"}}}]}));
    a.patch_as(
        "kubectl-edit",
        netpol,
        Patch::Merge(json!({"spec": {"ingress": ingress}})),
    )
    .await;

    let run = e.flotilla("drift", &["-o", "json"]).await;
    assert_exit(&run, 1);
    let report = run.json();
    let c = cluster(&report, "alpha");
    assert_eq!(c["status"], "Drifted", "{c:#}");
    let s = object(c, "Service", "web");
    assert_eq!(
        fields(s),
        [(
            "/spec/selector".to_string(),
            json!({"app": "web"}),
            json!({"app": "web", "track": "canary"})
        )],
        "{s:#}"
    );
    assert_eq!(
        taken(s),
        ["/spec/selector by kubectl-patch (Update)"],
        "{s:#}"
    );
    let n = object(c, "NetworkPolicy", "web");
    let paths: Vec<String> = fields(n).into_iter().map(|(p, _, _)| p).collect();
    assert_eq!(paths, ["/spec/ingress", "/spec/podSelector"], "{n:#}");
    let mut by = taken(n);
    by.sort();
    assert_eq!(
        by,
        [
            "/spec/ingress by kubectl-edit (Update)",
            "/spec/podSelector by kubectl-patch (Update)"
        ],
        "{n:#}"
    );
    let run = e.flotilla("drift", &[]).await;
    assert_exit(&run, 1);
    assert!(
        run.stdout
            .lines()
            .any(|l| l.trim() == "/spec/selector taken by manager kubectl-patch (Update)"),
        "{run}"
    );

    // Git did not change; a plain sync takes the values back all the same.
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    assert_eq!(
        run.cluster("alpha"),
        Summary {
            configured: 2,
            unchanged: 2,
            ..Summary::default()
        },
        "{run}"
    );
    let details = run.details("alpha");
    let ns = a.ns("shop");
    for line in [
        format!(
            "  configured Service {ns}/web: took /spec/selector from manager kubectl-patch (Update)"
        ),
        format!(
            "  configured NetworkPolicy.networking.k8s.io {ns}/web: took /spec/ingress from manager kubectl-edit (Update)"
        ),
        format!(
            "  configured NetworkPolicy.networking.k8s.io {ns}/web: took /spec/podSelector from manager kubectl-patch (Update)"
        ),
    ] {
        assert!(
            details.contains(&line.as_str()),
            "missing {line:?} in:\n{run}"
        );
    }
    let svc = a.must_get("v1", "Service", &ns, "web").await;
    assert_eq!(svc["spec"]["selector"], json!({"app": "web"}));
    let n = a
        .must_get("networking.k8s.io/v1", "NetworkPolicy", &ns, "web")
        .await;
    assert_eq!(
        n["spec"]["podSelector"],
        json!({"matchLabels": {"app": "web"}})
    );
    assert_eq!(n["spec"]["ingress"].as_array().unwrap().len(), 1, "{n:#}");
    settled(e, 4).await;
}

/// `kubectl scale` (a PATCH of `/scale`) moves `spec.replicas` to manager
/// `kubectl` (Update, subresource scale): `drift` says so, and a plain sync
/// restores Git's replicas, naming whom it took them from (also in JSON).
async fn scale_subresource_takes_replicas_and_sync_restores_them(e: &Env) {
    synced(e, APP).await;
    let a = e.alpha();
    let web = shop_ref(a, "apps/v1", "Deployment", "web");
    a.scale_as("kubectl", web, 5).await;
    let run = e.flotilla("drift", &[]).await;
    assert_exit(&run, 1);
    for line in [
        "/spec/replicas: desired 2, live 5",
        "/spec/replicas taken by manager kubectl (Update, subresource scale)",
    ] {
        assert!(
            run.stdout.lines().any(|l| l.trim() == line),
            "missing {line:?} in:\n{run}"
        );
    }

    let run = e.flotilla("sync", &["-o", "json"]).await;
    assert_exit(&run, 0);
    let report = run.json();
    let alpha = report
        .as_array()
        .expect("one change set per cluster")
        .iter()
        .find(|c| c["cluster"] == "alpha")
        .expect("alpha");
    let changed: Vec<&Value> = alpha["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "configured")
        .collect();
    assert_eq!(changed.len(), 1, "{alpha:#}");
    assert_eq!(changed[0]["key"]["kind"], "Deployment");
    assert_eq!(
        changed[0]["taken"],
        json!([{"path": "/spec/replicas", "manager": "kubectl", "operation": "Update",
                "subresource": "scale", "apiVersion": "apps/v1"}]),
        "{alpha:#}"
    );
    let live = a
        .must_get("apps/v1", "Deployment", &a.ns("shop"), "web")
        .await;
    assert_eq!(live["spec"]["replicas"], 2, "Git's value");
    settled(e, 4).await;
}

/// Another manager takes `spec.replicas` (a forced apply) and then sets it
/// back to Git's value: nothing differs, but Flotilla no longer owns the
/// field. `drift` says who has it; a plain sync applies although Git did
/// not change, and Flotilla owns it again (shared: the values agree).
async fn a_field_taken_with_the_same_value_is_taken_back(e: &Env) {
    synced(e, APP).await;
    let a = e.alpha();
    let ns = a.ns("shop");
    for replicas in [7, 2] {
        a.apply_as(
            "other",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "namespace": ns},
                   "spec": {"replicas": replicas}}),
            true,
        )
        .await;
    }
    let run = e.flotilla("drift", &["-o", "json"]).await;
    assert_exit(&run, 1);
    let report = run.json();
    let d = object(cluster(&report, "alpha"), "Deployment", "web");
    assert!(fields(d).is_empty(), "the values agree: {d:#}");
    assert_eq!(taken(d), ["/spec/replicas by other (Apply)"], "{d:#}");

    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("alpha").configured, 1, "{run}");
    assert!(
        run.details("alpha").contains(
            &format!("  configured Deployment.apps {ns}/web: took /spec/replicas from manager other (Apply)")
                .as_str()
        ),
        "{run}"
    );
    let live = a.must_get("apps/v1", "Deployment", &ns, "web").await;
    let owners: Vec<&str> = live["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["fieldsV1"]["f:spec"]["f:replicas"].is_object())
        .map(|m| m["manager"].as_str().unwrap_or(""))
        .collect();
    // The values agree, so the field is shared (as the API server shares
    // a field two appliers set to the same value).
    assert!(owners.contains(&"flotilla"), "{live:#}");
    settled(e, 4).await;
}

/// The Deployment an HPA in Git targets: its scaler (manager
/// `kube-controller-manager`, through `/scale`) sets 4 replicas. That is
/// not drift, and a sync leaves them alone, even one that changes the
/// Deployment otherwise; `validate` notes that the HPA owns them.
async fn an_hpa_targets_replicas_are_left_to_its_scaler(e: &Env) {
    let hpa = r#"---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
  namespace: shop
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}
"#;
    synced(e, &format!("{APP}{hpa}")).await;
    let a = e.alpha();
    let ns = a.ns("shop");
    let run = e.flotilla("validate", &[]).await;
    assert_exit(&run, 0);
    assert!(
        run.all().contains(&format!(
            "Deployment {ns}/web: spec.replicas is owned by HorizontalPodAutoscaler {ns}/web"
        )),
        "{run}"
    );
    a.scale_as(
        "kube-controller-manager",
        shop_ref(a, "apps/v1", "Deployment", "web"),
        4,
    )
    .await;
    let before = resource_version(&a.must_get("apps/v1", "Deployment", &ns, "web").await);
    settled(e, 5).await;
    let live = a.must_get("apps/v1", "Deployment", &ns, "web").await;
    assert_eq!(live["spec"]["replicas"], 4, "the scaler's value");
    assert_eq!(resource_version(&live), before, "not written");

    // Git changes the Deployment: applied, but not its replicas.
    e.write(
        "bases/app/app.yaml",
        &format!("{APP}{hpa}").replace(
            "image: registry.k8s.io/pause:3.9",
            "image: registry.k8s.io/pause:3.10",
        ),
    );
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("alpha").configured, 1, "{run}");
    let live = a.must_get("apps/v1", "Deployment", &ns, "web").await;
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.k8s.io/pause:3.10"
    );
    assert_eq!(live["spec"]["replicas"], 4, "the scaler's value: {live:#}");
    settled(e, 5).await;
}

/// An HPA made on the cluster by hand (not in Git, no Flotilla label)
/// targets the Deployment in Git; its scaler (manager
/// `kube-controller-manager`, through `/scale`) sets 4 replicas. That is
/// not drift, and a sync leaves them alone, even one that changes the
/// Deployment otherwise.
async fn a_live_only_hpa_targets_replicas_are_left_to_its_scaler(e: &Env) {
    synced(e, APP).await;
    let a = e.alpha();
    let ns = a.ns("shop");
    a.apply_as(
        "kubectl",
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
               "metadata": {"name": "web-by-hand", "namespace": ns},
               "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                        "minReplicas": 2, "maxReplicas": 10}}),
        false,
    )
    .await;
    a.scale_as(
        "kube-controller-manager",
        shop_ref(a, "apps/v1", "Deployment", "web"),
        4,
    )
    .await;
    let before = resource_version(&a.must_get("apps/v1", "Deployment", &ns, "web").await);
    // drift: InSync (replicas are the HPA's); a resync writes nothing.
    settled(e, 4).await;
    let live = a.must_get("apps/v1", "Deployment", &ns, "web").await;
    assert_eq!(live["spec"]["replicas"], 4, "the scaler's value");
    assert_eq!(resource_version(&live), before, "not written");

    // Git changes the Deployment: applied, but not its replicas.
    e.write(
        "bases/app/app.yaml",
        &APP.replace(
            "image: registry.k8s.io/pause:3.9",
            "image: registry.k8s.io/pause:3.10",
        ),
    );
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
    assert_eq!(run.cluster("alpha").configured, 1, "{run}");
    let live = a.must_get("apps/v1", "Deployment", &ns, "web").await;
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.k8s.io/pause:3.10"
    );
    assert_eq!(live["spec"]["replicas"], 4, "the scaler's value: {live:#}");
    settled(e, 4).await;
    // The HPA is not Flotilla's: never pruned.
    assert!(
        a.get(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            Some(&ns),
            "web-by-hand"
        )
        .await
        .is_some()
    );
}

/// A CRD whose structural schema defaults members of list items (an
/// HTTPRoute-like `parentRefs[].group/kind`, `backendRefs[].kind/weight`,
/// the default `matches` of an atomic `rules` list): right after the sync
/// that created the custom resource the cluster is InSync and a resync
/// writes nothing.
async fn crd_defaulted_custom_resources_are_in_sync(e: &Env) {
    let group = e.crd_group();
    let base = format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: routes.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: routes, singular: route, kind: Route, listKind: RouteList}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                parentRefs:
                  type: array
                  maxItems: 32
                  items:
                    type: object
                    required: [name]
                    properties:
                      group: {{type: string, default: gateway.networking.k8s.io}}
                      kind: {{type: string, default: Gateway}}
                      name: {{type: string}}
                rules:
                  type: array
                  maxItems: 16
                  x-kubernetes-list-type: atomic
                  items:
                    type: object
                    properties:
                      matches:
                        type: array
                        maxItems: 8
                        default: [{{path: {{type: PathPrefix, value: /}}}}]
                        items:
                          type: object
                          properties:
                            path:
                              type: object
                              properties:
                                type: {{type: string, default: PathPrefix}}
                                value: {{type: string, default: /}}
                      backendRefs:
                        type: array
                        maxItems: 16
                        items:
                          type: object
                          required: [name]
                          properties:
                            group: {{type: string, default: ""}}
                            kind: {{type: string, default: Service}}
                            name: {{type: string}}
                            port: {{type: integer}}
                            weight: {{type: integer, default: 1}}
---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: {group}/v1
kind: Route
metadata:
  name: shop
  namespace: shop
spec:
  parentRefs: [{{name: edge}}]
  rules:
    - backendRefs: [{{name: web, port: 80}}]
"#
    );
    synced(e, &base).await;
    let a = e.alpha();
    let route = a
        .must_get(&format!("{group}/v1"), "Route", &a.ns("shop"), "shop")
        .await;
    // The server did default what Git leaves out.
    assert_eq!(
        route["spec"]["parentRefs"][0]["kind"], "Gateway",
        "{route:#}"
    );
    assert_eq!(
        route["spec"]["rules"][0]["backendRefs"][0]["weight"], 1,
        "{route:#}"
    );
    assert_eq!(
        route["spec"]["rules"][0]["matches"][0]["path"]["type"], "PathPrefix",
        "{route:#}"
    );
    let run = e.flotilla("drift", &["-o", "json"]).await;
    assert_exit(&run, 0);
    assert_eq!(cluster(&run.json(), "alpha")["status"], "InSync");
    settled(e, 3).await;
}
