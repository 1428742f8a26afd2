//! The engine reads the cluster's own schema: `KubeDestination::schema`
//! fetches the `/openapi/v3` documents the API server serves (the test API
//! server serves them from `$FLOTILLA_OPENAPI_DIR/openapi-v3`), once per
//! connection, and the live comparison follows them rather than the
//! built-in table.
//!
//! One test in this binary: it points `FLOTILLA_OPENAPI_DIR` at an edited
//! copy of the recorded documents, which no other test may see.

use std::path::{Path, PathBuf};

use flotilla_core::diff::live::field_diffs_with;
use flotilla_core::diff::schema::builtin;
use flotilla_engine::destination::Destination;
use flotilla_engine::destination::kube::KubeDestination;
use kube_testserver::TestApiServer;
use serde_json::{Value, json};

/// The recorded documents: `$FLOTILLA_OPENAPI_DIR`, or the shared
/// recordings next to the repository.
fn recorded() -> PathBuf {
    std::env::var_os("FLOTILLA_OPENAPI_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/apiserver-traces/openapi")
        })
}

fn service(selector: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
           "spec": {"selector": selector, "ports": [{"port": 80}]}})
}

#[tokio::test(flavor = "multi_thread")]
async fn the_comparison_follows_the_documents_the_server_serves() {
    // A copy of the recorded documents in which a Service's selector is a
    // granular map rather than an atomic one.
    let from = recorded().join("openapi-v3");
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("openapi-v3");
    std::fs::create_dir(&to).unwrap();
    for entry in std::fs::read_dir(&from)
        .unwrap_or_else(|e| panic!("the recorded OpenAPI documents in {}: {e}", from.display()))
    {
        let entry = entry.unwrap();
        let mut text = std::fs::read_to_string(entry.path()).unwrap();
        if entry.file_name() == "api__v1.json" {
            let mut doc: Value = serde_json::from_str(&text).unwrap();
            let selector = doc
                .pointer_mut(
                    "/components/schemas/io.k8s.api.core.v1.ServiceSpec/properties/selector",
                )
                .and_then(Value::as_object_mut)
                .expect("ServiceSpec.selector in the recorded document");
            assert_eq!(
                selector.remove("x-kubernetes-map-type"),
                Some(json!("atomic"))
            );
            text = doc.to_string();
        }
        std::fs::write(to.join(entry.file_name()), text).unwrap();
    }
    // SAFETY: the only test of this binary; nothing else reads the
    // environment concurrently yet.
    unsafe { std::env::set_var("FLOTILLA_OPENAPI_DIR", dir.path()) };

    let server = TestApiServer::start().await;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, server.kubeconfig_yaml()).unwrap();
    let mut destination = KubeDestination::from_kubeconfig(&kubeconfig, None)
        .await
        .expect("a destination");
    server.reset_counters();
    let schema = destination.schema(&["v1"]).await;
    let c = server.counters();
    for path in ["/openapi/v3", "/openapi/v3/api/v1"] {
        assert_eq!(c.by_path.get(path), Some(&1), "{path}: {:?}", c.by_path);
    }

    // Another manager added a key to the selector.
    let desired = service(json!({"app": "web"}));
    let live = service(json!({"app": "web", "track": "canary"}));
    let by_table = field_diffs_with(&desired, &live, &[], builtin());
    assert_eq!(
        by_table.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(),
        ["/spec/selector"],
        "the built-in table compares the atomic selector whole"
    );
    assert!(
        field_diffs_with(&desired, &live, &[], &schema).is_empty(),
        "the served document makes the selector granular: only Git's keys count"
    );
    // A changed value is drift either way.
    let changed = service(json!({"app": "api"}));
    assert_eq!(field_diffs_with(&desired, &changed, &[], &schema).len(), 1);

    // Cached for the connection: asked again, nothing is fetched.
    server.reset_counters();
    let again = destination.schema(&["v1"]).await;
    assert_eq!(
        server.counters().total,
        0,
        "{:?}",
        server.counters().by_path
    );
    assert!(field_diffs_with(&desired, &live, &[], &again).is_empty());

    // Clusters whose servers serve the same documents hold one schema, also
    // when they connect at once (a daemon starting with many clusters).
    let mut tasks = Vec::new();
    let mut servers = Vec::new();
    for i in 0..3 {
        let server = TestApiServer::start().await;
        let kubeconfig = dir.path().join(format!("kubeconfig-{i}"));
        std::fs::write(&kubeconfig, server.kubeconfig_yaml()).unwrap();
        servers.push(server);
        tasks.push(tokio::spawn(async move {
            let mut d = KubeDestination::from_kubeconfig(&kubeconfig, None)
                .await
                .expect("a destination");
            d.schema(&["v1", "apps/v1"]).await
        }));
    }
    let mut schemas = Vec::new();
    for t in tasks {
        schemas.push(t.await.unwrap());
    }
    for s in &schemas[1..] {
        assert!(
            std::sync::Arc::ptr_eq(&schemas[0], s),
            "one schema for clusters serving the same documents"
        );
    }
    assert!(field_diffs_with(&desired, &live, &[], &schemas[0]).is_empty());
}
