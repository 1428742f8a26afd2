//! Schema-driven comparison of desired and live objects, through the
//! library: atomic maps and lists, list maps by their keys, sets, ownership
//! from managedFields, fields controllers own, and objects as a real
//! kube-apiserver v1.32.13 stored them (the shared traces) staying in sync.

use std::path::PathBuf;

use flotilla_core::diff::controlled::{controlled_fields, pointers_of, strip_controlled};
use flotilla_core::diff::live::{field_diffs, field_diffs_with};
use flotilla_core::diff::ownership::fields_taken;
use flotilla_core::diff::schema::{Schema, builtin, from_crd};
use flotilla_core::model::ObjectKey;
use serde_json::{Value, json};

fn paths(desired: &Value, live: &Value) -> Vec<String> {
    field_diffs(desired, live, &[])
        .into_iter()
        .map(|d| d.path)
        .collect()
}

/// ssa-service-selector-atomic: Flotilla applied `{app: web}`, manager B
/// merge-patched a second key and so took the whole selector.
#[test]
fn another_manager_adding_a_selector_key_is_drift_and_takes_the_selector() {
    let desired = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}});
    let live = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u", "resourceVersion": "9", "managedFields": [
            {"manager": "flotilla", "operation": "Apply", "apiVersion": "v1", "time": "<time>", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:ports": {"k:{\"port\":80,\"protocol\":\"TCP\"}": {".": {}, "f:port": {}, "f:targetPort": {}}}}}},
            {"manager": "B", "operation": "Update", "apiVersion": "v1", "time": "<time>", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:selector": {}}}}]},
        "spec": {"ports": [{"protocol": "TCP", "port": 80, "targetPort": 8080}], "selector": {"app": "web", "extra": "x"},
                 "clusterIP": "10.0.0.7", "clusterIPs": ["10.0.0.7"], "type": "ClusterIP", "sessionAffinity": "None",
                 "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"},
        "status": {"loadBalancer": {}}});
    let diffs = field_diffs(&desired, &live, &[]);
    assert_eq!(diffs.len(), 1, "{diffs:?}");
    assert_eq!(diffs[0].path, "/spec/selector");
    assert_eq!(diffs[0].desired, json!({"app": "web"}));
    assert_eq!(diffs[0].live, json!({"app": "web", "extra": "x"}));
    let taken = fields_taken(&desired, &live, builtin());
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].path, "/spec/selector");
    assert_eq!(taken[0].manager, "B");
    assert_eq!(
        taken[0].to_string(),
        "/spec/selector taken by manager B (Update)"
    );
}

/// scale-deployment-merge-patch: `kubectl scale` moves `.spec.replicas` to
/// manager kubectl through the scale subresource.
#[test]
fn kubectl_scale_is_drift_and_takes_replicas_unless_an_hpa_owns_them() {
    let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}});
    let live = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop", "managedFields": [
            {"manager": "flotilla", "operation": "Apply", "apiVersion": "apps/v1", "time": "<time>", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}},
            {"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1", "fieldsType": "FieldsV1",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}, "subresource": "scale"}]},
        "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "web"}}, "spec": {"containers": [
                {"name": "app", "image": "nginx:1.27", "resources": {}, "terminationMessagePath": "/dev/termination-log",
                 "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}],
                "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                "securityContext": {}, "schedulerName": "default-scheduler"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
            "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
        "status": {}});
    assert_eq!(paths(&desired, &live), ["/spec/replicas"]);
    let taken = fields_taken(&desired, &live, builtin());
    assert_eq!(
        taken.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["/spec/replicas taken by manager kubectl (Update, subresource scale)"]
    );

    // With an HPA on the Deployment, replicas belong to it: not drift, and
    // not applied again once the Deployment exists.
    let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 10}});
    let desired_state = [desired.clone(), hpa];
    let controlled = controlled_fields(&desired_state, []);
    let key = ObjectKey::of(&desired).unwrap();
    let ignore = pointers_of(&controlled, &key);
    assert_eq!(ignore, ["/spec/replicas"]);
    assert!(field_diffs(&desired, &live, &ignore).is_empty());
    assert!(
        strip_controlled(&desired, &controlled)["spec"]
            .get("replicas")
            .is_none()
    );
    assert_eq!(
        controlled.iter().next().unwrap().to_string(),
        "Deployment shop/web: spec.replicas is owned by HorizontalPodAutoscaler shop/web and is set on create only"
    );
}

#[test]
fn service_ports_are_matched_by_port_and_protocol() {
    let desired = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns", "namespace": "kube-system"},
        "spec": {"ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                           {"name": "dns-tcp", "port": 53, "targetPort": 53}]}});
    let live = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns", "namespace": "kube-system"},
        "spec": {"ports": [{"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                           {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                           {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}});
    assert!(paths(&desired, &live).is_empty());
    let mut edited = live.clone();
    edited["spec"]["ports"][1]["targetPort"] = json!(5353);
    assert_eq!(paths(&desired, &edited), ["/spec/ports/0/targetPort"]);
}

#[test]
fn finalizers_are_a_set() {
    let desired = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "shop", "finalizers": ["example.com/a", "example.com/b"]}});
    let live = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "shop", "finalizers": ["example.com/b", "other.io/c", "example.com/a"]}});
    assert!(paths(&desired, &live).is_empty());
    let live = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "shop", "finalizers": ["example.com/b"]}});
    assert_eq!(paths(&desired, &live), ["/metadata/finalizers/0"]);
}

#[test]
fn an_unknown_kind_compares_as_before() {
    let desired = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "n"},
        "spec": {"match": {"app": "web"}, "targets": [{"name": "a", "port": 1}]}});
    let live = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "n"},
        "spec": {"match": {"app": "web", "x": "y"}, "targets": [{"name": "b", "port": 2}, {"name": "a", "port": 1}]}});
    assert!(paths(&desired, &live).is_empty());
    // With the CRD's schema, `match` is atomic.
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "spec": {"group": "example.com", "names": {"kind": "Widget"}, "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
            "type": "object", "properties": {"spec": {"type": "object", "properties": {
                "match": {"type": "object", "additionalProperties": {"type": "string"}, "x-kubernetes-map-type": "atomic"},
                "targets": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}}}}}}}}]}});
    let mut schema = builtin().clone();
    schema.merge(from_crd(&crd).unwrap());
    let diffs: Vec<String> = field_diffs_with(&desired, &live, &[], &schema)
        .into_iter()
        .map(|d| d.path)
        .collect();
    assert_eq!(diffs, ["/spec/match"]);
}

/// Every successful server-side apply recorded from the real API server:
/// the object it returned is in sync with what was applied (server
/// defaults inside atomic structs and lists, list maps merged with other
/// managers' items, canonical quantities). CRDs a trace creates give their
/// own schema.
#[test]
fn every_apply_the_real_server_answered_is_in_sync_with_its_response() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("FLOTILLA_TRACES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/apiserver-traces/traces"));
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "no traces at {} ({e}): set FLOTILLA_TRACES_DIR",
            dir.display()
        )
    });
    let mut files: Vec<PathBuf> = entries.map(|e| e.expect("entry").path()).collect();
    files.sort();
    let mut checked = 0;
    for file in files {
        let trace: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("readable")).expect("JSON");
        let mut schema: Schema = builtin().clone();
        for step in trace["steps"].as_array().into_iter().flatten() {
            let request = &step["request"];
            let body = &request["body"];
            if body["kind"] == "CustomResourceDefinition"
                && let Ok(s) = from_crd(body)
            {
                schema.merge(s);
            }
            let status = step["response"]["status"].as_u64().unwrap_or(0);
            let apply = request["method"] == "PATCH"
                && request["contentType"]
                    .as_str()
                    .is_some_and(|c| c.contains("apply"));
            if !apply || !body.is_object() || !(200..300).contains(&status) {
                continue;
            }
            let live = &step["response"]["body"];
            let diffs = field_diffs_with(body, live, &[], &schema);
            assert!(
                diffs.is_empty(),
                "{} step {}: {diffs:#?}",
                file.display(),
                request["path"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} applies checked");
}
