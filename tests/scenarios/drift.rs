//! Drift scenarios: server defaults are not drift, hand edits are reported
//! with their JSON pointers, Secret values never show, and a drifted
//! object deleted from the cluster is reported Missing.

use kube::api::Patch;
use serde_json::{Value, json};

use crate::Scenario;
use crate::backend::Env;
use crate::support::files::{b64, fixtures};
use crate::support::report::{cluster, fields, object};
use crate::sync_support::assert_exit;

/// The scenarios of this module.
pub fn all() -> Vec<(&'static str, Scenario)> {
    vec![
        crate::scenario!(server_defaults_are_not_drift),
        crate::scenario!(hand_edits_are_reported_with_their_json_pointers),
        crate::scenario!(secret_values_never_appear_in_any_report),
        crate::scenario!(deleted_drifted_object_is_missing),
    ]
}

/// `(inSync, modified, missing, toBePruned)` of a cluster's report.
fn counts(c: &Value) -> (Value, Value, Value, Value) {
    (
        c["inSync"].clone(),
        c["modified"].clone(),
        c["missing"].clone(),
        c["toBePruned"].clone(),
    )
}

/// A one-cluster fleet (alpha) with base `app`, synced.
async fn synced(e: &Env, base: &str) {
    e.fleet_yaml(&[e.alpha()], &[("app", &[])], "");
    e.write("bases/app/app.yaml", base);
    let run = e.flotilla("sync", &[]).await;
    assert_exit(&run, 0);
}

/// Deployment, Service (NodePort), StatefulSet (with a claim template), HPA
/// and Secret (with `stringData`), synced: whatever the server defaults,
/// allocates or canonicalises (`cpu: 0.5`), `drift` says InSync, the live
/// `diff` shows nothing, and no dry run was needed.
async fn server_defaults_are_not_drift(e: &Env) {
    synced(
        e,
        &fixtures(&[
            "namespace-desired.yaml",
            "deployment-desired.yaml",
            "service-desired.yaml",
            "statefulset-desired.yaml",
            "horizontalpodautoscaler-desired.yaml",
            "secret-desired.yaml",
        ]),
    )
    .await;
    let a = e.alpha();
    // The server did add to what Git says.
    let web = a
        .must_get("apps/v1", "Deployment", &a.ns("shop"), "web")
        .await;
    assert_eq!(web["spec"]["revisionHistoryLimit"], 10, "{web:#}");
    let svc = a.must_get("v1", "Service", &a.ns("shop"), "web").await;
    assert!(svc["spec"]["ports"][0]["nodePort"].is_i64(), "{svc:#}");

    a.reset_counters();
    let run = e.flotilla("drift", &[]).await;
    assert_exit(&run, 0);
    assert!(
        run.stdout
            .contains("alpha: InSync (6 in sync, 0 modified, 0 missing, 0 to be pruned)"),
        "{run}"
    );
    let run = e.flotilla("drift", &["-o", "json"]).await;
    assert_exit(&run, 0);
    let report = run.json();
    let c = cluster(&report, "alpha");
    assert_eq!(c["status"], "InSync");
    assert_eq!(c["objects"], json!([]));
    let run = e.flotilla("diff", &[]).await;
    assert_exit(&run, 0);
    assert!(!run.stdout.contains("@@"), "no diff expected:\n{run}");
    if let Some(c) = a.counters() {
        assert_eq!(c.writes, 0, "reading drift writes nothing: {c:?}");
    }
}

/// Replicas and an image changed by another field manager's apply, a label
/// by `kubectl label`, an env var removed by `kubectl edit`: `drift` reports
/// each with its JSON pointer and both values, confirmed by the server's
/// dry run (exit 1); the live diff shows them.
async fn hand_edits_are_reported_with_their_json_pointers(e: &Env) {
    let settings = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\ndata:\n  color: blue\n";
    let base = format!(
        "{}---\n{settings}",
        fixtures(&["namespace-desired.yaml", "deployment-desired.yaml"])
    );
    synced(e, &base).await;
    let a = e.alpha();
    let ns = a.ns("shop");
    let web_ref = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns}});
    a.apply_as(
        "kubectl-edit",
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {"replicas": 5, "template": {"spec": {"containers": [
                {"name": "web", "image": "registry.example.com/shop/web:1.5.0-hotfix"}
            ]}}},
        }),
        true,
    )
    .await;
    a.patch_as(
        "kubectl-label",
        web_ref.clone(),
        Patch::Merge(json!({"metadata": {"labels": {"app.kubernetes.io/part-of": "legacy"}}})),
    )
    .await;
    let remove: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/env/1/name", "value": "FEATURE_X"},
        {"op": "remove", "path": "/spec/template/spec/containers/0/env/1"},
    ]))
    .expect("a JSON patch");
    a.patch_as("kubectl-edit", web_ref, Patch::Json(remove))
        .await;

    let run = e.flotilla("drift", &["-o", "json"]).await;
    assert_exit(&run, 1);
    let report = run.json();
    let c = cluster(&report, "alpha");
    assert_eq!(c["status"], "Drifted");
    assert_eq!(counts(c), (json!(2), json!(1), json!(0), json!(0)), "{c:#}");
    let web = object(c, "Deployment", "web");
    assert_eq!(web["status"], "Modified");
    assert_eq!(web["decidedBy"], "dryRun");
    assert_eq!(
        web["key"],
        json!({"group": "apps", "kind": "Deployment", "namespace": ns, "name": "web"})
    );
    assert_eq!(
        fields(web),
        vec![
            (
                "/metadata/labels/app.kubernetes.io~1part-of".to_string(),
                json!("shop"),
                json!("legacy")
            ),
            ("/spec/replicas".to_string(), json!(2), json!(5)),
            (
                "/spec/template/spec/containers/0/env/1".to_string(),
                json!({"name": "FEATURE_X", "value": "enabled"}),
                Value::Null
            ),
            (
                "/spec/template/spec/containers/0/image".to_string(),
                json!("registry.example.com/shop/web:1.4.2"),
                json!("registry.example.com/shop/web:1.5.0-hotfix")
            ),
        ]
    );

    let run = e.flotilla("drift", &[]).await;
    assert_exit(&run, 1);
    for line in [
        "alpha: Drifted (2 in sync, 1 modified, 0 missing, 0 to be pruned)".to_string(),
        format!("  modified Deployment.apps {ns}/web (decided by server dry run)"),
        "    /spec/replicas: desired 2, live 5".to_string(),
        "    /metadata/labels/app.kubernetes.io~1part-of: desired \"shop\", live \"legacy\"".to_string(),
        "    /spec/template/spec/containers/0/env/1: desired {\"name\":\"FEATURE_X\",\"value\":\"enabled\"}, live (absent)".to_string(),
    ] {
        assert!(run.stdout.lines().any(|l| l == line), "missing line {line:?} in:\n{run}");
    }
    assert!(!run.stdout.contains("ConfigMap"), "{run}");

    let run = e.flotilla("diff", &[]).await;
    assert_exit(&run, 1);
    let has = |prefix: char, text: &str| {
        run.stdout
            .lines()
            .any(|l| l.trim_start().starts_with(prefix) && l.contains(text))
    };
    assert!(has('-', "replicas: 5") && has('+', "replicas: 2"), "{run}");
    assert!(
        has('-', "web:1.5.0-hotfix") && has('+', "web:1.4.2"),
        "{run}"
    );
    assert!(has('+', "FEATURE_X"), "{run}");
}

/// A Secret changed by hand is Modified at `/data/<key>`, and no output
/// (text, markdown, JSON; drift and live diff) holds a value, plain or
/// base64, from Git or from the cluster.
async fn secret_values_never_appear_in_any_report(e: &Env) {
    synced(
        e,
        &fixtures(&["namespace-desired.yaml", "secret-desired.yaml"]),
    )
    .await;
    let a = e.alpha();
    let ns = a.ns("shop");
    let stored = a.must_get("v1", "Secret", &ns, "creds").await;
    assert_eq!(
        stored["data"]["password"],
        b64("s3cr3t-in-git"),
        "stringData is stored as data"
    );
    a.patch_as(
        "kubectl-edit",
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": ns}}),
        Patch::Merge(json!({"data": {"password": b64("hand-typed-pw"), "token": b64("tok-by-hand")}})),
    )
    .await;
    let values = [
        "s3cr3t-in-git",
        "hand-typed-pw",
        "tok-from-git",
        "tok-by-hand",
    ];
    let mut json_report = None;
    for (command, format) in [
        ("drift", "text"),
        ("drift", "markdown"),
        ("drift", "json"),
        ("diff", "text"),
        ("diff", "json"),
        ("diff", "markdown"),
    ] {
        let run = e.flotilla(command, &["-o", format]).await;
        assert_exit(&run, 1);
        let all = format!("{}{}", run.stdout, run.stderr);
        for v in values {
            for shown in [v.to_string(), b64(v)] {
                assert!(
                    !all.contains(&shown),
                    "{command} -o {format} shows {shown:?}:\n{all}"
                );
            }
        }
        if (command, format) == ("drift", "json") {
            json_report = Some(run.json());
        }
    }
    let report = json_report.unwrap();
    let creds = object(cluster(&report, "alpha"), "Secret", "creds");
    assert_eq!(creds["status"], "Modified");
    assert_eq!(creds["decidedBy"], "dryRun");
    let f = fields(creds);
    let paths: Vec<&str> = f.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(paths, ["/data/password", "/data/token"]);
    for (_, desired, live) in &f {
        assert!(
            desired.as_str().is_some_and(|s| s.contains("hidden")),
            "{desired}"
        );
        assert!(
            live.as_str().is_some_and(|s| s.contains("hidden")),
            "{live}"
        );
    }
}

fn configmap(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\ndata:\n  name: {name}\n"
    )
}

/// ConfigMap `a` is edited by hand (Modified), then deleted: it is reported
/// Missing; `c`, which left Git but is in the inventory, is ToBePruned.
async fn deleted_drifted_object_is_missing(e: &Env) {
    let ns_doc = fixtures(&["namespace-desired.yaml"]);
    let all = format!(
        "{ns_doc}---\n{}---\n{}---\n{}",
        configmap("a"),
        configmap("b"),
        configmap("c")
    );
    synced(e, &all).await;
    let a = e.alpha();
    let ns = a.ns("shop");
    let a_ref = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": ns}});
    a.patch_as(
        "kubectl-edit",
        a_ref,
        Patch::Merge(json!({"data": {"name": "edited"}})),
    )
    .await;
    let run = e.flotilla("drift", &["-o", "json"]).await;
    assert_exit(&run, 1);
    let report = run.json();
    assert_eq!(
        object(cluster(&report, "alpha"), "ConfigMap", "a")["status"],
        "Modified"
    );

    a.delete("v1", "ConfigMap", Some(&ns), "a").await;
    e.write(
        "bases/app/app.yaml",
        &format!("{ns_doc}---\n{}---\n{}", configmap("a"), configmap("b")),
    );
    let run = e.flotilla("drift", &["-o", "json"]).await;
    assert_exit(&run, 1);
    let report = run.json();
    let c = cluster(&report, "alpha");
    assert_eq!(c["status"], "Drifted");
    assert_eq!(counts(c), (json!(2), json!(0), json!(1), json!(1)), "{c:#}");
    let missing = object(c, "ConfigMap", "a");
    assert_eq!(
        (&missing["status"], &missing["decidedBy"]),
        (&json!("Missing"), &json!("presence"))
    );
    let pruned = object(c, "ConfigMap", "c");
    assert_eq!(
        (&pruned["status"], &pruned["decidedBy"]),
        (&json!("ToBePruned"), &json!("presence"))
    );
    let run = e.flotilla("drift", &[]).await;
    assert_exit(&run, 1);
    assert!(
        run.stdout.contains(&format!(
            "  missing ConfigMap {ns}/a (decided by presence)\n"
        )),
        "{run}"
    );
    assert!(
        run.stdout.contains(&format!(
            "  to be pruned ConfigMap {ns}/c (decided by presence)\n"
        )),
        "{run}"
    );
}
