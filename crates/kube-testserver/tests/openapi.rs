//! `/openapi/v3` serves the recorded OpenAPI v3 documents.

use kube_testserver::TestApiServer;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(server: &TestApiServer, path: &str) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let code = text[9..12].parse().unwrap();
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    (code, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn openapi_v3_index_and_group_versions() {
    let server = TestApiServer::start().await;
    let (code, index) = get(&server, "/openapi/v3").await;
    assert_eq!(code, 200, "recorded documents missing? {index}");
    let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, doc) = get(&server, &url).await;
    assert_eq!(code, 200);
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]["x-kubernetes-map-type"],
        "atomic"
    );
    let (code, _) = get(&server, "/openapi/v3/apis/nothing.example.com/v1").await;
    assert_eq!(code, 404);
}
