//! Server-side apply through the real kube client: create, idempotent
//! re-apply, conflicts and force, pruning, Update managers, dry run.

mod common;

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use kube_testserver::TestApiServer;
use serde_json::{Value, json};

#[tokio::test]
async fn apply_creates_and_reapply_is_a_noop() {
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
    let created = apply(
        &deploys,
        "web",
        "flotilla",
        false,
        deployment("web", "nginx:1.25", 2),
    )
    .await
    .unwrap();
    let rv = created.resource_version().unwrap();
    let mf = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("flotilla"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    assert_eq!(mf[0].api_version.as_deref(), Some("apps/v1"));
    assert_eq!(mf[0].fields_type.as_deref(), Some("FieldsV1"));
    let fields = &mf[0].fields_v1.as_ref().unwrap().0;
    assert_eq!(fields["f:spec"]["f:replicas"], json!({}));
    let containers = &fields["f:spec"]["f:template"]["f:spec"]["f:containers"];
    assert_eq!(containers["k:{\"name\":\"app\"}"]["f:image"], json!({}));
    assert_eq!(containers["k:{\"name\":\"app\"}"]["."], json!({}));

    server.reset_counters();
    let again = apply(
        &deploys,
        "web",
        "flotilla",
        false,
        deployment("web", "nginx:1.25", 2),
    )
    .await
    .unwrap();
    assert_eq!(
        again.resource_version().unwrap(),
        rv,
        "identical apply must not bump resourceVersion"
    );
    assert_eq!(
        again.metadata.managed_fields,
        created.metadata.managed_fields
    );
    let c = server.counters();
    assert_eq!(c.writes, 1, "the request is counted as a write");
    assert_eq!(c.changes, 0, "but nothing changed");
    assert_eq!(c.by_verb.get("patch"), Some(&1));
    assert_eq!(server.resource_version(), rv);
}

#[tokio::test]
async fn conflicting_managers_get_409_with_causes_until_forced() {
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
    apply(
        &deploys,
        "web",
        "alice",
        false,
        deployment("web", "nginx:1", 2),
    )
    .await
    .unwrap();

    // Same value: shared ownership, no conflict.
    apply(
        &deploys,
        "web",
        "bob",
        false,
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2}
        }),
    )
    .await
    .unwrap();

    // Different values for fields alice owns.
    let mut bobs = deployment("web", "nginx:2", 5);
    bobs["metadata"]["labels"] = json!({});
    let s = status(
        apply(&deploys, "web", "bob", false, bobs.clone())
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    let causes = s.details.as_ref().unwrap().causes.clone();
    let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        vec![
            ".spec.replicas",
            ".spec.template.spec.containers[name=\"app\"].image"
        ]
    );
    assert!(
        causes
            .iter()
            .all(|c| c.reason == "FieldManagerConflict" && c.message == "conflict with \"alice\"")
    );
    assert_eq!(
        s.message,
        "Apply failed with 2 conflicts: conflicts with \"alice\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"app\"].image"
    );
    // Nothing changed.
    let live: Deployment = Api::namespaced(client.clone(), "default")
        .get("web")
        .await
        .unwrap();
    assert_eq!(live.spec.replicas, Some(2));

    // force=true moves ownership.
    let forced = apply(&deploys, "web", "bob", true, bobs).await.unwrap();
    assert_eq!(forced.data["spec"]["replicas"], 5);
    let mf = forced.metadata.managed_fields.unwrap();
    let alice = mf
        .iter()
        .find(|e| e.manager.as_deref() == Some("alice"))
        .unwrap();
    let alice_fields = &alice.fields_v1.as_ref().unwrap().0;
    assert!(alice_fields["f:spec"].get("f:replicas").is_none());
    // Alice now conflicts with bob.
    let s = status(
        apply(
            &deploys,
            "web",
            "alice",
            false,
            deployment("web", "nginx:1", 2),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(s.code, 409);
    assert!(s.message.contains("conflict"), "{}", s.message);
}

#[tokio::test]
async fn update_managers_conflict_using_api_version() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let dynamic_deploys = dynamic(
        &client,
        "default",
        "apps",
        "v1",
        "Deployment",
        "deployments",
    );
    apply(
        &dynamic_deploys,
        "web",
        "flotilla",
        false,
        deployment("web", "nginx", 1),
    )
    .await
    .unwrap();
    // Someone edits replicas with a merge patch (operation Update).
    deploys
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let s = status(
        apply(
            &dynamic_deploys,
            "web",
            "flotilla",
            false,
            deployment("web", "nginx", 1),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(
        s.message,
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas"
    );
    assert_eq!(
        s.details.unwrap().causes[0].message,
        "conflict with \"kubectl-edit\" using apps/v1"
    );
    let forced = apply(
        &dynamic_deploys,
        "web",
        "flotilla",
        true,
        deployment("web", "nginx", 1),
    )
    .await
    .unwrap();
    assert_eq!(forced.data["spec"]["replicas"], 1);
}

#[tokio::test]
async fn apply_that_drops_a_field_removes_it() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms = dynamic(&client, "default", "", "v1", "ConfigMap", "configmaps");
    let v1 = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "labels": {"keep": "1", "drop": "1"}, "annotations": {"a": "1"}},
        "data": {"a": "1", "b": "2"}
    });
    apply(&cms, "cfg", "flotilla", false, v1).await.unwrap();
    // Another manager also sets data.b with the same value: shared.
    apply(
        &cms,
        "cfg",
        "other",
        false,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"b": "2"}
        }),
    )
    .await
    .unwrap();
    let v2 = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "labels": {"keep": "1"}},
        "data": {"a": "1"}
    });
    let after = apply(&cms, "cfg", "flotilla", false, v2).await.unwrap();
    assert_eq!(after.labels().get("drop"), None, "dropped label removed");
    assert_eq!(after.labels()["keep"], "1");
    assert!(after.annotations().is_empty(), "dropped annotation removed");
    assert_eq!(
        after.data["data"],
        json!({"a": "1", "b": "2"}),
        "b stays: 'other' still owns it"
    );

    // A container dropped from a Deployment's list goes too.
    let deploys = dynamic(
        &client,
        "default",
        "apps",
        "v1",
        "Deployment",
        "deployments",
    );
    let mut two = deployment("web", "nginx", 1);
    two["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "envoy"}));
    apply(&deploys, "web", "flotilla", false, two)
        .await
        .unwrap();
    let one = apply(
        &deploys,
        "web",
        "flotilla",
        false,
        deployment("web", "nginx", 1),
    )
    .await
    .unwrap();
    let cs = one.data["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0]["name"], "app");

    // Dropping replicas lets the server default come back (1).
    apply(
        &deploys,
        "web",
        "flotilla",
        false,
        deployment("web", "nginx", 3),
    )
    .await
    .unwrap();
    let mut no_replicas = deployment("web", "nginx", 3);
    no_replicas["spec"]
        .as_object_mut()
        .unwrap()
        .remove("replicas");
    let d = apply(&deploys, "web", "flotilla", false, no_replicas)
        .await
        .unwrap();
    assert_eq!(d.data["spec"]["replicas"], 1);
}

#[tokio::test]
async fn apply_requires_field_manager_and_type_meta() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms = dynamic(&client, "default", "", "v1", "ConfigMap", "configmaps");
    let s = status(
        cms.patch(
            "x",
            &PatchParams::default(),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
            ),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
    assert!(
        s.message.contains("fieldManager: Required value"),
        "{}",
        s.message
    );
    let s = status(
        apply(&cms, "x", "m", false, json!({"metadata": {"name": "x"}}))
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 400);
    let s = status(
        apply(
            &cms,
            "x",
            "m",
            false,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"}}),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(s.code, 400);
}

#[tokio::test]
async fn dry_run_stores_nothing() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let dyn_cms = dynamic(&client, "default", "", "v1", "ConfigMap", "configmaps");
    let rv0 = server.resource_version();
    server.reset_counters();

    // create
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let c: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "d"}, "data": {"a": "1"}})).unwrap();
    let would = cms.create(&pp, &c).await.unwrap();
    assert!(would.metadata.uid.is_some());
    assert!(cms.get_opt("d").await.unwrap().is_none());
    // apply
    let mut app = PatchParams::apply("flotilla");
    app.dry_run = true;
    let would = dyn_cms
        .patch("d", &app, &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}, "data": {"a": "1"}})))
        .await
        .unwrap();
    assert_eq!(would.data["data"]["a"], "1");
    assert!(cms.get_opt("d").await.unwrap().is_none());
    // Validation still runs in dry run.
    let bad = dyn_cms
        .patch(
            "BAD",
            &app,
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "BAD"}}),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(status(bad).code, 422);
    assert_eq!(server.resource_version(), rv0);
    let counters = server.counters();
    assert_eq!(counters.writes, 0, "dry runs are not writes");
    assert_eq!(counters.changes, 0);

    // patch / replace / delete on an existing object
    let real = cms.create(&PostParams::default(), &c).await.unwrap();
    let rv1 = server.resource_version();
    let dp = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let would = cms
        .patch("d", &dp, &Patch::Merge(json!({"data": {"a": "2"}})))
        .await
        .unwrap();
    assert_eq!(would.data.unwrap()["a"], "2");
    assert_eq!(
        would.metadata.resource_version,
        real.metadata.resource_version
    );
    let mut changed = real.clone();
    changed.data = Some([("a".to_string(), "3".to_string())].into());
    cms.replace("d", &pp, &changed).await.unwrap();
    cms.delete("d", &DeleteParams::default().dry_run())
        .await
        .unwrap();
    let still = cms.get("d").await.unwrap();
    assert_eq!(still.data.unwrap()["a"], "1");
    assert_eq!(server.resource_version(), rv1);
}

#[tokio::test]
async fn non_apply_writes_are_update_entries() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let c: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "u", "labels": {"a": "b"}}, "data": {"k": "v"}}),
    )
    .unwrap();
    let pp = PostParams {
        field_manager: Some("creator".into()),
        ..Default::default()
    };
    let created = cms.create(&pp, &c).await.unwrap();
    let mf = created.metadata.managed_fields.unwrap();
    assert_eq!(mf[0].manager.as_deref(), Some("creator"));
    assert_eq!(mf[0].operation.as_deref(), Some("Update"));
    assert_eq!(
        mf[0].fields_v1.as_ref().unwrap().0,
        json!({"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}})
    );
    let p = PatchParams {
        field_manager: Some("editor".into()),
        ..Default::default()
    };
    let patched = cms
        .patch("u", &p, &Patch::Merge(json!({"data": {"k": "w"}})))
        .await
        .unwrap();
    let mf = patched.metadata.managed_fields.unwrap();
    let editor = mf
        .iter()
        .find(|e| e.manager.as_deref() == Some("editor"))
        .unwrap();
    assert_eq!(
        editor.fields_v1.as_ref().unwrap().0,
        json!({"f:data": {"f:k": {}}})
    );
    let creator = mf
        .iter()
        .find(|e| e.manager.as_deref() == Some("creator"))
        .unwrap();
    assert_eq!(
        creator.fields_v1.as_ref().unwrap().0,
        json!({"f:data": {}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}}),
        "the creator keeps the data map node, loses data.k"
    );
}

/// The names of the containers (or of the first container's env vars).
fn names(d: &kube::api::DynamicObject, env: bool) -> Vec<String> {
    let spec = &d.data["spec"]["template"]["spec"];
    let list = if env {
        &spec["containers"][0]["env"]
    } else {
        &spec["containers"]
    };
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn merged_lists_keep_live_order_as_structured_merge_diff_does() {
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
    let with_containers = |containers: Value| {
        let mut d = deployment("web", "nginx:1", 1);
        d["spec"]["template"]["spec"]["containers"] = containers;
        d
    };
    apply(
        &deploys,
        "web",
        "flotilla",
        false,
        with_containers(json!([{"name": "app", "image": "app:1"}])),
    )
    .await
    .unwrap();
    // Another manager adds a sidecar.
    let injected = apply(
        &deploys,
        "web",
        "injector",
        false,
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}}}
        }),
    )
    .await
    .unwrap();
    assert_eq!(names(&injected, false), ["app", "proxy"]);
    // The first manager adds a container: the live-only sidecar keeps its
    // place, the new one follows.
    let grown = apply(
        &deploys,
        "web",
        "flotilla",
        false,
        with_containers(json!([
            {"name": "app", "image": "app:1"},
            {"name": "metrics", "image": "exporter:1"}
        ])),
    )
    .await
    .unwrap();
    assert_eq!(names(&grown, false), ["app", "proxy", "metrics"]);
    // A new item before a shared one lands where the configuration puts it.
    let front = apply(
        &deploys,
        "web",
        "flotilla",
        false,
        with_containers(json!([
            {"name": "init-ish", "image": "x:1"},
            {"name": "app", "image": "app:1"},
            {"name": "metrics", "image": "exporter:1"}
        ])),
    )
    .await
    .unwrap();
    assert_eq!(
        names(&front, false),
        ["init-ish", "app", "proxy", "metrics"]
    );

    // Shared items follow the applied order.
    let env = |vars: &[&str]| {
        let mut d = deployment("env", "nginx:1", 1);
        d["spec"]["template"]["spec"]["containers"][0]["env"] = vars
            .iter()
            .map(|n| json!({"name": n, "value": "1"}))
            .collect();
        d
    };
    apply(&deploys, "env", "flotilla", false, env(&["A", "B", "C"]))
        .await
        .unwrap();
    let reordered = apply(&deploys, "env", "flotilla", false, env(&["C", "A", "B"]))
        .await
        .unwrap();
    assert_eq!(names(&reordered, true), ["C", "A", "B"]);
    // Re-applying the same order changes nothing.
    let rv = reordered.resource_version();
    let again = apply(&deploys, "env", "flotilla", false, env(&["C", "A", "B"]))
        .await
        .unwrap();
    assert_eq!(again.resource_version(), rv);
}
