//! Protocol details checked with raw HTTP: YAML apply bodies, methods,
//! content types, `watch=1`, multi-version CRDs, terminating namespaces.

mod common;

use common::*;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, ResourceExt};
use kube_testserver::TestApiServer;
use serde_json::json;

#[tokio::test]
async fn apply_accepts_yaml_bodies() {
    let server = TestApiServer::start().await;
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n  labels:\n    app: web\ndata:\n  key: value\n";
    let (code, body) = raw(
        &server,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/y?fieldManager=yaml-user",
        "application/apply-patch+yaml",
        yaml,
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let v = raw_json(&body);
    assert_eq!(v["data"]["key"], "value");
    assert_eq!(v["metadata"]["managedFields"][0]["manager"], "yaml-user");
    // Re-applying is a no-op: 200, same resourceVersion.
    let (code, body2) = raw(
        &server,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/y?fieldManager=yaml-user",
        "application/apply-patch+yaml",
        yaml,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        raw_json(&body2)["metadata"]["resourceVersion"],
        v["metadata"]["resourceVersion"]
    );
}

#[tokio::test]
async fn methods_and_content_types() {
    let server = TestApiServer::start().await;
    let (code, body) = raw(
        &server,
        "PUT",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(code, 405);
    let s = raw_json(&body);
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["reason"], "MethodNotAllowed");
    let (code, _) = raw(
        &server,
        "POST",
        "/api/v1/namespaces/default/configmaps/x",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(code, 405);
    server
        .insert(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}))
        .unwrap();
    let (code, body) = raw(
        &server,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/x",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(code, 415, "{body}");
    assert_eq!(raw_json(&body)["reason"], "UnsupportedMediaType");
    let (code, body) = raw(
        &server,
        "PATCH",
        "/api/v1/namespaces/default/configmaps/x?force=true",
        "application/merge-patch+json",
        "{}",
    )
    .await;
    assert_eq!(code, 422, "{body}");
    let (code, body) = raw(
        &server,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        "{not json",
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = raw(
        &server,
        "POST",
        "/api/v1/namespaces/default/configmaps?dryRun=Some",
        "application/json",
        "{}",
    )
    .await;
    assert_eq!(code, 422, "{body}");
    let (code, _) = raw(&server, "GET", "/api/v1/configmaps/x", "", "").await;
    assert_eq!(
        code, 404,
        "namespaced object needs its namespace in the path"
    );
    let (code, _) = raw(&server, "GET", "/healthz", "", "").await;
    assert_eq!(code, 200);
    let (code, body) = raw(&server, "GET", "/nope", "", "").await;
    assert_eq!(
        (code, raw_json(&body)["reason"].clone()),
        (404, json!("NotFound"))
    );
}

#[tokio::test]
async fn watch_equals_one_and_initial_events() {
    let server = TestApiServer::start().await;
    server
        .insert(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}))
        .unwrap();
    let (code, body) = raw(
        &server,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1",
        "",
        "",
    )
    .await;
    assert_eq!(code, 200);
    assert!(body.contains("\"type\":\"ADDED\""), "{body}");
    let (code, body) = raw(
        &server,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&timeoutSeconds=1",
        "",
        "",
    )
    .await;
    assert_eq!(
        code, 422,
        "sendInitialEvents needs resourceVersionMatch: {body}"
    );
    let (code, body) = raw(
        &server,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
        "",
        "",
    )
    .await;
    assert_eq!(code, 200);
    assert!(body.contains("k8s.io/initial-events-end"), "{body}");
}

#[tokio::test]
async fn multi_version_crd_shares_objects() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let crds = dynamic_all(
        &client,
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    );
    let mut crd = widget_crd();
    let schema = crd["spec"]["versions"][0]["schema"].clone();
    crd["spec"]["versions"] = json!([
        {"name": "v1alpha1", "served": true, "storage": false, "schema": schema},
        {"name": "v1", "served": true, "storage": true, "schema": schema, "subresources": {"status": {}}}
    ]);
    apply(&crds, "widgets.example.com", "t", false, crd)
        .await
        .unwrap();
    let groups = client.list_api_groups().await.unwrap();
    let g = groups
        .groups
        .iter()
        .find(|g| g.name == "example.com")
        .unwrap();
    assert_eq!(g.preferred_version.as_ref().unwrap().version, "v1");
    assert_eq!(g.versions.len(), 2);

    let old = dynamic(
        &client,
        "default",
        "example.com",
        "v1alpha1",
        "Widget",
        "widgets",
    );
    let new = dynamic(&client, "default", "example.com", "v1", "Widget", "widgets");
    apply(&old, "w", "t", false, json!({"apiVersion": "example.com/v1alpha1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"a": 1}}))
        .await
        .unwrap();
    let via_new = new.get("w").await.unwrap();
    assert_eq!(via_new.types.unwrap().api_version, "example.com/v1");
    let patched = new
        .patch(
            "w",
            &Default::default(),
            &kube::api::Patch::Merge(json!({"spec": {"a": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["spec"]["a"], 2);
    // An identical write through the other version is still a no-op.
    let before = patched.resource_version();
    let again = old
        .patch(
            "w",
            &Default::default(),
            &kube::api::Patch::Merge(json!({"spec": {"a": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(again.resource_version(), before);
}

#[tokio::test]
async fn terminating_namespace_refuses_new_objects() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let nss: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    let created = nss.create(&PostParams::default(), &ns).await.unwrap();
    assert_eq!(created.labels()["kubernetes.io/metadata.name"], "held");
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
    nss.delete("held", &DeleteParams::default()).await.unwrap();
    let cms = dynamic(&client, "held", "", "v1", "ConfigMap", "configmaps");
    let s = status(
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
    assert!(
        s.message.contains("because it is being terminated"),
        "{}",
        s.message
    );
    // Dynamic lists of built-ins work although items carry no apiVersion/kind.
    let all = dynamic_all(&client, "", "v1", "Namespace", "namespaces");
    let list = all.list(&Default::default()).await.unwrap();
    assert!(list.items.iter().all(|i| i.types.is_none()));
    assert_eq!(list.items.len(), 5);
}
