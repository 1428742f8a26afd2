//! Discovery through the real kube client: built-ins, CRD registration
//! (immediate and delayed Established), aggregated discovery, kubeconfig.

mod common;

use std::time::Duration;

use common::*;
use kube::api::{DeleteParams, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{Discovery, Scope, verbs};
use kube::{Api, Client, Config};
use kube_testserver::{ResourceKind, TestApiServer};
use serde_json::json;

#[tokio::test]
async fn discovery_finds_builtins() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let d = Discovery::new(client.clone()).run().await.unwrap();
    let expect = [
        ("", "v1", "Namespace", false),
        ("", "v1", "ConfigMap", true),
        ("", "v1", "Secret", true),
        ("", "v1", "Service", true),
        ("", "v1", "ServiceAccount", true),
        ("", "v1", "PersistentVolumeClaim", true),
        ("", "v1", "Pod", true),
        ("apps", "v1", "Deployment", true),
        ("apps", "v1", "StatefulSet", true),
        ("apps", "v1", "DaemonSet", true),
        ("batch", "v1", "Job", true),
        ("autoscaling", "v2", "HorizontalPodAutoscaler", true),
        ("networking.k8s.io", "v1", "NetworkPolicy", true),
        ("networking.k8s.io", "v1", "Ingress", true),
        ("policy", "v1", "PodDisruptionBudget", true),
        ("rbac.authorization.k8s.io", "v1", "ClusterRole", false),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            false,
        ),
        ("rbac.authorization.k8s.io", "v1", "Role", true),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding", true),
        ("storage.k8s.io", "v1", "StorageClass", false),
        (
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            false,
        ),
    ];
    for (g, v, k, namespaced) in expect {
        let gvk = kube::api::GroupVersionKind::gvk(g, v, k);
        let (ar, caps) = d
            .resolve_gvk(&gvk)
            .unwrap_or_else(|| panic!("{g}/{v} {k} not discovered"));
        assert_eq!(caps.scope == Scope::Namespaced, namespaced, "{k} scope");
        for verb in [
            verbs::GET,
            verbs::LIST,
            verbs::WATCH,
            verbs::CREATE,
            verbs::PATCH,
            verbs::DELETE,
        ] {
            assert!(caps.supports_operation(verb), "{k} {verb}");
        }
        assert!(!ar.plural.is_empty());
    }
    let (_, deploy) = d
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "apps",
            "v1",
            "Deployment",
        ))
        .unwrap();
    assert!(
        deploy
            .subresources
            .iter()
            .any(|(ar, _)| ar.plural == "status")
    );
    assert!(!d.has_group("gateway.networking.k8s.io"));

    // The raw documents carry singular and short names.
    let list = client.list_api_group_resources("apps/v1").await.unwrap();
    let dep = list
        .resources
        .iter()
        .find(|r| r.name == "deployments")
        .unwrap();
    assert_eq!(dep.singular_name, "deployment");
    assert_eq!(
        dep.short_names.as_deref(),
        Some(&["deploy".to_string()][..])
    );
    assert_eq!(dep.kind, "Deployment");
    let core = client.list_core_api_versions().await.unwrap();
    assert_eq!(core.versions, vec!["v1".to_string()]);
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, kube_testserver::KUBERNETES_VERSION);
}

#[tokio::test]
async fn aggregated_discovery_matches_legacy() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let d = Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    let (ar, caps) = d
        .resolve_gvk(&kube::api::GroupVersionKind::gvk("", "v1", "ConfigMap"))
        .unwrap();
    assert_eq!(ar.plural, "configmaps");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(
        d.resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "apps",
            "v1",
            "Deployment"
        ))
        .is_some()
    );
}

#[tokio::test]
async fn applying_a_crd_registers_its_kind_and_deleting_it_unregisters() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let crds = dynamic_all(
        &client,
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    );
    let crd = apply(
        &crds,
        "widgets.example.com",
        "flotilla",
        false,
        widget_crd(),
    )
    .await
    .unwrap();
    assert_eq!(crd.metadata.name.as_deref(), Some("widgets.example.com"));

    let stored = crds.get("widgets.example.com").await.unwrap();
    let conds = stored.data["status"]["conditions"]
        .as_array()
        .unwrap()
        .clone();
    let cond = |t: &str| conds.iter().find(|c| c["type"] == t).unwrap()["status"].clone();
    assert_eq!(cond("Established"), "True");
    assert_eq!(cond("NamesAccepted"), "True");
    assert_eq!(stored.data["status"]["acceptedNames"]["kind"], "Widget");
    assert_eq!(stored.data["status"]["storedVersions"], json!(["v1"]));

    let d = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = d
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "example.com",
            "v1",
            "Widget",
        ))
        .expect("Widget discovered");
    assert_eq!(ar.plural, "widgets");
    assert_eq!(caps.scope, Scope::Namespaced);
    assert!(caps.subresources.iter().any(|(s, _)| s.plural == "status"));

    let widgets = dynamic(&client, "default", "example.com", "v1", "Widget", "widgets");
    apply(
        &widgets,
        "w1",
        "flotilla",
        false,
        json!({
            "apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w1"}, "spec": {"size": 3}
        }),
    )
    .await
    .unwrap();
    assert_eq!(
        widgets
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let d = Discovery::new(client.clone()).run().await.unwrap();
    assert!(
        d.resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "example.com",
            "v1",
            "Widget"
        ))
        .is_none()
    );
    let err = widgets.list(&ListParams::default()).await.unwrap_err();
    assert_eq!(status(err).code, 404);
    assert!(server.list("example.com", "v1", "widgets", None).is_empty());
}

#[tokio::test]
async fn delayed_establishment_can_be_waited_for() {
    let server = TestApiServer::start().await;
    server.set_crd_establish_delay(Duration::from_millis(300));
    let client = client(&server);
    let crds = dynamic_all(
        &client,
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    );
    apply(
        &crds,
        "widgets.example.com",
        "flotilla",
        false,
        widget_crd(),
    )
    .await
    .unwrap();

    let first = crds.get("widgets.example.com").await.unwrap();
    let established = |o: &kube::api::DynamicObject| {
        o.data["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        })
    };
    assert!(!established(&first), "not established before the delay");
    let widgets = dynamic(&client, "default", "example.com", "v1", "Widget", "widgets");
    assert_eq!(
        status(widgets.list(&Default::default()).await.unwrap_err()).code,
        404
    );

    // Wait (bounded) for Established, as an engine would.
    let mut ok = false;
    for _ in 0..300 {
        if established(&crds.get("widgets.example.com").await.unwrap()) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "CRD became Established");
    assert!(widgets.list(&Default::default()).await.is_ok());
}

#[tokio::test]
async fn crd_names_conflict_is_not_accepted() {
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
    let mut other = widget_crd();
    other["metadata"]["name"] = json!("gadgets.example.com");
    other["spec"]["names"] = json!({"plural": "gadgets", "kind": "Widget"});
    apply(&crds, "gadgets.example.com", "t", false, other)
        .await
        .unwrap();
    let got = crds.get("gadgets.example.com").await.unwrap();
    let conds = got.data["status"]["conditions"].as_array().unwrap();
    let names = conds.iter().find(|c| c["type"] == "NamesAccepted").unwrap();
    assert_eq!(names["status"], "False");
    assert_eq!(names["reason"], "KindConflict");
}

#[tokio::test]
async fn invalid_crd_is_rejected() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let crds = dynamic_all(
        &client,
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
    );
    let mut bad = widget_crd();
    bad["metadata"]["name"] = json!("wrong.example.com");
    bad["spec"]["versions"][0]
        .as_object_mut()
        .unwrap()
        .remove("schema");
    let s = status(
        apply(&crds, "wrong.example.com", "t", false, bad)
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422);
    assert_eq!(s.reason, "Invalid");
    let fields: Vec<&str> = s
        .details
        .as_ref()
        .unwrap()
        .causes
        .iter()
        .map(|c| c.field.as_str())
        .collect();
    assert!(fields.contains(&"metadata.name"), "{fields:?}");
    assert!(
        fields.contains(&"spec.versions[0].schema.openAPIV3Schema"),
        "{fields:?}"
    );
}

#[tokio::test]
async fn registered_extra_kind_is_served() {
    let server = TestApiServer::start().await;
    server.register_kind(
        ResourceKind::new("example.org", "v1alpha1", "Gizmo", "gizmos", false).with_status(),
    );
    let client = client(&server);
    let d = Discovery::new(client.clone()).run().await.unwrap();
    let (_, caps) = d
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "example.org",
            "v1alpha1",
            "Gizmo",
        ))
        .unwrap();
    assert_eq!(caps.scope, Scope::Cluster);
    let api = dynamic_all(&client, "example.org", "v1alpha1", "Gizmo", "gizmos");
    apply(
        &api,
        "g",
        "t",
        false,
        json!({"apiVersion": "example.org/v1alpha1", "kind": "Gizmo", "metadata": {"name": "g"}}),
    )
    .await
    .unwrap();
    assert!(
        server
            .get("example.org", "v1alpha1", "gizmos", None, "g")
            .is_some()
    );
}

#[tokio::test]
async fn kubeconfig_points_at_the_server() {
    let server = TestApiServer::start().await;
    let kc = Kubeconfig::from_yaml(&server.kubeconfig_yaml()).unwrap();
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    assert_eq!(cfg.default_namespace, "default");
    let client = Client::try_from(cfg).unwrap();
    let cms: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::default_namespaced(client);
    assert!(
        cms.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}
