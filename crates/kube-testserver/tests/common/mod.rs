//! Helpers shared by the integration tests: clients for a running
//! [`TestApiServer`] and small object builders.
#![allow(dead_code)]

use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::{Api, Client, Config};
use kube_testserver::TestApiServer;
use serde_json::{Value, json};

/// A client with kube's default retry policy (429/503/504 retried).
pub fn client(server: &TestApiServer) -> Client {
    Client::try_from(Config::new(server.url().parse().unwrap())).unwrap()
}

/// A client that surfaces every 5xx (no retries).
pub fn client_no_retry(server: &TestApiServer) -> Client {
    let mut cfg = Config::new(server.url().parse().unwrap());
    cfg.default_retry = false;
    Client::try_from(cfg).unwrap()
}

/// The `Status` inside a kube API error.
pub fn status(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A namespaced dynamic API for group/version/kind/plural.
pub fn dynamic(
    client: &Client,
    ns: &str,
    g: &str,
    v: &str,
    k: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, k), plural);
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// A cluster-scoped dynamic API.
pub fn dynamic_all(client: &Client, g: &str, v: &str, k: &str, plural: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, k), plural);
    Api::all_with(client.clone(), &ar)
}

/// Server-side applies `obj` (a JSON object) with `manager`.
pub async fn apply(
    api: &Api<DynamicObject>,
    name: &str,
    manager: &str,
    force: bool,
    obj: Value,
) -> Result<DynamicObject, kube::Error> {
    let mut pp = PatchParams::apply(manager);
    pp.force = force;
    api.patch(name, &pp, &Patch::Apply(obj)).await
}

/// Creates namespace `name` through the API.
pub async fn create_namespace(client: &Client, name: &str) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&Default::default(), &ns).await.unwrap();
}

/// A Deployment manifest (JSON) with one container.
pub fn deployment(name: &str, image: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            }
        }
    })
}

/// A CRD manifest for `widgets.example.com` (namespaced, v1 served + storage,
/// status subresource).
pub fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                "subresources": {"status": {}}
            }]
        }
    })
}

/// Bounds a wait in tests (a safety net, not an assertion on timing).
pub async fn bounded<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .unwrap_or_else(|_| panic!("gave up waiting for {what}"))
}

/// One raw HTTP/1.1 request (connection closed after), for what the kube
/// client cannot send (YAML bodies, odd methods). Returns status and body.
pub async fn raw(
    server: &TestApiServer,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.addr(),
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    bounded("a raw response", s.read_to_end(&mut out))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let code: u16 = text.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// The JSON in a raw response body (handles chunked encoding of one chunk).
pub fn raw_json(body: &str) -> Value {
    if let Ok(v) = serde_json::from_str(body) {
        return v;
    }
    // Chunked: "<hex>\r\n<data>\r\n0\r\n\r\n"
    let data = body.split("\r\n").nth(1).unwrap_or("");
    serde_json::from_str(data).unwrap_or(Value::Null)
}
