//! coordination.k8s.io/v1 Lease: what leader election (client-go's, and
//! Flotilla's replicas) relies on: optimistic concurrency on update, the
//! microsecond times kept as sent, Go field order.

mod common;

use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};
use kube_testserver::TestApiServer;
use serde_json::json;

fn lease(name: &str, holder: &str) -> Lease {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-11-30T15:00:00.123456Z",
            "renewTime": "2026-11-30T15:00:05.654321Z",
            "leaseTransitions": 0
        }
    }))
    .unwrap()
}

#[tokio::test]
async fn a_stale_resource_version_loses_the_race_with_409() {
    let server = TestApiServer::start().await;
    let leases: Api<Lease> = Api::namespaced(client(&server), "default");
    let created = leases
        .create(&PostParams::default(), &lease("shard-0", "a"))
        .await
        .unwrap();
    // Two replicas read the same version; the first update wins.
    let mut first = created.clone();
    first.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let won = leases
        .replace("shard-0", &PostParams::default(), &first)
        .await
        .unwrap();
    assert_ne!(won.resource_version(), created.resource_version());
    let mut second = created.clone();
    second.spec.as_mut().unwrap().holder_identity = Some("c".into());
    let lost = status(
        leases
            .replace("shard-0", &PostParams::default(), &second)
            .await
            .unwrap_err(),
    );
    assert_eq!(lost.code, 409);
    assert_eq!(lost.reason, "Conflict");
    let now = leases.get("shard-0").await.unwrap();
    assert_eq!(now.spec.unwrap().holder_identity.as_deref(), Some("b"));
    // Creating a Lease that exists (two replicas racing for a free one).
    let taken = status(
        leases
            .create(&PostParams::default(), &lease("shard-0", "c"))
            .await
            .unwrap_err(),
    );
    assert_eq!((taken.code, taken.reason.as_str()), (409, "AlreadyExists"));
}

#[tokio::test]
async fn leases_are_served_namespaced_with_micro_times_kept_in_go_field_order() {
    let server = TestApiServer::start().await;
    let leases: Api<Lease> = Api::namespaced(client(&server), "kube-node-lease");
    leases
        .create(&PostParams::default(), &lease("node-1", "node-1"))
        .await
        .unwrap();
    let listed = leases.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let (code, body) = raw(
        &server,
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-1",
        "application/json",
        "",
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let v = raw_json(&body);
    assert_eq!(v["spec"]["acquireTime"], "2026-11-30T15:00:00.123456Z");
    assert_eq!(v["spec"]["renewTime"], "2026-11-30T15:00:05.654321Z");
    let keys: Vec<&str> = v["spec"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "holderIdentity",
            "leaseDurationSeconds",
            "acquireTime",
            "renewTime",
            "leaseTransitions"
        ]
    );
    let top: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(top, ["kind", "apiVersion", "metadata", "spec"]);
    assert!(v["metadata"].get("generation").is_none(), "{v}");
}
