//! The status subresource and the status helpers.

mod common;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use kube_testserver::TestApiServer;
use serde_json::json;

#[tokio::test]
async fn main_writes_ignore_status_and_status_writes_ignore_the_rest() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut d: serde_json::Value = deployment("web", "nginx", 2);
    d["status"] = json!({"replicas": 99});
    let created = deploys
        .create(&PostParams::default(), &serde_json::from_value(d).unwrap())
        .await
        .unwrap();
    assert_eq!(
        created.status.as_ref().and_then(|s| s.replicas),
        None,
        "status ignored on create"
    );

    // Main resource: status changes ignored, generation bumps on spec change only.
    let p = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(p.status.as_ref().and_then(|s| s.replicas), None);
    assert_eq!(
        p.resource_version(),
        created.resource_version(),
        "ignored change is a no-op"
    );

    // Status subresource: only status changes.
    let s = deploys
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 7}, "status": {"replicas": 2, "observedGeneration": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(s.status.as_ref().unwrap().replicas, Some(2));
    assert_eq!(s.spec.replicas, Some(2), "spec untouched via /status");
    assert_eq!(
        s.metadata.generation,
        Some(1),
        "status changes keep generation"
    );
    let entry = s
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|e| e.subresource.as_deref() == Some("status"))
        .expect("status entry");
    assert_eq!(entry.operation.as_deref(), Some("Update"));

    let got = deploys.get_status("web").await.unwrap();
    assert_eq!(got.status.unwrap().replicas, Some(2));

    // replace_status with the full object.
    let mut full = deploys.get("web").await.unwrap();
    full.status.as_mut().unwrap().ready_replicas = Some(2);
    let replaced = deploys
        .replace_status("web", &PostParams::default(), &full)
        .await
        .unwrap();
    assert_eq!(replaced.status.unwrap().ready_replicas, Some(2));

    // Server-side apply on /status.
    let applied = deploys
        .patch_status(
            "web",
            &PatchParams::apply("status-writer").force(),
            &Patch::Apply(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                                 "status": {"availableReplicas": 2}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(applied.status.unwrap().available_replicas, Some(2));

    // Kinds without a status subresource have no /status.
    let cms = dynamic(&client, "default", "", "v1", "ConfigMap", "configmaps");
    apply(
        &cms,
        "c",
        "t",
        false,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
    )
    .await
    .unwrap();
    let err = cms.get_status("c").await.unwrap_err();
    assert_eq!(status(err).code, 404);
}

#[tokio::test]
async fn custom_resource_status_subresource() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let crds = dynamic_all(
        &client,
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    );
    apply(&crds, "widgets.example.com", "t", false, widget_crd())
        .await
        .unwrap();
    let widgets = dynamic(&client, "default", "example.com", "v1", "Widget", "widgets");
    let w = apply(
        &widgets,
        "w",
        "t",
        false,
        json!({
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 1}, "status": {"ready": true}
        }),
    )
    .await
    .unwrap();
    assert!(w.data.get("status").is_none(), "status dropped on create");
    assert_eq!(w.metadata.generation, Some(1));
    let w2 = apply(&widgets, "w", "t", false, json!({
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 2}
    }))
    .await
    .unwrap();
    assert_eq!(w2.metadata.generation, Some(2));
    let st = widgets
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}})),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"]["ready"], true);
    assert_eq!(st.metadata.generation, Some(2));
}

#[tokio::test]
async fn helpers_set_status_and_mark_rolled_out() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deploys
        .create(
            &PostParams::default(),
            &serde_json::from_value(deployment("web", "nginx", 3)).unwrap(),
        )
        .await
        .unwrap();
    server
        .mark_rolled_out("apps", "deployments", Some("default"), "web")
        .unwrap();
    let d = deploys.get("web").await.unwrap();
    let st = d.status.unwrap();
    assert_eq!(st.observed_generation, Some(1));
    assert_eq!(st.ready_replicas, Some(3));
    assert_eq!(st.updated_replicas, Some(3));
    let conds = st.conditions.unwrap();
    assert!(conds.iter().any(|c| c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True")));

    server
        .set_status(
            "apps",
            "v1",
            "deployments",
            Some("default"),
            "web",
            json!({"replicas": 1}),
        )
        .unwrap();
    let d = deploys.get("web").await.unwrap();
    assert_eq!(d.status.unwrap().replicas, Some(1));
    assert!(
        server
            .set_status(
                "apps",
                "v1",
                "deployments",
                Some("default"),
                "nope",
                json!({})
            )
            .is_err()
    );
}
