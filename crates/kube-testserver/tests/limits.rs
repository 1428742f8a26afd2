//! The real server's size limits: a ConfigMap's data (1 MiB) and request
//! bodies (3 MiB).

mod common;

use common::{client, status};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::PostParams;
use kube_testserver::TestApiServer;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn config_map_data_over_1mib_is_invalid() {
    let server = TestApiServer::start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client(&server), "default");
    // Keys count too: "k" + 1048576 bytes is one byte over.
    let big: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "x"},
        "data": {"k": "a".repeat(1024 * 1024)},
    }))
    .unwrap();
    let s = status(cms.create(&PostParams::default(), &big).await.unwrap_err());
    assert_eq!(s.code, 422);
    assert_eq!(s.reason, "Invalid");
    assert_eq!(
        s.message,
        "ConfigMap \"x\" is invalid: []: Too long: must have at most 1048576 bytes"
    );
    // Exactly at the limit is fine.
    let ok: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "y"},
        "data": {"k": "a".repeat(1024 * 1024 - 1)},
    }))
    .unwrap();
    cms.create(&PostParams::default(), &ok).await.unwrap();
}

#[tokio::test]
async fn request_body_over_3mib_is_413() {
    let server = TestApiServer::start().await;
    let body = json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "huge"},
        "data": {"k": "a".repeat(3 * 1024 * 1024)},
    })
    .to_string();
    let mut stream = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer before reading everything.
    let _ = stream.write_all(body.as_bytes()).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let json_start = text.find("\r\n\r\n").unwrap() + 4;
    let v: serde_json::Value = serde_json::from_str(&text[json_start..]).unwrap();
    assert_eq!(
        v,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "Request entity too large: limit is 3145728",
               "reason": "RequestEntityTooLarge", "code": 413})
    );
}
