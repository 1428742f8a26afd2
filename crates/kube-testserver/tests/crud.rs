//! CRUD through the real kube client: typed and dynamic APIs, selectors,
//! paging, conflicts, Status errors, namespaces, finalizers, deletion.

mod common;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use kube_testserver::TestApiServer;
use serde_json::json;

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"}
    }))
    .unwrap()
}

#[tokio::test]
async fn create_get_list_with_label_selectors() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let a = cms
        .create(&pp, &cm("a", json!({"app": "web", "tier": "front"})))
        .await
        .unwrap();
    cms.create(&pp, &cm("b", json!({"app": "api", "tier": "back"})))
        .await
        .unwrap();
    cms.create(&pp, &cm("c", json!({"app": "db"})))
        .await
        .unwrap();

    assert!(a.metadata.uid.is_some());
    assert!(a.metadata.creation_timestamp.is_some());
    assert_eq!(a.metadata.namespace.as_deref(), Some("default"));
    let rv: u64 = a.resource_version().unwrap().parse().unwrap();
    assert!(rv > 0);
    assert_eq!(a.metadata.generation, None, "ConfigMaps have no generation");
    assert_eq!(cms.get("a").await.unwrap().data.unwrap()["k"], "v");

    let names = |l: kube::core::ObjectList<ConfigMap>| {
        let mut v: Vec<String> = l.items.iter().map(|c| c.name_any()).collect();
        v.sort();
        v
    };
    let q = |s: &str| ListParams::default().labels(s);
    assert_eq!(names(cms.list(&q("app=web")).await.unwrap()), ["a"]);
    assert_eq!(names(cms.list(&q("app==web")).await.unwrap()), ["a"]);
    assert_eq!(names(cms.list(&q("app!=web")).await.unwrap()), ["b", "c"]);
    assert_eq!(
        names(cms.list(&q("app in (web,db)")).await.unwrap()),
        ["a", "c"]
    );
    assert_eq!(
        names(cms.list(&q("app notin (web,db)")).await.unwrap()),
        ["b"]
    );
    assert_eq!(names(cms.list(&q("tier")).await.unwrap()), ["a", "b"]);
    assert_eq!(names(cms.list(&q("!tier")).await.unwrap()), ["c"]);
    assert_eq!(names(cms.list(&q("tier,app=api")).await.unwrap()), ["b"]);
    let f = ListParams::default().fields("metadata.name=b");
    assert_eq!(names(cms.list(&f).await.unwrap()), ["b"]);
    let f = ListParams::default().fields("metadata.namespace=default,metadata.name!=b");
    assert_eq!(names(cms.list(&f).await.unwrap()), ["a", "c"]);

    let bad = cms
        .list(&ListParams::default().fields("data.k=v"))
        .await
        .unwrap_err();
    let s = status(bad);
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"));
    let bad = cms.list(&q("app in web")).await.unwrap_err();
    assert_eq!(status(bad).code, 400);

    // Across namespaces.
    create_namespace(&client, "other").await;
    let other: Api<ConfigMap> = Api::namespaced(client.clone(), "other");
    other
        .create(&pp, &cm("a", json!({"app": "web"})))
        .await
        .unwrap();
    let all: Api<ConfigMap> = Api::all(client.clone());
    assert_eq!(all.list(&q("app=web")).await.unwrap().items.len(), 2);
}

#[tokio::test]
async fn paging_with_limit_and_continue() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..7 {
        cms.create(&PostParams::default(), &cm(&format!("cm-{i}"), json!({})))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(3);
    for _ in 0..10 {
        let page = cms.list(&lp).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|c| c.name_any()));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => {
                assert!(page.metadata.remaining_item_count.unwrap() > 0);
                lp = lp.continue_token(&c);
            }
            _ => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let bad = cms
        .list(&ListParams::default().continue_token("nonsense"))
        .await
        .unwrap_err();
    assert_eq!(status(bad).code, 400);
}

#[tokio::test]
async fn replace_with_stale_resource_version_conflicts() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let created = cms
        .create(&PostParams::default(), &cm("x", json!({})))
        .await
        .unwrap();
    let mut fresh = created.clone();
    fresh.data = Some([("k".to_string(), "v2".to_string())].into());
    let replaced = cms
        .replace("x", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_ne!(replaced.resource_version(), created.resource_version());

    let mut stale = created.clone();
    stale.data = Some([("k".to_string(), "v3".to_string())].into());
    let s = status(
        cms.replace("x", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 409);
    assert_eq!(s.reason, "Conflict");
    assert!(s.is_conflict());
    assert_eq!(
        s.message,
        "Operation cannot be fulfilled on configmaps \"x\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let d = s.details.unwrap();
    assert_eq!((d.name.as_str(), d.kind.as_str()), ("x", "configmaps"));
    assert_eq!(cms.get("x").await.unwrap().data.unwrap()["k"], "v2");

    // PUT with no resourceVersion is unconditional.
    let mut unconditional = stale;
    unconditional.metadata.resource_version = None;
    cms.replace("x", &PostParams::default(), &unconditional)
        .await
        .unwrap();
    assert_eq!(cms.get("x").await.unwrap().data.unwrap()["k"], "v3");
}

#[tokio::test]
async fn not_found_and_already_exists_are_status_errors() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let s = status(deploys.get("nope").await.unwrap_err());
    assert_eq!(s.code, 404);
    assert_eq!(s.reason, "NotFound");
    assert!(s.is_not_found());
    assert_eq!(s.message, "deployments.apps \"nope\" not found");
    let d = s.details.unwrap();
    assert_eq!(
        (d.name.as_str(), d.group.as_str(), d.kind.as_str()),
        ("nope", "apps", "deployments")
    );
    assert!(deploys.get_opt("nope").await.unwrap().is_none());

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &cm("dup", json!({})))
        .await
        .unwrap();
    let s = status(
        cms.create(&PostParams::default(), &cm("dup", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(s.message, "configmaps \"dup\" already exists");

    // A namespace that does not exist.
    let missing: Api<ConfigMap> = Api::namespaced(client.clone(), "ghost");
    let s = status(
        missing
            .create(&PostParams::default(), &cm("a", json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
    assert_eq!(s.message, "namespaces \"ghost\" not found");

    // Unknown resource.
    let ghosts = dynamic(&client, "default", "example.com", "v1", "Ghost", "ghosts");
    let s = status(ghosts.list(&Default::default()).await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
}

#[tokio::test]
async fn body_and_url_must_agree() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    create_namespace(&client, "a").await;
    let cms = dynamic(&client, "default", "", "v1", "ConfigMap", "configmaps");
    // Namespace mismatch on create.
    let obj: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "a"}
    }))
    .unwrap();
    let s = status(cms.create(&PostParams::default(), &obj).await.unwrap_err());
    assert_eq!(s.code, 400);
    // Kind mismatch.
    let obj: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}
    }))
    .unwrap();
    assert_eq!(
        status(cms.create(&PostParams::default(), &obj).await.unwrap_err()).code,
        400
    );
    // apiVersion mismatch.
    let obj: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "x"}
    }))
    .unwrap();
    let s = status(cms.create(&PostParams::default(), &obj).await.unwrap_err());
    assert_eq!(s.code, 400);
    assert!(
        s.message
            .contains("does not match the expected API version"),
        "{}",
        s.message
    );
    // Name mismatch on replace.
    let ok: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &ok).await.unwrap();
    let mut renamed = ok.clone();
    renamed.metadata.name = Some("y".into());
    let s = status(
        cms.replace("x", &PostParams::default(), &renamed)
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 400);
    assert_eq!(
        s.message,
        "the name of the object (y) does not match the name on the URL (x)"
    );
    // Invalid name → 422 with a cause.
    let bad: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}
    }))
    .unwrap();
    let s = status(cms.create(&PostParams::default(), &bad).await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert_eq!(s.details.unwrap().causes[0].field, "metadata.name");
    // Non-string data → 400 like the typed decoder.
    let bad: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n"}, "data": {"port": 80}
    }))
    .unwrap();
    assert_eq!(
        status(cms.create(&PostParams::default(), &bad).await.unwrap_err()).code,
        400
    );
}

#[tokio::test]
async fn patches_merge_json_and_strategic() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(deployment("web", "nginx:1", 1)).unwrap();
    let created = deploys.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    // Defaults are filled like the real server.
    let spec = &created.spec;
    assert_eq!(spec.revision_history_limit, Some(10));
    assert_eq!(
        spec.strategy.as_ref().unwrap().type_.as_deref(),
        Some("RollingUpdate")
    );
    let c = &spec.template.spec.as_ref().unwrap().containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));

    let pp = PatchParams::default();
    let merged = deploys
        .patch("web", &pp, &Patch::Merge(json!({"spec": {"replicas": 4}})))
        .await
        .unwrap();
    assert_eq!(merged.spec.replicas, Some(4));
    assert_eq!(merged.metadata.generation, Some(2));
    let labelled = deploys
        .patch(
            "web",
            &pp,
            &Patch::Strategic(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        labelled.metadata.generation,
        Some(2),
        "metadata changes keep generation"
    );
    assert_eq!(labelled.labels()["x"], "y");
    let jp: json_patch_types::Patch = serde_json::from_value(json!([
        {"op": "replace", "path": "/spec/replicas", "value": 2}
    ]))
    .unwrap();
    let patched = deploys
        .patch("web", &pp, &Patch::Json::<()>(jp))
        .await
        .unwrap();
    assert_eq!(patched.spec.replicas, Some(2));

    // Patch managed fields are Update entries for the field manager.
    let mf = patched.metadata.managed_fields.unwrap();
    assert!(mf.iter().all(|e| e.operation.as_deref() == Some("Update")));

    // A failing JSON patch test is 422; a patch of a missing object is 404.
    let jp: json_patch_types::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/spec/replicas", "value": 9}
    ]))
    .unwrap();
    let s = status(
        deploys
            .patch("web", &pp, &Patch::Json::<()>(jp))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422);
    let s = status(
        deploys
            .patch("nope", &pp, &Patch::Merge(json!({})))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 404);
}

mod json_patch_types {
    pub use json_patch::Patch;
}

#[tokio::test]
async fn strategic_merge_patch_is_refused_for_custom_resources() {
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
    apply(
        &widgets,
        "w",
        "t",
        false,
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}),
    )
    .await
    .unwrap();
    let s = status(
        widgets
            .patch(
                "w",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"a": 1}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (415, "UnsupportedMediaType"));
}

#[tokio::test]
async fn deletes_return_status_or_object_and_honour_finalizers() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = cms
        .create(&PostParams::default(), &cm("gone", json!({})))
        .await
        .unwrap();
    let res = cms.delete("gone", &DeleteParams::default()).await.unwrap();
    let st = res.right().expect("ConfigMap delete answers with a Status");
    assert!(st.is_success());
    assert_eq!(st.details.unwrap().uid, created.uid().unwrap());
    assert_eq!(
        status(
            cms.delete("gone", &DeleteParams::default())
                .await
                .unwrap_err()
        )
        .code,
        404
    );

    // Finalizers: deletionTimestamp set, object kept until they are removed.
    let mut held = cm("held", json!({}));
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held).await.unwrap();
    let res = cms.delete("held", &DeleteParams::default()).await.unwrap();
    let pending = res.left().expect("pending deletion returns the object");
    assert!(pending.metadata.deletion_timestamp.is_some());
    // New finalizers cannot be added now.
    let s = status(
        cms.patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold", "x.io/more"]}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(s.code, 422);
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("held").await.unwrap().is_none());

    // Preconditions.
    cms.create(&PostParams::default(), &cm("pre", json!({})))
        .await
        .unwrap();
    let dp = DeleteParams::default().preconditions(kube::api::Preconditions {
        resource_version: Some("1".into()),
        uid: None,
    });
    assert_eq!(status(cms.delete("pre", &dp).await.unwrap_err()).code, 409);

    // Pod and Namespace deletes return the object.
    let nss: Api<Namespace> = Api::all(client.clone());
    create_namespace(&client, "tmp").await;
    let res = nss.delete("tmp", &DeleteParams::default()).await.unwrap();
    assert!(res.is_left());
    let s = status(
        nss.delete("default", &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 403);
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_objects() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    create_namespace(&client, "team").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team");
    cms.create(&PostParams::default(), &cm("a", json!({})))
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "team");
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}}),
    )
    .unwrap();
    let created = secrets.create(&PostParams::default(), &s).await.unwrap();
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    assert!(created.string_data.is_none());
    assert_eq!(created.data.unwrap()["password"].0, b"hunter2");
    let nss: Api<Namespace> = Api::all(client.clone());
    // As on the real server, the Namespace is first Terminating (creates in
    // it refused), then emptied and removed by the namespace controller.
    let terminating = nss.delete("team", &DeleteParams::default()).await.unwrap();
    let ns = terminating.left().expect("the Namespace");
    assert_eq!(
        ns.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    let refused = cms
        .create(&PostParams::default(), &cm("late", json!({})))
        .await
        .unwrap_err();
    assert_eq!(status(refused).code, 403);
    for _ in 0..100 {
        if nss.get_opt("team").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(server.list("", "v1", "configmaps", Some("team")).is_empty());
    assert!(server.list("", "v1", "secrets", Some("team")).is_empty());
    assert!(nss.get_opt("team").await.unwrap().is_none());
}

#[tokio::test]
async fn generate_name_and_services_get_defaults() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"generateName": "web-"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    }))
    .unwrap();
    let created = svcs.create(&PostParams::default(), &svc).await.unwrap();
    let name = created.name_any();
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    let spec = created.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    let ip = spec.cluster_ip.unwrap();
    assert!(ip.starts_with("10.96."));
    assert_eq!(spec.ports.unwrap()[0].protocol.as_deref(), Some("TCP"));
    // Replacing without clusterIP keeps the allocated one.
    let again: Service = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    }))
    .unwrap();
    let replaced = svcs
        .replace(&name, &PostParams::default(), &again)
        .await
        .unwrap();
    assert_eq!(replaced.spec.unwrap().cluster_ip.unwrap(), ip);
}

#[tokio::test]
async fn immutable_fields_are_enforced() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let deploys = dynamic(
        &client,
        "default",
        "apps",
        "v1",
        "Deployment",
        "deployments",
    );
    apply(&deploys, "web", "t", false, deployment("web", "nginx", 1))
        .await
        .unwrap();
    let mut changed = deployment("web", "nginx", 1);
    changed["spec"]["selector"]["matchLabels"]["extra"] = json!("x");
    changed["spec"]["template"]["metadata"]["labels"]["extra"] = json!("x");
    let s = status(
        apply(&deploys, "web", "t", false, changed)
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422);
    assert!(s.message.contains("spec.selector"), "{}", s.message);
    assert!(s.message.contains("field is immutable"), "{}", s.message);
}

#[tokio::test]
async fn metadata_only_requests() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    cms.create(&PostParams::default(), &cm("m", json!({"a": "b"})))
        .await
        .unwrap();
    let meta = cms.get_metadata("m").await.unwrap();
    assert_eq!(meta.metadata.labels.unwrap()["a"], "b");
    let list = cms.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
}

#[tokio::test]
async fn test_helpers_insert_get_list() {
    let server = TestApiServer::start().await;
    let stored = server
        .insert(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "h"}, "data": {"a": "1"}}))
        .unwrap();
    assert_eq!(stored["metadata"]["namespace"], "default");
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    assert_eq!(cms.get("h").await.unwrap().data.unwrap()["a"], "1");
    assert!(
        server
            .get("", "v1", "configmaps", Some("default"), "h")
            .is_some()
    );
    assert_eq!(server.list("", "v1", "configmaps", None).len(), 1);
    assert!(
        server
            .get("", "v1", "configmaps", Some("default"), "nope")
            .is_none()
    );
    let nss = server.list("", "v1", "namespaces", None);
    assert_eq!(nss.len(), 4);
}

#[tokio::test]
async fn delete_collection_with_selector() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for (n, app) in [("a", "web"), ("b", "web"), ("c", "db")] {
        cms.create(&PostParams::default(), &cm(n, json!({"app": app})))
            .await
            .unwrap();
    }
    let res = cms
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("app=web"),
        )
        .await
        .unwrap();
    let deleted = res.left().expect("a list of deleted objects");
    assert_eq!(deleted.items.len(), 2);
    let left: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|c| c.name_any())
        .collect();
    assert_eq!(left, vec!["c".to_string()]);
}

/// A core/v1 Event about `kind`/`name`, last seen at second `at`.
fn event(name: &str, kind: &str, object: &str, reason: &str, at: u32) -> Event {
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {
            "apiVersion": "apps/v1", "kind": kind, "name": object, "namespace": "default"
        },
        "reason": reason,
        "message": format!("{reason} of {object}"),
        "type": "Warning",
        "source": {"component": "deployment-controller"},
        "count": 1,
        "firstTimestamp": format!("2026-01-01T00:00:{at:02}Z"),
        "lastTimestamp": format!("2026-01-01T00:00:{at:02}Z"),
    }))
    .unwrap()
}

#[tokio::test]
async fn events_are_listed_by_involved_object_field_selectors() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    for e in [
        event("web.1", "Deployment", "web", "ScalingReplicaSet", 1),
        event("web.2", "Deployment", "web", "ProgressDeadlineExceeded", 2),
        event("api.1", "Deployment", "api", "ScalingReplicaSet", 3),
        event("web-rs.1", "ReplicaSet", "web", "FailedCreate", 4),
    ] {
        events.create(&PostParams::default(), &e).await.unwrap();
    }
    assert_eq!(
        events.get("web.2").await.unwrap().reason.as_deref(),
        Some("ProgressDeadlineExceeded")
    );
    let names = |l: kube::core::ObjectList<Event>| -> Vec<String> {
        let mut n: Vec<String> = l.items.iter().map(|e| e.name_any()).collect();
        n.sort();
        n
    };
    let sel = |s: &str| ListParams::default().fields(s);
    // kind AND name, `=` and `==`.
    let l = events
        .list(&sel(
            "involvedObject.kind=Deployment,involvedObject.name==web",
        ))
        .await
        .unwrap();
    assert_eq!(names(l), ["web.1", "web.2"]);
    // `!=`, and the involved object's namespace.
    let l = events
        .list(&sel(
            "involvedObject.kind!=Deployment,involvedObject.namespace=default",
        ))
        .await
        .unwrap();
    assert_eq!(names(l), ["web-rs.1"]);
    // The event's own metadata, and `source` (source.component).
    let l = events
        .list(&sel("metadata.name=api.1,source=deployment-controller"))
        .await
        .unwrap();
    assert_eq!(names(l), ["api.1"]);
    let l = events
        .list(&sel("involvedObject.name=nothing"))
        .await
        .unwrap();
    assert!(l.items.is_empty());
    // Another namespace holds none of them.
    let other: Api<Event> = Api::namespaced(client.clone(), "kube-system");
    let l = other.list(&sel("involvedObject.name=web")).await.unwrap();
    assert!(l.items.is_empty());

    // An unsupported field: the real 400 and message.
    let s = status(
        events
            .list(&sel("involvedObject.name=web,spec.foo=1"))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (400, "BadRequest"));
    assert_eq!(s.message, "field label not supported: spec.foo");
    // Kinds without their own conversion keep the default message.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let s = status(cms.list(&sel("involvedObject.name=web")).await.unwrap_err());
    assert_eq!(s.code, 400);
    assert_eq!(
        s.message,
        "\"involvedObject.name\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
    );
}
