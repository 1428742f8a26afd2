//! Fault injection and request accounting, seen through the real kube client.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube_testserver::{Fault, TestApiServer};
use serde_json::json;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
}

#[tokio::test]
async fn a_503_burst_is_seen_by_a_client_without_retries() {
    let server = TestApiServer::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client_no_retry(&server), "default");
    server.fail_next(2, 503);
    for _ in 0..2 {
        let s = status(cms.list(&Default::default()).await.unwrap_err());
        assert_eq!((s.code, s.reason.as_str()), (503, "ServiceUnavailable"));
        assert_eq!(s.status, Some(kube::core::response::StatusSummary::Failure));
    }
    assert!(cms.list(&Default::default()).await.is_ok());
    let c = server.counters();
    assert_eq!(c.faults, 2);
    assert_eq!(c.total, 3);
    let log = server.request_log();
    assert_eq!(log[0].fault.as_deref(), Some("status 503"));
    assert_eq!(log[0].status, 503);
    assert_eq!(log[2].fault, None);
    assert_eq!(log[2].status, 200);
}

#[tokio::test]
async fn kube_default_retry_absorbs_a_short_burst() {
    let server = TestApiServer::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    server.fail_next(2, 503);
    assert!(cms.list(&Default::default()).await.is_ok());
    let log = server.request_log();
    assert_eq!(
        log.len(),
        3,
        "two failures then the retried success: {log:?}"
    );
    assert_eq!(server.pending_faults(), 0);
}

#[tokio::test]
async fn faults_filter_by_path_prefix_and_verb() {
    let server = TestApiServer::start().await;
    let client = client_no_retry(&server);
    server.inject(
        Fault::status(500)
            .path_prefix("/apis/apps")
            .verb("patch")
            .times(1),
    );
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.create(&PostParams::default(), &cm("ok")).await.unwrap();
    let deploys = dynamic(
        &client,
        "default",
        "apps",
        "v1",
        "Deployment",
        "deployments",
    );
    let s = status(
        apply(&deploys, "web", "t", false, deployment("web", "nginx", 1))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (500, "InternalError"));
    apply(&deploys, "web", "t", false, deployment("web", "nginx", 1))
        .await
        .unwrap();

    server.inject(Fault::status(504).verb("get"));
    let s = status(cms.get("ok").await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (504, "Timeout"));
    server.inject(Fault::status(429).message("slow down"));
    let s = status(cms.get("ok").await.unwrap_err());
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (429, "TooManyRequests", "slow down")
    );
}

#[tokio::test]
async fn dropped_connections_are_transport_errors() {
    let server = TestApiServer::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client_no_retry(&server), "default");
    server.drop_next(1);
    let err = cms.list(&Default::default()).await.unwrap_err();
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "no response at all: {err:?}"
    );
    assert!(cms.list(&Default::default()).await.is_ok());
    assert_eq!(server.request_log()[0].fault.as_deref(), Some("drop"));
}

#[tokio::test]
async fn down_switch_refuses_then_recovers() {
    let server = TestApiServer::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client_no_retry(&server), "default");
    cms.create(&PostParams::default(), &cm("kept"))
        .await
        .unwrap();
    server.set_down(true);
    assert!(server.is_down());
    let err = cms.get("kept").await.unwrap_err();
    assert!(!matches!(err, kube::Error::Api(_)), "{err:?}");
    server.set_down(false);
    let got = bounded("the server to come back", async {
        for _ in 0..100 {
            if let Ok(c) = cms.get("kept").await {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("server stayed down");
    })
    .await;
    assert_eq!(got.metadata.name.as_deref(), Some("kept"));
}

#[tokio::test]
async fn delays_slow_requests_down_without_failing_them() {
    let server = TestApiServer::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    server.inject(Fault::delay(Duration::from_millis(50)).times(2));
    server.set_response_delay(Duration::from_millis(10));
    assert!(cms.list(&Default::default()).await.is_ok());
    assert!(cms.list(&Default::default()).await.is_ok());
    assert_eq!(server.pending_faults(), 0);
    server.clear_faults();
    assert!(cms.list(&Default::default()).await.is_ok());
}

#[tokio::test]
async fn counters_and_request_log() {
    let server = TestApiServer::start().await;
    let client = client(&server);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    server.reset_counters();
    cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    cms.get("a").await.unwrap();
    cms.list(&Default::default()).await.unwrap();
    cms.patch(
        "a",
        &PatchParams::apply("flotilla"),
        &Patch::Apply(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1"}
        })),
    )
    .await
    .unwrap();
    let mut dry = PatchParams::apply("flotilla");
    dry.dry_run = true;
    cms.patch(
        "a",
        &dry,
        &Patch::Apply(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "2"}
        })),
    )
    .await
    .unwrap();

    let c = server.counters();
    assert_eq!(c.total, 5);
    assert_eq!(c.writes, 2, "create + apply; the dry run is not a write");
    assert_eq!(c.changes, 2);
    assert_eq!(c.by_verb.get("create"), Some(&1));
    assert_eq!(c.by_verb.get("get"), Some(&1));
    assert_eq!(c.by_verb.get("list"), Some(&1));
    assert_eq!(c.by_verb.get("patch"), Some(&2));
    assert_eq!(
        c.by_path.get("/api/v1/namespaces/default/configmaps/a"),
        Some(&3)
    );

    let log = server.request_log();
    assert_eq!(log.len(), 5);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, "/api/v1/namespaces/default/configmaps");
    assert_eq!(log[0].status, 201);
    assert_eq!(log[3].method, "PATCH");
    assert!(
        log[3].query.contains("fieldManager=flotilla"),
        "{}",
        log[3].query
    );
    assert!(!log[3].dry_run);
    assert!(log[4].dry_run);

    server.reset_counters();
    assert_eq!(server.counters(), Default::default());
    assert!(server.request_log().is_empty());
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let server = TestApiServer::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client_no_retry(&server), "default");
    assert!(cms.list(&Default::default()).await.is_ok());
    server.shutdown().await;
    assert!(cms.list(&Default::default()).await.is_err());
}
