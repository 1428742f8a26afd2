//! Impersonated users held to RBAC rules, through the real kube client: a
//! server-side apply that would create its object also needs `create`
//! (a real server's create-on-update authorization), a write to an
//! existing object does not.

mod common;

use common::*;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::{Api, Client, Config};
use kube_testserver::{RbacRule, TestApiServer};
use serde_json::{Value, json};

const USER: &str = "system:serviceaccount:apps:deployer";

fn impersonating(server: &TestApiServer, user: &str) -> Client {
    let mut cfg = Config::new(server.url().parse().unwrap());
    cfg.auth_info.impersonate = Some(user.to_string());
    cfg.default_retry = false;
    Client::try_from(cfg).unwrap()
}

/// ConfigMaps in `default`, through `client`.
fn config_maps(client: &Client) -> Api<DynamicObject> {
    dynamic(client, "default", "", "v1", "ConfigMap", "configmaps")
}

fn config_map(name: &str, label: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": label}},
        "data": {"k": "v"}
    })
}

async fn apply_as(
    api: &Api<DynamicObject>,
    name: &str,
    body: Value,
    dry_run: bool,
) -> Result<DynamicObject, kube::Error> {
    let mut pp = PatchParams::apply("flotilla").force();
    pp.dry_run = dry_run;
    api.patch(name, &pp, &Patch::Apply(&body)).await
}

#[tokio::test]
async fn an_apply_that_creates_needs_create_and_one_that_changes_does_not() {
    let server = TestApiServer::start().await;
    server.set_rbac(
        USER,
        vec![RbacRule::allow(
            &["get", "list", "patch"],
            &["configmaps"],
            &["default"],
        )],
    );
    let admin = config_maps(&client(&server));
    let user = config_maps(&impersonating(&server, USER));

    // New object: patch alone is not enough, dry run or not; nothing stored.
    for dry_run in [true, false] {
        let s = status(
            apply_as(&user, "new", config_map("new", "a"), dry_run)
                .await
                .unwrap_err(),
        );
        assert_eq!(s.code, 403, "{s:?}");
        assert_eq!(s.reason, "Forbidden");
        assert!(
            s.message.starts_with("configmaps \"new\" is forbidden:"),
            "{}",
            s.message
        );
    }
    assert!(
        server
            .get("", "v1", "configmaps", Some("default"), "new")
            .is_none()
    );

    // Existing object: the same user's apply changes it.
    apply_as(&admin, "old", config_map("old", "a"), false)
        .await
        .unwrap();
    let changed = apply_as(&user, "old", config_map("old", "b"), false)
        .await
        .unwrap();
    assert_eq!(changed.metadata.labels.unwrap()["app"], "b");

    // An invalid new object is refused for being invalid first (validation
    // comes before the create authorization on a real server).
    let s = status(
        apply_as(&user, "bad", config_map("bad", "not a label value!"), false)
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 422, "{s:?}");
}

#[tokio::test]
async fn create_limited_by_name_allows_creating_that_object_by_apply() {
    let server = TestApiServer::start().await;
    server.set_rbac(
        USER,
        vec![
            RbacRule::allow(&["get", "patch"], &["configmaps"], &["default"]),
            RbacRule::allow(&["create"], &["configmaps"], &["default"]).named(&["mine"]),
        ],
    );
    let user = config_maps(&impersonating(&server, USER));
    apply_as(&user, "mine", config_map("mine", "a"), false)
        .await
        .unwrap();
    assert!(
        server
            .get("", "v1", "configmaps", Some("default"), "mine")
            .is_some()
    );
    let s = status(
        apply_as(&user, "other", config_map("other", "a"), false)
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 403, "{s:?}");
    assert!(
        server
            .get("", "v1", "configmaps", Some("default"), "other")
            .is_none()
    );
}
